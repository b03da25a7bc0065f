"""Consumer groups (KIP-848) in the other group APIs, and their records replayed after a restart."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.member import ConsumerGroupMember, MemberState
from tests.brokers import metadata_of
from tests.groups.consumer_support import (
    RoundRobin,
    assigned,
    consumer_broker,
    describe,
    heartbeat,
    topic_id,
)
from tests.groups.support import GroupBroker


class ReplayTests(SynchronousTestCase):
    """A restarted coordinator keeps its consumer groups (records in __consumer_offsets)."""

    def test_restart_keeps_group(self) -> None:
        """Members, epochs, assignments and state come back after a restart."""
        gb = consumer_broker()
        gb.topic("t", 2)
        tid = topic_id(gb, "t")
        heartbeat(gb, "g", "m1", 0, topics=["t"], instance="i1")
        heartbeat(gb, "g", "m2", 0, topics=["t"])
        heartbeat(gb, "g", "m1", 1, owned=[(tid, [0, 1])], instance="i1")
        before = describe(gb, "g")
        again = GroupBroker(logs=gb.broker.logs, log_dir=metadata_of(gb.broker).log_dir)
        again.coordinator.consumer.assignors = {"uniform": RoundRobin()}
        self.successResultOf(again.coordinator.start())
        self.assertEqual(describe(again, "g"), before)
        # The revoking member goes on where it was.
        r = heartbeat(again, "g", "m1", 1, owned=[(tid, [0])], instance="i1")
        self.assertEqual((r.error_code, r.member_epoch), (0, 2))
        r2 = heartbeat(again, "g", "m2", 2, owned=[])
        self.assertEqual(assigned(r2), [(tid, [1])])

    def test_deleted_group_stays_deleted(self) -> None:
        """DeleteGroups' tombstones remove the group for a restarted coordinator too."""
        gb = consumer_broker()
        gb.topic("t", 1)
        heartbeat(gb, "g", "m1", 0, topics=["t"])
        res = self.successResultOf(gb.delete("g"))
        self.assertEqual(res.results[0].error_code, ErrorCode.NON_EMPTY_GROUP)
        heartbeat(gb, "g", "m1", -1)
        res = self.successResultOf(gb.delete("g"))
        self.assertEqual(res.results[0].error_code, 0)
        again = GroupBroker(logs=gb.broker.logs, log_dir=metadata_of(gb.broker).log_dir)
        self.successResultOf(again.coordinator.start())
        self.assertEqual(describe(again, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        self.assertEqual(again.list_groups().groups, ())


class OtherApisTests(SynchronousTestCase):
    """ListGroups, DescribeGroups, OffsetCommit and OffsetFetch with a consumer group."""

    def setUp(self) -> None:
        self.gb = consumer_broker()
        self.gb.topic("t", 2)
        heartbeat(self.gb, "g", "m1", 0, topics=["t"])

    def test_list_groups_types(self) -> None:
        """ListGroups v5 reports the group as type consumer; the types filter selects it."""
        gb = self.gb
        self.successResultOf(gb.commit("classic-offsets", {("t", 0): 1}))
        listed = {(g.group_id, g.group_type, g.group_state) for g in gb.list_groups().groups}
        self.assertEqual(
            listed, {("g", "consumer", "Stable"), ("classic-offsets", "classic", "Empty")}
        )
        only = gb.list_groups(types=("Consumer",)).groups
        self.assertEqual([(g.group_id, g.protocol_type) for g in only], [("g", "consumer")])
        self.assertEqual(
            [g.group_id for g in gb.list_groups(types=("classic",)).groups], ["classic-offsets"]
        )

    def test_describe_groups_classic_api(self) -> None:
        """DescribeGroups (classic) answers Dead for a consumer group, as Kafka."""
        d = self.gb.describe("g").groups[0]
        self.assertEqual((d.error_code, d.group_state), (0, "Dead"))

    def test_offset_commit_member_epoch(self) -> None:
        """OffsetCommit v9: the member epoch must match (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID)."""
        gb = self.gb

        def code(generation: int = -1, member_id: str = "") -> int:
            r = self.successResultOf(
                gb.commit("g", {("t", 0): 5}, generation=generation, member_id=member_id)
            )
            return int(r.topics[0].partitions[0].error_code)

        self.assertEqual(code(generation=1, member_id="m1"), 0)
        self.assertEqual(code(generation=0, member_id="m1"), ErrorCode.STALE_MEMBER_EPOCH)
        self.assertEqual(code(generation=1, member_id="zz"), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(code(), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(gb.committed("g", "t", [0]), {0: 5})


class ClassicJoinTests(SynchronousTestCase):
    """A classic JoinGroup for the id of a consumer group."""

    def test_non_empty_consumer_group(self) -> None:
        """A classic member joining a consumer group with members is served by it (a member id)."""
        gb = consumer_broker()
        gb.topic("t", 1)
        heartbeat(gb, "g", "m1", 0, topics=["t"])
        r = self.successResultOf(gb.join("g"))
        self.assertEqual(r.error_code, ErrorCode.MEMBER_ID_REQUIRED)
        self.assertEqual(describe(gb, "g").group_state, "Stable")

    def test_empty_consumer_group_becomes_classic(self) -> None:
        """An empty consumer group is deleted and the classic group created (Kafka's conversion)."""
        gb = consumer_broker()
        gb.topic("t", 1)
        heartbeat(gb, "g", "m1", 0, topics=["t"])
        heartbeat(gb, "g", "m1", -1)
        r = self.successResultOf(gb.join("g"))
        self.assertEqual(r.error_code, ErrorCode.MEMBER_ID_REQUIRED)
        self.assertEqual(describe(gb, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        types = [(g.group_id, g.group_type) for g in gb.list_groups().groups]
        self.assertEqual(types, [("g", "classic")])


class RecordBytesTests(SynchronousTestCase):
    """The records are in Kafka's format (types 3-8, value version 0)."""

    def test_epoch_record_bytes(self) -> None:
        """ConsumerGroupMetadata: key type 3 + group; value version 0, epoch, no tagged fields."""
        key, value = crec.epoch_record("g", 7)
        self.assertEqual(key, bytes.fromhex("0003" + "0001" + "67"))
        self.assertEqual(value, bytes.fromhex("0000" + "00000007" + "00"))

    def test_current_assignment_round_trip(self) -> None:
        """A current-assignment record decodes to what was written."""
        tid = uuid.UUID(int=5)
        member = ConsumerGroupMember(
            "m",
            member_epoch=3,
            previous_member_epoch=2,
            state=MemberState.UNREVOKED_PARTITIONS,
            assigned_partitions={tid: frozenset({1})},
            partitions_pending_revocation={tid: frozenset({0})},
        )
        key, value = crec.current_assignment_record("g", member)
        self.assertEqual(key[:2], b"\x00\x08")
        decoded = crec.decode(key, value)
        assert decoded is not None and value is not None
        self.assertEqual((decoded.record_type, decoded.group_id, decoded.member_id), (8, "g", "m"))
        self.assertEqual(value[2:6], (3).to_bytes(4, "big"))
