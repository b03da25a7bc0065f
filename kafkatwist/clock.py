"""The clock every service is given: the part of Twisted's C{IReactorTime} they use.

A typing C{Protocol} rather than C{IReactorTime} itself: mypy runs here
without the mypy-zope plugin, so calls through a zope C{Interface} type do
not check. The reactor and L{twisted.internet.task.Clock} both satisfy it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class ScheduledCall(Protocol):
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
    ) -> ScheduledCall:
        """Call C{callable(*args, **kw)} C{delay} seconds from now."""


__all__ = ["ReactorTime", "ScheduledCall"]
