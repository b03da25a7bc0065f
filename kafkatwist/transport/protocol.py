"""KafkaServerProtocol: length-prefixed framing, strict per-connection ordering, backpressure.

Kafka's rule is one request at a time per connection, answered in order
(https://kafka.apache.org/protocol.html#protocol_network), and Kafka mutes a
connection while its response is pending (C{SocketServer}/C{Selector}): it
reads no further request from it until the previous response has been handed
to the socket. Here a connection is muted, for as long as any of these holds:

* a request is being handled (on storage, a long-poll Fetch, a rebalance);
* its transport's write buffer is full: the protocol is registered as the
  transport's streaming producer, so the transport pauses it once a reply
  pushes its buffer past C{bufferSize} and resumes it only when the buffer
  has drained into the socket; so at most one response per connection is
  buffered beyond the socket (plus less than C{bufferSize} of small ones);
* a quota throttles the client (KIP-219): the response goes out at once,
  with its C{throttle_time_ms}, and the connection stays muted for that
  long on the factory's clock (Kafka's C{ThrottledChannel}, which mutes the
  channel until the throttle ends).

While muted, the transport is paused (it stops reading from the socket, so
the kernel's buffers and then the client hold the rest) and no buffered frame
is dispatched; pipelined frames already read wait their turn and are
dispatched, in order, once nothing mutes the connection.

Besides, every byte read is charged to the shared L{RequestMemoryPool}
(C{queued.max.request.bytes}) until the request it belongs to is answered;
while the pool is full the connection stops reading (but still dispatches
the complete frames it holds, which is what releases memory), unless it is the
pool's finisher: see L{kafkatwist.transport.pool}.

A connection on which nothing was read and no response written for
C{connections.max.idle.ms} is closed, with one log line, on the factory's
clock (Kafka's C{Selector} idle expiry); one whose request is being
handled is not idle (Kafka's could expire it).

Framing overrides L{Int32StringReceiver.dataReceived}: Twisted's version
concatenates the whole unprocessed buffer with every read, which is quadratic
for a large frame arriving in small pieces (twisted#6358). Here the bytes are
kept in one C{bytearray} (amortised linear appends and front deletions) and
each frame is copied out exactly once.
"""

from __future__ import annotations

import struct
from typing import cast

from twisted.internet import tcp
from twisted.internet.abstract import FileDescriptor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, connectionDone
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.errors import ConnectionReset, ProtocolViolation
from kafkatwist.security.sasl import SaslAuthenticator, SaslListener
from kafkatwist.security.session import Session, java_host_address
from kafkatwist.transport.connection import Connection, ip_host
from kafkatwist.transport.dispatch import Dispatcher, Reply
from kafkatwist.transport.pool import RequestMemoryPool

_PREFIX = struct.Struct(">i")

DEFAULT_MAX_REQUEST_SIZE = 104857600

#: The most one C{send} of a connection offers the kernel (Twisted's own is 128 KiB):
#: a send takes what the socket buffer has room for, up to this.
SEND_LIMIT = 16 * 1024 * 1024


#: Why a connection is muted (bits of C{KafkaServerProtocol._mute}).
_HANDLING = 1  # a request is being handled
_WRITE_FULL = 2  # the transport's write buffer is full
_THROTTLED = 4  # a quota throttles the client


class KafkaServerProtocol(Int32StringReceiver):
    """
    One client connection; also the streaming producer of its transport.

    The transport calls L{pauseProducing} when its write buffer is full and
    L{resumeProducing} once it has drained, and L{stopProducing} when the
    connection is lost.
    """

    _log = Logger()
    factory: KafkaServerFactory
    #: C{self.transport}, typed; set when the connection is made.
    _connection: Connection

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending: Deferred[Reply] | None = None
        #: Set once the connection is gone, or once we decided to close it.
        self._lost = False
        #: The reasons the connection is muted (C{_HANDLING}...); 0 when it is not.
        self._mute = 0
        #: Whether we paused the transport's reading.
        self._reading_paused = False
        #: Whether we are the transport's registered producer.
        self._producing = False
        #: Bytes charged to the memory pool: those buffered, and the request being handled.
        self._held = 0
        #: The size (with its prefix) of the request being handled, 0 if none.
        self._handling = 0
        #: Whether we wait for the memory pool to let us read.
        self._memory_wait = False
        self._draining = False
        #: When something was last read or written (the factory's clock, seconds).
        self._active_at = 0.0
        #: The factory's clock when idle connections are closed, else None.
        self._idle_clock: ReactorTime | None = None
        self._idle_timer: DelayedCall | None = None
        self._throttle_timer: DelayedCall | None = None
        #: Delays the answer to a failed authentication (connection.failed.authentication.delay.ms).
        self._auth_timer: DelayedCall | None = None
        self.peer = ""
        self.local_host: str | None = None
        #: What handlers logged once for this connection (L{RequestContext.logged}).
        self.logged: set[str] = set()
        #: The connection's listener, principal and client host; set when it is made.
        self.session = Session()
        #: The SASL state machine, on a SASL listener (it sees every frame first).
        self.sasl: SaslAuthenticator | None = None

    def connectionMade(self) -> None:
        self.MAX_LENGTH = self.factory.max_request_size
        if isinstance(self.transport, FileDescriptor):
            # Twisted sends at most SEND_LIMIT (128 KiB) per reactor iteration; a 10 MiB
            # Fetch answer then took 80 iterations. Let each send take what the socket will.
            self.transport.SEND_LIMIT = SEND_LIMIT
        if isinstance(self.transport, tcp.Connection):
            # As Kafka's SocketServer: no Nagle delay for an answer sent while an earlier
            # one is not yet acknowledged (pipelined Produce acks, Fetch answers).
            self.transport.setTcpNoDelay(True)
        self._connection = cast(Connection, self.transport)
        peer = self._connection.getPeer()
        if isinstance(peer, (IPv4Address, IPv6Address)):
            self.peer = f"{peer.host}:{peer.port}"
        else:
            self.peer = f"{peer}:"
        self.local_host = ip_host(self._connection.getHost())
        self.session = Session(
            listener=self.factory.listener_name,
            security_protocol=self.factory.security_protocol,
            client_host=java_host_address(ip_host(peer) or ""),
        )
        if self.factory.sasl is not None:
            self.sasl = self.factory.sasl.authenticator(self.session)
            self.MAX_LENGTH = min(self.MAX_LENGTH, self.factory.sasl.config.max_receive_size)
        self.factory.connections.add(self)
        self._connection.registerProducer(self, True)
        self._producing = True
        clock = self.factory.clock
        if clock is not None and self.factory.idle_ms >= 0:
            self._idle_clock = clock
            self._active_at = clock.seconds()
            self._idle_timer = clock.callLater(self.factory.idle_ms / 1000, self._check_idle)

    def _active(self) -> None:
        """Something was read or written: the connection is not idle."""
        if self._idle_clock is not None:
            self._active_at = self._idle_clock.seconds()

    def _check_idle(self) -> None:
        """
        Close the connection if it has been idle for C{connections.max.idle.ms}.

        The timer is not reset on every read: it fires, and if there was
        activity meanwhile, it is scheduled again for when the connection
        would have been idle long enough.
        """
        clock = self._idle_clock
        if clock is None or self._closing():
            self._idle_timer = None
            return
        idle = self.factory.idle_ms / 1000
        now = clock.seconds()
        if self._mute & _HANDLING:
            # The broker is working on its request: not the client's idleness.
            self._active_at = now
        due = self._active_at + idle
        if now < due:
            self._idle_timer = clock.callLater(due - now, self._check_idle)
            return
        self._idle_timer = None
        self._log.info(
            "Closing connection from {peer}: idle for more than {idle_ms} ms "
            "(connections.max.idle.ms)",
            peer=self.peer,
            idle_ms=self.factory.idle_ms,
        )
        self._close()

    @property
    def muted(self) -> bool:
        """Whether the connection reads and dispatches nothing for now."""
        return bool(self._mute)

    def _closing(self) -> bool:
        """True once nothing more may be read or written on this connection."""
        return self._lost or self._connection.disconnecting

    def dataReceived(self, data: bytes) -> None:
        if self._closing():
            return
        if data:
            self._buffer += data
            self._held += len(data)
            self.factory.memory.charge(len(data))
            self._active()
        self._drain()

    def _drain(self) -> None:
        """Dispatch the complete frames buffered, in order, until something mutes us."""
        if self._draining:
            # Re-entered from a reply or a wake-up: the outer loop goes on.
            return
        self._draining = True
        try:
            self._dispatch_buffered()
        finally:
            self._draining = False
        self._update_reading()

    def _dispatch_buffered(self) -> None:
        buf = self._buffer
        offset = 0
        size = len(buf)
        while not self._mute and not self._closing() and size - offset >= 4:
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
            self._handling = 4 + length
            if self.factory.memory.finisher is self:
                # Its request is complete: another may take the place.
                self.factory.memory.finished(self)
            self.stringReceived(frame)
        if offset:
            del buf[:offset]

    def _may_read(self) -> bool:
        """Whether the memory pool lets us read; if not, we wait in it."""
        pool = self.factory.memory
        if not pool.full() or pool.finisher is self:
            return True
        if self._buffer and pool.finisher is None:
            # In the middle of a request: finish it, whatever its size.
            pool.finisher = self
            return True
        self._memory_wait = True
        pool.wait(self)
        return False

    def _update_reading(self) -> None:
        """Pause the transport's reading while muted or out of memory; else resume it."""
        if self._closing():
            return
        if self._mute or self._memory_wait or not self._may_read():
            if self.factory.memory.finisher is self:
                # A muted finisher would hold everyone else up.
                self.factory.memory.finished(self)
            if not self._reading_paused:
                self._reading_paused = True
                self._connection.pauseProducing()
        elif self._reading_paused:
            self._reading_paused = False
            self._connection.resumeProducing()

    def _unmute(self, reason: int) -> None:
        """C{reason} no longer holds: go on with the buffered frames if nothing else mutes us."""
        self._mute &= ~reason
        if not self._mute and not self._closing():
            self._drain()

    # -- IPushProducer, called by the transport about its write buffer ---------

    def pauseProducing(self) -> None:
        """The transport's write buffer is full: read and dispatch nothing more."""
        self._mute |= _WRITE_FULL
        self._update_reading()

    def resumeProducing(self) -> None:
        """The transport's write buffer has drained into the socket."""
        if self._closing():
            # A closing transport waits for its paused producer to let go.
            self._unregister()
            return
        self._active()  # the client read what was written
        self._unmute(_WRITE_FULL)

    def stopProducing(self) -> None:
        """The connection is lost."""
        self._lost = True
        self._producing = False

    def memory_available(self) -> None:
        """The request memory pool has room again (or a finisher's place)."""
        self._memory_wait = False
        if not self._mute:
            self._update_reading()

    def _unregister(self) -> None:
        if self._producing:
            self._producing = False
            self._connection.unregisterProducer()

    def _release(self) -> None:
        """The request being handled is answered: give back its memory."""
        size, self._handling = self._handling, 0
        if size:
            self._held -= size
            self.factory.memory.release(size)

    # -- requests ----------------------------------------------------------------

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
        if self.sasl is not None and (step := self.sasl.receive(frame)) is not None:
            self._send_reply(step.reply)
            if self.session.authenticated:  # sasl.server.max.receive.size no longer applies
                self.MAX_LENGTH = self.factory.max_request_size
            clock, reason = self.factory.clock, step.close
            if reason is not None and step.delay_ms and clock is not None:
                self._mute |= _HANDLING  # read nothing more; close after the delay
                self._auth_timer = clock.callLater(step.delay_ms / 1000, self._violation, reason)
            elif reason is not None:
                self._violation(reason)
            return
        try:
            d = self.factory.dispatcher.dispatch(
                frame,
                self.peer,
                self.local_host,
                logged=self.logged,
                throttle=self.throttle,
                session=self.session,
            )
        except ProtocolViolation as e:
            self._release()
            self._violation(str(e))
            return
        if not d.called:
            self._mute |= _HANDLING
        self._pending = d
        d.addCallbacks(self._send_reply, self._failed)

    def throttle(self, ms: int) -> None:
        """A quota throttles the client: read nothing from it for C{ms} ms (without a clock: no)."""
        clock = self.factory.clock
        if clock is None or ms <= 0 or self._closing():
            return
        self._mute |= _THROTTLED
        if self._throttle_timer is not None and self._throttle_timer.active():
            self._throttle_timer.cancel()
        self._throttle_timer = clock.callLater(ms / 1000, self._end_throttle)
        self._update_reading()

    def _end_throttle(self) -> None:
        self._throttle_timer = None
        self._unmute(_THROTTLED)

    def _send_reply(self, reply: Reply) -> None:
        self._pending = None
        self._release()
        if self._closing():
            # A late reply after connectionLost, or after we or the service
            # started closing: drop it (and do not resume a closing transport).
            return
        if reply is not None:
            try:
                # Transports take bytes only; buffers of other types are copied once.
                chunks = [c if type(c) is bytes else bytes(c) for c in reply]
                size = sum(len(chunk) for chunk in chunks)
                # May pause us (pauseProducing) when the write buffer is full.
                self._connection.writeSequence([_PREFIX.pack(size), *chunks])
                self._active()
            except Exception:
                self._log.failure("Could not send a reply to {peer}; closing", peer=self.peer)
                self._close()
                return
        if self._mute & _HANDLING:
            # Drains pipelined frames that arrived while this one waited.
            self._unmute(_HANDLING)

    def _failed(self, failure: Failure) -> None:
        self._pending = None
        self._release()
        if self._lost or isinstance(failure.value, CancelledError):
            return
        if isinstance(failure.value, ProtocolViolation):
            self._violation(failure.getErrorMessage())
            if isinstance(failure.value, ConnectionReset):  # after loseConnection: an RST
                self._connection.abortConnection()
        else:
            self._log.failure("Closing connection from {peer}", failure, peer=self.peer)
            self._close()

    def _violation(self, reason: str) -> None:
        self._log.info("Closing connection from {peer}: {reason}", peer=self.peer, reason=reason)
        self._close()

    def _close(self) -> None:
        """Stop serving this connection: later frames and late replies are dropped."""
        self._lost = True
        # A registered producer the transport paused would keep it open.
        self._unregister()
        self._connection.loseConnection()

    def _stop_timers(self) -> None:
        for timer in (self._idle_timer, self._throttle_timer, self._auth_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._idle_timer = self._throttle_timer = self._auth_timer = None

    def disconnect(self) -> None:
        """The broker is stopping: close (unregistered first: TLS waits for that), forget timers."""
        self._stop_timers()
        self._close()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        self._producing = False
        self.factory.connections.discard(self)
        self._stop_timers()
        pending, self._pending = self._pending, None
        if pending is not None and not pending.called:
            pending.cancel()
        held, self._held, self._handling = self._held, 0, 0
        self._buffer = bytearray()
        self.factory.memory.forget(self)
        if held:
            self.factory.memory.release(held)


class KafkaServerFactory(Factory[KafkaServerProtocol]):
    """What every connection shares: the dispatcher, the request size limit, memory, the clock."""

    protocol = KafkaServerProtocol
    noisy = False

    def __init__(
        self,
        dispatcher: Dispatcher,
        max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
        memory: RequestMemoryPool | None = None,
        *,
        clock: ReactorTime | None = None,
        idle_ms: int = -1,
        listener_name: str = "PLAINTEXT",
        security_protocol: str = "PLAINTEXT",
        sasl: SaslListener | None = None,
    ) -> None:
        """
        @param memory: the pool of bytes of requests in flight
            (C{queued.max.request.bytes}); unbounded by default.
        @param clock: the reactor's time, for idle connections.
        @param idle_ms: C{connections.max.idle.ms}: close a connection idle
            for this long; negative (or no clock) never does, as in Kafka.
        @param listener_name: The listener this factory serves (C{listeners}).
        @param security_protocol: Its protocol (C{listener.security.protocol.map}).
        @param sasl: On a SASL listener, its mechanisms and credentials.
        """
        self.dispatcher = dispatcher
        self.max_request_size = max_request_size
        self.memory = RequestMemoryPool() if memory is None else memory
        self.clock = clock
        self.idle_ms = idle_ms
        self.listener_name = listener_name
        self.security_protocol = security_protocol
        self.sasl = sasl
        self.connections: set[KafkaServerProtocol] = set()

    def buildProtocol(self, addr: IAddress | None) -> KafkaServerProtocol:
        p = self.protocol()
        p.factory = self
        return p
