"""JumpClock: the reactor's time, moved forward by a test without sleeping."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.testing.clock import JumpClock


class JumpClockTests(SynchronousTestCase):
    """A JumpClock over a task.Clock standing in for the reactor."""

    def setUp(self) -> None:
        self.reactor = Clock()
        self.reactor.advance(1000)
        self.clock = JumpClock(self.reactor)
        self.ran: list[tuple[str, float]] = []

    def record(self, name: str) -> None:
        self.ran.append((name, self.clock.seconds()))

    def test_time_flows_with_the_reactor(self) -> None:
        """Without jumps, the clock is the reactor's time and calls run on the reactor's timers."""
        self.clock.callLater(5, self.record, "a")
        self.reactor.advance(4.9)
        self.assertEqual(self.ran, [])
        self.reactor.advance(0.1)
        self.assertEqual(self.ran, [("a", 1005.0)])
        self.assertEqual(self.clock.pending(), 0)

    def test_advance_runs_due_calls_in_order(self) -> None:
        """advance() runs every call due by then, earliest first, and moves the time at once."""
        self.clock.callLater(30, self.record, "late")
        self.clock.callLater(10, self.record, "early")
        self.clock.callLater(100, self.record, "not yet")
        self.clock.advance(60)
        self.assertEqual(self.ran, [("early", 1060.0), ("late", 1060.0)])
        self.assertEqual(self.clock.seconds(), 1060.0)
        self.assertEqual(self.clock.pending(), 1)

    def test_calls_left_are_rescheduled_on_the_reactor(self) -> None:
        """A call not yet due after a jump runs when the reactor reaches its remaining delay."""
        call = self.clock.callLater(100, self.record, "later")
        self.clock.advance(60)
        self.assertEqual(call.getTime(), 1100.0)
        self.reactor.advance(39)
        self.assertEqual(self.ran, [])
        self.reactor.advance(1)
        self.assertEqual(self.ran, [("later", 1100.0)])
        self.assertFalse(call.active())

    def test_calls_scheduled_while_advancing(self) -> None:
        """A call scheduled by a running call runs in the same advance if it falls due."""

        def chain() -> None:
            self.record("first")
            self.clock.callLater(0, self.record, "second")
            self.clock.callLater(50, self.record, "third")

        self.clock.callLater(1, chain)
        self.clock.advance(10)
        self.assertEqual([name for name, _ in self.ran], ["first", "second"])

    def test_cancel_and_reset(self) -> None:
        """Cancelled calls never run; reset moves a call, also across a jump."""
        cancelled = self.clock.callLater(1, self.record, "cancelled")
        moved = self.clock.callLater(1, self.record, "moved")
        cancelled.cancel()
        moved.reset(20)
        self.clock.advance(10)
        self.assertEqual(self.ran, [])
        self.reactor.advance(10)
        self.assertEqual(self.ran, [("moved", 1020.0)])
        self.assertRaises(RuntimeError, cancelled.cancel)
        self.assertRaises(RuntimeError, moved.reset, 1)

    def test_stop(self) -> None:
        """stop() cancels every call and ignores later ones, as a crashed broker's timers."""
        call = self.clock.callLater(1, self.record, "a")
        self.clock.stop()
        late = self.clock.callLater(1, self.record, "b")
        self.reactor.advance(5)
        self.clock.advance(5)
        self.assertEqual(self.ran, [])
        self.assertFalse(call.active() or late.active())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_time_only_moves_forward(self) -> None:
        """A negative jump is refused."""
        self.assertRaises(ValueError, self.clock.advance, -1)
