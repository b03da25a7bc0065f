"""Idempotent producer state of one partition: Kafka's ``ProducerStateManager``, per batch.

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
  state may have been removed by retention or DeleteRecords).

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

How the file engine uses this module (L{kafkatwist.storage}):

* each partition log owns one L{ProducerStateTable}, its C{producer_state}
  (L{kafkatwist.storage.interfaces.IPartitionLog.producer_state}), which
  L{kafkatwist.topics.partitions.Partitions.append} checks before appending;
* at load (L{kafkatwist.storage.loader}): C{clear()}, then C{load_snapshot()}
  with the entries of the latest readable snapshot at or below the log end
  offset, then C{on_batch_appended(header, header.base_offset)} for every
  batch from that snapshot's offset (or the log start) on;
* in C{append}, synchronously, once offsets are assigned and the batch is
  final (LogAppendTime stamped): C{on_batch_appended(header, base_offset)}
  per batch, before the returned Deferred fires, so the next request's check
  sees it even while the write is in flight;
* on segment roll, at the new segment's base offset: the
  C{snapshot_entries()} are written as a snapshot through the log's
  executor; snapshots above the log end offset are deleted at load;
* when the log start offset advances: C{on_log_start_offset(offset)}.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from typing import Final

from attrs import define, field, frozen

from kafkatwist.errors import CodedError, ErrorCode
from kafkatwist.storage import checkpoints
from kafkatwist.storage.checkpoints import ProducerSnapshotEntry
from kafkatwist.wire.batch import BatchHeader

#: Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN.
NUM_BATCHES_TO_RETAIN: Final = 5
INT32_MAX: Final = (1 << 31) - 1
NO_PRODUCER_EPOCH: Final = -1
NO_SEQUENCE: Final = -1
NO_TIMESTAMP: Final = -1


def increment_sequence(sequence: int, increment: int) -> int:
    """C{sequence + increment}, wrapping past Int32.MAX to 0 (Kafka's C{incrementSequence})."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


def decrement_sequence(sequence: int, decrement: int) -> int:
    """C{sequence - decrement}, wrapping below 0 to Int32.MAX (Kafka's C{decrementSequence})."""
    if sequence < decrement:
        return INT32_MAX - (decrement - sequence) + 1
    return sequence - decrement


def last_sequence(header: BatchHeader) -> int:
    """The sequence of a batch's last record (Kafka's C{RecordBatch.lastSequence})."""
    if header.base_sequence == NO_SEQUENCE:
        return NO_SEQUENCE
    return increment_sequence(header.base_sequence, header.last_offset_delta)


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


@frozen
class BatchMetadata:
    """One retained batch of a producer (Kafka's C{BatchMetadata})."""

    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_seq(self) -> int:
        return decrement_sequence(self.last_seq, self.offset_delta)

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


@define
class ProducerStateEntry:
    """What a partition knows about one producer id (Kafka's C{ProducerStateEntry})."""

    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    batch_metadata: deque[BatchMetadata] = field(
        factory=lambda: deque(maxlen=NUM_BATCHES_TO_RETAIN)
    )
    last_timestamp: int = NO_TIMESTAMP
    coordinator_epoch: int = -1
    #: The first offset of the producer's open transaction, or -1.
    current_txn_first_offset: int = -1

    @property
    def is_empty(self) -> bool:
        return not self.batch_metadata

    @property
    def last_seq(self) -> int:
        return self.batch_metadata[-1].last_seq if self.batch_metadata else NO_SEQUENCE

    @property
    def last_data_offset(self) -> int:
        return self.batch_metadata[-1].last_offset if self.batch_metadata else -1

    @property
    def last_offset_delta(self) -> int:
        return self.batch_metadata[-1].offset_delta if self.batch_metadata else 0

    def find_duplicate_batch(self, header: BatchHeader) -> BatchMetadata | None:
        """The retained batch with the same epoch and exact sequence range, if any."""
        if header.producer_epoch != self.producer_epoch:
            return None
        first, last = header.base_sequence, last_sequence(header)
        for metadata in self.batch_metadata:
            if metadata.first_seq == first and metadata.last_seq == last:
                return metadata
        return None

    def maybe_update_producer_epoch(self, epoch: int) -> None:
        """A new epoch forgets the retained batches (Kafka's C{maybeUpdateProducerEpoch})."""
        if epoch != self.producer_epoch:
            self.batch_metadata.clear()
            self.producer_epoch = epoch

    def add_batch(
        self, epoch: int, last_seq: int, last_offset: int, offset_delta: int, timestamp: int
    ) -> None:
        """Retain a batch; the oldest of six is dropped (Kafka's C{addBatch})."""
        self.maybe_update_producer_epoch(epoch)
        self.batch_metadata.append(BatchMetadata(last_seq, last_offset, offset_delta, timestamp))
        self.last_timestamp = timestamp


class ProducerStateError(CodedError):
    """
    A batch the producer state refuses, with Kafka's error code and message.

    L{kafkatwist.topics.partitions.Partitions.append} turns it into the
    partition's Produce error.
    """


@define
class ProducerStateTable:
    """The producer state of one partition, by producer id."""

    producers: dict[int, ProducerStateEntry] = field(factory=dict)
    #: The table no longer follows from the log alone (producers expired, or the
    #: log start moved past batches it remembers): replaying the log would give
    #: another table, so a clean shutdown must write a snapshot.
    needs_snapshot: bool = False

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
        @raise ProducerStateError: INVALID_PRODUCER_EPOCH or
            OUT_OF_ORDER_SEQUENCE_NUMBER, with Kafka's message.
        """
        # producer id -> (epoch, last sequence) after the batches checked so far.
        pending: dict[int, tuple[int, int]] = {}
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
                    current_epoch == NO_PRODUCER_EPOCH or _in_sequence(current_last_seq, first_seq)
                ):
                    raise ProducerStateError(
                        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                        f"Out of order sequence number for producer {pid} at offset {offset} "
                        f"in partition {partition}: {first_seq} (incoming seq. number), "
                        f"{current_last_seq} (current end sequence number)",
                    )
            pending[pid] = (epoch, last_sequence(header))
            offset += header.last_offset_delta + 1
        return None

    def replay_batch(self, header: BatchHeader, base_offset: int) -> None:
        """
        Record a batch as stored in the log, without checks.

        Used for every appended batch (L{on_batch_appended}) and to rebuild
        the state from the batches after a snapshot. C{header} is the stored
        header: its C{max_timestamp} is final (LogAppendTime stamped).
        """
        pid = header.producer_id
        if pid < 0:
            return
        entry = self.producers.get(pid)
        if entry is None:
            entry = self.producers[pid] = ProducerStateEntry(pid)
        if header.is_control:
            # A transaction marker (Kafka's appendEndTxnMarker): no sequence.
            entry.maybe_update_producer_epoch(header.producer_epoch)
            entry.current_txn_first_offset = -1
            entry.last_timestamp = header.max_timestamp
            return
        entry.add_batch(
            header.producer_epoch,
            last_sequence(header),
            base_offset + header.last_offset_delta,
            header.last_offset_delta,
            header.max_timestamp,
        )
        if header.is_transactional and entry.current_txn_first_offset < 0:
            entry.current_txn_first_offset = base_offset

    on_batch_appended = replay_batch

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
        self.needs_snapshot |= bool(expired)
        return expired

    def snapshot_due_at_close(self, active_segment_bytes: int) -> bool:
        """
        Whether a clean shutdown must write a snapshot at the log end offset.

        Not when replaying the active segment (of C{active_segment_bytes})
        rebuilds this table: see L{checkpoints.REPLAY_AT_LOAD_BYTES}.
        """
        return self.needs_snapshot or active_segment_bytes > checkpoints.REPLAY_AT_LOAD_BYTES

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
        self.needs_snapshot = False

    def clear(self) -> None:
        """Forget every producer (before recovery replays the log)."""
        self.producers = {}
        self.needs_snapshot = False

    def on_log_start_offset(self, offset: int) -> None:
        """
        Keep every producer: since KIP-360 Kafka keeps the state of producers whose
        batches retention or DeleteRecords removed (they expire by time only). The
        log no longer holds those batches, so L{needs_snapshot}.
        """
        self.needs_snapshot = True

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
