"""The request quota: handler time measured step by step, charged to C{request_percentage}."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import describe_cluster
from kafkatwist.apis._spec import RequestContext
from kafkatwist.clock import HandlingTimer
from kafkatwist.messages.describe_cluster import DescribeClusterRequest, DescribeClusterResponse
from kafkatwist.quotas.control import QuotaAlteration
from kafkatwist.transport.dispatch import Dispatcher
from tests.brokers import clock_of, make_broker
from tests.support import decode_reply, request_frame


class HandlingTimerTests(SynchronousTestCase):
    """L{HandlingTimer} adds up the steps of a coroutine and leaves out its waits."""

    def test_waits_are_not_counted(self) -> None:
        """0.2 s, then a 5 s wait, then 0.3 s: 0.5 s spent."""
        clock = Clock()
        timer = HandlingTimer(clock)
        waiting: Deferred[int] = Deferred()
        seen: list[float] = []

        async def handler() -> int:
            clock.advance(0.2)
            value = await waiting
            clock.advance(0.3)
            seen.append(timer.elapsed())
            return value + 1

        d = Deferred.fromCoroutine(timer.drive(handler()))
        self.assertAlmostEqual(timer.elapsed(), 0.2)
        clock.advance(5)
        waiting.callback(41)
        self.assertEqual(self.successResultOf(d), 42)
        self.assertAlmostEqual(seen[0], 0.5)
        self.assertAlmostEqual(timer.elapsed(), 0.5)

    def test_errors_pass_through(self) -> None:
        """A failure the coroutine awaits is raised in it; its own exception fails the Deferred."""
        clock = Clock()
        timer = HandlingTimer(clock)
        waiting: Deferred[int] = Deferred()

        async def handler() -> int:
            try:
                await waiting
            except KeyError:
                raise ValueError("seen") from None
            return 0

        d = Deferred.fromCoroutine(timer.drive(handler()))
        waiting.errback(KeyError("x"))
        self.assertEqual(str(self.failureResultOf(d, ValueError).value), "seen")

    def test_cancellation(self) -> None:
        """Cancelling the Deferred cancels what the coroutine awaits."""
        timer = HandlingTimer(Clock())
        cancelled: list[bool] = []
        waiting: Deferred[int] = Deferred(lambda _: cancelled.append(True))

        async def handler() -> int:
            return await waiting

        d = Deferred.fromCoroutine(timer.drive(handler()))
        d.cancel()
        self.assertEqual(cancelled, [True])
        self.failureResultOf(d)


class RequestQuotaTests(SynchronousTestCase):
    """C{request_percentage} through the dispatcher, with a handler that takes 50 ms."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.clock = clock_of(self.broker)
        real = describe_cluster.SPEC.handle

        async def slow(ctx: RequestContext, request: Any) -> Any:
            self.clock.advance(0.05)
            return await real(ctx, request)

        spec = attrs.evolve(describe_cluster.SPEC, handle=slow)
        self.dispatcher = Dispatcher([spec], self.broker)
        self.throttles: list[int] = []

    def call(self) -> DescribeClusterResponse:
        frame = request_frame(60, 1, 1, DescribeClusterRequest(), client_id="busy", framed=False)
        reply = self.successResultOf(
            self.dispatcher.dispatch(frame, throttle=self.throttles.append)
        )
        return decode_reply(reply, DescribeClusterResponse, 1)[1]

    def set_quota(self, percentage: float) -> None:
        self.successResultOf(
            self.broker.controller.alter_client_quotas(
                [QuotaAlteration((("client-id", "busy"),), [("request_percentage", percentage)])]
            )
        )

    def test_no_quota(self) -> None:
        """Without a request quota nothing is charged or throttled."""
        for _ in range(5):
            self.assertEqual(self.call().throttle_time_ms, 0)
        self.assertEqual(self.throttles, [])

    def test_throttled_at_most_one_window(self) -> None:
        """
        1% of a second per second; each request takes 50 ms, 5%: the third is throttled 1000 ms.

        The values recorded are 0.05 s * 100 = 5 (percent), at t = 50, 100 and
        150 ms. Second: 10 over 10050 ms (50 ms elapsed plus 10 minimum
        windows) is 0.995, within 1. Third: 15 over 10100 ms is 1.485;
        X = (1.485 - 1) / 1 * 10100 = 4900 ms, bounded to one window, 1000 ms
        (C{ClientRequestQuotaManager}'s C{boundedThrottleTime}).
        """
        self.set_quota(1.0)
        self.assertEqual([self.call().throttle_time_ms for _ in range(3)], [0, 0, 1000])
        self.assertEqual(self.throttles, [1000])
