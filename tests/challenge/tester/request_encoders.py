"""The requests the stages send (the tester's C{request_encoders}), framed and ready to write."""

from __future__ import annotations

from collections.abc import Sequence

from tests.challenge.tester.constants import (
    API_API_VERSIONS,
    API_DESCRIBE_TOPIC_PARTITIONS,
    API_FETCH,
    API_PRODUCE,
    API_VERSIONS_VERSION,
    CLIENT_ID,
    CLIENT_SOFTWARE_NAME,
    CLIENT_SOFTWARE_VERSION,
    DESCRIBE_TOPIC_PARTITIONS_VERSION,
    FETCH_VERSION,
    MAX_INT32,
    PRODUCE_VERSION,
    TAG_BUFFER,
)
from tests.challenge.tester.encoder import (
    enc_compact_array,
    enc_compact_nullable_string,
    enc_compact_string,
    enc_int8,
    enc_int16,
    enc_int32,
    enc_int64,
    enc_string,
    enc_uuid,
    enc_uvarint,
    frame,
)
from tests.challenge.tester.record_batch import RecordBatch, encode_record_batch


def encode_request_header(
    api_key: int, api_version: int, correlation_id: int, client_id: str = CLIENT_ID
) -> bytes:
    """Request header v2: key, version, correlation id, legacy client id, empty tags."""
    return (
        enc_int16(api_key)
        + enc_int16(api_version)
        + enc_int32(correlation_id)
        + enc_string(client_id)
        + TAG_BUFFER
    )


def encode_api_versions_request(
    correlation_id: int,
    api_version: int = API_VERSIONS_VERSION,
    client_id: str = CLIENT_ID,
) -> bytes:
    """Framed ApiVersions request; the v4 body is sent even for a bogus version."""
    body = (
        enc_compact_string(CLIENT_SOFTWARE_NAME)
        + enc_compact_string(CLIENT_SOFTWARE_VERSION)
        + TAG_BUFFER
    )
    return frame(
        encode_request_header(API_API_VERSIONS, api_version, correlation_id, client_id) + body
    )


def encode_describe_topic_partitions_request(
    correlation_id: int, topic_names: Sequence[str], response_partition_limit: int
) -> bytes:
    """Framed DescribeTopicPartitions v0 request with a null cursor (0xff)."""
    topics = [enc_compact_string(name) + TAG_BUFFER for name in topic_names]
    body = (
        enc_compact_array(topics) + enc_int32(response_partition_limit) + enc_int8(-1) + TAG_BUFFER
    )
    header = encode_request_header(
        API_DESCRIBE_TOPIC_PARTITIONS, DESCRIBE_TOPIC_PARTITIONS_VERSION, correlation_id
    )
    return frame(header + body)


def encode_fetch_request(
    correlation_id: int,
    topics: Sequence[tuple[str, Sequence[int]]] = (),
    *,
    max_wait_ms: int = 500,
    min_bytes: int = 1,
    max_bytes: int = MAX_INT32,
    isolation_level: int = 0,
    session_id: int = 0,
    session_epoch: int = 0,
    rack_id: str = "",
) -> bytes:
    """Framed Fetch v16 request; each partition asks for offset 0."""
    encoded_topics: list[bytes] = []
    for topic_uuid, partition_ids in topics:
        partitions = [
            enc_int32(partition_id)
            + enc_int32(-1)  # current_leader_epoch
            + enc_int64(0)  # fetch_offset
            + enc_int32(-1)  # last_fetched_epoch
            + enc_int64(-1)  # log_start_offset
            + enc_int32(MAX_INT32)  # partition_max_bytes
            + TAG_BUFFER
            for partition_id in partition_ids
        ]
        encoded_topics.append(enc_uuid(topic_uuid) + enc_compact_array(partitions) + TAG_BUFFER)
    body = (
        enc_int32(max_wait_ms)
        + enc_int32(min_bytes)
        + enc_int32(max_bytes)
        + enc_int8(isolation_level)
        + enc_int32(session_id)
        + enc_int32(session_epoch)
        + enc_compact_array(encoded_topics)
        + enc_compact_array([])  # forgotten_topics_data
        + enc_compact_string(rack_id)
        + TAG_BUFFER
    )
    return frame(encode_request_header(API_FETCH, FETCH_VERSION, correlation_id) + body)


def encode_produce_request(
    correlation_id: int,
    topics: Sequence[tuple[str, Sequence[tuple[int, RecordBatch]]]],
    *,
    acks: int = -1,
    timeout_ms: int = 30000,
) -> bytes:
    """Framed Produce v11 request: null transactional id, acks -1, 30 s timeout."""
    encoded_topics: list[bytes] = []
    for name, partitions in topics:
        encoded_partitions: list[bytes] = []
        for partition_id, batch in partitions:
            records = encode_record_batch(batch)
            encoded_partitions.append(
                enc_int32(partition_id) + enc_uvarint(len(records) + 1) + records + TAG_BUFFER
            )
        encoded_topics.append(
            enc_compact_string(name) + enc_compact_array(encoded_partitions) + TAG_BUFFER
        )
    body = (
        enc_compact_nullable_string(None)
        + enc_int16(acks)
        + enc_int32(timeout_ms)
        + enc_compact_array(encoded_topics)
        + TAG_BUFFER
    )
    return frame(encode_request_header(API_PRODUCE, PRODUCE_VERSION, correlation_id) + body)
