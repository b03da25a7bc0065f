"""LogCleanerManager: which log is cleaned next, its dirty range, and the checkpoint files."""

from __future__ import annotations

import os

import attrs
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.checkpoints import CLEANER_OFFSET_CHECKPOINT
from kafkatwist.storage.cleaner.manager import (
    LogCleanerManager,
    cleanable_offsets,
    max_compaction_delay,
)
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.partition_log import PartitionLog
from tests.storage.support import append, batch, run_now, temp_dir

#: Small segments: each holds three 2-record batches of 40-byte values.
COMPACT = LogConfig(
    segment_bytes=500,
    index_interval_bytes=100,
    cleanup_policy="compact",
    min_cleanable_dirty_ratio=0.5,
)


def logs_in(case: SynchronousTestCase, directory: str | None = None) -> LogManager:
    """A loaded, empty log manager over one fresh log dir, closed after the test."""
    manager = LogManager(
        [directory or temp_dir(case)], lambda topic: COMPACT, clock=Clock(), run_blocking=run_now
    )
    case.successResultOf(manager.load())
    case.addCleanup(lambda: manager.close().addErrback(lambda _: None))
    return manager


def filled(
    case: SynchronousTestCase,
    logs: LogManager,
    topic: str,
    batches: int,
    config: LogConfig = COMPACT,
    *,
    timestamp: int = 1000,
) -> PartitionLog:
    """C{topic}-0 holding C{batches} 2-record batches, the i-th stamped C{timestamp + i}."""
    log = logs.create(topic, 0, config)
    for i in range(batches):
        append(case, log, batch(2, value_size=40, timestamp=timestamp + i), epoch=1)
    return log


def manager_of(case: SynchronousTestCase, logs: LogManager) -> LogCleanerManager:
    """A LogCleanerManager over C{logs}, its checkpoints loaded."""
    manager = LogCleanerManager(logs, run_now)
    case.successResultOf(manager.load())
    return manager


class CleanableOffsetsTests(SynchronousTestCase):
    """Kafka's cleanableOffsets: from the checkpoint to the first uncleanable offset."""

    def test_whole_inactive_log_without_checkpoint(self) -> None:
        """No checkpoint: from the log start to the active segment's base offset."""
        log = filled(self, logs_in(self), "t", 10)
        offsets = cleanable_offsets(log, None, 10_000)
        self.assertEqual(offsets.first_dirty_offset, 0)
        self.assertEqual(offsets.first_uncleanable_offset, log.segments[-1].base_offset)
        self.assertFalse(offsets.force_update_checkpoint)
        self.assertGreater(len(log.segments), 2)

    def test_checkpoint_below_log_start_is_reset(self) -> None:
        """A checkpoint below the log start offset restarts at the log start, forcing an update."""
        log = filled(self, logs_in(self), "t", 10)
        self.successResultOf(log.delete_records_before(6))
        offsets = cleanable_offsets(log, 2, 10_000)
        self.assertEqual((offsets.first_dirty_offset, offsets.force_update_checkpoint), (6, True))

    def test_checkpoint_past_log_end_is_reset(self) -> None:
        """A checkpoint beyond the log end (a truncated log) restarts at the log start."""
        log = filled(self, logs_in(self), "t", 4)
        offsets = cleanable_offsets(log, 500, 10_000)
        self.assertEqual((offsets.first_dirty_offset, offsets.force_update_checkpoint), (0, True))

    def test_min_compaction_lag(self) -> None:
        """A segment holding a record newer than min.compaction.lag.ms is not cleanable yet."""
        config = attrs.evolve(COMPACT, min_compaction_lag_ms=5_000)
        log = filled(self, logs_in(self), "t", 10, config)
        second = log.segments[1]
        # Only the first segment's records are 5 s old when now is just past its newest.
        now = log.segments[0].largest_timestamp() + 5_000
        self.assertEqual(
            cleanable_offsets(log, None, now).first_uncleanable_offset, second.base_offset
        )
        much_later = log.segments[-1].largest_timestamp() + 5_001
        self.assertEqual(
            cleanable_offsets(log, None, much_later).first_uncleanable_offset,
            log.segments[-1].base_offset,
        )

    def test_max_compaction_delay(self) -> None:
        """The delay is how long the oldest dirty first-batch timestamp is past the maximum lag."""
        config = attrs.evolve(COMPACT, max_compaction_lag_ms=10_000)
        log = filled(self, logs_in(self), "t", 10, config)
        self.assertEqual(max_compaction_delay(log, 0, 10_000), 0)
        self.assertEqual(max_compaction_delay(log, 0, 11_500), 11_500 - 10_000 - 1000)


class GrabFilthiestTests(SynchronousTestCase):
    """Kafka's grabFilthiestCompactedLog."""

    def test_only_compacted_logs(self) -> None:
        """compact and compact,delete logs are cleaned; delete logs never are."""
        logs = logs_in(self)
        filled(self, logs, "plain", 10, attrs.evolve(COMPACT, cleanup_policy="delete"))
        both = filled(
            self, logs, "both", 10, attrs.evolve(COMPACT, cleanup_policy="compact,delete")
        )
        manager = manager_of(self, logs)
        chosen = manager.grab_filthiest(10_000)
        assert chosen is not None
        self.assertIs(chosen.log, both)
        self.assertIsNone(manager.grab_filthiest(10_000))

    def test_in_progress_log_is_not_chosen_twice(self) -> None:
        """A log being cleaned is skipped until done_cleaning releases it."""
        logs = logs_in(self)
        filled(self, logs, "t", 10)
        manager = manager_of(self, logs)
        self.assertIsNotNone(manager.grab_filthiest(10_000))
        self.assertEqual(manager.in_progress, {("t", 0)})
        self.assertIsNone(manager.grab_filthiest(10_000))
        manager.abandon("t", 0)
        self.assertIsNotNone(manager.grab_filthiest(10_000))

    def test_dirty_ratio_threshold(self) -> None:
        """A log is chosen only when its cleanable ratio exceeds min.cleanable.dirty.ratio."""
        logs = logs_in(self)
        log = filled(self, logs, "t", 12)
        segments = log.segments
        manager = manager_of(self, logs)
        # Checkpoint at the last inactive segment: one dirty segment of several.
        self.successResultOf(manager.done_cleaning("t", 0, segments[-2].base_offset))
        inactive = sum(s.size for s in segments[:-1])
        ratio = segments[-2].size / inactive
        self.assertLess(ratio, 0.5)
        self.assertIsNone(manager.grab_filthiest(10_000))
        self.assertAlmostEqual(manager.dirtiest_ratio, ratio)
        logs.update_config("t", attrs.evolve(COMPACT, min_cleanable_dirty_ratio=ratio - 0.01))
        chosen = manager.grab_filthiest(10_000)
        assert chosen is not None
        self.assertEqual(chosen.first_dirty_offset, segments[-2].base_offset)
        self.assertEqual(
            (chosen.cleanable_bytes, chosen.total_bytes), (segments[-2].size, inactive)
        )

    def test_filthiest_first(self) -> None:
        """Of two cleanable logs the one with the higher cleanable ratio goes first."""
        logs = logs_in(self)
        cleaner = filled(self, logs, "cleaner", 12)
        filled(self, logs, "dirtier", 12)
        manager = manager_of(self, logs)
        self.successResultOf(manager.done_cleaning("cleaner", 0, cleaner.segments[1].base_offset))
        first = manager.grab_filthiest(10_000)
        second = manager.grab_filthiest(10_000)
        assert first is not None and second is not None
        self.assertEqual((first.log.topic, second.log.topic), ("dirtier", "cleaner"))
        self.assertGreater(first.cleanable_ratio, second.cleanable_ratio)

    def test_max_compaction_lag_cleans_below_the_ratio(self) -> None:
        """A log with a dirty record past max.compaction.lag.ms is cleaned below the ratio."""
        config = attrs.evolve(COMPACT, min_cleanable_dirty_ratio=1.0, max_compaction_lag_ms=60_000)
        logs = logs_in(self)
        filled(self, logs, "t", 10, config)
        manager = manager_of(self, logs)
        self.assertIsNone(manager.grab_filthiest(60_000))
        chosen = manager.grab_filthiest(61_001)
        assert chosen is not None
        self.assertTrue(chosen.need_compaction_now)

    def test_lag_keeps_young_log_out(self) -> None:
        """Within min.compaction.lag.ms of every record nothing is cleanable; later it is."""
        config = attrs.evolve(COMPACT, min_compaction_lag_ms=100_000)
        logs = logs_in(self)
        filled(self, logs, "t", 10, config)
        manager = manager_of(self, logs)
        self.assertIsNone(manager.grab_filthiest(50_000))
        self.assertIsNotNone(manager.grab_filthiest(200_000))

    def test_empty_and_single_segment_logs(self) -> None:
        """A log with only its active segment has nothing cleanable."""
        logs = logs_in(self)
        logs.create("empty", 0, COMPACT)
        filled(self, logs, "small", 1)
        self.assertIsNone(manager_of(self, logs).grab_filthiest(10_000))

    def test_uncleanable_partition_skipped(self) -> None:
        """A partition whose pass failed unexpectedly is not chosen again."""
        logs = logs_in(self)
        filled(self, logs, "t", 10)
        manager = manager_of(self, logs)
        manager.grab_filthiest(10_000)
        manager.abandon("t", 0, uncleanable=True)
        self.assertTrue(manager.is_uncleanable("t", 0))
        self.assertIsNone(manager.grab_filthiest(10_000))


class CheckpointTests(SynchronousTestCase):
    """The cleaner-offset-checkpoint file of each log dir."""

    def path(self, logs: LogManager) -> str:
        return os.path.join(logs.log_dirs[0], CLEANER_OFFSET_CHECKPOINT)

    def test_done_cleaning_writes_checkpoint(self) -> None:
        """A finished pass writes its end offset in Kafka's offset checkpoint format."""
        logs = logs_in(self)
        filled(self, logs, "t", 10)
        manager = manager_of(self, logs)
        manager.grab_filthiest(10_000)
        self.successResultOf(manager.done_cleaning("t", 0, 12))
        with open(self.path(logs), encoding="utf-8") as f:
            self.assertEqual(f.read(), "0\n1\nt 0 12\n")
        self.assertEqual(manager.in_progress, frozenset())

    def test_load_reads_checkpoint(self) -> None:
        """A checkpoint written before a restart is where the next pass starts."""
        directory = temp_dir(self)
        logs = logs_in(self, directory)
        filled(self, logs, "t", 10)
        cp.write_offset_checkpoint(
            os.path.join(directory, CLEANER_OFFSET_CHECKPOINT), {("t", 0): 6}
        )
        manager = manager_of(self, logs)
        self.assertEqual(manager.checkpoint_of("t", 0), 6)
        chosen = manager.grab_filthiest(10_000)
        assert chosen is not None
        self.assertEqual(chosen.first_dirty_offset, 6)

    def test_invalid_checkpoint_reset_and_written(self) -> None:
        """A checkpoint below the log start offset is reset to it in the file."""
        directory = temp_dir(self)
        logs = logs_in(self, directory)
        log = filled(self, logs, "t", 10)
        self.successResultOf(log.delete_records_before(8))
        cp.write_offset_checkpoint(self.path(logs), {("t", 0): 2})
        manager = manager_of(self, logs)
        manager.grab_filthiest(10_000)
        self.assertEqual(cp.read_offset_checkpoint(self.path(logs)), {("t", 0): 8})

    def test_deleted_partition_dropped(self) -> None:
        """Entries of partitions no longer open are dropped from the file."""
        logs = logs_in(self)
        filled(self, logs, "gone", 10)
        filled(self, logs, "kept", 10)
        cp.write_offset_checkpoint(self.path(logs), {("gone", 0): 4, ("kept", 0): 4})
        manager = manager_of(self, logs)
        self.successResultOf(logs.delete_topic("gone"))
        self.successResultOf(manager.forget("gone", 0))
        self.assertEqual(cp.read_offset_checkpoint(self.path(logs)), {("kept", 0): 4})

    def test_corrupt_checkpoint_reads_empty(self) -> None:
        """A corrupt checkpoint file is logged and read as empty (Kafka logs and goes on)."""
        directory = temp_dir(self)
        with open(os.path.join(directory, CLEANER_OFFSET_CHECKPOINT), "w") as f:
            f.write("garbage")
        logs = logs_in(self, directory)
        filled(self, logs, "t", 10)
        manager = manager_of(self, logs)
        self.assertIsNone(manager.checkpoint_of("t", 0))
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_recreated_partition_starts_dirty(self) -> None:
        """A partition deleted and created again between rounds loses its old checkpoint."""
        logs = logs_in(self)
        filled(self, logs, "t", 10)
        cp.write_offset_checkpoint(self.path(logs), {("t", 0): 12})
        manager = manager_of(self, logs)
        self.assertIsNone(manager.grab_filthiest(10_000))
        self.successResultOf(logs.delete_topic("t"))
        filled(self, logs, "t", 20)
        chosen = manager.grab_filthiest(10_000)
        assert chosen is not None
        self.assertEqual(chosen.first_dirty_offset, 0)
        self.assertEqual(cp.read_offset_checkpoint(self.path(logs)), {})

    def test_deleted_partition_dropped_at_next_round(self) -> None:
        """Without being told, the next round drops the entry of a deleted partition."""
        logs = logs_in(self)
        filled(self, logs, "gone", 10)
        cp.write_offset_checkpoint(self.path(logs), {("gone", 0): 4})
        manager = manager_of(self, logs)
        self.successResultOf(logs.delete_topic("gone"))
        manager.grab_filthiest(10_000)
        self.assertEqual(cp.read_offset_checkpoint(self.path(logs)), {})
