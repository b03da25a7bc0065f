"""Fetch long polls waiting on one partition log's high watermark (a per-log purgatory)."""

from __future__ import annotations

from attrs import Factory, define
from twisted.internet.defer import Deferred

from kafkatwist.errors import KafkaError


@define(eq=False)
class HighWatermarkWaiters:
    """Deferreds waiting for the high watermark to pass an offset, by that offset."""

    _waiting: dict[int, list[Deferred[int]]] = Factory(dict)

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def add(self, offset: int) -> Deferred[int]:
        """A Deferred that L{release} fires once the high watermark passes C{offset}."""

        def cancel(d: Deferred[int]) -> None:
            waiting = self._waiting.get(offset)
            if waiting is not None and d in waiting:
                waiting.remove(d)
                if not waiting:
                    del self._waiting[offset]

        d: Deferred[int] = Deferred(cancel)
        self._waiting.setdefault(offset, []).append(d)
        return d

    def release(self, high_watermark: int) -> None:
        """Fire, in offset order, every waiter for an offset below C{high_watermark}."""
        if self._waiting:
            for offset in sorted(o for o in self._waiting if o < high_watermark):
                for d in self._waiting.pop(offset):
                    d.callback(high_watermark)

    def fire_all(self, high_watermark: int) -> None:
        """Fire every waiter with C{high_watermark} (the log closes)."""
        waiting, self._waiting = self._waiting, {}
        for offset in sorted(waiting):
            for d in waiting[offset]:
                d.callback(high_watermark)

    def fail_all(self, error: KafkaError) -> None:
        """Fail every waiter with C{error} (the log went offline)."""
        waiting, self._waiting = self._waiting, {}
        for offset in sorted(waiting):
            for d in waiting[offset]:
                d.errback(error)
