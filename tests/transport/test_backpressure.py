"""Tests for the backpressure of L{kafkatwist.transport.protocol}: muting and the memory pool."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import broker_layers
from kafkatwist.transport.dispatch import Reply
from kafkatwist.transport.pool import RequestMemoryPool
from kafkatwist.transport.protocol import KafkaServerFactory, KafkaServerProtocol
from tests.support import frame, unframe

_REQUEST = struct.Struct(">ii")


def request(correlation_id: int, reply_size: int, padding: int = 0) -> bytes:
    """A framed test request: its id, the size of the reply it asks for, then padding."""
    return frame(_REQUEST.pack(correlation_id, reply_size) + b"p" * padding)


class _Dispatcher:
    """
    Answers each test request with C{reply_size} bytes starting with its id.

    While C{hold} is true each answer waits on a Deferred in C{waiting}.
    """

    def __init__(self) -> None:
        self.hold = False
        self.seen: list[int] = []
        self.waiting: list[tuple[Deferred[Reply], Reply]] = []

    def dispatch(
        self,
        frame: bytes,
        peer: str = "",
        local_host: str | None = None,
        logged: set[str] | None = None,
        throttle: object = None,
        session: object = None,
    ) -> object:
        correlation_id, reply_size = _REQUEST.unpack_from(frame)
        self.seen.append(correlation_id)
        reply: Reply = [struct.pack(">i", correlation_id) + b"r" * (reply_size - 4)]
        if not self.hold:
            return succeed(reply)
        d: Deferred[Reply] = Deferred()
        self.waiting.append((d, reply))
        return d

    def answer(self, index: int = 0) -> None:
        """Fire the C{index}th held answer still waiting."""
        d, reply = self.waiting.pop(index)
        d.callback(reply)


class BufferingTransport(StringTransport):
    """
    A StringTransport with a write buffer, flow-controlled as Twisted's TCP transports are.

    Writing past C{bufferSize} pauses the registered streaming producer;
    L{flush} hands everything written to the "socket" and resumes it.
    """

    bufferSize = 65536

    def __init__(self) -> None:
        super().__init__()
        self.producer_paused = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.producer is not None and self.streaming and not self.producer_paused:
            if len(self.value()) > self.bufferSize:
                self.producer_paused = True
                self.producer.pauseProducing()

    def writeSequence(self, seq: Iterable[bytes]) -> None:
        self.write(b"".join(seq))

    def flush(self) -> list[int]:
        """Send the buffer: the ids of the replies in it; resumes a paused producer."""
        ids = [struct.unpack_from(">i", reply)[0] for reply in unframe(self.value())]
        self.clear()
        if self.producer is not None and self.producer_paused:
            self.producer_paused = False
            self.producer.resumeProducing()
        return ids


class _Case(SynchronousTestCase):
    """Connections of one factory over buffering transports."""

    def setUp(self) -> None:
        self.dispatcher = _Dispatcher()
        self.factory = KafkaServerFactory(self.dispatcher, 1 << 24)  # type: ignore[arg-type]

    def connect(self) -> tuple[KafkaServerProtocol, BufferingTransport]:
        protocol = self.factory.buildProtocol(None)
        transport = BufferingTransport()
        protocol.makeConnection(transport)
        return protocol, transport


class WriteBufferTests(_Case):
    """A connection reads nothing more while its transport's write buffer is full."""

    def test_one_response_buffered(self) -> None:
        """A client pipelining requests for large replies, reading none, gets one buffered."""
        protocol, transport = self.connect()
        self.assertIs(transport.producer, protocol)
        self.assertTrue(transport.streaming)
        protocol.dataReceived(b"".join(request(i, 200_000) for i in range(100)))
        self.assertEqual(self.dispatcher.seen, [0])
        self.assertLess(len(transport.value()), 2 * 200_000)
        self.assertEqual(transport.producerState, "paused")
        self.assertTrue(protocol.muted)
        # Each drain of the write buffer lets exactly one more request in.
        for i in range(1, 100):
            self.assertEqual(transport.flush(), [i - 1])
            self.assertEqual(self.dispatcher.seen[-1], i)
            self.assertEqual(len(self.dispatcher.seen), i + 1)
        self.assertEqual(transport.flush(), [99])
        self.assertEqual(transport.producerState, "producing")
        self.assertFalse(protocol.muted)

    def test_small_replies_flow(self) -> None:
        """Replies that fit the write buffer do not mute the connection."""
        protocol, transport = self.connect()
        protocol.dataReceived(b"".join(request(i, 100) for i in range(50)))
        self.assertEqual(self.dispatcher.seen, list(range(50)))
        self.assertEqual(transport.producerState, "producing")
        self.assertEqual(transport.flush(), list(range(50)))

    def test_write_full_then_handler(self) -> None:
        """A pending handler and a full write buffer: reading resumes only when neither holds."""
        protocol, transport = self.connect()
        self.dispatcher.hold = True
        protocol.dataReceived(request(1, 200_000) + request(2, 100) + request(3, 100))
        self.assertEqual(self.dispatcher.seen, [1])
        self.dispatcher.answer()
        # The reply filled the write buffer: request 2 waits for the drain.
        self.assertEqual(self.dispatcher.seen, [1])
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(transport.flush(), [1])
        self.assertEqual(self.dispatcher.seen, [1, 2])
        # Now the transport pauses us while request 2 is handled.
        transport.producer_paused = True
        protocol.pauseProducing()
        self.dispatcher.answer()
        self.assertEqual(self.dispatcher.seen, [1, 2])
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(transport.flush(), [2])
        self.assertEqual(self.dispatcher.seen, [1, 2, 3])
        self.dispatcher.answer()
        self.assertEqual(transport.flush(), [3])
        self.assertEqual(transport.producerState, "producing")

    def test_resume_while_handling_stays_paused(self) -> None:
        """A drained write buffer does not resume reading while a request is handled."""
        protocol, transport = self.connect()
        self.dispatcher.hold = True
        protocol.dataReceived(request(1, 100) + request(2, 100))
        transport.producer_paused = True
        protocol.pauseProducing()
        transport.flush()
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(self.dispatcher.seen, [1])
        self.dispatcher.answer()
        self.assertEqual(self.dispatcher.seen, [1, 2])

    def test_closing_releases_the_transport(self) -> None:
        """A transport closed while it paused us gets its producer unregistered when drained."""
        protocol, transport = self.connect()
        protocol.dataReceived(request(1, 200_000))
        self.assertTrue(transport.producer_paused)
        transport.loseConnection()
        transport.flush()
        self.assertIsNone(transport.producer)

    def test_violation_unregisters(self) -> None:
        """Closing the connection ourselves unregisters the producer first."""
        protocol, transport = self.connect()
        protocol.dataReceived(struct.pack(">i", -1))
        self.assertTrue(transport.disconnecting)
        self.assertIsNone(transport.producer)

    def test_stop_producing(self) -> None:
        """stopProducing (the connection is lost) stops serving."""
        protocol, transport = self.connect()
        protocol.stopProducing()
        protocol.dataReceived(request(1, 100))
        self.assertEqual(self.dispatcher.seen, [])


class MemoryPoolTests(_Case):
    """Requests in flight across connections are bounded by the pool."""

    def setUp(self) -> None:
        super().setUp()
        self.pool = RequestMemoryPool(1000)
        self.factory.memory = self.pool

    def test_pool_full_stops_reading(self) -> None:
        """While held requests fill the pool, other connections stop reading; a reply frees them."""
        self.dispatcher.hold = True
        a, ta = self.connect()
        b, tb = self.connect()
        a.dataReceived(request(1, 100, padding=992))
        self.assertEqual(self.pool.used, 1004)
        self.assertTrue(self.pool.full())
        self.dispatcher.hold = False
        # What b had read is served, then b reads no more.
        b.dataReceived(request(2, 100))
        self.assertEqual(self.dispatcher.seen, [1, 2])
        self.assertEqual(tb.producerState, "paused")
        self.assertEqual(self.pool.waiting, 1)
        self.dispatcher.answer()
        self.assertEqual(self.pool.used, 0)
        self.assertEqual(tb.producerState, "producing")
        self.assertEqual(self.pool.waiting, 0)
        self.assertEqual((ta.flush(), tb.flush()), ([1], [2]))

    def test_frames_read_are_dispatched_when_full(self) -> None:
        """Complete frames already read are dispatched while the pool is full (that frees it)."""
        a, ta = self.connect()
        a.dataReceived(b"".join(request(i, 100, padding=500) for i in range(4)))
        self.assertEqual(self.dispatcher.seen, [0, 1, 2, 3])
        self.assertEqual(self.pool.used, 0)
        self.assertEqual(ta.producerState, "producing")

    def test_request_larger_than_the_pool(self) -> None:
        """A request larger than the whole pool is read to its end and served (the finisher)."""
        protocol, transport = self.connect()
        data = request(1, 100, padding=5000)
        for i in range(0, len(data), 300):
            protocol.dataReceived(data[i : i + 300])
            self.assertEqual(transport.producerState, "producing")
        self.assertEqual(self.dispatcher.seen, [1])
        self.assertEqual(transport.flush(), [1])
        self.assertEqual(self.pool.used, 0)
        self.assertIsNone(self.pool.finisher)

    def test_one_finisher_at_a_time(self) -> None:
        """When the pool fills mid-request, one connection finishes its request, then the next."""
        a, ta = self.connect()
        b, tb = self.connect()
        ra, rb = request(1, 100, padding=900), request(2, 100, padding=900)
        a.dataReceived(ra[:600])
        b.dataReceived(rb[:600])
        # b filled the pool in the middle of its request: it finishes it.
        self.assertIs(self.pool.finisher, b)
        # a learns of it on its next read, and then waits.
        a.dataReceived(ra[600:700])
        self.assertEqual((ta.producerState, tb.producerState), ("paused", "producing"))
        b.dataReceived(rb[600:])
        self.assertEqual(self.dispatcher.seen, [2])
        # Answered at once: memory is back and a reads on.
        self.assertEqual(ta.producerState, "producing")
        a.dataReceived(ra[700:])
        self.assertEqual(self.dispatcher.seen, [2, 1])
        self.assertEqual(self.pool.used, 0)
        self.assertIsNone(self.pool.finisher)

    def test_length_prefix_reserves_nothing(self) -> None:
        """A length prefix promising a large request holds no memory: bytes read are charged."""
        conns = [self.connect() for _ in range(10)]
        for protocol, _ in conns:
            protocol.dataReceived(struct.pack(">i", 1 << 20))
        self.assertEqual(self.pool.used, 40)
        other, transport = self.connect()
        other.dataReceived(request(1, 100))
        self.assertEqual(self.dispatcher.seen, [1])
        self.assertEqual(transport.flush(), [1])

    def test_lost_connection_releases(self) -> None:
        """A lost connection releases its memory and stops waiting; waiters read again."""
        self.dispatcher.hold = True
        a, _ = self.connect()
        b, _ = self.connect()
        c, tc = self.connect()
        a.dataReceived(request(1, 100, padding=992))
        self.dispatcher.hold = False
        b.dataReceived(request(2, 100))
        c.dataReceived(request(3, 100))
        self.assertEqual(self.pool.waiting, 2)
        b.connectionLost()
        self.assertEqual(self.pool.waiting, 1)
        self.assertEqual(tc.producerState, "paused")
        a.connectionLost()
        self.assertEqual(self.pool.used, 0)
        self.assertEqual(self.pool.waiting, 0)
        self.assertEqual(tc.producerState, "producing")
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_waiters_in_order(self) -> None:
        """Connections waiting for memory are woken in the order they started waiting."""
        self.dispatcher.hold = True
        first, _ = self.connect()
        first.dataReceived(request(0, 100, padding=992))
        self.dispatcher.hold = False
        conns = [self.connect() for _ in range(5)]
        for i, (protocol, _) in enumerate(conns):
            protocol.dataReceived(request(i + 1, 100))
        self.assertEqual(self.pool.waiting, 5)
        woken: list[int] = []

        def waker(i: int) -> Callable[[], None]:
            return lambda: woken.append(i)

        for i, (protocol, _) in enumerate(conns):
            protocol.memory_available = waker(i)  # type: ignore[method-assign]
        self.dispatcher.answer()
        self.assertEqual(woken, [0, 1, 2, 3, 4])

    def test_unbounded(self) -> None:
        """A limit of 0 or less never mutes."""
        for limit in (0, -1):
            pool = RequestMemoryPool(limit)
            pool.charge(1 << 40)
            self.assertFalse(pool.full())

    def test_config(self) -> None:
        """queued.max.request.bytes feeds the pool: kafkatwist's default is 256 MiB."""
        self.assertEqual(BrokerConfig().queued_max_request_bytes, 256 * 1024 * 1024)
        config = BrokerConfig.from_properties({"queued.max.request.bytes": "-1"})
        self.assertEqual(config.queued_max_request_bytes, -1)
        self.assertEqual(config.unused_keys, ())
        default = broker_layers(BrokerConfig(), {}).broker_value("queued.max.request.bytes")
        self.assertEqual(default, "268435456")
