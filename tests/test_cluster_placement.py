"""Tests for kafkatwist.cluster.placement: Kafka's replica placement and the leader moves."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.cluster.interfaces import BrokerEndpoint
from kafkatwist.cluster.placement import (
    assign_replicas,
    failover_changes,
    preferred_leader_changes,
    rack_alternated,
)
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage.metadata_image import MetadataImage

TOPIC_ID = uuid.UUID("00000000-0000-0000-0000-0000000000a1")


def brokers(*ids: int, racks: dict[int, str] | None = None) -> list[BrokerEndpoint]:
    """Endpoints for C{ids}, with racks from C{racks}."""
    return [BrokerEndpoint(i, {"PLAINTEXT": ("h", 9092 + i)}, (racks or {}).get(i)) for i in ids]


def image_of(*partitions: tuple[int, tuple[int, ...]]) -> MetadataImage:
    """An image with topic C{t} whose partitions have these (leader, replicas)."""
    image = MetadataImage()
    image.apply(mr.TopicRecord(name="t", topic_id=TOPIC_ID))
    for index, (leader, replicas) in enumerate(partitions):
        image.apply(
            mr.PartitionRecord(
                partition_id=index,
                topic_id=TOPIC_ID,
                replicas=replicas,
                isr=replicas,
                removing_replicas=(),
                adding_replicas=(),
                leader=leader,
                leader_epoch=3,
                partition_epoch=5,
                directories=(),
            )
        )
    return image


class AssignReplicasTests(SynchronousTestCase):
    """Kafka's AdminUtils placement, checked against the expectations of Kafka's own tests."""

    def test_rack_unaware(self) -> None:
        """Five brokers, ten partitions, three replicas, fixed start 0: AdminUtilsTest's table."""
        self.assertEqual(
            assign_replicas(brokers(0, 1, 2, 3, 4), 10, 3, start_index=0, replica_shift=0),
            [
                (0, 1, 2),
                (1, 2, 3),
                (2, 3, 4),
                (3, 4, 0),
                (4, 0, 1),
                (0, 2, 3),
                (1, 3, 4),
                (2, 4, 0),
                (3, 0, 1),
                (4, 1, 2),
            ],
        )

    def test_rack_alternated_list(self) -> None:
        """Brokers come from each rack in turn, racks and brokers sorted (AdminRackAwareTest)."""
        racks = {0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
        self.assertEqual(rack_alternated(racks), [0, 3, 1, 5, 4, 2])
        del racks[5]
        self.assertEqual(rack_alternated(racks), [0, 3, 1, 4, 2])

    def test_rack_aware(self) -> None:
        """With racks on every broker, replicas spread over racks (AdminRackAwareTest's table)."""
        racks = {0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
        self.assertEqual(
            assign_replicas(brokers(*racks, racks=racks), 7, 3, start_index=0, replica_shift=0),
            [(0, 3, 1), (3, 1, 5), (1, 5, 4), (5, 4, 2), (4, 2, 0), (2, 0, 3), (0, 4, 2)],
        )

    def test_some_racks_is_rack_unaware(self) -> None:
        """When only some brokers have a rack, the rack-unaware round robin is used."""
        placed = assign_replicas(
            brokers(1, 2, 3, racks={1: "a"}), 3, 1, start_index=1, replica_shift=0
        )
        self.assertEqual(placed, [(2,), (3,), (1,)])

    def test_too_many_replicas(self) -> None:
        """More replicas than brokers is INVALID_REPLICATION_FACTOR with Kafka's message."""
        with self.assertRaises(KafkaError) as raised:
            assign_replicas(brokers(1, 2), 1, 3, start_index=0, replica_shift=0)
        self.assertEqual(raised.exception.code, ErrorCode.INVALID_REPLICATION_FACTOR)
        self.assertIn("only 2 broker(s) are registered", str(raised.exception))

    def test_no_replicas(self) -> None:
        """A replication factor of zero is INVALID_REPLICATION_FACTOR."""
        with self.assertRaises(KafkaError) as raised:
            assign_replicas(brokers(1), 1, 0, start_index=0, replica_shift=0)
        self.assertEqual(raised.exception.code, ErrorCode.INVALID_REPLICATION_FACTOR)


class FailoverTests(SynchronousTestCase):
    """The records moving the partitions of brokers that are no longer live."""

    def test_live_replica_takes_over(self) -> None:
        """The first live replica becomes leader; the ISR shrinks to the live replicas."""
        image = image_of((1, (1, 2, 3)), (2, (2, 3, 1)))
        [change] = failover_changes(image, {2, 3})
        self.assertEqual(
            (change.partition_id, change.leader, change.isr, change.replicas), (0, 2, (2, 3), None)
        )

    def test_no_live_replica_fewest_leader(self) -> None:
        """Without a live replica, the live broker leading fewest takes the dead one's place."""
        image = image_of((1, (1,)), (1, (1,)), (2, (2,)), (2, (2,)), (3, (3,)))
        changes = failover_changes(image, {2, 3})
        self.assertEqual(
            [(c.partition_id, c.leader, c.replicas, c.isr) for c in changes],
            [(0, 3, (3,), (3,)), (1, 2, (2,), (2,))],
        )

    def test_epochs_bump_when_applied(self) -> None:
        """Applied to the image, a move bumps the leader epoch and the partition epoch."""
        image = image_of((1, (1, 2)))
        for record in failover_changes(image, {2}):
            image.apply(record)
        state = image.topics["t"].partitions[0]
        self.assertEqual((state.leader, state.leader_epoch, state.partition_epoch), (2, 4, 6))

    def test_nothing_live(self) -> None:
        """With no live broker nothing moves (there is nowhere to go)."""
        self.assertEqual(failover_changes(image_of((1, (1,))), set()), [])

    def test_leaving_only_moves_its_own(self) -> None:
        """A controlled shutdown moves only the leaving broker's partitions."""
        image = image_of((1, (1, 2)), (3, (3,)))
        changes = failover_changes(image, {2}, leaving=1)
        self.assertEqual([(c.partition_id, c.leader) for c in changes], [(0, 2)])

    def test_no_leader_is_elected(self) -> None:
        """A partition without a leader (-1) gets one from the live brokers."""
        [change] = failover_changes(image_of((-1, (4, 5))), {5})
        self.assertEqual(change.leader, 5)


class PreferredLeaderTests(SynchronousTestCase):
    """The records giving partitions back to their preferred replica."""

    def test_preferred_back(self) -> None:
        """A live preferred replica that does not lead is elected; the ISR is the live replicas."""
        image = image_of((2, (1, 2)), (1, (1, 2)), (3, (4, 3)))
        changes = preferred_leader_changes(image, {1, 2, 3})
        self.assertEqual([(c.partition_id, c.leader, c.isr) for c in changes], [(0, 1, None)])
