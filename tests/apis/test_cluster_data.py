"""The data APIs on broker 1 of three (L{tests.cluster_support.StaticCluster}): who leads what."""

from __future__ import annotations

from typing import Any, cast

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import (
    delete_records,
    describe_producers,
    fetch,
    list_offsets,
    offset_for_leader_epoch,
    produce,
)
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.delete_records import (
    DeleteRecordsPartition,
    DeleteRecordsRequest,
    DeleteRecordsTopic,
)
from kafkatwist.messages.describe_producers import DescribeProducersRequest
from kafkatwist.messages.describe_producers import TopicRequest as ProducersTopic
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchTopic
from kafkatwist.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kafkatwist.messages.offset_for_leader_epoch import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore, IPartitionLog
from kafkatwist.wire import schema
from kafkatwist.wire.record import build_batch
from tests.brokers import call, make_broker
from tests.cluster_support import StaticCluster, move_leader

NOT_LEADER = ErrorCode.NOT_LEADER_OR_FOLLOWER


def batch() -> bytes:
    return build_batch([(None, b"v")], base_timestamp=1_700_000_000_000)


class _LoadingLogs:
    """
    The logs, but those in C{loading} are still being loaded (fault injection).

    As the PostgreSQL engine's log manager after an election: C{get} has no
    log yet, and C{create} of a partition the image knows refuses with
    NOT_LEADER_OR_FOLLOWER until the load is done.
    """

    def __init__(self, logs: ILogManager) -> None:
        self._logs = logs
        self.loading: set[tuple[str, int]] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)

    def get(self, topic: str, partition: int) -> IPartitionLog | None:
        if (topic, partition) in self.loading:
            return None
        return self._logs.get(topic, partition)

    def create(self, topic: str, partition: int, config: LogConfig) -> IPartitionLog:
        if (topic, partition) in self.loading:
            raise KafkaError(NOT_LEADER, f"{topic}-{partition} is still loading")
        return self._logs.create(topic, partition, config)


class ClusterDataTests(SynchronousTestCase):
    """find_partition's answers, and KIP-951's current leader, on broker 1 of three."""

    def setUp(self) -> None:
        self.cluster: StaticCluster | None = None
        self.loading: _LoadingLogs | None = None

        def build(store: IMetadataStore) -> StaticCluster:
            self.cluster = StaticCluster(store)
            return self.cluster

        def wrap(logs: ILogManager) -> ILogManager:
            self.loading = _LoadingLogs(logs)
            return cast(ILogManager, self.loading)

        self.broker = make_broker(cluster=build, wrap_logs=wrap)
        # Round robin over 1, 2, 3: partition i is led by broker i + 1.
        self.successResultOf(self.broker.controller.create_topic("t", 3, 1))

    def call(self, spec: ApiSpec, request: Any, version: int) -> Any:
        response = self.successResultOf(call(self.broker, spec, request, version))
        schema.encode_bytes(response, version)
        return response

    def produce(self, partition: int, version: int = 11) -> Any:
        request = ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=(
                TopicProduceData(
                    name="t", partition_data=(PartitionProduceData(partition, batch()),)
                ),
            ),
        )
        return self.call(produce.SPEC, request, version)

    def fetch(self, partition: int, version: int = 16, epoch: int = -1) -> Any:
        topic = self.broker.metadata.image.topics["t"]
        request = FetchRequest(
            max_wait_ms=0,
            min_bytes=0,
            max_bytes=1 << 20,
            topics=(
                FetchTopic(
                    topic="t",
                    topic_id=topic.topic_id,
                    partitions=(
                        FetchPartition(
                            partition=partition,
                            current_leader_epoch=epoch,
                            fetch_offset=0,
                            partition_max_bytes=1 << 20,
                        ),
                    ),
                ),
            ),
        )
        return self.call(fetch.SPEC, request, version)

    def test_produce_to_own_partition(self) -> None:
        """The partition this broker leads takes the records."""
        p = self.produce(0).responses[0].partition_responses[0]
        self.assertEqual((p.error_code, p.base_offset), (0, 0))

    def test_produce_elsewhere(self) -> None:
        """Another broker's partition is NOT_LEADER_OR_FOLLOWER with its leader (v10+)."""
        response = self.produce(1)
        p = response.responses[0].partition_responses[0]
        self.assertEqual(p.error_code, NOT_LEADER)
        self.assertEqual((p.current_leader.leader_id, p.current_leader.leader_epoch), (2, 0))
        self.assertEqual(
            [(n.node_id, n.host, n.port, n.rack) for n in response.node_endpoints],
            [(2, "broker-2.example", 9192, "rack-b")],
        )
        old = self.produce(1, version=9)
        p9 = old.responses[0].partition_responses[0]
        self.assertEqual(
            (p9.error_code, p9.current_leader.leader_id, old.node_endpoints), (6, -1, ())
        )

    def test_produce_to_dead_leader(self) -> None:
        """A leader that is not live is named, without an endpoint."""
        assert self.cluster is not None
        self.cluster.live.discard(3)
        response = self.produce(2)
        p = response.responses[0].partition_responses[0]
        self.assertEqual((p.error_code, p.current_leader.leader_id), (NOT_LEADER, 3))
        self.assertEqual(response.node_endpoints, ())

    def test_leader_moved_away(self) -> None:
        """Once the image moves the leader, this broker refuses with the new leader and epoch."""
        self.successResultOf(move_leader(self.broker, "t", 0, 2, replicas=(1, 2)))
        p = self.produce(0).responses[0].partition_responses[0]
        self.assertEqual(
            (p.error_code, p.current_leader.leader_id, p.current_leader.leader_epoch),
            (NOT_LEADER, 2, 1),
        )

    def test_fetch_elsewhere(self) -> None:
        """Fetch v16 names the leader and its endpoint; v15 has no current leader to give."""
        response = self.fetch(1)
        p = response.responses[0].partitions[0]
        self.assertEqual((p.error_code, p.current_leader.leader_id), (NOT_LEADER, 2))
        self.assertEqual([n.node_id for n in response.node_endpoints], [2])
        old = self.fetch(1, version=15).responses[0].partitions[0]
        self.assertEqual((old.error_code, old.current_leader.leader_id), (NOT_LEADER, -1))

    def test_epoch_checked_first(self) -> None:
        """A follower replica checks the client's leader epoch before leadership, as Kafka."""
        self.successResultOf(move_leader(self.broker, "t", 0, 2, replicas=(1, 2)))
        fenced = self.fetch(0, epoch=0).responses[0].partitions[0]
        self.assertEqual(
            (
                fenced.error_code,
                fenced.current_leader.leader_id,
                fenced.current_leader.leader_epoch,
            ),
            (ErrorCode.FENCED_LEADER_EPOCH, 2, 1),
        )
        current = self.fetch(0, epoch=1).responses[0].partitions[0]
        self.assertEqual(current.error_code, NOT_LEADER)
        # Not a replica at all: no epoch to check against.
        other = self.fetch(1, epoch=7).responses[0].partitions[0]
        self.assertEqual(other.error_code, NOT_LEADER)

    def test_offset_apis_elsewhere(self) -> None:
        """ListOffsets, OffsetForLeaderEpoch, DeleteRecords, DescribeProducers: NOT_LEADER."""
        offsets = self.call(
            list_offsets.SPEC,
            ListOffsetsRequest(
                replica_id=-1,
                topics=(ListOffsetsTopic("t", (ListOffsetsPartition(1, timestamp=-1),)),),
            ),
            7,
        )
        epochs = self.call(
            offset_for_leader_epoch.SPEC,
            OffsetForLeaderEpochRequest(
                replica_id=-1,
                topics=(OffsetForLeaderTopic("t", (OffsetForLeaderPartition(1, -1, 0),)),),
            ),
            4,
        )
        deleted = self.call(
            delete_records.SPEC,
            DeleteRecordsRequest(
                topics=(DeleteRecordsTopic("t", (DeleteRecordsPartition(1, 0),)),), timeout_ms=1000
            ),
            2,
        )
        producers = self.call(
            describe_producers.SPEC,
            DescribeProducersRequest(topics=(ProducersTopic("t", (1,)),)),
            0,
        )
        self.assertEqual(
            [
                offsets.topics[0].partitions[0].error_code,
                epochs.topics[0].partitions[0].error_code,
                deleted.topics[0].partitions[0].error_code,
                producers.topics[0].partitions[0].error_code,
            ],
            [NOT_LEADER] * 4,
        )

    def test_log_still_loading(self) -> None:
        """A partition led here whose log is still loading is NOT_LEADER_OR_FOLLOWER."""
        assert self.loading is not None
        self.loading.loading.add(("t", 0))
        p = self.produce(0).responses[0].partition_responses[0]
        self.assertEqual((p.error_code, p.current_leader.leader_id), (NOT_LEADER, 1))
        self.loading.loading.clear()
        self.assertEqual(self.produce(0).responses[0].partition_responses[0].error_code, 0)
