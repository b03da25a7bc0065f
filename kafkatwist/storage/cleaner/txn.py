"""What the cleaner tracks of transactions (Kafka's ``CleanedTransactionMetadata``).

Kafka's rules, kept here:

- A data batch of a transaction listed as aborted (the partition's
  aborted-transaction index, L{kafkatwist.storage.txn_index}) may be
  discarded; one of any other transaction is seen as committed.
- An abort marker is kept (and its entry goes into the cleaned segment's
  ``.txnindex``) while batches of its transaction were seen in this pass
  (they are being removed now); once none is left it may be discarded. A
  commit marker may be discarded once no batch of its transaction is seen
  before it. Either way the cleaner then removes it only after its delete
  horizon (``delete.retention.ms``, KIP-534) has passed, as tombstones.
- An empty control batch (already cleaned) may be discarded.
- L{LastRecord}: the last batch of each active producer is kept (empty if
  need be), for its sequence number and epoch (C{lastRecordsOfActiveProducers}).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from attrs import define, field, frozen

from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.wire.batch import BatchHeader, EndTxnMarker


@frozen
class LastRecord:
    """An active producer's last data offset (C{None} if its last entry is a marker) and epoch."""

    last_data_offset: int | None
    producer_epoch: int


def last_records_of_active_producers(state: ProducerStateTable) -> dict[int, LastRecord]:
    """Kafka's C{UnifiedLog.lastRecordsOfActiveProducers} (reactor thread)."""
    return {
        pid: LastRecord(
            entry.last_data_offset if entry.last_data_offset >= 0 else None, entry.producer_epoch
        )
        for pid, entry in state.producers.items()
    }


def is_last_batch_of_producer(header: BatchHeader, last: Mapping[int, LastRecord]) -> bool:
    """Whether C{header} is the batch that keeps its producer's state (see L{LastRecord})."""
    record = last.get(header.producer_id)
    if record is None:
        return False
    if record.last_data_offset is not None:
        return header.last_offset == record.last_data_offset
    return header.is_control and header.producer_epoch == record.producer_epoch


@define
class _Aborted:
    txn: AbortedTxn
    last_observed_batch_offset: int | None = None


@define(eq=False)
class CleanedTransactionMetadata:
    """
    The transactions of the part of the log walked so far.

    @ivar cleaned_index: The entries for the cleaned segment's ``.txnindex``
        (the aborted transactions whose markers it keeps while dropping their data).
    """

    _ongoing_committed: set[int] = field(factory=set)
    _ongoing_aborted: dict[int, _Aborted] = field(factory=dict)
    _heap: list[tuple[int, int, AbortedTxn]] = field(factory=list)
    _added: int = 0
    cleaned_index: list[AbortedTxn] = field(factory=list)

    def add_aborted_transactions(self, aborted: Iterable[AbortedTxn]) -> None:
        """Queue aborted transactions (ordered by first offset) for the batches ahead."""
        for txn in aborted:
            self._added += 1
            heapq.heappush(self._heap, (txn.first_offset, self._added, txn))

    def _consume_aborted_up_to(self, offset: int) -> None:
        while self._heap and self._heap[0][0] <= offset:
            _, _, txn = heapq.heappop(self._heap)
            self._ongoing_aborted.setdefault(txn.producer_id, _Aborted(txn))

    def on_control_batch_read(self, header: BatchHeader, marker: EndTxnMarker | None) -> bool:
        """
        A control batch was walked; return whether it may be discarded.

        C{marker}: its commit or abort marker, C{None} for an empty batch or another control type.
        """
        self._consume_aborted_up_to(header.last_offset)
        if header.records_count == 0:
            return True
        if marker is None:
            return False
        pid = header.producer_id
        if not marker.commit:
            aborted = self._ongoing_aborted.pop(pid, None)
            if aborted is not None and aborted.last_observed_batch_offset is not None:
                self.cleaned_index.append(aborted.txn)
                return False
            return True
        if pid in self._ongoing_committed:
            self._ongoing_committed.discard(pid)
            return False
        return True

    def on_batch_read(self, header: BatchHeader) -> bool:
        """A data batch was walked; return whether it is aborted (and may be discarded)."""
        self._consume_aborted_up_to(header.last_offset)
        if not header.is_transactional:
            return False
        aborted = self._ongoing_aborted.get(header.producer_id)
        if aborted is not None:
            aborted.last_observed_batch_offset = header.last_offset
            return True
        self._ongoing_committed.add(header.producer_id)
        return False

    def take_cleaned_index(self) -> list[AbortedTxn]:
        """The entries gathered for the segment just cleaned; start a new list."""
        entries, self.cleaned_index = self.cleaned_index, []
        return entries
