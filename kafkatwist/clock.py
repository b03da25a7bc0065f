"""The clock every service is given: the part of Twisted's C{IReactorTime} they use.

Typing C{Protocol}s rather than C{IReactorTime} and C{IDelayedCall}
themselves: mypy runs here without the mypy-zope plugin, so calls through a
zope C{Interface} type do not check. The reactor and
L{twisted.internet.task.Clock} both satisfy L{ReactorTime}.

L{RunBlocking} is the other injected piece of the reactor: how blocking
file work runs (C{deferToThread} in production, at once in tests).
L{HandlingTimer} measures the time a coroutine keeps the reactor busy.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

from attrs import define
from twisted.internet.defer import Deferred

_T = TypeVar("_T")


class DelayedCall(Protocol):
    """A call scheduled with L{ReactorTime.callLater} (C{IDelayedCall})."""

    def active(self) -> bool:
        """Whether the call has neither run nor been cancelled."""

    def cancel(self) -> None:
        """Cancel the call."""

    def getTime(self) -> float:
        """When the call runs, in seconds on the clock."""

    def reset(self, secondsFromNow: float) -> None:
        """Run the call C{secondsFromNow} from now instead."""


class ReactorTime(Protocol):
    """C{IReactorTime}: the current time, and calls scheduled on it."""

    def seconds(self) -> float:
        """The current time, in seconds since the epoch."""

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        """Call C{callable(*args, **kw)} C{delay} seconds from now."""


class RunBlocking(Protocol):
    """Runs a blocking function (in a worker thread in production); fires with its result."""

    def __call__(self, fn: Callable[[], _T], /) -> Deferred[_T]:
        """Run C{fn}; the Deferred fires with what it returns, or fails with what it raises."""


def now_ms(clock: ReactorTime) -> int:
    """C{clock}'s time in whole milliseconds (Kafka's timestamps)."""
    return int(clock.seconds() * 1000)


@define
class HandlingTimer:
    """
    The time spent in one request's handler, step by step (its waits left out).

    Kafka's C{requestThreadTimeNanos}: the reactor thread is the request thread.
    """

    _clock: ReactorTime
    _spent: float = 0.0
    _step_start: float | None = None

    def elapsed(self) -> float:
        """Seconds spent so far, the step under way included."""
        current = 0.0 if self._step_start is None else self._clock.seconds() - self._step_start
        return self._spent + current

    def drive(self, coro: Coroutine[Any, Any, _T]) -> Generator[Any, Any, _T]:
        """
        Run C{coro} as a generator (for C{Deferred.fromCoroutine}), timing each step.

        What C{coro} awaits is passed out to the driver and its result (or
        exception) passed back in, unchanged.
        """
        value: Any = None
        error: BaseException | None = None
        while True:
            self._step_start = self._clock.seconds()
            try:
                yielded = coro.throw(error) if error is not None else coro.send(value)
            except StopIteration as stop:
                result: _T = stop.value
                return result
            finally:
                self._spent += self._clock.seconds() - self._step_start
                self._step_start = None
            error = None
            try:
                value = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:
                error = e


__all__ = ["DelayedCall", "HandlingTimer", "ReactorTime", "RunBlocking", "now_ms"]
