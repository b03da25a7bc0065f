"""Writing a transaction's COMMIT or ABORT markers to its partitions: the delivery, and in-process.

Kafka's C{TransactionMarkerChannelManager} sends WriteTxnMarkers to the
leader of every partition of the transaction and completes the transaction
(CompleteCommit/CompleteAbort) once every partition answered
(C{TransactionMarkerRequestCompletionHandler}). On a single broker every
partition is local: each marker is appended through
L{Partitions.write_txn_marker}. As in Kafka, a partition whose topic was
deleted is dropped from the pending set; retriable failures (storage,
leadership) are tried again after a back-off on the injected clock; a
marker the log refuses for an older epoch (the producer or the
coordinator was fenced) is given up for that partition, with a warning.

A marker appended to ``__consumer_offsets`` also ends the producer's
pending transactional offsets of the groups there (the C{on_offsets_marker}
hook: Kafka's C{GroupCoordinator.onTransactionCompleted}).

The coordinator sees only L{MarkerDelivery}: L{MarkerWriter} is the file
engine's (every partition here); the PostgreSQL engine's hands each marker
to the broker leading its partition
(L{kafkatwist.postgres.markers.PgMarkerDelivery}).

Kafka answers EndTxn once PrepareCommit/PrepareAbort is in the log and
writes the markers afterwards. Here the answer also waits for the markers
of the partitions this broker leads (L{MarkerWrite.here}), so a client that
reads after its commit on this broker sees it (the last stable offset moved,
transactional offsets committed), and its next transaction does not meet
CONCURRENT_TRANSACTIONS for markers still on their way. The file engine's
appends reach the log before L{MarkerWriter.write} returns: its C{here}
fires at once. Partitions led by other brokers are written afterwards, as
in Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.topics.partitions import Partitions
from kafkatwist.transactions.metadata import TopicPartition

#: Errors after which the marker is tried again (Kafka's completion handler retries them).
RETRIABLE = frozenset(
    {
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
        ErrorCode.LEADER_NOT_AVAILABLE,
    }
)

#: Called once a marker is in ``__consumer_offsets``: (partition, producer id, commit).
OffsetsMarkerHook = Callable[[int, int, bool], None]


@frozen
class MarkerWrite:
    """
    A transaction's markers on their way.

    @ivar done: Fires once every partition's marker is written (or given up).
    @ivar here: Fires once the markers of the partitions this broker leads
        are in their logs (or were tried and handed on); the coordinator
        answers EndTxn then. Neither ever fails.
    """

    done: Deferred[None]
    here: Deferred[None]


class MarkerDelivery(Protocol):
    """How the coordinator gets a transaction's markers written by its partitions' leaders."""

    def write(
        self,
        partitions: Iterable[TopicPartition],
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        transaction_version: int = 0,
    ) -> MarkerWrite:
        """
        Have the marker written to every partition (see L{MarkerWrite}).

        Never fails: retriable failures are retried (while the broker runs),
        the others logged and the partition given up, as Kafka's
        C{TransactionMarkerRequestCompletionHandler} does.
        """

    def stop(self) -> None:
        """Stop retrying: the broker stops."""


@define(eq=False)
class MarkerWriter:
    """
    Writes the markers of one transaction outcome to its partitions.

    @ivar on_offsets_marker: Set by the broker: the group coordinator's
        completion of pending transactional offsets.
    """

    _clock: ReactorTime
    _metadata: IMetadataStore
    _partitions: Partitions
    _retry_backoff_ms: int = 100
    on_offsets_marker: OffsetsMarkerHook | None = None
    _timers: set[DelayedCall] = field(factory=set, init=False)
    _stopped: bool = field(default=False, init=False)
    _log = Logger()

    def write(
        self,
        partitions: Iterable[TopicPartition],
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        transaction_version: int = 0,
    ) -> MarkerWrite:
        """
        Write the marker to every partition; C{done} fires once each is written (or given up).

        Every append reaches its log before this returns: C{here} fires at once.

        @param transaction_version: 2 when the coordinator bumped the epoch
            for this marker (KIP-890): the log then requires a newer epoch.
        """
        marker = (producer_id, producer_epoch, coordinator_epoch, commit, transaction_version)
        pending = [self._write_one(tp, *marker) for tp in sorted(partitions)]
        done: Deferred[None] = Deferred()
        DeferredList(pending, consumeErrors=True).addCallback(lambda _: done.callback(None))
        return MarkerWrite(done, succeed(None))

    def stop(self) -> None:
        """Stop retrying (the broker stops); retries not yet made never fire."""
        self._stopped = True
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        self._timers.clear()

    def _write_one(
        self,
        tp: TopicPartition,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        transaction_version: int,
    ) -> Deferred[None]:
        result: Deferred[None] = Deferred()

        def attempt() -> None:
            topic, partition = tp
            state = self._metadata.image.topics.get(topic)
            if state is None or partition not in state.partitions:
                self._log.info(
                    "Not writing the marker of producer {pid} to {topic}-{partition}: "
                    "the partition no longer exists",
                    pid=producer_id,
                    topic=topic,
                    partition=partition,
                )
                result.callback(None)
                return
            try:
                d = self._partitions.write_txn_marker(
                    topic,
                    partition,
                    producer_id,
                    producer_epoch,
                    coordinator_epoch,
                    commit,
                    transaction_version=transaction_version,
                )
            except Exception:
                d = fail()
            d.addCallbacks(written, failed)

        def written(_: object) -> None:
            if tp[0] == OFFSETS_TOPIC and self.on_offsets_marker is not None:
                self.on_offsets_marker(tp[1], producer_id, commit)
            result.callback(None)

        def failed(f: Failure) -> None:
            code = f.value.code if isinstance(f.value, KafkaError) else None
            if code in RETRIABLE and not self._stopped:
                self._log.warn(
                    "Writing the marker of producer {pid} to {topic}-{partition} failed "
                    "({error}); trying again",
                    pid=producer_id,
                    topic=tp[0],
                    partition=tp[1],
                    error=f.value,
                )
                timer = self._clock.callLater(self._retry_backoff_ms / 1000.0, retry)
                self._timers.add(timer)
                return
            if code is None:
                self._log.failure(
                    "Writing the marker of producer {pid} to {topic}-{partition} failed",
                    f,
                    pid=producer_id,
                    topic=tp[0],
                    partition=tp[1],
                )
            else:
                self._log.warn(
                    "Gave up the marker of producer {pid} to {topic}-{partition}: {error}",
                    pid=producer_id,
                    topic=tp[0],
                    partition=tp[1],
                    error=f.value,
                )
            result.callback(None)

        def retry() -> None:
            self._timers = {t for t in self._timers if t.active()}
            attempt()

        attempt()
        return result
