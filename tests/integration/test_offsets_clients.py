"""Real clients against the offset and log APIs of an in-process broker on loopback.

confluent-kafka (librdkafka) and kafka-python run in threads (``deferToThread``)
against a L{BrokerService} started on ``tcp:0:interface=127.0.0.1`` under
pytest-twisted; each test starts its own broker over a temporary log dir and
stops it at the end. The partition holds four records with the timestamps
1000, 5000, 2000, 4000 (offsets 0-3), produced by librdkafka in one batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest_twisted
from twisted.internet.threads import deferToThread

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.transport.service import BrokerService

T = TypeVar("T")
TIMESTAMPS = (1000, 5000, 2000, 4000)
#: librdkafka and kafka-python time limits, in seconds; each test stays well under 15 s.
CLIENT_TIMEOUT = 8.0


@asynccontextmanager
async def running_broker(tmp_path: Any, topic: str) -> AsyncIterator[str]:
    """A broker with C{topic} (one partition) holding the four records; yields bootstrap."""
    from twisted.internet import reactor

    # The listener's port 0 makes the broker advertise the port it bound.
    config = BrokerConfig.from_properties(
        {"log.dirs": str(tmp_path / "logs"), "listeners": "PLAINTEXT://127.0.0.1:0"}
    )
    service = BrokerService(config, "tcp:0:interface=127.0.0.1", reactor)
    service.startService()
    try:
        port = await service.ready
        await service.broker.controller.create_topic(topic, 1)
        bootstrap = f"127.0.0.1:{port.getHost().port}"
        await in_thread(produce_records, bootstrap, topic)
        yield bootstrap
    finally:
        await service.stopService()


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking client code off the reactor thread."""
    return await deferToThread(fn, *args)


def produce_records(bootstrap: str, topic: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for i, ts in enumerate(TIMESTAMPS):
        producer.produce(topic, value=b"v%d" % i, partition=0, timestamp=ts)
    assert producer.flush(CLIENT_TIMEOUT) == 0


def confluent_lookups(bootstrap: str, topic: str) -> dict[str, Any]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "offsets-test", "enable.auto.commit": False}
    )
    try:
        # One lookup per call: librdkafka merges a partition listed twice.
        found = [
            consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=CLIENT_TIMEOUT)[0]
            for ts in (0, 1500, 4500, 5001)
        ]
        watermarks = consumer.get_watermark_offsets(
            TopicPartition(topic, 0), timeout=CLIENT_TIMEOUT, cached=False
        )
    finally:
        consumer.close()
    return {
        "found": [(tp.offset, tp.error) for tp in found],
        "watermarks": watermarks,
    }


def confluent_admin(bootstrap: str, topic: str) -> dict[str, Any]:
    from confluent_kafka import TopicPartition

    # confluent_kafka.admin re-exports OffsetSpec without marking it (upstream typing gap).
    from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    tp = TopicPartition(topic, 0)
    specs = {
        "max": OffsetSpec.max_timestamp(),
        "earliest": OffsetSpec.earliest(),
        "latest": OffsetSpec.latest(),
        "at-2500": OffsetSpec.for_timestamp(2500),
    }
    listed = {}
    for name, spec in specs.items():
        info = admin.list_offsets({tp: spec}, request_timeout=CLIENT_TIMEOUT)[tp].result()
        listed[name] = (info.offset, info.timestamp)
    deleted = admin.delete_records([TopicPartition(topic, 0, 2)], request_timeout=CLIENT_TIMEOUT)
    (future,) = deleted.values()
    low_watermark = future.result().low_watermark
    after = admin.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=CLIENT_TIMEOUT)[
        tp
    ].result()
    cluster = admin.describe_cluster(
        include_authorized_operations=True, request_timeout=CLIENT_TIMEOUT
    ).result()
    return {
        "listed": listed,
        "low_watermark": low_watermark,
        "earliest_after": after.offset,
        "cluster": (len(cluster.nodes), cluster.controller.id, len(cluster.authorized_operations)),
    }


def kafka_python_lookups(bootstrap: str, topic: str) -> dict[str, Any]:
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    tp = TopicPartition(topic, 0)
    timeout_ms = int(CLIENT_TIMEOUT * 1000)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=timeout_ms
    )
    try:
        times = consumer.offsets_for_times({tp: 1500})
        none = consumer.offsets_for_times({tp: 9999})
        result = {
            "times": (times[tp].offset, times[tp].timestamp),
            "none": none[tp],
            "beginning": consumer.beginning_offsets([tp])[tp],
            "end": consumer.end_offsets([tp])[tp],
        }
    finally:
        consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        (dirs,) = admin.describe_log_dirs()
        result["log_dirs"] = [
            (t["name"], p["partition_index"], p["partition_size"] > 0)
            for d in dirs["log_dirs"]
            for t in d["topics"]
            for p in t["partitions"]
        ]
        result["cluster_id"] = admin.describe_cluster()["cluster_id"]
    finally:
        admin.close()
    return result


@pytest_twisted.ensureDeferred
async def test_confluent_consumer_offsets_for_times_and_watermarks(tmp_path: Any) -> None:
    """librdkafka's offsets_for_times and get_watermark_offsets see the records' offsets."""
    async with running_broker(tmp_path, "times") as bootstrap:
        got = await in_thread(confluent_lookups, bootstrap, "times")
    assert got["found"] == [(0, None), (1, None), (1, None), (-1, None)]
    assert got["watermarks"] == (0, 4)


@pytest_twisted.ensureDeferred
async def test_confluent_admin_list_offsets_and_delete_records(tmp_path: Any) -> None:
    """librdkafka's list_offsets (max timestamp included) and delete_records."""
    async with running_broker(tmp_path, "admin") as bootstrap:
        got = await in_thread(confluent_admin, bootstrap, "admin")
    assert got["listed"] == {
        "max": (1, 5000),
        "earliest": (0, -1),
        "latest": (4, -1),
        "at-2500": (1, 5000),
    }
    assert got["low_watermark"] == 2
    assert got["earliest_after"] == 2
    assert got["cluster"] == (1, 1, 7)


@pytest_twisted.ensureDeferred
async def test_kafka_python_offsets_and_log_dirs(tmp_path: Any) -> None:
    """kafka-python's offsets_for_times, beginning/end offsets, log dirs and cluster."""
    async with running_broker(tmp_path, "kp") as bootstrap:
        got = await in_thread(kafka_python_lookups, bootstrap, "kp")
    assert got["times"] == (1, 5000)
    assert got["none"] is None
    assert (got["beginning"], got["end"]) == (0, 4)
    assert got["log_dirs"] == [("kp", 0, True)]
    assert got["cluster_id"]
