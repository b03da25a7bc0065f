"""Tests for the trace's request hook (L{kafkatwist.trace.hook}) as the dispatcher calls it."""

from __future__ import annotations

import json
from typing import Any

from attrs import define, field
from attrs.exceptions import NotAnAttrsClassError
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY
from kafkatwist.config.trace_config import TraceConfig
from kafkatwist.hooks import Exchange, RequestHook
from kafkatwist.messages.api_versions import ApiVersionsRequest
from kafkatwist.messages.produce import ProduceRequest
from kafkatwist.security.session import Session
from kafkatwist.storage.kraft import run_now
from kafkatwist.trace import TraceFilter, TraceHook, install_trace
from kafkatwist.trace.sink import FileSink, LogSink
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.wire.header import RequestHeader
from tests.support import load_hex, make_broker, request_frame

#: 2026-12-07T06:54:29.5Z, where the tests' clock stands.
NOW = 1796626469.5


@define
class ListSink:
    """A sink keeping its lines."""

    lines: list[str] = field(factory=list)
    closed: bool = False

    def write(self, line: str) -> None:
        self.lines.append(line)

    def close(self) -> Deferred[None]:
        self.closed = True
        return succeed(None)

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


class TracedDispatchTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.clock = Clock()
        self.clock.advance(NOW)
        self.sink = ListSink()
        self.dispatcher = Dispatcher(REGISTRY, self.broker)

    def trace(self) -> None:
        """Trace everything to C{self.sink}."""
        config = TraceConfig(enable=True)
        self.broker.hooks.append(TraceHook.from_config(config, self.clock, self.sink))

    def dispatch(self, frame: bytes) -> None:
        """Dispatch one frame (its length prefix removed) from a PLAINTEXT client."""
        session = Session(client_host="10.0.0.1")
        self.successResultOf(self.dispatcher.dispatch(frame[4:], "10.0.0.1:40000", session=session))

    def test_request_and_response_lines(self) -> None:
        """A client's Produce: a request line when received, a response line once answered."""
        self.trace()
        frame = load_hex("produce_v11_request")
        self.dispatch(frame)
        request, response = self.sink.parsed()
        envelope = {
            "time": "2026-12-07T06:54:29.500Z",
            "peer": "10.0.0.1:40000",
            "listener": "PLAINTEXT",
            "principal": "User:ANONYMOUS",
            "clientId": "kafka-tester",
            "correlationId": 1202940280,
            "api": "Produce",
            "apiKey": 0,
            "apiVersion": 11,
        }
        self.assertEqual(
            request,
            {**envelope, "kind": "request", "size": len(frame) - 4, "body": request["body"]},
        )
        self.assertEqual(request["body"]["TopicData"][0]["Name"], "orange")
        self.assertEqual(
            request["body"]["TopicData"][0]["PartitionData"][0]["Records"]["records"], 1
        )
        latency = response.pop("latencyMs")
        self.assertGreaterEqual(latency, 0)
        body = response.pop("body")
        self.assertEqual(response, {**envelope, "kind": "response", "size": response["size"]})
        self.assertGreater(response["size"], 0)
        [topic] = body["Responses"]
        [partition] = topic["PartitionResponses"]
        self.assertEqual(
            (topic["Name"], partition["Index"], partition["ErrorCode"]), ("orange", 720, 3)
        )
        self.assertEqual(list(request)[:2], ["time", "kind"])

    def test_acks_zero_has_no_response_body(self) -> None:
        """An acks=0 Produce is answered by nothing: its response line has a null body, size 0."""
        self.trace()
        self.dispatch(request_frame(0, 9, 5, ProduceRequest(acks=0, timeout_ms=1)))
        _, response = self.sink.parsed()
        self.assertEqual((response["body"], response["size"]), (None, 0))

    def test_flexible_request_header(self) -> None:
        """A flexible ApiVersions: its client id and the body's fields as Kafka names them."""
        self.trace()
        self.dispatch(load_hex("api_versions_v4_request"))
        request, response = self.sink.parsed()
        self.assertEqual((request["clientId"], request["apiVersion"]), ("kafka-cli", 4))
        self.assertEqual(
            request["body"], {"ClientSoftwareName": "kafka-cli", "ClientSoftwareVersion": "0.1"}
        )
        self.assertEqual(response["body"]["ErrorCode"], 0)
        self.assertIn({"ApiKey": 0, "MinVersion": 0, "MaxVersion": 13}, response["body"]["ApiKeys"])

    def test_off_registers_nothing(self) -> None:
        """Off (the default), no hook is registered: the request path is unchanged."""
        hooks: list[RequestHook] = []
        self.assertIsNone(install_trace(TraceConfig(), hooks, self.clock, run_now))
        self.assertEqual(hooks, [])

    def test_on_registers_a_hook(self) -> None:
        """On, one hook is appended; its lines go to the Twisted log unless a file is named."""
        hooks: list[RequestHook] = []
        hook = install_trace(TraceConfig(enable=True), hooks, self.clock, run_now)
        self.assertEqual(hooks, [hook])
        assert hook is not None
        self.assertIsInstance(hook._sink, LogSink)
        config = TraceConfig(enable=True, file="/nonexistent/never-written.jsonl")
        hook = install_trace(config, hooks, self.clock, run_now)
        assert hook is not None
        self.assertIsInstance(hook._sink, FileSink)

    def test_unknown_api_name_warned(self) -> None:
        """A name no API has is logged once at start (it matches nothing)."""
        with capturedLogs() as events:
            install_trace(
                TraceConfig(enable=True, apis=frozenset({"produce", "fecth"})),
                [],
                self.clock,
                run_now,
            )
        self.assertEqual([e["names"] for e in events if "names" in e], ["fecth"])

    def test_long_line_keeps_its_envelope(self) -> None:
        """A line over max.line.bytes has its body left out, with the body's length."""
        self.broker.hooks.append(TraceHook(self.clock, self.sink, TraceFilter(), 1024))
        request = ApiVersionsRequest("c" * 2000, "1")
        self.dispatch(request_frame(18, 3, 7, request))
        line = self.sink.parsed()[0]
        self.assertEqual(
            (line["body"], line["api"], line["correlationId"]), (None, "ApiVersions", 7)
        )
        self.assertGreater(line["bodyChars"], 2000)
        self.assertLessEqual(len(self.sink.lines[0]), 1024)

    def test_render_failure_is_logged_not_fatal(self) -> None:
        """A body the trace cannot render is logged, and the request goes on (received: None)."""
        hook = TraceHook(self.clock, self.sink)
        exchange = Exchange(
            RequestHeader(18, 3, 1, "c"), "ApiVersions", Session(), "p:1", object(), 10, 0.0
        )
        exchange.response = object()
        with capturedLogs() as events:
            self.assertIsNone(hook.received(exchange))
            hook.answered(exchange)
        self.assertEqual(self.sink.lines, [])
        self.assertEqual(len([e for e in events if e.get("log_failure") is not None]), 2)
        self.assertEqual(len(self.flushLoggedErrors(NotAnAttrsClassError)), 2)

    def test_close_closes_the_sink(self) -> None:
        """Closing the hook closes its sink."""
        hook = TraceHook(self.clock, self.sink)
        self.successResultOf(hook.close())
        self.assertTrue(self.sink.closed)


def exchange(api_key: int, name: str, client_id: str | None) -> Exchange:
    """An exchange of API C{name} from C{client_id}."""
    return Exchange(RequestHeader(api_key, 0, 1, client_id), name, Session(), "p:1", None, 0, 0.0)


class FilterTests(SynchronousTestCase):
    def test_everything_by_default(self) -> None:
        """With no API and no client id named, every exchange is traced."""
        self.assertTrue(TraceFilter().matches(exchange(0, "Produce", None)))

    def test_by_api_name_any_case_or_key(self) -> None:
        """APIs are named (any case: the config lower-cases them) or given by key."""
        config = TraceConfig.from_properties({"kafkatwist.trace.apis": "Produce, 3"})
        traced = TraceFilter(config.apis, config.client_ids)
        self.assertTrue(traced.matches(exchange(0, "Produce", "a")))
        self.assertTrue(traced.matches(exchange(3, "Metadata", "a")))
        self.assertFalse(traced.matches(exchange(1, "Fetch", "a")))

    def test_by_client_id(self) -> None:
        """Only the named client ids are traced; a null client id is none of them."""
        traced = TraceFilter(client_ids=frozenset({"rdkafka", "app-1"}))
        self.assertTrue(traced.matches(exchange(1, "Fetch", "app-1")))
        self.assertFalse(traced.matches(exchange(1, "Fetch", "app-2")))
        self.assertFalse(traced.matches(exchange(1, "Fetch", None)))

    def test_both(self) -> None:
        """API and client id must both match."""
        traced = TraceFilter(frozenset({"fetch"}), frozenset({"app"}))
        self.assertTrue(traced.matches(exchange(1, "Fetch", "app")))
        self.assertFalse(traced.matches(exchange(0, "Produce", "app")))
        self.assertFalse(traced.matches(exchange(1, "Fetch", "other")))

    def test_hook_skips_what_the_filter_refuses(self) -> None:
        """The hook writes nothing for an exchange its filter refuses."""
        sink = ListSink()
        hook = TraceHook(Clock(), sink, TraceFilter(frozenset({"fetch"})))
        hook.received(exchange(0, "Produce", "a"))
        hook.answered(exchange(0, "Produce", "a"))
        self.assertEqual(sink.lines, [])
