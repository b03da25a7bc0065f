"""Tests for kafkatwist.storage.timestamps through PartitionLog: ListOffsets by timestamp."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.results import OffsetAndTimestamp

from .support import (
    append,
    batch,
    open_log,
)


class TimestampTests(SynchronousTestCase):
    """ListOffsets lookups by timestamp."""

    def _log(self, compression: int = 0) -> PartitionLog:
        log = open_log(self, config=LogConfig(index_interval_bytes=0, segment_bytes=600))
        append(self, log, batch(timestamps=[100, 300, 200]))
        append(self, log, batch(timestamps=[150, 400]))
        append(self, log, batch(timestamps=[500, 500, 600], compression=compression))
        return log

    def test_first_record_at_or_after(self) -> None:
        """The answer is the first record >= target in the first batch that has one."""
        log = self._log()
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(0)), OffsetAndTimestamp(0, 100, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(250)), OffsetAndTimestamp(1, 300, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(301)), OffsetAndTimestamp(4, 400, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(550)), OffsetAndTimestamp(7, 600, 0)
        )
        self.assertIsNone(self.successResultOf(log.offset_for_timestamp(601)))

    def test_compressed_batch(self) -> None:
        """Records inside a compressed batch are found too."""
        log = self._log(compression=1)
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(550)), OffsetAndTimestamp(7, 600, 0)
        )

    def test_special_timestamps(self) -> None:
        """-2 is the log start offset, -1 the high watermark, -3 the largest timestamp's record."""
        log = self._log()
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(-2)), OffsetAndTimestamp(0, -1, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(-1)), OffsetAndTimestamp(8, -1, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(-3)), OffsetAndTimestamp(7, 600, 0)
        )
        self.assertEqual(self.successResultOf(log.max_timestamp()), OffsetAndTimestamp(7, 600, 0))

    def test_empty_log(self) -> None:
        """An empty log has no answer for a timestamp or the max timestamp."""
        log = open_log(self)
        self.assertIsNone(self.successResultOf(log.offset_for_timestamp(0)))
        self.assertIsNone(self.successResultOf(log.max_timestamp()))

    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(st.lists(st.integers(0, 1000), min_size=1, max_size=4), min_size=1, max_size=12),
        st.integers(0, 1100),
    )
    def test_matches_kafka_semantics(self, stamps: list[list[int]], target: int) -> None:
        """The result equals Kafka's rule applied by brute force over every record."""
        log = open_log(self, config=LogConfig(index_interval_bytes=100, segment_bytes=500))
        for timestamps in stamps:
            append(self, log, batch(timestamps=timestamps))
        expected = None
        offset = 0
        for timestamps in stamps:
            if max(timestamps) >= target:
                i = next(i for i, t in enumerate(timestamps) if t >= target)
                expected = OffsetAndTimestamp(offset + i, timestamps[i], 0)
                break
            offset += len(timestamps)
        self.assertEqual(self.successResultOf(log.offset_for_timestamp(target)), expected)
