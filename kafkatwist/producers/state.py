"""Idempotent and transactional producer state of one partition: Kafka's ``ProducerStateManager``.

References (Kafka 4.0, ``storage`` module, package
``org.apache.kafka.storage.internals.log``): ``ProducerStateManager``,
``ProducerStateEntry``, ``ProducerAppendInfo``, ``BatchMetadata``, and
``UnifiedLog.analyzeAndValidateProducerState``; the sequence arithmetic is
``DefaultRecordBatch.incrementSequence`` / ``decrementSequence``.

For each producer id that wrote to the partition the table keeps its epoch
and the metadata of its last five data batches (last sequence, last offset,
offset delta, max timestamp). Nothing here looks at records: every decision
uses the 61-byte batch header only.

The rules, checked by L{ProducerStateTable.check_append} before anything is
appended (a refused batch is never written):

* a batch whose epoch equals the producer's and whose sequence range equals
  one of the last five batches' is a duplicate: the append is skipped and
  the caller answers with the original batch's offsets and error NONE, as
  Kafka's ``UnifiedLog.append`` does (Kafka never answers
  DUPLICATE_SEQUENCE_NUMBER from here);
* an epoch older than the producer's: INVALID_PRODUCER_EPOCH (Kafka 2.7+
  answers this rather than PRODUCER_FENCED for a produce);
* a newer epoch must start at sequence 0, else OUT_OF_ORDER_SEQUENCE_NUMBER;
* the same epoch must continue at the last sequence + 1 (Int32.MAX wraps to
  0), else OUT_OF_ORDER_SEQUENCE_NUMBER;
* a producer id the partition has no state for is accepted at any sequence:
  Kafka 4.0 no longer answers UNKNOWN_PRODUCER_ID (KIP-360; its comment:
  state may have been removed by retention or DeleteRecords);
* a non-transactional batch from a producer with an open transaction:
  INVALID_TXN_STATE (Kafka's ``appendDataBatch``).

Transaction markers the coordinator writes are checked by
L{ProducerStateTable.check_marker} (Kafka's ``appendEndTxnMarker``): an
older producer epoch is INVALID_PRODUCER_EPOCH (with transaction version 2,
KIP-890/KIP-1228, the marker must carry a newer epoch, except a retry of a
marker already written), an older coordinator epoch is
TRANSACTION_COORDINATOR_FENCED. The open transactions and the last stable
offset are kept by L{kafkatwist.producers.transactions.Transactions}.

L{ProducerStateTable.replay_batch} (alias L{ProducerStateTable.on_batch_appended})
updates the state from a batch as stored in the log; it validates nothing,
like Kafka's replication/recovery origin, so it also rebuilds the table from
the batches that follow the latest snapshot.

Snapshots use Kafka's ``<offset, 20 digits>.snapshot`` format
(``ProducerStateManager.writeSnapshot``): int16 version (1), uint32 CRC-32C of
everything after the CRC, int32 count, then per producer: producer id int64,
epoch int16, last sequence int32, last offset int64, offset delta int32,
timestamp int64, coordinator epoch int32, current transaction first offset
int64 (-1 for none). Only the last batch of each producer is stored, so
after loading a snapshot only that batch is recognised as a duplicate, as in
Kafka.

How the file engine uses it (L{kafkatwist.storage}): each partition log
owns one table (C{producer_state}), which
L{kafkatwist.topics.partitions.Partitions.append} checks before appending;
the log calls C{on_appended} synchronously once offsets are assigned
(so the next request's check sees them while the write is in flight),
C{on_high_watermark}, C{snapshot_entries()} on roll and close, and
C{on_log_start_offset}; at load the loader calls C{clear()}, C{load_snapshot()}
with the latest readable snapshot at or below the log end offset, then
C{replay_batch} for every batch after it (with the marker of control batches).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from attrs import define, field

from kafkatwist.errors import CodedError, ErrorCode
from kafkatwist.producers.entry import (
    INT32_MAX,
    NO_PRODUCER_EPOCH,
    NO_SEQUENCE,
    NO_TIMESTAMP,
    NUM_BATCHES_TO_RETAIN,
    BatchMetadata,
    ProducerStateEntry,
    decrement_sequence,
    in_sequence,
    increment_sequence,
    last_sequence,
)
from kafkatwist.producers.transactions import CompletedTxn, Transactions
from kafkatwist.storage import checkpoints
from kafkatwist.storage.checkpoints import ProducerSnapshotEntry
from kafkatwist.wire.batch import BatchHeader, EndTxnMarker, read_end_txn_marker
from kafkatwist.wire.primitives import Buffer


class ProducerStateError(CodedError):
    """
    A batch the producer state refuses, with Kafka's error code and message.

    L{kafkatwist.topics.partitions.Partitions.append} turns it into the
    partition's Produce error.
    """


@define
class ProducerStateTable:
    """
    The producer state of one partition, by producer id, and its open transactions.

    @ivar transactions: The open and not yet stable transactions, kept in
        step with the entries' C{current_txn_first_offset}.
    """

    producers: dict[int, ProducerStateEntry] = field(factory=dict)
    transactions: Transactions = field(factory=Transactions, init=False)

    def __attrs_post_init__(self) -> None:
        self._rebuild_transactions()

    def _rebuild_transactions(self) -> None:
        self.transactions.rebuild(
            (pid, entry.current_txn_first_offset)
            for pid, entry in self.producers.items()
            if entry.current_txn_first_offset >= 0
        )

    def ongoing_transactions(self) -> list[tuple[int, int, int]]:
        """C{(producer id, producer epoch, first offset)} of each open transaction, oldest first."""
        return [
            (pid, self.producers[pid].producer_epoch, first)
            for pid, first in self.transactions.ongoing()
        ]

    def last_stable_offset(self, high_watermark: int, log_start_offset: int = 0) -> int:
        """
        The high watermark bounded by the first offset of the oldest unstable transaction.

        Never below C{log_start_offset} (Kafka's C{maybeIncrementFirstUnstableOffset}:
        DeleteRecords may pass the start of an open transaction).
        """
        return max(self.transactions.last_stable_offset(high_watermark), log_start_offset)

    def on_high_watermark(self, high_watermark: int) -> None:
        """The high watermark moved: completed transactions below it are stable."""
        self.transactions.on_high_watermark(high_watermark)

    def last_entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self.producers.get(producer_id)

    def check_append(
        self, headers: Iterable[BatchHeader], *, next_offset: int = -1, partition: str = ""
    ) -> BatchMetadata | None:
        """
        Check client batches before they are appended; change nothing.

        Batches without a producer id are not checked. Several batches of one
        producer in one call are checked in order, each against the state
        the earlier ones would leave (Kafka's C{updatedEntry}).

        @param next_offset: The offset the first batch would get (for messages).
        @param partition: C{topic-partition}, for messages.
        @return: The retained batch that the first duplicate batch repeats
            (append nothing, answer with its offsets), or None to append.
        @raise ProducerStateError: INVALID_PRODUCER_EPOCH,
            OUT_OF_ORDER_SEQUENCE_NUMBER or INVALID_TXN_STATE, with Kafka's
            message.
        """
        # producer id -> (epoch, last sequence) after the batches checked so far.
        pending: dict[int, tuple[int, int]] = {}
        # producer id -> whether a transaction is open after the batches so far.
        in_txn: dict[int, bool] = {}
        offset = next_offset
        for header in headers:
            pid = header.producer_id
            if pid < 0:
                offset += header.last_offset_delta + 1
                continue
            current = self.producers.get(pid)
            if current is not None:
                duplicate = current.find_duplicate_batch(header)
                if duplicate is not None:
                    return duplicate
            current_epoch = current.producer_epoch if current is not None else NO_PRODUCER_EPOCH
            epoch = header.producer_epoch
            first_seq = header.base_sequence
            updated_epoch, updated_last_seq = pending.get(pid, (current_epoch, None))
            if epoch < updated_epoch:
                raise ProducerStateError(
                    ErrorCode.INVALID_PRODUCER_EPOCH,
                    f"Epoch of producer {pid} at offset {offset} in {partition} is {epoch}, "
                    f"which is smaller than the last seen epoch {updated_epoch}",
                )
            if epoch != updated_epoch:
                if first_seq != 0 and updated_epoch != NO_PRODUCER_EPOCH:
                    raise ProducerStateError(
                        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                        f"Invalid sequence number for new epoch of producer {pid} at offset "
                        f"{offset} in partition {partition}: {epoch} (request epoch), "
                        f"{first_seq} (seq. number), {updated_epoch} (current producer epoch)",
                    )
            else:
                if updated_last_seq is not None:
                    current_last_seq = updated_last_seq
                elif current is not None and epoch == current_epoch:
                    current_last_seq = current.last_seq
                else:
                    current_last_seq = NO_SEQUENCE
                if not (
                    current_epoch == NO_PRODUCER_EPOCH or in_sequence(current_last_seq, first_seq)
                ):
                    raise ProducerStateError(
                        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                        f"Out of order sequence number for producer {pid} at offset {offset} "
                        f"in partition {partition}: {first_seq} (incoming seq. number), "
                        f"{current_last_seq} (current end sequence number)",
                    )
            open_txn = in_txn.get(
                pid, current is not None and current.current_txn_first_offset >= 0
            )
            if open_txn and not header.is_transactional:
                raise ProducerStateError(
                    ErrorCode.INVALID_TXN_STATE,
                    f"Expected transactional write from producer {pid} at offset {offset} "
                    f"in partition {partition}",
                )
            in_txn[pid] = open_txn or header.is_transactional
            pending[pid] = (epoch, last_sequence(header))
            offset += header.last_offset_delta + 1
        return None

    def check_marker(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        *,
        transaction_version: int = 0,
        offset: int = -1,
        partition: str = "",
    ) -> None:
        """
        Check a marker the coordinator is about to write (Kafka's C{appendEndTxnMarker}).

        Kafka's C{checkProducerEpoch} for markers: with transaction version
        0 or 1 an epoch older than the producer's is refused; with version
        2 (KIP-890: the coordinator bumps the epoch before writing the
        marker) the marker's epoch must be newer, except that the same
        epoch with no open transaction is a retry of a marker already
        written and is accepted. Then C{checkCoordinatorEpoch}: a
        coordinator epoch older than the last one seen is a zombie.

        @raise ProducerStateError: INVALID_PRODUCER_EPOCH or
            TRANSACTION_COORDINATOR_FENCED, with Kafka's message.
        """
        entry = self.producers.get(producer_id)
        if entry is None:
            return
        current = entry.producer_epoch
        tv2 = transaction_version >= 2
        if (producer_epoch <= current) if tv2 else (producer_epoch < current):
            retry = tv2 and producer_epoch == current and entry.current_txn_first_offset < 0
            if not retry:
                raise ProducerStateError(
                    ErrorCode.INVALID_PRODUCER_EPOCH,
                    f"Epoch of producer {producer_id} at offset {offset} in {partition} is "
                    f"{producer_epoch}, which is {'<=' if tv2 else '<'} the last seen epoch "
                    f"{current} (TV{transaction_version})",
                )
        if entry.coordinator_epoch > coordinator_epoch:
            raise ProducerStateError(
                ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                f"Invalid coordinator epoch for producerId {producer_id} at offset {offset} "
                f"in partition {partition}: {coordinator_epoch} (zombie), "
                f"{entry.coordinator_epoch} (current)",
            )

    def on_appended(
        self, buf: Buffer, batches: Iterable[tuple[int, BatchHeader]], base_offset: int
    ) -> list[tuple[CompletedTxn, int]]:
        """
        Record appended batches (offsets from C{base_offset}); return the transactions they ended.

        Per batch: a control batch's marker is read from its one record at
        its position in C{buf} (L{read_end_txn_marker}).

        @return: C{(completed transaction, LSO to index it with)} pairs.
        """
        completed: list[tuple[CompletedTxn, int]] = []
        offset = base_offset
        for pos, header in batches:
            if header.is_control:
                done = self.replay_batch(header, offset, read_end_txn_marker(buf, pos, header))
                if done is not None:
                    completed.append(done)
            else:
                self.on_batch_appended(header, offset)
            offset += header.last_offset_delta + 1
        return completed

    def replay_batch(
        self, header: BatchHeader, base_offset: int, marker: EndTxnMarker | None = None
    ) -> tuple[CompletedTxn, int] | None:
        """
        Record a batch as stored in the log at C{base_offset}, without checks.

        Used for every appended batch (L{on_appended}) and to rebuild
        the state from the batches after a snapshot. C{header} is the stored
        header: its C{max_timestamp} is final (LogAppendTime stamped). A
        control batch ends the producer's transaction: with its C{marker}
        (commit or abort, coordinator epoch) the completed transaction is
        returned with the LSO to index it with (Kafka's C{CompletedTxn}
        and C{lastStableOffset(completedTxn)}); a transaction without data
        in this partition completes nothing.
        """
        pid = header.producer_id
        if pid < 0:
            return None
        entry = self.producers.get(pid)
        if entry is None:
            entry = self.producers[pid] = ProducerStateEntry(pid)
        if header.is_control:
            first = entry.current_txn_first_offset
            coordinator = entry.coordinator_epoch if marker is None else marker.coordinator_epoch
            entry.end_transaction(header.producer_epoch, coordinator, header.max_timestamp)
            if marker is None or first < 0:
                self.transactions.end(pid)
                return None
            txn = CompletedTxn(pid, first, base_offset, not marker.commit)
            return txn, self.transactions.complete(txn)
        entry.add_batch(
            header.producer_epoch,
            last_sequence(header),
            base_offset + header.last_offset_delta,
            header.last_offset_delta,
            header.max_timestamp,
        )
        if header.is_transactional and entry.current_txn_first_offset < 0:
            entry.current_txn_first_offset = base_offset
            self.transactions.begin(pid, base_offset)
        return None

    def on_batch_appended(self, header: BatchHeader, base_offset: int) -> None:
        """L{replay_batch} for an appended data batch (a hook tests can watch)."""
        self.replay_batch(header, base_offset)

    def remove_expired(self, now_ms: int, expiration_ms: int) -> list[int]:
        """
        Forget producers idle for C{producer.id.expiration.ms} (Kafka's
        C{removeExpiredProducers}); an open transaction keeps a producer.

        @return: The producer ids removed.
        """
        expired = [
            pid
            for pid, entry in self.producers.items()
            if _is_expired(entry, now_ms, expiration_ms)
        ]
        for pid in expired:
            del self.producers[pid]
        return expired

    def to_snapshot_entries(self) -> list[ProducerSnapshotEntry]:
        """The snapshot entries of every producer, by producer id."""
        return [
            ProducerSnapshotEntry(
                producer_id=pid,
                producer_epoch=entry.producer_epoch,
                last_sequence=entry.last_seq,
                last_offset=entry.last_data_offset,
                offset_delta=entry.last_offset_delta,
                timestamp=entry.last_timestamp,
                coordinator_epoch=entry.coordinator_epoch,
                current_txn_first_offset=entry.current_txn_first_offset,
            )
            for pid, entry in sorted(self.producers.items())
        ]

    # What the file engine calls (see the module docstring): the loader
    # clears, loads a snapshot and replays; the log calls on_batch_appended
    # per appended batch, snapshot_entries on roll, on_log_start_offset.

    def snapshot_entries(self) -> list[ProducerSnapshotEntry]:
        """L{to_snapshot_entries}, under the name the file engine calls."""
        return self.to_snapshot_entries()

    def load_snapshot(self, entries: Iterable[ProducerSnapshotEntry]) -> None:
        """Replace the table with a snapshot's entries (any objects with the entry fields)."""
        self.producers = ProducerStateTable.from_snapshot_entries(entries).producers
        self._rebuild_transactions()

    def clear(self) -> None:
        """Forget every producer (before recovery replays the log)."""
        self.producers = {}
        self._rebuild_transactions()

    def on_log_start_offset(self, offset: int) -> None:
        """
        Nothing to do: since KIP-360 Kafka keeps the state of producers whose
        batches retention or DeleteRecords removed (they expire by time only).
        """

    @classmethod
    def from_snapshot_entries(
        cls,
        entries: Iterable[ProducerSnapshotEntry],
        *,
        now_ms: int | None = None,
        expiration_ms: int | None = None,
    ) -> ProducerStateTable:
        """
        A table loaded from snapshot entries (Kafka's C{readSnapshot} + C{loadFromSnapshot}).

        An entry with a last offset >= 0 gets that one batch retained. With
        C{now_ms} and C{expiration_ms}, expired producers are skipped.
        """
        table = cls()
        for e in entries:
            entry = ProducerStateEntry(
                producer_id=e.producer_id,
                producer_epoch=e.producer_epoch,
                last_timestamp=e.timestamp,
                coordinator_epoch=e.coordinator_epoch,
                current_txn_first_offset=e.current_txn_first_offset,
            )
            if e.last_offset >= 0:
                entry.batch_metadata.append(
                    BatchMetadata(e.last_sequence, e.last_offset, e.offset_delta, e.timestamp)
                )
            if (
                now_ms is not None
                and expiration_ms is not None
                and _is_expired(entry, now_ms, expiration_ms)
            ):
                continue
            table.producers[e.producer_id] = entry
        table._rebuild_transactions()
        return table


def _is_expired(entry: ProducerStateEntry, now_ms: int, expiration_ms: int) -> bool:
    return entry.current_txn_first_offset < 0 and now_ms - entry.last_timestamp >= expiration_ms


# Snapshot files: Kafka's format lives in kafkatwist.storage.checkpoints,
# shared with the log engine that writes them on roll and close.

encode_snapshot = checkpoints.encode_producer_snapshot
decode_snapshot = checkpoints.decode_producer_snapshot
read_snapshot = checkpoints.read_producer_snapshot
write_snapshot = checkpoints.write_producer_snapshot


def snapshot_file_name(offset: int) -> str:
    """Kafka's snapshot file name: the offset in 20 digits, then ``.snapshot``."""
    return checkpoints.file_name(offset, checkpoints.SNAPSHOT_SUFFIX)


def snapshot_path(directory: str, offset: int) -> str:
    return os.path.join(directory, snapshot_file_name(offset))


def list_snapshot_offsets(directory: str) -> list[int]:
    """The offsets of the ``.snapshot`` files in C{directory}, ascending."""
    offsets = []
    for name in os.listdir(directory):
        if name.endswith(checkpoints.SNAPSHOT_SUFFIX):
            offset = checkpoints.offset_from_file_name(name)
            if offset is not None:
                offsets.append(offset)
    return sorted(offsets)


def latest_snapshot_offset(directory: str, at_most: int | None = None) -> int | None:
    """The offset of the newest snapshot (at or below C{at_most}), or None."""
    offsets = [o for o in list_snapshot_offsets(directory) if at_most is None or o <= at_most]
    return offsets[-1] if offsets else None


__all__ = [
    "INT32_MAX",
    "NO_PRODUCER_EPOCH",
    "NO_SEQUENCE",
    "NO_TIMESTAMP",
    "NUM_BATCHES_TO_RETAIN",
    "BatchMetadata",
    "ProducerStateEntry",
    "ProducerStateError",
    "ProducerStateTable",
    "decode_snapshot",
    "decrement_sequence",
    "encode_snapshot",
    "increment_sequence",
    "last_sequence",
    "latest_snapshot_offset",
    "list_snapshot_offsets",
    "read_snapshot",
    "snapshot_file_name",
    "snapshot_path",
    "write_snapshot",
]
