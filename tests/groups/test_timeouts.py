"""Session timeouts, rebalance timeouts, the initial rebalance delay and the cost of timers."""

from __future__ import annotations

from kafkatwist.clock import DelayedCall
from kafkatwist.errors import ErrorCode
from tests.groups.support import GroupBroker
from tests.groups.test_rebalance import GroupTestCase

NONE = int(ErrorCode.NONE)


class SessionTimeoutTests(GroupTestCase):
    def test_silent_member_is_removed_and_the_rest_rebalances(self) -> None:
        """A member that stops heartbeating is removed after its session timeout."""
        generation, ids, leader = self.stable(2, session=10000)
        alive = ids[0]
        silent = ids[1]
        for _ in range(3):
            self.gb.advance(3000)
            self.assertEqual(self.gb.heartbeat("g", alive, generation), NONE)
        self.gb.advance(999)  # 9999 ms since the silent member's last sign of life
        self.assertIn(silent, self.gb.coordinator.groups["g"].members)
        self.gb.advance(1)
        self.assertNotIn(silent, self.gb.coordinator.groups["g"].members)
        self.assertEqual(self.gb.heartbeat("g", alive, generation), ErrorCode.REBALANCE_IN_PROGRESS)
        response = self.successResultOf(self.gb.join("g", alive))
        self.assertEqual(response.generation_id, generation + 1)
        self.assertEqual([m.member_id for m in response.members], [alive])
        self.assertEqual(self.gb.heartbeat("g", silent, generation), ErrorCode.UNKNOWN_MEMBER_ID)

    def test_heartbeats_keep_a_member(self) -> None:
        """A member heartbeating within its session timeout stays for as long as it does."""
        generation, ids, _ = self.stable(1, session=6000)
        for _ in range(100):
            self.gb.advance(5000)
            self.assertEqual(self.gb.heartbeat("g", ids[0], generation), NONE)
        self.assertEqual(self.gb.describe("g").groups[0].group_state, "Stable")

    def test_last_member_expiring_empties_the_group(self) -> None:
        """When the only member expires the group becomes Empty with a new generation."""
        generation, _, _ = self.stable(1, session=6000)
        self.gb.advance(6000)
        group = self.gb.coordinator.groups["g"]
        self.assertEqual((group.state.value, group.generation), ("Empty", generation + 1))

    def test_member_parked_in_join_is_not_expired(self) -> None:
        """A member waiting in JoinGroup longer than its session timeout is kept (Kafka)."""
        generation, ids, leader = self.stable(2, session=6000, rebalance=60000)
        other = next(m for m in ids if m != leader)
        parked = self.gb.join("g", leader, session=6000, rebalance=60000)
        for _ in range(11):
            self.gb.advance(5000)
            self.gb.heartbeat("g", other, generation)
        self.assertNoResult(parked)
        self.gb.advance(5000)
        response = self.successResultOf(parked)
        self.assertEqual(response.generation_id, generation + 1)
        self.assertEqual([m.member_id for m in response.members], [leader])

    def test_pending_member_expires(self) -> None:
        """A member id handed out by MEMBER_ID_REQUIRED is forgotten after the session timeout."""
        generation, ids, leader = self.stable(1)
        pending = self.new_member(session=7000)
        rejoin = self.gb.join("g", leader)
        self.assertNoResult(rejoin)  # the pending member might still join
        self.gb.advance(6999)
        self.assertNoResult(rejoin)
        self.gb.advance(1)
        self.assertEqual(self.successResultOf(rejoin).generation_id, generation + 1)
        self.assertNotIn(pending, self.gb.coordinator.groups["g"].pending_members)


class RebalanceTimeoutTests(GroupTestCase):
    def test_late_joiner_delays_others_only_up_to_the_rebalance_timeout(self) -> None:
        """Members that do not rejoin delay the rest at most the rebalance timeout."""
        generation, ids, leader = self.stable(3, session=10000, rebalance=20000)
        late = [m for m in ids if m != leader]
        rejoin = self.gb.join("g", leader, session=10000, rebalance=20000)
        for _ in range(6):
            self.gb.advance(3000)
            for m in late:  # alive (heartbeating) but never rejoining
                self.assertEqual(
                    self.gb.heartbeat("g", m, generation), ErrorCode.REBALANCE_IN_PROGRESS
                )
        self.assertNoResult(rejoin)
        self.gb.advance(1999)
        self.assertNoResult(rejoin)
        self.gb.advance(1)
        response = self.successResultOf(rejoin)
        self.assertEqual(response.generation_id, generation + 1)
        self.assertEqual([m.member_id for m in response.members], [leader])
        for m in late:
            self.assertEqual(self.gb.heartbeat("g", m, generation), ErrorCode.UNKNOWN_MEMBER_ID)

    def test_rebalance_timeout_is_the_largest_of_the_members(self) -> None:
        """The join phase waits for the largest rebalance timeout among the members."""
        a = self.new_member()
        b = self.new_member()
        da = self.gb.join("g", a, rebalance=10000)
        db = self.gb.join("g", b, rebalance=40000)
        self.gb.advance(0)
        generation = self.successResultOf(da).generation_id
        self.successResultOf(db)
        self.successResultOf(self.gb.sync("g", a, generation, {}))
        self.successResultOf(self.gb.sync("g", b, generation))
        rejoin = self.gb.join("g", a, rebalance=10000)
        for _ in range(13):
            self.gb.advance(3000)
            self.gb.heartbeat("g", b, generation)
        self.assertNoResult(rejoin)
        self.gb.advance(1000)
        self.assertEqual(self.successResultOf(rejoin).generation_id, generation + 1)

    def test_member_that_never_syncs_is_removed(self) -> None:
        """A member that never sends SyncGroup is removed after the rebalance timeout."""
        a, b = self.new_member(), self.new_member()
        da = self.gb.join("g", a, rebalance=15000)
        db = self.gb.join("g", b, rebalance=15000)
        self.gb.advance(0)
        generation = self.successResultOf(da).generation_id
        self.successResultOf(db)
        self.successResultOf(self.gb.sync("g", a, generation, {a: b"x", b: b"y"}))
        for _ in range(4):
            self.gb.advance(3000)
            self.assertEqual(self.gb.heartbeat("g", a, generation), NONE)
            self.assertEqual(self.gb.heartbeat("g", b, generation), NONE)  # not a SyncGroup
        self.assertIn(b, self.gb.coordinator.groups["g"].members)
        self.gb.advance(3000)
        self.assertNotIn(b, self.gb.coordinator.groups["g"].members)
        self.assertEqual(self.gb.heartbeat("g", a, generation), ErrorCode.REBALANCE_IN_PROGRESS)


class InitialDelayTests(GroupTestCase):
    def setUp(self) -> None:
        self.gb = GroupBroker(group_initial_rebalance_delay_ms=3000)

    def test_first_rebalance_waits_for_the_initial_delay(self) -> None:
        """An empty group's first rebalance waits group.initial.rebalance.delay.ms."""
        a = self.new_member()
        d = self.gb.join("g", a)
        self.gb.advance(2999)
        self.assertNoResult(d)
        self.gb.advance(1)
        self.assertEqual(self.successResultOf(d).generation_id, 1)

    def test_delay_is_extended_while_members_keep_joining(self) -> None:
        """Each newcomer during the delay extends it by another delay."""
        a, b = self.new_member(), self.new_member()
        da = self.gb.join("g", a)
        self.gb.advance(2000)
        db = self.gb.join("g", b)
        self.gb.advance(1000)  # t=3s: a newcomer arrived, wait another 3s
        self.assertNoResult(da)
        self.gb.advance(2999)
        self.assertNoResult(da)
        self.gb.advance(1)
        ra, rb = self.successResultOf(da), self.successResultOf(db)
        self.assertEqual(len(ra.members), 2)
        self.assertEqual(rb.generation_id, 1)

    def test_delay_is_capped_by_the_rebalance_timeout(self) -> None:
        """Newcomers cannot extend the initial delay beyond the rebalance timeout."""
        start = self.gb.clock.seconds()
        first = self.gb.join("g", self.new_member(rebalance=10000), rebalance=10000)
        for step in range(1, 200):
            self.gb.advance(100)
            if first.called:
                break
            if step % 20 == 0:  # a newcomer every 2 s, forever
                self.gb.join("g", self.new_member(rebalance=10000), rebalance=10000)
        self.assertEqual(self.successResultOf(first).generation_id, 1)
        # 10 s of rebalance timeout, give or take the 100 ms steps of this test.
        elapsed = self.gb.clock.seconds() - start
        self.assertTrue(9.99 <= elapsed <= 10.5, elapsed)


class CostTests(GroupTestCase):
    def test_heartbeats_schedule_nothing(self) -> None:
        """A heartbeat moves a deadline: no timer is created, cancelled or rescheduled."""
        generation, ids, _ = self.stable(5)
        # As our DelayedCall: without the mypy-zope plugin, IDelayedCall's methods do not check.
        calls: list[DelayedCall] = list(self.gb.clock.getDelayedCalls())
        times = [c.getTime() for c in calls]
        for _ in range(1000):
            for m in ids:
                self.gb.heartbeat("g", m, generation)
        self.assertEqual(list(self.gb.clock.getDelayedCalls()), calls)
        self.assertEqual([c.getTime() for c in calls], times)

    def test_idle_groups_schedule_nothing(self) -> None:
        """Thousands of idle groups cost one periodic retention timer, nothing per group."""
        self.gb.topic("t", 1)
        for i in range(2000):
            self.successResultOf(self.gb.commit(f"idle-{i}", {("t", 0): i}))
        self.assertEqual(len(self.gb.clock.getDelayedCalls()), 1)
        # Members that left leave no timers behind either.
        generation, ids, _ = self.stable(2)
        self.successResultOf(self.gb.leave("g", *[(m, None) for m in ids]))
        self.assertEqual(len(self.gb.clock.getDelayedCalls()), 1)
