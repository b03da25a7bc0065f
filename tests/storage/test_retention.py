"""Tests for deleting a partition log's old segments: retention and DeleteRecords."""

from __future__ import annotations

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.partition_log import PartitionLog

from .support import (
    ManualRunBlocking,
    append,
    batch,
    headers,
    open_log,
    read_bytes,
    validated,
)

#: The segment size of L{RetentionTests._filled}'s logs: about three batches.
_SEGMENT_BYTES = 400


class RetentionTests(SynchronousTestCase):
    """Deleting whole old segments."""

    def _filled(self, clock: Clock, config: LogConfig) -> PartitionLog:
        """A log of 12 batches a second apart, in segments of C{_SEGMENT_BYTES}."""
        log = open_log(self, config=config, clock=clock)
        for i in range(12):
            append(self, log, batch(2, value_size=50, timestamp=1000 * i))
        return log

    def test_retention_ms(self) -> None:
        """Segments older than retention.ms are renamed .deleted, then removed after the delay."""
        clock = Clock()
        log = self._filled(
            clock,
            LogConfig(segment_bytes=_SEGMENT_BYTES, retention_ms=5000, file_delete_delay_ms=60000),
        )
        segments = list(log.segments)
        expired = [s for s in segments if 12_000 - s.max_timestamp > 5000]
        self.assertEqual(log.apply_retention(12_000), len(expired))
        self.assertEqual(log.log_start_offset, log.segments[0].base_offset)
        directory = log.directory
        names = os.listdir(directory)
        for segment in expired:
            name = os.path.basename(segment.log_path)
            self.assertIn(name + ".deleted", names)
            self.assertNotIn(name, names)
        clock.advance(59.9)
        self.assertTrue(any(n.endswith(".deleted") for n in os.listdir(directory)))
        clock.advance(0.2)
        self.assertFalse(any(n.endswith(".deleted") for n in os.listdir(directory)))
        error = self.failureResultOf(log.read(0, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)

    def test_everything_expired_rolls_a_new_segment(self) -> None:
        """When every segment expired, a new empty active segment remains at the log end offset."""
        log = self._filled(Clock(), LogConfig(segment_bytes=_SEGMENT_BYTES, retention_ms=10))
        end = log.log_end_offset
        log.apply_retention(100_000)
        self.assertEqual([(s.base_offset, s.size) for s in log.segments], [(end, 0)])
        self.assertEqual(log.log_start_offset, end)
        append(self, log, batch(1))
        self.assertEqual(headers(read_bytes(log, end))[0].base_offset, end)

    def test_retention_bytes(self) -> None:
        """The oldest segments go until the log fits retention.bytes, never the active one."""
        log = self._filled(
            Clock(),
            LogConfig(segment_bytes=_SEGMENT_BYTES, retention_bytes=900, retention_ms=-1),
        )
        log.apply_retention(0)
        sizes = [s.size for s in log.segments]
        self.assertLessEqual(sum(sizes), 900 + sizes[0])
        self.assertLessEqual(sum(sizes[1:]), 900)

    def test_unlimited_and_compact(self) -> None:
        """retention.ms -1, or a compact-only cleanup policy, deletes nothing."""
        for config in (
            LogConfig(segment_bytes=_SEGMENT_BYTES, retention_ms=-1),
            LogConfig(segment_bytes=_SEGMENT_BYTES, retention_ms=1, cleanup_policy="compact"),
        ):
            log = self._filled(Clock(), config)
            self.assertEqual(log.apply_retention(10**12), 0)

    def test_nothing_at_or_above_high_watermark(self) -> None:
        """A segment holding offsets at or above the high watermark is kept."""
        manual = ManualRunBlocking()
        log = open_log(
            self, config=LogConfig(segment_bytes=300, flush_messages=1), run_blocking=manual
        )
        for i in range(6):
            log.append(
                batch(1, value_size=80),
                validated(batch(1, value_size=80)),
                leader_epoch=0,
                now_ms=i,
            )
        self.assertEqual(log.high_watermark, 0)
        self.assertEqual(log.apply_retention(10**12), 0)
        manual.run_all()
        self.assertGreater(log.apply_retention(10**12), 0)


class DeleteRecordsTests(SynchronousTestCase):
    """DeleteRecords: moving the log start offset."""

    def test_advances_start_and_deletes_whole_segments(self) -> None:
        """Segments wholly below the new log start offset go; the one holding it stays."""
        log = open_log(self, config=LogConfig(segment_bytes=400))
        for _ in range(12):
            append(self, log, batch(2, value_size=50))
        target = log.segments[2].base_offset + 1
        self.assertEqual(self.successResultOf(log.delete_records_before(target)), target)
        self.assertEqual(log.segments[0].base_offset, target - 1)
        error = self.failureResultOf(log.read(target - 1, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(headers(read_bytes(log, target))[0].base_offset, target - 1)
        start = self.successResultOf(log.offset_for_timestamp(-2))
        assert start is not None
        self.assertEqual(start.offset, target)

    def test_beyond_high_watermark(self) -> None:
        """An offset above the high watermark is OFFSET_OUT_OF_RANGE; -1 means the watermark."""
        log = open_log(self)
        append(self, log, batch(3))
        error = self.failureResultOf(log.delete_records_before(4), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(self.successResultOf(log.delete_records_before(-1)), 3)
        self.assertEqual(self.successResultOf(log.delete_records_before(1)), 3)

    def test_epochs_truncated_from_start(self) -> None:
        """Leader epochs before the new start collapse onto it."""
        log = open_log(self)
        append(self, log, batch(2), epoch=1)
        append(self, log, batch(2), epoch=2)
        append(self, log, batch(2), epoch=3)
        self.successResultOf(log.delete_records_before(3))
        self.assertEqual(log.epoch_entries, (cp.EpochEntry(2, 3), cp.EpochEntry(3, 4)))
        with open(os.path.join(log.directory, cp.LEADER_EPOCH_CHECKPOINT)) as f:
            self.assertEqual(f.read(), "0\n2\n2 3\n3 4\n")
