"""The transactions of one partition's producers: Kafka's ongoing and completed transactions.

References (Kafka 4.x, package ``org.apache.kafka.storage.internals.log``):
``ProducerStateManager`` (``ongoingTxns``, ``unreplicatedTxns``,
``firstUnstableOffset``, ``lastStableOffset(CompletedTxn)``,
``completeTxn``, ``onHighWatermarkUpdated``), ``TxnMetadata``,
``CompletedTxn`` and ``ProducerAppendInfo.appendEndTxnMarker``.

A transaction of a producer in a partition begins with its first
transactional data batch there and ends with the commit or abort marker
(a control batch) the coordinator writes. While it is open its first
offset bounds the partition's last stable offset (LSO): read_committed
consumers read nothing at or after it. A completed transaction stays
"unreplicated" until the high watermark passes its marker, as in Kafka, so
that the LSO never passes a marker that is not yet readable.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

from attrs import define, field, frozen


@frozen
class CompletedTxn:
    """
    A transaction its marker ended (Kafka's C{CompletedTxn}).

    @ivar first_offset: The offset of its first data batch in the partition.
    @ivar last_offset: The offset of its marker.
    """

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool


@define
class Transactions:
    """
    The open transactions of a partition by first offset, and the completed ones not yet stable.

    @ivar _ongoing: producer id -> first offset of its open transaction, in
        ascending first offset order (appends come in offset order; a
        rebuild sorts).
    @ivar _unreplicated: Completed transactions whose marker is at or
        above the high watermark, in marker order.
    """

    _ongoing: OrderedDict[int, int] = field(factory=OrderedDict)
    _unreplicated: deque[CompletedTxn] = field(factory=deque)

    def begin(self, producer_id: int, first_offset: int) -> None:
        """A producer's first transactional batch in this partition since its last marker."""
        self._ongoing[producer_id] = first_offset

    def complete(self, txn: CompletedTxn) -> int:
        """
        End C{txn}; return the LSO to record with it in the transaction index.

        Kafka's C{lastStableOffset(completedTxn)}: the first offset of the
        oldest other open transaction, else the offset after the marker.
        """
        self._ongoing.pop(txn.producer_id, None)
        self._unreplicated.append(txn)
        return next(iter(self._ongoing.values()), txn.last_offset + 1)

    def end(self, producer_id: int) -> None:
        """Forget a producer's open transaction without completing it (an unreadable marker)."""
        self._ongoing.pop(producer_id, None)

    def on_high_watermark(self, high_watermark: int) -> None:
        """Completed transactions whose marker is now below the high watermark are stable."""
        unreplicated = self._unreplicated
        while unreplicated and unreplicated[0].last_offset < high_watermark:
            unreplicated.popleft()

    @property
    def first_unstable_offset(self) -> int | None:
        """The first offset of the oldest open or not yet stable transaction, or None."""
        first = next(iter(self._ongoing.values()), None)
        if self._unreplicated:
            oldest = min(t.first_offset for t in self._unreplicated)
            first = oldest if first is None else min(first, oldest)
        return first

    def last_stable_offset(self, high_watermark: int) -> int:
        """The high watermark bounded by the first unstable offset (Kafka's C{lastStableOffset})."""
        first = self.first_unstable_offset
        return high_watermark if first is None or first >= high_watermark else first

    def ongoing(self) -> list[tuple[int, int]]:
        """C{(producer id, first offset)} of each open transaction, oldest first."""
        return list(self._ongoing.items())

    def rebuild(self, open_transactions: Iterable[tuple[int, int]]) -> None:
        """Replace the state with these C{(producer id, first offset)} open transactions."""
        self._ongoing = OrderedDict(sorted(open_transactions, key=lambda item: item[1]))
        self._unreplicated.clear()


__all__ = ["CompletedTxn", "Transactions"]
