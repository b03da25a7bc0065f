"""kafka-python against a loopback kafkatwist broker.

KafkaAdminClient (CreateTopics, DeleteTopics, CreatePartitions, Metadata by
name and by id, DescribeTopicPartitions with its cursor), KafkaProducer with
every codec, KafkaConsumer with ``assign`` + ``seek`` (no group).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import kafka.errors as Errors
import pytest
import pytest_twisted
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from tests.integration.harness import RunningBroker, in_thread

CODECS = (None, "gzip", "snappy", "lz4", "zstd")


def admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)


def create_topics(
    bootstrap: str, topics: dict[str, dict[str, Any]], **kwargs: Any
) -> dict[str, int]:
    """Create topics; the error code per topic."""
    client = admin(bootstrap)
    try:
        result = client.create_topics(topics, raise_errors=False, **kwargs)
        return {t["name"]: t["error_code"] for t in result["topics"]}
    finally:
        client.close()


def produce(bootstrap: str, topic: str, messages: list[dict[str, Any]], **config: Any) -> list[Any]:
    """Send C{messages} (KafkaProducer.send keyword arguments); the RecordMetadata of each."""
    config.setdefault("acks", 1)  # idempotence (the default with acks=all) needs InitProducerId
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **config)
    try:
        futures = [producer.send(topic, **m) for m in messages]
        producer.flush(15)
        return [f.get(5) for f in futures]
    finally:
        producer.close(5)


def consume(
    bootstrap: str, starts: dict[tuple[str, int], int], count: int, timeout: float = 10
) -> tuple[list[Any], dict[Any, Any]]:
    """C{count} records read from (topic, partition) at offsets, and each highwater."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t, p in starts]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, starts[(tp.topic, tp.partition)])
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(records)
        return got, {tp: consumer.highwater(tp) for tp in tps}
    finally:
        consumer.close()


@pytest_twisted.ensureDeferred
async def test_admin_create_describe_delete(broker: RunningBroker, topic_name: str) -> None:
    """KafkaAdminClient creates, lists, describes (by name and id) and deletes topics."""
    codes = await in_thread(
        create_topics,
        broker.bootstrap,
        {
            topic_name: {
                "num_partitions": 3,
                "replication_factor": 1,
                "configs": {"retention.ms": "60000"},
            },
            topic_name + "-default": {},
            topic_name + "-rf2": {"num_partitions": 1, "replication_factor": 2},
        },
    )
    assert codes == {
        topic_name: 0,
        topic_name + "-default": 0,
        topic_name + "-rf2": Errors.InvalidReplicationFactorError.errno,
    }

    def describe() -> tuple[list[str], list[Any], Any]:
        client = admin(broker.bootstrap)
        try:
            names = client.list_topics()
            described = client.describe_topics([topic_name, topic_name + "-default"])
            by_id = client.describe_topics([uuid.UUID(str(described[0]["topic_id"]))])
            return names, described, by_id
        finally:
            client.close()

    names, described, by_id = await in_thread(describe)
    assert sorted(names) == [topic_name, topic_name + "-default"]
    summary = {
        t["name"]: (
            t["error_code"],
            [(p["partition_index"], p["leader_id"], p["replica_nodes"]) for p in t["partitions"]],
        )
        for t in described
    }
    assert summary == {
        topic_name: (0, [(0, 1, [1]), (1, 1, [1]), (2, 1, [1])]),
        topic_name + "-default": (0, [(0, 1, [1])]),
    }
    topic_id = broker.broker.metadata.image.topics[described[0]["name"]].topic_id
    assert uuid.UUID(str(described[0]["topic_id"])) == topic_id
    assert [(t["name"], t["error_code"]) for t in by_id] == [(described[0]["name"], 0)]

    def delete() -> dict[str, int]:
        client = admin(broker.bootstrap)
        try:
            result = client.delete_topics(
                [topic_name + "-default", topic_name + "-nope"], raise_errors=False
            )
            return {t["name"]: t["error_code"] for t in result["topics"]}
        finally:
            client.close()

    assert await in_thread(delete) == {
        topic_name + "-default": 0,
        topic_name + "-nope": Errors.UnknownTopicOrPartitionError.errno,
    }
    assert sorted(broker.broker.metadata.image.topics) == [topic_name]


@pytest_twisted.ensureDeferred
async def test_admin_create_partitions(broker: RunningBroker, topic_name: str) -> None:
    """create_partitions grows a topic (not with validate_only) and refuses a non-increase."""
    assert await in_thread(
        create_topics, broker.bootstrap, {topic_name: {"num_partitions": 2}}
    ) == {topic_name: 0}

    def grow() -> list[Any]:
        client = admin(broker.bootstrap)
        try:
            dry = client.create_partitions({topic_name: 5}, validate_only=True)
            after_dry = len(client.describe_topics([topic_name])[0]["partitions"])
            real = client.create_partitions({topic_name: 5})
            after = len(client.describe_topics([topic_name])[0]["partitions"])
            same = client.create_partitions({topic_name: 5}, raise_errors=False)
            return [
                [r.error_code for r in dry.results],
                after_dry,
                [r.error_code for r in real.results],
                after,
                [r.error_code for r in same.results],
            ]
        finally:
            client.close()

    assert await in_thread(grow) == [[0], 2, [0], 5, [Errors.InvalidPartitionsError.errno]]
    [record] = await in_thread(
        produce, broker.bootstrap, topic_name, [{"value": b"x", "partition": 4}]
    )
    assert (record.partition, record.offset) == (4, 0)


@pytest_twisted.ensureDeferred
async def test_describe_topic_partitions_pages(broker: RunningBroker, topic_name: str) -> None:
    """DescribeTopicPartitions pages through partitions with a cursor and reports unknown topics."""
    assert await in_thread(
        create_topics, broker.bootstrap, {topic_name: {"num_partitions": 5}}
    ) == {topic_name: 0}

    def pages() -> list[Any]:
        client = admin(broker.bootstrap)
        try:
            out: list[Any] = []
            cursor = None
            for _ in range(10):
                page = client.describe_topic_partitions(
                    [topic_name], response_partition_limit=2, cursor=cursor
                )
                out.append(
                    [
                        (
                            t["name"],
                            t["error_code"],
                            [p["partition_index"] for p in t["partitions"]],
                        )
                        for t in page["topics"]
                    ]
                )
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            missing = client.describe_topic_partitions([topic_name + "-missing"])
            out.append([(t["name"], t["error_code"]) for t in missing["topics"]])
            return out
        finally:
            client.close()

    assert await in_thread(pages) == [
        [(topic_name, 0, [0, 1])],
        [(topic_name, 0, [2, 3])],
        [(topic_name, 0, [4])],
        [(topic_name + "-missing", Errors.UnknownTopicOrPartitionError.errno)],
    ]


@pytest.mark.parametrize("codec", CODECS)
@pytest_twisted.ensureDeferred
async def test_produce_and_consume_back(
    broker: RunningBroker, topic_name: str, codec: str | None
) -> None:
    """Each codec: records come back through assign + seek with everything identical."""
    assert await in_thread(
        create_topics, broker.bootstrap, {topic_name: {"num_partitions": 2}}
    ) == {topic_name: 0}
    messages = [
        {
            "key": None if i % 5 == 2 else b"key-%d" % i,
            "value": None if i % 5 == 3 else bytes(range(256)) * (i % 3) + b"v%d" % i,
            "headers": [("i", b"%d" % i), ("empty", b"")],
            "partition": i % 2,
            "timestamp_ms": 1_700_000_000_000 + i,
        }
        for i in range(30)
    ]
    records = await in_thread(
        produce, broker.bootstrap, topic_name, messages, compression_type=codec
    )
    assert [(r.partition, r.offset) for r in records] == [(i % 2, i // 2) for i in range(30)]
    got, highwater = await in_thread(
        consume, broker.bootstrap, {(topic_name, 0): 0, (topic_name, 1): 0}, 30
    )
    got.sort(key=lambda r: (r.partition, r.offset))
    expected = sorted(messages, key=lambda m: (m["partition"], m["timestamp_ms"]))
    assert [(r.partition, r.key, r.value, list(r.headers), r.timestamp) for r in got] == [
        (m["partition"], m["key"], m["value"], m["headers"], m["timestamp_ms"]) for m in expected
    ]
    assert highwater == {TopicPartition(topic_name, 0): 15, TopicPartition(topic_name, 1): 15}


@pytest_twisted.ensureDeferred
async def test_seek_to_the_middle(broker: RunningBroker, topic_name: str) -> None:
    """A seek into the middle of a compressed batch yields the records from that offset."""
    assert await in_thread(
        create_topics, broker.bootstrap, {topic_name: {"num_partitions": 1}}
    ) == {topic_name: 0}
    messages = [{"value": b"%03d" % i} for i in range(100)]
    await in_thread(
        produce, broker.bootstrap, topic_name, messages, compression_type="gzip", batch_size=1 << 20
    )
    got, highwater = await in_thread(consume, broker.bootstrap, {(topic_name, 0): 37}, 63)
    assert [(r.offset, r.value) for r in got] == [(i, b"%03d" % i) for i in range(37, 100)]
    assert highwater == {TopicPartition(topic_name, 0): 100}


@pytest_twisted.ensureDeferred
async def test_default_producer(broker: RunningBroker, topic_name: str) -> None:
    """A default (idempotent, acks=all) KafkaProducer delivers to an auto-created topic."""

    def send() -> Any:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, max_block_ms=5000)
        try:
            return producer.send(topic_name, b"hello").get(10)
        finally:
            producer.close(5)

    record = await in_thread(send)
    assert (record.partition, record.offset) == (0, 0)


@pytest.mark.parametrize(
    "api_version", [(0, 11), (1, 0), (2, 0), (2, 1), (2, 4), (2, 8), (3, 5)], ids=str
)
@pytest_twisted.ensureDeferred
async def test_older_protocol_versions(
    broker: RunningBroker, topic_name: str, api_version: tuple[int, ...]
) -> None:
    """kafka-python pinned to an older broker (older Produce, Fetch, Metadata) round-trips."""

    def round_trip() -> tuple[list[int], list[tuple[int, bytes | None]]]:
        producer = KafkaProducer(
            bootstrap_servers=broker.bootstrap,
            api_version=api_version,
            acks=1,
            compression_type="gzip",
        )
        try:
            futures = [
                producer.send(topic_name, key=b"k", value=b"v%d" % i, partition=0) for i in range(6)
            ]
            producer.flush(10)
            offsets = [f.get(5).offset for f in futures]
        finally:
            producer.close(5)
        consumer = KafkaConsumer(
            bootstrap_servers=broker.bootstrap, api_version=api_version, enable_auto_commit=False
        )
        try:
            tp = TopicPartition(topic_name, 0)
            consumer.assign([tp])
            consumer.seek(tp, 2)
            got: list[tuple[int, bytes | None]] = []
            deadline = time.monotonic() + 10
            while len(got) < 4 and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=200).values():
                    got.extend((r.offset, r.value) for r in records)
            return offsets, got
        finally:
            consumer.close()

    offsets, got = await in_thread(round_trip)
    assert offsets == list(range(6))
    assert got == [(i, b"v%d" % i) for i in range(2, 6)]
