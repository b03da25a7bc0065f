"""Real clients against a broker whose metadata image puts a partition's leader on another node.

The broker is node 1 of the file engine (L{kafkatwist.cluster.local.LocalCluster}):
node 2 is not live. A PartitionChangeRecord (as a PostgreSQL cluster's
active controller writes them) moves partition 0 of a topic to node 2: the
clients are told LEADER_NOT_AVAILABLE in Metadata, and NOT_LEADER_OR_FOLLOWER
when they produce to broker 1 with what they knew before; partition 1 stays
here and keeps working.
"""

from __future__ import annotations

import logging
from typing import Any

import kafka.errors as Errors
import pytest_twisted
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, KafkaProducer

from kafkatwist.messages.metadata_records import PartitionChangeRecord
from tests.integration.harness import RunningBroker, in_thread


async def _move_to_node_2(broker: RunningBroker, topic: str) -> None:
    state = broker.broker.metadata.image.topics[topic]
    record = PartitionChangeRecord(
        partition_id=0, topic_id=state.topic_id, leader=2, replicas=(1, 2), isr=(2,)
    )
    await broker.broker.metadata.append([record])


def _kafka_python_send(producer: KafkaProducer, topic: str, partition: int) -> Any:
    """The RecordMetadata of one record sent, or the exception it failed with."""
    try:
        return producer.send(topic, b"v", partition=partition).get(10)
    except Errors.KafkaError as e:
        return e


def _kafka_python_partitions(bootstrap: str, topic: str) -> list[tuple[int, int, int]]:
    """(partition, error code, leader) of each partition, as KafkaAdminClient describes them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        (described,) = admin.describe_topics([topic])
        return sorted(
            (p["partition_index"], p["error_code"], p["leader_id"]) for p in described["partitions"]
        )
    finally:
        admin.close()


@pytest_twisted.ensureDeferred
async def test_kafka_python(broker: RunningBroker, topic_name: str) -> None:
    """kafka-python gets NOT_LEADER_OR_FOLLOWER, then LEADER_NOT_AVAILABLE in Metadata."""
    await broker.broker.controller.create_topic(topic_name, 2)
    producer = await in_thread(
        KafkaProducer, bootstrap_servers=broker.bootstrap, acks=1, retries=0, linger_ms=0
    )
    try:
        first = await in_thread(_kafka_python_send, producer, topic_name, 0)
        assert (first.partition, first.offset) == (0, 0)
        await _move_to_node_2(broker, topic_name)
        refused = await in_thread(_kafka_python_send, producer, topic_name, 0)
        assert isinstance(refused, Errors.NotLeaderForPartitionError), refused
        here = await in_thread(_kafka_python_send, producer, topic_name, 1)
        assert (here.partition, here.offset) == (1, 0)
    finally:
        await in_thread(producer.close, 5)
    described = await in_thread(_kafka_python_partitions, broker.bootstrap, topic_name)
    assert described == [(0, Errors.LeaderNotAvailableError.errno, -1), (1, 0, 1)]


class _Lines(logging.Handler):
    """The log lines librdkafka reports, kept."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _confluent_produce(producer: Producer, topic: str, partition: int) -> Any:
    """The delivery report's (error, offset) of one record."""
    reports: list[Any] = []
    producer.produce(
        topic, b"v", partition=partition, on_delivery=lambda err, msg: reports.append((err, msg))
    )
    producer.flush(20)
    ((err, msg),) = reports
    return err, msg.offset()


def _confluent_partitions(bootstrap: str, topic: str) -> list[tuple[int, int, Any]]:
    """(partition, leader, error code or None) of each partition in librdkafka's Metadata."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(topic, timeout=10)
    return sorted(
        (p.id, p.leader, None if p.error is None else p.error.code())
        for p in metadata.topics[topic].partitions.values()
    )


@pytest_twisted.ensureDeferred
async def test_confluent_kafka(broker: RunningBroker, topic_name: str) -> None:
    """librdkafka is refused NOT_LEADER_OR_FOLLOWER, then sees leader -1 (LEADER_NOT_AVAILABLE)."""
    await broker.broker.controller.create_topic(topic_name, 2)
    seen = _Lines()
    log = logging.getLogger(f"librdkafka.{topic_name}")
    log.addHandler(seen)
    log.propagate = False
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": 1,
            "message.timeout.ms": 3000,
        },
        logger=log,
    )
    err, offset = await in_thread(_confluent_produce, producer, topic_name, 0)
    assert (err, offset) == (None, 0)
    await _move_to_node_2(broker, topic_name)
    err, _ = await in_thread(_confluent_produce, producer, topic_name, 0)
    # librdkafka retries NOT_LEADER_OR_FOLLOWER until the message times out; it read
    # KIP-951's current leader from the refusal (node 2, whose endpoint is not given:
    # it is not live) and says so.
    assert err is not None and err.code() == KafkaError._MSG_TIMED_OUT, err
    assert any("new leader2 not found" in line for line in seen.lines), seen.lines
    err, offset = await in_thread(_confluent_produce, producer, topic_name, 1)
    assert (err, offset) == (None, 0)
    described = await in_thread(_confluent_partitions, broker.bootstrap, topic_name)
    assert described == [(0, -1, KafkaError.LEADER_NOT_AVAILABLE), (1, 1, None)]
