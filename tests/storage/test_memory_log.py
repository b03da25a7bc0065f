"""The memory log's offset and log methods: timestamps, max timestamp, deletes, epochs, size."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.memory import MemoryPartitionLog
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.wire.compression import ZSTD
from tests.offsets_support import batch, fill


def _log(case: SynchronousTestCase, *batches: list[int]) -> MemoryPartitionLog:
    """A memory log holding one batch per argument, with those record timestamps."""
    log = MemoryPartitionLog("t", 0)
    fill(case, log, batches)
    return log


class OffsetForTimestampTests(SynchronousTestCase):
    def test_empty(self) -> None:
        """An empty log has no record at or after any timestamp."""
        self.assertIsNone(MemoryPartitionLog("t", 0).offset_for_timestamp(0))

    def test_exact_and_between(self) -> None:
        """The first record whose timestamp is >= the target, with its own timestamp."""
        log = _log(self, [100, 200], [300, 400])
        self.assertEqual(log.offset_for_timestamp(200), OffsetAndTimestamp(1, 200))
        self.assertEqual(log.offset_for_timestamp(201), OffsetAndTimestamp(2, 300))
        self.assertEqual(log.offset_for_timestamp(0), OffsetAndTimestamp(0, 100))
        self.assertEqual(log.offset_for_timestamp(400), OffsetAndTimestamp(3, 400))

    def test_after_every_record(self) -> None:
        """A target past the largest timestamp finds nothing."""
        self.assertIsNone(_log(self, [100, 200]).offset_for_timestamp(201))

    def test_first_by_offset_not_by_timestamp(self) -> None:
        """With out-of-order timestamps the first qualifying offset wins, not the closest time."""
        log = _log(self, [500, 100], [150, 600])
        self.assertEqual(log.offset_for_timestamp(120), OffsetAndTimestamp(0, 500))
        self.assertEqual(log.offset_for_timestamp(550), OffsetAndTimestamp(3, 600))

    def test_later_batch_after_smaller_max(self) -> None:
        """A batch whose max is below the target is passed over for a later one."""
        log = _log(self, [1000], [10], [20, 2000])
        self.assertEqual(log.offset_for_timestamp(1500), OffsetAndTimestamp(3, 2000))

    def test_compressed_batch(self) -> None:
        """Records inside a compressed batch are found."""
        log = MemoryPartitionLog("t", 0)
        fill(self, log, [[10, 20, 30]], compression=ZSTD)
        self.assertEqual(log.offset_for_timestamp(15), OffsetAndTimestamp(1, 20))

    def test_skips_deleted_records(self) -> None:
        """Records below the log start offset are not answers; the next batch is searched."""
        log = _log(self, [100, 200, 300], [150, 400])
        log.delete_records_before(2)
        self.assertEqual(log.offset_for_timestamp(0), OffsetAndTimestamp(2, 300))
        log.delete_records_before(3)
        self.assertEqual(log.offset_for_timestamp(250), OffsetAndTimestamp(4, 400))
        self.assertEqual(log.offset_for_timestamp(0), OffsetAndTimestamp(3, 150))

    def test_log_append_time(self) -> None:
        """Under LogAppendTime every record carries the append time."""
        log = MemoryPartitionLog("t", 0, LogConfig(message_timestamp_type="LogAppendTime"))
        fill(self, log, [[1, 2]], now_ms=5000)
        fill(self, log, [[3]], now_ms=6000)
        self.assertEqual(log.offset_for_timestamp(10), OffsetAndTimestamp(0, 5000))
        self.assertEqual(log.offset_for_timestamp(5001), OffsetAndTimestamp(2, 6000))


class MaxTimestampTests(SynchronousTestCase):
    def test_empty(self) -> None:
        """An empty log has no max-timestamp record."""
        self.assertIsNone(MemoryPartitionLog("t", 0).max_timestamp())

    def test_inside_a_batch(self) -> None:
        """The record carrying the largest timestamp, wherever it sits in its batch."""
        log = _log(self, [100, 900, 200], [300])
        self.assertEqual(log.max_timestamp(), OffsetAndTimestamp(1, 900))

    def test_earliest_on_tie(self) -> None:
        """Of equal largest timestamps the earliest offset wins, across and within batches."""
        log = _log(self, [100, 700, 700], [700])
        self.assertEqual(log.max_timestamp(), OffsetAndTimestamp(1, 700))

    def test_after_delete(self) -> None:
        """Batches dropped by a delete no longer count."""
        log = _log(self, [900], [100, 200])
        log.delete_records_before(1)
        self.assertEqual(log.max_timestamp(), OffsetAndTimestamp(2, 200))


class DeleteRecordsBeforeTests(SynchronousTestCase):
    def test_beyond_high_watermark(self) -> None:
        """Deleting past the high watermark is OFFSET_OUT_OF_RANGE and changes nothing."""
        log = _log(self, [1, 2])
        error = self.assertRaises(KafkaError, log.delete_records_before, 3)
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(log.log_start_offset, 0)

    def test_up_to_high_watermark(self) -> None:
        """Deleting everything moves the start to the end and empties the log."""
        log = _log(self, [1, 2])
        self.assertEqual(log.delete_records_before(2), 2)
        self.assertEqual((log.log_start_offset, log.log_end_offset), (2, 2))
        self.assertEqual(log.size_bytes(), 0)
        self.assertEqual(log.read(2, 1000).buffers, [])

    def test_lower_offset_changes_nothing(self) -> None:
        """An offset at or below the current start returns the current start."""
        log = _log(self, [1, 2, 3])
        log.delete_records_before(2)
        self.assertEqual(log.delete_records_before(1), 2)
        self.assertEqual(log.log_start_offset, 2)

    def test_drops_whole_batches_only(self) -> None:
        """Batches wholly below the new start go; the one holding it stays and is still read."""
        first, second = batch([1, 2]), batch([3, 4])
        log = _log(self, [1, 2], [3, 4])
        self.assertEqual(log.size_bytes(), len(first) + len(second))
        log.delete_records_before(3)
        self.assertEqual(log.size_bytes(), len(second))
        self.assertEqual(len(log.read(3, 1000).buffers), 1)
        self.assertEqual(
            self.assertRaises(KafkaError, log.read, 1, 1000).code, ErrorCode.OFFSET_OUT_OF_RANGE
        )

    def test_truncates_epoch_cache(self) -> None:
        """The epoch entry covering the new start now starts there; older ones go."""
        log = MemoryPartitionLog("t", 0)
        fill(self, log, [[1, 2]], leader_epoch=0)
        fill(self, log, [[3, 4]], leader_epoch=2)
        fill(self, log, [[5]], leader_epoch=5)
        log.delete_records_before(3)
        self.assertEqual(log.epochs, [(2, 3), (5, 4)])
        log.delete_records_before(4)
        self.assertEqual(log.epochs, [(5, 4)])


class EndOffsetForEpochTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.log = MemoryPartitionLog("t", 0)
        fill(self, self.log, [[1, 2]], leader_epoch=1)  # offsets 0-1
        fill(self, self.log, [[3]], leader_epoch=3)  # offset 2
        fill(self, self.log, [[4, 5, 6]], leader_epoch=4)  # offsets 3-5

    def test_latest_epoch_ends_at_log_end(self) -> None:
        """The latest cached epoch ends at the log end offset."""
        self.assertEqual(self.log.end_offset_for_epoch(4), (4, 6))

    def test_older_epoch_ends_where_next_starts(self) -> None:
        """An older epoch ends at the start offset of the next higher epoch."""
        self.assertEqual(self.log.end_offset_for_epoch(1), (1, 2))
        self.assertEqual(self.log.end_offset_for_epoch(3), (3, 3))

    def test_unknown_epoch_between(self) -> None:
        """An epoch never used answers the largest epoch below it and the next epoch's start."""
        self.assertEqual(self.log.end_offset_for_epoch(2), (1, 2))

    def test_epoch_before_every_cached_one(self) -> None:
        """An epoch older than the cache answers itself with the first epoch's start."""
        self.assertEqual(self.log.end_offset_for_epoch(0), (0, 0))

    def test_undefined_and_newer(self) -> None:
        """The undefined epoch -1, and any epoch above the latest, answer (-1, -1)."""
        self.assertEqual(self.log.end_offset_for_epoch(-1), (-1, -1))
        self.assertEqual(self.log.end_offset_for_epoch(7), (-1, -1))

    def test_empty_log(self) -> None:
        """An empty cache knows no epoch."""
        self.assertEqual(MemoryPartitionLog("t", 0).end_offset_for_epoch(0), (-1, -1))

    def test_epoch_for_offset(self) -> None:
        """The epoch of the batch holding an offset, -1 before any."""
        self.assertEqual([self.log.epoch_for_offset(o) for o in range(7)], [1, 1, 3, 4, 4, 4, 4])
        self.assertEqual(MemoryPartitionLog("t", 0).epoch_for_offset(0), -1)


class SizeTests(SynchronousTestCase):
    def test_size_is_sum_of_batches(self) -> None:
        """The size is the stored batch bytes, as a segment would hold them."""
        log = _log(self, [1], [2, 3])
        self.assertEqual(log.size_bytes(), sum(len(b) for b in log.batches()))
        self.assertEqual(MemoryPartitionLog("t", 0).size_bytes(), 0)
