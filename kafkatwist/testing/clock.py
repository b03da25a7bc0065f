"""
The broker's clock in tests: the reactor's time, which a test can move forward at once.

A L{JumpClock} runs like the reactor (a fetch's long poll, a client's
request timeout and the broker's idle timers pass in real time), and
L{JumpClock.advance} moves it forward without sleeping: every timer that
falls due runs there and then, in time order, as with Twisted's
L{twisted.internet.task.Clock}. A frozen Clock would hold every long poll
until the test's next C{advance}: clients would stall on an empty topic.

L{JumpClock.stop} cancels every pending timer and ignores later ones: what
a crashed broker's timers do.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import define, field

from kafkatwist.clock import DelayedCall, ReactorTime


@define(eq=False)
class JumpCall:
    """A call scheduled on a L{JumpClock} (a C{DelayedCall}), backed by a reactor timer."""

    _clock: JumpClock
    time: float
    _fn: Callable[..., object]
    _args: tuple[object, ...]
    _kw: dict[str, object]
    _timer: DelayedCall | None = None
    called: bool = False
    cancelled: bool = False

    def active(self) -> bool:
        """Whether the call has neither run nor been cancelled."""
        return not (self.called or self.cancelled)

    def getTime(self) -> float:
        """When the call runs, on its clock."""
        return self.time

    def cancel(self) -> None:
        """Cancel the call."""
        if not self.active():
            raise RuntimeError("the call has already run or been cancelled")
        self.cancelled = True
        self._clock.forget(self)

    def reset(self, secondsFromNow: float) -> None:
        """Run the call C{secondsFromNow} from now instead."""
        if not self.active():
            raise RuntimeError("the call has already run or been cancelled")
        self.time = self._clock.seconds() + secondsFromNow
        self._clock.schedule(self)

    def run(self) -> None:
        """Run the call now (its time has come)."""
        self._clock.forget(self)
        self.called = True
        self._fn(*self._args, **self._kw)

    def rearm(self, timer: DelayedCall | None) -> None:
        """Back the call with C{timer} instead (cancelling the one it had)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = timer


@define(eq=False)
class JumpClock:
    """
    The reactor's time plus the jumps a test made (L{advance}); a L{ReactorTime}.

    @ivar offset: Seconds added to the reactor's time so far.
    """

    _reactor: ReactorTime
    offset: float = 0.0
    _calls: dict[JumpCall, None] = field(factory=dict)
    _stopped: bool = False

    def seconds(self) -> float:
        """The reactor's time plus every jump made."""
        return self._reactor.seconds() + self.offset

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> JumpCall:
        """Call C{callable(*args, **kw)} C{delay} seconds from now on this clock."""
        call = JumpCall(self, self.seconds() + max(delay, 0.0), callable, args, kw)
        self.schedule(call)
        return call

    def advance(self, seconds: float) -> None:
        """Move the clock C{seconds} forward, running every call that falls due (earliest first)."""
        if seconds < 0:
            raise ValueError(f"time only moves forward, not by {seconds}")
        self.offset += seconds
        self._run_due()
        now = self.seconds()
        for call in list(self._calls):
            call.rearm(self._reactor.callLater(max(call.time - now, 0.0), self._fire, call))

    def stop(self) -> None:
        """Cancel every pending call and ignore every later one (the broker has crashed)."""
        self._stopped = True
        for call in list(self._calls):
            call.cancel()

    def pending(self) -> int:
        """How many calls wait for their time."""
        return len(self._calls)

    def schedule(self, call: JumpCall) -> None:
        """(Re)arm C{call}'s reactor timer for its time."""
        if self._stopped:
            call.cancelled = True
            return
        self._calls[call] = None
        delay = max(call.time - self.seconds(), 0.0)
        call.rearm(self._reactor.callLater(delay, self._fire, call))

    def forget(self, call: JumpCall) -> None:
        """C{call} has run or been cancelled."""
        self._calls.pop(call, None)
        call.rearm(None)

    def _fire(self, call: JumpCall) -> None:
        if call.active():
            call.run()

    def _run_due(self) -> None:
        now = self.seconds()
        while True:
            due = [call for call in self._calls if call.time <= now]
            if not due:
                return
            min(due, key=lambda call: call.time).run()


__all__ = ["JumpCall", "JumpClock"]
