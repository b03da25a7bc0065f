"""confluent-kafka's Producer and Consumer against a loopback kafkatwist broker.

Producer (keys, headers, null values, the four codecs, acks 0/1/all) and
Consumer with C{assign()} at explicit offsets (Fetch), without a consumer group.
"""

from __future__ import annotations

import random
import time

import pytest
import pytest_twisted
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

# confluent_kafka.admin does not re-export it (mypy's no_implicit_reexport).
from confluent_kafka.cimpl import NewTopic
from twisted.internet.defer import DeferredList

from tests.integration.confluent_clients import (
    DeliveryReport,
    ProduceArgs,
    consume,
    create,
    produce,
    value_of,
)
from tests.integration.harness import RunningBroker, in_thread

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def sample_messages(n: int) -> list[ProduceArgs]:
    """Keys, values and headers covering null, empty, binary, repeated and large cases."""
    messages: list[ProduceArgs] = []
    for i in range(n):
        m: ProduceArgs = {
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
    by_partition: dict[int | None, list[Message]] = {0: [], 1: []}
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
    counts: dict[int | None, int] = {p: 0 for p in range(24)}
    for _, p, offset in reports:
        assert offset == counts[p]
        counts[p] += 1
    assert sum(1 for c in counts.values() if c) > 12
    got = await in_thread(consume, broker.bootstrap, [(topic_name, p, 0) for p in range(24)], 480)
    assert sorted(value_of(m) for m in got) == sorted(m["value"] for m in messages)
    partitions: dict[bytes | None, set[int | None]] = {}
    for m in got:
        partitions.setdefault(m.value(), set()).add(m.partition())
    assert {len(ps) for ps in partitions.values()} == {1}
    assert {p: sum(1 for m in got if m.partition() == p) for p in range(24)} == counts


@pytest_twisted.ensureDeferred
async def test_fetch_beyond_the_log_end(broker: RunningBroker, topic_name: str) -> None:
    """Assigning past the log end gets OFFSET_OUT_OF_RANGE (seen with auto.offset.reset=error)."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    await in_thread(produce, broker.bootstrap, topic_name, [{"value": b"x"}] * 10, acks="all")

    def fetch_past_end() -> KafkaError | None:
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

    def one(n: int) -> list[DeliveryReport]:
        messages = [{"value": b"%d-%d" % (n, i)} for i in range(500)]
        return produce(broker.bootstrap, topic_name, messages, acks="all", extra={"linger.ms": 0})

    reports = await DeferredList([in_thread(one, n) for n in range(4)], fireOnOneErrback=True)
    offsets = sorted(o for _, result in reports for _, _, o in result if o is not None)
    assert offsets == list(range(2000))
    got = await in_thread(consume, broker.bootstrap, [(topic_name, 0, 0)], 2000)
    for n in range(4):
        mine = [m.value() for m in got if value_of(m).startswith(b"%d-" % n)]
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
