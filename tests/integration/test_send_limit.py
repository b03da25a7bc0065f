"""A connection's TCP transport: large answers in few system calls, no Nagle delay (loopback)."""

from __future__ import annotations

import socket
import struct

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Protocol

from kafkatwist.transport.dispatch import Reply
from kafkatwist.transport.protocol import SEND_LIMIT, KafkaServerFactory, KafkaServerProtocol
from tests.support import frame, unframe

REPLY_SIZE = 8 * 1024 * 1024


class _Dispatcher:
    """Answers every request with REPLY_SIZE bytes: the request's first 4 bytes, then filler."""

    def dispatch(
        self,
        frame: bytes,
        peer: str = "",
        local_host: str | None = None,
        logged: set[str] | None = None,
        throttle: object = None,
        session: object = None,
    ) -> object:
        reply: Reply = [frame[:4], b"r" * (REPLY_SIZE - 4)]
        return succeed(reply)


class _Factory(KafkaServerFactory):
    """Remembers the protocols it builds."""

    def __init__(self) -> None:
        super().__init__(_Dispatcher(), 1 << 20)  # type: ignore[arg-type]
        self.built: list[KafkaServerProtocol] = []

    def buildProtocol(self, addr: IAddress | None) -> KafkaServerProtocol:
        protocol = super().buildProtocol(addr)
        self.built.append(protocol)
        return protocol


class _Reader(Protocol):
    """Collects what the broker sends until C{want} bytes have come."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.got = bytearray()
        self.done: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.got += data
        if len(self.got) >= self.want and not self.done.called:
            self.done.callback(bytes(self.got))


@pytest_twisted.ensureDeferred
async def test_large_answer_over_tcp() -> None:
    """The TCP transport offers the kernel up to SEND_LIMIT per send; 8 MiB arrive whole."""
    factory = _Factory()
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    try:
        reader = _Reader(4 + REPLY_SIZE)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        client = await connectProtocol(endpoint, reader)
        try:
            client.transport.write(frame(struct.pack(">i", 7) + b"request"))
            data = await reader.done
            [answer] = unframe(data)
            assert (answer[:4], len(answer)) == (struct.pack(">i", 7), REPLY_SIZE)
            [server] = factory.built
            assert server.transport.SEND_LIMIT == SEND_LIMIT  # type: ignore[union-attr]
            assert SEND_LIMIT > 128 * 1024
            # Nagle's algorithm is off, as Kafka's SocketServer sets TCP_NODELAY.
            sock = server.transport.getHandle()  # type: ignore[union-attr]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            client.transport.loseConnection()
    finally:
        await port.stopListening()
