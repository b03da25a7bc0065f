"""``__consumer_offsets``: Kafka's record format, the partition of a group, and reloading."""

from __future__ import annotations

import struct
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.records import OffsetAndMetadata
from kafkatwist.groups.state import GroupState
from kafkatwist.wire.record import decode_batch_records
from tests.brokers import log_of, metadata_of
from tests.groups.support import (
    KAFKA_PYTHON_SUBSCRIPTION,
    LIBRDKAFKA_SUBSCRIPTION_T4,
    GroupBroker,
    member_id_of,
)
from tests.groups.test_offsets import log_records
from tests.storage.support import stored_batches

NONE = int(ErrorCode.NONE)


def decoded_value(key: bytes | None, value: bytes | None) -> Any:
    """The decoded value of a record (None for a tombstone)."""
    decoded = rec.decode_record(key, value)
    assert decoded is not None
    return decoded.value


# A real offset commit record of Kafka 3.3, dumped from __consumer_offsets and
# published in "Few observations about `__consumer_offsets` topic" (a
# kafka-backup project's notes, found through the code search index; the same
# bytes are explained field by field there): group "kafka-backup-topic", topic
# "test-topic-1", partition 0, offset 0x1589, leader epoch -1, metadata "",
# commit timestamp 0x01821c1a5439. Key version 1, value version 3.
GOLDEN_KEY = b"\x00\x01\x00\x12kafka-backup-topic\x00\x0ctest-topic-1\x00\x00\x00\x00"
GOLDEN_VALUE = (
    b"\x00\x03\x00\x00\x00\x00\x00\x00\x15\x89\xff\xff\xff\xff\x00\x00\x00\x00\x01\x82\x1c\x1aT9"
)


class FormatTests(SynchronousTestCase):
    def test_java_string_hash(self) -> None:
        """Java's String.hashCode, including overflow and UTF-16 surrogates."""
        self.assertEqual(rec.java_string_hash("hello"), 99162322)
        self.assertEqual(rec.java_string_hash(""), 0)
        self.assertEqual(rec.java_string_hash("polygenelubricants"), -(2**31))
        self.assertEqual(rec.java_string_hash("\u00e9"), 233)
        self.assertEqual(rec.java_string_hash("\U0001f600"), 0xD83D * 31 + 0xDE00)

    def test_partition_for(self) -> None:
        """abs(hashCode) % partitions, with Kafka's Utils.abs mapping Integer.MIN_VALUE to 0."""
        self.assertEqual(rec.partition_for("hello", 50), 99162322 % 50)
        self.assertEqual(rec.partition_for("polygenelubricants", 50), 0)
        negative = "my-group"
        h = rec.java_string_hash(negative)
        self.assertLess(h, 0)
        self.assertEqual(rec.partition_for(negative, 50), (-h) % 50)

    def test_offset_commit_record_matches_kafka(self) -> None:
        """Our offset commit key and value are byte for byte what Kafka writes."""
        key = rec.offset_commit_key("kafka-backup-topic", "test-topic-1", 0)
        value = rec.offset_commit_value(
            OffsetAndMetadata(
                offset=0x1589, leader_epoch=-1, metadata="", commit_timestamp_ms=0x01821C1A5439
            )
        )
        self.assertEqual(key, GOLDEN_KEY)
        self.assertEqual(value, GOLDEN_VALUE)

    def test_decode_kafka_offset_commit_record(self) -> None:
        """Kafka's offset commit record decodes to its fields."""
        decoded = rec.decode_record(GOLDEN_KEY, GOLDEN_VALUE)
        self.assertEqual(
            decoded,
            rec.OffsetRecord(
                "kafka-backup-topic",
                "test-topic-1",
                0,
                OffsetAndMetadata(0x1589, -1, "", 0x01821C1A5439, -1),
            ),
        )
        self.assertIsNone(decoded_value(GOLDEN_KEY, None))  # a tombstone

    def test_value_with_expire_timestamp_is_version_1(self) -> None:
        """With an expire timestamp Kafka writes OffsetCommitValue v1 (no leader epoch)."""
        value = rec.offset_commit_value(OffsetAndMetadata(5, 3, "md", 1000, 2000))
        self.assertEqual(
            value,
            b"\x00\x01" + struct.pack(">q", 5) + b"\x00\x02md" + struct.pack(">qq", 1000, 2000),
        )

    def test_group_metadata_record_layout(self) -> None:
        """GroupMetadataKey (type 2) and GroupMetadataValue v3 follow Kafka's JSON."""
        from kafkatwist.messages.group_coordinator_records import MemberMetadata

        key = rec.group_metadata_key("g")
        self.assertEqual(key, b"\x00\x02\x00\x01g")
        value = rec.group_metadata_value(
            protocol_type="consumer",
            generation=7,
            protocol="range",
            leader="m1",
            current_state_timestamp=123,
            members=[
                MemberMetadata(
                    member_id="m1",
                    group_instance_id=None,
                    client_id="c",
                    client_host="/h",
                    rebalance_timeout=300000,
                    session_timeout=45000,
                    subscription=b"S",
                    assignment=b"AA",
                )
            ],
        )

        def s(text: str) -> bytes:
            return struct.pack(">h", len(text)) + text.encode()

        expected = (
            b"\x00\x03"
            + s("consumer")
            + struct.pack(">i", 7)
            + s("range")
            + s("m1")
            + struct.pack(">q", 123)
            + struct.pack(">i", 1)
            + s("m1")
            + b"\xff\xff"
            + s("c")
            + s("/h")
            + struct.pack(">ii", 300000, 45000)
            + struct.pack(">i", 1)
            + b"S"
            + struct.pack(">i", 2)
            + b"AA"
        )
        self.assertEqual(value, expected)
        decoded = rec.decode_record(key, value)
        assert isinstance(decoded, rec.GroupRecord) and decoded.value is not None
        self.assertEqual(decoded.value.members[0].assignment, b"AA")

    def test_other_record_types_are_skipped(self) -> None:
        """Records of the consumer/share protocols (types 3+) are ignored when loading."""
        self.assertIsNone(rec.decode_record(b"\x00\x03\x00\x01g", b"\x00\x00\x00\x00\x00\x01\x00"))

    def test_subscription_topics_from_real_clients(self) -> None:
        """Subscriptions from librdkafka (v3) and kafka-python (v0) parse to their topics."""
        self.assertEqual(rec.parse_subscription_topics(LIBRDKAFKA_SUBSCRIPTION_T4), ["t4"])
        self.assertEqual(
            rec.parse_subscription_topics(KAFKA_PYTHON_SUBSCRIPTION), ["orders", "payments"]
        )
        self.assertIsNone(rec.parse_subscription_topics(b"\xff"))


class LogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.gb = GroupBroker()
        self.gb.topic("t", 2)

    def stable(self) -> tuple[int, list[str], str]:
        ids = [
            member_id_of(
                self.successResultOf(
                    self.gb.join("g", protocols=(("range", LIBRDKAFKA_SUBSCRIPTION_T4),))
                )
            )
            for _ in range(2)
        ]
        joins = [
            self.gb.join("g", m, protocols=(("range", LIBRDKAFKA_SUBSCRIPTION_T4),)) for m in ids
        ]
        self.gb.advance(0)
        responses = [self.successResultOf(d) for d in joins]
        generation, leader = responses[0].generation_id, responses[0].leader
        for m in ids:
            self.successResultOf(
                self.gb.sync(
                    "g",
                    m,
                    generation,
                    {i: b"assign-" + i.encode() for i in ids} if m == leader else None,
                )
            )
        return generation, ids, leader

    def test_commit_appends_a_valid_batch(self) -> None:
        """A commit appends one CRC-checked batch to the group's partition with Kafka's framing."""
        self.successResultOf(self.gb.commit("solo", {("t", 0): 10, ("t", 1): 20}, metadata="hi"))
        topic = self.gb.broker.metadata.image.topics[rec.OFFSETS_TOPIC]
        self.assertTrue(topic.is_internal)
        self.assertEqual(len(topic.partitions), 5)
        log = log_of(self.gb.broker, rec.OFFSETS_TOPIC, rec.partition_for("solo", 5))
        self.assertEqual(len(stored_batches(log)), 1)
        records = decode_batch_records(stored_batches(log)[0], check_crc=True)
        self.assertEqual(
            [r.key for r in records],
            [rec.offset_commit_key("solo", "t", 0), rec.offset_commit_key("solo", "t", 1)],
        )
        self.assertEqual([(r.value or b"")[:2] for r in records], [b"\x00\x03", b"\x00\x03"])
        value = decoded_value(records[1].key, records[1].value)
        self.assertEqual((value.offset, value.metadata), (20, "hi"))

    def test_sync_writes_group_metadata(self) -> None:
        """The leader's assignment is written as a GroupMetadata record with every member."""
        generation, ids, leader = self.stable()
        group_records = [r for r in log_records(self.gb, "g") if r.key[:2] == b"\x00\x02"]
        self.assertEqual(len(group_records), 1)
        value = decoded_value(group_records[0].key, group_records[0].value)
        self.assertEqual(
            (value.generation, value.leader, value.protocol, value.protocol_type),
            (generation, leader, "range", "consumer"),
        )
        self.assertEqual(
            {(m.member_id, m.assignment, m.subscription, m.client_host) for m in value.members},
            {(i, b"assign-" + i.encode(), LIBRDKAFKA_SUBSCRIPTION_T4, "/127.0.0.1") for i in ids},
        )

    def test_empty_group_record_when_everyone_left(self) -> None:
        """When the group empties, Kafka's empty group record is written."""
        _, ids, _ = self.stable()
        self.successResultOf(self.gb.leave("g", *[(m, None) for m in ids]))
        last = [r for r in log_records(self.gb, "g") if r.key[:2] == b"\x00\x02"][-1]
        value = decoded_value(last.key, last.value)
        self.assertEqual(
            (value.generation, value.protocol, value.leader, value.members), (0, None, None, ())
        )

    def test_reload_after_restart(self) -> None:
        """A new coordinator on the same logs replays offsets and the stable group."""
        generation, ids, leader = self.stable()
        self.successResultOf(
            self.gb.commit("g", {("t", 0): 33}, generation=generation, member_id=ids[0])
        )
        self.successResultOf(self.gb.commit("solo", {("t", 1): 44}, metadata="kept"))
        self.successResultOf(self.gb.commit("gone", {("t", 1): 1}))
        self.successResultOf(self.gb.delete("gone"))

        # "Restart": a new broker object on the same metadata directory and log manager.
        restarted = GroupBroker(
            logs=self.gb.broker.logs, log_dir=metadata_of(self.gb.broker).log_dir
        )
        restarted.coordinator.loading = True
        self.assertEqual(restarted.heartbeat("g", ids[0], generation), NONE)
        self.successResultOf(restarted.coordinator.start())
        self.assertEqual(restarted.committed("g", "t", [0]), {0: 33})
        fetched = restarted.fetch("solo", {"t": [1]}).topics[0].partitions[0]
        self.assertEqual((fetched.committed_offset, fetched.metadata), (44, "kept"))
        self.assertNotIn("gone", restarted.coordinator.groups)
        group = restarted.coordinator.groups["g"]
        self.assertEqual(
            (group.state, group.generation, group.leader_id, group.protocol_name),
            (GroupState.STABLE, generation, leader, "range"),
        )
        self.assertEqual(
            {m: group.members[m].assignment for m in ids}, {i: b"assign-" + i.encode() for i in ids}
        )
        self.assertEqual(group.subscribed_topics, frozenset({"t4"}))
        # Members carry on: heartbeats and SyncGroup work with the old generation.
        self.assertEqual(restarted.heartbeat("g", ids[1], generation), NONE)
        sync = self.successResultOf(restarted.sync("g", ids[1], generation))
        self.assertEqual(sync.assignment, b"assign-" + ids[1].encode())
        # Members that do not come back expire after their session timeout.
        restarted.advance(10_000)
        self.assertEqual(restarted.heartbeat("g", ids[1], generation), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(restarted.coordinator.groups["g"].state, GroupState.EMPTY)

    def test_reload_of_an_empty_log(self) -> None:
        """Starting without __consumer_offsets loads nothing and serves at once."""
        coordinator = GroupBroker().broker.groups
        self.successResultOf(coordinator.start())
        self.assertFalse(coordinator.loading)
        self.assertEqual(coordinator.groups, {})
        coordinator.stop()
