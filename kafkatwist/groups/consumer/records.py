"""Consumer group records in ``__consumer_offsets``, in Kafka's format.

Kafka's C{GroupCoordinatorRecordHelpers}: the key is the record type (int16)
then the key message at that version, the value its version (int16, 0 for
every record here) then the value message; a tombstone has no value.

======  ==========================================  =========================
type    key / value                                 written when
======  ==========================================  =========================
3       ConsumerGroupMetadata                       the group epoch moves
4       ConsumerGroupPartitionMetadata              the subscribed topics' shapes change
5       ConsumerGroupMemberMetadata                 a member's subscription changes
6       ConsumerGroupTargetAssignmentMetadata       a target assignment is installed
7       ConsumerGroupTargetAssignmentMember         a member's target changes
8       ConsumerGroupCurrentMemberAssignment        a member's epoch/state/partitions change
======  ==========================================  =========================
"""

from __future__ import annotations

import struct
import uuid

from attrs import frozen

from kafkatwist.groups.consumer.member import (
    Assignment,
    ClassicMetadata,
    ConsumerGroupMember,
    MemberState,
    freeze,
)
from kafkatwist.messages import group_coordinator_records as m
from kafkatwist.wire import schema
from kafkatwist.wire.primitives import Reader

GROUP_METADATA = 3
PARTITION_METADATA = 4
MEMBER_METADATA = 5
TARGET_ASSIGNMENT_METADATA = 6
TARGET_ASSIGNMENT_MEMBER = 7
CURRENT_MEMBER_ASSIGNMENT = 8
#: Every record type of a consumer group.
RECORD_TYPES = frozenset(range(3, 9))

_INT16 = struct.Struct(">h")
_VALUE_VERSION = 0

#: A record: (key, value), the value None for a tombstone.
Record = tuple[bytes, bytes | None]


def _frame(version: int, message: object) -> bytes:
    return _INT16.pack(version) + schema.encode_bytes(message, version)


def _topics(assignment: Assignment) -> tuple[m.TopicPartitions, ...]:
    return tuple(
        m.TopicPartitions(topic_id=t, partitions=tuple(sorted(ps)))
        for t, ps in sorted(assignment.items())
    )


def epoch_record(group_id: str, epoch: int) -> Record:
    """Kafka's C{newConsumerGroupEpochRecord}."""
    key = _frame(GROUP_METADATA, m.ConsumerGroupMetadataKey(group_id=group_id))
    return key, _frame(_VALUE_VERSION, m.ConsumerGroupMetadataValue(epoch=epoch))


def subscription_metadata_record(group_id: str, topics: dict[str, tuple[uuid.UUID, int]]) -> Record:
    """Kafka's C{newConsumerGroupSubscriptionMetadataRecord}."""
    key = _frame(PARTITION_METADATA, m.ConsumerGroupPartitionMetadataKey(group_id=group_id))
    value = m.ConsumerGroupPartitionMetadataValue(
        topics=tuple(
            m.TopicMetadata(topic_id=tid, topic_name=name, num_partitions=n, partition_metadata=())
            for name, (tid, n) in sorted(topics.items())
        )
    )
    return key, _frame(_VALUE_VERSION, value)


def member_subscription_record(group_id: str, member: ConsumerGroupMember) -> Record:
    """Kafka's C{newConsumerGroupMemberSubscriptionRecord}."""
    key = _frame(
        MEMBER_METADATA,
        m.ConsumerGroupMemberMetadataKey(group_id=group_id, member_id=member.member_id),
    )
    value = m.ConsumerGroupMemberMetadataValue(
        instance_id=member.instance_id,
        rack_id=member.rack_id,
        client_id=member.client_id,
        client_host=member.client_host,
        subscribed_topic_names=tuple(sorted(member.subscribed_topic_names)),
        subscribed_topic_regex=member.subscribed_topic_regex,
        rebalance_timeout_ms=member.rebalance_timeout_ms,
        server_assignor=member.server_assignor,
        classic_member_metadata=None
        if member.classic is None
        else m.ClassicMemberMetadata(
            session_timeout_ms=member.classic.session_timeout_ms,
            supported_protocols=tuple(
                m.ClassicProtocol(name=name, metadata=data)
                for name, data in member.classic.protocols
            ),
        ),
    )
    return key, _frame(_VALUE_VERSION, value)


def target_epoch_record(group_id: str, epoch: int) -> Record:
    """Kafka's C{newConsumerGroupTargetAssignmentEpochRecord}."""
    key = _frame(
        TARGET_ASSIGNMENT_METADATA, m.ConsumerGroupTargetAssignmentMetadataKey(group_id=group_id)
    )
    value = m.ConsumerGroupTargetAssignmentMetadataValue(assignment_epoch=epoch)
    return key, _frame(_VALUE_VERSION, value)


def target_member_record(group_id: str, member_id: str, assignment: Assignment) -> Record:
    """Kafka's C{newConsumerGroupTargetAssignmentRecord}."""
    key = _frame(
        TARGET_ASSIGNMENT_MEMBER,
        m.ConsumerGroupTargetAssignmentMemberKey(group_id=group_id, member_id=member_id),
    )
    value = m.ConsumerGroupTargetAssignmentMemberValue(
        topic_partitions=tuple(
            m.TopicPartition(topic_id=t, partitions=tuple(sorted(ps)))
            for t, ps in sorted(assignment.items())
        )
    )
    return key, _frame(_VALUE_VERSION, value)


def current_assignment_record(group_id: str, member: ConsumerGroupMember) -> Record:
    """Kafka's C{newConsumerGroupCurrentAssignmentRecord}."""
    key = _frame(
        CURRENT_MEMBER_ASSIGNMENT,
        m.ConsumerGroupCurrentMemberAssignmentKey(group_id=group_id, member_id=member.member_id),
    )
    value = m.ConsumerGroupCurrentMemberAssignmentValue(
        member_epoch=member.member_epoch,
        previous_member_epoch=member.previous_member_epoch,
        state=int(member.state),
        assigned_partitions=_topics(member.assigned_partitions),
        partitions_pending_revocation=_topics(member.partitions_pending_revocation),
    )
    return key, _frame(_VALUE_VERSION, value)


def tombstone(record: Record) -> Record:
    """The tombstone of C{record}'s key."""
    return record[0], None


def member_tombstones(group_id: str, member_id: str) -> list[Record]:
    """
    The tombstones of a member leaving, in Kafka's order (C{removeMember}):
    current assignment, target assignment, subscription.
    """
    return [
        (
            _frame(
                CURRENT_MEMBER_ASSIGNMENT,
                m.ConsumerGroupCurrentMemberAssignmentKey(group_id=group_id, member_id=member_id),
            ),
            None,
        ),
        (
            _frame(
                TARGET_ASSIGNMENT_MEMBER,
                m.ConsumerGroupTargetAssignmentMemberKey(group_id=group_id, member_id=member_id),
            ),
            None,
        ),
        (
            _frame(
                MEMBER_METADATA,
                m.ConsumerGroupMemberMetadataKey(group_id=group_id, member_id=member_id),
            ),
            None,
        ),
    ]


def group_tombstones(group_id: str, member_ids: list[str]) -> list[Record]:
    """Kafka's C{ConsumerGroup.createGroupTombstoneRecords}, in its order."""
    by_member = [member_tombstones(group_id, mid) for mid in member_ids]
    out = [ts[0] for ts in by_member] + [ts[1] for ts in by_member]
    out.append(tombstone(target_epoch_record(group_id, 0)))
    out += [ts[2] for ts in by_member]
    out.append(tombstone(subscription_metadata_record(group_id, {})))
    out.append(tombstone(epoch_record(group_id, 0)))
    return out


# -- decoding -------------------------------------------------------------------


@frozen
class Decoded:
    """A decoded consumer group record; C{value} is None for a tombstone."""

    record_type: int
    group_id: str
    member_id: str | None
    value: object | None


_KEYS: dict[int, type] = {
    GROUP_METADATA: m.ConsumerGroupMetadataKey,
    PARTITION_METADATA: m.ConsumerGroupPartitionMetadataKey,
    MEMBER_METADATA: m.ConsumerGroupMemberMetadataKey,
    TARGET_ASSIGNMENT_METADATA: m.ConsumerGroupTargetAssignmentMetadataKey,
    TARGET_ASSIGNMENT_MEMBER: m.ConsumerGroupTargetAssignmentMemberKey,
    CURRENT_MEMBER_ASSIGNMENT: m.ConsumerGroupCurrentMemberAssignmentKey,
}
_Key = (
    m.ConsumerGroupMetadataKey
    | m.ConsumerGroupPartitionMetadataKey
    | m.ConsumerGroupMemberMetadataKey
    | m.ConsumerGroupTargetAssignmentMetadataKey
    | m.ConsumerGroupTargetAssignmentMemberKey
    | m.ConsumerGroupCurrentMemberAssignmentKey
)
_MEMBER_KEYS = (
    m.ConsumerGroupMemberMetadataKey,
    m.ConsumerGroupTargetAssignmentMemberKey,
    m.ConsumerGroupCurrentMemberAssignmentKey,
)
_VALUES: dict[int, type] = {
    GROUP_METADATA: m.ConsumerGroupMetadataValue,
    PARTITION_METADATA: m.ConsumerGroupPartitionMetadataValue,
    MEMBER_METADATA: m.ConsumerGroupMemberMetadataValue,
    TARGET_ASSIGNMENT_METADATA: m.ConsumerGroupTargetAssignmentMetadataValue,
    TARGET_ASSIGNMENT_MEMBER: m.ConsumerGroupTargetAssignmentMemberValue,
    CURRENT_MEMBER_ASSIGNMENT: m.ConsumerGroupCurrentMemberAssignmentValue,
}


def decode(key: bytes, value: bytes | None) -> Decoded | None:
    """
    Decode a consumer group record; None for any other record type.

    @raise kafkatwist.errors.ProtocolViolation: For malformed bytes.
    """
    if len(key) < 2:
        return None
    (record_type,) = _INT16.unpack_from(key)
    key_cls = _KEYS.get(record_type)
    if key_cls is None:
        return None
    k: _Key = schema.decode(key_cls, record_type, Reader(key, 2))
    v: object | None = None
    if value is not None:
        (version,) = _INT16.unpack_from(value)
        v = schema.decode(_VALUES[record_type], version, Reader(value, 2))
    member_id = k.member_id if isinstance(k, _MEMBER_KEYS) else None
    return Decoded(record_type, k.group_id, member_id, v)


def assignment_of(
    topics: tuple[m.TopicPartitions, ...] | tuple[m.TopicPartition, ...],
) -> Assignment:
    """An assignment from a record's topic list."""
    return freeze({t.topic_id: t.partitions for t in topics})


def state_of(value: m.ConsumerGroupCurrentMemberAssignmentValue) -> MemberState:
    """The member state a current-assignment record holds."""
    return MemberState.of(value.state)


def classic_of(value: m.ConsumerGroupMemberMetadataValue) -> ClassicMetadata | None:
    """The classic member metadata a member-subscription record holds, if any."""
    c = value.classic_member_metadata
    if c is None:
        return None
    return ClassicMetadata(
        session_timeout_ms=c.session_timeout_ms,
        protocols=tuple((p.name, p.metadata) for p in c.supported_protocols),
    )
