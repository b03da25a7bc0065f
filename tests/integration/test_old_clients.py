"""Old clients against a loopback broker: magic 0 and 1 messages both ways (issue 14).

afkak (the Twisted client: Produce v0, Fetch v0, magic 0, on the broker's
own reactor) and kafka-python pinned to ``api_version=(0, 9)`` (magic 0) and
``(0, 10)`` (Produce v2, Fetch v2/v3, magic 1) produce and consume, with and
without compression; records produced by confluent-kafka (magic 2, headers)
are read by the old clients, and what the old clients produce is read by
confluent-kafka, as Kafka 3.9 converts them.

kafka-python's magic 0 lz4 needs the ``xxhash`` package (for Kafka 0.8's
broken frame checksum), which the suite does not install: magic 0 lz4 is
covered by the unit tests (tests/wire/test_legacy.py) instead.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import pytest_twisted
from afkak import CODEC_GZIP, CODEC_NONE, CODEC_SNAPPY, KafkaClient, Producer
from afkak.common import FetchRequest, OffsetAndMessage, UnsupportedVersion
from confluent_kafka.cimpl import NewTopic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.integration.confluent_clients import consume as confluent_consume
from tests.integration.confluent_clients import create
from tests.integration.confluent_clients import produce as confluent_produce
from tests.integration.harness import RunningBroker, in_thread

OLD_VERSIONS = {"magic0": (0, 9), "magic1": (0, 10)}


def old_produce(
    bootstrap: str, topic: str, values: list[bytes], api_version: tuple[int, int], codec: str | None
) -> list[int]:
    """Send C{values} to partition 0 with kafka-python pinned to C{api_version}; their offsets."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        api_version=api_version,
        acks=1,
        compression_type=codec,
        linger_ms=20,
    )
    try:
        futures = [
            producer.send(topic, key=b"k%d" % i, value=v, partition=0) for i, v in enumerate(values)
        ]
        producer.flush(10)
        return [f.get(5).offset for f in futures]
    finally:
        producer.close(5)


def old_consume(
    bootstrap: str, topic: str, start: int, count: int, api_version: tuple[int, int]
) -> list[Any]:
    """C{count} records of partition 0 from C{start}, read by kafka-python at C{api_version}."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        api_version=api_version,
        enable_auto_commit=False,
        group_id=None,
        fetch_max_bytes=1 << 20,
    )
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        got: list[Any] = []
        deadline = time.monotonic() + 15
        while len(got) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(records)
        return got
    finally:
        consumer.close()


@pytest.mark.parametrize(
    ("api_version", "codec"),
    [
        (OLD_VERSIONS["magic0"], None),
        (OLD_VERSIONS["magic0"], "gzip"),
        (OLD_VERSIONS["magic0"], "snappy"),
        (OLD_VERSIONS["magic1"], None),
        (OLD_VERSIONS["magic1"], "gzip"),
        (OLD_VERSIONS["magic1"], "snappy"),
        (OLD_VERSIONS["magic1"], "lz4"),
    ],
    ids=str,
)
@pytest_twisted.ensureDeferred
async def test_kafka_python_old_round_trip(
    broker: RunningBroker, topic_name: str, api_version: tuple[int, int], codec: str | None
) -> None:
    """kafka-python pinned to 0.9 / 0.10 produces and reads back its own messages."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    values = [b"value-%d" % i for i in range(20)]
    offsets = await in_thread(old_produce, broker.bootstrap, topic_name, values, api_version, codec)
    assert offsets == list(range(20))
    got = await in_thread(old_consume, broker.bootstrap, topic_name, 5, 15, api_version)
    assert [(r.offset, r.key, r.value) for r in got] == [
        (i, b"k%d" % i, b"value-%d" % i) for i in range(5, 20)
    ]
    # Stored as v2 batches with the producer's codec (the topic's compression.type is producer).
    batches = await in_thread(confluent_consume, broker.bootstrap, [(topic_name, 0, 0)], 20)
    assert [m.value() for m in batches] == values
    if api_version == OLD_VERSIONS["magic0"]:
        assert {r.timestamp for r in got} == {None}  # magic 0 has none
        assert {m.timestamp()[1] for m in batches} == {-1}  # stored as NO_TIMESTAMP


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
@pytest_twisted.ensureDeferred
async def test_modern_producer_old_consumers(
    broker: RunningBroker, topic_name: str, codec: str
) -> None:
    """Records confluent-kafka wrote (magic 2, headers) are read by magic 0 and 1 consumers."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    messages = [
        {"key": b"k%d" % i, "value": b"v%d" % i, "partition": 0, "headers": [("h", b"x")]}
        for i in range(30)
    ]
    config = {"compression.type": codec, "batch.num.messages": 7}
    reports = await in_thread(confluent_produce, broker.bootstrap, topic_name, messages, config)
    assert [r[2] for r in reports] == list(range(30))
    # kafka-python reads magic 0 lz4 only with xxhash (see the module docstring).
    versions = [OLD_VERSIONS["magic1"]] if codec == "lz4" else list(OLD_VERSIONS.values())
    for api_version in versions:
        got = await in_thread(old_consume, broker.bootstrap, topic_name, 3, 27, api_version)
        assert [(r.offset, r.key, r.value) for r in got] == [
            (i, b"k%d" % i, b"v%d" % i) for i in range(3, 30)
        ], api_version
        if api_version == OLD_VERSIONS["magic1"]:
            assert all(r.timestamp > 0 for r in got)


@pytest.mark.parametrize("name", sorted(OLD_VERSIONS))
@pytest_twisted.ensureDeferred
async def test_old_producer_modern_consumer(
    broker: RunningBroker, topic_name: str, name: str
) -> None:
    """What kafka-python 0.9 / 0.10 wrote (gzip) reads back with confluent-kafka, keys intact."""
    api_version = OLD_VERSIONS[name]
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    values = [b"old-%d" % i for i in range(10)]
    await in_thread(old_produce, broker.bootstrap, topic_name, values, api_version, "gzip")
    got = await in_thread(confluent_consume, broker.bootstrap, [(topic_name, 0, 0)], 10)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, b"k%d" % i, v) for i, v in enumerate(values)
    ]
    timestamp_types = {m.timestamp()[0] for m in got}
    if name == "magic0":
        # No timestamp: librdkafka reports TIMESTAMP_NOT_AVAILABLE for -1.
        assert {m.timestamp()[1] for m in got} == {-1}
    else:
        assert timestamp_types == {1}  # CreateTime


@pytest.mark.parametrize(
    "codec", [CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY], ids=["none", "gzip", "snappy"]
)
@pytest_twisted.ensureDeferred
async def test_afkak_round_trip(broker: RunningBroker, topic_name: str, codec: int) -> None:
    """afkak (Produce v0, Fetch v0, on this reactor) produces and fetches its messages back."""
    from twisted.internet import reactor

    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    client = KafkaClient(broker.bootstrap, clientId="afkak-test", reactor=reactor)
    try:
        producer = Producer(client, codec=codec)
        try:
            values = [b"afkak-%d" % i for i in range(12)]
            await producer.send_messages(topic_name, key=b"key", msgs=values)
        finally:
            await producer.stop()
        responses = await client.send_fetch_request(
            [FetchRequest(topic_name, 0, 2, 1 << 20)], max_wait_time=100
        )
        messages: list[OffsetAndMessage] = [m for r in responses for m in r.messages]
    finally:
        await client.close()
    assert [(m.offset, m.message.key, m.message.value) for m in messages] == [
        (i, b"key", b"afkak-%d" % i) for i in range(2, 12)
    ]
    # The modern client reads what afkak wrote.
    got = await in_thread(confluent_consume, broker.bootstrap, [(topic_name, 0, 0)], 12)
    assert [m.value() for m in got] == values


@pytest_twisted.ensureDeferred
async def test_afkak_downconversion_disabled(broker: RunningBroker, topic_name: str) -> None:
    """With message.downconversion.enable=false, afkak's Fetch v0 gets UNSUPPORTED_VERSION (35)."""
    from twisted.internet import reactor

    topic = NewTopic(topic_name, 1, 1, config={"message.downconversion.enable": "false"})
    assert await in_thread(create, broker.bootstrap, topic) == {topic_name: 0}
    client = KafkaClient(broker.bootstrap, clientId="afkak-test", reactor=reactor)
    try:
        producer = Producer(client)
        try:
            await producer.send_messages(topic_name, msgs=[b"x"])
        finally:
            await producer.stop()
        with pytest.raises(UnsupportedVersion) as raised:
            await client.send_fetch_request(
                [FetchRequest(topic_name, 0, 0, 1 << 20)], max_wait_time=100
            )
    finally:
        await client.close()
    assert raised.value.errno == 35
