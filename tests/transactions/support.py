"""A broker with a topic and helpers to drive transactions through the real handlers."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    end_txn,
    init_producer_id,
    produce,
)
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.broker import Broker
from kafkatwist.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from kafkatwist.messages.add_partitions_to_txn import (
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnTopic,
)
from kafkatwist.messages.end_txn import EndTxnRequest, EndTxnResponse
from kafkatwist.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse
from kafkatwist.messages.produce import (
    PartitionProduceData,
    PartitionProduceResponse,
    ProduceRequest,
    TopicProduceData,
)
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.metadata_image import RESOURCE_BROKER
from kafkatwist.transactions.metadata import TopicPartition, TransactionMetadata
from kafkatwist.transactions.service import TransactionService
from kafkatwist.wire.batch import iter_batches
from tests.brokers import call, clock_of, log_of, make_broker
from tests.client_batches import client_batch

TOPIC = "t"


def stored_headers(log: IPartitionLog) -> list[tuple[int, bool, bool, int, int]]:
    """(base offset, control, transactional, producer id, epoch) of every batch of a log."""
    out = []
    result = log.read(log.log_start_offset, 1 << 20)
    read: list[Any] = []
    result.addCallback(read.append)
    for buf in read[0].buffers:
        for _, h in iter_batches(buf):
            out.append(
                (h.base_offset, h.is_control, h.is_transactional, h.producer_id, h.producer_epoch)
            )
    return out


class TxnTestCase(SynchronousTestCase):
    """A broker (synchronous file logs, a Clock) with topic C{t} of 2 partitions."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic(TOPIC, 2))

    @property
    def clock(self) -> Any:
        return clock_of(self.broker)

    @property
    def service(self) -> TransactionService:
        return self.broker.transactions

    def txn(self, tid: str) -> TransactionMetadata:
        return self.service.coordinator.txns[tid]

    def mark_loading(self, tid: str) -> None:
        """Put the __transaction_state partition of C{tid} back to loading, as an election does."""
        coordinator = self.service.coordinator
        self.successResultOf(coordinator.state_log.ensure())
        coordinator.partitions.start_loading(coordinator.partition_of(tid), 0)

    def call(self, spec: ApiSpec, request: Any, version: int, broker: Broker | None = None) -> Any:
        d: Deferred[Any] = call(broker or self.broker, spec, request, version)
        return self.successResultOf(d)

    def call_later(self, spec: ApiSpec, request: Any, version: int) -> Deferred[Any]:
        """Call a handler whose answer may wait for the clock."""
        d: Deferred[Any] = call(self.broker, spec, request, version)
        return d

    def set_cluster_config(self, key: str, value: str | None) -> None:
        """Set (None: delete) a cluster-wide dynamic broker config."""
        changes = {key: value}
        self.successResultOf(self.broker.controller.set_configs(RESOURCE_BROKER, "", changes))

    def init(
        self,
        tid: str,
        version: int = 4,
        timeout_ms: int = 60000,
        pid: int = -1,
        epoch: int = -1,
    ) -> InitProducerIdResponse:
        request = InitProducerIdRequest(
            transactional_id=tid,
            transaction_timeout_ms=timeout_ms,
            producer_id=pid,
            producer_epoch=epoch,
        )
        response: InitProducerIdResponse = self.call(init_producer_id.SPEC, request, version)
        return response

    def add(
        self,
        tid: str,
        pid: int,
        epoch: int,
        partitions: list[TopicPartition],
        version: int = 3,
    ) -> dict[TopicPartition, int]:
        by_topic: dict[str, list[int]] = {}
        for t, p in partitions:
            by_topic.setdefault(t, []).append(p)
        topics = tuple(
            AddPartitionsToTxnTopic(name=t, partitions=tuple(ps)) for t, ps in by_topic.items()
        )
        request = AddPartitionsToTxnRequest(
            v3_and_below_transactional_id=tid,
            v3_and_below_producer_id=pid,
            v3_and_below_producer_epoch=epoch,
            v3_and_below_topics=topics,
        )
        response = self.call(add_partitions_to_txn.SPEC, request, version)
        return {
            (t.name, r.partition_index): r.partition_error_code
            for t in response.results_by_topic_v3_and_below
            for r in t.results_by_partition
        }

    def add_offsets(self, tid: str, pid: int, epoch: int, group: str, version: int = 3) -> int:
        request = AddOffsetsToTxnRequest(
            transactional_id=tid, producer_id=pid, producer_epoch=epoch, group_id=group
        )
        code: int = self.call(add_offsets_to_txn.SPEC, request, version).error_code
        return code

    def end(
        self, tid: str, pid: int, epoch: int, commit: bool = True, version: int = 3
    ) -> EndTxnResponse:
        request = EndTxnRequest(
            transactional_id=tid, producer_id=pid, producer_epoch=epoch, committed=commit
        )
        response: EndTxnResponse = self.call(end_txn.SPEC, request, version)
        return response

    def produce_request(
        self,
        tid: str | None,
        pid: int,
        epoch: int,
        partition: int = 0,
        seq: int = 0,
        count: int = 1,
    ) -> ProduceRequest:
        """A Produce of one transactional batch to one partition of the topic."""
        batch = client_batch(seq, count, producer_id=pid, epoch=epoch, is_transactional=True)
        return ProduceRequest(
            transactional_id=tid,
            acks=-1,
            timeout_ms=30000,
            topic_data=(
                TopicProduceData(
                    name=TOPIC,
                    partition_data=(PartitionProduceData(index=partition, records=batch),),
                ),
            ),
        )

    def produce(
        self,
        tid: str | None,
        pid: int,
        epoch: int,
        seq: int = 0,
        partition: int = 0,
        version: int = 9,
        count: int = 1,
    ) -> PartitionProduceResponse:
        request = self.produce_request(tid, pid, epoch, partition, seq, count)
        response = self.call(produce.SPEC, request, version)
        part: PartitionProduceResponse = response.responses[0].partition_responses[0]
        return part

    def log(self, partition: int = 0, topic: str = TOPIC) -> IPartitionLog:
        return log_of(self.broker, topic, partition)

    def markers(self, partition: int = 0, topic: str = TOPIC) -> list[tuple[int, int]]:
        """(producer id, epoch) of every control batch in a partition."""
        return [
            (pid, epoch)
            for _, control, _, pid, epoch in stored_headers(self.log(partition, topic))
            if control
        ]
