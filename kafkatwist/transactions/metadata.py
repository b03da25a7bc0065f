"""The state of one transactional id and its transitions: Kafka's C{TransactionMetadata}.

A transactional id's metadata moves through Kafka's C{TransactionState}s::

    Empty -> Ongoing -> PrepareCommit -> CompleteCommit -> (Empty | Ongoing)
                     -> PrepareAbort  -> CompleteAbort  -> (Empty | Ongoing)
    Ongoing -> PrepareEpochFence -> PrepareAbort   (InitProducerId or a timeout fencing it)
    Empty | CompleteCommit | CompleteAbort -> Dead (transactional id expiration)

Every change is prepared first (C{prepare_*} returns a L{TxnTransit} and
sets C{pending}), written to ``__transaction_state``, and only applied by
L{TransactionMetadata.complete} once the write is done; while a transition
is pending the coordinator answers CONCURRENT_TRANSACTIONS. A failed write
drops the pending transition (L{TransactionMetadata.cancel}).

Transaction version 2 (KIP-890) bumps the epoch at every EndTxn: the
prepared state carries epoch + 1 (and, when the epoch is exhausted, the
next producer id, which the completed state switches to at epoch 0).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from attrs import define, evolve, field, frozen

#: Kafka's C{RecordBatch.NO_PRODUCER_ID} and C{NO_PRODUCER_EPOCH}.
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
#: Java's C{Short.MAX_VALUE}.
SHORT_MAX = 32767

#: Transaction versions (the ``transaction.version`` feature levels, Kafka's C{TransactionVersion}).
TV_0, TV_1, TV_2 = 0, 1, 2

TopicPartition = tuple[str, int]


class TxnState(enum.IntEnum):
    """Kafka's C{TransactionState}, with the ids stored in ``__transaction_state``."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        """The name DescribeTransactions and ListTransactions show (C{Empty}, C{Ongoing}...)."""
        return _NAMES[self]

    @classmethod
    def from_name(cls, name: str) -> TxnState | None:
        """The state called C{name}, or None."""
        return _BY_NAME.get(name)

    @property
    def expiration_allowed(self) -> bool:
        """Whether an idle transactional id in this state may be expired."""
        return self in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)

    @property
    def is_prepare(self) -> bool:
        """PrepareCommit or PrepareAbort: markers are being written."""
        return self in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)


_NAMES = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
_BY_NAME = {name: state for state, name in _NAMES.items()}

_E, _O, _PC, _PA, _CC, _CA, _D, _PF = TxnState
#: Kafka's C{validPreviousStates}.
VALID_PREVIOUS: dict[TxnState, frozenset[TxnState]] = {
    _E: frozenset({_E, _CC, _CA}),
    _O: frozenset({_O, _E, _CC, _CA}),
    _PC: frozenset({_O}),
    _PA: frozenset({_O, _PF}),
    _CC: frozenset({_PC}),
    _CA: frozenset({_PA}),
    _D: frozenset({_E, _CA, _CC}),
    _PF: frozenset({_O}),
}


def is_epoch_exhausted(epoch: int) -> bool:
    """Kafka's C{isEpochExhausted}: Short.MAX - 1 and above are kept for fencing."""
    return epoch >= SHORT_MAX - 1


class IllegalTransition(Exception):
    """A transition the state machine does not allow (a coordinator bug)."""


@frozen
class TxnTransit:
    """A prepared transition: the metadata once written (Kafka's C{TxnTransitMetadata})."""

    producer_id: int
    previous_producer_id: int
    next_producer_id: int
    producer_epoch: int
    last_producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[TopicPartition]
    start_ms: int
    update_ms: int
    client_version: int = TV_0


@define(eq=False)
class TransactionMetadata:
    """
    What the coordinator knows about one transactional id.

    @ivar pending: The state of a transition being written, or None.
    @ivar failed_epoch_fence: A fencing abort could not be written: the next
        fence reuses the epoch already given out (Kafka's C{hasFailedEpochFence}).
    """

    transactional_id: str
    producer_id: int
    timeout_ms: int
    update_ms: int
    state: TxnState = TxnState.EMPTY
    producer_epoch: int = NO_PRODUCER_EPOCH
    last_producer_epoch: int = NO_PRODUCER_EPOCH
    previous_producer_id: int = NO_PRODUCER_ID
    next_producer_id: int = NO_PRODUCER_ID
    partitions: set[TopicPartition] = field(factory=set)
    start_ms: int = -1
    client_version: int = TV_0
    pending: TxnState | None = None
    failed_epoch_fence: bool = False

    @property
    def epoch_exhausted(self) -> bool:
        return is_epoch_exhausted(self.producer_epoch)

    @property
    def supports_epoch_bump(self) -> bool:
        """The last transition came from a transaction-version-2 client."""
        return self.client_version >= TV_2

    def snapshot(self) -> TxnTransit:
        """The metadata as it is, as a transit (the base of every prepared one)."""
        return TxnTransit(
            producer_id=self.producer_id,
            previous_producer_id=self.previous_producer_id,
            next_producer_id=self.next_producer_id,
            producer_epoch=self.producer_epoch,
            last_producer_epoch=self.last_producer_epoch,
            timeout_ms=self.timeout_ms,
            state=self.state,
            partitions=frozenset(self.partitions),
            start_ms=self.start_ms,
            update_ms=self.update_ms,
            client_version=self.client_version,
        )

    def _prepare(self, transit: TxnTransit) -> TxnTransit:
        if self.pending is not None:
            raise IllegalTransition(
                f"{self.transactional_id}: preparing {transit.state.kafka_name} while "
                f"{self.pending.kafka_name} is pending"
            )
        if self.state not in VALID_PREVIOUS[transit.state]:
            raise IllegalTransition(
                f"{self.transactional_id}: {self.state.kafka_name} cannot become "
                f"{transit.state.kafka_name}"
            )
        if transit.producer_id < 0 or (transit.state != _D and transit.producer_epoch < 0):
            raise IllegalTransition(f"{self.transactional_id}: illegal producer id or epoch")
        self.pending = transit.state
        return transit

    # -- the transitions ------------------------------------------------------------------

    def prepare_increment_epoch(
        self, timeout_ms: int, expected_epoch: int | None, now: int
    ) -> TxnTransit | None:
        """
        InitProducerId on a completed id: the next epoch, to Empty.

        Kafka's C{prepareIncrementProducerEpoch}.

        @param expected_epoch: The epoch in a KIP-360 request, or None.
        @return: None when C{expected_epoch} is neither the current nor the
            last epoch (PRODUCER_FENCED).
        """
        if self.epoch_exhausted:
            raise IllegalTransition(f"{self.transactional_id}: producer epochs exhausted")
        bumped = self.producer_epoch + 1
        if expected_epoch is None:
            epoch, last = bumped, NO_PRODUCER_EPOCH
        elif self.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == self.producer_epoch:
            epoch, last = bumped, self.producer_epoch
        elif expected_epoch == self.last_producer_epoch:
            # A retry of an InitProducerId whose answer was lost: the same epoch again.
            epoch, last = self.producer_epoch, self.last_producer_epoch
        else:
            return None
        return self._prepare(self._to_empty(self.producer_id, epoch, last, timeout_ms, now))

    def prepare_producer_id_rotation(
        self, new_producer_id: int, timeout_ms: int, now: int, record_last_epoch: bool
    ) -> TxnTransit:
        """Epochs exhausted: a new producer id at epoch 0 (Kafka's C{prepareProducerIdRotation})."""
        last = self.producer_epoch if record_last_epoch else NO_PRODUCER_EPOCH
        return self._prepare(self._to_empty(new_producer_id, 0, last, timeout_ms, now))

    def _to_empty(
        self, producer_id: int, epoch: int, last: int, timeout_ms: int, now: int
    ) -> TxnTransit:
        return evolve(
            self.snapshot(),
            producer_id=producer_id,
            previous_producer_id=self.producer_id,
            next_producer_id=NO_PRODUCER_ID,
            producer_epoch=epoch,
            last_producer_epoch=last,
            timeout_ms=timeout_ms,
            state=_E,
            partitions=frozenset(),
            start_ms=-1,
            update_ms=now,
            client_version=TV_0,
        )

    def prepare_add_partitions(
        self, partitions: Iterable[TopicPartition], now: int, client_version: int
    ) -> TxnTransit:
        """Partitions join the transaction, now Ongoing (Kafka's C{prepareAddPartitions})."""
        starting = self.state in (_E, _CC, _CA)
        return self._prepare(
            evolve(
                self.snapshot(),
                state=_O,
                partitions=frozenset(self.partitions).union(partitions),
                start_ms=now if starting else self.start_ms,
                update_ms=now,
                client_version=client_version,
            )
        )

    def prepare_fence_epoch(self) -> TxnTransit:
        """Abort the ongoing transaction, epoch bumped (Kafka's C{prepareFenceProducerEpoch})."""
        if self.producer_epoch >= SHORT_MAX:
            raise IllegalTransition(f"{self.transactional_id}: cannot fence epoch {SHORT_MAX}")
        epoch = self.producer_epoch if self.failed_epoch_fence else self.producer_epoch + 1
        return self._prepare(
            evolve(
                self.snapshot(),
                state=_PF,
                producer_epoch=epoch,
                last_producer_epoch=NO_PRODUCER_EPOCH,
            )
        )

    def prepare_end(
        self, commit: bool, client_version: int, next_producer_id: int, now: int
    ) -> TxnTransit:
        """
        PrepareCommit or PrepareAbort (Kafka's C{prepareAbortOrCommit}).

        With transaction version 2 the epoch is bumped here; C{next_producer_id}
        is the id to switch to when that bump exhausts the epochs (else -1).
        """
        base = self.snapshot()
        if client_version >= TV_2:
            base = evolve(
                base,
                producer_epoch=self.producer_epoch + 1,
                last_producer_epoch=self.producer_epoch,
            )
        return self._prepare(
            evolve(
                base,
                state=_PC if commit else _PA,
                next_producer_id=next_producer_id,
                update_ms=now,
                client_version=client_version,
            )
        )

    def prepare_fenced_abort(self, fence: TxnTransit, now: int) -> TxnTransit:
        """
        The abort of a fenced transaction (the second half of C{prepare_fence_epoch}).

        Kafka clears the PrepareEpochFence pending state, takes its bumped
        epoch and prepares PrepareAbort with it.
        """
        self.pending = None
        self.producer_epoch = fence.producer_epoch
        self.last_producer_epoch = NO_PRODUCER_EPOCH
        return self._prepare(
            evolve(
                self.snapshot(),
                state=_PA,
                next_producer_id=NO_PRODUCER_ID,
                update_ms=now,
                client_version=min(self.client_version, TV_1),
            )
        )

    def prepare_complete(self, now: int) -> TxnTransit:
        """CompleteCommit or CompleteAbort, the markers written (Kafka's C{prepareComplete})."""
        self.failed_epoch_fence = False
        producer_id, epoch = self.producer_id, self.producer_epoch
        if self.supports_epoch_bump and self.next_producer_id != NO_PRODUCER_ID:
            producer_id, epoch = self.next_producer_id, 0
        return self._prepare(
            evolve(
                self.snapshot(),
                state=_CC if self.state == _PC else _CA,
                producer_id=producer_id,
                previous_producer_id=self.producer_id,
                next_producer_id=NO_PRODUCER_ID,
                producer_epoch=epoch,
                last_producer_epoch=self.producer_epoch,
                partitions=frozenset(),
                update_ms=now,
            )
        )

    def prepare_dead(self) -> TxnTransit:
        """The id is expired (Kafka's C{prepareDead})."""
        return self._prepare(evolve(self.snapshot(), state=_D, partitions=frozenset()))

    # -- applying -------------------------------------------------------------------------

    def complete(self, transit: TxnTransit) -> None:
        """The transit is written: apply it (Kafka's C{completeTransitionTo})."""
        if self.pending != transit.state:
            raise IllegalTransition(
                f"{self.transactional_id}: completing {transit.state.kafka_name}, pending "
                f"{self.pending.kafka_name if self.pending is not None else None}"
            )
        self.apply(transit)

    def apply(self, transit: TxnTransit) -> None:
        """Take every field of C{transit} (also when replaying the log)."""
        self.producer_id = transit.producer_id
        self.previous_producer_id = transit.previous_producer_id
        self.next_producer_id = transit.next_producer_id
        self.producer_epoch = transit.producer_epoch
        self.last_producer_epoch = transit.last_producer_epoch
        self.timeout_ms = transit.timeout_ms
        self.state = transit.state
        self.partitions = set(transit.partitions)
        self.start_ms = transit.start_ms
        self.update_ms = transit.update_ms
        self.client_version = transit.client_version
        self.pending = None

    def cancel(self) -> None:
        """The pending transition could not be written: forget it."""
        self.pending = None

    @classmethod
    def from_transit(cls, transactional_id: str, transit: TxnTransit) -> TransactionMetadata:
        """The metadata a ``__transaction_state`` record describes."""
        metadata = cls(transactional_id, transit.producer_id, transit.timeout_ms, transit.update_ms)
        metadata.apply(transit)
        return metadata
