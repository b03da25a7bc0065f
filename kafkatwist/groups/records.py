"""``__consumer_offsets`` records in Kafka's own format, and the group-to-partition mapping.

Kafka's ``CoordinatorRecordSerde`` (coordinator-common) frames each record as::

    key   = int16 record type  + key message   (written at version = record type)
    value = int16 value version + value message (null for a tombstone)

Record types of the classic group coordinator (``CoordinatorRecordType``):
0 and 1 are OffsetCommit (0 is the pre-0.9 key, same layout), 2 is
GroupMetadata; the others belong to the consumer/share/streams protocols and
are skipped when loading. ``GroupCoordinatorRecordHelpers`` writes
OffsetCommitKey with type 1, OffsetCommitValue at version 3 (version 1 when
an explicit expire timestamp is set, from OffsetCommit v2-v4
``retention_time_ms``) and GroupMetadataValue at version 3.

The group's partition is ``Utils.abs(groupId.hashCode()) % n``
(``GroupCoordinatorService.partitionFor``), with Java's ``String.hashCode``
over UTF-16 code units.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from attrs import frozen

from kafkatwist.messages.group_coordinator_records import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitKey,
    OffsetCommitValue,
)
from kafkatwist.wire import schema
from kafkatwist.wire.primitives import Reader

OFFSETS_TOPIC = "__consumer_offsets"

#: Record types (key versions) this coordinator reads and writes.
OFFSET_COMMIT_LEGACY = 0
OFFSET_COMMIT = 1
GROUP_METADATA = 2

#: Value versions Kafka 4.0 writes.
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_METADATA_VALUE_VERSION = 3

_INT16 = struct.Struct(">h")
_INT32_MIN = -(1 << 31)


def java_string_hash(s: str) -> int:
    """Java's ``String.hashCode``: ``h = 31 * h + c`` over UTF-16 code units, as an int32."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def java_abs(n: int) -> int:
    """Kafka's ``Utils.abs``: the absolute value, except that ``Integer.MIN_VALUE`` maps to 0."""
    return 0 if n == _INT32_MIN else abs(n)


def partition_for(group_id: str, num_partitions: int) -> int:
    """The ``__consumer_offsets`` partition that holds C{group_id}."""
    return java_abs(java_string_hash(group_id)) % num_partitions


@frozen
class OffsetAndMetadata:
    """One committed offset, as OffsetCommitValue stores it."""

    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp_ms: int = -1
    #: -1 unless the commit carried a retention time (OffsetCommit v2-v4).
    expire_timestamp_ms: int = -1


def _prefixed(version: int, message: object) -> bytes:
    return _INT16.pack(version) + schema.encode_bytes(message, version)


def offset_commit_key(group_id: str, topic: str, partition: int) -> bytes:
    """The key of an offset commit record (record type 1)."""
    return _prefixed(
        OFFSET_COMMIT, OffsetCommitKey(group=group_id, topic=topic, partition=partition)
    )


def offset_commit_value(om: OffsetAndMetadata) -> bytes:
    """The value of an offset commit record, at the version Kafka picks."""
    version = (
        OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY
        if om.expire_timestamp_ms != -1
        else OFFSET_COMMIT_VALUE_VERSION
    )
    value = OffsetCommitValue(
        offset=om.offset,
        # Version 1 has no leader epoch; the field is ignorable there.
        leader_epoch=om.leader_epoch if version == OFFSET_COMMIT_VALUE_VERSION else -1,
        metadata=om.metadata,
        commit_timestamp=om.commit_timestamp_ms,
        expire_timestamp=om.expire_timestamp_ms,
    )
    return _prefixed(version, value)


def group_metadata_key(group_id: str) -> bytes:
    """The key of a group metadata record (record type 2)."""
    return _prefixed(GROUP_METADATA, GroupMetadataKey(group=group_id))


def group_metadata_value(
    *,
    protocol_type: str,
    generation: int,
    protocol: str | None,
    leader: str | None,
    current_state_timestamp: int,
    members: Iterable[MemberMetadata],
) -> bytes:
    """The value of a group metadata record (GroupMetadataValue v3)."""
    value = GroupMetadataValue(
        protocol_type=protocol_type,
        generation=generation,
        protocol=protocol,
        leader=leader,
        current_state_timestamp=current_state_timestamp,
        members=tuple(members),
    )
    return _prefixed(GROUP_METADATA_VALUE_VERSION, value)


@frozen
class OffsetRecord:
    """A decoded offset commit record; C{value} is None for a tombstone."""

    group_id: str
    topic: str
    partition: int
    value: OffsetAndMetadata | None


@frozen
class GroupRecord:
    """A decoded group metadata record; C{value} is None for a tombstone."""

    group_id: str
    value: GroupMetadataValue | None


def decode_record(key: bytes | None, value: bytes | None) -> OffsetRecord | GroupRecord | None:
    """
    Decode one ``__consumer_offsets`` record.

    @return: None for record types of other group protocols.
    @raise kafkatwist.errors.ProtocolViolation: For malformed bytes.
    """
    if key is None or len(key) < 2:
        return None
    (record_type,) = _INT16.unpack_from(key)
    if record_type in (OFFSET_COMMIT_LEGACY, OFFSET_COMMIT):
        k = schema.decode(OffsetCommitKey, record_type, Reader(key, 2))
        om = None
        if value is not None:
            (version,) = _INT16.unpack_from(value)
            v = schema.decode(OffsetCommitValue, version, Reader(value, 2))
            om = OffsetAndMetadata(
                offset=v.offset,
                leader_epoch=v.leader_epoch,
                metadata=v.metadata,
                commit_timestamp_ms=v.commit_timestamp,
                expire_timestamp_ms=v.expire_timestamp,
            )
        return OffsetRecord(k.group, k.topic, k.partition, om)
    if record_type == GROUP_METADATA:
        gk = schema.decode(GroupMetadataKey, record_type, Reader(key, 2))
        gv = None
        if value is not None:
            (version,) = _INT16.unpack_from(value)
            gv = schema.decode(GroupMetadataValue, version, Reader(value, 2))
        return GroupRecord(gk.group, gv)
    return None


def parse_subscription_topics(metadata: bytes) -> list[str] | None:
    """
    The topics of a consumer protocol subscription (ConsumerProtocolSubscription).

    Every version (0-3) starts with an int16 version then the topic array
    (int32 count, int16-prefixed strings), so newer versions parse too, as
    Kafka's ``ConsumerProtocol.deserializeSubscription`` does.

    @return: None when the bytes are not a subscription.
    """
    try:
        r = Reader(metadata)
        if r.int16() < 0:
            return None
        count = r.int32()
        if count < 0 or count > len(metadata):
            return None
        return [r.string() for _ in range(count)]
    except Exception:
        return None
