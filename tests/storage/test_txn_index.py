"""Tests for the aborted-transaction indexes (``.txnindex``), the LSO, and their recovery."""

from __future__ import annotations

import os
import shutil
import struct

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.txn_index import (
    ENTRY_SIZE,
    AbortedTxn,
    CorruptTxnIndexError,
    TxnIndexes,
    decode_txn_index,
    read_txn_index,
)

from .support import append, batch, open_log, temp_dir
from .txn_support import txn_data, txn_marker

#: Segments of a few batches each, so transactions span segments.
SMALL = LogConfig(segment_bytes=400)


def _kafka_entry(pid: int, first: int, last: int, lso: int) -> bytes:
    """An AbortedTxn as Kafka's TransactionIndex lays it out: version 0 (int16), then four int64."""
    return (
        b"\x00\x00"
        + pid.to_bytes(8, "big", signed=True)
        + first.to_bytes(8, "big", signed=True)
        + last.to_bytes(8, "big", signed=True)
        + lso.to_bytes(8, "big", signed=True)
    )


def _open_fds() -> list[str]:
    """The targets of this process's open descriptors."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return found


def _txnindex_files(directory: str) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".txnindex"))


class FormatTests(SynchronousTestCase):
    """The 34-byte entries of Kafka's TransactionIndex."""

    def test_entry_bytes(self) -> None:
        """An entry encodes to Kafka's 34 bytes: version, producer id, first, last, LSO."""
        entry = AbortedTxn(producer_id=1000, first_offset=5, last_offset=12, last_stable_offset=13)
        self.assertEqual(ENTRY_SIZE, 34)
        self.assertEqual(entry.encode(), _kafka_entry(1000, 5, 12, 13))
        self.assertEqual(
            entry.encode().hex(),
            "000000000000000003e80000000000000005000000000000000c000000000000000d",
        )

    def test_decode_ignores_torn_tail(self) -> None:
        """A partial entry at the end of a file (a torn write) is ignored."""
        data = _kafka_entry(1, 0, 3, 4) + _kafka_entry(2, 5, 9, 10)[:20]
        self.assertEqual(decode_txn_index(data), [AbortedTxn(1, 0, 3, 4)])

    def test_unknown_version(self) -> None:
        """An entry of an unknown version is corrupt."""
        data = struct.pack(">hqqqq", 1, 1, 0, 3, 4)
        self.assertRaises(CorruptTxnIndexError, decode_txn_index, data)

    def test_collect(self) -> None:
        """collectAbortedTxns: the overlapping entries, up to one whose LSO reaches the bound."""
        indexes = TxnIndexes(temp_dir(self))
        indexes.append(0, AbortedTxn(1, 0, 5, 2))
        indexes.append(0, AbortedTxn(2, 2, 8, 9))
        indexes.append(10, AbortedTxn(3, 10, 12, 13))
        indexes.append(10, AbortedTxn(4, 14, 20, 21))
        self.assertEqual([t.producer_id for t in indexes.collect(0, 100)], [1, 2, 3, 4])
        self.assertEqual([t.producer_id for t in indexes.collect(6, 100)], [2, 3, 4])
        # Marker before the fetch offset: not returned.
        self.assertEqual([t.producer_id for t in indexes.collect(9, 100)], [3, 4])
        # The entry of producer 2 has LSO 9 >= bound 9: the search ends there.
        self.assertEqual([t.producer_id for t in indexes.collect(0, 9)], [1, 2])
        self.assertEqual([t.producer_id for t in indexes.collect(13, 14)], [])


class LogTxnTests(SynchronousTestCase):
    """A partition log keeps open transactions, its LSO and its .txnindex files."""

    def test_lso_follows_oldest_open_transaction(self) -> None:
        """The LSO is the first offset of the oldest open transaction, else the high watermark."""
        log = open_log(self)
        append(self, log, batch(2))
        first = txn_data(self, log, 1, 0)
        second = txn_data(self, log, 2, 0)
        self.assertEqual((first, second), (2, 4))
        self.assertEqual(log.last_stable_offset, 2)
        self.assertEqual(log.ongoing_transactions(), [(1, 0, 2), (2, 0, 4)])
        txn_marker(self, log, 1, commit=True)
        self.assertEqual(log.last_stable_offset, 4)
        txn_marker(self, log, 2, commit=False)
        self.assertEqual(log.last_stable_offset, log.high_watermark)
        self.assertEqual(log.ongoing_transactions(), [])

    def test_lso_not_below_log_start(self) -> None:
        """DeleteRecords past the start of an open transaction lifts the LSO to the log start."""
        log = open_log(self)
        txn_data(self, log, 1, 0)  # 0-1
        append(self, log, batch(2))  # 2-3
        self.assertEqual(log.last_stable_offset, 0)
        self.successResultOf(log.delete_records_before(1))
        self.assertEqual(log.last_stable_offset, 1)

    def test_abort_writes_txnindex_entry(self) -> None:
        """An abort writes Kafka's entry beside the segment; a commit writes none."""
        log = open_log(self)
        txn_data(self, log, 1, 0)  # 0-1
        txn_data(self, log, 2, 0)  # 2-3
        txn_marker(self, log, 1, commit=True)  # 4
        txn_marker(self, log, 2, commit=False)  # 5
        self.assertEqual(_txnindex_files(log.directory), [cp.file_name(0, ".txnindex")])
        path = os.path.join(log.directory, cp.file_name(0, ".txnindex"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), _kafka_entry(2, 2, 5, 6))
        self.assertEqual(log.aborted_transactions(0, 6), [AbortedTxn(2, 2, 5, 6)])

    def test_lso_of_entry_is_oldest_other_open_transaction(self) -> None:
        """An abort while another transaction is open records that one's first offset as LSO."""
        log = open_log(self)
        txn_data(self, log, 1, 0)  # 0-1
        txn_data(self, log, 2, 0)  # 2-3
        txn_marker(self, log, 2, commit=False)  # 4
        self.assertEqual(log.aborted_transactions(0, 10), [AbortedTxn(2, 2, 4, 0)])
        self.assertEqual(log.last_stable_offset, 0)

    def test_marker_without_data_is_not_indexed(self) -> None:
        """A marker for a producer without data here completes nothing and indexes nothing."""
        log = open_log(self)
        txn_marker(self, log, 9, commit=False)
        self.assertEqual(_txnindex_files(log.directory), [])
        self.assertEqual(log.last_stable_offset, 1)

    def test_no_descriptor_held(self) -> None:
        """Writing entries holds no descriptor on the .txnindex file."""
        log = open_log(self)
        txn_data(self, log, 1, 0)
        txn_marker(self, log, 1, commit=False)
        self.assertFalse([fd for fd in _open_fds() if fd.endswith(".txnindex")])

    def test_retention_deletes_txnindex(self) -> None:
        """A segment deleted by DeleteRecords takes its .txnindex (renamed .deleted, removed)."""
        clock = Clock()
        log = open_log(self, config=SMALL, clock=clock)
        txn_data(self, log, 1, 0, value_size=60)
        txn_marker(self, log, 1, commit=False)
        for _ in range(6):
            append(self, log, batch(2, value_size=60))
        self.assertGreater(len(log.segments), 1)
        self.assertEqual(_txnindex_files(log.directory), [cp.file_name(0, ".txnindex")])
        self.successResultOf(log.delete_records_before(log.segments[-1].base_offset))
        names = os.listdir(log.directory)
        self.assertIn(cp.file_name(0, ".txnindex") + ".deleted", names)
        self.assertEqual(_txnindex_files(log.directory), [])
        self.assertEqual(log.aborted_transactions(0, 100), [])
        clock.advance(120)
        self.assertNotIn(cp.file_name(0, ".txnindex") + ".deleted", os.listdir(log.directory))

    def test_entries_per_segment(self) -> None:
        """Each abort is indexed in the segment holding its marker."""
        log = open_log(self, config=SMALL)
        for pid in (1, 2, 3):
            txn_data(self, log, pid, 0, value_size=60)
            txn_marker(self, log, pid, commit=False)
        self.assertGreater(len(log.segments), 1)
        files = _txnindex_files(log.directory)
        entries = [e for name in files for e in read_txn_index(os.path.join(log.directory, name))]
        self.assertEqual([e.producer_id for e in entries], [1, 2, 3])
        self.assertEqual(log.aborted_transactions(0, log.log_end_offset), entries)


class TxnRecoveryTests(SynchronousTestCase):
    """Open transactions, the LSO and the .txnindex files survive clean and unclean stops."""

    def build(self) -> tuple[str, list[AbortedTxn]]:
        """A log over several segments: aborted, committed and still open transactions."""
        log = open_log(self, config=SMALL)
        txn_data(self, log, 1, 0, value_size=60)
        txn_data(self, log, 2, 0, value_size=60)
        txn_marker(self, log, 2, commit=False)
        append(self, log, batch(2, value_size=60))
        txn_marker(self, log, 1, commit=True)
        txn_data(self, log, 3, 0, value_size=60)
        txn_data(self, log, 4, 0, value_size=60)
        txn_marker(self, log, 4, commit=False)
        txn_data(self, log, 5, 0, value_size=60)
        self.expected = (log.ongoing_transactions(), log.last_stable_offset)
        self.assertEqual([pid for pid, _, _ in self.expected[0]], [3, 5])
        aborted = log.aborted_transactions(0, log.log_end_offset)
        self.assertEqual([t.producer_id for t in aborted], [2, 4])
        self.assertGreater(len(log.segments), 2)
        return log.directory, aborted

    def copy(self, directory: str) -> str:
        """A copy of the partition dir as a SIGKILL would leave it (no close)."""
        target = os.path.join(temp_dir(self), "topic-0")
        shutil.copytree(directory, target)
        return target

    def test_clean_reopen(self) -> None:
        """After a clean close the snapshot carries the open transactions."""
        directory, aborted = self.build()
        log = open_log(self, directory, SMALL)
        self.successResultOf(log.close())
        reopened = open_log(self, directory, SMALL)
        self.assertEqual(
            (reopened.ongoing_transactions(), reopened.last_stable_offset), self.expected
        )
        self.assertEqual(reopened.aborted_transactions(0, reopened.log_end_offset), aborted)

    def test_unclean_reopen_rebuilds(self) -> None:
        """Recovery from offset 0 after a crash restores transactions, LSO and indexes."""
        directory, aborted = self.build()
        copy = self.copy(directory)
        before = {n: open(os.path.join(copy, n), "rb").read() for n in _txnindex_files(copy)}
        for name in before:
            os.unlink(os.path.join(copy, name))
        for name in os.listdir(copy):
            if name.endswith(".snapshot"):
                os.unlink(os.path.join(copy, name))
        table = ProducerStateTable()
        log = open_log(self, copy, SMALL, recover=True, producer_state=table)
        self.assertEqual((log.ongoing_transactions(), log.last_stable_offset), self.expected)
        self.assertEqual(log.aborted_transactions(0, log.log_end_offset), aborted)
        after = {n: open(os.path.join(copy, n), "rb").read() for n in _txnindex_files(copy)}
        self.assertEqual(after, before)

    def test_unclean_reopen_from_snapshots(self) -> None:
        """Recovery from a later recovery point replays from a snapshot, rebuilds those indexes."""
        directory, aborted = self.build()
        copy = self.copy(directory)
        bases = sorted(
            cp.offset_from_file_name(n) or 0 for n in os.listdir(copy) if n.endswith(".log")
        )
        for name in _txnindex_files(copy):
            if (cp.offset_from_file_name(name) or 0) >= bases[1]:
                os.unlink(os.path.join(copy, name))
        log = open_log(self, copy, SMALL, recover=True, recovery_point=bases[1] + 1)
        self.assertEqual((log.ongoing_transactions(), log.last_stable_offset), self.expected)
        self.assertEqual(log.aborted_transactions(0, log.log_end_offset), aborted)

    def test_torn_marker_reopens_transaction(self) -> None:
        """A torn abort marker at the tail is cut: its transaction is open again, unindexed."""
        log = open_log(self)
        txn_data(self, log, 1, 0)
        marker_offset = txn_marker(self, log, 1, commit=False)
        self.assertEqual(marker_offset, 2)
        copy = self.copy(log.directory)
        segment = os.path.join(copy, cp.file_name(0, ".log"))
        size = os.path.getsize(segment)
        with open(segment, "r+b") as f:
            f.truncate(size - 10)
        reopened = open_log(self, copy, recover=True)
        self.assertEqual(reopened.log_end_offset, 2)
        self.assertEqual(reopened.ongoing_transactions(), [(1, 0, 0)])
        self.assertEqual(reopened.last_stable_offset, 0)
        self.assertEqual(reopened.aborted_transactions(0, 10), [])
        self.assertEqual(_txnindex_files(copy), [])

    def test_torn_transactional_batch_is_forgotten(self) -> None:
        """A torn first batch of a transaction is cut: no transaction is open after recovery."""
        log = open_log(self)
        append(self, log, batch(2))
        txn_data(self, log, 1, 0)
        self.assertEqual(log.last_stable_offset, 2)
        copy = self.copy(log.directory)
        segment = os.path.join(copy, cp.file_name(0, ".log"))
        with open(segment, "r+b") as f:
            f.truncate(os.path.getsize(segment) - 3)
        reopened = open_log(self, copy, recover=True)
        self.assertEqual(reopened.log_end_offset, 2)
        self.assertEqual(reopened.ongoing_transactions(), [])
        self.assertEqual(reopened.last_stable_offset, 2)

    def test_orphan_txnindex_removed(self) -> None:
        """A .txnindex without its segment is removed at load."""
        log = open_log(self)
        txn_data(self, log, 1, 0)
        directory = log.directory
        orphan = os.path.join(directory, cp.file_name(500, ".txnindex"))
        with open(orphan, "wb") as f:
            f.write(_kafka_entry(1, 500, 501, 502))
        copy = self.copy(directory)
        open_log(self, copy, recover=True)
        self.assertEqual(_txnindex_files(copy), [])
