"""confluent-kafka (librdkafka) against a loopback kafkatwist broker.

AdminClient (CreateTopics, Metadata, CreatePartitions, DeleteTopics), Producer
(keys, headers, null values, the four codecs, acks 0/1/all) and Consumer with
``assign()`` at explicit offsets (Fetch), without a consumer group.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AclOperation, AdminClient, NewPartitions, NewTopic
from twisted.internet.defer import DeferredList

from tests.integration.harness import RunningBroker, in_thread

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def outcomes(client: AdminClient, futures: dict[str, Any], timeout: float = 10) -> dict[str, int]:
    """Each admin future's error code (0 for success); C{client} is kept alive meanwhile."""
    out = {}
    for name, future in futures.items():
        try:
            future.result(timeout)
            out[name] = 0
        except KafkaException as e:
            out[name] = e.args[0].code()
    return out


def topic_partitions(bootstrap: str, name: str) -> dict[int, Any] | None:
    """The partitions list_topics reports for one topic, or None when absent."""
    md = admin(bootstrap).list_topics(timeout=10)
    topic = md.topics.get(name)
    return None if topic is None else dict(topic.partitions)


def create(bootstrap: str, *topics: NewTopic, validate_only: bool = False) -> dict[str, int]:
    client = admin(bootstrap)
    return outcomes(
        client,
        client.create_topics(list(topics), operation_timeout=10, validate_only=validate_only),
    )


def produce(
    bootstrap: str,
    topic: str,
    messages: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
    **config: Any,
) -> list[tuple[Any, Any, Any]]:
    """
    Produce C{messages} (Producer.produce keyword arguments).

    @return: (error, partition, offset) per delivery report, in report order
        (the order of the messages within each partition).
    """
    reports: list[tuple[Any, Any, Any]] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config, **(extra or {})})
    for m in messages:
        producer.produce(
            topic,
            on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())),
            **m,
        )
    remaining = producer.flush(15)
    assert remaining == 0, f"{remaining} messages still queued"
    return reports


def consume(
    bootstrap: str,
    assignments: list[tuple[str, int, int]],
    count: int,
    timeout: float = 10,
    extra: dict[str, Any] | None = None,
) -> list[Any]:
    """Read C{count} messages from explicit (topic, partition, offset) assignments."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "kafkatwist-assign-only",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            **(extra or {}),
        }
    )
    try:
        consumer.assign([TopicPartition(t, p, o) for t, p, o in assignments])
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            got.append(msg)
        return got
    finally:
        consumer.close()


def message_tuple(msg: Any) -> tuple[Any, ...]:
    return (msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers())


@pytest_twisted.ensureDeferred
async def test_create_topics_with_configs_then_list(broker: RunningBroker, topic_name: str) -> None:
    """CreateTopics with configs succeeds; Metadata lists the topic, led by this broker."""
    configs = {
        "cleanup.policy": "compact",
        "retention.ms": "3600000",
        "max.message.bytes": "200000",
    }
    codes = await in_thread(create, broker.bootstrap, NewTopic(topic_name, 3, 1, config=configs))
    assert codes == {topic_name: 0}
    parts = await in_thread(topic_partitions, broker.bootstrap, topic_name)
    assert parts is not None and sorted(parts) == [0, 1, 2]
    assert {(p.leader, tuple(p.replicas), tuple(p.isrs)) for p in parts.values()} == {
        (1, (1,), (1,))
    }
    assert broker.broker.metadata.image.topics[topic_name].configs == configs


@pytest_twisted.ensureDeferred
async def test_create_topics_validate_only_creates_nothing(
    broker: RunningBroker, topic_name: str
) -> None:
    """validate_only=True answers success for a valid topic but does not create it."""
    codes = await in_thread(
        create, broker.bootstrap, NewTopic(topic_name, 2, 1), validate_only=True
    )
    assert codes == {topic_name: 0}
    assert await in_thread(topic_partitions, broker.bootstrap, topic_name) is None
    assert topic_name not in broker.broker.metadata.image.topics


@pytest_twisted.ensureDeferred
async def test_create_topics_errors(broker: RunningBroker, topic_name: str) -> None:
    """Existing names, replication factor 2 and bad configs get Kafka's error codes per topic."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    codes = await in_thread(
        create,
        broker.bootstrap,
        NewTopic(topic_name, 1, 1),
        NewTopic(topic_name + "-rf2", 1, 2),
        NewTopic(topic_name + "-badconf", 1, 1, config={"cleanup.policy": "sometimes"}),
        NewTopic(topic_name + "-unknownconf", 1, 1, config={"no.such.config": "1"}),
    )
    assert codes == {
        topic_name: KafkaError.TOPIC_ALREADY_EXISTS,
        topic_name + "-rf2": KafkaError.INVALID_REPLICATION_FACTOR,
        topic_name + "-badconf": KafkaError.INVALID_CONFIG,
        topic_name + "-unknownconf": KafkaError.INVALID_CONFIG,
    }
    assert sorted(t for t in broker.broker.metadata.image.topics if t.startswith(topic_name)) == [
        topic_name
    ]


@pytest_twisted.ensureDeferred
async def test_create_partitions(broker: RunningBroker, topic_name: str) -> None:
    """create_partitions adds usable partitions; refuses a decrease and unknown topics."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}

    def grow() -> dict[str, int]:
        client = admin(broker.bootstrap)
        return outcomes(client, client.create_partitions([NewPartitions(topic_name, 4)]))

    def shrink_and_unknown() -> dict[str, int]:
        client = admin(broker.bootstrap)
        return outcomes(
            client,
            client.create_partitions(
                [NewPartitions(topic_name, 2), NewPartitions(topic_name + "-missing", 2)]
            ),
        )

    assert await in_thread(grow) == {topic_name: 0}
    parts = await in_thread(topic_partitions, broker.bootstrap, topic_name)
    assert parts is not None and sorted(parts) == [0, 1, 2, 3]
    assert await in_thread(shrink_and_unknown) == {
        topic_name: KafkaError.INVALID_PARTITIONS,
        topic_name + "-missing": KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    reports = await in_thread(
        produce, broker.bootstrap, topic_name, [{"value": b"new", "partition": 3}], acks="all"
    )
    assert reports == [(None, 3, 0)]


@pytest_twisted.ensureDeferred
async def test_delete_topics_and_recreate(broker: RunningBroker, topic_name: str) -> None:
    """delete_topics removes a topic and its data; one created again with its name is empty."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    await in_thread(produce, broker.bootstrap, topic_name, [{"value": b"old"}] * 3, acks="all")

    def delete(*names: str) -> dict[str, int]:
        client = admin(broker.bootstrap)
        return outcomes(client, client.delete_topics(list(names), operation_timeout=10))

    assert await in_thread(delete, topic_name, topic_name + "-missing") == {
        topic_name: 0,
        topic_name + "-missing": KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    assert await in_thread(topic_partitions, broker.bootstrap, topic_name) is None
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    reports = await in_thread(
        produce, broker.bootstrap, topic_name, [{"value": b"new"}], acks="all"
    )
    assert reports == [(None, 0, 0)]
    got = await in_thread(consume, broker.bootstrap, [(topic_name, 0, 0)], 1)
    assert [m.value() for m in got] == [b"new"]


def sample_messages(n: int) -> list[dict[str, Any]]:
    """Keys, values and headers covering null, empty, binary, repeated and large cases."""
    messages: list[dict[str, Any]] = []
    for i in range(n):
        m: dict[str, Any] = {
            "key": b"key-%d" % i,
            "value": bytes(range(256)) * (i % 4) + b"value-%d" % i,
            "headers": [("n", b"%d" % i), ("bin", bytes([0, 255, i % 256])), ("n", b"again")],
            "partition": i % 2,
            "timestamp": 1_700_000_000_000 + i,
        }
        if i % 7 == 3:
            m["value"] = None
        if i % 7 == 4:
            m["key"] = None
            m["headers"] = [("empty", b""), ("null", None)]
        if i % 7 == 5:
            m["value"] = b""
        messages.append(m)
    messages.append({"key": b"big", "value": bytes(range(256)) * 800, "partition": 0})
    return messages


@pytest.mark.parametrize("codec", CODECS)
@pytest_twisted.ensureDeferred
async def test_produce_and_consume_back_byte_equal(
    broker: RunningBroker, topic_name: str, codec: str
) -> None:
    """Each codec: keys, values, headers and timestamps are consumed back byte-equal."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 2, 1)) == {topic_name: 0}
    messages = sample_messages(40)
    reports = await in_thread(
        produce,
        broker.bootstrap,
        topic_name,
        messages,
        acks="all",
        extra={"compression.type": codec},
    )
    assert [err for err, _, _ in reports] == [None] * len(messages)
    got = await in_thread(
        consume, broker.bootstrap, [(topic_name, 0, 0), (topic_name, 1, 0)], len(messages)
    )
    by_partition: dict[int, list[Any]] = {0: [], 1: []}
    for msg in got:
        by_partition[msg.partition()].append(msg)
    for p, msgs in by_partition.items():
        assert [m.offset() for m in msgs] == list(range(len(msgs)))
        expected = [m for m in messages if m["partition"] == p]
        assert [(m.key(), m.value(), m.headers()) for m in msgs] == [
            (e["key"], e["value"], e.get("headers")) for e in expected
        ]
        for m, e in zip(msgs, expected, strict=True):
            if "timestamp" in e:
                assert m.timestamp() == (TIMESTAMP_CREATE_TIME, e["timestamp"])


@pytest.mark.parametrize("acks", ["0", "1", "all"])
@pytest_twisted.ensureDeferred
async def test_produce_acks(broker: RunningBroker, topic_name: str, acks: str) -> None:
    """With acks 0, 1 and all every message lands in order; only acks 1/all report offsets."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    messages = [{"key": b"%d" % i, "value": b"v%d" % i} for i in range(50)]
    reports = await in_thread(produce, broker.bootstrap, topic_name, messages, acks=acks)
    assert [err for err, _, _ in reports] == [None] * 50
    offsets = [offset for _, _, offset in reports]
    if acks == "0":
        # Without a response the offsets are unknown (librdkafka's -1001, None in Python).
        assert set(offsets) == {None}
    else:
        assert offsets == list(range(50))
    got = await in_thread(consume, broker.bootstrap, [(topic_name, 0, 0)], 50)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, m["key"], m["value"]) for i, m in enumerate(messages)
    ]


@pytest_twisted.ensureDeferred
async def test_assign_at_explicit_offsets(broker: RunningBroker, topic_name: str) -> None:
    """A consumer assigned at explicit offsets per partition reads exactly from there."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 3, 1)) == {topic_name: 0}
    messages = [{"value": b"p%d-%d" % (i % 3, i // 3), "partition": i % 3} for i in range(60)]
    await in_thread(
        produce, broker.bootstrap, topic_name, messages, acks="all", extra={"batch.num.messages": 7}
    )
    starts = {0: 5, 1: 0, 2: 19}
    got = await in_thread(
        consume, broker.bootstrap, [(topic_name, p, o) for p, o in starts.items()], 15 + 20 + 1
    )
    seen = sorted((m.partition(), m.offset(), m.value()) for m in got)
    assert seen == sorted(
        (p, o, b"p%d-%d" % (p, o)) for p, start in starts.items() for o in range(start, 20)
    )


@pytest_twisted.ensureDeferred
async def test_consumer_wakes_on_append(broker: RunningBroker, topic_name: str) -> None:
    """A consumer long-polling at the log end gets a new message at once."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}

    def wait_for_one() -> tuple[float, bytes | None]:
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": "kafkatwist-assign-only",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 8000,
            }
        )
        try:
            consumer.assign([TopicPartition(topic_name, 0, 0)])
            consumer.poll(1.0)  # meanwhile the first fetch is sent and parked on the broker
            producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
            sent = time.monotonic()
            producer.produce(topic_name, b"wake up")
            producer.flush(5)
            deadline = sent + 10
            while time.monotonic() < deadline:
                msg = consumer.poll(0.1)
                if msg is not None and not msg.error():
                    return time.monotonic() - sent, msg.value()
            raise AssertionError("no message")
        finally:
            consumer.close()

    latency, value = await in_thread(wait_for_one)
    assert value == b"wake up"
    assert latency < 2.0, f"consumer saw the message after {latency:.2f} s"


@pytest_twisted.ensureDeferred
async def test_log_append_time(broker: RunningBroker, topic_name: str) -> None:
    """A LogAppendTime topic hands consumers the broker's append time, whatever the producer set."""
    topic = NewTopic(topic_name, 1, 1, config={"message.timestamp.type": "LogAppendTime"})
    assert await in_thread(create, broker.bootstrap, topic) == {topic_name: 0}
    before = int(time.time() * 1000)
    for codec in ("none", "lz4"):
        await in_thread(
            produce,
            broker.bootstrap,
            topic_name,
            [{"value": b"x", "timestamp": 1_000_000}] * 3,
            acks="all",
            extra={"compression.type": codec},
        )
    after = int(time.time() * 1000)
    got = await in_thread(consume, broker.bootstrap, [(topic_name, 0, 0)], 6)
    assert len(got) == 6
    for m in got:
        kind, ts = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME
        assert before <= ts <= after


@pytest_twisted.ensureDeferred
async def test_message_larger_than_topic_max(broker: RunningBroker, topic_name: str) -> None:
    """A batch above the topic's max.message.bytes gets MSG_SIZE_TOO_LARGE, is not stored."""
    topic = NewTopic(topic_name, 1, 1, config={"max.message.bytes": "2000"})
    assert await in_thread(create, broker.bootstrap, topic) == {topic_name: 0}
    reports = await in_thread(
        produce,
        broker.bootstrap,
        topic_name,
        [{"value": b"x" * 5000}, {"value": b"small"}],
        acks="all",
        extra={"linger.ms": 0, "batch.num.messages": 1, "retries": 0},
    )
    codes = [err.code() if err else 0 for err, _, _ in reports]
    assert codes == [KafkaError.MSG_SIZE_TOO_LARGE, 0]
    got = await in_thread(consume, broker.bootstrap, [(topic_name, 0, 0)], 1)
    assert [(m.offset(), m.value()) for m in got] == [(0, b"small")]


@pytest.mark.broker_properties({"num.partitions": "3"})
@pytest_twisted.ensureDeferred
async def test_producer_auto_creates_topic(broker: RunningBroker, topic_name: str) -> None:
    """Producing to a missing topic creates it through Metadata with num.partitions."""
    reports = await in_thread(
        produce, broker.bootstrap, topic_name, [{"value": b"hello", "partition": 2}], acks="all"
    )
    assert reports == [(None, 2, 0)]
    parts = await in_thread(topic_partitions, broker.bootstrap, topic_name)
    assert parts is not None and sorted(parts) == [0, 1, 2]


@pytest.mark.broker_properties({"auto.create.topics.enable": "false"})
@pytest_twisted.ensureDeferred
async def test_no_auto_creation_when_disabled(broker: RunningBroker, topic_name: str) -> None:
    """auto.create.topics.enable=false: producing to a missing topic creates nothing."""
    reports = await in_thread(
        produce,
        broker.bootstrap,
        topic_name,
        [{"value": b"hello"}],
        acks="all",
        extra={"message.timeout.ms": 2000},
    )
    [(err, _, _)] = reports
    assert err is not None and err.code() in (
        KafkaError._MSG_TIMED_OUT,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    )
    assert topic_name not in broker.broker.metadata.image.topics


@pytest_twisted.ensureDeferred
async def test_small_fetch_limits_still_progress(broker: RunningBroker, topic_name: str) -> None:
    """max.partition.fetch.bytes below the batch size still returns whole batches (KIP-74)."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    messages = [{"value": bytes([i]) * 20000} for i in range(10)]
    await in_thread(
        produce, broker.bootstrap, topic_name, messages, acks="all", extra={"batch.num.messages": 3}
    )
    got = await in_thread(
        consume,
        broker.bootstrap,
        [(topic_name, 0, 0)],
        10,
        extra={
            "max.partition.fetch.bytes": 100,
            "fetch.max.bytes": 1000,
            "message.max.bytes": 1000,
        },
    )
    assert [m.value() for m in got] == [m["value"] for m in messages]


@pytest_twisted.ensureDeferred
async def test_many_partitions_round_trip(broker: RunningBroker, topic_name: str) -> None:
    """A 24-partition topic takes keyed messages on every partition and serves them all back."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 24, 1)) == {topic_name: 0}
    messages = [{"key": b"k%d" % i, "value": b"v%d" % i} for i in range(480)]
    reports = await in_thread(produce, broker.bootstrap, topic_name, messages, acks="1")
    assert [err for err, _, _ in reports] == [None] * 480
    counts = {p: 0 for p in range(24)}
    for _, p, offset in reports:
        assert offset == counts[p]
        counts[p] += 1
    assert sum(1 for c in counts.values() if c) > 12
    got = await in_thread(consume, broker.bootstrap, [(topic_name, p, 0) for p in range(24)], 480)
    assert sorted(m.value() for m in got) == sorted(m["value"] for m in messages)
    partitions: dict[bytes, set[int]] = {}
    for m in got:
        partitions.setdefault(m.value(), set()).add(m.partition())
    assert {len(ps) for ps in partitions.values()} == {1}
    assert {p: sum(1 for m in got if m.partition() == p) for p in range(24)} == counts


@pytest_twisted.ensureDeferred
async def test_describe_topics_and_cluster(broker: RunningBroker, topic_name: str) -> None:
    """describe_topics reports id, partitions and operations; describe_cluster this broker."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 2, 1)) == {topic_name: 0}

    def describe() -> tuple[Any, Any, int]:
        client = admin(broker.bootstrap)
        futures = client.describe_topics(
            TopicCollection([topic_name, topic_name + "-missing"]),
            request_timeout=10,
            include_authorized_operations=True,
        )
        found = futures[topic_name].result(10)
        try:
            futures[topic_name + "-missing"].result(10)
            missing = 0
        except KafkaException as e:
            missing = e.args[0].code()
        cluster = client.describe_cluster(request_timeout=10).result(10)
        return found, cluster, missing

    found, cluster, missing = await in_thread(describe)
    image_topic = broker.broker.metadata.image.topics[topic_name]
    assert (found.name, found.is_internal) == (topic_name, False)
    # (librdkafka prints ids in standard base64, Kafka in URL-safe base64: compare bits.)
    tid = found.topic_id
    mask = 2**64 - 1
    msb, lsb = tid.get_most_significant_bits() & mask, tid.get_least_significant_bits() & mask
    assert (msb << 64) | lsb == image_topic.topic_id.int
    assert [(p.id, p.leader.id, [r.id for r in p.replicas]) for p in found.partitions] == [
        (0, 1, [1]),
        (1, 1, [1]),
    ]
    assert AclOperation.WRITE in found.authorized_operations
    assert missing == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert cluster.cluster_id == broker.broker.cluster_id
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(1, "127.0.0.1", broker.port)]


@pytest_twisted.ensureDeferred
async def test_fetch_beyond_the_log_end(broker: RunningBroker, topic_name: str) -> None:
    """Assigning past the log end gets OFFSET_OUT_OF_RANGE (seen with auto.offset.reset=error)."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    await in_thread(produce, broker.bootstrap, topic_name, [{"value": b"x"}] * 10, acks="all")

    def fetch_past_end() -> Any:
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": "kafkatwist-assign-only",
                "enable.auto.commit": False,
                "auto.offset.reset": "error",
            }
        )
        try:
            consumer.assign([TopicPartition(topic_name, 0, 1000)])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is not None:
                    return msg.error()
            return None
        finally:
            consumer.close()

    error = await in_thread(fetch_past_end)
    assert error is not None and error.code() == KafkaError._AUTO_OFFSET_RESET
    assert "Offset out of range" in error.str()


@pytest_twisted.ensureDeferred
async def test_concurrent_producers(broker: RunningBroker, topic_name: str) -> None:
    """Four producers writing one partition at once get distinct, gap-free offsets."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}

    def one(n: int) -> list[tuple[Any, Any, Any]]:
        messages = [{"value": b"%d-%d" % (n, i)} for i in range(500)]
        return produce(broker.bootstrap, topic_name, messages, acks="all", extra={"linger.ms": 0})

    reports = await DeferredList([in_thread(one, n) for n in range(4)], fireOnOneErrback=True)
    offsets = sorted(o for _, result in reports for _, _, o in result)
    assert offsets == list(range(2000))
    got = await in_thread(consume, broker.bootstrap, [(topic_name, 0, 0)], 2000)
    for n in range(4):
        mine = [m.value() for m in got if m.value().startswith(b"%d-" % n)]
        assert mine == [b"%d-%d" % (n, i) for i in range(500)]


@pytest_twisted.ensureDeferred
async def test_large_messages(broker: RunningBroker, topic_name: str) -> None:
    """Messages of 900 kB (just under librdkafka's message.max.bytes) round-trip intact."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    values = [random.Random(i).randbytes(900_000) for i in range(3)]
    for codec in ("none", "zstd"):
        reports = await in_thread(
            produce,
            broker.bootstrap,
            topic_name,
            [{"value": v} for v in values],
            acks="all",
            extra={"compression.type": codec},
        )
        assert [err for err, _, _ in reports] == [None] * 3
    got = await in_thread(
        consume,
        broker.bootstrap,
        [(topic_name, 0, 0)],
        6,
        extra={"max.partition.fetch.bytes": 100_000, "fetch.max.bytes": 1_000_000},
    )
    assert [m.value() for m in got] == values * 2
