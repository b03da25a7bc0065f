"""Tests for kafkatwist.cluster.replica_selector: Kafka's KIP-392 replica selectors."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.cluster.replica_selector import (
    LEADER_SELECTOR,
    RACK_AWARE_SELECTOR,
    ReplicaView,
    select_replica,
)

LEADER = ReplicaView(1, "rack-1", 100)
NEAR = ReplicaView(2, "rack-2", 100)
NEAR_TOO = ReplicaView(3, "rack-2", 100)
BEHIND = ReplicaView(4, "rack-2", 90)


class RackAwareTests(SynchronousTestCase):
    """RackAwareReplicaSelector.select, as Kafka's."""

    def pick(self, rack: str, *followers: ReplicaView) -> ReplicaView:
        return select_replica(RACK_AWARE_SELECTOR, rack, LEADER, [LEADER, *followers])

    def test_a_follower_in_the_consumers_rack(self) -> None:
        """The consumer's rack has a follower and not the leader: that follower."""
        self.assertEqual(self.pick("rack-2", NEAR), NEAR)

    def test_the_leader_in_the_consumers_rack_wins(self) -> None:
        """The leader is in the consumer's rack: the leader."""
        self.assertEqual(self.pick("rack-1", NEAR), LEADER)

    def test_no_replica_in_the_rack_or_no_rack(self) -> None:
        """No replica in the consumer's rack, or no rack given: the leader."""
        self.assertEqual(self.pick("rack-9", NEAR), LEADER)
        self.assertEqual(self.pick("", NEAR), LEADER)

    def test_the_most_caught_up_then_the_lowest_id(self) -> None:
        """Among the rack's followers the largest log end; ties go to the lowest node id."""
        self.assertEqual(self.pick("rack-2", BEHIND, NEAR_TOO, NEAR), NEAR)
        self.assertEqual(self.pick("rack-2", BEHIND), BEHIND)


class LeaderSelectorTests(SynchronousTestCase):
    """LeaderSelector, and no selector at all, always pick the leader."""

    def test_leader(self) -> None:
        """Whatever the rack."""
        for selector in (LEADER_SELECTOR, ""):
            self.assertEqual(select_replica(selector, "rack-2", LEADER, [LEADER, NEAR]), LEADER)
