"""Tests for the request hooks (L{kafkatwist.hooks}) as the dispatcher and connections call them."""

from __future__ import annotations

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import api_versions
from kafkatwist.errors import ConnectionReset, ErrorCode, KafkaError, ProtocolViolation
from kafkatwist.hooks import Exchange
from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.transport.dispatch import Dispatcher
from tests.support import connect, decode_reply, make_broker, request_frame, server_factory


@define
class Recorder:
    """A hook recording what it sees and doing what the test sets."""

    seen: list[tuple[str, Exchange]] = field(factory=list)
    raise_: Exception | None = None
    wait: Deferred[None] | None = None
    late: Deferred[None] | None = None

    def received(self, exchange: Exchange) -> Deferred[None] | None:
        self.seen.append(("received", exchange))
        if self.raise_ is not None:
            raise self.raise_
        return self.wait

    def answered(self, exchange: Exchange) -> Deferred[None] | None:
        self.seen.append(("answered", exchange))
        return self.late


API_VERSIONS = request_frame(18, 3, 7, ApiVersionsRequest("c", "1"), client_id="me", framed=False)


class HookTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.hook = Recorder()
        self.broker.hooks.append(self.hook)
        self.dispatcher = Dispatcher((api_versions.SPEC,), self.broker)

    def test_no_hooks_no_exchange(self) -> None:
        """Without hooks nothing is built or called."""
        self.broker.hooks.clear()
        self.successResultOf(self.dispatcher.dispatch(API_VERSIONS, "p:1"))
        self.assertEqual(self.hook.seen, [])

    def test_received_then_answered(self) -> None:
        """Both calls see one exchange: header, request, then the response and its size."""
        reply = self.successResultOf(self.dispatcher.dispatch(API_VERSIONS, "p:1"))
        assert reply is not None
        self.assertEqual([kind for kind, _ in self.hook.seen], ["received", "answered"])
        exchange = self.hook.seen[1][1]
        self.assertIs(exchange, self.hook.seen[0][1])
        self.assertEqual((exchange.api_key, exchange.api_version), (18, 3))
        self.assertEqual((exchange.api_name, exchange.peer), ("ApiVersions", "p:1"))
        self.assertEqual(exchange.header.client_id, "me")
        self.assertEqual(exchange.request, ApiVersionsRequest("c", "1"))
        self.assertIsInstance(exchange.response, ApiVersionsResponse)
        self.assertEqual(exchange.response_size, sum(len(c) for c in reply))
        self.assertEqual(exchange.request_size, len(API_VERSIONS))
        self.assertGreaterEqual(exchange.finished, exchange.started)

    def test_kafka_error_answers_with_code(self) -> None:
        """A hook's KafkaError is the API's error response; the handler does not run."""
        self.hook.raise_ = KafkaError(ErrorCode.NOT_CONTROLLER)
        reply = self.successResultOf(self.dispatcher.dispatch(API_VERSIONS, "p:1"))
        body = decode_reply(reply, ApiVersionsResponse, 3)[1]
        self.assertEqual(body.error_code, ErrorCode.NOT_CONTROLLER)
        self.assertEqual(body.api_keys, ())

    def test_kafka_error_still_shown_to_later_hooks(self) -> None:
        """After a hook's KafkaError the later hooks still see the request, then its answer."""
        self.hook.raise_ = KafkaError(ErrorCode.NOT_CONTROLLER)
        second = Recorder()
        self.broker.hooks.append(second)
        reply = self.successResultOf(self.dispatcher.dispatch(API_VERSIONS, "p:1"))
        body = decode_reply(reply, ApiVersionsResponse, 3)[1]
        self.assertEqual(body.error_code, ErrorCode.NOT_CONTROLLER)
        self.assertEqual([kind for kind, _ in second.seen], ["received", "answered"])

    def test_first_kafka_error_wins(self) -> None:
        """When two hooks raise KafkaError, the first one's code is the answer."""
        self.hook.raise_ = KafkaError(ErrorCode.NOT_CONTROLLER)
        self.broker.hooks.append(Recorder(raise_=KafkaError(ErrorCode.BROKER_NOT_AVAILABLE)))
        reply = self.successResultOf(self.dispatcher.dispatch(API_VERSIONS, "p:1"))
        body = decode_reply(reply, ApiVersionsResponse, 3)[1]
        self.assertEqual(body.error_code, ErrorCode.NOT_CONTROLLER)

    def test_hook_added_during_a_request(self) -> None:
        """A hook registered while a request waits sees the next request, not this one's answer."""
        self.hook.wait = Deferred()
        d = self.dispatcher.dispatch(API_VERSIONS, "p:1")
        added = Recorder()
        self.broker.hooks.insert(0, added)  # as Faults.install does
        self.hook.wait.callback(None)
        self.successResultOf(d)
        self.assertEqual(added.seen, [])
        self.hook.wait = None
        self.successResultOf(self.dispatcher.dispatch(API_VERSIONS, "p:1"))
        self.assertEqual([kind for kind, _ in added.seen], ["received", "answered"])

    def test_deferred_delays_the_handler(self) -> None:
        """A returned Deferred holds the request until it fires."""
        self.hook.wait = Deferred()
        d = self.dispatcher.dispatch(API_VERSIONS, "p:1")
        self.assertNoResult(d)
        self.hook.wait.callback(None)
        self.assertEqual(decode_reply(self.successResultOf(d), ApiVersionsResponse, 3)[0], 7)

    def test_answered_deferred_delays_the_reply(self) -> None:
        """A Deferred returned by answered() holds the encoded reply; every hook saw it first."""
        self.hook.late = Deferred()
        second = Recorder()
        self.broker.hooks.append(second)
        d = self.dispatcher.dispatch(API_VERSIONS, "p:1")
        self.assertNoResult(d)
        self.assertEqual([kind for kind, _ in second.seen], ["received", "answered"])
        self.hook.late.callback(None)
        self.assertEqual(decode_reply(self.successResultOf(d), ApiVersionsResponse, 3)[0], 7)

    def test_violation_fails_the_dispatch(self) -> None:
        """A hook's ProtocolViolation fails the dispatch (the connection closes)."""
        self.hook.raise_ = ProtocolViolation("dropped by a test")
        self.failureResultOf(self.dispatcher.dispatch(API_VERSIONS, "p:1"), ProtocolViolation)


class ConnectionTests(SynchronousTestCase):
    def connected(self, error: Exception) -> tuple[bool, bool, list[str]]:
        factory = server_factory()
        factory.dispatcher.broker.hooks.append(Recorder(raise_=error))
        protocol, transport = connect(factory)
        with capturedLogs() as events:
            protocol.dataReceived(request_frame(18, 3, 1, ApiVersionsRequest("c", "1")))
        lines = [formatEvent(e) for e in events if "Closing" in formatEvent(e)]
        return transport.disconnecting, transport.disconnected, lines

    def test_violation_closes(self) -> None:
        """ProtocolViolation closes the connection (a FIN) with one log line."""
        closing, aborted, lines = self.connected(ProtocolViolation("dropped by a test"))
        self.assertEqual((closing, aborted), (True, False))
        self.assertEqual(len(lines), 1)
        self.assertIn("dropped by a test", lines[0])

    def test_reset_aborts(self) -> None:
        """ConnectionReset aborts the connection (StringTransport marks it disconnected)."""
        closing, aborted, lines = self.connected(ConnectionReset("reset by a test"))
        self.assertEqual((closing, aborted), (True, True))
        self.assertIn("reset by a test", lines[0])
