"""Producer-id expiration: Kafka's ``PeriodicProducerExpirationCheck``.

Kafka's ``LogManager`` schedules, every ``producer.id.expiration.check.interval.ms``
(default 600000, the first run one interval after start), a pass over every
partition log that calls ``ProducerStateManager.removeExpiredProducers``: a
producer whose last timestamp is ``producer.id.expiration.ms`` (default
86400000, dynamic cluster-wide) or more in the past and that has no ongoing
transaction is forgotten. Snapshots written afterwards no longer hold it.

The rule itself is L{ProducerStateTable.remove_expired}; this module runs
it on the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from attrs import define
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.producers.state import ProducerStateTable


@define(eq=False)
class ProducerIdExpiration:
    """
    Removes expired producers from every partition's table, periodically on C{clock}.

    @ivar tables: the producer state tables of the open partition logs, now.
    @ivar expiration_ms: the current C{producer.id.expiration.ms} (read at
        each check, so a dynamic change applies at the next one).
    """

    tables: Callable[[], Iterable[ProducerStateTable]]
    clock: ReactorTime
    expiration_ms: Callable[[], int]
    check_interval_ms: int = 600000
    _loop: LoopingCall | None = None
    _log = Logger()

    def check(self) -> int:
        """Remove every expired producer now; return how many were removed."""
        now, expiration = now_ms(self.clock), self.expiration_ms()
        removed = sum(len(table.remove_expired(now, expiration)) for table in self.tables())
        if removed:
            self._log.info("Removed {n} expired producer ids", n=removed)
        return removed

    def start(self) -> None:
        """Check every C{check_interval_ms}, the first time one interval from now."""
        if self._loop is None:
            self._loop = LoopingCall(self._run)
            self._loop.clock = self.clock  # type: ignore[assignment]
            self._loop.start(self.check_interval_ms / 1000.0, now=False)

    def stop(self) -> None:
        """Stop checking."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _run(self) -> None:
        try:
            self.check()
        except Exception:
            self._log.failure("Producer id expiration check failed")
