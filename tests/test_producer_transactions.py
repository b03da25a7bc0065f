"""Tests for the transactional part of the producer state (Kafka's ProducerAppendInfo rules)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.producers.state import ProducerStateError, ProducerStateTable
from kafkatwist.producers.transactions import CompletedTxn
from kafkatwist.wire.batch import (
    BatchHeader,
    EndTxnMarker,
    build_end_txn_marker,
    parse_batch_header,
)
from kafkatwist.wire.record import build_batch

PID = 4000
T0 = 1_700_000_000_000


def data(
    seq: int, *, pid: int = PID, epoch: int = 0, txn: bool = True, count: int = 2
) -> BatchHeader:
    """The header of a real data batch of C{count} records."""
    batch = build_batch(
        [(b"k", b"v")] * count,
        base_timestamp=T0,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        is_transactional=txn,
    )
    return parse_batch_header(batch)


def marker_batch(commit: bool, *, pid: int = PID, epoch: int = 0, coordinator: int = 0) -> bytes:
    """A real marker batch, as the coordinator has the log write it."""
    return build_end_txn_marker(pid, epoch, coordinator, commit, T0 + 5)


class TableTxnTests(SynchronousTestCase):
    """Open transactions, the LSO and completed transactions."""

    def setUp(self) -> None:
        self.table = ProducerStateTable()
        self.offset = 0

    def add(self, header: BatchHeader) -> None:
        self.table.check_append([header], next_offset=self.offset, partition="t-0")
        self.table.on_batch_appended(header, self.offset)
        self.offset += header.last_offset_delta + 1

    def end(self, commit: bool, **kw: int) -> list[tuple[CompletedTxn, int]]:
        buf = marker_batch(commit, **kw)
        done = self.table.on_appended(buf, [(0, parse_batch_header(buf))], self.offset)
        self.offset += 1
        return done

    def test_transaction_begins_and_ends(self) -> None:
        """The first transactional batch opens the transaction; the abort marker completes it."""
        self.add(data(0))
        self.add(data(2))
        self.assertEqual(self.table.ongoing_transactions(), [(PID, 0, 0)])
        self.assertEqual(self.table.producers[PID].current_txn_first_offset, 0)
        done = self.end(False, coordinator=4)
        self.assertEqual(done, [(CompletedTxn(PID, 0, 4, True), 5)])
        entry = self.table.producers[PID]
        self.assertEqual((entry.current_txn_first_offset, entry.coordinator_epoch), (-1, 4))
        self.assertEqual(self.table.ongoing_transactions(), [])

    def test_lso_waits_for_high_watermark(self) -> None:
        """A completed transaction stays unstable until the high watermark passes its marker."""
        self.add(data(0))  # 0-1
        self.end(True)  # 2
        self.assertEqual(self.table.last_stable_offset(2), 0)
        self.table.on_high_watermark(2)
        self.assertEqual(self.table.last_stable_offset(2), 0)
        self.table.on_high_watermark(3)
        self.assertEqual(self.table.last_stable_offset(3), 3)

    def test_lso_for_index_is_other_open_transaction(self) -> None:
        """lastStableOffset(completedTxn): the first offset of the oldest other open transaction."""
        self.add(data(0, pid=1))  # 0-1
        self.add(data(0, pid=2))  # 2-3
        done = self.end(False, pid=2)  # 4
        self.assertEqual(done, [(CompletedTxn(2, 2, 4, True), 0)])

    def test_marker_without_data_completes_nothing(self) -> None:
        """A marker for a producer with no open transaction returns nothing (no index entry)."""
        self.assertEqual(self.end(True, pid=9, epoch=3), [])
        self.assertEqual(self.table.producers[9].producer_epoch, 3)

    def test_non_transactional_while_open(self) -> None:
        """A non-transactional batch while the producer's transaction is open: INVALID_TXN_STATE."""
        self.add(data(0))
        with self.assertRaises(ProducerStateError) as raised:
            self.table.check_append([data(2, txn=False)], partition="t-0")
        self.assertEqual(raised.exception.code, ErrorCode.INVALID_TXN_STATE)

    def test_non_transactional_after_transactional_in_one_request(self) -> None:
        """The check follows the batches of one request in order."""
        with self.assertRaises(ProducerStateError) as raised:
            self.table.check_append([data(0), data(2, txn=False)], partition="t-0")
        self.assertEqual(raised.exception.code, ErrorCode.INVALID_TXN_STATE)

    def test_snapshot_carries_open_transactions(self) -> None:
        """Snapshot entries keep the open transaction; a table loaded from them has it again."""
        self.add(data(0, pid=1))
        self.add(data(0, pid=2))
        self.end(True, pid=1)
        loaded = ProducerStateTable()
        loaded.load_snapshot(self.table.snapshot_entries())
        self.assertEqual(loaded.ongoing_transactions(), [(2, 0, 2)])
        self.assertEqual(loaded.last_stable_offset(100), 2)

    def test_replay_control_batch_with_marker(self) -> None:
        """Replay reads the coordinator epoch and outcome of a marker as the log stored it."""
        self.add(data(0))
        buf = marker_batch(False, coordinator=7)
        header = parse_batch_header(buf)
        done = self.table.replay_batch(header, self.offset, EndTxnMarker(False, 7))
        self.assertEqual(done, (CompletedTxn(PID, 0, 2, True), 3))
        self.assertEqual(self.table.producers[PID].coordinator_epoch, 7)

    def test_open_transaction_not_expired(self) -> None:
        """A producer with an open transaction is not expired, however idle."""
        self.add(data(0))
        self.add(data(0, pid=5, txn=False))
        self.assertEqual(self.table.remove_expired(T0 + 10**9, 1000), [5])
        self.assertEqual(self.table.ongoing_transactions(), [(PID, 0, 0)])


class MarkerCheckTests(SynchronousTestCase):
    """check_marker: Kafka's appendEndTxnMarker producer and coordinator epoch checks."""

    def setUp(self) -> None:
        self.table = ProducerStateTable()
        self.table.on_batch_appended(data(0, epoch=3), 0)

    def code(self, epoch: int, coordinator: int = 0, tv: int = 0) -> ErrorCode | None:
        try:
            self.table.check_marker(PID, epoch, coordinator, transaction_version=tv)
        except ProducerStateError as e:
            return e.code
        return None

    def test_legacy_epochs(self) -> None:
        """TV0/1: an older epoch is refused, the same or a newer one accepted."""
        self.assertEqual(self.code(2), ErrorCode.INVALID_PRODUCER_EPOCH)
        self.assertIsNone(self.code(3))
        self.assertIsNone(self.code(4))

    def test_tv2_epochs(self) -> None:
        """TV2: the marker must carry a newer epoch while the transaction is open."""
        self.assertEqual(self.code(3, tv=2), ErrorCode.INVALID_PRODUCER_EPOCH)
        self.assertEqual(self.code(2, tv=2), ErrorCode.INVALID_PRODUCER_EPOCH)
        self.assertIsNone(self.code(4, tv=2))

    def test_tv2_retry_after_end(self) -> None:
        """TV2: the same epoch after the transaction ended is a retried marker (KAFKA-19999)."""
        buf = marker_batch(True, epoch=4)
        self.table.on_appended(buf, [(0, parse_batch_header(buf))], 2)
        self.assertIsNone(self.code(4, tv=2))
        self.assertEqual(self.code(3, tv=2), ErrorCode.INVALID_PRODUCER_EPOCH)

    def test_coordinator_epoch(self) -> None:
        """An older coordinator epoch than the last marker's is TRANSACTION_COORDINATOR_FENCED."""
        buf = marker_batch(True, epoch=3, coordinator=6)
        self.table.on_appended(buf, [(0, parse_batch_header(buf))], 2)
        self.assertEqual(self.code(3, coordinator=5), ErrorCode.TRANSACTION_COORDINATOR_FENCED)
        self.assertIsNone(self.code(3, coordinator=6))

    def test_unknown_producer(self) -> None:
        """A producer the partition does not know gets its marker whatever the epochs."""
        self.table.check_marker(99, 0, 0, transaction_version=2)
