"""JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the classic rebalance protocol."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from tests.groups.support import GroupBroker, member_id_of

NONE = int(ErrorCode.NONE)


class GroupTestCase(SynchronousTestCase):
    """Helpers to drive groups to a known state."""

    def setUp(self) -> None:
        self.gb = GroupBroker()

    def new_member(self, group: str = "g", **kw: Any) -> str:
        return member_id_of(self.successResultOf(self.gb.join(group, **kw)))

    def stable(self, n: int, group: str = "g", **kw: Any) -> tuple[int, list[str], str]:
        """A Stable group of C{n} members: (generation, member ids, leader)."""
        ids = [self.new_member(group, **kw) for _ in range(n)]
        joins = [self.gb.join(group, m, **kw) for m in ids]
        self.gb.advance(0)
        responses = [self.successResultOf(d) for d in joins]
        generation = responses[0].generation_id
        leader = responses[0].leader
        syncs = [
            self.gb.sync(
                group, m, generation, {i: i.encode() for i in ids} if m == leader else None
            )
            for m in ids
        ]
        for d in syncs:
            self.assertEqual(self.successResultOf(d).error_code, NONE)
        return generation, ids, leader


class JoinTests(GroupTestCase):
    def test_member_id_required(self) -> None:
        """A v4+ join without member id gets MEMBER_ID_REQUIRED and an id from the client id."""
        response = self.successResultOf(self.gb.join("g", version=4))
        self.assertEqual(response.error_code, ErrorCode.MEMBER_ID_REQUIRED)
        self.assertTrue(response.member_id.startswith("test-client-"))
        self.assertEqual(response.generation_id, -1)

    def test_v3_join_without_member_id_is_admitted(self) -> None:
        """Before v4 a join without member id joins at once with a generated id."""
        d = self.gb.join("g", version=3)
        self.gb.advance(0)
        response = self.successResultOf(d)
        self.assertEqual(response.error_code, NONE)
        self.assertEqual(response.generation_id, 1)
        self.assertEqual(response.leader, response.member_id)
        self.assertEqual(response.protocol_name, "range")

    def test_first_generation_is_one_and_leader_gets_members(self) -> None:
        """Generation 1; the leader gets every member with its metadata, followers none."""
        a, b = self.new_member(), self.new_member()
        da = self.gb.join("g", a, protocols=(("range", b"A"),))
        db = self.gb.join("g", b, protocols=(("range", b"B"),))
        self.assertNoResult(da)
        self.gb.advance(0)
        ra, rb = self.successResultOf(da), self.successResultOf(db)
        self.assertEqual((ra.generation_id, rb.generation_id), (1, 1))
        self.assertEqual(ra.leader, a)
        self.assertEqual(rb.leader, a)
        self.assertEqual({(m.member_id, m.metadata) for m in ra.members}, {(a, b"A"), (b, b"B")})
        self.assertEqual(rb.members, ())
        self.assertEqual(ra.protocol_type, "consumer")

    def test_protocol_chosen_by_vote(self) -> None:
        """The protocol most members prefer among those all support wins (Kafka's vote)."""
        a, b, c = self.new_member(), self.new_member(), self.new_member()
        ds = [
            self.gb.join("g", a, protocols=(("range", b""), ("roundrobin", b""))),
            self.gb.join("g", b, protocols=(("roundrobin", b""), ("range", b""))),
            self.gb.join("g", c, protocols=(("roundrobin", b""), ("range", b""), ("sticky", b""))),
        ]
        self.gb.advance(0)
        self.assertEqual({self.successResultOf(d).protocol_name for d in ds}, {"roundrobin"})

    def test_protocol_tie_goes_to_leader_preference(self) -> None:
        """A tie between protocols goes to the leader's first choice."""
        a, b = self.new_member(), self.new_member()
        da = self.gb.join("g", a, protocols=(("cooperative-sticky", b""), ("range", b"")))
        db = self.gb.join("g", b, protocols=(("range", b""), ("cooperative-sticky", b"")))
        self.gb.advance(0)
        self.assertEqual(self.successResultOf(da).protocol_name, "cooperative-sticky")
        self.assertEqual(self.successResultOf(db).protocol_name, "cooperative-sticky")

    def test_inconsistent_protocols(self) -> None:
        """No shared protocol, or another protocol type: INCONSISTENT_GROUP_PROTOCOL."""
        self.stable(1)
        other = self.successResultOf(self.gb.join("g", protocols=(("roundrobin", b""),)))
        self.assertEqual(other.error_code, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        connect = self.successResultOf(self.gb.join("g", protocol_type="connect"))
        self.assertEqual(connect.error_code, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)

    def test_empty_protocol_list_is_inconsistent(self) -> None:
        """The first member of a group must name a protocol type and at least one protocol."""
        response = self.successResultOf(self.gb.join("g", protocols=()))
        self.assertEqual(response.error_code, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)

    def test_invalid_group_id(self) -> None:
        """An empty group id gets INVALID_GROUP_ID."""
        self.assertEqual(
            self.successResultOf(self.gb.join("")).error_code, ErrorCode.INVALID_GROUP_ID
        )

    def test_session_timeout_bounds(self) -> None:
        """Session timeouts outside group.min/max.session.timeout.ms get INVALID_SESSION_TIMEOUT."""
        low = self.successResultOf(self.gb.join("g", session=5999))
        high = self.successResultOf(self.gb.join("g", session=1800001))
        ok = self.successResultOf(self.gb.join("g", session=6000))
        self.assertEqual(low.error_code, ErrorCode.INVALID_SESSION_TIMEOUT)
        self.assertEqual(high.error_code, ErrorCode.INVALID_SESSION_TIMEOUT)
        self.assertEqual(ok.error_code, ErrorCode.MEMBER_ID_REQUIRED)

    def test_unknown_member_of_unknown_group(self) -> None:
        """A join with a member id to a group that does not exist gets UNKNOWN_MEMBER_ID."""
        response = self.successResultOf(self.gb.join("nope", "m-1"))
        self.assertEqual(response.error_code, ErrorCode.UNKNOWN_MEMBER_ID)

    def test_unknown_member_of_known_group(self) -> None:
        """A join with a member id the group never gave out gets UNKNOWN_MEMBER_ID."""
        self.stable(1)
        response = self.successResultOf(self.gb.join("g", "forged"))
        self.assertEqual(response.error_code, ErrorCode.UNKNOWN_MEMBER_ID)

    def test_group_max_size(self) -> None:
        """A new member beyond group.max.size gets GROUP_MAX_SIZE_REACHED."""
        self.gb = GroupBroker(group_max_size=1)
        generation, ids, _ = self.stable(1)
        response = self.successResultOf(self.gb.join("g"))
        self.assertEqual(response.error_code, ErrorCode.GROUP_MAX_SIZE_REACHED)
        self.assertEqual(response.member_id, "")
        self.assertEqual(self.gb.heartbeat("g", ids[0], generation), NONE)

    def test_rejoin_with_same_metadata_while_completing_gets_same_answer(self) -> None:
        """A member that lost its join answer gets it again without a new rebalance."""
        a, b = self.new_member(), self.new_member()
        da, db = self.gb.join("g", a), self.gb.join("g", b)
        self.gb.advance(0)
        first = self.successResultOf(db)
        again = self.successResultOf(self.gb.join("g", b))
        self.assertEqual(again.generation_id, first.generation_id)
        self.assertEqual(again.leader, a)
        self.assertEqual(self.successResultOf(da).generation_id, 1)

    def test_follower_rejoin_in_stable_group_with_same_metadata(self) -> None:
        """A follower rejoining a Stable group with unchanged metadata causes no rebalance."""
        generation, ids, leader = self.stable(2)
        follower = next(m for m in ids if m != leader)
        response = self.successResultOf(self.gb.join("g", follower))
        self.assertEqual(response.generation_id, generation)
        self.assertEqual(self.gb.heartbeat("g", leader, generation), NONE)

    def test_new_member_triggers_rebalance(self) -> None:
        """A new member starts a rebalance: REBALANCE_IN_PROGRESS until all rejoin."""
        generation, ids, leader = self.stable(1)
        newcomer = self.new_member()
        dn = self.gb.join("g", newcomer)
        self.assertEqual(
            self.gb.heartbeat("g", leader, generation), ErrorCode.REBALANCE_IN_PROGRESS
        )
        self.assertNoResult(dn)
        rl = self.successResultOf(self.gb.join("g", leader))
        self.assertEqual(rl.generation_id, generation + 1)
        self.assertEqual(self.successResultOf(dn).generation_id, generation + 1)
        self.assertEqual(len(rl.members), 2)


class SyncTests(GroupTestCase):
    def test_followers_wait_for_the_leader(self) -> None:
        """A follower's SyncGroup is parked until the leader sends the assignment."""
        a, b = self.new_member(), self.new_member()
        da, db = self.gb.join("g", a), self.gb.join("g", b)
        self.gb.advance(0)
        generation = self.successResultOf(da).generation_id
        self.successResultOf(db)
        follower = self.gb.sync("g", b, generation)
        self.assertNoResult(follower)
        leader = self.gb.sync("g", a, generation, {a: b"for-a", b: b"for-b"})
        self.assertEqual(self.successResultOf(leader).assignment, b"for-a")
        response = self.successResultOf(follower)
        self.assertEqual(response.assignment, b"for-b")
        self.assertEqual((response.protocol_type, response.protocol_name), ("consumer", "range"))
        self.assertEqual(self.gb.describe("g").groups[0].group_state, "Stable")

    def test_member_left_out_gets_empty_assignment(self) -> None:
        """A member the leader gave nothing gets an empty assignment."""
        a, b = self.new_member(), self.new_member()
        da, db = self.gb.join("g", a), self.gb.join("g", b)
        self.gb.advance(0)
        self.successResultOf(da)
        self.successResultOf(db)
        self.successResultOf(self.gb.sync("g", a, 1, {a: b"x"}))
        self.assertEqual(self.successResultOf(self.gb.sync("g", b, 1)).assignment, b"")

    def test_sync_in_stable_group_returns_current_assignment(self) -> None:
        """In a Stable group SyncGroup answers at once with the member's assignment."""
        generation, ids, _ = self.stable(2)
        for m in ids:
            self.assertEqual(
                self.successResultOf(self.gb.sync("g", m, generation)).assignment, m.encode()
            )

    def test_sync_errors(self) -> None:
        """SyncGroup: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL."""
        generation, ids, _ = self.stable(1)
        m = ids[0]

        def code(d: Any) -> int:
            return int(self.successResultOf(d).error_code)

        self.assertEqual(code(self.gb.sync("nope", m, generation)), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(code(self.gb.sync("g", "forged", generation)), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(code(self.gb.sync("g", m, generation + 1)), ErrorCode.ILLEGAL_GENERATION)
        self.assertEqual(
            code(self.gb.sync("g", m, generation, protocol_name="roundrobin")),
            ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        )
        self.assertEqual(
            code(self.gb.sync("g", m, generation, protocol_type="connect")),
            ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
        )
        self.assertEqual(code(self.gb.sync("g", m, generation, protocol_name="range")), NONE)
        self.assertEqual(code(self.gb.sync("", m, generation)), ErrorCode.INVALID_GROUP_ID)

    def test_sync_during_rebalance(self) -> None:
        """SyncGroup while the group prepares a rebalance gets REBALANCE_IN_PROGRESS."""
        generation, ids, _ = self.stable(1)
        self.gb.join("g", self.new_member())
        response = self.successResultOf(self.gb.sync("g", ids[0], generation))
        self.assertEqual(response.error_code, ErrorCode.REBALANCE_IN_PROGRESS)

    def test_parked_sync_gets_rebalance_in_progress_when_a_rebalance_starts(self) -> None:
        """A follower waiting for the leader is told REBALANCE_IN_PROGRESS when a member joins."""
        a, b = self.new_member(), self.new_member()
        da, db = self.gb.join("g", a), self.gb.join("g", b)
        self.gb.advance(0)
        self.successResultOf(da)
        self.successResultOf(db)
        follower = self.gb.sync("g", b, 1)
        self.gb.join("g", self.new_member())
        self.assertEqual(self.successResultOf(follower).error_code, ErrorCode.REBALANCE_IN_PROGRESS)


class HeartbeatTests(GroupTestCase):
    def test_heartbeat_errors(self) -> None:
        """Heartbeat: NONE, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, INVALID_GROUP_ID."""
        generation, ids, _ = self.stable(1)
        m = ids[0]
        self.assertEqual(self.gb.heartbeat("g", m, generation), NONE)
        self.assertEqual(self.gb.heartbeat("nope", m, generation), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(self.gb.heartbeat("g", "forged", generation), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(self.gb.heartbeat("g", m, generation - 1), ErrorCode.ILLEGAL_GENERATION)
        self.assertEqual(self.gb.heartbeat("", m, generation), ErrorCode.INVALID_GROUP_ID)

    def test_heartbeat_while_completing_is_accepted(self) -> None:
        """Heartbeats between the join answer and the assignment are normal heartbeats."""
        a = self.new_member()
        d = self.gb.join("g", a)
        self.gb.advance(0)
        self.assertEqual(self.gb.heartbeat("g", a, self.successResultOf(d).generation_id), NONE)


class LeaveTests(GroupTestCase):
    def test_batched_leave_empties_group_at_once(self) -> None:
        """LeaveGroup v3+ removes several members at once; the group becomes Empty immediately."""
        generation, ids, _ = self.stable(2)
        response = self.successResultOf(self.gb.leave("g", *[(m, None) for m in ids]))
        self.assertEqual(response.error_code, NONE)
        self.assertEqual([r.error_code for r in response.members], [NONE, NONE])
        group = self.gb.describe("g").groups[0]
        self.assertEqual((group.group_state, group.members), ("Empty", ()))
        self.assertEqual(self.gb.coordinator.groups["g"].generation, generation + 1)

    def test_leave_rebalances_the_rest_without_a_timeout(self) -> None:
        """After a leave the others rebalance as soon as they rejoin, without waiting."""
        generation, ids, leader = self.stable(3)
        leaving = next(m for m in ids if m != leader)
        self.successResultOf(self.gb.leave("g", (leaving, None)))
        staying = [m for m in ids if m != leaving]
        self.assertEqual(
            self.gb.heartbeat("g", staying[0], generation), ErrorCode.REBALANCE_IN_PROGRESS
        )
        joins = [self.gb.join("g", m) for m in staying]
        responses = [self.successResultOf(d) for d in joins]
        self.assertEqual({r.generation_id for r in responses}, {generation + 1})
        self.assertEqual({m.member_id for r in responses for m in r.members}, set(staying))

    def test_leave_unknown_member_and_fenced_instance(self) -> None:
        """Per-member errors: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID; the others still leave."""
        _, ids, _ = self.stable(2)
        response = self.successResultOf(
            self.gb.leave("g", ("forged", None), (ids[0], "not-mine"), (ids[1], None))
        )
        self.assertEqual(
            [r.error_code for r in response.members],
            [ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID, NONE],
        )

    def test_leave_v0(self) -> None:
        """LeaveGroup v0-v2 puts the member's error at the top level."""
        _, ids, _ = self.stable(1)
        self.assertEqual(
            self.successResultOf(self.gb.leave("g", ("forged", None), version=0)).error_code,
            ErrorCode.UNKNOWN_MEMBER_ID,
        )
        self.assertEqual(
            self.successResultOf(self.gb.leave("g", (ids[0], None), version=0)).error_code, NONE
        )

    def test_leave_unknown_group(self) -> None:
        """Leaving a group that does not exist gets UNKNOWN_MEMBER_ID at the top level."""
        response = self.successResultOf(self.gb.leave("nope", ("m", None)))
        self.assertEqual(response.error_code, ErrorCode.UNKNOWN_MEMBER_ID)

    def test_leaving_member_parked_join_is_answered(self) -> None:
        """A member that leaves while its join is parked gets UNKNOWN_MEMBER_ID."""
        generation, ids, leader = self.stable(2)
        follower = next(m for m in ids if m != leader)
        parked = self.gb.join("g", leader)
        self.assertNoResult(parked)
        self.successResultOf(self.gb.leave("g", (leader, None)))
        self.assertEqual(self.successResultOf(parked).error_code, ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(
            self.successResultOf(self.gb.join("g", follower)).generation_id, generation + 1
        )

    def test_leave_pending_member(self) -> None:
        """A member that got MEMBER_ID_REQUIRED can leave before joining."""
        pending = self.new_member()
        response = self.successResultOf(self.gb.leave("g", (pending, None)))
        self.assertEqual(response.members[0].error_code, NONE)
        self.assertEqual(self.gb.coordinator.groups["g"].pending_members, {})


class CancellationTests(GroupTestCase):
    def test_cancelled_join_does_not_break_the_group(self) -> None:
        """A join abandoned by its client (cancelled) does not stop the others' rebalance."""
        a, b = self.new_member(), self.new_member()
        da = self.gb.join("g", a)
        db = self.gb.join("g", b)
        da.cancel()
        self.failureResultOf(da)
        self.gb.advance(0)
        rb = self.successResultOf(db)
        self.assertEqual(rb.generation_id, 1)
        # The member with the lost answer rejoins and gets it again.
        ra = self.successResultOf(self.gb.join("g", a))
        self.assertEqual(ra.generation_id, 1)
        sync_b = self.gb.sync("g", b, 1)
        self.successResultOf(self.gb.sync("g", rb.leader, 1, {a: b"1", b: b"2"}))
        self.assertEqual(self.successResultOf(sync_b).assignment, b"2")

    def test_cancelled_sync_does_not_break_the_group(self) -> None:
        """A follower's abandoned SyncGroup does not stop the leader from stabilising the group."""
        a, b = self.new_member(), self.new_member()
        da, db = self.gb.join("g", a), self.gb.join("g", b)
        self.gb.advance(0)
        self.successResultOf(da)
        self.successResultOf(db)
        follower = self.gb.sync("g", b, 1)
        follower.cancel()
        self.failureResultOf(follower)
        self.successResultOf(self.gb.sync("g", a, 1, {a: b"1", b: b"2"}))
        self.assertEqual(self.successResultOf(self.gb.sync("g", b, 1)).assignment, b"2")


class CooperativeTests(GroupTestCase):
    def test_cooperative_rebalance_keeps_owners_undisturbed(self) -> None:
        """
        Incremental cooperative rebalancing: the broker forwards the leader's
        assignments as they are, and members keep heartbeating and committing
        their partitions during the follow-up rebalance.
        """
        self.gb.topic("t", 4)
        coop = (("cooperative-sticky", b"v1"),)
        generation, ids, leader = self.stable(2, protocols=coop)
        newcomer = self.new_member(protocols=coop)
        dn = self.gb.join("g", newcomer, protocols=coop)
        # Members still own their partitions: commits with the current generation are accepted.
        commit = self.successResultOf(
            self.gb.commit("g", {("t", 0): 5}, generation=generation, member_id=ids[0])
        )
        self.assertEqual(commit.topics[0].partitions[0].error_code, NONE)
        joins = [self.gb.join("g", m, protocols=(("cooperative-sticky", b"owned"),)) for m in ids]
        responses = [self.successResultOf(d) for d in [*joins, dn]]
        g2 = responses[0].generation_id
        self.assertEqual(g2, generation + 1)
        leader_response = next(r for r in responses if r.members)
        self.assertEqual({m.metadata for m in leader_response.members}, {b"owned", b"v1"})
        # First round: the leader revokes nothing from the broker's point of view.
        syncs = {
            m: self.gb.sync(
                "g",
                m,
                g2,
                {m: b"same-" + m.encode() for m in [*ids, newcomer]}
                if m == leader_response.leader
                else None,
            )
            for m in [*ids, newcomer]
        }
        for m, d in syncs.items():
            self.assertEqual(self.successResultOf(d).assignment, b"same-" + m.encode())
        # The follow-up round asked by a member that gave up partitions.
        self.assertEqual(self.gb.heartbeat("g", ids[0], g2), NONE)
