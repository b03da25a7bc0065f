"""The responses the stages read (the tester's C{response_decoders}), decoded field by field."""

from __future__ import annotations

from dataclasses import dataclass

from tests.challenge.tester.decoder import Reader, decode_compact_records, read_compact_array
from tests.challenge.tester.record_batch import RecordBatch


@dataclass
class ApiKeyEntry:
    """One ApiVersions entry: an API key and its version range."""

    api_key: int
    min_version: int
    max_version: int


@dataclass
class ApiVersionsResponse:
    """A decoded ApiVersions v4 response."""

    correlation_id: int
    error_code: int
    api_keys: list[ApiKeyEntry]
    throttle_time_ms: int


@dataclass
class DescribeTopicPartitionsPartition:
    """One partition of a DescribeTopicPartitions topic."""

    error_code: int
    partition_index: int
    leader_id: int
    leader_epoch: int
    replica_nodes: list[int]
    isr_nodes: list[int]
    eligible_leader_replicas: list[int]
    last_known_elr: list[int]
    offline_replicas: list[int]


@dataclass
class DescribeTopicPartitionsTopic:
    """One topic of a DescribeTopicPartitions response."""

    error_code: int
    name: str | None
    topic_id: str
    is_internal: bool
    partitions: list[DescribeTopicPartitionsPartition]
    topic_authorized_operations: int


@dataclass
class DescribeTopicPartitionsResponse:
    """A decoded DescribeTopicPartitions v0 response."""

    correlation_id: int
    throttle_time_ms: int
    topics: list[DescribeTopicPartitionsTopic]
    topics_length_raw: int
    next_cursor: tuple[str, int] | None


@dataclass
class FetchPartition:
    """One partition of a Fetch topic, its record batches decoded."""

    partition_index: int
    error_code: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    aborted_transactions: list[tuple[int, int]] | None
    preferred_read_replica: int
    batches: list[RecordBatch]


@dataclass
class FetchTopic:
    """One topic of a Fetch response."""

    topic_id: str
    partitions: list[FetchPartition]


@dataclass
class FetchResponse:
    """A decoded Fetch v16 response."""

    correlation_id: int
    throttle_time_ms: int
    error_code: int
    session_id: int
    topics: list[FetchTopic]
    topics_length_raw: int


@dataclass
class ProducePartition:
    """One partition of a Produce topic."""

    index: int
    error_code: int
    base_offset: int
    log_append_time_ms: int
    log_start_offset: int
    record_errors: list[tuple[int, str | None]]
    error_message: str | None


@dataclass
class ProduceTopic:
    """One topic of a Produce response."""

    name: str
    partitions: list[ProducePartition]


@dataclass
class ProduceResponse:
    """A decoded Produce v11 response."""

    correlation_id: int
    topics: list[ProduceTopic]
    throttle_time_ms: int


def decode_api_versions_response(payload: bytes, strict: bool = True) -> ApiVersionsResponse:
    """ApiVersions v4 response, header v0 (no header tag buffer)."""
    reader = Reader(payload, "ApiVersionsResponse")
    correlation_id = reader.int32("Header.CorrelationID")
    error_code = reader.int16("Body.ErrorCode")

    def entry(r: Reader, what: str) -> ApiKeyEntry:
        value = ApiKeyEntry(
            r.int16(what + ".APIKey"),
            r.int16(what + ".MinVersion"),
            r.int16(what + ".MaxVersion"),
        )
        r.tag_buffer(what)
        return value

    api_keys = read_compact_array(reader, "Body.ApiKeys", entry)
    throttle_time_ms = reader.int32("Body.ThrottleTimeMs")
    reader.tag_buffer("Body")
    if strict:
        reader.expect_end("Body")
    return ApiVersionsResponse(correlation_id, error_code, api_keys, throttle_time_ms)


def decode_describe_topic_partitions_response(
    payload: bytes, strict: bool = True
) -> DescribeTopicPartitionsResponse:
    """DescribeTopicPartitions v0 response, header v1."""
    reader = Reader(payload, "DescribeTopicPartitionsResponse")
    correlation_id = reader.int32("Header.CorrelationID")
    reader.tag_buffer("Header")
    throttle_time_ms = reader.int32("Body.ThrottleTimeMs")

    def int32_array(r: Reader, what: str) -> list[int]:
        return read_compact_array(r, what, Reader.int32)

    def partition(r: Reader, what: str) -> DescribeTopicPartitionsPartition:
        value = DescribeTopicPartitionsPartition(
            error_code=r.int16(what + ".ErrorCode"),
            partition_index=r.int32(what + ".PartitionIndex"),
            leader_id=r.int32(what + ".LeaderId"),
            leader_epoch=r.int32(what + ".LeaderEpoch"),
            replica_nodes=int32_array(r, what + ".ReplicaNodes"),
            isr_nodes=int32_array(r, what + ".IsrNodes"),
            eligible_leader_replicas=int32_array(r, what + ".EligibleLeaderReplicas"),
            last_known_elr=int32_array(r, what + ".LastKnownELR"),
            offline_replicas=int32_array(r, what + ".OfflineReplicas"),
        )
        r.tag_buffer(what)
        return value

    def topic(r: Reader, what: str) -> DescribeTopicPartitionsTopic:
        value = DescribeTopicPartitionsTopic(
            error_code=r.int16(what + ".ErrorCode"),
            name=r.compact_nullable_string(what + ".Name"),
            topic_id=r.uuid(what + ".UUID"),
            is_internal=r.boolean(what + ".IsInternal"),
            partitions=read_compact_array(r, what + ".Partitions", partition),
            topic_authorized_operations=r.int32(what + ".TopicAuthorizedOperations"),
        )
        r.tag_buffer(what)
        return value

    topics_offset = reader.offset
    topics = read_compact_array(reader, "Body.Topics", topic)
    topics_length_raw = Reader(payload[topics_offset:]).uvarint("Topics.Length")
    cursor_present = reader.int8("Body.Cursor.IsCursorPresent")
    next_cursor: tuple[str, int] | None = None
    if cursor_present != -1:
        next_cursor = (
            reader.compact_string("Body.Cursor.TopicName"),
            reader.int32("Body.Cursor.PartitionIndex"),
        )
        reader.tag_buffer("Body.Cursor")
    reader.tag_buffer("Body")
    if strict:
        reader.expect_end("Body")
    return DescribeTopicPartitionsResponse(
        correlation_id, throttle_time_ms, topics, topics_length_raw, next_cursor
    )


def decode_fetch_response(payload: bytes, strict: bool = True) -> FetchResponse:
    """Fetch v16 response, header v1."""
    reader = Reader(payload, "FetchResponse")
    correlation_id = reader.int32("Header.CorrelationID")
    reader.tag_buffer("Header")
    throttle_time_ms = reader.int32("Body.ThrottleTimeMS")
    error_code = reader.int16("Body.ErrorCode")
    session_id = reader.int32("Body.SessionID")

    def aborted(r: Reader, what: str) -> tuple[int, int]:
        value = (r.int64(what + ".ProducerID"), r.int64(what + ".FirstOffset"))
        r.tag_buffer(what)
        return value

    def partition(r: Reader, what: str) -> FetchPartition:
        index = r.int32(what + ".Id")
        error = r.int16(what + ".ErrorCode")
        high_watermark = r.int64(what + ".HighWaterMark")
        last_stable_offset = r.int64(what + ".LastStableOffset")
        log_start_offset = r.int64(what + ".LogStartOffset")
        count = r.compact_array_length(what + ".AbortedTransactions")
        aborted_transactions: list[tuple[int, int]] | None = None
        if count is not None:
            aborted_transactions = [
                aborted(r, f"{what}.AbortedTransactions[{i}]") for i in range(count)
            ]
        preferred_read_replica = r.int32(what + ".PreferredReadReplica")
        batches = decode_compact_records(r, what + ".RecordBatches")
        r.tag_buffer(what)
        return FetchPartition(
            index,
            error,
            high_watermark,
            last_stable_offset,
            log_start_offset,
            aborted_transactions,
            preferred_read_replica,
            batches,
        )

    def topic(r: Reader, what: str) -> FetchTopic:
        value = FetchTopic(
            r.uuid(what + ".UUID"), read_compact_array(r, what + ".Partitions", partition)
        )
        r.tag_buffer(what)
        return value

    topics_offset = reader.offset
    topics = read_compact_array(reader, "Body.Topics", topic)
    topics_length_raw = Reader(payload[topics_offset:]).uvarint("Topics.Length")
    reader.tag_buffer("Body")
    if strict:
        reader.expect_end("Body")
    return FetchResponse(
        correlation_id,
        throttle_time_ms,
        error_code,
        session_id,
        topics,
        topics_length_raw,
    )


def decode_produce_response(payload: bytes, strict: bool = True) -> ProduceResponse:
    """Produce v11 response, header v1."""
    reader = Reader(payload, "ProduceResponse")
    correlation_id = reader.int32("Header.CorrelationID")
    reader.tag_buffer("Header")

    def record_error(r: Reader, what: str) -> tuple[int, str | None]:
        value = (
            r.int32(what + ".BatchIndex"),
            r.compact_nullable_string(what + ".ErrorMessage"),
        )
        r.tag_buffer(what)
        return value

    def partition(r: Reader, what: str) -> ProducePartition:
        value = ProducePartition(
            index=r.int32(what + ".ID"),
            error_code=r.int16(what + ".ErrorCode"),
            base_offset=r.int64(what + ".BaseOffset"),
            log_append_time_ms=r.int64(what + ".LogAppendTimeMs"),
            log_start_offset=r.int64(what + ".LogStartOffset"),
            record_errors=read_compact_array(r, what + ".RecordErrors", record_error),
            error_message=r.compact_nullable_string(what + ".ErrorMessage"),
        )
        r.tag_buffer(what)
        return value

    def topic(r: Reader, what: str) -> ProduceTopic:
        value = ProduceTopic(
            r.compact_string(what + ".Name"),
            read_compact_array(r, what + ".Partitions", partition),
        )
        r.tag_buffer(what)
        return value

    topics = read_compact_array(reader, "Body.Topics", topic)
    throttle_time_ms = reader.int32("Body.ThrottleTimeMS")
    reader.tag_buffer("Body")
    if strict:
        reader.expect_end("Body")
    return ProduceResponse(correlation_id, topics, throttle_time_ms)
