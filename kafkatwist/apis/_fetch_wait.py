"""
The parking of a Fetch long poll: which of its partition logs were appended to.

A fetch that has fewer than ``min_bytes`` ready waits for appends to its
partitions (Kafka's C{DelayedFetch} in the fetch purgatory). A L{FetchWatch}
holds one high-watermark waiter per log for the whole wait: an append to one
partition wakes the fetch, which then re-reads that partition only and, if
it must wait on, re-arms that partition's waiter only. So the cost of a
parked fetch is proportional to the appends to its own partitions, not to
its partition count times the appends.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet.defer import Deferred, succeed

from kafkatwist.clock import ReactorTime
from kafkatwist.storage.interfaces import IPartitionLog


class FetchWatch:
    """High-watermark waiters on the logs of one parked fetch, and which logs have moved."""

    def __init__(self, clock: ReactorTime) -> None:
        self._clock = clock
        self._waiters: dict[int, Deferred[int]] = {}
        self._logs: dict[int, IPartitionLog] = {}
        self._moved: dict[int, IPartitionLog] = {}
        self._wake: Deferred[None] | None = None

    def arm(self, logs: Iterable[tuple[IPartitionLog, int]]) -> None:
        """
        Watch each log for its high watermark to move past the given one (the one last read).

        A log already past it counts as moved at once, so an append made while
        a read was in flight is never missed.
        """
        for log, high_watermark in logs:
            key = id(log)
            if key in self._waiters or key in self._moved:
                continue
            self._logs[key] = log
            waiter = log.add_waiter(high_watermark)
            if waiter.called:
                # Already past (or the log closed or went offline): a re-read will tell.
                waiter.addErrback(lambda _f: None)
                self._moved[key] = log
                continue
            self._waiters[key] = waiter
            waiter.addBoth(self._fired, key)

    def _fired(self, result: object, key: int) -> None:
        # A failure (the log went offline) wakes the fetch as well: its re-read reports it.
        if self._waiters.pop(key, None) is None:
            return
        self._moved[key] = self._logs[key]
        wake, self._wake = self._wake, None
        if wake is not None and not wake.called:
            wake.callback(None)

    def wake(self) -> None:
        """End the current wait now: something else the fetch waits on changed."""
        wake, self._wake = self._wake, None
        if wake is not None and not wake.called:
            wake.callback(None)

    def moved(self) -> list[IPartitionLog]:
        """The logs appended to since the last call (in the order they moved), forgotten here."""
        moved = list(self._moved.values())
        self._moved.clear()
        return moved

    def wait(self, timeout: float) -> Deferred[None]:
        """
        Fire once a watched log moves (at once if one already has) or after C{timeout} seconds.

        Cancelling the returned Deferred cancels every waiter (the client went away).
        """
        if self._moved:
            return succeed(None)

        def cancel(_: Deferred[None]) -> None:
            self.close()

        wake: Deferred[None] = Deferred(cancel)
        self._wake = wake

        def expire() -> None:
            if self._wake is wake:
                self._wake = None
                wake.callback(None)

        call = self._clock.callLater(timeout, expire)

        def stop_timer(result: object) -> object:
            if call.active():
                call.cancel()
            return result

        wake.addBoth(stop_timer)
        return wake

    def close(self) -> None:
        """Forget every waiter (the fetch is answered or abandoned)."""
        self._wake = None
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            if not waiter.called:
                waiter.cancel()
        self._moved.clear()
