"""``__transaction_state``: writing transitions to it and replaying it at start.

Kafka's C{TransactionStateManager} appends each prepared transition
(C{appendTransactionToLog}) to the partition of the transactional id and
completes it only once the append is done; at start it reads every
partition (C{loadTransactionsForTxnTopicPartition}) and keeps the last
record of each id, a tombstone removing it.

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

    def coordinator_epoch(self, transactional_id: str) -> int:
        """The coordinator epoch of the id's partition: its leader epoch (0 without the topic)."""
        topic = self._topic.current()
        if topic is None:
            return 0
        p = self._topic.partition_of(transactional_id)
        state = topic.partitions.get(p)
        return max(state.leader_epoch, 0) if state is not None else 0

    def write(self, transactional_id: str, transit: TxnTransit) -> Deferred[AppendInfo]:
        """Append the record of a transition; fires once it is in the log."""
        key = rec.encode_key(transactional_id)
        return self._topic.append(
            transactional_id, [(key, rec.encode_value(transit, self.transaction_version))]
        )

    def remove(self, transactional_id: str) -> Deferred[AppendInfo]:
        """Append the tombstone of an expired id."""
        return self._topic.append(transactional_id, [(rec.encode_key(transactional_id), None)])

    def load(self) -> Deferred[dict[str, TransactionMetadata]]:
        """Replay every partition; fires with the transactional ids' last state."""
        return Deferred.fromCoroutine(self._load())

    async def _load(self) -> dict[str, TransactionMetadata]:
        txns: dict[str, TransactionMetadata] = {}
        topic = self._topic.current()
        if topic is None:
            return txns
        count = 0
        for p in sorted(topic.partitions):
            log = self._topic.partition_log(topic, p)
            if log is not None:
                name = f"{topic.name}-{p}"
                count += await replay_log(log, name, _replayer(name, txns))
        self._log.info(
            "Loaded {n} transactional ids from {records} __transaction_state records",
            n=len(txns),
            records=count,
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
