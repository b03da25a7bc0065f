"""Static membership (KIP-345): group instance ids."""

from __future__ import annotations

from typing import Any

from kafkatwist.errors import ErrorCode
from tests.groups.test_rebalance import GroupTestCase

NONE = int(ErrorCode.NONE)


class StaticMembershipTests(GroupTestCase):
    def static_group(self, instances: list[str], **kw: Any) -> tuple[int, dict[str, str], str]:
        """A Stable group of static members: (generation, member id by instance, leader)."""
        joins = {i: self.gb.join("g", instance=i, **kw) for i in instances}
        self.gb.advance(0)
        responses = {i: self.successResultOf(d) for i, d in joins.items()}
        ids = {i: r.member_id for i, r in responses.items()}
        generation = next(iter(responses.values())).generation_id
        leader = next(iter(responses.values())).leader
        assignment = {m: i.encode() for i, m in ids.items()}
        for m in ids.values():
            self.successResultOf(
                self.gb.sync(
                    "g",
                    m,
                    generation,
                    assignment if m == leader else None,
                    instance=next(i for i, x in ids.items() if x == m),
                )
            )
        return generation, ids, leader

    def test_static_member_joins_without_member_id_round_trip(self) -> None:
        """A static member joins directly; its member id starts with the instance id."""
        d = self.gb.join("g", instance="host-1")
        self.assertNoResult(d)
        self.gb.advance(0)
        response = self.successResultOf(d)
        self.assertEqual(response.error_code, NONE)
        self.assertTrue(response.member_id.startswith("host-1-"))

    def test_restarted_static_follower_keeps_its_assignment_without_rebalance(self) -> None:
        """A restarted static member gets a new id, its old assignment and no rebalance."""
        generation, ids, leader = self.static_group(["host-1", "host-2"])
        follower_instance = next(i for i, m in ids.items() if m != leader)
        old_id = ids[follower_instance]
        response = self.successResultOf(self.gb.join("g", instance=follower_instance))
        self.assertEqual(response.error_code, NONE)
        self.assertNotEqual(response.member_id, old_id)
        self.assertEqual(response.generation_id, generation)
        self.assertEqual(response.members, ())
        self.assertEqual(self.gb.heartbeat("g", leader, generation), NONE)  # nobody rebalances
        sync = self.successResultOf(
            self.gb.sync("g", response.member_id, generation, instance=follower_instance)
        )
        self.assertEqual(sync.assignment, follower_instance.encode())

    def test_old_member_id_is_fenced(self) -> None:
        """After a static member rejoined, its previous member id gets FENCED_INSTANCE_ID."""
        generation, ids, _ = self.static_group(["host-1"])
        old_id = ids["host-1"]
        self.successResultOf(self.gb.join("g", instance="host-1"))
        self.assertEqual(
            self.gb.heartbeat("g", old_id, generation, instance="host-1"),
            ErrorCode.FENCED_INSTANCE_ID,
        )
        sync = self.successResultOf(self.gb.sync("g", old_id, generation, instance="host-1"))
        self.assertEqual(sync.error_code, ErrorCode.FENCED_INSTANCE_ID)
        commit = self.successResultOf(
            self.gb.commit(
                "g", {("t", 0): 1}, generation=generation, member_id=old_id, instance="host-1"
            )
        )
        # "t" does not exist, so the topic check comes first; use a real topic.
        self.assertEqual(
            commit.topics[0].partitions[0].error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        )
        self.gb.topic("t", 1)
        commit = self.successResultOf(
            self.gb.commit(
                "g", {("t", 0): 1}, generation=generation, member_id=old_id, instance="host-1"
            )
        )
        self.assertEqual(commit.topics[0].partitions[0].error_code, ErrorCode.FENCED_INSTANCE_ID)

    def test_parked_join_of_replaced_member_is_fenced(self) -> None:
        """A parked join of the old member id gets FENCED_INSTANCE_ID on replacement."""
        generation, ids, leader = self.static_group(["host-1", "host-2"])
        follower_instance = next(i for i, m in ids.items() if m != leader)
        old = ids[follower_instance]
        old_join = self.gb.join(
            "g", old, instance=follower_instance, protocols=(("range", b"new"),)
        )
        self.assertNoResult(old_join)  # a rebalance, waiting for the leader
        new_join = self.gb.join("g", instance=follower_instance)
        self.assertEqual(self.successResultOf(old_join).error_code, ErrorCode.FENCED_INSTANCE_ID)
        self.assertNoResult(new_join)
        leader_join = self.gb.join(
            "g", leader, instance=next(i for i, m in ids.items() if m == leader)
        )
        new = self.successResultOf(new_join)
        self.assertEqual(new.generation_id, generation + 1)
        self.assertEqual(self.successResultOf(leader_join).generation_id, generation + 1)

    def test_static_leader_rejoin_skips_assignment_v9(self) -> None:
        """A static leader rejoining a Stable group (v9) is told to skip the assignment."""
        generation, ids, leader = self.static_group(["host-1", "host-2"])
        leader_instance = next(i for i, m in ids.items() if m == leader)
        response = self.successResultOf(self.gb.join("g", instance=leader_instance, version=9))
        self.assertTrue(response.skip_assignment)
        self.assertEqual(response.leader, response.member_id)
        self.assertEqual(len(response.members), 2)
        self.assertEqual(response.generation_id, generation)

    def test_static_leader_rejoin_before_v9_is_told_the_old_leader(self) -> None:
        """Before v9 a rejoining static leader is told the old leader id, so it does not assign."""
        generation, ids, leader = self.static_group(["host-1", "host-2"])
        leader_instance = next(i for i, m in ids.items() if m == leader)
        response = self.successResultOf(self.gb.join("g", instance=leader_instance, version=8))
        self.assertFalse(response.skip_assignment)
        self.assertEqual(response.leader, leader)
        self.assertNotEqual(response.member_id, leader)
        self.assertEqual(response.members, ())

    def test_static_rejoin_with_other_protocol_rebalances(self) -> None:
        """A static rejoin that changes the chosen protocol triggers a rebalance."""
        both = (("range", b""), ("roundrobin", b""))
        generation, ids, leader = self.static_group(["host-1", "host-2"], protocols=both)
        follower_instance = next(i for i, m in ids.items() if m != leader)
        rejoin = self.gb.join("g", instance=follower_instance, protocols=(("roundrobin", b""),))
        self.assertNoResult(rejoin)
        self.assertEqual(
            self.gb.heartbeat("g", leader, generation), ErrorCode.REBALANCE_IN_PROGRESS
        )

    def test_static_member_not_rejoining_is_kept_until_session_timeout(self) -> None:
        """Static members missing a rebalance stay until their session timeout."""
        generation, ids, leader = self.static_group(
            ["host-1", "host-2"], session=20000, rebalance=5000
        )
        absent = next(m for m in ids.values() if m != leader)
        rejoin = self.gb.join(
            "g",
            leader,
            instance=next(i for i, m in ids.items() if m == leader),
            session=20000,
            rebalance=5000,
        )
        self.gb.advance(5000)
        response = self.successResultOf(rejoin)
        self.assertEqual(response.generation_id, generation + 1)
        self.assertIn(absent, {m.member_id for m in response.members})
        self.assertIn(absent, self.gb.coordinator.groups["g"].members)
        self.gb.advance(15000)
        self.assertNotIn(absent, self.gb.coordinator.groups["g"].members)

    def test_admin_removal_by_instance_id(self) -> None:
        """LeaveGroup with only a group instance id removes that static member."""
        _, ids, _ = self.static_group(["host-1", "host-2"])
        response = self.successResultOf(self.gb.leave("g", ("", "host-1"), ("", "nobody")))
        self.assertEqual(
            [r.error_code for r in response.members], [NONE, ErrorCode.UNKNOWN_MEMBER_ID]
        )
        self.assertNotIn(ids["host-1"], self.gb.coordinator.groups["g"].members)
