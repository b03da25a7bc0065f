"""The KIP-848 consumer group protocol: ConsumerGroupHeartbeat's state machine on a Clock."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import consumer_group_heartbeat
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from tests.brokers import call
from tests.groups.consumer_support import (
    assigned,
    consumer_broker,
    describe,
    heartbeat,
    topic_id,
)
from tests.storage.support import fired


class JoinTests(SynchronousTestCase):
    """Joining: epochs and the first assignment."""

    def setUp(self) -> None:
        self.gb = consumer_broker()
        self.gb.topic("t", 4)
        self.tid = topic_id(self.gb, "t")

    def test_first_member_gets_everything(self) -> None:
        """A first member gets member epoch 1 and every partition at once."""
        r = heartbeat(self.gb, "g", "m1", 0, topics=["t"])
        self.assertEqual(r.error_code, 0)
        self.assertEqual(r.member_epoch, 1)
        self.assertEqual(r.member_id, "m1")
        self.assertEqual(r.heartbeat_interval_ms, 5000)
        self.assertEqual(assigned(r), [(self.tid, [0, 1, 2, 3])])
        d = describe(self.gb, "g")
        self.assertEqual((d.group_state, d.group_epoch, d.assignment_epoch), ("Stable", 1, 1))

    def test_v0_generates_member_id(self) -> None:
        """v0: an empty member id on joining gets a UUID from the broker; v1 refuses it."""
        r = heartbeat(self.gb, "g", "", 0, topics=["t"], version=0)
        self.assertEqual(r.error_code, 0)
        self.assertEqual(len(r.member_id or ""), 36)
        r1 = heartbeat(self.gb, "g", "", 0, topics=["t"], version=1)
        self.assertEqual(r1.error_code, ErrorCode.INVALID_REQUEST)

    def test_heartbeat_without_change_carries_no_assignment(self) -> None:
        """A steady heartbeat gets no assignment back (it did not change)."""
        heartbeat(self.gb, "g", "m1", 0, topics=["t"])
        r = heartbeat(self.gb, "g", "m1", 1, owned=[(self.tid, [0, 1, 2, 3])])
        self.assertEqual((r.error_code, r.member_epoch, r.assignment), (0, 1, None))

    def test_epoch_errors(self) -> None:
        """A greater epoch is FENCED_MEMBER_EPOCH, an unknown member UNKNOWN_MEMBER_ID."""
        heartbeat(self.gb, "g", "m1", 0, topics=["t"])
        self.assertEqual(heartbeat(self.gb, "g", "m1", 5).error_code, ErrorCode.FENCED_MEMBER_EPOCH)
        self.assertEqual(heartbeat(self.gb, "g", "zz", 1).error_code, ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(
            heartbeat(self.gb, "nope", "m1", 1).error_code, ErrorCode.GROUP_ID_NOT_FOUND
        )

    def test_max_size(self) -> None:
        """group.consumer.max.size: one more member gets GROUP_MAX_SIZE_REACHED."""
        gb = consumer_broker(group_consumer_max_size=1)
        gb.topic("t", 1)
        self.assertEqual(heartbeat(gb, "g", "m1", 0, topics=["t"]).error_code, 0)
        r = heartbeat(gb, "g", "m2", 0, topics=["t"])
        self.assertEqual(r.error_code, ErrorCode.GROUP_MAX_SIZE_REACHED)

    def test_unknown_assignor(self) -> None:
        """A server assignor that is not offered is UNSUPPORTED_ASSIGNOR."""
        gb = self.gb
        req = ConsumerGroupHeartbeatRequest(
            group_id="g",
            member_id="m",
            member_epoch=0,
            rebalance_timeout_ms=1000,
            subscribed_topic_names=("t",),
            server_assignor="sticky",
            topic_partitions=(),
        )
        r = fired(call(gb.broker, consumer_group_heartbeat.SPEC, req, 1))
        self.assertEqual(r.error_code, ErrorCode.UNSUPPORTED_ASSIGNOR)


class RevocationTests(SynchronousTestCase):
    """A partition moves to its new owner only after the old owner revoked it."""

    def test_revocation_order(self) -> None:
        """The new member waits (UNRELEASED) until the old owner revoked (UNREVOKED)."""
        gb = consumer_broker()
        gb.topic("t", 4)
        tid = topic_id(gb, "t")
        heartbeat(gb, "g", "m1", 0, topics=["t"])
        r2 = heartbeat(gb, "g", "m2", 0, topics=["t"])
        # m2 is at the new epoch 2 but its partitions are still m1's.
        self.assertEqual((r2.member_epoch, assigned(r2)), (2, []))
        self.assertEqual(describe(gb, "g").group_state, "Reconciling")
        r1 = heartbeat(gb, "g", "m1", 1, owned=[(tid, [0, 1, 2, 3])])
        # m1 keeps epoch 1 and is told to keep only its target half.
        self.assertEqual((r1.member_epoch, assigned(r1)), (1, [(tid, [0, 2])]))
        r2 = heartbeat(gb, "g", "m2", 2, owned=[])
        self.assertEqual(assigned(r2) if r2.assignment else [], [])
        r1 = heartbeat(gb, "g", "m1", 1, owned=[(tid, [0, 2])])
        self.assertEqual((r1.member_epoch, r1.error_code), (2, 0))
        r2 = heartbeat(gb, "g", "m2", 2, owned=[])
        self.assertEqual(assigned(r2), [(tid, [1, 3])])
        self.assertEqual(describe(gb, "g").group_state, "Stable")

    def test_leave_frees_partitions(self) -> None:
        """A member leaving (-1) bumps the group epoch and the other gets everything."""
        gb = consumer_broker()
        gb.topic("t", 2)
        tid = topic_id(gb, "t")
        heartbeat(gb, "g", "m1", 0, topics=["t"])
        heartbeat(gb, "g", "m2", 0, topics=["t"])
        heartbeat(gb, "g", "m1", 1, owned=[(tid, [0, 1])])
        heartbeat(gb, "g", "m1", 1, owned=[(tid, [0])])
        left = heartbeat(gb, "g", "m2", -1)
        self.assertEqual((left.error_code, left.member_epoch), (0, -1))
        r1 = heartbeat(gb, "g", "m1", 2, owned=[(tid, [0])])
        self.assertEqual((r1.member_epoch, assigned(r1)), (3, [(tid, [0, 1])]))

    def test_session_expiry(self) -> None:
        """A member that stops heartbeating is fenced after the session timeout."""
        gb = consumer_broker(group_consumer_session_timeout_ms=6000)
        gb.topic("t", 2)
        tid = topic_id(gb, "t")
        heartbeat(gb, "g", "m1", 0, topics=["t"])
        heartbeat(gb, "g", "m2", 0, topics=["t"])
        for _ in range(3):
            gb.advance(3000)
            heartbeat(gb, "g", "m1", 1, owned=[(tid, [0, 1])])
        d = describe(gb, "g")
        self.assertEqual([m.member_id for m in d.members], ["m1"])
        self.assertEqual(d.group_epoch, 3)
        self.assertEqual(heartbeat(gb, "g", "m2", 2).error_code, ErrorCode.UNKNOWN_MEMBER_ID)


class StaticMemberTests(SynchronousTestCase):
    """Static members (instance ids): temporary leave and rejoin."""

    def test_rejoin_keeps_assignment(self) -> None:
        """Leaving with -2 then rejoining with a new member id keeps the assignment and epoch."""
        gb = consumer_broker()
        gb.topic("t", 2)
        tid = topic_id(gb, "t")
        heartbeat(gb, "g", "a1", 0, topics=["t"], instance="i")
        heartbeat(gb, "g", "b", 0, topics=["t"])
        heartbeat(gb, "g", "a1", 1, owned=[(tid, [0, 1])], instance="i")
        heartbeat(gb, "g", "a1", 1, owned=[(tid, [0])], instance="i")
        before = describe(gb, "g").group_epoch
        r = heartbeat(gb, "g", "a1", -2, instance="i")
        self.assertEqual((r.error_code, r.member_epoch), (0, -2))
        busy = heartbeat(gb, "g", "a2", 0, topics=["t"], instance="i")
        self.assertEqual(busy.error_code, 0)
        self.assertEqual(assigned(busy), [(tid, [0])])
        self.assertEqual(describe(gb, "g").group_epoch, before)
        old = heartbeat(gb, "g", "a1", 2, instance="i")
        self.assertEqual(old.error_code, ErrorCode.FENCED_INSTANCE_ID)

    def test_unreleased_instance_id(self) -> None:
        """An instance id still owned by an active member is UNRELEASED_INSTANCE_ID."""
        gb = consumer_broker()
        gb.topic("t", 1)
        heartbeat(gb, "g", "a1", 0, topics=["t"], instance="i")
        r = heartbeat(gb, "g", "a2", 0, topics=["t"], instance="i")
        self.assertEqual(r.error_code, ErrorCode.UNRELEASED_INSTANCE_ID)


class SubscriptionTests(SynchronousTestCase):
    """Regex subscriptions and topic metadata changes."""

    def test_regex_and_new_topic(self) -> None:
        """A regex subscription matches topics; a topic created later joins at the next beat."""
        gb = consumer_broker()
        gb.topic("orders-1", 1)
        gb.topic("other", 1)
        r = heartbeat(gb, "g", "m", 0, regex="orders-.*")
        self.assertEqual(assigned(r), [(topic_id(gb, "orders-1"), [0])])
        gb.topic("orders-2", 1)
        r = heartbeat(gb, "g", "m", 1, owned=[(topic_id(gb, "orders-1"), [0])])
        self.assertEqual(r.member_epoch, 2)
        self.assertEqual(
            sorted(assigned(r)),
            sorted([(topic_id(gb, "orders-1"), [0]), (topic_id(gb, "orders-2"), [0])]),
        )

    def test_invalid_regex(self) -> None:
        """A regex that does not compile is INVALID_REGULAR_EXPRESSION."""
        gb = consumer_broker()
        r = heartbeat(gb, "g", "m", 0, regex="(")
        self.assertEqual(r.error_code, ErrorCode.INVALID_REGULAR_EXPRESSION)
