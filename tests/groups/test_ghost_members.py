"""
A member whose join or heartbeat fails after it was stored in a consumer
group still has a session timer, so it cannot hold partitions forever.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.messages.join_group import JoinGroupResponse
from tests.groups.consumer_support import consumer_broker, describe, heartbeat
from tests.groups.test_conversion import sub

SESSION_MS = 6000


class GhostMemberTests(SynchronousTestCase):
    """A consumer group g on topic t (4 partitions) with consumer member c1."""

    def setUp(self) -> None:
        self.gb = consumer_broker()
        self.gb.topic("t", 4)
        self.assertEqual(heartbeat(self.gb, "g", "c1", 0, topics=["t"]).error_code, 0)

    def members(self) -> list[str]:
        """The member ids of g, sorted."""
        return sorted(m.member_id for m in describe(self.gb, "g").members)

    def keep_c1_alive(self, total_ms: int) -> None:
        """Advance the clock by C{total_ms} in steps, c1 heartbeating after each."""
        for _ in range(total_ms // 2000):
            self.gb.advance(2000)
            epoch = describe(self.gb, "g").members[0].member_epoch
            self.assertEqual(heartbeat(self.gb, "g", "c1", epoch).error_code, 0)

    def classic_join(self, member_id: str = "") -> JoinGroupResponse:
        """A classic consumer's JoinGroup to g, subscribed to t."""
        return self.successResultOf(
            self.gb.join("g", member_id, protocols=(("range", sub("t")),), session=SESSION_MS)
        )

    def test_classic_join_not_written_expires(self) -> None:
        """A classic member whose JoinGroup append failed is fenced after its session timeout."""
        mid = self.classic_join().member_id
        self.gb.faults.code = ErrorCode.NOT_LEADER_OR_FOLLOWER
        self.assertEqual(self.classic_join(mid).error_code, ErrorCode.NOT_COORDINATOR)
        self.gb.faults.code = None
        # Kafka would revert the member; here it stays in memory until its session expires.
        self.assertEqual(self.members(), sorted(["c1", mid]))
        self.keep_c1_alive(SESSION_MS + 2000)
        self.assertEqual(self.members(), ["c1"])

    def test_consumer_join_failing_assignment_expires(self) -> None:
        """A member whose joining heartbeat failed (UNSUPPORTED_ASSIGNOR) still expires."""
        self.gb.coordinator.consumer.assignors = {}
        joined = heartbeat(self.gb, "g", "c2", 0, topics=["t"])
        self.assertEqual(joined.error_code, ErrorCode.UNSUPPORTED_ASSIGNOR)
        self.assertIn("c2", self.members())
        session = self.gb.config.group_consumer_session_timeout_ms
        self.gb.advance(session + 1)
        self.assertNotIn("c2", self.members())

    def test_classic_join_failing_assignment_expires(self) -> None:
        """A classic member whose JoinGroup failed computing the target still expires."""
        mid = self.classic_join().member_id
        self.gb.coordinator.consumer.assignors = {}
        self.assertEqual(self.classic_join(mid).error_code, ErrorCode.UNSUPPORTED_ASSIGNOR)
        self.assertIn(mid, self.members())
        self.gb.advance(SESSION_MS + 1)
        self.assertNotIn(mid, self.members())
