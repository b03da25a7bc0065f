"""``__transaction_state``: writing transitions to it and replaying its partitions.

Kafka's C{TransactionStateManager} appends each prepared transition
(C{appendTransactionToLog}) to the partition of the transactional id and
completes it only once the append is done; when elected leader of a
partition it reads it (C{loadTransactionsForTxnTopicPartition}) and keeps
the last record of each id, a tombstone removing it.

The topic is a compacted internal topic created on first use, like
``__consumer_offsets``: both are written through
L{kafkatwist.groups.offsets_topic.OffsetsTopic}, and read through the
groups' L{replay_log}.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import define
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kafkatwist.clock import ReactorTime
from kafkatwist.groups.loader import BatchReplayer, replay_log, replay_records
from kafkatwist.groups.offsets_topic import OffsetsTopic, TopicCreator
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.results import AppendInfo
from kafkatwist.topics.partitions import Partitions
from kafkatwist.transactions import records as rec
from kafkatwist.transactions.config import TransactionConfig
from kafkatwist.transactions.metadata import TransactionMetadata, TxnTransit
from kafkatwist.wire.batch import BatchHeader
from kafkatwist.wire.record import Record


@define(eq=False)
class TransactionStateLog:
    """
    The ``__transaction_state`` topic as the transaction coordinator writes and reads it.

    @ivar _transaction_version: Reads the finalized ``transaction.version``
        (the feature registry's level); it picks the value version of the
        records written.
    """

    _topic: OffsetsTopic
    _transaction_version: Callable[[], int]
    _log = Logger()

    @property
    def transaction_version(self) -> int:
        """The finalized ``transaction.version``, read at each write."""
        return self._transaction_version()

    @classmethod
    def create(
        cls,
        config: TransactionConfig,
        clock: ReactorTime,
        metadata: IMetadataStore,
        controller: TopicCreator,
        partitions: Partitions,
        transaction_version: Callable[[], int],
    ) -> TransactionStateLog:
        """The log over C{partitions}; the topic is created through C{controller} on first use."""
        topic = OffsetsTopic(
            config.num_partitions,
            clock,
            metadata,
            controller,
            partitions,
            name=rec.TRANSACTION_STATE_TOPIC,
            configs=rec.transaction_topic_configs(config.segment_bytes),
        )
        return cls(topic, transaction_version)

    def ensure(self) -> Deferred[TopicState]:
        """The topic, created on first use."""
        return self._topic.ensure()

    def partition_for(self, transactional_id: str) -> int:
        """The partition that holds C{transactional_id}."""
        return self._topic.partition_of(transactional_id)

    def current(self) -> TopicState | None:
        """The topic, if the metadata holds it."""
        return self._topic.current()

    def write(self, transactional_id: str, transit: TxnTransit) -> Deferred[AppendInfo]:
        """Append the record of a transition; fires once it is in the log."""
        key = rec.encode_key(transactional_id)
        return self._topic.append(
            transactional_id, [(key, rec.encode_value(transit, self.transaction_version))]
        )

    def remove(self, transactional_id: str) -> Deferred[AppendInfo]:
        """Append the tombstone of an expired id."""
        return self._topic.append(transactional_id, [(rec.encode_key(transactional_id), None)])

    def load_partition(self, partition: int) -> Deferred[dict[str, TransactionMetadata]]:
        """
        Replay one partition; fires with its transactional ids' last state.

        Kafka's C{loadTransactionsForTxnTopicPartition}, run when this broker
        is elected leader of the partition. Fails with the log's error (a
        L{kafkatwist.errors.KafkaError} when the log is not ready here).
        """
        return Deferred.fromCoroutine(self._load(partition))

    async def _load(self, partition: int) -> dict[str, TransactionMetadata]:
        txns: dict[str, TransactionMetadata] = {}
        topic = self._topic.current()
        if topic is None or partition not in topic.partitions:
            return txns
        log = self._topic.partition_log(topic, partition)
        if log is None:
            return txns
        name = f"{topic.name}-{partition}"
        count = await replay_log(log, name, _replayer(name, txns))
        if count:
            self._log.info(
                "Loaded {n} transactional ids from {records} records of {partition}",
                n=len(txns),
                records=count,
                partition=name,
            )
        return txns


def _replayer(name: str, txns: dict[str, TransactionMetadata]) -> BatchReplayer:
    def replay_one(key: bytes | None, value: bytes | None) -> None:
        decoded = rec.decode_record(key, value)
        if decoded is None:
            return
        if decoded.value is None:
            txns.pop(decoded.transactional_id, None)
        else:
            txns[decoded.transactional_id] = TransactionMetadata.from_transit(
                decoded.transactional_id, decoded.value
            )

    def replay(header: BatchHeader, records: list[Record]) -> int:
        if header.is_control:
            return 0
        return replay_records(name, records, replay_one)

    return replay
