"""Tests for L{kafkatwist.testing.faults} through a real dispatcher."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, api_versions
from kafkatwist.errors import ConnectionReset, ErrorCode, ProtocolViolation
from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.testing.faults import Faults, api_key, error_code
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.wire.record import build_batch
from tests.brokers import clock_of, log_of
from tests.support import connect, decode_reply, make_broker, request_frame, server_factory

FRAME = request_frame(18, 3, 7, ApiVersionsRequest("c", "1"), framed=False)


class FaultsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.faults = Faults(self.clock)
        broker = make_broker()
        broker.hooks.append(self.faults)
        self.dispatcher = Dispatcher((api_versions.SPEC,), broker)

    def error(self) -> int:
        reply = self.successResultOf(self.dispatcher.dispatch(FRAME, "p:1"))
        return decode_reply(reply, ApiVersionsResponse, 3)[1].error_code

    def test_names_and_numbers(self) -> None:
        """APIs and errors are named as Kafka names them, in any case, or by number."""
        self.assertEqual((api_key("Produce"), api_key("FETCH"), api_key(18)), (0, 1, 18))
        self.assertEqual(error_code("not_leader_or_follower"), ErrorCode.NOT_LEADER_OR_FOLLOWER)
        self.assertEqual(error_code(6), 6)
        for bad in ("NoSuchApi",):
            self.assertRaises(ValueError, api_key, bad)
        for wrong in ("NO_SUCH_ERROR", 9999):
            self.assertRaises(ValueError, error_code, wrong)

    def test_fail_next_count(self) -> None:
        """The next N requests of the API get the error; the one after is handled."""
        self.faults.fail_next("ApiVersions", "BROKER_NOT_AVAILABLE", count=2)
        self.faults.fail_next("Produce", "NOT_CONTROLLER")
        self.assertEqual(self.faults.pending(), 3)
        self.assertEqual(
            [self.error(), self.error(), self.error()],
            [ErrorCode.BROKER_NOT_AVAILABLE, ErrorCode.BROKER_NOT_AVAILABLE, 0],
        )
        self.assertEqual(self.faults.pending(), 1)

    def test_delay_on_the_clock(self) -> None:
        """A delayed request is handled once the broker's clock has advanced that far."""
        self.faults.delay_next(None, 2.5)
        d = self.dispatcher.dispatch(FRAME, "p:1")
        self.clock.advance(2.4)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.successResultOf(d)

    def test_drop_and_reset(self) -> None:
        """Dropping closes the connection; resetting aborts it."""
        self.faults.drop_next("ApiVersions")
        self.faults.drop_next(18, reset=True)
        first = self.failureResultOf(self.dispatcher.dispatch(FRAME, "p:1"), ProtocolViolation)
        self.assertNotIsInstance(first.value, ConnectionReset)
        self.failureResultOf(self.dispatcher.dispatch(FRAME, "p:1"), ConnectionReset)

    def test_pause_and_resume(self) -> None:
        """Paused, requests wait unanswered; resumed, they are handled in order."""
        self.faults.pause()
        first = self.dispatcher.dispatch(FRAME, "p:1")
        second = self.dispatcher.dispatch(FRAME, "p:2")
        self.assertNoResult(first)
        self.assertNoResult(second)
        self.faults.resume()
        self.successResultOf(first)
        self.successResultOf(second)

    def test_clear(self) -> None:
        """Clear forgets pending rules."""
        self.faults.fail_next(18, 15, count=5)
        self.faults.clear()
        self.assertEqual((self.faults.pending(), self.error()), (0, 0))


class DropConnectionsTests(SynchronousTestCase):
    """Closing or resetting every current connection of every listener at once."""

    def connections(self, count: int) -> tuple[Faults, list[StringTransport]]:
        """Faults over two listeners holding C{count} connections between them."""
        factories = [server_factory(), server_factory()]
        transports = [connect(factories[i % 2], port=40000 + i)[1] for i in range(count)]
        return Faults(Clock(), listeners=factories), transports

    def test_close(self) -> None:
        """Every connection of every listener is closed (a FIN: not aborted)."""
        faults, transports = self.connections(3)
        with capturedLogs() as events:
            self.assertEqual(faults.drop_connections(), 3)
        self.assertEqual(
            [(t.disconnecting, t.disconnected) for t in transports], [(True, False)] * 3
        )
        self.assertIn("Closed 3 client connections", [formatEvent(e) for e in events][0])

    def test_reset(self) -> None:
        """With reset, every connection is aborted (an RST)."""
        faults, transports = self.connections(2)
        self.assertEqual(faults.drop_connections(reset=True), 2)
        self.assertEqual(
            [(t.disconnecting, t.disconnected) for t in transports], [(True, True)] * 2
        )

    def test_none(self) -> None:
        """Without listeners (Faults(clock) alone) or connections nothing is dropped."""
        self.assertEqual(Faults(Clock()).drop_connections(reset=True), 0)
        self.assertEqual(Faults(Clock(), listeners=[server_factory()]).drop_connections(), 0)


class DelayResponseTests(SynchronousTestCase):
    """A late response: the handler has run, its answer waits on the broker's clock."""

    def test_produce_appended_answer_late(self) -> None:
        """The produced record is in the log at once; the response comes once the clock says so."""
        broker = make_broker()
        self.successResultOf(broker.controller.create_topic("t", 1))
        faults = Faults(clock_of(broker))
        broker.hooks.append(faults)
        faults.delay_response_next("Produce", 5.0)
        self.assertEqual(faults.pending(), 1)
        records = build_batch([(None, b"v")], base_timestamp=1_700_000_000_000)
        data = PartitionProduceData(index=0, records=records)
        request = ProduceRequest(
            acks=-1,
            timeout_ms=1000,
            topic_data=(TopicProduceData(name="t", partition_data=(data,)),),
        )
        dispatcher = Dispatcher(REGISTRY, broker)
        d = dispatcher.dispatch(request_frame(0, 9, 3, request, framed=False), "p:1")
        self.assertEqual(log_of(broker, "t", 0).log_end_offset, 1)
        self.assertEqual(faults.pending(), 0)
        clock_of(broker).advance(4.9)
        self.assertNoResult(d)
        clock_of(broker).advance(0.1)
        response = decode_reply(self.successResultOf(d), ProduceResponse, 9)[1]
        self.assertEqual(response.responses[0].partition_responses[0].error_code, 0)

    def test_only_the_api_and_count(self) -> None:
        """Other APIs answer at once; count responses spend the rule; a cancel stops its timer."""
        clock = Clock()
        faults = Faults(clock)
        broker = make_broker()
        broker.hooks.append(faults)
        dispatcher = Dispatcher((api_versions.SPEC,), broker)
        faults.delay_response_next("Produce", 1.0)
        self.successResultOf(dispatcher.dispatch(FRAME, "p:1"))
        faults.clear()
        faults.delay_response_next(None, 1.0)
        held = dispatcher.dispatch(FRAME, "p:1")
        self.successResultOf(dispatcher.dispatch(FRAME, "p:1"))
        held.cancel()
        self.failureResultOf(held)
        self.assertEqual(clock.getDelayedCalls(), [])


class AcksZeroTests(SynchronousTestCase):
    """An acks=0 Produce has no response: an injected error closes its connection, as Kafka does."""

    def test_fail_next_acks_zero_closes(self) -> None:
        """The client expects no answer: none is sent, the connection is closed instead."""
        broker = make_broker()
        self.successResultOf(broker.controller.create_topic("t", 1))
        faults = Faults(clock_of(broker))
        broker.hooks.append(faults)
        faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER")
        records = build_batch([(None, b"v")], base_timestamp=1_700_000_000_000)
        data = PartitionProduceData(index=0, records=records)
        request = ProduceRequest(
            acks=0,
            timeout_ms=1000,
            topic_data=(TopicProduceData(name="t", partition_data=(data,)),),
        )
        dispatcher = Dispatcher(REGISTRY, broker)
        d = dispatcher.dispatch(request_frame(0, 9, 3, request, framed=False), "p:1")
        failure = self.failureResultOf(d, ProtocolViolation)
        self.assertIn("NOT_LEADER_OR_FOLLOWER", failure.getErrorMessage())
        self.assertEqual(log_of(broker, "t", 0).log_end_offset, 0)
        # The next one is handled, and answers nothing.
        d = dispatcher.dispatch(request_frame(0, 9, 4, request, framed=False), "p:1")
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(log_of(broker, "t", 0).log_end_offset, 1)
