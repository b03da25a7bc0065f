"""One producer's state in one partition: Kafka's ``ProducerStateEntry`` and ``BatchMetadata``.

The sequence arithmetic is Kafka's ``DefaultRecordBatch.incrementSequence``
/ ``decrementSequence``. L{kafkatwist.producers.state} keeps one entry per
producer id of a partition.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from attrs import define, field, frozen

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


def in_sequence(last_seq: int, next_seq: int) -> bool:
    """Whether C{next_seq} follows C{last_seq} (Kafka's C{inSequence}: Int32.MAX wraps to 0)."""
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

    def end_transaction(self, epoch: int, coordinator_epoch: int, timestamp: int) -> None:
        """A marker ended the producer's transaction (Kafka's C{ProducerStateEntry.update})."""
        self.maybe_update_producer_epoch(epoch)
        self.coordinator_epoch = coordinator_epoch
        self.last_timestamp = timestamp
        self.current_txn_first_offset = -1
