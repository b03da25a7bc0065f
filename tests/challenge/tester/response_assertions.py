"""The checks the stages make (the tester's C{response_assertions}).

Pure functions over the raw response bytes (and, after a Produce, the log
file): each raises C{AssertionError} with the tester's wording on a mismatch.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from tests.challenge.tester.constants import NO_ERROR
from tests.challenge.tester.decoder import Reader, decode_record_batch
from tests.challenge.tester.kafka_files_generator import LogDirLayout
from tests.challenge.tester.record_batch import (
    RecordBatch,
    encode_record_batches,
    record_batch_crc,
    signed32,
)
from tests.challenge.tester.response_decoders import (
    ApiVersionsResponse,
    DescribeTopicPartitionsResponse,
    FetchResponse,
    ProduceResponse,
    decode_api_versions_response,
    decode_describe_topic_partitions_response,
    decode_fetch_response,
    decode_produce_response,
)


def _expect(what: str, expected: object, actual: object) -> None:
    """Fail with the tester's "Expected X to be Y, got Z" unless they are equal."""
    if expected != actual:
        raise AssertionError(f"Expected {what} to be {expected!r}, got {actual!r}")


def check_message_size(raw: bytes) -> bytes:
    """The first 4 bytes must equal the number of bytes that followed; returns the payload."""
    if len(raw) < 4:
        raise AssertionError(
            f"Response is not long enough to accomodate message size ({len(raw)} bytes)"
        )
    size = struct.unpack(">i", raw[:4])[0]
    payload = raw[4:]
    if size != len(payload):
        hint = " (the message size must not count itself)" if size == len(payload) + 4 else ""
        raise AssertionError(
            f"Message size field is {size} (bytes {raw[:4].hex(' ')}) but {len(payload)} bytes "
            f"followed it within the read window{hint}"
        )
    return payload


def check_correlation_id_only(raw: bytes, correlation_id: int) -> None:
    """nv3/wa6: 4 bytes of any size, then the correlation id; the size is not checked."""
    if len(raw) < 8:
        raise AssertionError(
            f"Expected at least 8 bytes (size + correlation id), got {len(raw)}: {raw.hex(' ')}"
        )
    _expect(
        "ApiVersionsResponse.Header.CorrelationID",
        correlation_id,
        struct.unpack(">i", raw[4:8])[0],
    )


def check_api_versions_error_code(raw: bytes, correlation_id: int, error_code: int) -> None:
    """nc5: correlation id and the body's first int16; the size and the rest are not checked."""
    check_correlation_id_only(raw, correlation_id)
    if len(raw) < 10:
        raise AssertionError(
            f"Expected an error_code after the correlation id, got {len(raw)} bytes"
        )
    _expect(
        "ApiVersionsResponse.Body.ErrorCode",
        error_code,
        struct.unpack(">h", raw[8:10])[0],
    )


def check_api_versions(
    raw: bytes,
    correlation_id: int,
    expected_keys: Sequence[tuple[int, int, int]],
    strict: bool = True,
) -> ApiVersionsResponse:
    """pv1/nh4/sk0/yk1/gs0/um3: size, correlation id, error 0 and required API key ranges."""
    response = decode_api_versions_response(check_message_size(raw), strict)
    _expect(
        "ApiVersionsResponse.Header.CorrelationID",
        correlation_id,
        response.correlation_id,
    )
    _expect("ApiVersionsResponse.Body.ErrorCode", NO_ERROR, response.error_code)
    if len(response.api_keys) < len(expected_keys):
        raise AssertionError(
            f"Expected ApiKeys array to include atleast {len(expected_keys)} keys, "
            f"got {len(response.api_keys)}"
        )
    for api_key, min_version, max_version in expected_keys:
        matches = [e for e in response.api_keys if e.api_key == api_key]
        if not matches:
            raise AssertionError(f"Expected ApiKeys array to include API key {api_key}")
        actual = matches[0]
        if actual.min_version > max_version:
            raise AssertionError(
                f"Expected min version {actual.min_version} to be <= max version {max_version} "
                f"for API key {api_key}"
            )
        if actual.min_version < min_version:
            raise AssertionError(
                f"Expected MinVersion for API key {api_key} to be >= {min_version}, "
                f"got {actual.min_version}"
            )
        if actual.max_version < max_version:
            raise AssertionError(
                f"Expected API version {max_version} to be supported for API key {api_key}, "
                f"got MaxVersion {actual.max_version}"
            )
    return response


@dataclass(frozen=True)
class ExpectedTopic:
    """What the DescribeTopicPartitions assertion expects for one topic."""

    name: str
    error_code: int
    topic_id: str
    partitions: tuple[tuple[int, int], ...]  # (partition_index, error_code), in order


def expected_topics_from_layout(layout: LogDirLayout) -> list[ExpectedTopic]:
    """All generated topics, sorted by name, partitions in generation order."""
    expected = [
        ExpectedTopic(
            t.name,
            NO_ERROR,
            t.uuid,
            tuple((p.partition_id, NO_ERROR) for p in t.partitions),
        )
        for t in layout.topics
    ]
    return sorted(expected, key=lambda e: e.name)


def check_describe_topic_partitions(
    raw: bytes,
    correlation_id: int,
    expected_topics: Sequence[ExpectedTopic],
    strict: bool = True,
) -> DescribeTopicPartitionsResponse:
    """
    vt6/ea7/ku4/wq2: topics in the expected (name-sorted) order, partitions in order, no cursor.
    """
    response = decode_describe_topic_partitions_response(check_message_size(raw), strict)
    _expect(
        "DescribeTopicPartitionsResponse.Header.CorrelationID",
        correlation_id,
        response.correlation_id,
    )
    _expect(
        "DescribeTopicPartitionsResponse.Body.Topics.Length (compact)",
        len(expected_topics) + 1,
        response.topics_length_raw,
    )
    _expect(
        "DescribeTopicPartitionsResponse.Body.Cursor.IsCursorPresent",
        None,
        response.next_cursor,
    )
    for i, (expected, actual) in enumerate(zip(expected_topics, response.topics, strict=False)):
        _expect(f"Topic[{i}].Name", expected.name, actual.name)
        _expect(f"Topic[{i}].UUID", expected.topic_id, actual.topic_id)
        _expect(f"Topic[{i}].ErrorCode", expected.error_code, actual.error_code)
        _expect(
            f"Topic[{i}].Partitions.Length",
            len(expected.partitions),
            len(actual.partitions),
        )
        for j, ((index, error), partition) in enumerate(
            zip(expected.partitions, actual.partitions, strict=False)
        ):
            _expect(
                f"Topic[{i}].Partition[{j}].PartitionIndex",
                index,
                partition.partition_index,
            )
            _expect(f"Topic[{i}].Partition[{j}].ErrorCode", error, partition.error_code)
    return response


def _describe_batches(batches: Sequence[RecordBatch]) -> str:
    """One line per batch, for the mismatch message."""
    return (
        "\n".join(
            f"  base_offset={b.base_offset} ple={b.partition_leader_epoch} attrs={b.attributes} "
            f"lod={b.last_offset_delta} ts={b.first_timestamp}/{b.max_timestamp} "
            f"pid={b.producer_id} "
            f"epoch={b.producer_epoch} seq={b.base_sequence} records="
            + repr(
                [
                    (r.key, r.value, r.headers, r.attributes, r.timestamp_delta)
                    for r in (b.records or ())
                ]
            )
            for b in batches
        )
        or "  (none)"
    )


def check_record_batches_match(
    expected: Sequence[RecordBatch], actual: Sequence[RecordBatch]
) -> None:
    """
    The tester re-encodes both sides (fresh CRC/length, magic 2, offset delta = index) and
    compares bytes.
    """
    expected_bytes = encode_record_batches(expected)
    actual_bytes = encode_record_batches(actual)
    if expected_bytes != actual_bytes:
        raise AssertionError(
            "RecordBatch bytes do not match with the contents on disk\nexpected:\n"
            + _describe_batches(expected)
            + "\nactual:\n"
            + _describe_batches(actual)
        )


def check_fetch(
    raw: bytes,
    correlation_id: int,
    *,
    topic_id: str | None = None,
    partition_index: int | None = None,
    partition_error_code: int | None = None,
    expected_batches: Sequence[RecordBatch] | None = None,
    strict: bool = True,
) -> FetchResponse:
    """dh6/hn6/cm4/eg2/fd8 (+ps7/sb8): throttle 0, error 0, one topic/partition or none, batches."""
    response = decode_fetch_response(check_message_size(raw), strict)
    _expect("FetchResponse.Header.CorrelationID", correlation_id, response.correlation_id)
    _expect("FetchResponse.Body.ThrottleTimeMS", 0, response.throttle_time_ms)
    _expect("FetchResponse.Body.ErrorCode", NO_ERROR, response.error_code)
    expected_topic_count = 0 if topic_id is None else 1
    _expect(
        "FetchResponse.Body.Topics.Length (compact)",
        expected_topic_count + 1,
        response.topics_length_raw,
    )
    if topic_id is None:
        return response
    topic = response.topics[0]
    _expect("TopicResponse[0].TopicUUID", topic_id, topic.topic_id)
    expected_partition_count = 0 if partition_index is None else 1
    _expect(
        "TopicResponse[0].Partitions.Length",
        expected_partition_count,
        len(topic.partitions),
    )
    if partition_index is None:
        return response
    partition = topic.partitions[0]
    _expect("PartitionResponse[0].ErrorCode", partition_error_code, partition.error_code)
    _expect("PartitionResponse[0].PartitionId", partition_index, partition.partition_index)
    if expected_batches is not None:
        check_record_batches_match(expected_batches, partition.batches)
    return response


@dataclass(frozen=True)
class ExpectedProducePartition:
    """What the Produce assertion expects for one partition."""

    index: int
    error_code: int = NO_ERROR
    base_offset: int = 0
    log_append_time_ms: int = -1
    log_start_offset: int = 0


def expected_produce_success(
    topics: Sequence[tuple[str, Sequence[int]]],
) -> list[tuple[str, list[ExpectedProducePartition]]]:
    """GetTopicExpectationData: error 0, base offset 0, log append time -1, log start 0."""
    return [
        (name, [ExpectedProducePartition(p) for p in partitions]) for name, partitions in topics
    ]


def check_produce(
    raw: bytes,
    correlation_id: int,
    expected: Sequence[tuple[str, Sequence[ExpectedProducePartition]]],
    strict: bool = True,
) -> ProduceResponse:
    """ck2/dp1/ps7/sb8/mf2/ar4: topics and partitions matched by name/index in any order."""
    response = decode_produce_response(check_message_size(raw), strict)
    _expect("ProduceResponse.Header.CorrelationID", correlation_id, response.correlation_id)
    _expect("ProduceResponse.Body.ThrottleTimeMS", 0, response.throttle_time_ms)
    _expect("ProduceResponse.Body.Topics.Length", len(expected), len(response.topics))
    for name, partitions in expected:
        found = [(i, t) for i, t in enumerate(response.topics) if t.name == name]
        if not found:
            raise AssertionError(f"Expected topic {name} not found in response")
        ti, topic = found[0]
        _expect(f"Topic[{ti}].Partitions.Length", len(partitions), len(topic.partitions))
        for expected_partition in partitions:
            matches = [
                (j, p)
                for j, p in enumerate(topic.partitions)
                if p.index == expected_partition.index
            ]
            if not matches:
                raise AssertionError(
                    f"Expected Topic[{ti}].Partition with Id {expected_partition.index} "
                    f"not found in topic {name}"
                )
            pj, partition = matches[0]
            where = f"Topic[{ti}].Partition[{pj}]"
            _expect(
                f"{where}.ErrorCode",
                expected_partition.error_code,
                partition.error_code,
            )
            _expect(
                f"{where}.BaseOffset",
                expected_partition.base_offset,
                partition.base_offset,
            )
            _expect(
                f"{where}.LogAppendTime",
                expected_partition.log_append_time_ms,
                partition.log_append_time_ms,
            )
            _expect(
                f"{where}.LogStartOffset",
                expected_partition.log_start_offset,
                partition.log_start_offset,
            )
    return response


def check_log_file(path: str, expected_batch: RecordBatch) -> RecordBatch:
    """
    After a Produce: the segment must start with a valid batch whose CRC is the request batch's
    CRC.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise AssertionError(f"failed to read log file {path}: {error}") from error
    batch = decode_record_batch(Reader(data, path), "RecordBatch")
    expected_crc = record_batch_crc(expected_batch)
    if batch.crc != expected_crc:
        raise AssertionError(
            f"Expected CRC32 of Record Batch in {path} to be {signed32(expected_crc)}, "
            f"got {signed32(batch.crc or 0)}"
        )
    return batch
