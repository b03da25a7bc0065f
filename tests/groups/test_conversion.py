"""
Online upgrade and downgrade between classic and consumer groups, and classic
members inside a consumer group (Kafka's GroupMetadataManager conversion paths).

The embedded consumer protocol bytes are built and read with kafka-python's
own ConsumerProtocolSubscription / ConsumerProtocolAssignment classes.
"""

from __future__ import annotations

from typing import Any

from kafka.coordinator.assignors.abstract import (
    ConsumerProtocolAssignment,
    ConsumerProtocolSubscription,
)
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.group_overrides import RESOURCE_GROUP
from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.records import decode_record
from kafkatwist.messages import group_coordinator_records as m
from kafkatwist.messages.join_group import JoinGroupResponse
from kafkatwist.wire.record import decode_batch_records
from tests.apis.test_incremental_alter_configs import SET, alter
from tests.brokers import log_of, metadata_of
from tests.groups.consumer_support import (
    RoundRobin,
    assigned,
    describe,
    heartbeat,
    topic_id,
)
from tests.groups.support import GroupBroker, member_id_of
from tests.storage.support import stored_batches

NONE = int(ErrorCode.NONE)


def sub(*topics: str, owned: list[tuple[str, list[int]]] | None = None, version: int = 1) -> bytes:
    """A subscription as kafka-python encodes it."""
    message = ConsumerProtocolSubscription(
        version=version, topics=list(topics), user_data=b"", owned_partitions=owned or []
    )
    encoded: bytes = message.encode()
    return encoded


def assignment(*topics: tuple[str, list[int]]) -> bytes:
    """An assignment as kafka-python encodes it."""
    encoded: bytes = ConsumerProtocolAssignment(
        version=0, assigned_partitions=list(topics), user_data=b""
    ).encode()
    return encoded


def partitions_of(data: bytes) -> dict[str, list[int]]:
    """The partitions of an assignment, read by kafka-python."""
    decoded = ConsumerProtocolAssignment.decode(data)
    return {t.topic: sorted(t.partitions) for t in decoded.assigned_partitions}


class ConversionCase(SynchronousTestCase):
    """A broker with topic t (4 partitions) and a Stable classic group g of two members."""

    def make(self, **config: Any) -> None:
        self.gb = GroupBroker(**config)
        self.gb.coordinator.consumer.assignors = {"uniform": RoundRobin()}
        self.gb.topic("t", 4)
        self.tid = topic_id(self.gb, "t")

    def classic_join(self, member_id: str = "", **kw: Any) -> JoinGroupResponse:
        kw.setdefault("protocols", (("range", sub("t")),))
        return self.successResultOf(self.gb.join("g", member_id, **kw))

    def classic_group(self) -> tuple[str, str]:
        """Two classic members; the leader gives a t0,t1 and b t2,t3; generation 1."""
        a = member_id_of(self.classic_join())
        b = member_id_of(self.classic_join())
        protocols = (("range", sub("t")),)
        joins = [self.gb.join("g", mid, protocols=protocols) for mid in (a, b)]
        self.gb.advance(0)
        responses = [self.successResultOf(d) for d in joins]
        self.assertEqual(responses[0].generation_id, 1)
        leader = responses[0].leader
        given = {a: assignment(("t", [0, 1])), b: assignment(("t", [2, 3]))}
        for mid in (a, b):
            r = self.successResultOf(self.gb.sync("g", mid, 1, given if mid == leader else None))
            self.assertEqual(r.error_code, NONE)
        return a, b

    def records(self) -> list[tuple[bytes, bytes | None]]:
        """Every record of g's __consumer_offsets partition, in order."""
        log = log_of(self.gb.broker, rec.OFFSETS_TOPIC, self.gb.coordinator.partition_for("g"))
        return [
            (r.key, r.value)
            for batch in stored_batches(log)
            for r in decode_batch_records(batch, check_crc=True)
            if r.key is not None
        ]


class UpgradeTests(ConversionCase):
    """A consumer-protocol member joining a classic group converts it (convertToConsumerGroup)."""

    def test_upgrade_keeps_members_and_assignments(self) -> None:
        """Classic members become members at the generation, holding their last assignment."""
        self.make()
        a, b = self.classic_group()
        r = heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        self.assertEqual(r.error_code, NONE)
        d = describe(self.gb, "g")
        self.assertEqual(d.error_code, NONE)
        members = {x.member_id: x for x in d.members}
        self.assertEqual(set(members), {a, b, "c1"})
        self.assertEqual(members[a].member_type, 0)
        self.assertEqual(members["c1"].member_type, 1)
        self.assertEqual(d.group_epoch, 2)
        self.assertEqual(members[a].member_epoch, 1)
        held = {
            mid: [p for t in x.assignment.topic_partitions for p in t.partitions]
            for mid, x in members.items()
        }
        self.assertEqual(sorted(held[a]), [0, 1])
        self.assertEqual(sorted(held[b]), [2, 3])
        # The new member waits for partitions the classic members still hold.
        self.assertEqual(r.member_epoch, 2)
        self.assertEqual(assigned(r), [])

    def test_classic_members_rejoin_and_hand_over(self) -> None:
        """The classic members are told to rejoin, then the consumer member gets its share."""
        self.make()
        a, b = self.classic_group()
        heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        self.assertEqual(self.gb.heartbeat("g", a, 1), ErrorCode.REBALANCE_IN_PROGRESS)
        ja = self.classic_join(a)
        self.assertEqual((ja.error_code, ja.generation_id, ja.leader), (NONE, 2, ""))
        self.assertEqual(ja.protocol_name, "range")
        sa = self.successResultOf(
            self.gb.sync("g", a, 2, protocol_type="consumer", protocol_name="range")
        )
        self.assertEqual(sa.error_code, NONE)
        self.assertEqual(self.gb.heartbeat("g", a, 2), NONE)
        jb = self.classic_join(b)
        sb = self.successResultOf(self.gb.sync("g", b, jb.generation_id))
        held = {a: partitions_of(sa.assignment), b: partitions_of(sb.assignment)}
        # A member that waited for a partition the other released is asked to rejoin for it.
        for mid in (a, b):
            gen = {x.member_id: x.member_epoch for x in describe(self.gb, "g").members}[mid]
            if self.gb.heartbeat("g", mid, gen) == ErrorCode.REBALANCE_IN_PROGRESS:
                j = self.classic_join(mid)
                s2 = self.successResultOf(self.gb.sync("g", mid, j.generation_id))
                held[mid] = partitions_of(s2.assignment)
        c = heartbeat(self.gb, "g", "c1", 2, owned=[])
        given = {
            a: held[a].get("t", []),
            b: held[b].get("t", []),
            "c1": assigned(c)[0][1] if c.assignment and c.assignment.topic_partitions else [],
        }
        # RoundRobin over sorted member ids deals the four partitions out; nobody shares one.
        everything = sorted(p for ps in given.values() for p in ps)
        self.assertEqual(everything, [0, 1, 2, 3])
        self.assertTrue(given["c1"])
        self.assertEqual(describe(self.gb, "g").group_state, "Stable")

    def test_upgrade_records(self) -> None:
        """The classic group's tombstone comes first, then the consumer group's records."""
        self.make()
        self.classic_group()
        before = len(self.records())
        heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        written = self.records()[before:]
        first = decode_record(*written[0])
        self.assertIsNone(first.value)  # type: ignore[union-attr]
        kinds = [crec.decode(k, v) for k, v in written[1:]]
        types = [x.record_type for x in kinds if x is not None]
        self.assertEqual(types[:2], [crec.MEMBER_METADATA, crec.MEMBER_METADATA])
        self.assertEqual(types[2], crec.GROUP_METADATA)
        subscription = kinds[0]
        assert subscription is not None
        value = subscription.value
        assert isinstance(value, m.ConsumerGroupMemberMetadataValue)
        assert value.classic_member_metadata is not None
        self.assertEqual(value.classic_member_metadata.session_timeout_ms, 10000)
        self.assertEqual(
            [p.name for p in value.classic_member_metadata.supported_protocols], ["range"]
        )

    def test_restart_keeps_converted_group(self) -> None:
        """A restarted coordinator replays the conversion: a consumer group with classic members."""
        self.make()
        a, _ = self.classic_group()
        heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        again = GroupBroker(logs=self.gb.broker.logs, log_dir=metadata_of(self.gb.broker).log_dir)
        self.successResultOf(again.coordinator.start())
        d = describe(again, "g")
        self.assertEqual(d.error_code, NONE)
        members = {x.member_id: x for x in d.members}
        self.assertEqual(members[a].member_type, 0)
        self.assertEqual(d.group_epoch, 2)
        # The classic member is still served by the consumer group after the restart.
        self.assertEqual(again.heartbeat("g", a, 1), ErrorCode.REBALANCE_IN_PROGRESS)

    def test_policy_disabled_refuses(self) -> None:
        """With the upgrade disallowed the heartbeat gets GROUP_ID_NOT_FOUND."""
        for policy in ("disabled", "downgrade"):
            self.make(group_consumer_migration_policy=policy)
            self.classic_group()
            r = heartbeat(self.gb, "g", "c1", 0, topics=["t"])
            self.assertEqual(r.error_code, ErrorCode.GROUP_ID_NOT_FOUND)
            self.assertEqual(r.error_message, "Group g is not a consumer group.")

    def test_other_protocol_type_refuses(self) -> None:
        """A classic group not of the consumer protocol type is not upgraded."""
        self.make()
        mid = member_id_of(self.classic_join(protocol_type="connect"))
        d = self.gb.join("g", mid, protocol_type="connect", protocols=(("range", sub("t")),))
        self.gb.advance(0)
        self.assertEqual(self.successResultOf(d).error_code, NONE)
        r = heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        self.assertEqual(r.error_code, ErrorCode.GROUP_ID_NOT_FOUND)

    def test_parked_join_gets_rebalance_in_progress(self) -> None:
        """A JoinGroup parked in the classic rebalance is answered REBALANCE_IN_PROGRESS."""
        self.make()
        a, b = self.classic_group()
        parked = self.gb.join("g", a, protocols=(("range", sub("t")),))
        self.assertNoResult(parked)
        heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        self.assertEqual(self.successResultOf(parked).error_code, ErrorCode.REBALANCE_IN_PROGRESS)


class ClassicMemberTests(ConversionCase):
    """Classic members served by a consumer group (classicGroup*ToConsumerGroup)."""

    def setUp(self) -> None:
        self.make()
        heartbeat(self.gb, "g", "c1", 0, topics=["t"])

    def test_join_sync_heartbeat(self) -> None:
        """A new classic member gets MEMBER_ID_REQUIRED, then its epoch and partitions."""
        first = self.classic_join()
        self.assertEqual(first.error_code, ErrorCode.MEMBER_ID_REQUIRED)
        mid = first.member_id
        j = self.classic_join(mid)
        self.assertEqual(j.error_code, NONE)
        self.assertEqual(j.members, ())
        s = self.successResultOf(self.gb.sync("g", mid, j.generation_id))
        self.assertEqual(s.error_code, NONE)
        # c1 still owns every partition: the classic member waits (UNRELEASED) with nothing.
        self.assertEqual(partitions_of(s.assignment), {})
        c = heartbeat(self.gb, "g", "c1", 1, owned=[(self.tid, [0, 1, 2, 3])])
        kept = assigned(c)[0][1]
        heartbeat(self.gb, "g", "c1", c.member_epoch, owned=[(self.tid, kept)])
        # Released partitions: the heartbeat asks the member to rejoin for them.
        self.assertEqual(
            self.gb.heartbeat("g", mid, j.generation_id), ErrorCode.REBALANCE_IN_PROGRESS
        )
        j2 = self.classic_join(mid)
        s2 = self.successResultOf(self.gb.sync("g", mid, j2.generation_id))
        self.assertEqual(sorted(partitions_of(s2.assignment)["t"] + kept), [0, 1, 2, 3])
        self.assertEqual(self.gb.heartbeat("g", mid, j2.generation_id), NONE)

    def test_errors(self) -> None:
        """Kafka's checks: unknown member, a consumer member, generation, protocol, type."""
        mid = self.classic_join().member_id
        j = self.classic_join(mid)
        gen = j.generation_id
        self.assertEqual(self.gb.heartbeat("g", "nobody", gen), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(self.gb.heartbeat("g", "c1", 1), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(self.gb.heartbeat("g", mid, gen + 5), ErrorCode.ILLEGAL_GENERATION)
        wrong = self.successResultOf(self.gb.sync("g", mid, gen, protocol_name="roundrobin"))
        self.assertEqual(wrong.error_code, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        other = self.classic_join(protocols=(("roundrobin", sub("t")),))
        self.assertEqual(other.error_code, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        connect = self.classic_join(protocol_type="connect")
        self.assertEqual(connect.error_code, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)

    def test_session_timeout_from_join(self) -> None:
        """A classic member is fenced after its own JoinGroup session timeout."""
        mid = self.classic_join(session=6000).member_id
        j = self.classic_join(mid, session=6000)
        self.successResultOf(self.gb.sync("g", mid, j.generation_id))
        for _ in range(3):
            self.gb.advance(2500)
            heartbeat(
                self.gb, "g", "c1", describe(self.gb, "g").members[0].member_epoch, owned=None
            )
        self.assertEqual([x.member_id for x in describe(self.gb, "g").members], ["c1"])

    def test_sync_timeout(self) -> None:
        """A classic member that joins but never syncs is fenced after its rebalance timeout."""
        mid = self.classic_join(rebalance=5000).member_id
        self.classic_join(mid, rebalance=5000)
        self.gb.advance(5001)
        self.assertNotIn(mid, [x.member_id for x in describe(self.gb, "g").members])

    def test_leave(self) -> None:
        """LeaveGroup removes a classic member and bumps the epoch; a consumer member is refused."""
        mid = self.classic_join().member_id
        j = self.classic_join(mid)
        self.successResultOf(self.gb.sync("g", mid, j.generation_id))
        epoch = describe(self.gb, "g").group_epoch
        r = self.successResultOf(self.gb.leave("g", (mid, None), ("c1", None)))
        self.assertEqual([x.error_code for x in r.members], [NONE, ErrorCode.UNKNOWN_MEMBER_ID])
        d = describe(self.gb, "g")
        self.assertEqual(([x.member_id for x in d.members], d.group_epoch), (["c1"], epoch + 1))

    def test_offset_commit_with_generation(self) -> None:
        """A classic member commits with its generation (any version), else ILLEGAL_GENERATION."""
        mid = self.classic_join().member_id
        j = self.classic_join(mid)
        gen = j.generation_id
        ok = self.successResultOf(
            self.gb.commit("g", {("t", 0): 5}, generation=gen, member_id=mid, version=7)
        )
        self.assertEqual(ok.topics[0].partitions[0].error_code, NONE)
        bad = self.successResultOf(
            self.gb.commit("g", {("t", 0): 6}, generation=gen - 1, member_id=mid, version=7)
        )
        self.assertEqual(bad.topics[0].partitions[0].error_code, ErrorCode.ILLEGAL_GENERATION)


class DowngradeTests(ConversionCase):
    """The last consumer-protocol member leaving converts the group back (convertToClassicGroup)."""

    def mixed(self) -> str:
        """Consumer member c1 and one classic member, reconciled."""
        heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        mid: str = self.classic_join().member_id
        j = self.classic_join(mid)
        self.successResultOf(self.gb.sync("g", mid, j.generation_id))
        return mid

    def test_downgrade_then_classic_rebalance(self) -> None:
        """The group becomes classic (Stable, then rebalancing); the member rejoins it."""
        self.make()
        mid = self.mixed()
        epoch = describe(self.gb, "g").group_epoch
        left = heartbeat(self.gb, "g", "c1", -1)
        self.assertEqual(left.error_code, NONE)
        self.assertEqual(describe(self.gb, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        listed = self.gb.describe("g").groups[0]
        self.assertEqual(listed.group_state, "PreparingRebalance")
        self.assertEqual(listed.protocol_type, "consumer")
        self.assertEqual([x.member_id for x in listed.members], [mid])
        self.assertEqual(self.gb.heartbeat("g", mid, epoch), ErrorCode.REBALANCE_IN_PROGRESS)
        j = self.classic_join(mid)
        self.assertEqual((j.error_code, j.leader, j.generation_id), (NONE, mid, epoch + 1))
        given = {mid: assignment(("t", [0, 1, 2, 3]))}
        s = self.successResultOf(self.gb.sync("g", mid, j.generation_id, given))
        self.assertEqual(partitions_of(s.assignment), {"t": [0, 1, 2, 3]})

    def test_downgrade_records_and_restart(self) -> None:
        """Consumer tombstones then the GroupMetadata record; a restart sees the classic group."""
        self.make()
        mid = self.mixed()
        before = len(self.records())
        heartbeat(self.gb, "g", "c1", -1)
        written = self.records()[before:]
        last = decode_record(*written[-1])
        assert isinstance(last, rec.GroupRecord)
        value = last.value
        assert value is not None
        self.assertEqual([x.member_id for x in value.members], [mid])
        self.assertTrue(all(v is None for _, v in written[:-1]))
        again = GroupBroker(logs=self.gb.broker.logs, log_dir=metadata_of(self.gb.broker).log_dir)
        self.successResultOf(again.coordinator.start())
        listed = again.describe("g").groups[0]
        self.assertEqual([x.member_id for x in listed.members], [mid])
        self.assertEqual(describe(again, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)

    def test_session_expiry_downgrades(self) -> None:
        """The consumer member's session expiring downgrades the group too."""
        self.make(group_consumer_session_timeout_ms=45000)
        mid = self.mixed()
        epoch = describe(self.gb, "g").group_epoch
        for _ in range(9):
            self.gb.advance(5000)
            if describe(self.gb, "g").error_code == NONE:
                self.assertEqual(self.gb.heartbeat("g", mid, epoch), NONE)
        listed = self.gb.describe("g").groups[0]
        self.assertEqual(
            (listed.protocol_type, listed.group_state), ("consumer", "PreparingRebalance")
        )
        self.assertEqual([x.member_id for x in listed.members], [mid])

    def test_policy_refuses_downgrade(self) -> None:
        """With the downgrade disallowed the group stays a consumer group of classic members."""
        self.make(group_consumer_migration_policy="upgrade")
        mid = self.mixed()
        heartbeat(self.gb, "g", "c1", -1)
        d = describe(self.gb, "g")
        self.assertEqual([x.member_id for x in d.members], [mid])


class GroupConfigTests(ConversionCase):
    """The consumer coordinator reads a group's session timeout and heartbeat interval configs."""

    def test_overrides_used(self) -> None:
        """consumer.heartbeat.interval.ms is answered, consumer.session.timeout.ms fences."""
        self.make()
        ops = [
            ("consumer.heartbeat.interval.ms", SET, "6000"),
            ("consumer.session.timeout.ms", SET, "55000"),
        ]
        self.assertEqual(alter(self.gb.broker, [(RESOURCE_GROUP, "g", ops)]), [(0, None)])
        r = heartbeat(self.gb, "g", "c1", 0, topics=["t"])
        self.assertEqual(r.heartbeat_interval_ms, 6000)
        other = heartbeat(self.gb, "h", "c1", 0, topics=["t"])
        self.assertEqual(other.heartbeat_interval_ms, 5000)
        self.gb.advance(50000)
        # Past the broker's 45 s but within the group's 55 s: still a member.
        self.assertEqual([x.member_id for x in describe(self.gb, "g").members], ["c1"])
        self.assertEqual(describe(self.gb, "h").members, ())
        self.gb.advance(5001)
        self.assertEqual(describe(self.gb, "g").members, ())


class StaticReplacementTests(ConversionCase):
    """A classic static member taking over the last consumer member's instance id."""

    def test_downgrade_without_rebalance(self) -> None:
        """The group becomes classic and Stable at once; the new member keeps the old share."""
        self.make()
        c = heartbeat(self.gb, "g", "c1", 0, topics=["t"], instance="i1")
        heartbeat(
            self.gb, "g", "c1", c.member_epoch, owned=[(self.tid, [0, 1, 2, 3])], instance="i1"
        )
        a = self.classic_join().member_id
        ja = self.classic_join(a)
        self.successResultOf(self.gb.sync("g", a, ja.generation_id))
        epoch = describe(self.gb, "g").group_epoch
        target = {
            x.member_id: [p for t in x.target_assignment.topic_partitions for p in t.partitions]
            for x in describe(self.gb, "g").members
        }
        j = self.classic_join(instance="i1")
        self.assertEqual((j.error_code, j.generation_id), (NONE, epoch))
        self.assertEqual(describe(self.gb, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        listed = self.gb.describe("g").groups[0]
        self.assertEqual(listed.group_state, "Stable")
        self.assertEqual({x.member_id for x in listed.members}, {a, j.member_id})
        s = self.successResultOf(self.gb.sync("g", j.member_id, epoch, instance="i1"))
        self.assertEqual(partitions_of(s.assignment).get("t", []), sorted(target["c1"]))

    def test_policy_keeps_consumer_group(self) -> None:
        """Without the downgrade allowed the group stays a consumer group of classic members."""
        self.make(group_consumer_migration_policy="upgrade")
        heartbeat(self.gb, "g", "c1", 0, topics=["t"], instance="i1")
        j = self.classic_join(instance="i1")
        self.assertEqual(j.error_code, NONE)
        d = describe(self.gb, "g")
        self.assertEqual([(x.member_id, x.member_type) for x in d.members], [(j.member_id, 0)])
