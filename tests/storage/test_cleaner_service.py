"""LogCleaner: scheduling passes on the clock, threads, backoff, throttle, abandoned passes."""

from __future__ import annotations

import os
from collections.abc import Callable

import attrs
from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.clock import RunBlocking
from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.checkpoints import CLEANER_OFFSET_CHECKPOINT
from kafkatwist.storage.cleaner import CleaningAbortedError, CleanStats, clean_log
from kafkatwist.storage.cleaner.manager import LogCleanerManager
from kafkatwist.storage.cleaner.service import LogCleaner
from kafkatwist.storage.cleaner.throttle import Throttler
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.partition_log import PartitionLog
from tests.storage.support import ManualRunBlocking, run_now
from tests.storage.test_cleaner_selection import filled, logs_in


def stats(first_dirty_offset_after: int) -> CleanStats:
    """What a pass reports: 1,000 bytes cleaned to 400, 8 of 20 records kept."""
    return CleanStats("t-0", 1000, 400, 20, 8, first_dirty_offset_after, 0.0, False)


@define
class FakeClean:
    """A clean_log stand-in: records each call; answers at once, or leaves it to the test."""

    pending: bool = False
    error: Exception | None = None
    calls: list[tuple[PartitionLog, int, int]] = field(factory=list)
    deferreds: list[Deferred[CleanStats]] = field(factory=list)
    throttles: list[Callable[[int], None]] = field(factory=list)

    def __call__(
        self,
        log: PartitionLog,
        *,
        first_dirty_offset: int,
        now_ms: int,
        offset_map_bytes: int,
        run_blocking: RunBlocking,
        throttle: Callable[[int], None] | None = None,
        **settings: float,
    ) -> Deferred[CleanStats]:
        self.calls.append((log, first_dirty_offset, offset_map_bytes))
        assert throttle is not None
        self.throttles.append(throttle)
        if self.error is not None:
            return fail(self.error)
        if self.pending:
            d: Deferred[CleanStats] = Deferred()
            self.deferreds.append(d)
            return d
        return succeed(stats(log.segments[-1].base_offset))


@define
class Settings:
    """Mutable cleaner settings, read by the cleaner at each round (as dynamic configs are)."""

    config: CleanerConfig = CleanerConfig(backoff_ms=15_000)

    def __call__(self) -> CleanerConfig:
        return self.config


def cleaner_over(
    case: SynchronousTestCase, logs: LogManager, clean: FakeClean, settings: Settings, clock: Clock
) -> LogCleaner[PartitionLog]:
    """A started LogCleaner over C{logs}, stopped after the test."""
    manager = LogCleanerManager(logs, run_now)
    cleaner = LogCleaner.create(manager, clock, settings, clean, run_now, sleep=clock.advance)
    case.successResultOf(cleaner.start())
    case.addCleanup(cleaner.stop)
    return cleaner


class SchedulingTests(SynchronousTestCase):
    """Rounds, slots and backoff on the injected clock."""

    def test_first_round_cleans_and_checkpoints(self) -> None:
        """The first round cleans the dirty log and checkpoints where the pass stopped."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean()
        log = filled(self, logs, "t", 10)
        cleaner = cleaner_over(self, logs, clean, Settings(), clock)
        with capturedLogs() as events:
            clock.advance(0)
        self.assertEqual([(c[0], c[1]) for c in clean.calls], [(log, 0)])
        path = os.path.join(logs.log_dirs[0], CLEANER_OFFSET_CHECKPOINT)
        self.assertEqual(cp.read_offset_checkpoint(path), {("t", 0): log.segments[-1].base_offset})
        lines = [e for e in events if "Cleaned" in e.get("log_format", "")]
        self.assertEqual(len(lines), 1)
        self.assertEqual(
            (lines[0]["name"], lines[0]["before"], lines[0]["after"], lines[0]["kept"]),
            ("t-0", 1000, 400, 8),
        )
        self.assertEqual(cleaner.cleaned, 1)
        clock.advance(100)
        self.assertEqual(len(clean.calls), 1)

    def test_disabled_cleaner_cleans_nothing(self) -> None:
        """log.cleaner.enable=false: compacted logs are never cleaned."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean()
        filled(self, logs, "t", 10)
        cleaner_over(self, logs, clean, Settings(CleanerConfig(enable=False)), clock)
        clock.advance(0)
        clock.advance(60)
        self.assertEqual(clean.calls, [])

    def test_zero_threads_clean_nothing(self) -> None:
        """log.cleaner.threads=0: no pass runs."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean()
        filled(self, logs, "t", 10)
        cleaner_over(self, logs, clean, Settings(CleanerConfig(threads=0)), clock)
        clock.advance(0)
        self.assertEqual(clean.calls, [])

    def test_threads_bound_concurrent_passes(self) -> None:
        """At most log.cleaner.threads passes run at once; a finished one frees a slot."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean(pending=True)
        for topic in ("a", "b", "c"):
            filled(self, logs, topic, 10)
        settings = Settings(CleanerConfig(threads=2, dedupe_buffer_size=8 << 20))
        cleaner = cleaner_over(self, logs, clean, settings, clock)
        clock.advance(0)
        self.assertEqual(len(clean.calls), 2)
        self.assertEqual(len(cleaner.passes), 2)
        self.assertEqual({c[2] for c in clean.calls}, {4 << 20})
        first = clean.calls[0][0]
        clean.deferreds[0].callback(stats(first.segments[-1].base_offset))
        clock.advance(0)
        self.assertEqual(len(clean.calls), 3)

    def test_backoff_when_nothing_cleanable(self) -> None:
        """A round that finds nothing waits log.cleaner.backoff.ms before looking again."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean()
        cleaner_over(self, logs, clean, Settings(CleanerConfig(backoff_ms=2_000)), clock)
        clock.advance(0)
        filled(self, logs, "t", 10)
        clock.advance(1.999)
        self.assertEqual(clean.calls, [])
        clock.advance(0.001)
        self.assertEqual(len(clean.calls), 1)

    def test_pool_follows_threads(self) -> None:
        """The worker pool is resized when log.cleaner.threads changes."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean()
        settings = Settings(CleanerConfig(threads=1, backoff_ms=1_000))
        sizes: list[int] = []
        manager = LogCleanerManager(logs, run_now)
        cleaner = LogCleaner.create(
            manager, clock, settings, clean, run_now, sleep=clock.advance, resize=sizes.append
        )
        self.successResultOf(cleaner.start())
        clock.advance(0)
        settings.config = attrs.evolve(settings.config, threads=3)
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(sizes, [1, 3])
        self.successResultOf(cleaner.stop())

    def test_dynamic_settings_apply_next_round(self) -> None:
        """Settings are read again each round: enabling threads later starts cleaning."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean()
        filled(self, logs, "t", 10)
        settings = Settings(CleanerConfig(threads=0, backoff_ms=1_000))
        cleaner_over(self, logs, clean, settings, clock)
        clock.advance(0)
        settings.config = attrs.evolve(settings.config, threads=1)
        clock.advance(1)
        self.assertEqual(len(clean.calls), 1)


class FailureTests(SynchronousTestCase):
    """Passes that do not finish."""

    def test_deleted_log_pass_abandoned(self) -> None:
        """A pass whose log was deleted meanwhile is abandoned without a checkpoint."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean(pending=True)
        filled(self, logs, "t", 10)
        cleaner = cleaner_over(self, logs, clean, Settings(), clock)
        clock.advance(0)
        self.successResultOf(logs.delete_topic("t"))
        clean.deferreds[0].errback(OSError("closed"))
        self.assertEqual(cleaner.passes, {})
        self.assertEqual(self.flushLoggedErrors(), [])
        path = os.path.join(logs.log_dirs[0], CLEANER_OFFSET_CHECKPOINT)
        self.assertEqual(cp.read_offset_checkpoint(path), {})

    def test_unexpected_failure_marks_uncleanable(self) -> None:
        """Any other failure is logged and the partition is not cleaned again."""
        logs, clock = logs_in(self), Clock()
        clean = FakeClean(error=ValueError("bug"))
        filled(self, logs, "t", 10)
        cleaner_over(self, logs, clean, Settings(CleanerConfig(backoff_ms=1_000)), clock)
        clock.advance(0)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        clock.advance(5)
        self.assertEqual(len(clean.calls), 1)

    def test_stop_aborts_running_pass(self) -> None:
        """Stopping makes the pass's throttle raise; stop waits for it, then writes checkpoints."""
        logs, clock, clean = logs_in(self), Clock(), FakeClean(pending=True)
        filled(self, logs, "t", 10)
        cp.write_offset_checkpoint(
            os.path.join(logs.log_dirs[0], CLEANER_OFFSET_CHECKPOINT), {("t", 0): 0}
        )
        cleaner = cleaner_over(self, logs, clean, Settings(), clock)
        clock.advance(0)
        clean.throttles[0](100)
        stopped = cleaner.stop()
        self.assertNoResult(stopped)
        self.assertRaises(CleaningAbortedError, clean.throttles[0], 100)
        clean.deferreds[0].errback(CleaningAbortedError("stopping"))
        self.successResultOf(stopped)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertFalse(cleaner.running)


class ThrottlerTests(SynchronousTestCase):
    """Kafka's Throttler as the cleaner uses it."""

    def test_sleeps_to_the_limit(self) -> None:
        """Above the rate, the worker sleeps until the period's bytes fit the limit."""
        clock = Clock()
        throttler = Throttler(1000.0, clock.seconds, clock.advance)
        throttler.maybe_throttle(1000)
        clock.advance(0.5)
        throttler.maybe_throttle(1000)
        self.assertAlmostEqual(throttler.slept, 1.5)
        self.assertAlmostEqual(clock.seconds(), 2.0)

    def test_below_the_limit_no_sleep(self) -> None:
        """Below the rate, or within a check interval, nothing sleeps."""
        clock = Clock()
        throttler = Throttler(10_000.0, clock.seconds, clock.advance)
        throttler.maybe_throttle(1000)
        clock.advance(0.2)
        throttler.maybe_throttle(10**6)
        self.assertEqual(throttler.slept, 0.0)
        clock.advance(0.2)
        throttler.maybe_throttle(0)
        self.assertGreater(throttler.slept, 0.0)


class RealPassTests(SynchronousTestCase):
    """The cleaner over the real clean_log."""

    def test_stop_aborts_a_real_pass_cleanly(self) -> None:
        """A pass whose worker runs after stop() is aborted: nothing swapped, no file left."""
        logs, clock, workers = logs_in(self), Clock(), ManualRunBlocking()
        log = filled(self, logs, "t", 10)
        segments_before = [(s.base_offset, s.size) for s in log.segments]
        manager = LogCleanerManager(logs, run_now)
        cleaner = LogCleaner.create(
            manager, clock, Settings(), clean_log, workers, sleep=clock.advance
        )
        self.successResultOf(cleaner.start())
        clock.advance(0)
        self.assertEqual(len(cleaner.passes), 1)
        stopped = cleaner.stop()
        self.assertNoResult(stopped)
        workers.run_all()
        self.successResultOf(stopped)
        self.assertEqual(cleaner.cleaned, 0)
        self.assertEqual([(s.base_offset, s.size) for s in log.segments], segments_before)
        self.assertEqual(
            [n for n in os.listdir(log.directory) if n.endswith((".cleaned", ".swap"))], []
        )
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_real_pass_keeps_latest_per_key(self) -> None:
        """A round cleans with clean_log: one record per key below the active segment."""
        logs, clock = logs_in(self), Clock()
        log = filled(self, logs, "t", 10)
        before = log.size_in_bytes
        manager = LogCleanerManager(logs, run_now)
        cleaner = LogCleaner.create(manager, clock, Settings(), clean_log, run_now)
        self.successResultOf(cleaner.start())
        clock.advance(0)
        self.assertEqual(cleaner.cleaned, 1)
        self.assertLess(log.size_in_bytes, before)
        self.assertEqual(manager.checkpoint_of("t", 0), log.segments[-1].base_offset)
        self.successResultOf(cleaner.stop())
