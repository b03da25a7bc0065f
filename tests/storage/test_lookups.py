"""A partition log's look-ups by record: timestamps, max timestamp, deletes, epochs, size.

Every batch here gets a segment of its own (C{segment.bytes} is smaller than
two batches), so whole-segment deletion drops exactly the batches wholly
below the new log start offset.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.checkpoints import EpochEntry
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.wire.compression import ZSTD
from tests.offsets_support import batch, fill
from tests.storage.support import open_log, stored_batches

#: Smaller than any two of these tests' batches, larger than any one.
_SEGMENT_BYTES = 120


def _empty(case: SynchronousTestCase, timestamp_type: str = "CreateTime") -> PartitionLog:
    """An empty log whose batches each go to a segment of their own."""
    config = LogConfig(segment_bytes=_SEGMENT_BYTES, message_timestamp_type=timestamp_type)
    return open_log(case, config=config)


def _log(case: SynchronousTestCase, *batches: list[int]) -> PartitionLog:
    """A log holding one batch per argument, with those record timestamps (leader epoch 0)."""
    log = _empty(case)
    fill(case, log, batches)
    return log


class OffsetForTimestampTests(SynchronousTestCase):
    def test_empty(self) -> None:
        """An empty log has no record at or after any timestamp."""
        self.assertIsNone(self.successResultOf(_empty(self).offset_for_timestamp(0)))

    def test_exact_and_between(self) -> None:
        """The first record whose timestamp is >= the target, with its own timestamp."""
        log = _log(self, [100, 200], [300, 400])
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(200)), OffsetAndTimestamp(1, 200, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(201)), OffsetAndTimestamp(2, 300, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(0)), OffsetAndTimestamp(0, 100, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(400)), OffsetAndTimestamp(3, 400, 0)
        )

    def test_after_every_record(self) -> None:
        """A target past the largest timestamp finds nothing."""
        self.assertIsNone(self.successResultOf(_log(self, [100, 200]).offset_for_timestamp(201)))

    def test_first_by_offset_not_by_timestamp(self) -> None:
        """With out-of-order timestamps the first qualifying offset wins, not the closest time."""
        log = _log(self, [500, 100], [150, 600])
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(120)), OffsetAndTimestamp(0, 500, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(550)), OffsetAndTimestamp(3, 600, 0)
        )

    def test_later_batch_after_smaller_max(self) -> None:
        """A batch whose max is below the target is passed over for a later one."""
        log = _log(self, [1000], [10], [20, 2000])
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(1500)), OffsetAndTimestamp(3, 2000, 0)
        )

    def test_compressed_batch(self) -> None:
        """Records inside a compressed batch are found."""
        log = _empty(self)
        fill(self, log, [[10, 20, 30]], compression=ZSTD)
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(15)), OffsetAndTimestamp(1, 20, 0)
        )

    def test_skips_deleted_records(self) -> None:
        """Records below the log start offset are not answers; the next batch is searched."""
        log = _log(self, [100, 200, 300], [150, 400])
        self.successResultOf(log.delete_records_before(2))
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(0)), OffsetAndTimestamp(2, 300, 0)
        )
        self.successResultOf(log.delete_records_before(3))
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(250)), OffsetAndTimestamp(4, 400, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(0)), OffsetAndTimestamp(3, 150, 0)
        )

    def test_log_append_time(self) -> None:
        """Under LogAppendTime every record carries the append time."""
        log = _empty(self, "LogAppendTime")
        fill(self, log, [[1, 2]], now_ms=5000)
        fill(self, log, [[3]], now_ms=6000)
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(10)), OffsetAndTimestamp(0, 5000, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(5001)), OffsetAndTimestamp(2, 6000, 0)
        )


class MaxTimestampTests(SynchronousTestCase):
    def test_empty(self) -> None:
        """An empty log has no max-timestamp record."""
        self.assertIsNone(self.successResultOf(_empty(self).max_timestamp()))

    def test_inside_a_batch(self) -> None:
        """The record carrying the largest timestamp, wherever it sits in its batch."""
        log = _log(self, [100, 900, 200], [300])
        self.assertEqual(self.successResultOf(log.max_timestamp()), OffsetAndTimestamp(1, 900, 0))

    def test_earliest_on_tie(self) -> None:
        """Of equal largest timestamps the earliest offset wins, across and within batches."""
        log = _log(self, [100, 700, 700], [700])
        self.assertEqual(self.successResultOf(log.max_timestamp()), OffsetAndTimestamp(1, 700, 0))

    def test_after_delete(self) -> None:
        """Batches dropped by a delete no longer count."""
        log = _log(self, [900], [100, 200])
        self.successResultOf(log.delete_records_before(1))
        self.assertEqual(self.successResultOf(log.max_timestamp()), OffsetAndTimestamp(2, 200, 0))


class DeleteRecordsBeforeTests(SynchronousTestCase):
    def test_beyond_high_watermark(self) -> None:
        """Deleting past the high watermark is OFFSET_OUT_OF_RANGE and changes nothing."""
        log = _log(self, [1, 2])
        error = self.failureResultOf(log.delete_records_before(3), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(log.log_start_offset, 0)

    def test_up_to_high_watermark(self) -> None:
        """Deleting everything moves the start to the end; nothing is left to read.

        As in Kafka, the active segment stays (DeleteRecords deletes only
        segments that a later segment follows), so its bytes still count.
        """
        log = _log(self, [1, 2])
        self.assertEqual(self.successResultOf(log.delete_records_before(2)), 2)
        self.assertEqual((log.log_start_offset, log.log_end_offset), (2, 2))
        self.assertEqual(log.size_in_bytes, len(batch([1, 2])))
        self.assertEqual(self.successResultOf(log.read(2, 1000)).buffers, [])

    def test_lower_offset_changes_nothing(self) -> None:
        """An offset at or below the current start returns the current start."""
        log = _log(self, [1, 2, 3])
        self.successResultOf(log.delete_records_before(2))
        self.assertEqual(self.successResultOf(log.delete_records_before(1)), 2)
        self.assertEqual(log.log_start_offset, 2)

    def test_drops_whole_batches_only(self) -> None:
        """Batches wholly below the new start go; the one holding it stays and is still read."""
        first, second = batch([1, 2]), batch([3, 4])
        log = _log(self, [1, 2], [3, 4])
        self.assertEqual(log.size_in_bytes, len(first) + len(second))
        self.successResultOf(log.delete_records_before(3))
        self.assertEqual(log.size_in_bytes, len(second))
        self.assertEqual(len(self.successResultOf(log.read(3, 1000)).buffers), 1)
        self.assertEqual(
            self.failureResultOf(log.read(1, 1000), KafkaError).value.code,
            ErrorCode.OFFSET_OUT_OF_RANGE,
        )

    def test_truncates_epoch_cache(self) -> None:
        """The epoch entry covering the new start now starts there; older ones go."""
        log = _empty(self)
        fill(self, log, [[1, 2]], leader_epoch=0)
        fill(self, log, [[3, 4]], leader_epoch=2)
        fill(self, log, [[5]], leader_epoch=5)
        self.successResultOf(log.delete_records_before(3))
        self.assertEqual(log.epoch_entries, (EpochEntry(2, 3), EpochEntry(5, 4)))
        self.successResultOf(log.delete_records_before(4))
        self.assertEqual(log.epoch_entries, (EpochEntry(5, 4),))


class EndOffsetForEpochTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.log = _empty(self)
        fill(self, self.log, [[1, 2]], leader_epoch=1)  # offsets 0-1
        fill(self, self.log, [[3]], leader_epoch=3)  # offset 2
        fill(self, self.log, [[4, 5, 6]], leader_epoch=4)  # offsets 3-5

    def test_latest_epoch_ends_at_log_end(self) -> None:
        """The latest cached epoch ends at the log end offset."""
        self.assertEqual(self.successResultOf(self.log.end_offset_for_epoch(4)), (4, 6))

    def test_older_epoch_ends_where_next_starts(self) -> None:
        """An older epoch ends at the start offset of the next higher epoch."""
        self.assertEqual(self.successResultOf(self.log.end_offset_for_epoch(1)), (1, 2))
        self.assertEqual(self.successResultOf(self.log.end_offset_for_epoch(3)), (3, 3))

    def test_unknown_epoch_between(self) -> None:
        """An epoch never used answers the largest epoch below it and the next epoch's start."""
        self.assertEqual(self.successResultOf(self.log.end_offset_for_epoch(2)), (1, 2))

    def test_epoch_before_every_cached_one(self) -> None:
        """An epoch older than the cache answers itself with the first epoch's start."""
        self.assertEqual(self.successResultOf(self.log.end_offset_for_epoch(0)), (0, 0))

    def test_undefined_and_newer(self) -> None:
        """The undefined epoch -1, and any epoch above the latest, answer (-1, -1)."""
        self.assertEqual(self.successResultOf(self.log.end_offset_for_epoch(-1)), (-1, -1))
        self.assertEqual(self.successResultOf(self.log.end_offset_for_epoch(7)), (-1, -1))

    def test_empty_log(self) -> None:
        """An empty cache knows no epoch."""
        self.assertEqual(self.successResultOf(_empty(self).end_offset_for_epoch(0)), (-1, -1))

    def test_epoch_for_offset(self) -> None:
        """The epoch of the batch holding an offset, -1 before any."""
        self.assertEqual(
            [self.successResultOf(self.log.epoch_for_offset(o)) for o in range(7)],
            [1, 1, 3, 4, 4, 4, 4],
        )
        self.assertEqual(self.successResultOf(_empty(self).epoch_for_offset(0)), -1)


class SizeTests(SynchronousTestCase):
    def test_size_is_sum_of_batches(self) -> None:
        """The size is the stored batch bytes, as a segment would hold them."""
        log = _log(self, [1], [2, 3])
        self.assertEqual(log.size_in_bytes, sum(len(b) for b in stored_batches(log)))
        self.assertEqual(_empty(self).size_in_bytes, 0)
