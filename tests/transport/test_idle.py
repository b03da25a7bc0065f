"""Tests for idle connections: ``connections.max.idle.ms`` on the clock (Kafka's Selector)."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.transport.protocol import KafkaServerFactory
from tests.support import ProduceHandler, connect, produce_request, server_factory, unframe

IDLE_MS = 600_000


class IdleConnectionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.handler = ProduceHandler()
        plain = server_factory(self.handler)
        self.factory = KafkaServerFactory(
            plain.dispatcher, plain.max_request_size, clock=self.clock, idle_ms=IDLE_MS
        )
        self.protocol, self.transport = connect(self.factory)

    def test_default_is_kafkas(self) -> None:
        """connections.max.idle.ms defaults to Kafka's 600000 and feeds the broker config."""
        self.assertEqual(BrokerConfig().connections_max_idle_ms, 600_000)
        config = BrokerConfig.from_properties({"connections.max.idle.ms": "1000"})
        self.assertEqual(config.connections_max_idle_ms, 1000)

    def test_idle_connection_closed_with_one_line(self) -> None:
        """A connection on which nothing happens is closed after the idle time, logged once."""
        with capturedLogs() as events:
            self.clock.advance(IDLE_MS / 1000 - 0.001)
            self.assertFalse(self.transport.disconnecting)
            self.clock.advance(0.001)
        self.assertTrue(self.transport.disconnecting)
        lines = [formatEvent(e) for e in events]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("10.0.0.1:40000", lines[0])
        self.assertIn("connections.max.idle.ms", lines[0])

    def test_requests_keep_it_open(self) -> None:
        """Each request answered restarts the idle time."""
        for correlation_id in range(5):
            self.clock.advance(IDLE_MS / 1000 * 0.9)
            self.protocol.dataReceived(produce_request(correlation_id))
        self.assertEqual(len(unframe(self.transport.value())), 5)
        self.clock.advance(IDLE_MS / 1000 * 0.9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(IDLE_MS / 1000 * 0.1)
        self.assertTrue(self.transport.disconnecting)

    def test_partial_request_bytes_count(self) -> None:
        """Bytes read, even of an unfinished request, are activity (as Kafka's reads)."""
        request = produce_request(1)
        self.clock.advance(IDLE_MS / 1000 - 1)
        self.protocol.dataReceived(request[:3])
        self.clock.advance(IDLE_MS / 1000 - 1)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)

    def test_request_being_handled_is_not_idle(self) -> None:
        """While the broker works on a request the connection stays, and idles after the answer."""
        self.handler.hold = True
        self.protocol.dataReceived(produce_request(1))
        self.clock.advance(3 * IDLE_MS / 1000)
        self.assertFalse(self.transport.disconnecting)
        self.handler.waiting.pop().callback(None)
        self.assertEqual(len(unframe(self.transport.value())), 1)
        self.clock.advance(IDLE_MS / 1000)
        self.assertTrue(self.transport.disconnecting)

    def test_client_not_reading_is_idle(self) -> None:
        """A client that does not read its responses (write buffer full) is closed when idle."""
        self.protocol.dataReceived(produce_request(1))
        self.protocol.pauseProducing()  # the transport's buffer is full
        self.clock.advance(IDLE_MS / 1000)
        self.assertTrue(self.transport.disconnecting)

    def test_no_timer_left_after_close(self) -> None:
        """A closed connection leaves no idle timer on the clock."""
        self.protocol.connectionLost()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_negative_never_closes(self) -> None:
        """A negative connections.max.idle.ms never closes a connection, as in Kafka."""
        factory = KafkaServerFactory(self.factory.dispatcher, clock=self.clock, idle_ms=-1)
        _, transport = connect(factory)
        self.clock.advance(10 * IDLE_MS)
        self.assertFalse(transport.disconnecting)
