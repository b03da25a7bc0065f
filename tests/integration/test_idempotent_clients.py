"""librdkafka (confluent-kafka) idempotent producers against an in-process broker.

Each test starts a broker on a loopback port, produces with
``enable.idempotence`` and one ``compression.type``, then reads everything
back with an assigned consumer (no group coordination, no ListOffsets).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from twisted.internet import reactor
from twisted.internet.threads import deferToThread

from kafkatwist.apis import REGISTRY
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.transport.service import BrokerService
from kafkatwist.wire.batch import BatchHeader, iter_batches
from tests.brokers import log_of

COUNT = 200
FIND_COORDINATOR = 10


Headers = list[tuple[str, str | bytes | None]]


def messages() -> list[tuple[bytes | None, bytes | None, Headers]]:
    """Keys, values and headers to send: some null keys, some null values."""
    out: list[tuple[bytes | None, bytes | None, Headers]] = []
    for i in range(COUNT):
        key = None if i % 7 == 0 else b"key-%d" % i
        value = None if i % 11 == 0 and key is not None else b"value %d " % i * 10
        headers: Headers = [("index", b"%d" % i), ("kind", b"test")] if i % 3 else []
        out.append((key, value, headers))
    return out


def produce_all(bootstrap: str, topic: str, compression: str) -> list[int]:
    """Produce every message idempotently; return the delivered offsets."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "compression.type": compression,
            "linger.ms": 5,
            "batch.num.messages": 50,
            "message.timeout.ms": 10000,
        }
    )
    offsets: list[int] = []
    errors: list[Any] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            offsets.append(msg.offset())

    for key, value, headers in messages():
        producer.produce(
            topic, value=value, key=key, headers=headers, partition=0, on_delivery=delivered
        )
        producer.poll(0)
    remaining = producer.flush(10)
    assert remaining == 0, f"{remaining} messages not delivered"
    assert not errors, errors
    return offsets


def consume_all(bootstrap: str, topic: str) -> list[Any]:
    """Read COUNT messages from offset 0 of partition 0."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "idem-test",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[Any] = []
    try:
        for _ in range(100):
            for msg in consumer.consume(COUNT, timeout=0.2):
                error = msg.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(f"consumer error: {error}")
                if error is None:
                    got.append((msg.offset(), msg.key(), msg.value(), msg.headers() or []))
            if len(got) >= COUNT:
                break
    finally:
        consumer.close()
    return got


async def start_broker(tmp_path: Any) -> tuple[BrokerService, str]:
    service = BrokerService(
        BrokerConfig.from_properties(
            {"log.dirs": str(tmp_path), "listeners": "PLAINTEXT://127.0.0.1:0"}
        ),
        "tcp:0:interface=127.0.0.1",
        reactor,
    )
    service.startService()
    port = await service.ready
    return service, f"127.0.0.1:{port.getHost().port}"


async def stored_headers(service: BrokerService, topic: str) -> list[BatchHeader]:
    log = log_of(service.broker, topic, 0)
    data = b"".join(bytes(b) for b in (await log.read(0, 1 << 30)).buffers)
    return [h for _, h in iter_batches(data)]


async def round_trip(
    tmp_path: Any, compression: str, topic_configs: dict[str, str] | None = None
) -> Any:
    service, bootstrap = await start_broker(tmp_path)
    topic = f"idem-{compression}-{uuid.uuid4().hex[:6]}"
    try:
        await service.broker.controller.create_topic(topic, 1, configs=topic_configs)
        offsets = await deferToThread(produce_all, bootstrap, topic, compression)
        assert sorted(offsets) == list(range(COUNT))
        got = await deferToThread(consume_all, bootstrap, topic)
        expected = [
            (i, key, value, [(k, v) for k, v in headers])
            for i, (key, value, headers) in enumerate(messages())
        ]
        assert got == expected
        return await stored_headers(service, topic)
    finally:
        await service.stopService()


@pytest.mark.parametrize("compression", ["gzip", "snappy", "lz4", "zstd"])
@pytest_twisted.ensureDeferred
async def test_idempotent_producer_round_trip(tmp_path: Any, compression: str) -> None:
    """librdkafka's idempotent batches keep their producer id and codec, and read back."""
    headers = await round_trip(tmp_path, compression)
    codec = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[compression]
    if compression == "lz4" and FIND_COORDINATOR not in {spec.api_key for spec in REGISTRY}:
        # librdkafka enables LZ4 only for brokers advertising FindCoordinator
        # (its RD_KAFKA_FEATURE_LZ4 heuristic, rdkafka_feature.c) and
        # otherwise sends uncompressed batches.
        codec = 0
    assert {h.compression for h in headers} == {codec}
    assert {h.producer_epoch for h in headers} == {0}
    assert len({h.producer_id for h in headers}) == 1 and headers[0].producer_id >= 0
    sequences = [(h.base_sequence, h.base_offset) for h in headers]
    assert all(seq == offset for seq, offset in sequences)


@pytest_twisted.ensureDeferred
async def test_topic_compression_type_converts(tmp_path: Any) -> None:
    """lz4 batches sent to a zstd topic are stored as zstd with their sequences, intact."""
    headers = await round_trip(tmp_path, "lz4", {"compression.type": "zstd"})
    assert {h.compression for h in headers} == {4}
    assert all(h.base_sequence == h.base_offset for h in headers)


def kafka_python_produce(bootstrap: str, topic: str) -> list[int]:
    """Produce every message with kafka-python's idempotent producer and lz4."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        compression_type="lz4",
        linger_ms=5,
    )
    try:
        futures = [
            producer.send(topic, value=value, key=key, headers=headers, partition=0)
            for key, value, headers in messages()
        ]
        producer.flush(10)
        return [f.get(timeout=10).offset for f in futures]
    finally:
        producer.close(5)


@pytest_twisted.ensureDeferred
async def test_kafka_python_idempotent_lz4(tmp_path: Any) -> None:
    """kafka-python's idempotent lz4 batches keep their producer id; librdkafka reads them."""
    service, bootstrap = await start_broker(tmp_path)
    topic = "idem-kafka-python-lz4"
    try:
        await service.broker.controller.create_topic(topic, 1)
        offsets = await deferToThread(kafka_python_produce, bootstrap, topic)
        assert offsets == list(range(COUNT))
        got = await deferToThread(consume_all, bootstrap, topic)
        assert got == [(i, k, v, list(h)) for i, (k, v, h) in enumerate(messages())]
        headers = await stored_headers(service, topic)
        assert {h.compression for h in headers} == {3}
        assert len({h.producer_id for h in headers}) == 1 and headers[0].producer_id >= 0
        assert all(h.base_sequence == h.base_offset for h in headers)
    finally:
        await service.stopService()
