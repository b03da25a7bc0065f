"""
The parking of a Fetch long poll: which of its partition logs were appended to.

A fetch that has fewer than ``min_bytes`` ready waits for appends to its
partitions (Kafka's C{DelayedFetch} in the fetch purgatory). A L{FetchWatch}
holds one high-watermark waiter per log and one deadline timer for the whole
wait: an append to one partition wakes the fetch, which estimates what it
brought and re-reads that partition only once the estimate reaches
``min_bytes`` (L{kafkatwist.apis.fetch}), then re-arms that partition's
waiter only. So the cost of a parked fetch is proportional to the appends to
its own partitions, not to its partition count times the appends.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet.defer import Deferred, succeed

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.storage.interfaces import IPartitionLog


class FetchWatch:
    """High-watermark waiters on the logs of one parked fetch, and which logs have moved."""

    def __init__(self, clock: ReactorTime) -> None:
        self._clock = clock
        self._waiters: dict[int, Deferred[int]] = {}
        self._logs: dict[int, IPartitionLog] = {}
        self._moved: dict[int, IPartitionLog] = {}
        self._wake: Deferred[None] | None = None
        # One timer for the whole wait, made by the first wait_until.
        self._timer: DelayedCall | None = None
        #: Whether the deadline has come.
        self.expired = False

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
                fired: list[object] = []
                waiter.addBoth(fired.append)
                self._moved[key] = log
                if not (fired and isinstance(fired[0], int) and fired[0] > high_watermark):
                    # Closed or offline: nothing will move it, waiting again would spin.
                    self.expired = True
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

    def _expire(self) -> None:
        self.expired = True
        self.wake()

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

    def wait_until(self, deadline: float) -> Deferred[None]:
        """
        Fire once a watched log moves (at once if one already has) or at C{deadline}.

        The deadline (in the clock's seconds) is the same for every wait of a
        fetch: one timer serves them all. Cancelling the returned Deferred
        cancels every waiter and the timer (the client went away).
        """
        if self._moved or self.expired:
            return succeed(None)

        def cancel(_: Deferred[None]) -> None:
            self.close()

        wake: Deferred[None] = Deferred(cancel)
        self._wake = wake
        if self._timer is None:
            self._timer = self._clock.callLater(
                max(deadline - self._clock.seconds(), 0), self._expire
            )
        return wake

    def close(self) -> None:
        """Forget every waiter and the timer (the fetch is answered or abandoned)."""
        self._wake = None
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            if not waiter.called:
                waiter.cancel()
        self._moved.clear()
