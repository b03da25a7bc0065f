"""The cluster-level admin APIs authorize as Kafka, and answer a refusal with its error response."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.messages import alter_client_quotas as acq
from kafkatwist.messages import alter_partition_reassignments as apr
from kafkatwist.messages import alter_replica_log_dirs as arld
from kafkatwist.messages import describe_client_quotas as dcq
from kafkatwist.messages import describe_quorum as dq
from kafkatwist.messages import elect_leaders as el
from kafkatwist.messages import list_partition_reassignments as lpr
from kafkatwist.messages.describe_cluster import DescribeClusterRequest, DescribeClusterResponse
from kafkatwist.messages.describe_log_dirs import (
    DescribableLogDirTopic,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
)
from kafkatwist.messages.get_telemetry_subscriptions import (
    GetTelemetrySubscriptionsRequest,
    GetTelemetrySubscriptionsResponse,
)
from kafkatwist.messages.list_config_resources import (
    ListConfigResourcesRequest,
    ListConfigResourcesResponse,
)
from kafkatwist.messages.update_features import (
    FeatureUpdateKey,
    UpdateFeaturesRequest,
    UpdateFeaturesResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from tests.brokers import make_broker
from tests.security.authz_support import acl, authorize, on_cluster, send

OP = AclOperation
CAF = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
INT32_MIN = -(2**31)


def bits(*operations: AclOperation) -> int:
    """KIP-430's bit field of C{operations}."""
    return sum(1 << op.value for op in operations)


class DescribeClusterAuthorizationTests(SynchronousTestCase):
    """No ACL is needed; KIP-430's field shows the cluster operations allowed."""

    def setUp(self) -> None:
        self.broker = make_broker()

    def operations(self, asked: bool = True) -> int:
        request = DescribeClusterRequest(include_cluster_authorized_operations=asked)
        response = self.successResultOf(send(self.broker, request, DescribeClusterResponse, 1))
        self.assertEqual((response.error_code, len(response.brokers)), (0, 1))
        return response.cluster_authorized_operations

    def test_no_acl_needed(self) -> None:
        """Without ACLs the cluster is still described, with no operations when asked."""
        authorize(self.broker)
        self.assertEqual(self.operations(asked=False), INT32_MIN)
        self.assertEqual(self.operations(), 0)

    def test_describe(self) -> None:
        """DESCRIBE on the cluster shows DESCRIBE."""
        authorize(self.broker, on_cluster(OP.DESCRIBE))
        self.assertEqual(self.operations(), bits(OP.DESCRIBE))

    def test_implied_describe(self) -> None:
        """ALTER implies DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS."""
        authorize(self.broker, on_cluster(OP.ALTER), on_cluster(OP.ALTER_CONFIGS))
        self.assertEqual(
            self.operations(),
            bits(OP.ALTER, OP.DESCRIBE, OP.ALTER_CONFIGS, OP.DESCRIBE_CONFIGS),
        )

    def test_without_describe_nothing(self) -> None:
        """Kafka answers 0 without DESCRIBE, even when other cluster operations are allowed."""
        authorize(self.broker, on_cluster(OP.CREATE), on_cluster(OP.IDEMPOTENT_WRITE))
        self.assertEqual(self.operations(), 0)

    def test_all(self) -> None:
        """ALL on the cluster shows every cluster operation (8096)."""
        authorize(self.broker, on_cluster(OP.ALL))
        self.assertEqual(self.operations(), 8096)

    def test_deny(self) -> None:
        """A DENY takes its operation out of ALL."""
        authorize(self.broker, on_cluster(OP.ALL), on_cluster(OP.CREATE, deny=True))
        self.assertEqual(self.operations(), 8096 - bits(OP.CREATE))


class ClusterOperationTests(SynchronousTestCase):
    """Each cluster-level API: refused without its operation, served with it."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def test_describe_log_dirs(self) -> None:
        """DescribeLogDirs needs DESCRIBE: else no results and, v3+, the top-level error."""
        authorize(self.broker, on_cluster(OP.ALTER_CONFIGS))
        request = DescribeLogDirsRequest(topics=None)
        for version, code in ((1, 0), (3, CAF), (4, CAF)):
            response = self.successResultOf(
                send(self.broker, request, DescribeLogDirsResponse, version)
            )
            self.assertEqual((response.error_code, response.results), (code, ()))
        authorize(self.broker, on_cluster(OP.DESCRIBE))
        response = self.successResultOf(send(self.broker, request, DescribeLogDirsResponse, 4))
        self.assertEqual(response.error_code, 0)
        self.assertEqual(len(response.results), 1)

    def test_describe_log_dirs_topics(self) -> None:
        """Asked for a topic, a refused DescribeLogDirs still reveals nothing about it."""
        authorize(self.broker, acl(ResourceType.TOPIC, "t", OP.ALL))
        request = DescribeLogDirsRequest(topics=(DescribableLogDirTopic("t", (0,)),))
        response = self.successResultOf(send(self.broker, request, DescribeLogDirsResponse, 2))
        self.assertEqual(response.results, ())

    def test_alter_replica_log_dirs(self) -> None:
        """AlterReplicaLogDirs needs ALTER: else every partition is CLUSTER_AUTHORIZATION_FAILED."""
        authorize(self.broker, on_cluster(OP.DESCRIBE))
        request = arld.AlterReplicaLogDirsRequest(
            dirs=(
                arld.AlterReplicaLogDir(
                    path=self.broker.config.log_dirs[0],
                    topics=(arld.AlterReplicaLogDirTopic(name="t", partitions=(0, 5)),),
                ),
            )
        )
        response = self.successResultOf(
            send(self.broker, request, arld.AlterReplicaLogDirsResponse, 2)
        )
        self.assertEqual(
            [
                (r.topic_name, [(p.partition_index, p.error_code) for p in r.partitions])
                for r in response.results
            ],
            [("t", [(0, CAF), (5, CAF)])],
        )
        authorize(self.broker, on_cluster(OP.ALTER))
        response = self.successResultOf(
            send(self.broker, request, arld.AlterReplicaLogDirsResponse, 2)
        )
        self.assertNotIn(CAF, [p.error_code for r in response.results for p in r.partitions])

    def test_elect_leaders(self) -> None:
        """ElectLeaders needs ALTER: else the top-level error (v1+) and each partition asked for."""
        authorize(self.broker, on_cluster(OP.DESCRIBE))
        asked = (el.TopicPartitions(topic="t", partitions=(0,)),)
        for version, top in ((0, 0), (1, CAF), (2, CAF)):
            request = el.ElectLeadersRequest(
                election_type=0, topic_partitions=asked, timeout_ms=1000
            )
            response = self.successResultOf(
                send(self.broker, request, el.ElectLeadersResponse, version)
            )
            self.assertEqual(response.error_code, top)
            self.assertEqual(
                [
                    (r.topic, [(p.partition_id, p.error_code) for p in r.partition_result])
                    for r in response.replica_election_results
                ],
                [("t", [(0, CAF)])],
            )
        every = el.ElectLeadersRequest(election_type=0, topic_partitions=None, timeout_ms=1000)
        response = self.successResultOf(send(self.broker, every, el.ElectLeadersResponse, 2))
        self.assertEqual((response.error_code, response.replica_election_results), (CAF, ()))
        authorize(self.broker, on_cluster(OP.ALTER))
        response = self.successResultOf(send(self.broker, every, el.ElectLeadersResponse, 2))
        self.assertEqual(response.error_code, 0)

    def test_alter_partition_reassignments(self) -> None:
        """AlterPartitionReassignments needs ALTER: else the error on top and on each partition."""
        authorize(self.broker, on_cluster(OP.DESCRIBE))
        request = apr.AlterPartitionReassignmentsRequest(
            timeout_ms=1000,
            topics=(
                apr.ReassignableTopic(
                    name="t",
                    partitions=(apr.ReassignablePartition(partition_index=0, replicas=(1,)),),
                ),
            ),
        )
        response = self.successResultOf(
            send(self.broker, request, apr.AlterPartitionReassignmentsResponse, 0)
        )
        self.assertEqual(response.error_code, CAF)
        self.assertEqual(
            [
                (r.name, [(p.partition_index, p.error_code) for p in r.partitions])
                for r in response.responses
            ],
            [("t", [(0, CAF)])],
        )
        authorize(self.broker, on_cluster(OP.ALTER))
        response = self.successResultOf(
            send(self.broker, request, apr.AlterPartitionReassignmentsResponse, 0)
        )
        self.assertEqual(response.error_code, 0)

    def test_list_partition_reassignments(self) -> None:
        """ListPartitionReassignments needs DESCRIBE: else the error and the asked topics echoed."""
        authorize(self.broker, on_cluster(OP.CREATE))
        request = lpr.ListPartitionReassignmentsRequest(
            timeout_ms=1000,
            topics=(lpr.ListPartitionReassignmentsTopics(name="t", partition_indexes=(0, 1)),),
        )
        response = self.successResultOf(
            send(self.broker, request, lpr.ListPartitionReassignmentsResponse, 0)
        )
        self.assertEqual(response.error_code, CAF)
        self.assertEqual(
            [
                (t.name, [(p.partition_index, p.replicas) for p in t.partitions])
                for t in response.topics
            ],
            [("t", [(0, ()), (1, ())])],
        )
        authorize(self.broker, on_cluster(OP.ALTER))  # implies DESCRIBE
        response = self.successResultOf(
            send(self.broker, request, lpr.ListPartitionReassignmentsResponse, 0)
        )
        self.assertEqual((response.error_code, response.topics), (0, ()))

    def test_describe_client_quotas(self) -> None:
        """DescribeClientQuotas needs DESCRIBE_CONFIGS: else the error and null entries."""
        authorize(self.broker, on_cluster(OP.DESCRIBE))
        request = dcq.DescribeClientQuotasRequest(components=(), strict=False)
        response = self.successResultOf(
            send(self.broker, request, dcq.DescribeClientQuotasResponse, 1)
        )
        self.assertEqual((response.error_code, response.entries), (CAF, None))
        authorize(self.broker, on_cluster(OP.ALTER_CONFIGS))  # implies DESCRIBE_CONFIGS
        response = self.successResultOf(
            send(self.broker, request, dcq.DescribeClientQuotasResponse, 1)
        )
        self.assertEqual((response.error_code, response.entries), (0, ()))

    def test_alter_client_quotas(self) -> None:
        """AlterClientQuotas needs ALTER_CONFIGS: else each entry is refused and nothing is set."""
        authorize(self.broker, on_cluster(OP.DESCRIBE_CONFIGS))
        request = acq.AlterClientQuotasRequest(
            entries=(
                acq.EntryDataRequest(
                    entity=(acq.EntityData(entity_type="user", entity_name="bob"),),
                    ops=(acq.OpData(key="producer_byte_rate", value=1024.0, remove=False),),
                ),
            ),
            validate_only=False,
        )
        response = self.successResultOf(
            send(self.broker, request, acq.AlterClientQuotasResponse, 1)
        )
        self.assertEqual(
            [
                (e.error_code, e.error_message, [(d.entity_type, d.entity_name) for d in e.entity])
                for e in response.entries
            ],
            [(CAF, "Cluster authorization failed.", [("user", "bob")])],
        )
        self.assertEqual(dict(self.broker.metadata.image.client_quotas), {})
        authorize(self.broker, on_cluster(OP.ALTER_CONFIGS))
        response = self.successResultOf(
            send(self.broker, request, acq.AlterClientQuotasResponse, 1)
        )
        self.assertEqual([e.error_code for e in response.entries], [0])
        self.assertEqual(len(self.broker.metadata.image.client_quotas), 1)

    def test_update_features(self) -> None:
        """UpdateFeatures needs ALTER: else the top-level error and no results."""
        authorize(self.broker, on_cluster(OP.ALTER_CONFIGS))
        for version in (0, 1, 2):
            request = UpdateFeaturesRequest(
                timeout_ms=1000,
                feature_updates=(FeatureUpdateKey("group.version", 1, upgrade_type=1),),
                validate_only=version >= 1,
            )
            response = self.successResultOf(
                send(self.broker, request, UpdateFeaturesResponse, version)
            )
            self.assertEqual((response.error_code, response.results), (CAF, ()))
        authorize(self.broker, on_cluster(OP.ALTER))
        response = self.successResultOf(send(self.broker, request, UpdateFeaturesResponse, 2))
        self.assertEqual(response.error_code, 0)

    def test_describe_quorum(self) -> None:
        """DescribeQuorum needs DESCRIBE: else the top-level error, with Kafka's message at v2."""
        authorize(self.broker, on_cluster(OP.CREATE))
        request = dq.DescribeQuorumRequest(
            topics=(
                dq.TopicDataRequest(
                    topic_name="__cluster_metadata",
                    partitions=(dq.PartitionDataRequest(partition_index=0),),
                ),
            )
        )
        for version in (0, 2):
            response = self.successResultOf(
                send(self.broker, request, dq.DescribeQuorumResponse, version)
            )
            self.assertEqual((response.error_code, response.topics), (CAF, ()))
        self.assertEqual(response.error_message, "Cluster authorization failed.")
        authorize(self.broker, on_cluster(OP.DESCRIBE))
        response = self.successResultOf(send(self.broker, request, dq.DescribeQuorumResponse, 2))
        self.assertEqual((response.error_code, len(response.topics)), (0, 1))

    def test_list_config_resources(self) -> None:
        """ListConfigResources needs DESCRIBE_CONFIGS on the cluster: else the top-level error."""
        authorize(self.broker, acl(ResourceType.TOPIC, "*", OP.DESCRIBE_CONFIGS))
        request = ListConfigResourcesRequest(resource_types=())
        response = self.successResultOf(send(self.broker, request, ListConfigResourcesResponse, 1))
        self.assertEqual((response.error_code, response.config_resources), (CAF, ()))
        authorize(self.broker, on_cluster(OP.DESCRIBE_CONFIGS))
        response = self.successResultOf(send(self.broker, request, ListConfigResourcesResponse, 1))
        self.assertEqual(response.error_code, 0)
        self.assertIn("t", [r.resource_name for r in response.config_resources])

    def test_telemetry_needs_nothing(self) -> None:
        """GetTelemetrySubscriptions checks no ACL, as Kafka."""
        authorize(self.broker)
        request = GetTelemetrySubscriptionsRequest(client_instance_id=uuid.UUID(int=0))
        response = self.successResultOf(
            send(self.broker, request, GetTelemetrySubscriptionsResponse, 0)
        )
        self.assertEqual(response.error_code, 0)
        self.assertNotEqual(response.client_instance_id, uuid.UUID(int=0))
