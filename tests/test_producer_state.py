"""Tests for kafkatwist.producers.state: Kafka's idempotent producer rules, per batch."""

from __future__ import annotations

import os
import struct
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.producers.state import (
    INT32_MAX,
    BatchMetadata,
    ProducerStateError,
    ProducerStateTable,
    decode_snapshot,
    decrement_sequence,
    encode_snapshot,
    increment_sequence,
    last_sequence,
    read_snapshot,
    snapshot_file_name,
    snapshot_path,
    write_snapshot,
)
from kafkatwist.storage.checkpoints import (
    REPLAY_AT_LOAD_BYTES,
    CorruptSnapshotError,
    ProducerSnapshotEntry,
)
from kafkatwist.wire.batch import BatchHeader, parse_batch_header
from kafkatwist.wire.crc32c import crc32c_py
from kafkatwist.wire.record import build_batch

PID = 4000
T0 = 1_700_000_000_000


def header(
    seq: int,
    count: int = 1,
    *,
    pid: int = PID,
    epoch: int = 0,
    timestamp: int = T0,
    transactional: bool = False,
    control: bool = False,
) -> BatchHeader:
    """The header of a real batch of C{count} records (built, then parsed)."""
    batch = build_batch(
        [(b"k%d" % i, b"v") for i in range(count)],
        base_timestamp=timestamp,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        is_transactional=transactional,
        is_control=control,
    )
    return parse_batch_header(batch)


class Appender:
    """Append batch headers to a table the way a log does: check, then record."""

    def __init__(self) -> None:
        self.table = ProducerStateTable()
        self.next_offset = 0
        self.appended: list[tuple[BatchHeader, int]] = []

    def append(self, h: BatchHeader) -> BatchMetadata | None:
        duplicate = self.table.check_append([h], next_offset=self.next_offset, partition="t-0")
        if duplicate is None:
            self.table.on_batch_appended(h, self.next_offset)
            self.appended.append((h, self.next_offset))
            self.next_offset += h.last_offset_delta + 1
        return duplicate


class SequenceArithmeticTests(SynchronousTestCase):
    def test_increment_wraps_past_int32_max(self) -> None:
        """Incrementing past Int32.MAX continues at 0, as DefaultRecordBatch.incrementSequence."""
        self.assertEqual(increment_sequence(5, 3), 8)
        self.assertEqual(increment_sequence(INT32_MAX, 1), 0)
        self.assertEqual(increment_sequence(INT32_MAX - 1, 2), 0)
        self.assertEqual(increment_sequence(INT32_MAX - 1, 5), 3)

    def test_decrement_wraps_below_zero(self) -> None:
        """Decrementing below 0 continues at Int32.MAX, as DefaultRecordBatch.decrementSequence."""
        self.assertEqual(decrement_sequence(8, 3), 5)
        self.assertEqual(decrement_sequence(0, 1), INT32_MAX)
        self.assertEqual(decrement_sequence(3, 5), INT32_MAX - 1)

    def test_last_sequence_of_a_batch(self) -> None:
        """A batch's last sequence is its base sequence plus its last offset delta, wrapping."""
        self.assertEqual(last_sequence(header(10, 4)), 13)
        self.assertEqual(last_sequence(header(INT32_MAX - 1, 3)), 0)

    def test_batch_metadata_first_sequence_and_offset(self) -> None:
        """Retained batch metadata derives its first sequence and offset from the delta."""
        m = BatchMetadata(last_seq=1, last_offset=100, offset_delta=3, timestamp=T0)
        self.assertEqual((m.first_seq, m.first_offset), (INT32_MAX - 1, 97))


class CheckAppendTests(SynchronousTestCase):
    def test_unknown_producer_accepted_at_any_sequence(self) -> None:
        """A producer id without state is accepted at any sequence (no UNKNOWN_PRODUCER_ID)."""
        a = Appender()
        self.assertIsNone(a.append(header(17, 3)))
        self.assertEqual(a.table.producers[PID].last_seq, 19)

    def test_in_sequence_batches_accepted(self) -> None:
        """Each batch continuing at the last sequence + 1 is appended."""
        a = Appender()
        for seq in (0, 2, 5, 6):
            self.assertIsNone(a.append(header(seq, {0: 2, 2: 3, 5: 1, 6: 4}[seq])))
        self.assertEqual(a.next_offset, 10)
        self.assertEqual(a.table.producers[PID].last_seq, 9)

    def test_gap_is_out_of_order(self) -> None:
        """A sequence gap raises OUT_OF_ORDER_SEQUENCE_NUMBER with Kafka's message."""
        a = Appender()
        a.append(header(0, 2))
        e = self.assertRaises(ProducerStateError, a.append, header(3))
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertIn("3 (incoming seq. number), 1 (current end sequence number)", e.message)
        self.assertIn("at offset 2 in partition t-0", e.message)

    def test_sequence_behind_is_out_of_order(self) -> None:
        """A sequence below the expected one that matches no retained batch is out of order."""
        a = Appender()
        a.append(header(0, 5))
        e = self.assertRaises(ProducerStateError, a.append, header(2, 1))
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)

    def test_duplicates_of_each_of_the_last_five_batches(self) -> None:
        """A repeat of any of the last 5 batches returns that batch's original offsets."""
        a = Appender()
        sizes = [1, 2, 3, 1, 2, 4, 1]
        seq = 0
        sent = []
        for size in sizes:
            h = header(seq, size, timestamp=T0 + seq)
            self.assertIsNone(a.append(h))
            sent.append(h)
            seq += size
        for (h, base), _ in zip(a.appended[2:], sent[2:], strict=True):
            duplicate = a.append(h)
            assert duplicate is not None
            self.assertEqual(duplicate.first_offset, base)
            self.assertEqual(duplicate.last_offset, base + h.last_offset_delta)
            self.assertEqual(duplicate.first_seq, h.base_sequence)
            self.assertEqual(duplicate.timestamp, h.max_timestamp)
        self.assertEqual(a.next_offset, sum(sizes))

    def test_batches_older_than_five_are_out_of_order(self) -> None:
        """The sixth-last batch is no longer retained: its repeat is out of order."""
        a = Appender()
        for seq in range(7):
            a.append(header(seq))
        for old in (0, 1):
            e = self.assertRaises(ProducerStateError, a.append, header(old))
            self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertEqual(len(a.table.producers[PID].batch_metadata), 5)

    def test_partial_overlap_is_not_a_duplicate(self) -> None:
        """A batch sharing only a retained batch's first sequence is out of order."""
        a = Appender()
        a.append(header(0, 3))
        e = self.assertRaises(ProducerStateError, a.append, header(0, 2))
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)

    def test_duplicate_needs_the_same_epoch(self) -> None:
        """The same sequence range under a newer epoch is not a duplicate but a new-epoch check."""
        a = Appender()
        a.append(header(0, 1))
        a.append(header(1, 1))
        e = self.assertRaises(ProducerStateError, a.append, header(1, 1, epoch=1))
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertIn("Invalid sequence number for new epoch", e.message)

    def test_older_epoch_is_invalid_producer_epoch(self) -> None:
        """A batch with an epoch below the producer's raises INVALID_PRODUCER_EPOCH."""
        a = Appender()
        a.append(header(0, epoch=3))
        e = self.assertRaises(ProducerStateError, a.append, header(1, epoch=2))
        self.assertEqual(e.code, ErrorCode.INVALID_PRODUCER_EPOCH)
        self.assertIn("is 2, which is smaller than the last seen epoch 3", e.message)

    def test_old_epoch_repeat_after_bump_is_invalid_epoch(self) -> None:
        """After an epoch bump the old epoch's batches are forgotten and refused as fenced."""
        a = Appender()
        old = header(0, epoch=0)
        a.append(old)
        self.assertIsNone(a.append(header(0, epoch=1)))
        e = self.assertRaises(ProducerStateError, a.append, old)
        self.assertEqual(e.code, ErrorCode.INVALID_PRODUCER_EPOCH)

    def test_new_epoch_starts_at_zero(self) -> None:
        """A newer epoch is accepted at sequence 0 and resets the retained batches."""
        a = Appender()
        for seq in range(3):
            a.append(header(seq))
        self.assertIsNone(a.append(header(0, 2, epoch=1)))
        entry = a.table.producers[PID]
        self.assertEqual(
            (entry.producer_epoch, entry.last_seq, len(entry.batch_metadata)), (1, 1, 1)
        )

    def test_new_epoch_not_at_zero_is_out_of_order(self) -> None:
        """A newer epoch whose first sequence is not 0 is OUT_OF_ORDER_SEQUENCE_NUMBER."""
        a = Appender()
        a.append(header(0))
        e = self.assertRaises(ProducerStateError, a.append, header(5, epoch=1))
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertIn("5 (seq. number), 0 (current producer epoch)", e.message)

    def test_wrap_around_at_int32_max(self) -> None:
        """After sequence Int32.MAX the next batch starts at 0."""
        a = Appender()
        self.assertIsNone(a.append(header(INT32_MAX - 1, 2)))
        self.assertIsNone(a.append(header(0, 1)))
        e = self.assertRaises(ProducerStateError, a.append, header(INT32_MAX, 1))
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)

    def test_batch_spanning_the_wrap(self) -> None:
        """A batch wrapping past Int32.MAX is followed by its wrapped last + 1, and dedupes."""
        a = Appender()
        a.append(header(INT32_MAX - 2, 1))
        spanning = header(INT32_MAX - 1, 4)
        self.assertIsNone(a.append(spanning))
        self.assertEqual(a.table.producers[PID].last_seq, 1)
        duplicate = a.append(spanning)
        assert duplicate is not None
        self.assertEqual(duplicate.first_offset, 1)
        self.assertIsNone(a.append(header(2)))

    def test_several_batches_in_one_check(self) -> None:
        """Batches checked together are validated in order, each after the previous one."""
        a = Appender()
        a.append(header(0))
        table = a.table
        self.assertIsNone(table.check_append([header(1, 2), header(3, 1)]))
        e = self.assertRaises(
            ProducerStateError, table.check_append, [header(1, 2), header(4, 1)], next_offset=1
        )
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertIn("at offset 3 in partition", e.message)
        e = self.assertRaises(ProducerStateError, table.check_append, [header(1, epoch=1)])
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)

    def test_check_changes_nothing(self) -> None:
        """Checking a batch leaves the table as it was."""
        a = Appender()
        a.append(header(0))
        before = a.table.to_snapshot_entries()
        a.table.check_append([header(1)])
        self.assertEqual(a.table.to_snapshot_entries(), before)

    def test_batches_without_producer_id_ignored(self) -> None:
        """Non-idempotent batches are neither checked nor recorded."""
        a = Appender()
        plain = header(-1, 2, pid=-1, epoch=-1)
        self.assertIsNone(a.append(plain))
        self.assertIsNone(a.append(plain))
        self.assertEqual(a.table.producers, {})

    def test_producers_are_independent(self) -> None:
        """Each producer id has its own sequence."""
        a = Appender()
        a.append(header(0, pid=1))
        self.assertIsNone(a.append(header(0, pid=2)))
        self.assertIsNone(a.append(header(1, pid=1)))


class ReplayTests(SynchronousTestCase):
    def test_replay_rebuilds_the_same_state(self) -> None:
        """Replaying the stored batches in order yields the live table's state, dedupe included."""
        a = Appender()
        for seq in range(0, 14, 2):
            a.append(header(seq, 2, timestamp=T0 + seq))
        a.append(header(0, pid=9))
        rebuilt = ProducerStateTable()
        for h, base in a.appended:
            rebuilt.replay_batch(h, base)
        self.assertEqual(rebuilt, a.table)
        duplicate = rebuilt.check_append([a.appended[3][0]])
        assert duplicate is not None
        self.assertEqual(duplicate.first_offset, a.appended[3][1])

    def test_replay_does_not_validate(self) -> None:
        """Replay accepts what a client check would refuse, like Kafka's recovery origin."""
        table = ProducerStateTable()
        table.replay_batch(header(0, epoch=5), 0)
        table.replay_batch(header(9, epoch=4), 1)
        self.assertEqual(table.producers[PID].producer_epoch, 4)

    def test_replay_control_batch_updates_epoch_only(self) -> None:
        """A transaction marker moves the epoch, ends the transaction, retains no batch."""
        table = ProducerStateTable()
        table.replay_batch(header(0, transactional=True), 10)
        self.assertEqual(table.producers[PID].current_txn_first_offset, 10)
        table.replay_batch(header(-1, epoch=1, control=True, transactional=True), 11)
        entry = table.producers[PID]
        self.assertEqual((entry.producer_epoch, entry.current_txn_first_offset), (1, -1))
        self.assertTrue(entry.is_empty)

    def test_remove_expired(self) -> None:
        """Producers idle for the expiration time are forgotten, unless in a transaction."""
        table = ProducerStateTable()
        table.replay_batch(header(0, pid=1, timestamp=T0), 0)
        table.replay_batch(header(0, pid=2, timestamp=T0 + 500), 1)
        table.replay_batch(header(0, pid=3, timestamp=T0, transactional=True), 2)
        self.assertEqual(table.remove_expired(T0 + 1000, 1000), [1])
        self.assertEqual(sorted(table.producers), [2, 3])


class SnapshotTests(SynchronousTestCase):
    def test_golden_bytes(self) -> None:
        """One entry encodes as Kafka's layout, with a CRC-32C over everything after the CRC."""
        entry = ProducerSnapshotEntry(
            producer_id=0x0102030405060708,
            producer_epoch=3,
            last_sequence=41,
            last_offset=99,
            offset_delta=4,
            timestamp=T0,
            coordinator_epoch=-1,
            current_txn_first_offset=-1,
        )
        body = bytes.fromhex(
            "00000001"  # count
            "0102030405060708"
            "0003"
            "00000029"  # producer id, epoch, last sequence
            "0000000000000063"
            "00000004"  # last offset, offset delta
            + T0.to_bytes(8, "big").hex()  # timestamp
            + "ffffffff"
            "ffffffffffffffff"  # coordinator epoch, txn first offset
        )
        golden = b"\x00\x01" + crc32c_py(body).to_bytes(4, "big") + body
        self.assertEqual(encode_snapshot([entry]), golden)
        self.assertEqual(decode_snapshot(golden), [entry])

    def test_empty_snapshot(self) -> None:
        """A table with no producers is a 10-byte snapshot."""
        data = encode_snapshot([])
        self.assertEqual(len(data), 10)
        self.assertEqual(decode_snapshot(data), [])

    def test_round_trip_keeps_last_batch_only(self) -> None:
        """Through a snapshot only each producer's last batch stays a duplicate, as in Kafka."""
        a = Appender()
        for seq in range(4):
            a.append(header(seq, timestamp=T0 + seq))
        loaded = ProducerStateTable.from_snapshot_entries(
            decode_snapshot(encode_snapshot(a.table.to_snapshot_entries()))
        )
        last = loaded.check_append([header(3, timestamp=T0 + 3)])
        assert last is not None
        self.assertEqual((last.first_offset, last.timestamp), (3, T0 + 3))
        e = self.assertRaises(ProducerStateError, loaded.check_append, [header(2)])
        self.assertEqual(e.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertIsNone(loaded.check_append([header(4)]))
        self.assertEqual(loaded.to_snapshot_entries(), a.table.to_snapshot_entries())

    def test_snapshot_then_replay_recovers(self) -> None:
        """Loading a snapshot and replaying the later batches gives the live state."""
        a = Appender()
        for seq in range(3):
            a.append(header(seq))
        snapshot_offset = a.next_offset
        entries = a.table.to_snapshot_entries()
        for seq in range(3, 6):
            a.append(header(seq))
        a.append(header(0, pid=77))
        recovered = ProducerStateTable.from_snapshot_entries(entries)
        replayed = [(h, base) for h, base in a.appended if base >= snapshot_offset]
        for h, base in replayed:
            recovered.replay_batch(h, base)
        self.assertEqual(recovered.to_snapshot_entries(), a.table.to_snapshot_entries())
        for h, base in replayed:
            duplicate = recovered.check_append([h])
            assert duplicate is not None
            self.assertEqual(duplicate.first_offset, base)

    def test_expired_entries_skipped_on_load(self) -> None:
        """Loading with a clock and expiration drops producers idle for too long."""
        entries = [
            ProducerSnapshotEntry(1, 0, 0, 0, 0, T0),
            ProducerSnapshotEntry(2, 0, 0, 1, 0, T0 + 900),
        ]
        table = ProducerStateTable.from_snapshot_entries(
            entries, now_ms=T0 + 1000, expiration_ms=1000
        )
        self.assertEqual(list(table.producers), [2])

    def test_entry_without_batch(self) -> None:
        """An entry whose last offset is -1 loads with no retained batch."""
        table = ProducerStateTable.from_snapshot_entries(
            [ProducerSnapshotEntry(5, 2, -1, -1, 0, T0)]
        )
        entry = table.producers[5]
        self.assertTrue(entry.is_empty)
        self.assertEqual(entry.producer_epoch, 2)

    def test_corrupt_snapshots(self) -> None:
        """Short data, another version, a bad CRC or a wrong length raise CorruptSnapshotError."""
        good = encode_snapshot([ProducerSnapshotEntry(1, 0, 0, 0, 0, T0)])
        bad_version = struct.pack(">h", 2) + good[2:]
        bad_crc = good[:-1] + bytes([good[-1] ^ 1])
        for data in (good[:5], bad_version, bad_crc):
            self.assertRaises(CorruptSnapshotError, decode_snapshot, data)
        body = good[6:] + b"\x00"
        extra = b"\x00\x01" + crc32c_py(body).to_bytes(4, "big") + body
        self.assertRaises(CorruptSnapshotError, decode_snapshot, extra)

    def test_files(self) -> None:
        """Snapshots are written as <20-digit offset>.snapshot files and read back."""
        directory = tempfile.mkdtemp()
        self.assertEqual(snapshot_file_name(42), "00000000000000000042.snapshot")
        entries = [ProducerSnapshotEntry(1, 0, 4, 4, 0, T0)]
        for offset in (5, 120, 42):
            write_snapshot(snapshot_path(directory, offset), entries)
        open(os.path.join(directory, "00000000000000000000.log"), "wb").close()
        self.assertEqual(
            sorted(n for n in os.listdir(directory) if n.endswith(".snapshot")),
            [snapshot_file_name(o) for o in (5, 42, 120)],
        )
        self.assertEqual(read_snapshot(snapshot_path(directory, 42)), entries)
        self.assertFalse([n for n in os.listdir(directory) if n.endswith(".tmp")])


class StorageHooksTests(SynchronousTestCase):
    def test_hooks_protocol(self) -> None:
        """The storage engine's hooks restore, replay, snapshot and clear the table."""
        a = Appender()
        for seq in range(3):
            a.append(header(seq))
        entries = a.table.snapshot_entries()
        self.assertEqual(entries, a.table.to_snapshot_entries())
        table = ProducerStateTable()
        table.replay_batch(header(0, pid=5), 0)
        table.clear()
        self.assertEqual(table.producers, {})
        table.load_snapshot(entries)
        table.on_batch_appended(header(3), 3)
        table.on_log_start_offset(100)
        self.assertIsNone(table.check_append([header(4)]))
        duplicate = table.check_append([header(3)])
        assert duplicate is not None
        self.assertEqual(duplicate.first_offset, 3)

    def test_snapshot_due_at_close(self) -> None:
        """
        A close snapshot is due for a large active segment, or once the table left the log.

        Expiring a producer or moving the log start past remembered batches
        means a replay of the log would rebuild another table; loading a
        snapshot or clearing makes the table follow the log again.
        """
        limit = REPLAY_AT_LOAD_BYTES
        a = Appender()
        a.append(header(0))
        self.assertFalse(a.table.snapshot_due_at_close(limit))
        self.assertTrue(a.table.snapshot_due_at_close(limit + 1))
        self.assertEqual(a.table.remove_expired(T0 + 10, 10**9), [])
        self.assertFalse(a.table.snapshot_due_at_close(limit))
        self.assertEqual(a.table.remove_expired(T0 + 10**9, 10), [PID])
        self.assertTrue(a.table.snapshot_due_at_close(0))
        a.table.clear()
        self.assertFalse(a.table.snapshot_due_at_close(0))
        a.table.on_log_start_offset(1)
        self.assertTrue(a.table.snapshot_due_at_close(0))
        a.table.load_snapshot([])
        self.assertFalse(a.table.snapshot_due_at_close(0))

    def test_load_snapshot_duck_typed(self) -> None:
        """Entries of another class with the same fields (the storage engine's) load alike."""
        from attrs import frozen

        @frozen
        class OtherEntry:
            producer_id: int
            producer_epoch: int
            last_sequence: int
            last_offset: int
            offset_delta: int
            timestamp: int
            coordinator_epoch: int = -1
            current_txn_first_offset: int = -1

        table = ProducerStateTable()
        table.load_snapshot([OtherEntry(PID, 0, 9, 20, 2, T0)])  # type: ignore[list-item]
        duplicate = table.check_append([header(7, 3)])
        assert duplicate is not None
        self.assertEqual((duplicate.first_offset, duplicate.last_offset), (18, 20))
