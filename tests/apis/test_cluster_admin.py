"""DescribeQuorum, ElectLeaders, Alter- and ListPartitionReassignments on one broker."""

from __future__ import annotations

import uuid
from typing import Any

from kafka.protocol.admin.cluster import DescribeQuorumRequest as ClientQuorumRequest
from kafka.protocol.admin.cluster import DescribeQuorumResponse as ClientQuorumResponse
from kafka.protocol.admin.topics import AlterPartitionReassignmentsRequest as ClientAlterRequest
from kafka.protocol.admin.topics import AlterPartitionReassignmentsResponse as ClientAlterResponse
from kafka.protocol.admin.topics import ElectLeadersRequest as ClientElectRequest
from kafka.protocol.admin.topics import ElectLeadersResponse as ClientElectResponse
from kafka.protocol.admin.topics import ListPartitionReassignmentsRequest as ClientListRequest
from kafka.protocol.admin.topics import ListPartitionReassignmentsResponse as ClientListResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import (
    REGISTRY,
    alter_partition_reassignments,
    describe_quorum,
    elect_leaders,
    list_partition_reassignments,
)
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    ReassignablePartition,
    ReassignableTopic,
)
from kafkatwist.messages.describe_quorum import (
    DescribeQuorumRequest,
    PartitionDataRequest,
    TopicDataRequest,
)
from kafkatwist.messages.elect_leaders import ElectLeadersRequest, TopicPartitions
from kafkatwist.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsTopics,
)
from kafkatwist.wire import schema
from tests.brokers import call, clock_of, make_broker, metadata_of
from tests.offsets_support import client_roundtrip

NOW_MS = 1_700_000_000_000


class AdminTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 2))

    def call(self, spec: ApiSpec, request: Any, version: int) -> Any:
        response = self.successResultOf(call(self.broker, spec, request, version))
        schema.encode_bytes(response, version)
        return response


class DescribeQuorumTests(AdminTestCase):
    def request(self, topic: str = "__cluster_metadata", partition: int = 0) -> Any:
        return DescribeQuorumRequest(
            topics=(TopicDataRequest(topic, (PartitionDataRequest(partition),)),)
        )

    def test_registered(self) -> None:
        """DescribeQuorum is registered with versions 0-2."""
        spec = describe_quorum.SPEC
        self.assertIn(spec, REGISTRY)
        self.assertEqual((spec.versions.lowest, spec.versions.highest), (0, 2))

    def test_single_voter_leader(self) -> None:
        """This broker leads __cluster_metadata-0 as its only voter, at the log's end."""
        metadata = metadata_of(self.broker)
        metadata.epoch = 3
        self.broker.metadata_directory_id = directory = uuid.uuid4()
        response = self.call(describe_quorum.SPEC, self.request(), 2)
        self.assertEqual((response.error_code, response.error_message), (0, None))
        (topic,) = response.topics
        (p,) = topic.partitions
        self.assertEqual(topic.topic_name, "__cluster_metadata")
        self.assertEqual(
            (p.partition_index, p.error_code, p.leader_id, p.leader_epoch, p.high_watermark),
            (0, 0, 1, 3, metadata.next_offset),
        )
        self.assertGreater(p.high_watermark, 0)
        (voter,) = p.current_voters
        self.assertEqual(
            (
                voter.replica_id,
                voter.replica_directory_id,
                voter.log_end_offset,
                voter.last_fetch_timestamp,
                voter.last_caught_up_timestamp,
            ),
            (1, directory, metadata.next_offset, NOW_MS, NOW_MS),
        )
        self.assertEqual(p.observers, ())
        (node,) = response.nodes
        self.assertEqual(
            (node.node_id, [(x.name, x.host, x.port) for x in node.listeners]),
            (1, [("PLAINTEXT", "127.0.0.1", 9092)]),
        )
        clock_of(self.broker).advance(2)
        later = self.call(describe_quorum.SPEC, self.request(), 1)
        self.assertEqual(
            later.topics[0].partitions[0].current_voters[0].last_fetch_timestamp, NOW_MS + 2000
        )

    def test_controller_listeners(self) -> None:
        """v2 lists the configured controller listeners as the node's."""
        config = BrokerConfig.from_properties(
            {
                "listeners": "PLAINTEXT://:9092,CONTROLLER://ctl.example:9093",
                "controller.listener.names": "CONTROLLER",
            }
        )
        self.broker = make_broker(config=config)
        (node,) = self.call(describe_quorum.SPEC, self.request(), 2).nodes
        self.assertEqual(
            [(x.name, x.host, x.port) for x in node.listeners],
            [("CONTROLLER", "ctl.example", 9093)],
        )

    def test_other_partitions_unknown(self) -> None:
        """Another topic or partition is UNKNOWN_TOPIC_OR_PARTITION per partition, top NONE."""
        for request in (self.request("t", 0), self.request(partition=1)):
            response = self.call(describe_quorum.SPEC, request, 2)
            self.assertEqual(response.error_code, 0)
            (p,) = response.topics[0].partitions
            self.assertEqual(p.error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        response = self.call(describe_quorum.SPEC, DescribeQuorumRequest(topics=()), 0)
        self.assertEqual((response.error_code, response.topics), (0, ()))

    def test_kafka_python_every_version(self) -> None:
        """kafka-python's request is answered and its decoder reads our answers, v0-v2."""
        for version in (0, 1, 2):
            request = ClientQuorumRequest(
                topics=[
                    ClientQuorumRequest.TopicData(
                        topic_name="__cluster_metadata",
                        partitions=[ClientQuorumRequest.TopicData.PartitionData(partition_index=0)],
                    )
                ]
            )
            response = client_roundtrip(
                self, self.broker, describe_quorum.SPEC, request, ClientQuorumResponse, version
            )
            p = response.topics[0].partitions[0]
            self.assertEqual((p.leader_id, p.current_voters[0].replica_id), (1, 1))
            if version >= 2:
                self.assertEqual(response.nodes[0].node_id, 1)


class ElectLeadersTests(AdminTestCase):
    def test_registered(self) -> None:
        """ElectLeaders is registered with versions 0-2."""
        spec = elect_leaders.SPEC
        self.assertIn(spec, REGISTRY)
        self.assertEqual((spec.versions.lowest, spec.versions.highest), (0, 2))

    def test_named_partitions(self) -> None:
        """Known partitions need no election; unknown topics and partitions are named as such."""
        request = ElectLeadersRequest(
            election_type=0,
            topic_partitions=(TopicPartitions("t", (0, 1, 5)), TopicPartitions("nope", (0,))),
        )
        for election_type in (0, 1):
            request = ElectLeadersRequest(
                election_type=election_type, topic_partitions=request.topic_partitions
            )
            response = self.call(elect_leaders.SPEC, request, 2)
            self.assertEqual(response.error_code, 0)
            self.assertEqual(
                [
                    (r.topic, p.partition_id, p.error_code, p.error_message)
                    for r in response.replica_election_results
                    for p in r.partition_result
                ],
                [
                    ("t", 0, ErrorCode.ELECTION_NOT_NEEDED, None),
                    ("t", 1, ErrorCode.ELECTION_NOT_NEEDED, None),
                    ("t", 5, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "No such partition as t-5"),
                    ("nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "No such topic as nope"),
                ],
            )

    def test_all_partitions(self) -> None:
        """A null list lists every topic with no partition: none needed an election."""
        response = self.call(elect_leaders.SPEC, ElectLeadersRequest(0, None), 1)
        self.assertEqual(
            [(r.topic, r.partition_result) for r in response.replica_election_results],
            [("t", ())],
        )

    def test_unknown_election_type(self) -> None:
        """An election type other than preferred or unclean is INVALID_REQUEST."""
        response = self.call(elect_leaders.SPEC, ElectLeadersRequest(2, None), 1)
        self.assertEqual(response.error_code, ErrorCode.INVALID_REQUEST)

    def test_kafka_python_every_version(self) -> None:
        """kafka-python's request is answered and its decoder reads our answers, v0-v2."""
        for version in (0, 1, 2):
            request = ClientElectRequest(
                election_type=0,
                topic_partitions=[ClientElectRequest.TopicPartitions(topic="t", partitions=[1])],
                timeout_ms=1000,
            )
            response = client_roundtrip(
                self, self.broker, elect_leaders.SPEC, request, ClientElectResponse, version
            )
            (r,) = response.replica_election_results
            self.assertEqual(
                [(p.partition_id, p.error_code) for p in r.partition_result],
                [(1, ErrorCode.ELECTION_NOT_NEEDED)],
            )


class ReassignmentTests(AdminTestCase):
    def alter(
        self, replicas: tuple[int, ...] | None, topic: str = "t", version: int = 1, **kw: Any
    ) -> tuple[int, str | None]:
        request = AlterPartitionReassignmentsRequest(
            topics=(ReassignableTopic(topic, (ReassignablePartition(0, replicas),)),), **kw
        )
        response = self.call(alter_partition_reassignments.SPEC, request, version)
        self.assertEqual(response.error_code, 0)
        (p,) = response.responses[0].partitions
        return p.error_code, p.error_message

    def test_registered(self) -> None:
        """AlterPartitionReassignments is registered at 0-1, ListPartitionReassignments at 0."""
        for spec, high in (
            (alter_partition_reassignments.SPEC, 1),
            (list_partition_reassignments.SPEC, 0),
        ):
            self.assertIn(spec, REGISTRY)
            self.assertEqual((spec.versions.lowest, spec.versions.highest), (0, high))

    def test_current_replica_completes(self) -> None:
        """Reassigning to this broker, the current replica, succeeds and writes nothing."""
        end = metadata_of(self.broker).next_offset
        self.assertEqual(self.alter((1,)), (0, None))
        self.assertEqual(metadata_of(self.broker).next_offset, end)

    def test_invalid_targets(self) -> None:
        """Other brokers, duplicates and empty lists are INVALID_REPLICA_ASSIGNMENT."""
        self.assertEqual(
            self.alter((1, 2)),
            (
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                "The manual partition assignment includes broker 2, but no such broker is "
                "registered.",
            ),
        )
        self.assertEqual(
            self.alter((1, 1)),
            (
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                "The manual partition assignment includes the broker 1 more than once.",
            ),
        )
        self.assertEqual(
            self.alter(()),
            (
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                "The manual partition assignment includes an empty replica list.",
            ),
        )

    def test_replication_factor_change(self) -> None:
        """Without allow_replication_factor_change a new replica count is refused first."""
        request = AlterPartitionReassignmentsRequest(
            allow_replication_factor_change=False,
            topics=(ReassignableTopic("t", (ReassignablePartition(0, (1, 1)),)),),
        )
        response = self.call(alter_partition_reassignments.SPEC, request, 1)
        self.assertFalse(response.allow_replication_factor_change)
        # the duplicate is found first, as in Kafka's order of checks
        self.assertEqual(
            response.responses[0].partitions[0].error_code, ErrorCode.INVALID_REPLICA_ASSIGNMENT
        )
        self.broker.metadata.image.topics["t"].partitions[0].replicas = (1,)
        request = AlterPartitionReassignmentsRequest(
            allow_replication_factor_change=False,
            topics=(ReassignableTopic("t", (ReassignablePartition(0, (1,)),)),),
        )
        response = self.call(alter_partition_reassignments.SPEC, request, 1)
        self.assertEqual(response.responses[0].partitions[0].error_code, 0)

    def test_cancel_nothing(self) -> None:
        """Cancelling (null replicas) is NO_REASSIGNMENT_IN_PROGRESS."""
        self.assertEqual(
            self.alter(None),
            (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress."),
        )

    def test_unknown(self) -> None:
        """Unknown topics and partitions are UNKNOWN_TOPIC_OR_PARTITION."""
        self.assertEqual(
            self.alter((1,), topic="nope"),
            (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "Unable to find a topic named nope."),
        )
        request = AlterPartitionReassignmentsRequest(
            topics=(ReassignableTopic("t", (ReassignablePartition(9, (1,)),)),)
        )
        (p,) = self.call(alter_partition_reassignments.SPEC, request, 0).responses[0].partitions
        self.assertEqual(
            (p.error_code, p.error_message),
            (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "Unable to find partition t:9."),
        )

    def test_list_nothing_ongoing(self) -> None:
        """ListPartitionReassignments lists nothing, for all topics or named ones."""
        for topics in (None, (ListPartitionReassignmentsTopics("t", (0, 1)),)):
            response = self.call(
                list_partition_reassignments.SPEC,
                ListPartitionReassignmentsRequest(topics=topics),
                0,
            )
            self.assertEqual((response.error_code, response.topics), (0, ()))

    def test_kafka_python(self) -> None:
        """kafka-python's requests are answered and its decoder reads our answers."""
        for version in (0, 1):
            topic = ClientAlterRequest.ReassignableTopic(
                name="t",
                partitions=[
                    ClientAlterRequest.ReassignableTopic.ReassignablePartition(
                        partition_index=0, replicas=[1]
                    ),
                    ClientAlterRequest.ReassignableTopic.ReassignablePartition(
                        partition_index=1, replicas=None
                    ),
                ],
            )
            request = ClientAlterRequest(
                timeout_ms=1000, allow_replication_factor_change=True, topics=[topic]
            )
            response = client_roundtrip(
                self,
                self.broker,
                alter_partition_reassignments.SPEC,
                request,
                ClientAlterResponse,
                version,
            )
            self.assertEqual(
                [(p.partition_index, p.error_code) for p in response.responses[0].partitions],
                [(0, 0), (1, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)],
            )
        request = ClientListRequest(timeout_ms=1000, topics=None)
        response = client_roundtrip(
            self, self.broker, list_partition_reassignments.SPEC, request, ClientListResponse, 0
        )
        self.assertEqual((response.error_code, response.topics), (0, []))
