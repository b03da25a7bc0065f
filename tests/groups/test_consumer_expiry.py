"""
Empty consumer groups are deleted by the offsets retention check (Kafka's
C{GroupCoordinatorShard.cleanupGroupMetadata} and C{maybeDeleteGroup}).
"""

from __future__ import annotations

import struct
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.consumer import records as crec
from kafkatwist.wire.record import decode_batch_records
from tests.brokers import log_of, metadata_of
from tests.groups.consumer_support import consumer_broker, describe, heartbeat
from tests.groups.support import GroupBroker
from tests.storage.support import stored_batches

SETTINGS: dict[str, Any] = {
    "offsets_topic_num_partitions": 1,
    "offsets_retention_minutes": 60,
    "offsets_retention_check_interval_ms": 60_000,
}
CHECK_MS = 60_000
RETENTION_MS = 60 * 60_000


def records(gb: GroupBroker) -> list[tuple[bytes, bytes | None]]:
    """Every keyed record of the single ``__consumer_offsets`` partition, in order."""
    log = log_of(gb.broker, rec.OFFSETS_TOPIC, 0)
    return [
        (r.key, r.value)
        for batch in stored_batches(log)
        for r in decode_batch_records(batch, check_crc=True)
        if r.key is not None
    ]


def key_type(key: bytes) -> int:
    """The record type (the key's leading int16)."""
    value: int = struct.unpack_from(">h", key)[0]
    return value


class EmptyConsumerGroupExpiryTests(SynchronousTestCase):
    """A consumer group without members and offsets goes at the next retention check."""

    def setUp(self) -> None:
        self.gb = consumer_broker(**SETTINGS)
        self.gb.topic("t", 2)

    def join_and_leave(self, group: str) -> None:
        joined = heartbeat(self.gb, group, "m-" + group, 0, topics=["t"])
        self.assertEqual(joined.error_code, ErrorCode.NONE)
        left = heartbeat(self.gb, group, "m-" + group, -1)
        self.assertEqual(left.error_code, ErrorCode.NONE)

    def test_empty_group_deleted_with_tombstones(self) -> None:
        """The group goes from memory; its tombstones are Kafka's createGroupTombstoneRecords."""
        self.join_and_leave("g")
        self.assertEqual(describe(self.gb, "g").group_state, "Empty")
        before = len(records(self.gb))
        self.gb.advance(CHECK_MS)
        self.assertEqual(describe(self.gb, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        written = records(self.gb)[before:]
        self.assertEqual(written, crec.group_tombstones("g", []))
        # Target assignment metadata, subscription metadata, then the group epoch record.
        self.assertEqual(
            [(key_type(k), v) for k, v in written],
            [
                (crec.TARGET_ASSIGNMENT_METADATA, None),
                (crec.PARTITION_METADATA, None),
                (crec.GROUP_METADATA, None),
            ],
        )

    def test_restart_does_not_bring_it_back(self) -> None:
        """A restarted coordinator replays the tombstones: the group stays deleted."""
        self.join_and_leave("g")
        self.gb.advance(CHECK_MS)
        again = GroupBroker(
            logs=self.gb.broker.logs, log_dir=metadata_of(self.gb.broker).log_dir, **SETTINGS
        )
        self.successResultOf(again.coordinator.start())
        self.assertEqual(describe(again, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        self.assertNotIn("g", again.coordinator.groups)

    def test_group_with_members_kept(self) -> None:
        """A group with a member is not deleted, however long it lives."""
        joined = heartbeat(self.gb, "g", "m1", 0, topics=["t"])
        epoch = joined.member_epoch
        for _ in range(3 * CHECK_MS // 5000):
            self.gb.advance(5000)
            beat = heartbeat(self.gb, "g", "m1", epoch)
            self.assertEqual(beat.error_code, ErrorCode.NONE)
            epoch = beat.member_epoch
        self.assertEqual(describe(self.gb, "g").error_code, ErrorCode.NONE)

    def test_group_kept_until_its_offsets_expire(self) -> None:
        """An empty group with committed offsets goes with them: offset tombstones, then its own."""
        self.join_and_leave("g")
        commit = self.successResultOf(self.gb.commit("g", {("t", 0): 7}))
        self.assertEqual(commit.topics[0].partitions[0].error_code, ErrorCode.NONE)
        self.gb.advance(RETENTION_MS - CHECK_MS)
        self.assertEqual(describe(self.gb, "g").error_code, ErrorCode.NONE)
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: 7})
        before = len(records(self.gb))
        self.gb.advance(2 * CHECK_MS)
        self.assertEqual(describe(self.gb, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: -1})
        self.assertEqual(
            records(self.gb)[before:],
            [(rec.offset_commit_key("g", "t", 0), None), *crec.group_tombstones("g", [])],
        )
        self.assertNotIn("g", self.gb.coordinator.groups)

    def test_many_group_ids_do_not_accumulate(self) -> None:
        """Clients using ever-new group ids leave nothing behind after a check."""
        for i in range(5):
            self.join_and_leave(f"g{i}")
        self.gb.advance(CHECK_MS)
        for i in range(5):
            self.assertEqual(describe(self.gb, f"g{i}").error_code, ErrorCode.GROUP_ID_NOT_FOUND)

    def test_new_group_arms_the_check(self) -> None:
        """A group created after the check went idle (nothing to expire) re-arms it."""
        self.gb.advance(CHECK_MS)
        self.assertEqual(self.gb.clock.getDelayedCalls(), [])
        self.join_and_leave("g")
        self.gb.advance(CHECK_MS)
        self.assertEqual(describe(self.gb, "g").error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        # Nothing left: the check is idle again.
        self.assertEqual(self.gb.clock.getDelayedCalls(), [])
