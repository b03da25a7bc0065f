#!/usr/bin/env python3
"""An independent Python port of CodeCrafters' ``kafka-tester``.

This module reproduces, byte for byte, what the Go tester
(``codecrafters-io/kafka-tester``) writes to disk, sends on the wire and
asserts about the answers, for all 25 stages of the "Build your own Kafka"
course.  See ``TESTER_NOTES.md`` next to this file for the source survey.

It is deliberately independent of ``kafkatwist``: it uses only the standard
library and ``crc32c``, with its own hand-written encoders and decoders, so it
can serve as an oracle for the broker.

Library use::

    ctx = StageContext(log_dir="/tmp/kraft-combined-logs", seed=1)
    STAGE_BY_SLUG["eg2"].setup(ctx)      # writes the log directory
    ...start the broker...
    STAGE_BY_SLUG["eg2"].run("localhost", 9092, ctx)   # raises AssertionError

Command line::

    python tests/challenge/tester.py --program ./your_program.sh
    python tests/challenge/tester.py --program ./your_program.sh --stage eg2
    python tests/challenge/tester.py --program ./your_program.sh --real-paths
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid as _uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Self

import crc32c

# ---------------------------------------------------------------------------
# Constants taken from the tester's source
# ---------------------------------------------------------------------------

CLIENT_ID = "kafka-tester"
CLIENT_SOFTWARE_NAME = "kafka-cli"
CLIENT_SOFTWARE_VERSION = "0.1"

API_PRODUCE = 0
API_FETCH = 1
API_API_VERSIONS = 18
API_DESCRIBE_TOPIC_PARTITIONS = 75

API_VERSIONS_VERSION = 4
DESCRIBE_TOPIC_PARTITIONS_VERSION = 0
FETCH_VERSION = 16
PRODUCE_VERSION = 11

NO_ERROR = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
UNKNOWN_TOPIC_ID = 100

MAX_INT32 = 2**31 - 1

LOG_FILE_NAME = "00000000000000000000.log"
CLUSTER_METADATA_DIRECTORY = "__cluster_metadata-0"
PARTITION_METADATA_FILE_NAME = "partition.metadata"
META_PROPERTIES_FILE_NAME = "meta.properties"
KAFKA_CLEAN_SHUTDOWN_FILE_NAME = ".kafka_cleanshutdown"
REAL_SERVER_PROPERTIES_PATH = "/tmp/server.properties"
REAL_LOG_DIRECTORY = "/tmp/kraft-combined-logs"
REAL_PORT = 9092

DIRECTORY_UUID = "10000000-0000-4000-8000-000000000001"
CLUSTER_METADATA_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAQ"
CLUSTER_ID = "IAAAAAAAQACAAAAAAAAAAQ"
NODE_ID = 1
META_VERSION = 1
CLEAN_SHUTDOWN_CONTENTS = '{"version":0,"brokerEpoch":10}'
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
TOPIC_UUID_PREFIX = "71a59a51-8968-4f8b-937e-"

# Timestamps hard-coded by the tester's file generator and Produce builder.
RECORD_TIMESTAMP = 1726045973899
FEATURE_LEVEL_BATCH_TIMESTAMP = 1726045943832
TOPIC_BATCH_TIMESTAMP = 1726045957397
METADATA_VERSION_FEATURE_LEVEL = 20

# tester-utils/random's word list (RandomWord, RandomWords, RandomString).
RANDOM_WORDS = (
    "apple",
    "orange",
    "banana",
    "pear",
    "grape",
    "pineapple",
    "mango",
    "strawberry",
    "raspberry",
    "blueberry",
)

# The tester reads a response as: one blocking read for the first (up to)
# 4 bytes, then everything that arrives within 100 ms after that.
READ_WINDOW_SECONDS = 0.1
# tester-utils' default per-stage timeout; vi6 uses 15 s.
STAGE_TIMEOUT_SECONDS = 10.0
BIND_STAGE_TIMEOUT_SECONDS = 15.0

TAG_BUFFER = b"\x00"

# ---------------------------------------------------------------------------
# Primitive encoders
# ---------------------------------------------------------------------------


def enc_int8(value: int) -> bytes:
    """Encode a signed 8-bit integer."""
    return struct.pack(">b", value)


def enc_int16(value: int) -> bytes:
    """Encode a signed big-endian 16-bit integer."""
    return struct.pack(">h", value)


def enc_int32(value: int) -> bytes:
    """Encode a signed big-endian 32-bit integer."""
    return struct.pack(">i", value)


def enc_uint32(value: int) -> bytes:
    """Encode an unsigned big-endian 32-bit integer."""
    return struct.pack(">I", value)


def enc_int64(value: int) -> bytes:
    """Encode a signed big-endian 64-bit integer."""
    return struct.pack(">q", value)


def enc_uvarint(value: int) -> bytes:
    """Encode an unsigned LEB128 varint."""
    if value < 0:
        raise ValueError(f"unsigned varint cannot encode {value}")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def enc_varint(value: int) -> bytes:
    """Encode a signed zig-zag varint (Kafka's VARINT/VARLONG)."""
    return enc_uvarint((value << 1) ^ (value >> 63))


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def enc_string(value: str | bytes) -> bytes:
    """Encode a non-null (NULLABLE_)STRING: int16 length then bytes."""
    data = _as_bytes(value)
    return enc_int16(len(data)) + data


def enc_compact_string(value: str | bytes) -> bytes:
    """Encode a COMPACT_STRING: uvarint(length + 1) then bytes."""
    data = _as_bytes(value)
    return enc_uvarint(len(data) + 1) + data


def enc_compact_nullable_string(value: str | bytes | None) -> bytes:
    """Encode a COMPACT_NULLABLE_STRING (0x00 for null)."""
    return b"\x00" if value is None else enc_compact_string(value)


def enc_uuid(value: str) -> bytes:
    """Encode a UUID as its 16 raw bytes."""
    return _uuid.UUID(value).bytes


def enc_compact_array(items: Iterable[bytes]) -> bytes:
    """Encode a COMPACT_ARRAY of already-encoded elements."""
    elements = list(items)
    return enc_uvarint(len(elements) + 1) + b"".join(elements)


def enc_compact_int32_array(values: Iterable[int]) -> bytes:
    """Encode a COMPACT_ARRAY of INT32."""
    return enc_compact_array(enc_int32(v) for v in values)


def frame(message: bytes) -> bytes:
    """Prefix a message with its int32 size, as on the wire."""
    return enc_int32(len(message)) + message


# ---------------------------------------------------------------------------
# Record batches (magic 2)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One record inside a v2 record batch.

    ``key``/``value`` of ``None`` encode as length -1.  ``headers`` of
    ``None`` encodes a header count of -1 (what the tester's partition-log
    generator writes); ``()`` encodes 0 (what its Produce builder sends).
    """

    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[bytes | None, bytes | None], ...] | None = None
    attributes: int = 0
    timestamp_delta: int = 0
    offset_delta: int = 0


@dataclass(frozen=True)
class RecordBatch:
    """A v2 record batch; ``crc``/``batch_length``/``magic`` are as decoded."""

    base_offset: int
    partition_leader_epoch: int
    attributes: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: tuple[Record, ...] | None
    magic: int = 2
    crc: int | None = None
    batch_length: int | None = None


def _enc_varint_bytes(data: bytes | None) -> bytes:
    return enc_varint(-1) if data is None else enc_varint(len(data)) + data


def encode_record(record: Record, offset_delta: int | None = None) -> bytes:
    """Encode a record (length-prefixed); the tester forces offset_delta to the index."""
    delta = record.offset_delta if offset_delta is None else offset_delta
    body = (
        enc_int8(record.attributes)
        + enc_varint(record.timestamp_delta)
        + enc_varint(delta)
        + _enc_varint_bytes(record.key)
        + _enc_varint_bytes(record.value)
    )
    if record.headers is None:
        body += enc_varint(-1)
    else:
        body += enc_varint(len(record.headers))
        for header_key, header_value in record.headers:
            body += _enc_varint_bytes(header_key) + _enc_varint_bytes(header_value)
    return enc_varint(len(body)) + body


def record_batch_properties(batch: RecordBatch) -> bytes:
    """The CRC-covered part of a batch (attributes .. records), as the tester builds it."""
    records = batch.records or ()
    out = (
        enc_int16(batch.attributes)
        + enc_int32(batch.last_offset_delta)
        + enc_int64(batch.first_timestamp)
        + enc_int64(batch.max_timestamp)
        + enc_int64(batch.producer_id)
        + enc_int16(batch.producer_epoch)
        + enc_int32(batch.base_sequence)
        + enc_int32(len(records))
    )
    for index, record in enumerate(records):
        out += encode_record(record, offset_delta=index)
    return out


def record_batch_crc(batch: RecordBatch) -> int:
    """CRC-32C (unsigned) the tester computes for ``batch``."""
    return crc32c.crc32c(record_batch_properties(batch))


def encode_record_batch(batch: RecordBatch) -> bytes:
    """Encode a batch exactly like the tester's ``RecordBatch.Encode``.

    CRC and batch length are recomputed, magic is always 2 and each record's
    offset delta is its index, whatever the fields say.
    """
    properties = record_batch_properties(batch)
    return (
        enc_int64(batch.base_offset)
        + enc_int32(len(properties) + 4 + 1 + 4)
        + enc_int32(batch.partition_leader_epoch)
        + enc_int8(2)
        + enc_uint32(crc32c.crc32c(properties))
        + properties
    )


def encode_record_batches(batches: Iterable[RecordBatch]) -> bytes:
    """Concatenate encoded batches (a log segment or a RECORDS field body)."""
    return b"".join(encode_record_batch(b) for b in batches)


def tester_log_batch(base_offset: int, message: str) -> RecordBatch:
    """A batch as the tester's partition-log generator writes it (one per message)."""
    return RecordBatch(
        base_offset=base_offset,
        partition_leader_epoch=0,
        attributes=0,
        last_offset_delta=0,
        first_timestamp=RECORD_TIMESTAMP,
        max_timestamp=RECORD_TIMESTAMP,
        producer_id=0,
        producer_epoch=0,
        base_sequence=0,
        records=(Record(value=message.encode("utf-8"), key=None, headers=None),),
    )


def produce_batch(messages: Sequence[str]) -> RecordBatch:
    """The single batch the tester's Produce builder sends for one partition."""
    return RecordBatch(
        base_offset=0,
        partition_leader_epoch=0,
        attributes=0,
        last_offset_delta=len(messages) - 1,
        first_timestamp=RECORD_TIMESTAMP,
        max_timestamp=RECORD_TIMESTAMP,
        producer_id=0,
        producer_epoch=0,
        base_sequence=0,
        records=tuple(
            Record(value=m.encode("utf-8"), key=None, headers=(), offset_delta=i)
            for i, m in enumerate(messages)
        ),
    )


def signed32(value: int) -> int:
    """Show an unsigned 32-bit value as the tester logs it (int32)."""
    return value - 2**32 if value >= 2**31 else value


# ---------------------------------------------------------------------------
# __cluster_metadata payloads
# ---------------------------------------------------------------------------

FEATURE_LEVEL_RECORD_TYPE = 12
TOPIC_RECORD_TYPE = 2
PARTITION_RECORD_TYPE = 3


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


# ---------------------------------------------------------------------------
# Log directory layout (what the tester writes before starting the program)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionSpec:
    """A partition the tester creates, with the messages in its log file."""

    partition_id: int
    messages: tuple[str, ...] = ()

    @property
    def batches(self) -> tuple[RecordBatch, ...]:
        """One batch per message, base offsets 0, 1, 2, ..."""
        return tuple(tester_log_batch(i, m) for i, m in enumerate(self.messages))


@dataclass(frozen=True)
class TopicSpec:
    """A topic the tester creates."""

    name: str
    uuid: str
    partitions: tuple[PartitionSpec, ...]


@dataclass(frozen=True)
class LogDirLayout:
    """Description of a generated ``kraft-combined-logs`` tree."""

    log_dir: str
    topics: tuple[TopicSpec, ...]

    def topic(self, name: str) -> TopicSpec:
        """Look a topic up by name."""
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    def partition_log_path(self, topic_name: str, partition_id: int) -> str:
        """``<log_dir>/<topic>-<partition>/00000000000000000000.log``."""
        return os.path.join(self.log_dir, f"{topic_name}-{partition_id}", LOG_FILE_NAME)

    @property
    def cluster_metadata_log_path(self) -> str:
        """Path of the ``__cluster_metadata-0`` segment."""
        return os.path.join(self.log_dir, CLUSTER_METADATA_DIRECTORY, LOG_FILE_NAME)


def uuid_to_base64(value: str) -> str:
    """The tester's uuidToBase64: *standard* base64, with ``==`` padding."""
    return base64.b64encode(_uuid.UUID(value).bytes).decode("ascii")


def cluster_metadata_batches(topics: Sequence[TopicSpec]) -> list[RecordBatch]:
    """The batches of ``__cluster_metadata-0/00000000000000000000.log``.

    One batch holding the FeatureLevelRecord, then one batch per topic holding
    its TopicRecord followed by one PartitionRecord per partition.
    """
    batches = [
        RecordBatch(
            base_offset=0,
            partition_leader_epoch=1,
            attributes=0,
            last_offset_delta=0,
            first_timestamp=FEATURE_LEVEL_BATCH_TIMESTAMP,
            max_timestamp=FEATURE_LEVEL_BATCH_TIMESTAMP,
            producer_id=-1,
            producer_epoch=-1,
            base_sequence=-1,
            records=(Record(value=encode_feature_level_record(), key=None, headers=()),),
        )
    ]
    base_offset = 1
    for topic in topics:
        records = [Record(value=encode_topic_record(topic.name, topic.uuid), key=None, headers=())]
        for partition in topic.partitions:
            records.append(
                Record(
                    value=encode_partition_record(partition.partition_id, topic.uuid),
                    key=None,
                    headers=(),
                )
            )
        batches.append(
            RecordBatch(
                base_offset=base_offset,
                partition_leader_epoch=1,
                attributes=0,
                last_offset_delta=len(records) - 1,
                first_timestamp=TOPIC_BATCH_TIMESTAMP,
                max_timestamp=TOPIC_BATCH_TIMESTAMP,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=-1,
                records=tuple(records),
            )
        )
        base_offset += len(records)
    return batches


def server_properties_text(
    log_dir: str, port: int = REAL_PORT, controller_port: int | None = None
) -> str:
    """The tester's server.properties (no trailing newline), with log dir and ports."""
    if controller_port is None:
        controller_port = port + 1
    return (
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.voters=1@localhost:{controller_port}\n"
        f"listeners=PLAINTEXT://:{port},CONTROLLER://:{controller_port}\n"
        "controller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n"
        f"log.dirs={log_dir}"
    )


def write_server_properties(
    path: str, log_dir: str, port: int = REAL_PORT, controller_port: int | None = None
) -> None:
    """Write server.properties like the tester does."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(server_properties_text(log_dir, port, controller_port))


def write_base_files(log_dir: str) -> None:
    """(Re)create the log dir with meta.properties and .kafka_cleanshutdown only.

    This is all the tester writes for stages that need no topics.
    """
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir, exist_ok=True)
    stamp = time.strftime("%a %b %d %H:%M:%S %Z %Y")
    meta = (
        f"#\n#{stamp}\ncluster.id={CLUSTER_ID}\ndirectory.id={uuid_to_base64(DIRECTORY_UUID)}\n"
        f"node.id={NODE_ID}\nversion={META_VERSION}\n"
    )
    with open(os.path.join(log_dir, META_PROPERTIES_FILE_NAME), "w", encoding="utf-8") as handle:
        handle.write(meta)
    with open(
        os.path.join(log_dir, KAFKA_CLEAN_SHUTDOWN_FILE_NAME), "w", encoding="utf-8"
    ) as handle:
        handle.write(CLEAN_SHUTDOWN_CONTENTS)


def write_topic_files(log_dir: str, topics: Sequence[TopicSpec]) -> None:
    """Write partition directories and the __cluster_metadata-0 log for ``topics``."""
    for topic in topics:
        for partition in topic.partitions:
            directory = os.path.join(log_dir, f"{topic.name}-{partition.partition_id}")
            os.makedirs(directory, exist_ok=True)
            with open(
                os.path.join(directory, PARTITION_METADATA_FILE_NAME),
                "w",
                encoding="utf-8",
            ) as handle:
                handle.write(f"version: 0\ntopic_id: {uuid_to_base64(topic.uuid)}")
            with open(os.path.join(directory, LOG_FILE_NAME), "wb") as handle:
                handle.write(encode_record_batches(partition.batches))
    metadata_directory = os.path.join(log_dir, CLUSTER_METADATA_DIRECTORY)
    os.makedirs(metadata_directory, exist_ok=True)
    with open(os.path.join(metadata_directory, LOG_FILE_NAME), "wb") as handle:
        handle.write(encode_record_batches(cluster_metadata_batches(topics)))
    with open(
        os.path.join(metadata_directory, PARTITION_METADATA_FILE_NAME),
        "w",
        encoding="utf-8",
    ) as handle:
        handle.write(f"version: 0\ntopic_id: {CLUSTER_METADATA_TOPIC_ID}")


def default_topics(rand: TesterRandom) -> tuple[TopicSpec, ...]:
    """A varied layout: 1 partition/1 message, 2 partitions (messages, empty), 3 partitions."""
    names = rand.words(3)
    uuids = rand.topic_uuids(3)
    return (
        TopicSpec(names[0], uuids[0], (PartitionSpec(0, (rand.word(),)),)),
        TopicSpec(
            names[1],
            uuids[1],
            (
                PartitionSpec(0, tuple(rand.words(rand.randint(2, 4)))),
                PartitionSpec(1, ()),
            ),
        ),
        TopicSpec(
            names[2],
            uuids[2],
            tuple(PartitionSpec(i, tuple(rand.words(rand.randint(0, 3)))) for i in range(3)),
        ),
    )


def prepare_log_dir(
    log_dir: str, seed: int | None = None, topics: Sequence[TopicSpec] | None = None
) -> LogDirLayout:
    """Write a kraft-combined-logs tree the way the tester does and describe it.

    With ``topics=None`` a seeded random layout is generated.  With
    ``topics=()`` only meta.properties and .kafka_cleanshutdown are written,
    as in the base, concurrency and "Fetch with no topics" stages.
    """
    if topics is None:
        topics = default_topics(TesterRandom(seed))
    topics = tuple(topics)
    write_base_files(log_dir)
    if topics:
        write_topic_files(log_dir, topics)
    return LogDirLayout(log_dir=log_dir, topics=topics)


# ---------------------------------------------------------------------------
# Randomness, mirroring tester-utils/random and internal/utils.go
# ---------------------------------------------------------------------------


class TesterRandom:
    """Seeded helpers with the same ranges and shapes as the tester's."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def randint(self, low: int, high: int) -> int:
        """RandomInt: uniform in [low, high)."""
        return self.rng.randrange(low, high)

    def word(self) -> str:
        """RandomWord."""
        return self.rng.choice(RANDOM_WORDS)

    def words(self, count: int) -> list[str]:
        """RandomWords: ``count`` distinct words (repeats only past 10)."""
        pool = list(RANDOM_WORDS)
        while count > len(pool):
            pool = pool + pool
        return [pool[i] for i in self.rng.sample(range(len(pool)), count)]

    def string(self) -> str:
        """RandomString: six words joined by spaces."""
        return " ".join(self.words(6))

    def correlation_id(self) -> int:
        """getRandomCorrelationId: [0, MaxInt32 - 1)."""
        return self.randint(0, MAX_INT32 - 1)

    def invalid_api_version(self) -> int:
        """getInvalidAPIVersion: [1000, 2000)."""
        return self.randint(1000, 2000)

    def topic_uuid(self) -> str:
        """getRandomTopicUUID: fixed prefix + 12 random hex digits, no '+'/'/' in base64."""
        while True:
            candidate = TOPIC_UUID_PREFIX + "".join(f"{self.randint(0, 16):x}" for _ in range(12))
            encoded = uuid_to_base64(candidate)
            if "+" not in encoded and "/" not in encoded:
                return candidate

    def topic_uuids(self, count: int) -> list[str]:
        """getRandomTopicUUIDs: suffix %012x of i*1000 + [0, 1000), base64-safe."""
        uuids = []
        for i in range(count):
            while True:
                candidate = TOPIC_UUID_PREFIX + "%012x" % (i * 1000 + self.randint(0, 1000))
                encoded = uuid_to_base64(candidate)
                if not any(ch in encoded for ch in "+-/_"):
                    uuids.append(candidate)
                    break
        return uuids


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------


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
    encoded_topics = []
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
    encoded_topics = []
    for name, partitions in topics:
        encoded_partitions = []
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


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


class DecodeError(AssertionError):
    """A response could not be decoded the way the tester decodes it."""


class Reader:
    """Bounds-checked cursor over a byte string."""

    def __init__(self, data: bytes, name: str = "") -> None:
        self.data = bytes(data)
        self.offset = 0
        self.name = name

    def remaining(self) -> int:
        """Bytes left unread."""
        return len(self.data) - self.offset

    def _fail(self, what: str, message: str) -> DecodeError:
        prefix = f"{self.name}." if self.name else ""
        return DecodeError(f"{prefix}{what} (at payload offset {self.offset}): {message}")

    def take(self, count: int, what: str) -> bytes:
        """Read ``count`` raw bytes."""
        if count < 0:
            raise self._fail(what, f"negative length {count}")
        if self.remaining() < count:
            raise self._fail(what, f"expected {count} bytes, only {self.remaining()} remain")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def int8(self, what: str) -> int:
        return struct.unpack(">b", self.take(1, what))[0]

    def int16(self, what: str) -> int:
        return struct.unpack(">h", self.take(2, what))[0]

    def int32(self, what: str) -> int:
        return struct.unpack(">i", self.take(4, what))[0]

    def uint32(self, what: str) -> int:
        return struct.unpack(">I", self.take(4, what))[0]

    def int64(self, what: str) -> int:
        return struct.unpack(">q", self.take(8, what))[0]

    def uvarint(self, what: str) -> int:
        """Unsigned varint (max 10 bytes)."""
        result = 0
        shift = 0
        for _ in range(10):
            if self.remaining() < 1:
                raise self._fail(what, "unexpected end of data in varint")
            byte = self.data[self.offset]
            self.offset += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
        raise self._fail(what, "varint longer than 10 bytes")

    def varint(self, what: str) -> int:
        """Signed zig-zag varint."""
        raw = self.uvarint(what)
        return (raw >> 1) ^ -(raw & 1)

    def compact_array_length(self, what: str) -> int | None:
        """Element count of a COMPACT_ARRAY, ``None`` when null."""
        raw = self.uvarint(what + ".length")
        return None if raw == 0 else raw - 1

    def compact_string(self, what: str) -> str:
        """COMPACT_STRING (null rejected, as the tester does)."""
        raw = self.uvarint(what + ".length")
        if raw == 0:
            raise self._fail(what, "compact string length cannot be 0 (null)")
        return self.take(raw - 1, what).decode("utf-8", errors="replace")

    def compact_nullable_string(self, what: str) -> str | None:
        """COMPACT_NULLABLE_STRING."""
        raw = self.uvarint(what + ".length")
        if raw == 0:
            return None
        return self.take(raw - 1, what).decode("utf-8", errors="replace")

    def uuid(self, what: str) -> str:
        return str(_uuid.UUID(bytes=self.take(16, what)))

    def boolean(self, what: str) -> bool:
        value = self.take(1, what)[0]
        if value not in (0, 1):
            raise self._fail(what, f"boolean must be 0 or 1, got {value}")
        return value == 1

    def tag_buffer(self, what: str) -> list[tuple[int, bytes]]:
        """Tagged-field section; fields are skipped, like the tester does."""
        count = self.uvarint(what + ".TAG_BUFFER")
        fields = []
        for _ in range(count):
            tag = self.uvarint(what + ".TAG_BUFFER.tag")
            size = self.uvarint(what + ".TAG_BUFFER.size")
            fields.append((tag, self.take(size, what + ".TAG_BUFFER.data")))
        return fields

    def expect_end(self, what: str) -> None:
        """Fail if bytes remain after the last field."""
        if self.remaining():
            raise self._fail(
                what,
                f"{self.remaining()} unexpected bytes remain after decoding the response: "
                f"{self.data[self.offset : self.offset + 32].hex(' ')}",
            )


def _compact_array(
    reader: Reader, what: str, decode_element: Callable[[Reader, str], object]
) -> list:
    count = reader.compact_array_length(what)
    return [decode_element(reader, f"{what}[{i}]") for i in range(count or 0)]


def decode_record(reader: Reader, what: str) -> Record:
    """Decode one record with the tester's sanity checks."""
    length = reader.varint(what + ".Length")
    if length <= 0:
        raise reader._fail(what + ".Length", f"record length must be positive, got {length}")
    start = reader.offset
    attributes = reader.int8(what + ".Attributes")
    timestamp_delta = reader.varint(what + ".TimestampDelta")
    offset_delta = reader.varint(what + ".OffsetDelta")

    def nullable_bytes(name: str) -> bytes | None:
        size = reader.varint(f"{what}.{name}Length")
        if size < -1:
            raise reader._fail(f"{what}.{name}Length", f"length must be >= -1, got {size}")
        return None if size == -1 else reader.take(size, f"{what}.{name}")

    key = nullable_bytes("Key")
    value = nullable_bytes("Value")
    header_count = reader.varint(what + ".HeadersLength")
    if header_count < -1:
        raise reader._fail(what + ".HeadersLength", f"must be >= -1, got {header_count}")
    headers: tuple | None = None
    if header_count >= 0:
        decoded = []
        for index in range(header_count):
            header_key = nullable_bytes(f"Headers[{index}].Key")
            header_value = nullable_bytes(f"Headers[{index}].Value")
            decoded.append((header_key, header_value))
        headers = tuple(decoded)
    consumed = reader.offset - start
    if consumed != length:
        raise reader._fail(
            what + ".Length",
            f"record length says {length}, record has {consumed} bytes",
        )
    return Record(
        value=value,
        key=key,
        headers=headers,
        attributes=attributes,
        timestamp_delta=timestamp_delta,
        offset_delta=offset_delta,
    )


def decode_record_batch(reader: Reader, what: str = "RecordBatch") -> RecordBatch:
    """Decode one v2 batch; checks length > 0, CRC-32C and batch length."""
    base_offset = reader.int64(what + ".BaseOffset")
    batch_length = reader.int32(what + ".BatchLength")
    if batch_length <= 0:
        raise reader._fail(what + ".BatchLength", f"must be positive, got {batch_length}")
    start = reader.offset
    partition_leader_epoch = reader.int32(what + ".PartitionLeaderEpoch")
    magic = reader.int8(what + ".Magic")
    crc = reader.uint32(what + ".CRC")
    crc_start = reader.offset
    attributes = reader.int16(what + ".Attributes")
    last_offset_delta = reader.int32(what + ".LastOffsetDelta")
    first_timestamp = reader.int64(what + ".FirstTimestamp")
    max_timestamp = reader.int64(what + ".MaxTimestamp")
    producer_id = reader.int64(what + ".ProducerId")
    producer_epoch = reader.int16(what + ".ProducerEpoch")
    base_sequence = reader.int32(what + ".BaseSequence")
    count = reader.int32(what + ".Records.Length")
    if count < -1:
        raise reader._fail(what + ".Records.Length", f"must be -1 or >= 0, got {count}")
    records: tuple[Record, ...] | None = None
    if count >= 0:
        records = tuple(decode_record(reader, f"{what}.Records[{i}]") for i in range(count))
    end = reader.offset
    computed = crc32c.crc32c(reader.data[crc_start:end])
    if computed != crc:
        raise reader._fail(
            what + ".CRC",
            f"expected CRC-32C {signed32(computed)} (computed over attributes..end), "
            f"got {signed32(crc)}",
        )
    if end - start != batch_length:
        raise reader._fail(
            what + ".BatchLength",
            f"batch length says {batch_length}, batch has {end - start} bytes",
        )
    return RecordBatch(
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        attributes=attributes,
        last_offset_delta=last_offset_delta,
        first_timestamp=first_timestamp,
        max_timestamp=max_timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        records=records,
        magic=magic,
        crc=crc,
        batch_length=batch_length,
    )


def decode_log_segment(data: bytes, name: str = "log") -> list[RecordBatch]:
    """Decode every batch of a segment file (used for the real Kafka fixture too)."""
    reader = Reader(data, name)
    batches: list[RecordBatch] = []
    while reader.remaining():
        batches.append(decode_record_batch(reader, f"RecordBatches[{len(batches)}]"))
    return batches


def decode_compact_records(reader: Reader, what: str) -> list[RecordBatch]:
    """A COMPACT_RECORDS field: uvarint(size + 1) then whole batches."""
    raw_size = reader.uvarint(what + ".Size")
    size = 0 if raw_size in (0, 1) else raw_size - 1
    if reader.remaining() < size:
        raise reader._fail(
            what + ".Size",
            f"record bytes decoded as {size}, only {reader.remaining()} remain",
        )
    start = reader.offset
    batches: list[RecordBatch] = []
    while reader.offset < start + size:
        batches.append(decode_record_batch(reader, f"{what}[{len(batches)}]"))
    if reader.offset != start + size:
        raise reader._fail(
            what + ".Size",
            f"batches took {reader.offset - start} bytes, size says {size}",
        )
    return batches


@dataclass
class ApiKeyEntry:
    api_key: int
    min_version: int
    max_version: int


@dataclass
class ApiVersionsResponse:
    correlation_id: int
    error_code: int
    api_keys: list[ApiKeyEntry]
    throttle_time_ms: int


@dataclass
class DescribeTopicPartitionsPartition:
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
    error_code: int
    name: str | None
    topic_id: str
    is_internal: bool
    partitions: list[DescribeTopicPartitionsPartition]
    topic_authorized_operations: int


@dataclass
class DescribeTopicPartitionsResponse:
    correlation_id: int
    throttle_time_ms: int
    topics: list[DescribeTopicPartitionsTopic]
    topics_length_raw: int
    next_cursor: tuple[str, int] | None


@dataclass
class FetchPartition:
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
    topic_id: str
    partitions: list[FetchPartition]


@dataclass
class FetchResponse:
    correlation_id: int
    throttle_time_ms: int
    error_code: int
    session_id: int
    topics: list[FetchTopic]
    topics_length_raw: int


@dataclass
class ProducePartition:
    index: int
    error_code: int
    base_offset: int
    log_append_time_ms: int
    log_start_offset: int
    record_errors: list[tuple[int, str | None]]
    error_message: str | None


@dataclass
class ProduceTopic:
    name: str
    partitions: list[ProducePartition]


@dataclass
class ProduceResponse:
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

    api_keys = _compact_array(reader, "Body.ApiKeys", entry)
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
        return _compact_array(r, what, lambda rr, w: rr.int32(w))

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
            partitions=_compact_array(r, what + ".Partitions", partition),
            topic_authorized_operations=r.int32(what + ".TopicAuthorizedOperations"),
        )
        r.tag_buffer(what)
        return value

    topics_offset = reader.offset
    topics = _compact_array(reader, "Body.Topics", topic)
    topics_length_raw = Reader(payload[topics_offset:]).uvarint("Topics.Length")
    cursor_present = reader.int8("Body.Cursor.IsCursorPresent")
    next_cursor = None
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
        aborted_transactions = None
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
            r.uuid(what + ".UUID"), _compact_array(r, what + ".Partitions", partition)
        )
        r.tag_buffer(what)
        return value

    topics_offset = reader.offset
    topics = _compact_array(reader, "Body.Topics", topic)
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
            record_errors=_compact_array(r, what + ".RecordErrors", record_error),
            error_message=r.compact_nullable_string(what + ".ErrorMessage"),
        )
        r.tag_buffer(what)
        return value

    def topic(r: Reader, what: str) -> ProduceTopic:
        value = ProduceTopic(
            r.compact_string(what + ".Name"),
            _compact_array(r, what + ".Partitions", partition),
        )
        r.tag_buffer(what)
        return value

    topics = _compact_array(reader, "Body.Topics", topic)
    throttle_time_ms = reader.int32("Body.ThrottleTimeMS")
    reader.tag_buffer("Body")
    if strict:
        reader.expect_end("Body")
    return ProduceResponse(correlation_id, topics, throttle_time_ms)


def parse_metadata_payload(value: bytes) -> dict:
    """Decode a FeatureLevel/Topic/PartitionRecord value (frame, type, version + fields)."""
    reader = Reader(value, "MetadataRecord")
    frame_version = reader.uvarint("FrameVersion")
    record_type = reader.uvarint("Type")
    version = reader.uvarint("Version")
    out: dict = {
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
            out[name] = _compact_array(reader, name, lambda r, w: r.int32(w))
        out["leader"] = reader.int32("Leader")
        out["leader_epoch"] = reader.int32("LeaderEpoch")
        out["partition_epoch"] = reader.int32("PartitionEpoch")
        if version >= 1:
            out["directories"] = _compact_array(reader, "Directories", lambda r, w: r.uuid(w))
    else:
        return out
    out["tagged_fields"] = reader.tag_buffer("Record")
    reader.expect_end("Record")
    return out


# ---------------------------------------------------------------------------
# Assertions (pure functions over the raw response bytes)
# ---------------------------------------------------------------------------


def _expect(what: str, expected: object, actual: object) -> None:
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


# ---------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------


class KafkaConnection:
    """A blocking client connection that reads responses the way the tester does."""

    def __init__(self, sock: socket.socket, ctx: StageContext) -> None:
        self.sock = sock
        self.ctx = ctx

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        ctx: StageContext,
        retries: int = 10,
        interval: float = 1.0,
    ) -> KafkaConnection:
        """ConnectWithRetries: retry every second, fail early if the program exited."""
        attempt = 0
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=max(0.1, ctx.remaining()))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                ctx.log(f"connected to {host}:{port}")
                return cls(sock, ctx)
            except OSError as error:
                if ctx.is_alive is not None and not ctx.is_alive():
                    raise AssertionError(
                        "Looks like your program has terminated. "
                        "A Kafka server is expected to be a long-running process."
                    ) from error
                if attempt > retries or ctx.remaining() <= interval:
                    raise AssertionError(f"could not connect to {host}:{port}: {error}") from error
                attempt += 1
                time.sleep(interval)

    def send(self, message: bytes) -> None:
        """Write one request."""
        self.ctx.log(f"-> {message.hex(' ')}")
        self.sock.settimeout(max(0.1, min(1.0, self.ctx.remaining())))
        try:
            self.sock.sendall(message)
        except OSError as error:
            raise AssertionError(f"error writing to connection: {error}") from error

    def receive(self) -> bytes:
        """Block for the first bytes, then collect whatever arrives within the read window."""
        chunks = []
        self.sock.settimeout(max(0.05, self.ctx.remaining()))
        try:
            first = self.sock.recv(4)
        except TimeoutError as error:
            raise AssertionError("timed out waiting for a response") from error
        except OSError as error:
            raise AssertionError(f"error reading from connection: {error}") from error
        if not first:
            raise AssertionError("connection closed by the broker before any response bytes")
        chunks.append(first)
        deadline = time.monotonic() + self.ctx.read_window
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                break
            except OSError as error:
                raise AssertionError(f"error reading from connection: {error}") from error
            if not chunk:
                break
            chunks.append(chunk)
        raw = b"".join(chunks)
        self.ctx.log(f"<- {raw.hex(' ')}")
        return raw

    def send_and_receive(self, message: bytes) -> bytes:
        """Send one request and read its response."""
        self.send(message)
        return self.receive()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------


@dataclass
class StageContext:
    """State shared by a stage's setup and run steps."""

    log_dir: str
    seed: int | None = None
    strict: bool = True
    read_window: float = READ_WINDOW_SECONDS
    timeout: float = STAGE_TIMEOUT_SECONDS
    verbose: bool = False
    is_alive: Callable[[], bool] | None = None
    layout: LogDirLayout | None = None
    params: dict = field(default_factory=dict)
    rand: TesterRandom = field(init=False)
    started_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.rand = TesterRandom(self.seed)

    def remaining(self) -> float:
        """Seconds left before the stage times out."""
        return self.timeout - (time.monotonic() - self.started_at)

    def restart_clock(self) -> None:
        """Start the stage timer (called when the program is started)."""
        self.started_at = time.monotonic()

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"    {message}", flush=True)


def _conn(host: str, port: int, ctx: StageContext) -> KafkaConnection:
    return KafkaConnection.connect(host, port, ctx)


def _require_layout(ctx: StageContext) -> LogDirLayout:
    if ctx.layout is None:
        raise RuntimeError("call the stage's setup (Stage.setup) before running it")
    return ctx.layout


# -- setups ------------------------------------------------------------------


def setup_no_topics(ctx: StageContext) -> None:
    """server.properties + meta.properties + .kafka_cleanshutdown, nothing else."""
    ctx.layout = prepare_log_dir(ctx.log_dir, topics=())


def _setup_topics(ctx: StageContext, topics: Sequence[TopicSpec]) -> None:
    ctx.layout = prepare_log_dir(ctx.log_dir, topics=topics)


def setup_vt6(ctx: StageContext) -> None:
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), (PartitionSpec(0, (r.string(),)),))])


def setup_ea7(ctx: StageContext) -> None:
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), (PartitionSpec(0, (r.string(),)),))])


def setup_ku4(ctx: StageContext) -> None:
    r = ctx.rand
    name, topic_uuid = r.word(), r.topic_uuid()
    _setup_topics(
        ctx,
        [
            TopicSpec(
                name,
                topic_uuid,
                (PartitionSpec(0, (r.string(),)), PartitionSpec(1, (r.string(),))),
            )
        ],
    )


def setup_wq2(ctx: StageContext) -> None:
    r = ctx.rand
    names = r.words(2)
    uuids = r.topic_uuids(2)
    _setup_topics(
        ctx,
        [
            TopicSpec(names[0], uuids[0], (PartitionSpec(0, (r.string(),)),)),
            TopicSpec(
                names[1],
                uuids[1],
                (PartitionSpec(0, (r.string(),)), PartitionSpec(1, (r.string(),))),
            ),
        ],
    )


def setup_hn6(ctx: StageContext) -> None:
    r = ctx.rand
    uuids = r.topic_uuids(2)
    ctx.params["unknown_topic_id"] = uuids[1]
    _setup_topics(ctx, [TopicSpec(r.word(), uuids[0], (PartitionSpec(0, (r.string(),)),))])


def setup_cm4(ctx: StageContext) -> None:
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), (PartitionSpec(0, ()),))])


def setup_eg2(ctx: StageContext) -> None:
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), (PartitionSpec(0, (r.word(),)),))])


def setup_fd8(ctx: StageContext) -> None:
    r = ctx.rand
    name, topic_uuid = r.word(), r.topic_uuid()
    _setup_topics(
        ctx,
        [TopicSpec(name, topic_uuid, (PartitionSpec(0, tuple(r.words(r.randint(2, 4)))),))],
    )


def setup_ck2(ctx: StageContext) -> None:
    r = ctx.rand
    names = r.words(2)
    ctx.params["unknown_topic"] = names[1]
    _setup_topics(ctx, [TopicSpec(names[0], r.topic_uuid(), (PartitionSpec(0, (r.word(),)),))])


def setup_single_empty_partition(ctx: StageContext) -> None:
    """dp1/ps7/sb8: one topic with partition 0 and an empty log."""
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), (PartitionSpec(0, ()),))])


def setup_mf2(ctx: StageContext) -> None:
    r = ctx.rand
    name, topic_uuid = r.word(), r.topic_uuid()
    count = r.randint(2, 4)
    _setup_topics(
        ctx,
        [TopicSpec(name, topic_uuid, tuple(PartitionSpec(i, ()) for i in range(count)))],
    )


def setup_ar4(ctx: StageContext) -> None:
    r = ctx.rand
    names = r.words(2)
    counts = (r.randint(1, 3), r.randint(1, 3))
    topics = [
        TopicSpec(
            names[0],
            r.topic_uuid(),
            tuple(PartitionSpec(i, ()) for i in range(counts[0])),
        ),
        TopicSpec(
            names[1],
            r.topic_uuid(),
            tuple(PartitionSpec(i, ()) for i in range(counts[1])),
        ),
    ]
    _setup_topics(ctx, topics)


# -- base stages ---------------------------------------------------------------


def stage_vi6(host: str, port: int, ctx: StageContext) -> None:
    """Bind to a port: a TCP connection succeeds (15 retries, 1 s apart)."""
    KafkaConnection.connect(host, port, ctx, retries=15).close()


def stage_nv3(host: str, port: int, ctx: StageContext) -> None:
    """Send Correlation ID: ApiVersions v4 with correlation id 7; only bytes 4..8 are checked."""
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(7))
    check_correlation_id_only(raw, 7)


def stage_wa6(host: str, port: int, ctx: StageContext) -> None:
    """Parse Correlation ID: random correlation id echoed; message size not checked."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
    check_correlation_id_only(raw, correlation_id)


def stage_nc5(host: str, port: int, ctx: StageContext) -> None:
    """Parse API Version: version in [1000, 2000) gets error_code 35."""
    correlation_id = ctx.rand.correlation_id()
    version = ctx.rand.invalid_api_version()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(
            encode_api_versions_request(correlation_id, api_version=version)
        )
    check_api_versions_error_code(raw, correlation_id, UNSUPPORTED_VERSION)


def stage_pv1(host: str, port: int, ctx: StageContext) -> None:
    """Handle APIVersions requests: full v4 response with ApiVersions 0..>=4."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
    check_api_versions(raw, correlation_id, [(API_API_VERSIONS, 0, 4)], ctx.strict)


def stage_nh4(host: str, port: int, ctx: StageContext) -> None:
    """Serial requests: 2-4 ApiVersions requests, same correlation id, one connection."""
    count = ctx.rand.randint(2, 5)
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        for i in range(count):
            raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
            check_api_versions(raw, correlation_id, [(API_API_VERSIONS, 0, 4)], ctx.strict)
            ctx.log(f"request {i + 1} of {count} passed")


def stage_sk0(host: str, port: int, ctx: StageContext) -> None:
    """Concurrent requests: 2-3 clients connect, all send, responses read in reverse order."""
    count = ctx.rand.randint(2, 4)
    connections = [_conn(host, port, ctx) for _ in range(count)]
    try:
        correlation_ids = []
        for conn in connections:
            correlation_id = ctx.rand.correlation_id()
            correlation_ids.append(correlation_id)
            conn.send(encode_api_versions_request(correlation_id))
        for index in reversed(range(count)):
            raw = connections[index].receive()
            check_api_versions(raw, correlation_ids[index], [(API_API_VERSIONS, 0, 4)], ctx.strict)
    finally:
        for conn in connections:
            conn.close()


# -- listing partitions ----------------------------------------------------------


def stage_yk1(host: str, port: int, ctx: StageContext) -> None:
    """Include DescribeTopicPartitions in APIVersions: key 75 with min 0."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
    check_api_versions(
        raw,
        correlation_id,
        [(API_API_VERSIONS, 0, 4), (API_DESCRIBE_TOPIC_PARTITIONS, 0, 0)],
        ctx.strict,
    )


def stage_vt6(host: str, port: int, ctx: StageContext) -> None:
    """List for an unknown topic: error 3, zero UUID, no partitions, null cursor."""
    _require_layout(ctx)
    correlation_id = ctx.rand.correlation_id()
    unknown = f"UNKNOWN_TOPIC_{ctx.rand.randint(1, 100)}"
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(
            encode_describe_topic_partitions_request(correlation_id, [unknown], 1)
        )
    check_describe_topic_partitions(
        raw,
        correlation_id,
        [ExpectedTopic(unknown, UNKNOWN_TOPIC_OR_PARTITION, ZERO_UUID, ())],
        ctx.strict,
    )


def _describe_all_topics(host: str, port: int, ctx: StageContext) -> None:
    layout = _require_layout(ctx)
    correlation_id = ctx.rand.correlation_id()
    names = [t.name for t in layout.topics]
    limit = sum(len(t.partitions) for t in layout.topics)
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(
            encode_describe_topic_partitions_request(correlation_id, names, limit)
        )
    check_describe_topic_partitions(
        raw, correlation_id, expected_topics_from_layout(layout), ctx.strict
    )


def stage_ea7(host: str, port: int, ctx: StageContext) -> None:
    """List for a single partition."""
    _describe_all_topics(host, port, ctx)


def stage_ku4(host: str, port: int, ctx: StageContext) -> None:
    """List for multiple partitions."""
    _describe_all_topics(host, port, ctx)


def stage_wq2(host: str, port: int, ctx: StageContext) -> None:
    """List for multiple topics (response sorted by topic name)."""
    _describe_all_topics(host, port, ctx)


# -- consuming messages ------------------------------------------------------------


def stage_gs0(host: str, port: int, ctx: StageContext) -> None:
    """Include Fetch in APIVersions: key 1 with max >= 16."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
    check_api_versions(
        raw, correlation_id, [(API_FETCH, 0, 16), (API_API_VERSIONS, 0, 4)], ctx.strict
    )


def stage_dh6(host: str, port: int, ctx: StageContext) -> None:
    """Fetch with no topics: empty responses array."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_fetch_request(correlation_id, []))
    check_fetch(raw, correlation_id, strict=ctx.strict)


def stage_hn6(host: str, port: int, ctx: StageContext) -> None:
    """Fetch with an unknown topic: partition error 100 (UNKNOWN_TOPIC_ID)."""
    _require_layout(ctx)
    topic_id = ctx.params["unknown_topic_id"]
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_fetch_request(correlation_id, [(topic_id, [0])]))
    check_fetch(
        raw,
        correlation_id,
        topic_id=topic_id,
        partition_index=0,
        partition_error_code=UNKNOWN_TOPIC_ID,
        strict=ctx.strict,
    )


def _fetch_first_topic(host: str, port: int, ctx: StageContext) -> None:
    layout = _require_layout(ctx)
    topic = layout.topics[0]
    partition = topic.partitions[0]
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(
            encode_fetch_request(correlation_id, [(topic.uuid, [partition.partition_id])])
        )
    check_fetch(
        raw,
        correlation_id,
        topic_id=topic.uuid,
        partition_index=partition.partition_id,
        partition_error_code=NO_ERROR,
        expected_batches=partition.batches,
        strict=ctx.strict,
    )


def stage_cm4(host: str, port: int, ctx: StageContext) -> None:
    """Fetch with an empty topic: error 0 and no record batches."""
    _fetch_first_topic(host, port, ctx)


def stage_eg2(host: str, port: int, ctx: StageContext) -> None:
    """Fetch single message from disk: the batch the tester wrote comes back."""
    _fetch_first_topic(host, port, ctx)


def stage_fd8(host: str, port: int, ctx: StageContext) -> None:
    """Fetch multiple messages from disk: 2-3 one-record batches, base offsets 0.."""
    _fetch_first_topic(host, port, ctx)


# -- producing messages ------------------------------------------------------------


def stage_um3(host: str, port: int, ctx: StageContext) -> None:
    """Include Produce in APIVersions: key 0 with max >= 11."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
    check_api_versions(
        raw,
        correlation_id,
        [(API_PRODUCE, 0, 11), (API_API_VERSIONS, 0, 4)],
        ctx.strict,
    )


def _produce_and_check(
    conn: KafkaConnection,
    ctx: StageContext,
    topics: Sequence[tuple[str, Sequence[tuple[int, RecordBatch]]]],
    expected: Sequence[tuple[str, Sequence[ExpectedProducePartition]]],
) -> None:
    correlation_id = ctx.rand.correlation_id()
    raw = conn.send_and_receive(encode_produce_request(correlation_id, topics))
    check_produce(raw, correlation_id, expected, ctx.strict)


def stage_ck2(host: str, port: int, ctx: StageContext) -> None:
    """Invalid topic or partition: error 3 and -1 offsets, two requests on one connection."""
    layout = _require_layout(ctx)
    known = layout.topics[0].name
    with _conn(host, port, ctx) as conn:
        for name, partition_id in (
            (known, ctx.rand.randint(100, 1000)),
            (ctx.params["unknown_topic"], 0),
        ):
            batch = produce_batch([ctx.rand.word()])
            expected = ExpectedProducePartition(
                partition_id,
                UNKNOWN_TOPIC_OR_PARTITION,
                base_offset=-1,
                log_append_time_ms=-1,
                log_start_offset=-1,
            )
            _produce_and_check(conn, ctx, [(name, [(partition_id, batch)])], [(name, [expected])])


def _produce_to_layout(
    host: str,
    port: int,
    ctx: StageContext,
    messages_for: Callable[[], list[str]],
    check_disk: bool,
    fetch_back: bool,
) -> None:
    layout = _require_layout(ctx)
    topics = [
        (
            topic.name,
            [(p.partition_id, produce_batch(messages_for())) for p in topic.partitions],
        )
        for topic in layout.topics
    ]
    expected = expected_produce_success(
        [(name, [pid for pid, _ in parts]) for name, parts in topics]
    )
    with _conn(host, port, ctx) as conn:
        _produce_and_check(conn, ctx, topics, expected)
        if check_disk:
            for name, parts in topics:
                for partition_id, batch in parts:
                    check_log_file(layout.partition_log_path(name, partition_id), batch)
        if fetch_back:
            topic = layout.topics[0]
            partition_id, batch = topics[0][1][0]
            correlation_id = ctx.rand.correlation_id()
            raw = conn.send_and_receive(
                encode_fetch_request(correlation_id, [(topic.uuid, [partition_id])])
            )
            check_fetch(
                raw,
                correlation_id,
                topic_id=topic.uuid,
                partition_index=partition_id,
                partition_error_code=NO_ERROR,
                expected_batches=[batch],
                strict=ctx.strict,
            )


def stage_dp1(host: str, port: int, ctx: StageContext) -> None:
    """Valid topic and partition: error 0, base offset 0, log_append_time -1, log_start 0."""
    _produce_to_layout(
        host, port, ctx, lambda: [ctx.rand.word()], check_disk=False, fetch_back=False
    )


def stage_ps7(host: str, port: int, ctx: StageContext) -> None:
    """Produce a single record: response, segment CRC on disk, then Fetch returns it."""
    _produce_to_layout(host, port, ctx, lambda: [ctx.rand.word()], check_disk=True, fetch_back=True)


def stage_sb8(host: str, port: int, ctx: StageContext) -> None:
    """Produce multiple records: one batch of 2-3 records, disk check, Fetch returns it."""
    _produce_to_layout(
        host,
        port,
        ctx,
        lambda: ctx.rand.words(ctx.rand.randint(2, 4)),
        check_disk=True,
        fetch_back=True,
    )


def stage_mf2(host: str, port: int, ctx: StageContext) -> None:
    """Produce to multiple partitions: 2-3 partitions, 2-3 records each, disk checks."""
    _produce_to_layout(
        host,
        port,
        ctx,
        lambda: ctx.rand.words(ctx.rand.randint(2, 4)),
        check_disk=True,
        fetch_back=False,
    )


def stage_ar4(host: str, port: int, ctx: StageContext) -> None:
    """Produce to multiple partitions of multiple topics: 2 topics x 1-2 partitions, disk checks."""
    _produce_to_layout(
        host,
        port,
        ctx,
        lambda: ctx.rand.words(ctx.rand.randint(2, 4)),
        check_disk=True,
        fetch_back=False,
    )


@dataclass(frozen=True)
class Stage:
    """One course stage: files to write, then the checks against the running program."""

    slug: str
    name: str
    extension: str
    setup: Callable[[StageContext], None]
    run: Callable[[str, int, StageContext], None]
    aliases: tuple[str, ...] = ()
    timeout: float = STAGE_TIMEOUT_SECONDS


STAGES: tuple[Stage, ...] = (
    Stage(
        "vi6",
        "Bind to a port",
        "base",
        setup_no_topics,
        stage_vi6,
        timeout=BIND_STAGE_TIMEOUT_SECONDS,
    ),
    Stage("nv3", "Send Correlation ID", "base", setup_no_topics, stage_nv3),
    Stage("wa6", "Parse Correlation ID", "base", setup_no_topics, stage_wa6),
    Stage("nc5", "Parse API Version", "base", setup_no_topics, stage_nc5),
    Stage("pv1", "Handle APIVersions requests", "base", setup_no_topics, stage_pv1),
    Stage("nh4", "Serial requests", "concurrent-clients", setup_no_topics, stage_nh4),
    Stage("sk0", "Concurrent requests", "concurrent-clients", setup_no_topics, stage_sk0),
    Stage(
        "yk1",
        "Include DescribeTopicPartitions in APIVersions",
        "listing-partitions",
        setup_no_topics,
        stage_yk1,
    ),
    Stage("vt6", "List for an unknown topic", "listing-partitions", setup_vt6, stage_vt6),
    Stage("ea7", "List for a single partition", "listing-partitions", setup_ea7, stage_ea7),
    Stage(
        "ku4",
        "List for multiple partitions",
        "listing-partitions",
        setup_ku4,
        stage_ku4,
    ),
    Stage("wq2", "List for multiple topics", "listing-partitions", setup_wq2, stage_wq2),
    Stage(
        "gs0",
        "Include Fetch in APIVersions",
        "consuming-messages",
        setup_no_topics,
        stage_gs0,
    ),
    Stage("dh6", "Fetch with no topics", "consuming-messages", setup_no_topics, stage_dh6),
    Stage("hn6", "Fetch with an unknown topic", "consuming-messages", setup_hn6, stage_hn6),
    Stage("cm4", "Fetch with an empty topic", "consuming-messages", setup_cm4, stage_cm4),
    Stage(
        "eg2",
        "Fetch single message from disk",
        "consuming-messages",
        setup_eg2,
        stage_eg2,
    ),
    Stage(
        "fd8",
        "Fetch multiple messages from disk",
        "consuming-messages",
        setup_fd8,
        stage_fd8,
    ),
    Stage(
        "um3",
        "Include Produce in APIVersions",
        "producing-messages",
        setup_no_topics,
        stage_um3,
        ("xz1",),
    ),
    Stage(
        "ck2",
        "Respond for invalid topic or partition",
        "producing-messages",
        setup_ck2,
        stage_ck2,
        ("zf2",),
    ),
    Stage(
        "dp1",
        "Respond for valid topic and partition",
        "producing-messages",
        setup_single_empty_partition,
        stage_dp1,
        ("gg1",),
    ),
    Stage(
        "ps7",
        "Produce a single record",
        "producing-messages",
        setup_single_empty_partition,
        stage_ps7,
        ("ls8",),
    ),
    Stage(
        "sb8",
        "Produce multiple records",
        "producing-messages",
        setup_single_empty_partition,
        stage_sb8,
        ("yd8",),
    ),
    Stage(
        "mf2",
        "Produce to multiple partitions",
        "producing-messages",
        setup_mf2,
        stage_mf2,
        ("ct4",),
    ),
    Stage(
        "ar4",
        "Produce to multiple partitions of multiple topics",
        "producing-messages",
        setup_ar4,
        stage_ar4,
        ("ov0",),
    ),
)

STAGE_BY_SLUG: dict[str, Stage] = {}
for _stage in STAGES:
    STAGE_BY_SLUG[_stage.slug] = _stage
    for _alias in _stage.aliases:
        STAGE_BY_SLUG[_alias] = _stage


# ---------------------------------------------------------------------------
# Command line runner
# ---------------------------------------------------------------------------


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_program(program: str, properties_path: str, output: IO[bytes] | None) -> subprocess.Popen:
    """Run ``<program> <server.properties>`` in its own process group."""
    return subprocess.Popen(
        [program, properties_path],
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def stop_program(process: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


@dataclass
class StageResult:
    slug: str
    name: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


def _run_program_and_stage(
    stage: Stage,
    program: str,
    properties_path: str,
    output_file: IO[bytes] | None,
    host: str,
    port: int,
    ctx: StageContext,
) -> StageResult:
    process = start_program(program, properties_path, output_file)
    ctx.is_alive = lambda: process.poll() is None
    ctx.restart_clock()
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        stop_program(process, grace=0.5)

    watchdog = threading.Timer(stage.timeout, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    try:
        stage.run(host, port, ctx)
        return StageResult(stage.slug, stage.name, True)
    except AssertionError as error:
        message = str(error) or error.__class__.__name__
        if timed_out.is_set():
            message = f"timed out after {stage.timeout:.0f}s ({message})"
        return StageResult(stage.slug, stage.name, False, message)
    except Exception as error:  # noqa: BLE001 - report everything as a stage failure
        return StageResult(stage.slug, stage.name, False, f"{error.__class__.__name__}: {error}")
    finally:
        watchdog.cancel()
        stop_program(process)


def run_stage(
    stage: Stage,
    program: str,
    *,
    properties_path: str,
    log_dir: str,
    port: int,
    controller_port: int,
    host: str = "localhost",
    seed: int | None = None,
    strict: bool = True,
    verbose: bool = False,
) -> StageResult:
    """Write files, start the program, run the stage, stop the program."""
    started = time.monotonic()
    ctx = StageContext(
        log_dir=log_dir,
        seed=seed,
        strict=strict,
        verbose=verbose,
        timeout=stage.timeout,
    )
    write_server_properties(properties_path, log_dir, port, controller_port)
    stage.setup(ctx)
    with contextlib.ExitStack() as stack:
        output_file = None if verbose else stack.enter_context(tempfile.TemporaryFile())
        result = _run_program_and_stage(
            stage, program, properties_path, output_file, host, port, ctx
        )
        if not result.passed and output_file is not None:
            output_file.seek(0)
            tail = output_file.read()[-2000:].decode("utf-8", errors="replace").rstrip()
            if tail:
                result.message += "\n  program output (tail):\n    " + tail.replace("\n", "\n    ")
    result.seconds = time.monotonic() - started
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the CodeCrafters Kafka stages against a program."
    )
    parser.add_argument("--program", help="executable started as '<program> <server.properties>'")
    parser.add_argument(
        "--stage",
        action="append",
        default=[],
        help="stage slug (repeatable; old slugs accepted)",
    )
    parser.add_argument(
        "--real-paths",
        action="store_true",
        help="use /tmp/server.properties, /tmp/kraft-combined-logs and port 9092",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for reproducible random names/ids"
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="do not fail on trailing bytes after a decoded response",
    )
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show hex of traffic and program output",
    )
    args = parser.parse_args(argv)

    if args.list:
        for stage in STAGES:
            aliases = f" (tester slug {', '.join(stage.aliases)})" if stage.aliases else ""
            print(f"{stage.slug}  {stage.extension:20s} {stage.name}{aliases}")
        return 0
    if not args.program:
        parser.error("--program is required")
    program = os.path.abspath(args.program)

    selected: list[Stage] = []
    for slug in args.stage:
        if slug not in STAGE_BY_SLUG:
            parser.error(f"unknown stage {slug!r}; use --list")
        selected.append(STAGE_BY_SLUG[slug])
    if not selected:
        selected = list(STAGES)

    temp_dir = None
    if args.real_paths:
        properties_path, log_dir, port, controller_port = (
            REAL_SERVER_PROPERTIES_PATH,
            REAL_LOG_DIRECTORY,
            REAL_PORT,
            REAL_PORT + 1,
        )
    else:
        temp_dir = tempfile.mkdtemp(prefix="kafka-stages-")
        properties_path = os.path.join(temp_dir, "server.properties")
        log_dir = os.path.join(temp_dir, "kraft-combined-logs")
        port, controller_port = free_port(), free_port()

    passed = failed = 0
    try:
        for stage in selected:
            result = run_stage(
                stage,
                program,
                properties_path=properties_path,
                log_dir=log_dir,
                port=port,
                controller_port=controller_port,
                host=args.host,
                seed=args.seed,
                strict=not args.lenient,
                verbose=args.verbose,
            )
            status = "PASS" if result.passed else "FAIL"
            line = f"{status} {result.slug} {result.name} ({result.seconds:.1f}s)"
            if not result.passed:
                line += f": {result.message}"
                failed += 1
            else:
                passed += 1
            print(line, flush=True)
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
