"""Which ``__transaction_state`` partitions this broker's coordinator owns, and their epochs.

Kafka's C{TransactionStateManager} keeps, per partition of
``__transaction_state``, the coordinator epoch it leads it at (the
partition's leader epoch) in C{transactionMetadataCache}, and the
partitions being loaded in C{loadingPartitions}. A transactional id whose
partition is loading is answered COORDINATOR_LOAD_IN_PROGRESS; one whose
partition is neither owned nor loading NOT_COORDINATOR
(C{getTransactionState}).

With the file engine every partition is elected at start, so every id
is owned once its partition is loaded. With the PostgreSQL engine each
broker owns the partitions it leads (L{kafkatwist.cluster.interfaces}).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from attrs import define, field

from kafkatwist.errors import ErrorCode


@define
class OwnedPartitions:
    """The owned and the loading partitions of ``__transaction_state``, with their epochs."""

    _owned: dict[int, int] = field(factory=dict)
    _loading: dict[int, int] = field(factory=dict)

    @property
    def loading(self) -> bool:
        """Whether any partition is being loaded."""
        return bool(self._loading)

    def owned(self) -> dict[int, int]:
        """The loaded partitions, with their coordinator epochs."""
        return dict(self._owned)

    def check(self, partition: int) -> ErrorCode:
        """NONE for an owned partition, else COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR."""
        if partition in self._loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        if partition not in self._owned:
            return ErrorCode.NOT_COORDINATOR
        return ErrorCode.NONE

    def epoch(self, partition: int) -> int | None:
        """The coordinator epoch of an owned (loaded) partition, else None."""
        return self._owned.get(partition)

    def loading_epoch(self, partition: int) -> int | None:
        """The epoch a partition is being loaded at, else None."""
        return self._loading.get(partition)

    def start_loading(self, partition: int, epoch: int) -> None:
        """Elected at C{epoch}: the partition loads (it is no longer owned at an older epoch)."""
        self._owned.pop(partition, None)
        self._loading[partition] = epoch

    def finish_loading(self, partition: int, epoch: int) -> bool:
        """
        The load of C{partition} at C{epoch} is done: it is owned.

        @return: False when that load was superseded (a resignation or a newer
            election came meanwhile): its result must be dropped.
        """
        if self._loading.get(partition) != epoch:
            return False
        del self._loading[partition]
        self._owned[partition] = epoch
        return True

    def drop(self, partition: int) -> None:
        """Resigned: neither owned nor loading."""
        self._owned.pop(partition, None)
        self._loading.pop(partition, None)
