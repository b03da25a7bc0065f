"""TransactionCoordinator: Kafka's C{TransactionCoordinator} on one broker.

Every request is checked against the transactional id's metadata
(L{kafkatwist.transactions.metadata}), a transition is prepared (the
metadata is then pending: other requests get CONCURRENT_TRANSACTIONS),
written to ``__transaction_state`` and applied only once written; then the
request is answered. EndTxn is answered once PrepareCommit/PrepareAbort is
written, as in Kafka; the markers are then written to every partition of
the transaction (L{MarkerDelivery}) and CompleteCommit/CompleteAbort last.

The coordinator serves the transactional ids of the ``__transaction_state``
partitions this broker leads (L{OwnedPartitions}, loaded on election by
L{kafkatwist.transactions.service.TransactionService}): an id of a
partition being loaded is answered COORDINATOR_LOAD_IN_PROGRESS, one of a
partition led elsewhere NOT_COORDINATOR. A write that finds the partition
no longer owned at the epoch it started with (a resignation, or the log
refusing a deposed leader: NOT_LEADER_OR_FOLLOWER) is NOT_COORDINATOR.

The rules follow Kafka 4.0's C{TransactionCoordinator}: C{handleInitProducerId}
(epoch bump, KIP-360 recovery with the producer id and epoch, producer id
rotation when the epoch is exhausted, fencing an ongoing transaction by
aborting it and answering CONCURRENT_TRANSACTIONS),
C{handleAddPartitionsToTransaction}, C{handleVerifyPartitionsInTransaction}
and C{endTransaction} (with KIP-890's epoch bump for transaction version 2
clients, and its retry rules). Timed-out transactions are aborted, with a
bumped epoch, and idle ids expired, on the injected clock
(L{kafkatwist.transactions.housekeeping}).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.offsets_topic import append_error
from kafkatwist.transactions.config import TransactionConfig
from kafkatwist.transactions.markers import MarkerDelivery
from kafkatwist.transactions.metadata import (
    NO_PRODUCER_ID,
    TV_2,
    TopicPartition,
    TransactionMetadata,
    TxnState,
    TxnTransit,
)
from kafkatwist.transactions.ownership import OwnedPartitions
from kafkatwist.transactions.state_log import TransactionStateLog
from kafkatwist.transactions.transitions import (
    ProducerAnswer,
    failed,
    prepare_end,
    prepare_init,
)

_PC, _PA, _CC, _CA = (
    TxnState.PREPARE_COMMIT,
    TxnState.PREPARE_ABORT,
    TxnState.COMPLETE_COMMIT,
    TxnState.COMPLETE_ABORT,
)


class ProducerIds(Protocol):
    """What the coordinator needs from the producer id allocator."""

    def allocate(self) -> Deferred[int]:
        """A never-used producer id."""


@frozen
class _Sent:
    """
    A transaction's markers sent.

    @ivar completed: Fires after CompleteCommit/CompleteAbort is written.
    @ivar here: L{MarkerWrite.here}.
    """

    completed: Deferred[ErrorCode]
    here: Deferred[None]


@define(eq=False)
class TransactionCoordinator:
    """
    The transactional ids of this broker and their transactions.

    @ivar txns: The ids of the owned (loaded) partitions.
    @ivar partitions: Which partitions are owned or loading, at which epochs.
    """

    _config: TransactionConfig
    _clock: ReactorTime
    state_log: TransactionStateLog
    _producer_ids: ProducerIds
    markers: MarkerDelivery
    txns: dict[str, TransactionMetadata] = field(factory=dict)
    partitions: OwnedPartitions = field(factory=OwnedPartitions)
    _log = Logger()

    @property
    def loading(self) -> bool:
        """Whether a partition of ``__transaction_state`` is being loaded."""
        return self.partitions.loading

    def partition_of(self, transactional_id: str) -> int:
        """The ``__transaction_state`` partition of C{transactional_id}."""
        return self.state_log.partition_for(transactional_id)

    def check_owned(self, transactional_id: str) -> ErrorCode:
        """
        NONE when this coordinator serves the id, else NOT_COORDINATOR or LOAD_IN_PROGRESS.

        Before ``__transaction_state`` exists no id has a state anywhere:
        NONE, and the id is unknown (its first InitProducerId creates the topic).
        """
        if self.state_log.current() is None:
            return ErrorCode.NONE
        return self.partitions.check(self.partition_of(transactional_id))

    @property
    def config(self) -> TransactionConfig:
        return self._config

    @property
    def transaction_version(self) -> int:
        """The finalized ``transaction.version`` this coordinator serves."""
        return self.state_log.transaction_version

    def now(self) -> int:
        return now_ms(self._clock)

    # -- writing transitions -----------------------------------------------------------------

    def write(self, txn: TransactionMetadata, transit: TxnTransit) -> Deferred[ErrorCode]:
        """
        Write a prepared transition, then apply it; fires with NONE or the coordinator error.

        The id's partition must be owned before and, at the same epoch, after
        the write, and C{txn} still be the id's metadata (not one dropped by a
        resignation, and perhaps reloaded since): Kafka's
        C{appendTransactionToLog} checks the coordinator epoch in its
        callback. Else NOT_COORDINATOR, the transition dropped.
        """
        partition = self.partition_of(txn.transactional_id)
        epoch = self.partitions.epoch(partition)
        if epoch is None or self.txns.get(txn.transactional_id) is not txn:
            txn.cancel()
            return succeed(ErrorCode.NOT_COORDINATOR)

        def written(_: object) -> ErrorCode:
            if (
                self.partitions.epoch(partition) != epoch
                or self.txns.get(txn.transactional_id) is not txn
            ):
                txn.cancel()
                return ErrorCode.NOT_COORDINATOR
            if txn.pending == transit.state:
                txn.complete(transit)
            return ErrorCode.NONE

        def failed(f: Failure) -> ErrorCode:
            txn.cancel()
            self._log.warn(
                "Writing {state} of transactional id {tid} failed: {error}",
                state=transit.state.kafka_name,
                tid=txn.transactional_id,
                error=f.value,
            )
            code = append_error(f)
            if code not in (ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR):
                code = ErrorCode.UNKNOWN_SERVER_ERROR
            return code

        try:
            d = self.state_log.write(txn.transactional_id, transit)
        except Exception:
            d = fail()
        return d.addCallbacks(written, failed)

    # -- InitProducerId ----------------------------------------------------------------------

    def init_producer_id(
        self, transactional_id: str, timeout_ms: int, expected: tuple[int, int] | None
    ) -> Deferred[ProducerAnswer]:
        """
        InitProducerId with a transactional id (Kafka's C{handleInitProducerId}).

        @param expected: The producer id and epoch of a KIP-360 request, or None.
        """
        return Deferred.fromCoroutine(self._init(transactional_id, timeout_ms, expected))

    async def _init(
        self, transactional_id: str, timeout_ms: int, expected: tuple[int, int] | None
    ) -> ProducerAnswer:
        if not transactional_id:
            return failed(ErrorCode.INVALID_REQUEST)
        if not 0 < timeout_ms <= self._config.max_timeout_ms:
            return failed(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        if self.state_log.current() is None:
            # The topic is created on first use (FindCoordinator usually did).
            await self.state_log.ensure()
        if (owned := self.check_owned(transactional_id)) != ErrorCode.NONE:
            return failed(owned)
        txn = self.txns.get(transactional_id)
        if txn is None:
            producer_id = await self._producer_ids.allocate()
            if (owned := self.check_owned(transactional_id)) != ErrorCode.NONE:
                return failed(owned)  # resigned meanwhile
            txn = self.txns.get(transactional_id)
            if txn is None:
                txn = self.txns[transactional_id] = TransactionMetadata(
                    transactional_id, producer_id, timeout_ms, self.now()
                )
        new_producer_id: int | None = None
        if txn.epoch_exhausted and txn.state in (TxnState.EMPTY, _CC, _CA):
            new_producer_id = await self._producer_ids.allocate()
        outcome = prepare_init(txn, timeout_ms, expected, new_producer_id, self.now())
        if isinstance(outcome, ErrorCode):
            return failed(outcome)
        if outcome.state == TxnState.PREPARE_EPOCH_FENCE:
            # Abort the ongoing transaction first; the client retries and then gets its epoch.
            code, _, _ = await self.end_transaction(
                transactional_id,
                outcome.producer_id,
                outcome.producer_epoch,
                commit=False,
                client_version=txn.client_version,
                from_client=False,
                fence=outcome,
            )
            return failed(code if code != ErrorCode.NONE else ErrorCode.CONCURRENT_TRANSACTIONS)
        code = await self.write(txn, outcome)
        if code != ErrorCode.NONE:
            return failed(code)
        self._log.info(
            "Initialized transactional id {tid} with producer id {pid} and epoch {epoch}",
            tid=transactional_id,
            pid=outcome.producer_id,
            epoch=outcome.producer_epoch,
        )
        return ErrorCode.NONE, outcome.producer_id, outcome.producer_epoch

    # -- AddPartitionsToTxn --------------------------------------------------------------------

    def _check_producer(
        self, transactional_id: str, producer_id: int, producer_epoch: int
    ) -> TransactionMetadata | ErrorCode:
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST
        if (owned := self.check_owned(transactional_id)) != ErrorCode.NONE:
            return owned
        txn = self.txns.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if txn.producer_epoch != producer_epoch:
            return ErrorCode.PRODUCER_FENCED
        return txn

    def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
        client_version: int = 0,
    ) -> Deferred[ErrorCode]:
        """
        Add partitions to the transaction (Kafka's C{handleAddPartitionsToTransaction}).

        @param client_version: 2 for an implicit add (KIP-890: a transaction
            version 2 producer's Produce or TxnOffsetCommit), else 0.
        """
        added = frozenset(partitions)
        txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if isinstance(txn, ErrorCode):
            return succeed(txn)
        if txn.pending is not None or txn.state.is_prepare:
            return succeed(ErrorCode.CONCURRENT_TRANSACTIONS)
        if txn.state == TxnState.ONGOING and added <= txn.partitions:
            return succeed(ErrorCode.NONE)
        if txn.state not in (TxnState.EMPTY, TxnState.ONGOING, _CC, _CA):
            return succeed(ErrorCode.INVALID_TXN_STATE)
        version = client_version
        if txn.state == TxnState.ONGOING:
            version = max(client_version, txn.client_version)
        return self.write(txn, txn.prepare_add_partitions(added, self.now(), version))

    def verify_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
    ) -> dict[TopicPartition, ErrorCode]:
        """
        Whether partitions are in the transaction (Kafka's C{handleVerifyPartitionsInTransaction}).

        @return: NONE for a partition of the transaction, TRANSACTION_ABORTABLE
            for another; or one error for all of them.
        """
        wanted = list(partitions)
        txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if isinstance(txn, ErrorCode):
            return dict.fromkeys(wanted, txn)
        if txn.state.is_prepare:
            return dict.fromkeys(wanted, ErrorCode.CONCURRENT_TRANSACTIONS)
        return {
            tp: ErrorCode.NONE if tp in txn.partitions else ErrorCode.TRANSACTION_ABORTABLE
            for tp in wanted
        }

    def ensure_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
        add: bool = False,
    ) -> Deferred[dict[TopicPartition, ErrorCode]]:
        """
        Check that a transactional write's partitions are in the transaction, adding them for TV2.

        The broker side of Produce and TxnOffsetCommit (Kafka's
        C{AddPartitionsToTxnManager.addOrVerifyTransaction}): a transaction
        version 1 producer's partitions are verified (TRANSACTION_ABORTABLE
        for one not in the transaction); a version 2 producer's are added
        (C{add}). Kafka knows the version 2 producer by its request alone
        (Produce v12+, TxnOffsetCommit v5+: C{TransactionSupportedOperation}
        C{ADD_PARTITION}).
        """
        return Deferred.fromCoroutine(
            self._ensure(transactional_id, producer_id, producer_epoch, partitions, add)
        )

    async def _ensure(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
        add: bool,
    ) -> dict[TopicPartition, ErrorCode]:
        codes = self.verify_partitions(transactional_id, producer_id, producer_epoch, partitions)
        missing = [tp for tp, code in codes.items() if code == ErrorCode.TRANSACTION_ABORTABLE]
        if not missing or not add:
            return codes
        code = await self.add_partitions(
            transactional_id, producer_id, producer_epoch, missing, TV_2
        )
        codes.update(dict.fromkeys(missing, code))
        return codes

    # -- EndTxn ------------------------------------------------------------------------------

    def end_transaction(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        *,
        commit: bool,
        client_version: int,
        from_client: bool = True,
        fence: TxnTransit | None = None,
    ) -> Deferred[ProducerAnswer]:
        """
        EndTxn (Kafka's C{endTransaction}); fires once PrepareCommit/PrepareAbort is written.

        @param client_version: 2 for EndTxn v5+ (KIP-890), else 0.
        @param fence: The PrepareEpochFence transit of an abort the coordinator
            starts itself (InitProducerId on an ongoing transaction, a timeout).
        @return: the error, and the producer id and epoch the producer goes on with.
        """
        return Deferred.fromCoroutine(
            self._end(
                transactional_id,
                producer_id,
                producer_epoch,
                commit,
                client_version,
                from_client,
                fence,
            )
        )

    async def _end(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        client_version: int,
        from_client: bool,
        fence: TxnTransit | None,
    ) -> ProducerAnswer:
        if not transactional_id:
            return failed(ErrorCode.INVALID_REQUEST)
        if (owned := self.check_owned(transactional_id)) != ErrorCode.NONE:
            return failed(owned)
        txn = self.txns.get(transactional_id)
        if txn is None:
            return failed(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        next_producer_id = NO_PRODUCER_ID
        if (
            fence is None
            and client_version >= TV_2
            and txn.state == TxnState.ONGOING
            and txn.epoch_exhausted
        ):
            next_producer_id = await self._producer_ids.allocate()
        outcome = prepare_end(
            txn,
            producer_id,
            producer_epoch,
            commit,
            client_version,
            from_client,
            fence,
            next_producer_id,
            self.now(),
        )
        if isinstance(outcome, tuple):
            if fence is not None and txn.pending == TxnState.PREPARE_EPOCH_FENCE:
                txn.cancel()
            return outcome
        coordinator_epoch = self.partitions.epoch(self.partition_of(transactional_id)) or 0
        code = await self.write(txn, outcome)
        if code != ErrorCode.NONE:
            if fence is not None:
                txn.failed_epoch_fence = True
            return failed(code)
        if txn.pending is not None or not txn.state.is_prepare:
            return failed(ErrorCode.CONCURRENT_TRANSACTIONS)
        complete = txn.prepare_complete(self.now())
        # Answered once the markers of the partitions led here are written (MarkerWrite.here).
        await self._send_markers(txn, complete, coordinator_epoch).here
        return ErrorCode.NONE, complete.producer_id, complete.producer_epoch

    def _send_markers(
        self, txn: TransactionMetadata, complete: TxnTransit, coordinator_epoch: int
    ) -> _Sent:
        """Write the markers, then CompleteCommit/CompleteAbort (also used after a load)."""
        commit = txn.state == _PC

        def completed(code: ErrorCode) -> ErrorCode:
            if code == ErrorCode.NONE:
                self._log.info(
                    "Completed {outcome} of transactional id {tid}",
                    outcome="commit" if commit else "abort",
                    tid=txn.transactional_id,
                )
            return code

        def markers_written(_: None) -> Deferred[ErrorCode]:
            return self.write(txn, complete).addCallback(completed)

        sent = self.markers.write(
            txn.partitions,
            txn.producer_id,
            txn.producer_epoch,
            coordinator_epoch,
            commit,
            TV_2 if txn.supports_epoch_bump else 0,
        )
        return _Sent(sent.done.addCallback(markers_written), sent.here)

    def complete_prepared(self, txns: Iterable[TransactionMetadata]) -> list[Deferred[ErrorCode]]:
        """
        After a load: finish every transaction of C{txns} left in PrepareCommit/PrepareAbort.

        Its markers are written again (a marker already in a partition is
        harmless) and the transaction completes, as Kafka's
        C{loadTransactionsForTxnTopicPartition} does.
        """
        out = []
        for txn in list(txns):
            if txn.state.is_prepare and txn.pending is None:
                epoch = self.partitions.epoch(self.partition_of(txn.transactional_id)) or 0
                sent = self._send_markers(txn, txn.prepare_complete(self.now()), epoch)
                out.append(sent.completed)
        return out
