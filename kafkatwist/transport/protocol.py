"""KafkaServerProtocol: length-prefixed framing and strict per-connection ordering.

Kafka's rule is one request at a time per connection, answered in order
(https://kafka.apache.org/protocol.html#protocol_network). While a request
waits (on storage, a long-poll Fetch, a rebalance), the transport is paused and
further pipelined frames stay buffered; they are dispatched when the reply has
been written.

Framing overrides L{Int32StringReceiver.dataReceived}: Twisted's version
concatenates the whole unprocessed buffer with every read, which is quadratic
for a large frame arriving in small pieces (twisted#6358). Here the bytes are
kept in one C{bytearray} (amortised linear appends and front deletions) and
each frame is copied out exactly once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Protocol, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, connectionDone
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure

from kafkatwist.errors import ProtocolViolation
from kafkatwist.transport.dispatch import Dispatcher, Reply

_PREFIX = struct.Struct(">i")

DEFAULT_MAX_REQUEST_SIZE = 104857600


class _Connection(Protocol):
    """
    What a connection uses of its transport: a TCP transport (or a test's).

    Twisted types C{Protocol.transport} as the zope interface L{ITransport},
    whose methods mypy cannot call without the mypy-zope plugin; this is the
    same surface, typed for mypy.
    """

    disconnecting: bool

    def getPeer(self) -> IAddress: ...

    def getHost(self) -> IAddress: ...

    def writeSequence(self, data: Iterable[bytes]) -> None: ...

    def loseConnection(self) -> None: ...


def _host(address: IAddress) -> str | None:
    """The host of an IP address; None for other address families."""
    if isinstance(address, (IPv4Address, IPv6Address)):
        host: str = address.host
        return host
    return None


class KafkaServerProtocol(Int32StringReceiver):
    """One client connection."""

    _log = Logger()
    factory: KafkaServerFactory
    #: C{self.transport}, typed; set when the connection is made.
    _connection: _Connection

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending: Deferred[Reply] | None = None
        #: Set once the connection is gone, or once we decided to close it.
        self._lost = False
        self.peer = ""
        self.local_host: str | None = None

    def connectionMade(self) -> None:
        self.MAX_LENGTH = self.factory.max_request_size
        self._connection = cast(_Connection, self.transport)
        peer = self._connection.getPeer()
        if isinstance(peer, (IPv4Address, IPv6Address)):
            self.peer = f"{peer.host}:{peer.port}"
        else:
            self.peer = f"{peer}:"
        self.local_host = _host(self._connection.getHost())
        self.factory.connections.add(self)

    def _closing(self) -> bool:
        """True once nothing more may be read or written on this connection."""
        return self._lost or self._connection.disconnecting

    def dataReceived(self, data: bytes) -> None:
        if self._closing():
            return
        buf = self._buffer
        if data:
            buf += data
        offset = 0
        size = len(buf)
        while not self.paused and not self._closing() and size - offset >= 4:
            (length,) = _PREFIX.unpack_from(buf, offset)
            if length < 0 or length > self.MAX_LENGTH:
                del buf[:]
                self.lengthLimitExceeded(length)
                return
            end = offset + 4 + length
            if end > size:
                break
            # One copy out of the buffer (slicing the bytearray would add another);
            # the view is released before the buffer can be resized again.
            with memoryview(buf) as view:
                frame = bytes(view[offset + 4 : end])
            offset = end
            self.stringReceived(frame)
        if offset:
            del buf[:offset]

    def lengthLimitExceeded(self, length: int) -> None:
        self._log.warn(
            "Closing connection from {peer}: request size {length} is outside 0..{limit} "
            "(socket.request.max.bytes)",
            peer=self.peer,
            length=length,
            limit=self.MAX_LENGTH,
        )
        self._close()

    def stringReceived(self, frame: bytes) -> None:
        try:
            d = self.factory.dispatcher.dispatch(frame, self.peer, self.local_host)
        except ProtocolViolation as e:
            self._violation(str(e))
            return
        if not d.called:
            self.pauseProducing()  # type: ignore[no-untyped-call]  # untyped in Twisted
        self._pending = d
        d.addCallbacks(self._send_reply, self._failed)

    def _send_reply(self, reply: Reply) -> None:
        self._pending = None
        if self._closing():
            # A late reply after connectionLost, or after we or the service
            # started closing: drop it (and do not resume a closing transport).
            return
        if reply is not None:
            try:
                # Transports take bytes only; buffers of other types are copied once.
                chunks = [c if type(c) is bytes else bytes(c) for c in reply]
                size = sum(len(chunk) for chunk in chunks)
                self._connection.writeSequence([_PREFIX.pack(size), *chunks])
            except Exception:
                self._log.failure("Could not send a reply to {peer}; closing", peer=self.peer)
                self._close()
                return
        if self.paused:
            # Drains pipelined frames that arrived while this one waited.
            self.resumeProducing()  # type: ignore[no-untyped-call]  # untyped in Twisted

    def _failed(self, failure: Failure) -> None:
        self._pending = None
        if self._lost or isinstance(failure.value, CancelledError):
            return
        if isinstance(failure.value, ProtocolViolation):
            self._violation(failure.getErrorMessage())
        else:
            self._log.failure("Closing connection from {peer}", failure, peer=self.peer)
            self._close()

    def _violation(self, reason: str) -> None:
        self._log.info("Closing connection from {peer}: {reason}", peer=self.peer, reason=reason)
        self._close()

    def _close(self) -> None:
        """Stop serving this connection: later frames and late replies are dropped."""
        self._lost = True
        self._connection.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        self.factory.connections.discard(self)
        pending, self._pending = self._pending, None
        if pending is not None and not pending.called:
            pending.cancel()


class KafkaServerFactory(Factory[KafkaServerProtocol]):
    """What every connection shares: the dispatcher and the request size limit."""

    protocol = KafkaServerProtocol
    noisy = False

    def __init__(
        self, dispatcher: Dispatcher, max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    ) -> None:
        self.dispatcher = dispatcher
        self.max_request_size = max_request_size
        self.connections: set[KafkaServerProtocol] = set()

    def buildProtocol(self, addr: IAddress | None) -> KafkaServerProtocol:
        p = KafkaServerProtocol()
        p.factory = self
        return p
