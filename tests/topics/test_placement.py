"""Replica placement and leader changes over a three-broker cluster (L{StaticCluster})."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import alter_partition_reassignments, elect_leaders
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    ReassignablePartition,
    ReassignableTopic,
)
from kafkatwist.messages.elect_leaders import ElectLeadersRequest, TopicPartitions
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.wire import schema
from tests.brokers import call, make_broker
from tests.cluster_support import StaticCluster, move_leader


class PlacementTests(SynchronousTestCase):
    """The Controller places replicas with the cluster and creates only the logs it leads."""

    def setUp(self) -> None:
        self.cluster: StaticCluster | None = None

        def build(store: IMetadataStore) -> StaticCluster:
            self.cluster = StaticCluster(store)
            return self.cluster

        self.broker = make_broker(cluster=build)
        self.controller = self.broker.controller

    def placed(self, name: str) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
        topic = self.broker.metadata.image.topics[name]
        return [(p.leader, p.replicas, p.isr) for _, p in sorted(topic.partitions.items())]

    def logs(self, name: str, count: int) -> list[int]:
        return [p for p in range(count) if self.broker.logs.get(name, p) is not None]

    def refused(self, *args: Any, **kwargs: Any) -> KafkaError:
        with self.assertRaises(KafkaError) as caught:
            self.controller.check_new_topic(*args, **kwargs)
        error: KafkaError = caught.exception
        return error

    def test_round_robin(self) -> None:
        """Replicas go round the live brokers; logs are made only for partitions led here."""
        self.successResultOf(self.controller.create_topic("t", 3, 2))
        self.assertEqual(
            self.placed("t"),
            [(1, (1, 2), (1, 2)), (2, (2, 3), (2, 3)), (3, (3, 1), (3, 1))],
        )
        self.assertEqual(self.logs("t", 3), [0])

    def test_replication_factor_above_live(self) -> None:
        """A replication factor above the live brokers is INVALID_REPLICATION_FACTOR."""
        assert self.cluster is not None
        self.cluster.live.discard(3)
        e = self.refused("t", 1, 3)
        self.assertEqual(
            (e.code, e.message),
            (
                ErrorCode.INVALID_REPLICATION_FACTOR,
                "Unable to replicate the partition 3 time(s): The target replication factor "
                "of 3 cannot be reached because only 2 broker(s) are registered.",
            ),
        )

    def test_manual_assignment(self) -> None:
        """A manual assignment over live brokers is kept; its first replica leads."""
        self.successResultOf(self.controller.create_topic("t", -1, -1, [(0, [2, 3]), (1, [1, 2])]))
        self.assertEqual(self.placed("t"), [(2, (2, 3), (2, 3)), (1, (1, 2), (1, 2))])
        self.assertEqual(self.logs("t", 2), [1])

    def test_manual_assignment_refused(self) -> None:
        """Kafka's checks: a broker not live, twice, or a replica count unlike the others'."""
        assert self.cluster is not None
        self.cluster.live.discard(3)
        messages = [
            self.refused("t", -1, -1, assignment).message
            for assignment in ([(0, [3])], [(0, [1, 1])], [(0, [1]), (1, [1, 2])])
        ]
        self.assertEqual(
            messages,
            [
                "The manual partition assignment includes broker 3, but no such broker is "
                "registered.",
                "The manual partition assignment includes the broker 1 more than once.",
                "The manual partition assignment includes a partition with 2 replica(s), but "
                "this is not consistent with previous partitions, which have 1 replica(s).",
            ],
        )

    def test_create_partitions(self) -> None:
        """New partitions keep the topic's replication factor, or follow the assignment."""
        topic = self.successResultOf(self.controller.create_topic("t", 1, 2))
        self.controller.check_new_partitions(topic, 3)
        topic = self.successResultOf(self.controller.create_partitions(topic, 3))
        self.controller.check_new_partitions(topic, 4, [[3, 2]])
        self.successResultOf(self.controller.create_partitions(topic, 4, [[3, 2]]))
        self.assertEqual([r for _, r, _ in self.placed("t")], [(1, 2), (1, 2), (2, 3), (3, 2)])
        with self.assertRaises(KafkaError) as caught:
            self.controller.check_new_partitions(topic, 5, [[3]])
        self.assertEqual(caught.exception.code, ErrorCode.INVALID_REPLICA_ASSIGNMENT)

    def test_elect_preferred(self) -> None:
        """A preferred election moves the leader back to the first replica (epoch bumped)."""
        self.successResultOf(self.controller.create_topic("t", 2, 2))
        self.successResultOf(move_leader(self.broker, "t", 0, 2))
        request = ElectLeadersRequest(0, (TopicPartitions("t", (0, 1)),))
        response = self.successResultOf(call(self.broker, elect_leaders.SPEC, request, 2))
        schema.encode_bytes(response, 2)
        results = response.replica_election_results[0].partition_result
        self.assertEqual(
            [(r.partition_id, r.error_code) for r in results],
            [(0, 0), (1, ErrorCode.ELECTION_NOT_NEEDED)],
        )
        state = self.broker.metadata.image.topics["t"].partitions[0]
        self.assertEqual((state.leader, state.leader_epoch), (1, 2))

    def test_elect_unclean(self) -> None:
        """Unclean elects a live replica of a partition whose leader died; else none is eligible."""
        assert self.cluster is not None
        self.successResultOf(self.controller.create_topic("t", 3, 1))
        self.successResultOf(move_leader(self.broker, "t", 1, 2, replicas=(2, 3)))
        self.cluster.live.discard(2)
        request = ElectLeadersRequest(1, (TopicPartitions("t", (0, 1)),))
        response = self.successResultOf(call(self.broker, elect_leaders.SPEC, request, 2))
        results = response.replica_election_results[0].partition_result
        self.assertEqual([r.error_code for r in results], [ErrorCode.ELECTION_NOT_NEEDED, 0])
        state = self.broker.metadata.image.topics["t"].partitions[1]
        self.assertEqual((state.leader, state.isr), (3, (3,)))
        self.cluster.live.discard(3)
        preferred = ElectLeadersRequest(0, (TopicPartitions("t", (1,)),))
        response = self.successResultOf(call(self.broker, elect_leaders.SPEC, preferred, 2))
        (result,) = response.replica_election_results[0].partition_result
        self.assertEqual(result.error_code, ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE)

    def test_reassignment_completes(self) -> None:
        """A reassignment to live brokers completes at once; a leader leaving hands over."""
        self.successResultOf(self.controller.create_topic("t", 2, 1))
        request = AlterPartitionReassignmentsRequest(
            topics=(ReassignableTopic("t", (ReassignablePartition(1, (1, 3)),)),)
        )
        response = self.successResultOf(
            call(self.broker, alter_partition_reassignments.SPEC, request, 0)
        )
        self.assertEqual(response.responses[0].partitions[0].error_code, 0)
        self.assertEqual(self.placed("t")[1], (1, (1, 3), (1, 3)))
        self.assertEqual(self.broker.metadata.image.topics["t"].partitions[1].leader_epoch, 1)
