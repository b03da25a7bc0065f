"""C{__cluster_metadata} record values: the tester's encoders and a parser for checking them."""

from __future__ import annotations

from collections.abc import Sequence

from tests.challenge.tester.constants import (
    DIRECTORY_UUID,
    FEATURE_LEVEL_RECORD_TYPE,
    METADATA_VERSION_FEATURE_LEVEL,
    PARTITION_RECORD_TYPE,
    TOPIC_RECORD_TYPE,
)
from tests.challenge.tester.decoder import Reader, read_compact_array
from tests.challenge.tester.encoder import (
    enc_compact_array,
    enc_compact_int32_array,
    enc_compact_string,
    enc_int16,
    enc_int32,
    enc_uuid,
    enc_uvarint,
)


def encode_feature_level_record(
    name: str = "metadata.version", level: int = METADATA_VERSION_FEATURE_LEVEL
) -> bytes:
    """FeatureLevelRecord (frame 1, type 12, version 0) as the tester encodes it."""
    return (
        bytes([1, FEATURE_LEVEL_RECORD_TYPE, 0])
        + enc_compact_string(name)
        + enc_int16(level)
        + enc_uvarint(0)
    )


def encode_topic_record(name: str, topic_uuid: str) -> bytes:
    """TopicRecord (frame 1, type 2, version 0) as the tester encodes it."""
    return (
        bytes([1, TOPIC_RECORD_TYPE, 0])
        + enc_compact_string(name)
        + enc_uuid(topic_uuid)
        + enc_uvarint(0)
    )


def encode_partition_record(
    partition_id: int,
    topic_uuid: str,
    *,
    replicas: Sequence[int] = (1,),
    isr: Sequence[int] = (1,),
    removing_replicas: Sequence[int] = (),
    adding_replicas: Sequence[int] = (),
    leader: int = 1,
    leader_epoch: int = 0,
    partition_epoch: int = 0,
    directories: Sequence[str] = (DIRECTORY_UUID,),
) -> bytes:
    """PartitionRecord (frame 1, type 3, version 1) as the tester encodes it."""
    return (
        bytes([1, PARTITION_RECORD_TYPE, 1])
        + enc_int32(partition_id)
        + enc_uuid(topic_uuid)
        + enc_compact_int32_array(replicas)
        + enc_compact_int32_array(isr)
        + enc_compact_int32_array(removing_replicas)
        + enc_compact_int32_array(adding_replicas)
        + enc_int32(leader)
        + enc_int32(leader_epoch)
        + enc_int32(partition_epoch)
        + enc_compact_array(enc_uuid(d) for d in directories)
        + enc_uvarint(0)
    )


def parse_metadata_payload(value: bytes) -> dict[str, object]:
    """Decode a FeatureLevel/Topic/PartitionRecord value (frame, type, version + fields)."""
    reader = Reader(value, "MetadataRecord")
    frame_version = reader.uvarint("FrameVersion")
    record_type = reader.uvarint("Type")
    version = reader.uvarint("Version")
    out: dict[str, object] = {
        "frame_version": frame_version,
        "type": record_type,
        "version": version,
    }
    if record_type == FEATURE_LEVEL_RECORD_TYPE:
        out["name"] = reader.compact_string("Name")
        out["feature_level"] = reader.int16("FeatureLevel")
    elif record_type == TOPIC_RECORD_TYPE:
        out["name"] = reader.compact_string("Name")
        out["topic_id"] = reader.uuid("TopicId")
    elif record_type == PARTITION_RECORD_TYPE:
        out["partition_id"] = reader.int32("PartitionId")
        out["topic_id"] = reader.uuid("TopicId")
        for name in ("replicas", "isr", "removing_replicas", "adding_replicas"):
            out[name] = read_compact_array(reader, name, Reader.int32)
        out["leader"] = reader.int32("Leader")
        out["leader_epoch"] = reader.int32("LeaderEpoch")
        out["partition_epoch"] = reader.int32("PartitionEpoch")
        if version >= 1:
            out["directories"] = read_compact_array(reader, "Directories", Reader.uuid)
    else:
        return out
    out["tagged_fields"] = reader.tag_buffer("Record")
    reader.expect_end("Record")
    return out
