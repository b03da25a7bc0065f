"""Throttler: the log cleaner's I/O limit, ``log.cleaner.io.max.bytes.per.second``.

Kafka's C{Throttler} as C{LogCleaner} uses it (one shared by every cleaner
thread, checked every 300 ms, throttling down only): bytes are counted as
the workers report them; once a check interval has passed, a rate above
the limit makes the reporting worker sleep until the bytes of the period
fit the limit, then a new period starts. It runs in the worker threads,
so it has its own lock; time is read through the injected C{now} and the
sleep is injected too (tests advance a L{twisted.internet.task.Clock}).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from attrs import Factory, define, field

__all__ = ["CHECK_INTERVAL_S", "Throttler"]

#: Kafka's cleaner throttler checks every 300 ms.
CHECK_INTERVAL_S = 0.3


@define(eq=False)
class Throttler:
    """
    Keeps the observed rate at or below C{rate} bytes per second.

    @ivar rate: the limit (C{log.cleaner.io.max.bytes.per.second}); it may
        change between calls (a dynamic config update).
    @ivar slept: the seconds slept so far (for tests and the benchmark).
    """

    rate: float
    _now: Callable[[], float]
    _sleep: Callable[[float], object]
    check_interval_s: float = CHECK_INTERVAL_S
    slept: float = 0.0
    _lock: threading.Lock = Factory(threading.Lock)
    _period_start: float | None = field(default=None, init=False)
    _observed: float = field(default=0.0, init=False)

    def maybe_throttle(self, observed: int) -> None:
        """Count C{observed} bytes; sleep if the period's rate is above the limit (blocking)."""
        with self._lock:
            now = self._now()
            if self._period_start is None:
                self._period_start = now
            self._observed += observed
            elapsed = now - self._period_start
            if elapsed <= self.check_interval_s or self._observed <= 0:
                return
            if self._observed / elapsed > self.rate:
                pause = self._observed / self.rate - elapsed
                if pause > 0:
                    self.slept += pause
                    self._sleep(pause)
            self._period_start = self._now()
            self._observed = 0.0
