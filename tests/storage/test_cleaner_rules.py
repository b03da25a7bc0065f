"""The cleaner's rules: delete horizons, map bounds, lag and LSO bounds, transactions, producers."""

from __future__ import annotations

import os

from kafka.record.memory_records import MemoryRecords
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.cleaner import clean_log
from kafkatwist.storage.partition_log import PartitionLog

from .cleaner_support import clean, compacted_log, decode_log, dir_names, fill, kv
from .support import ManualRunBlocking, append, batch, fired
from .txn_support import txn_data, txn_marker


def roll_past(case: SynchronousTestCase, log: PartitionLog, tag: bytes, n: int = 40) -> None:
    """Append filler records under fresh keys until new segments start."""
    for i in range(n):
        append(case, log, kv([(tag + b"-%d" % i, b"x" * 40)]), now_ms=2_000)


def batches_of(log: PartitionLog) -> list[tuple[int, int, int, int, int, int]]:
    """(base offset, records, attributes, base timestamp, producer id, base sequence) per batch."""
    out = []
    for segment in log.segments:
        with open(segment.log_path, "rb") as f:
            records = MemoryRecords(f.read())
        while records.has_next():
            b = records.next_batch()
            assert b.validate_crc()
            out.append(
                (
                    b.base_offset,
                    b.records_count,
                    b.attributes,
                    b.first_timestamp,
                    b.producer_id,
                    b.base_sequence,
                )
            )
    return out


class TombstoneTests(SynchronousTestCase):
    """Tombstones stay for delete.retention.ms after the pass that first kept them (KIP-534)."""

    def test_delete_horizon(self) -> None:
        """The batch gets the horizon flag and base timestamp; the tombstone goes after it."""
        log = compacted_log(self)
        append(self, log, kv([(b"a", b"1"), (b"b", b"1")]))
        roll_past(self, log, b"f1")
        tomb = append(self, log, kv([(b"a", None)], ts=1_500)).base_offset
        roll_past(self, log, b"f2")
        stats = clean(self, log, now_ms=10_000, delete_retention_ms=1_000)
        records = {r.offset: r for r in decode_log(log)}
        self.assertNotIn(0, records)
        self.assertIn(tomb, records)
        self.assertEqual((records[tomb].value, records[tomb].timestamp), (None, 1_500))
        flagged = [b for b in batches_of(log) if b[0] == tomb]
        self.assertEqual(len(flagged), 1)
        self.assertTrue(flagged[0][2] & 0x40)
        self.assertEqual(flagged[0][3], 11_000)
        # Later passes keep it until the horizon, then drop it.
        roll_past(self, log, b"f3")
        stats = clean(
            self,
            log,
            now_ms=10_999,
            delete_retention_ms=1,
            first_dirty_offset=stats.first_dirty_offset_after,
        )
        self.assertIn(tomb, {r.offset for r in decode_log(log)})
        self.assertEqual([b[3] for b in batches_of(log) if b[0] == tomb], [11_000])
        roll_past(self, log, b"f4")
        clean(self, log, now_ms=11_000, first_dirty_offset=stats.first_dirty_offset_after)
        self.assertNotIn(tomb, {r.offset for r in decode_log(log)})
        self.assertIn(1, {r.offset for r in decode_log(log)})


class BoundsTests(SynchronousTestCase):
    """Where a pass ends: the map's room, min.compaction.lag.ms, the last stable offset."""

    def test_full_map_stops_early(self) -> None:
        """A map with room for 9 keys ends the pass after the 9th key; the next pass goes on."""
        log = compacted_log(self)
        fill(self, log, rounds=2, keys=30, per_batch=1)
        before = decode_log(log)
        stats = clean(self, log, offset_map_bytes=24 * 10)
        self.assertTrue(stats.map_full)
        self.assertEqual(stats.first_dirty_offset_after, 9)
        self.assertEqual([r.offset for r in decode_log(log)], [r.offset for r in before])
        again = clean(self, log, offset_map_bytes=24 * 10, first_dirty_offset=9)
        self.assertEqual(again.first_dirty_offset_after, 18)
        self.assertEqual([r.offset for r in decode_log(log)], [r.offset for r in before])
        # With room for every key, the rest is cleaned: each first-round record whose
        # second-round update lies below the end goes.
        last = clean(self, log, first_dirty_offset=18)
        end = last.first_dirty_offset_after
        gone = {k for k in range(30) if k + 30 < end}
        self.assertTrue(gone)
        self.assertFalse(gone & {r.offset for r in decode_log(log)})

    def test_min_compaction_lag(self) -> None:
        """Segments whose largest timestamp is within the lag, and all after, are not cleaned."""
        log = compacted_log(self)
        fill(self, log, rounds=8, keys=10)
        segments = log.segments
        k = len(segments) // 2
        now = 100_000
        lag = now - segments[k].largest_timestamp() + 1
        kept = segments[k:]
        stats = clean(self, log, now_ms=now, min_compaction_lag_ms=lag)
        self.assertEqual(stats.first_uncleanable_offset, kept[0].base_offset)
        self.assertEqual(stats.first_dirty_offset_after, kept[0].base_offset)
        self.assertEqual(log.segments[-len(kept) :], kept)

    def test_last_stable_offset(self) -> None:
        """An open transaction bounds the pass at its first offset."""
        log = compacted_log(self)
        fill(self, log, rounds=3, keys=10)
        first = txn_data(self, log, pid=5, seq=0)
        fill(self, log, rounds=3, keys=10)
        self.assertEqual(log.last_stable_offset, first)
        before = [r for r in decode_log(log) if r.offset >= first]
        stats = clean(self, log)
        self.assertEqual(stats.first_uncleanable_offset, first)
        self.assertLessEqual(stats.first_dirty_offset_after, first)
        after = [r for r in decode_log(log) if r.offset >= first]
        self.assertEqual(after, before)

    def test_checkpoint_out_of_range_restarts_at_log_start(self) -> None:
        """A first dirty offset past the log end is reset to the log start, as Kafka does."""
        log = compacted_log(self)
        fill(self, log, rounds=8, keys=10)
        stats = clean(self, log, first_dirty_offset=10**9)
        self.assertEqual(stats.first_dirty_offset_after, log.segments[-1].base_offset)
        self.assertGreater(stats.segments_cleaned, 0)


class TransactionTests(SynchronousTestCase):
    """Aborted data goes; markers stay while needed, then go after their horizon."""

    def test_aborted_data_and_markers(self) -> None:
        """Kafka's CleanedTransactionMetadata rules over three passes."""
        log = compacted_log(self)
        aborted = txn_data(self, log, pid=5, seq=0)
        abort = txn_marker(self, log, pid=5, commit=False)
        committed = txn_data(self, log, pid=6, seq=0)
        commit = txn_marker(self, log, pid=6, commit=True)
        roll_past(self, log, b"f1")
        txn_data(self, log, pid=5, seq=2)
        txn_marker(self, log, pid=5, commit=True)
        txn_data(self, log, pid=6, seq=2)
        txn_marker(self, log, pid=6, commit=True)
        roll_past(self, log, b"f2")
        self.assertEqual(len(log.aborted_transactions(0, abort + 1)), 1)
        stats = clean(self, log, now_ms=10_000, delete_retention_ms=1_000)
        offsets = {r.offset for r in decode_log(log)}
        self.assertFalse({aborted, aborted + 1} & offsets)
        self.assertIn(abort, offsets)
        self.assertEqual(len(log.aborted_transactions(0, abort + 1)), 1)
        # pid 6's first values were superseded by its second transaction: its marker may go.
        self.assertFalse({committed, committed + 1} & offsets)
        self.assertIn(commit, offsets)
        roll_past(self, log, b"f3")
        stats = clean(
            self, log, now_ms=10_000, delete_retention_ms=1_000,
            first_dirty_offset=stats.first_dirty_offset_after,
        )  # fmt: skip
        marks = {b[0]: b for b in batches_of(log)}
        self.assertTrue(marks[abort][2] & 0x40)
        self.assertEqual(marks[abort][3], 11_000)
        self.assertEqual(log.aborted_transactions(0, abort + 1), [])
        roll_past(self, log, b"f4")
        clean(self, log, now_ms=11_000, first_dirty_offset=stats.first_dirty_offset_after)
        offsets = {r.offset for r in decode_log(log)}
        self.assertNotIn(abort, offsets)
        self.assertNotIn(commit, offsets)

    def test_last_batch_of_a_producer_stays_empty(self) -> None:
        """An idempotent producer's last batch is kept without records, for its sequence."""
        log = compacted_log(self)
        append(self, log, batch(1, producer_id=7, producer_epoch=0, base_sequence=0))
        last = append(self, log, batch(1, producer_id=7, producer_epoch=0, base_sequence=1))
        append(self, log, kv([(b"k0", b"newer")]))
        roll_past(self, log, b"f")
        clean(self, log)
        kept = [b for b in batches_of(log) if b[4] == 7]
        self.assertEqual(kept, [(last.base_offset, 0, 0, -1, 7, 1)])
        self.assertNotIn(last.base_offset, {r.offset for r in decode_log(log)})


class InterruptionTests(SynchronousTestCase):
    """A log closed, or losing segments, during a pass."""

    def test_closed_log(self) -> None:
        """A closed log fails the pass with KAFKA_STORAGE_ERROR."""
        log = compacted_log(self)
        fill(self, log, rounds=3, keys=5)
        fired(log.close())
        d = clean_log(
            log,
            first_dirty_offset=0,
            now_ms=0,
            offset_map_bytes=1 << 16,
            run_blocking=ManualRunBlocking(),
        )
        self.assertEqual(
            self.failureResultOf(d, KafkaError).value.code, ErrorCode.KAFKA_STORAGE_ERROR
        )

    def test_closed_during_the_pass(self) -> None:
        """Closing while a group is cleaned fails the pass and removes the cleaned files."""
        log = compacted_log(self)
        fill(self, log, rounds=6, keys=8)
        manual = ManualRunBlocking()
        d = clean_log(
            log, first_dirty_offset=0, now_ms=0, offset_map_bytes=1 << 16, run_blocking=manual
        )
        manual.run_one()
        fired(log.close())
        created = []
        while manual.pending:
            manual.run_one()
            created += [n for n in os.listdir(log.directory) if n.endswith(".cleaned")]
        self.assertTrue(created)
        self.assertEqual(
            self.failureResultOf(d, KafkaError).value.code, ErrorCode.KAFKA_STORAGE_ERROR
        )
        self.assertFalse(
            [n for n in os.listdir(log.directory) if n.endswith((".cleaned", ".swap"))]
        )

    def test_segments_deleted_during_the_pass(self) -> None:
        """DeleteRecords removing segments meanwhile aborts the pass; nothing is left over."""
        log = compacted_log(self)
        fill(self, log, rounds=6, keys=8)
        manual = ManualRunBlocking()
        d = clean_log(
            log, first_dirty_offset=0, now_ms=0, offset_map_bytes=1 << 16, run_blocking=manual
        )
        manual.run_one()
        fired(log.delete_records_before(log.segments[1].base_offset))
        manual.run_all()
        stats = self.successResultOf(d)
        self.assertTrue(stats.aborted)
        self.assertEqual(stats.first_dirty_offset_after, 0)
        self.assertFalse([n for n in dir_names(log) if n.endswith((".cleaned", ".swap"))])
