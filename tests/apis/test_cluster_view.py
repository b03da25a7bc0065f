"""What a client sees of a three-broker cluster (L{tests.cluster_support.StaticCluster})."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import (
    describe_cluster,
    describe_configs,
    describe_log_dirs,
    describe_quorum,
    describe_topic_partitions,
    find_coordinator,
    list_config_resources,
    metadata,
)
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_cluster import DescribeClusterRequest
from kafkatwist.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResource
from kafkatwist.messages.describe_log_dirs import DescribeLogDirsRequest
from kafkatwist.messages.describe_quorum import (
    DescribeQuorumRequest,
    PartitionDataRequest,
    TopicDataRequest,
)
from kafkatwist.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest,
    TopicRequest,
)
from kafkatwist.messages.find_coordinator import FindCoordinatorRequest
from kafkatwist.messages.list_config_resources import ListConfigResourcesRequest
from kafkatwist.messages.metadata import MetadataRequest, MetadataRequestTopic
from kafkatwist.storage.kraft import METADATA_TOPIC, RESOURCE_BROKER
from kafkatwist.wire import schema
from tests.brokers import call, make_broker
from tests.cluster_support import StaticCluster, move_leader


class ClusterViewTests(SynchronousTestCase):
    """Metadata, DescribeCluster and the other cluster-wide answers of broker 1 of three."""

    def setUp(self) -> None:
        self.cluster: StaticCluster | None = None

        def build(store: Any) -> StaticCluster:
            self.cluster = StaticCluster(store)
            return self.cluster

        log_dir = tempfile.mkdtemp(prefix="kafkatwist-cluster-")
        self.addCleanup(shutil.rmtree, log_dir, ignore_errors=True)
        config = BrokerConfig.from_properties({"log.dirs": log_dir})
        self.broker = make_broker(config=config, log_dirs=[log_dir], cluster=build)
        assert self.cluster is not None
        # Round robin over 1, 2, 3: partition i is led by broker i + 1.
        self.successResultOf(self.broker.controller.create_topic("t", 3, 1))

    def call(self, spec: ApiSpec, request: Any, version: int) -> Any:
        response = self.successResultOf(call(self.broker, spec, request, version))
        schema.encode_bytes(response, version)
        return response

    def metadata(self, version: int = 12) -> Any:
        request = MetadataRequest(topics=(MetadataRequestTopic(name="t"),))
        return self.call(metadata.SPEC, request, version)

    def down(self, node: int) -> None:
        assert self.cluster is not None
        self.cluster.live.discard(node)

    def test_metadata_brokers(self) -> None:
        """Metadata lists the live brokers with their endpoints and racks, and the controller."""
        response = self.metadata()
        self.assertEqual(
            [(b.node_id, b.host, b.port, b.rack) for b in response.brokers],
            [
                (1, "127.0.0.1", 9092, "rack-a"),
                (2, "broker-2.example", 9192, "rack-b"),
                (3, "broker-3.example", 9292, None),
            ],
        )
        self.assertEqual(response.controller_id, 2)
        self.assertEqual(
            [(p.partition_index, p.error_code, p.leader_id) for p in response.topics[0].partitions],
            [(0, 0, 1), (1, 0, 2), (2, 0, 3)],
        )

    def test_leader_not_live(self) -> None:
        """A leader that is not live is LEADER_NOT_AVAILABLE, leader -1, epoch kept, offline."""
        self.successResultOf(move_leader(self.broker, "t", 2, 3))
        self.down(3)
        response = self.metadata()
        self.assertEqual([b.node_id for b in response.brokers], [1, 2])
        p = response.topics[0].partitions[2]
        self.assertEqual(
            (p.error_code, p.leader_id, p.leader_epoch, p.replica_nodes, p.offline_replicas),
            (ErrorCode.LEADER_NOT_AVAILABLE, -1, 1, (3,), (3,)),
        )

    def test_v0_lists_live_replicas(self) -> None:
        """At v0 only live replicas are listed; one missing is REPLICA_NOT_AVAILABLE."""
        self.successResultOf(move_leader(self.broker, "t", 0, 1, replicas=(1, 3)))
        self.down(3)
        p0 = self.metadata(0).topics[0].partitions[0]
        self.assertEqual(
            (p0.error_code, p0.leader_id, p0.replica_nodes, p0.isr_nodes),
            (ErrorCode.REPLICA_NOT_AVAILABLE, 1, (1,), (1,)),
        )
        p1 = self.metadata(1).topics[0].partitions[0]
        self.assertEqual((p1.error_code, p1.replica_nodes), (0, (1, 3)))

    def test_describe_cluster(self) -> None:
        """DescribeCluster lists the live brokers with racks, and the cluster's controller."""
        self.down(2)
        response = self.call(describe_cluster.SPEC, DescribeClusterRequest(), 2)
        self.assertEqual(response.controller_id, 2)
        self.assertEqual(
            [(b.broker_id, b.host, b.port, b.rack, b.is_fenced) for b in response.brokers],
            [(1, "127.0.0.1", 9092, "rack-a", False), (3, "broker-3.example", 9292, None, False)],
        )

    def test_describe_topic_partitions(self) -> None:
        """DescribeTopicPartitions answers leader -1 and offline replicas for a dead leader."""
        self.down(3)
        request = DescribeTopicPartitionsRequest(topics=(TopicRequest("t"),))
        response = self.call(describe_topic_partitions.SPEC, request, 0)
        self.assertEqual(
            [
                (p.error_code, p.leader_id, p.offline_replicas)
                for p in response.topics[0].partitions
            ],
            [(0, 1, ()), (0, 2, ()), (0, -1, (3,))],
        )

    def test_find_coordinator(self) -> None:
        """A group's coordinator is the live leader of its __consumer_offsets partition."""
        request = FindCoordinatorRequest(key="g", key_type=0, coordinator_keys=("g",))
        self.call(find_coordinator.SPEC, request, 4)  # creates __consumer_offsets
        partition = self.broker.groups.partition_for("g")
        self.successResultOf(move_leader(self.broker, "__consumer_offsets", partition, 2))
        v3 = self.call(find_coordinator.SPEC, request, 3)
        self.assertEqual(
            (v3.error_code, v3.node_id, v3.host, v3.port), (0, 2, "broker-2.example", 9192)
        )
        (v4,) = self.call(find_coordinator.SPEC, request, 4).coordinators
        self.assertEqual((v4.error_code, v4.node_id, v4.port), (0, 2, 9192))

    def test_coordinator_not_live(self) -> None:
        """A key whose partition's leader is not live is COORDINATOR_NOT_AVAILABLE."""
        request = FindCoordinatorRequest(key="g", key_type=0, coordinator_keys=("g",))
        self.call(find_coordinator.SPEC, request, 4)
        partition = self.broker.groups.partition_for("g")
        self.successResultOf(move_leader(self.broker, "__consumer_offsets", partition, 3))
        self.down(3)
        v3 = self.call(find_coordinator.SPEC, request, 3)
        self.assertEqual(
            (v3.error_code, v3.error_message, v3.node_id, v3.host, v3.port),
            (ErrorCode.COORDINATOR_NOT_AVAILABLE, "The coordinator is not available.", -1, "", -1),
        )
        (v4,) = self.call(find_coordinator.SPEC, request, 4).coordinators
        self.assertEqual(
            (v4.error_code, v4.error_message, v4.node_id),
            (ErrorCode.COORDINATOR_NOT_AVAILABLE, None, -1),
        )

    def test_describe_quorum(self) -> None:
        """The controller is the quorum's leader and voter; the other live brokers observe."""
        request = DescribeQuorumRequest(
            topics=(TopicDataRequest(METADATA_TOPIC, (PartitionDataRequest(0),)),)
        )
        response = self.call(describe_quorum.SPEC, request, 2)
        p = response.topics[0].partitions[0]
        self.assertEqual(p.leader_id, 2)
        self.assertEqual([(v.replica_id, v.log_end_offset) for v in p.current_voters], [(2, -1)])
        self.assertEqual(
            [(o.replica_id, o.log_end_offset) for o in p.observers],
            [(1, p.high_watermark), (3, -1)],
        )
        (node,) = response.nodes
        self.assertEqual(
            (node.node_id, [(x.host, x.port) for x in node.listeners]),
            (2, [("broker-2.example", 9192)]),
        )

    def test_describe_log_dirs(self) -> None:
        """DescribeLogDirs lists only the partitions this broker hosts (leads)."""
        response = self.call(describe_log_dirs.SPEC, DescribeLogDirsRequest(topics=None), 4)
        listed = [
            (t.name, [p.partition_index for p in t.partitions])
            for r in response.results
            for t in r.topics
        ]
        self.assertEqual(listed, [("t", [0])])

    def test_other_broker_configs(self) -> None:
        """DescribeConfigs for another broker's id is Kafka's INVALID_REQUEST (ask that broker)."""
        request = DescribeConfigsRequest(
            resources=(DescribeConfigsResource(RESOURCE_BROKER, "2", None),)
        )
        (result,) = self.call(describe_configs.SPEC, request, 4).results
        self.assertEqual(
            (result.error_code, result.error_message),
            (
                ErrorCode.INVALID_REQUEST,
                "Unexpected broker id, expected 1 or empty string, but received 2",
            ),
        )

    def test_list_config_resources(self) -> None:
        """ListConfigResources lists every live broker's id for BROKER."""
        request = ListConfigResourcesRequest(resource_types=(RESOURCE_BROKER,))
        response = self.call(list_config_resources.SPEC, request, 1)
        self.assertEqual([r.resource_name for r in response.config_resources], ["1", "2", "3"])
