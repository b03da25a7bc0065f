"""Faults installed with the metrics and the trace: what they show of an injected fault."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.trace_config import TraceConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.testing.faults import Faults
from kafkatwist.trace import TraceHook
from tests.metrics.support import Metered, batch, produced
from tests.trace.test_hook import ListSink


class ObservedFaultsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.metered = Metered()  # the metrics hook first, as the service registers it
        # The metrics count only topics that exist.
        self.successResultOf(self.metered.broker.controller.create_topic("orders", 1))
        self.sink = ListSink()
        hooks = self.metered.broker.hooks
        hooks.append(TraceHook.from_config(TraceConfig(enable=True), self.clock, self.sink))
        self.faults = Faults(self.clock)
        hooks.insert(0, self.faults)  # as Faults.install does: before them

    def test_injected_error_counted_and_traced(self) -> None:
        """An injected Produce error: traced as request and error, counted by the metrics."""
        self.faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER")
        reply = self.successResultOf(self.metered.produce("orders", 0, batch(b"a")))
        code = produced(reply).responses[0].partition_responses[0].error_code
        self.assertEqual(code, ErrorCode.NOT_LEADER_OR_FOLLOWER)
        lines = [(line["kind"], line["api"]) for line in self.sink.parsed()]
        self.assertEqual(lines, [("request", "Produce"), ("response", "Produce")])
        response = self.sink.parsed()[1]["body"]["Responses"][0]["PartitionResponses"][0]
        self.assertEqual(response["ErrorCode"], ErrorCode.NOT_LEADER_OR_FOLLOWER)
        hook = self.metered.hook
        self.assertEqual(hook.requests, {("Produce", 11): 1})
        counts = hook.topics["orders"]
        self.assertEqual((counts.produce_requests, counts.failed_produce_requests), (1, 1))
        self.assertEqual((counts.bytes_in, counts.messages_in), (0, 0))

    def test_delayed_request_traced_when_released(self) -> None:
        """A delayed request's request line is written when the delay ends (faults come first)."""
        self.faults.delay_next("Produce", 5.0)
        d = self.metered.produce("orders", 0, batch(b"a"))
        self.assertEqual(self.sink.lines, [])
        self.clock.advance(5.0)
        self.successResultOf(d)
        self.assertEqual([line["kind"] for line in self.sink.parsed()], ["request", "response"])
