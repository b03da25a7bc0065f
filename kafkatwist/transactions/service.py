"""TransactionService: the transaction coordinator with its load, its timers and its views.

Built once by L{kafkatwist.broker.build_broker} (L{TransactionService.create})
and registered there with the broker's cluster as an
L{kafkatwist.cluster.interfaces.ILeadershipListener}: when this broker is
elected leader of a ``__transaction_state`` partition it replays it
(COORDINATOR_LOAD_IN_PROGRESS meanwhile for its ids) and finishes the
transactions left in PrepareCommit/PrepareAbort; when it resigns, the
partition's ids are dropped (NOT_COORDINATOR from then on): Kafka's
C{TransactionCoordinator.onElection} and C{onResignation}. With the file
engine every partition is elected as the cluster starts.

C{start}, called by the broker service, arms, on the injected clock, Kafka's
two periodic tasks of C{TransactionCoordinator.startup} and
C{TransactionStateManager}:

* every C{transaction.abort.timed.out.transaction.cleanup.interval.ms}, an
  Ongoing transaction older than its timeout is aborted with a bumped epoch
  (C{abortTimedOutTransactions}: the producer is fenced);
* every C{transaction.remove.expired.transaction.cleanup.interval.ms}, an id
  idle (Empty, CompleteCommit or CompleteAbort) for
  C{transactional.id.expiration.ms} is removed: a tombstone is written and
  the id forgotten (C{removeExpiredTransactionalIds}).

It also answers DescribeTransactions and ListTransactions from the
metadata (C{handleDescribeTransactions}, C{listTransactionStates}).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.offsets_topic import TopicCreator
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.topics.partitions import Partitions
from kafkatwist.transactions.config import TransactionConfig
from kafkatwist.transactions.coordinator import ProducerIds, TransactionCoordinator
from kafkatwist.transactions.markers import MarkerDelivery, MarkerWriter, OffsetsMarkerHook
from kafkatwist.transactions.metadata import TopicPartition, TransactionMetadata, TxnState
from kafkatwist.transactions.records import TRANSACTION_STATE_TOPIC
from kafkatwist.transactions.state_log import TransactionStateLog

#: Seconds before a failed load of an elected partition is tried again.
LOAD_RETRY_SECONDS = 1.0


@frozen
class TxnListing:
    """One transaction of ListTransactions."""

    transactional_id: str
    producer_id: int
    state: str


class RemoteCoordinators(Protocol):
    """Reaches the transaction coordinator on another broker (the PostgreSQL engine's)."""

    def ensure(
        self,
        node_id: int,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Sequence[TopicPartition],
        add: bool,
    ) -> Deferred[dict[TopicPartition, ErrorCode]]:
        """L{TransactionCoordinator.ensure_partitions} on broker C{node_id}."""


@define(eq=False)
class TransactionService:
    """
    The transaction coordinator and its lifecycle.

    @ivar remote: How to reach another broker's coordinator (None: there is
        none, as with the file engine).
    """

    coordinator: TransactionCoordinator
    _config: TransactionConfig
    _clock: ReactorTime
    _metadata: IMetadataStore
    remote: RemoteCoordinators | None = None
    _loops: list[LoopingCall] = field(factory=list, init=False)
    _retries: dict[int, DelayedCall] = field(factory=dict, init=False)
    _stopped: bool = field(default=False, init=False)
    _log = Logger()

    @classmethod
    def create(
        cls,
        config: TransactionConfig,
        clock: ReactorTime,
        metadata: IMetadataStore,
        controller: TopicCreator,
        partitions: Partitions,
        producer_ids: ProducerIds,
        transaction_version: Callable[[], int],
        *,
        markers: MarkerDelivery | None = None,
        on_offsets_marker: OffsetsMarkerHook | None = None,
    ) -> TransactionService:
        """
        A coordinator writing ``__transaction_state`` through C{partitions}.

        @param markers: How markers reach the partitions' leaders (default:
            L{MarkerWriter}, through C{partitions}, which calls
            C{on_offsets_marker} after a marker in ``__consumer_offsets``).
        """
        state_log = TransactionStateLog.create(
            config, clock, metadata, controller, partitions, transaction_version
        )
        if markers is None:
            markers = MarkerWriter(
                clock, metadata, partitions, config.marker_retry_backoff_ms, on_offsets_marker
            )
        coordinator = TransactionCoordinator(config, clock, state_log, producer_ids, markers)
        return cls(coordinator, config, clock, metadata)

    @property
    def loading(self) -> bool:
        """Whether a ``__transaction_state`` partition led here is being loaded."""
        return self.coordinator.loading

    def loading_id(self, transactional_id: str) -> bool:
        """Whether the ``__transaction_state`` partition of C{transactional_id} is loading here."""
        owned = self.coordinator.check_owned(transactional_id)
        return owned == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Arm the timers (the partitions load as they are elected)."""
        self._arm()
        return succeed(None)

    # -- leadership --------------------------------------------------------------------------

    def on_election(self, topic: str, partition: int, leader_epoch: int) -> None:
        """Elected leader of a ``__transaction_state`` partition: load its ids."""
        if topic != TRANSACTION_STATE_TOPIC or self._stopped:
            return
        self._cancel_retry(partition)
        self._drop_ids(partition)
        self.coordinator.partitions.start_loading(partition, leader_epoch)
        self._load(partition, leader_epoch)

    def on_resignation(self, topic: str, partition: int) -> None:
        """No longer the leader of a ``__transaction_state`` partition: drop its ids."""
        if topic != TRANSACTION_STATE_TOPIC:
            return
        self._cancel_retry(partition)
        self.coordinator.partitions.drop(partition)
        dropped = self._drop_ids(partition)
        if dropped:
            self._log.info(
                "Resigned {topic}-{partition}: dropped {n} transactional ids",
                topic=topic,
                partition=partition,
                n=dropped,
            )

    def _drop_ids(self, partition: int) -> int:
        coordinator = self.coordinator
        gone = [tid for tid in coordinator.txns if coordinator.partition_of(tid) == partition]
        for tid in gone:
            del coordinator.txns[tid]
        return len(gone)

    def _load(self, partition: int, epoch: int) -> None:
        d = self.coordinator.state_log.load_partition(partition)
        d.addCallbacks(
            self._loaded,
            self._load_failed,
            callbackArgs=(partition, epoch),
            errbackArgs=(partition, epoch),
        )

    def _loaded(self, txns: dict[str, TransactionMetadata], partition: int, epoch: int) -> None:
        coordinator = self.coordinator
        if not coordinator.partitions.finish_loading(partition, epoch):
            return  # resigned or re-elected meanwhile
        coordinator.txns.update(txns)
        prepared = coordinator.complete_prepared(txns.values())
        if prepared:
            self._log.info(
                "Completing {n} prepared transactions of {topic}-{partition}",
                n=len(prepared),
                topic=TRANSACTION_STATE_TOPIC,
                partition=partition,
            )

    def _load_failed(self, f: Failure, partition: int, epoch: int) -> None:
        if self.coordinator.partitions.loading_epoch(partition) != epoch or self._stopped:
            return
        if isinstance(f.value, KafkaError):  # the storage is unavailable, the log not ready
            self._log.warn(
                "Loading {topic}-{partition} failed ({error}); trying again",
                topic=TRANSACTION_STATE_TOPIC,
                partition=partition,
                error=f.value,
            )
        else:
            self._log.failure(
                "Loading {topic}-{partition} failed; trying again",
                f,
                topic=TRANSACTION_STATE_TOPIC,
                partition=partition,
            )
        self._retries[partition] = self._clock.callLater(
            LOAD_RETRY_SECONDS, self._retry_load, partition, epoch
        )

    def _retry_load(self, partition: int, epoch: int) -> None:
        self._retries.pop(partition, None)
        if self.coordinator.partitions.loading_epoch(partition) == epoch and not self._stopped:
            self._load(partition, epoch)

    def _cancel_retry(self, partition: int) -> None:
        timer = self._retries.pop(partition, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _arm(self) -> None:
        if self._loops:
            return
        for interval, task in (
            (self._config.abort_timed_out_interval_ms, self.abort_timed_out),
            (self._config.remove_expired_interval_ms, self.expire_transactional_ids),
        ):
            loop = LoopingCall(task)
            loop.clock = self._clock  # type: ignore[assignment]
            loop.start(interval / 1000.0, now=False)
            self._loops.append(loop)

    def stop(self) -> None:
        """Stop the timers, the loads and the markers' retries; ignore elections from now on."""
        self._stopped = True
        for partition in list(self._retries):
            self._cancel_retry(partition)
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops.clear()
        self.coordinator.markers.stop()

    # -- verification ------------------------------------------------------------------------

    def ensure_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Sequence[TopicPartition],
        add: bool,
    ) -> Deferred[dict[TopicPartition, ErrorCode]]:
        """
        Check (TV2: add) a transactional write's partitions with the id's coordinator.

        Here when this broker coordinates the id
        (L{TransactionCoordinator.ensure_partitions}); else through
        C{remote} to the leader of its ``__transaction_state`` partition, as
        Kafka's C{AddPartitionsToTxnManager} sends AddPartitionsToTxn to it.
        COORDINATOR_NOT_AVAILABLE when it cannot be reached (no live
        leader), as Kafka answers.
        """
        coordinator = self.coordinator
        owned = coordinator.check_owned(transactional_id)
        if owned != ErrorCode.NOT_COORDINATOR:
            return coordinator.ensure_partitions(
                transactional_id, producer_id, producer_epoch, partitions, add
            )
        topic = self._metadata.image.topics.get(TRANSACTION_STATE_TOPIC)
        state = topic.partitions.get(coordinator.partition_of(transactional_id)) if topic else None
        if self.remote is None or state is None or state.leader < 0:
            return succeed(dict.fromkeys(partitions, ErrorCode.COORDINATOR_NOT_AVAILABLE))
        return self.remote.ensure(
            state.leader, transactional_id, producer_id, producer_epoch, partitions, add
        )

    # -- timers ------------------------------------------------------------------------------

    def abort_timed_out(self) -> list[str]:
        """Abort every Ongoing transaction past its timeout; return their ids."""
        coordinator = self.coordinator
        now = coordinator.now()
        aborted = []
        for txn in list(coordinator.txns.values()):
            if (
                txn.state != TxnState.ONGOING
                or txn.pending is not None
                or txn.start_ms + txn.timeout_ms >= now
            ):
                continue
            fence = txn.prepare_fence_epoch()
            self._log.info(
                "Aborting transaction of {tid} (producer id {pid}): it timed out after {ms} ms",
                tid=txn.transactional_id,
                pid=txn.producer_id,
                ms=txn.timeout_ms,
            )
            coordinator.end_transaction(
                txn.transactional_id,
                fence.producer_id,
                fence.producer_epoch,
                commit=False,
                client_version=txn.client_version,
                from_client=False,
                fence=fence,
            ).addCallback(self._rolled_back, txn.transactional_id)
            aborted.append(txn.transactional_id)
        return aborted

    def _rolled_back(self, answer: tuple[ErrorCode, int, int], transactional_id: str) -> None:
        if answer[0] != ErrorCode.NONE:
            self._log.warn(
                "Rolling back the timed-out transaction of {tid} failed: {error}",
                tid=transactional_id,
                error=answer[0].name,
            )

    def expire_transactional_ids(self) -> list[str]:
        """Remove every id idle for C{transactional.id.expiration.ms}; return them."""
        coordinator = self.coordinator
        now = coordinator.now()
        expired = []
        for txn in list(coordinator.txns.values()):
            if (
                not txn.state.expiration_allowed
                or txn.pending is not None
                or txn.update_ms + self._config.id_expiration_ms > now
            ):
                continue
            txn.prepare_dead()
            expired.append(txn.transactional_id)
            d = coordinator.state_log.remove(txn.transactional_id)
            d.addCallbacks(
                self._removed, self._not_removed, callbackArgs=(txn,), errbackArgs=(txn,)
            )
        return expired

    def _removed(self, _: object, txn: TransactionMetadata) -> None:
        if self.coordinator.txns.get(txn.transactional_id) is txn:
            del self.coordinator.txns[txn.transactional_id]
        self._log.info("Expired transactional id {tid}", tid=txn.transactional_id)

    def _not_removed(self, f: Failure, txn: TransactionMetadata) -> None:
        txn.cancel()
        self._log.warn(
            "Expiring transactional id {tid} failed: {error}",
            tid=txn.transactional_id,
            error=f.value,
        )

    # -- views -------------------------------------------------------------------------------

    def describe(self, transactional_id: str) -> tuple[ErrorCode, TransactionMetadata | None]:
        """DescribeTransactions for one id: its metadata, or the error."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST, None
        if (owned := self.coordinator.check_owned(transactional_id)) != ErrorCode.NONE:
            return owned, None
        txn = self.coordinator.txns.get(transactional_id)
        if txn is None or txn.state == TxnState.DEAD or txn.pending == TxnState.DEAD:
            return ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, None
        return ErrorCode.NONE, txn

    def list(
        self,
        states: Collection[str],
        producer_ids: Collection[int],
        duration_ms: int = -1,
        id_pattern: str | None = None,
    ) -> tuple[ErrorCode, list[str], list[TxnListing]]:
        """
        ListTransactions (Kafka's C{listTransactionStates}).

        @param id_pattern: A regular expression the whole transactional id
            must match (KIP-1152); None or empty: every id.
        @return: the error, the unknown state names and the matching transactions.
        """
        if self.coordinator.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, [], []
        pattern = None
        if id_pattern:
            try:
                pattern = re.compile(id_pattern)
            except re.error:
                return ErrorCode.INVALID_REGULAR_EXPRESSION, [], []
        unknown = [s for s in states if TxnState.from_name(s) is None]
        wanted = {s for s in states if TxnState.from_name(s) is not None}
        now = self.coordinator.now()
        out = []
        for txn in self.coordinator.txns.values():
            name = txn.state.kafka_name
            if txn.state == TxnState.DEAD:
                continue
            if states and name not in wanted:
                continue
            if producer_ids and txn.producer_id not in producer_ids:
                continue
            if duration_ms >= 0 and now - txn.start_ms <= duration_ms:
                continue
            if pattern is not None and pattern.fullmatch(txn.transactional_id) is None:
                continue
            out.append(TxnListing(txn.transactional_id, txn.producer_id, name))
        return ErrorCode.NONE, unknown, out
