"""
Fetch sessions (KIP-227) with real clients that use them: kafka-python 3.0.12 and kafka-clients 4.3.

Both clients keep one fetch session per broker (kafka-python's
C{FetchSessionHandler}, Java's C{FetchSessionHandler}) and send incremental
fetches listing only the partitions whose offsets moved. The broker counts
the incremental fetches it served (C{FetchSessionCache.incremental_fetches}),
which the tests read from the in-process broker.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest_twisted
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchResponse, FetchTopic
from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_java,
)
from tests.integration.raw import RawClient

#: A (topic, partition, offset, value) read by a client.
Read = tuple[str, int, int, bytes]


def produce_each(bootstrap: str, topic: str, partitions: range, count: int, prefix: str) -> None:
    """Send C{count} records C{<prefix>-<p>-<i>} to each partition."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    try:
        for p in partitions:
            for i in range(count):
                producer.send(topic, value=f"{prefix}-{p}-{i}".encode(), partition=p)
        producer.flush(15)
    finally:
        producer.close(5)


def poll_until(consumer: KafkaConsumer, got: list[Read], count: int, timeout: float = 20) -> None:
    """Poll until C{got} holds C{count} records."""
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=100).values():
            got.extend((r.topic, r.partition, r.offset, r.value) for r in records)
    assert len(got) >= count, f"{len(got)} of {count} records arrived"


def kafka_python_session(bootstrap: str, topic: str, extra: str) -> list[Read]:
    """
    Consume C{topic} (20 partitions, 3 records each), idle, consume new records, then add C{extra}.

    The consumer keeps one session throughout: assigning C{extra}'s partitions
    adds them to it with an incremental fetch.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4096,
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(20)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        got: list[Read] = []
        poll_until(consumer, got, 60)
        idle_end = time.monotonic() + 1.0
        while time.monotonic() < idle_end:
            for records in consumer.poll(timeout_ms=100).values():
                got.extend((r.topic, r.partition, r.offset, r.value) for r in records)
        produce_each(bootstrap, topic, range(0, 20, 3), 2, "late")
        poll_until(consumer, got, 60 + 7 * 2)
        consumer.assign(tps + [TopicPartition(extra, p) for p in range(2)])
        consumer.seek_to_beginning(*(TopicPartition(extra, p) for p in range(2)))
        poll_until(consumer, got, 60 + 14 + 4)
        idle_end = time.monotonic() + 0.5
        while time.monotonic() < idle_end:
            for records in consumer.poll(timeout_ms=100).values():
                got.extend((r.topic, r.partition, r.offset, r.value) for r in records)
        return got
    finally:
        consumer.close()


@pytest_twisted.ensureDeferred
async def test_kafka_python_consumes_through_a_session(
    broker: RunningBroker, topic_name: str
) -> None:
    """kafka-python reads every record once across produce, idle polls and new partitions."""
    extra = topic_name + "-extra"
    await broker.broker.controller.create_topic(topic_name, 20)
    await broker.broker.controller.create_topic(extra, 2)
    await in_thread(produce_each, broker.bootstrap, topic_name, range(20), 3, "v")
    await in_thread(produce_each, broker.bootstrap, extra, range(2), 2, "x")
    cache = broker.broker.fetch_sessions.cache
    got = await in_thread(kafka_python_session, broker.bootstrap, topic_name, extra, timeout=90)

    keys = [(t, p, o) for t, p, o, _ in got]
    assert len(keys) == len(set(keys)), "a record arrived twice"
    expected = {(topic_name, p, i, f"v-{p}-{i}".encode()) for p in range(20) for i in range(3)}
    expected |= {
        (topic_name, p, 3 + i, f"late-{p}-{i}".encode()) for p in range(0, 20, 3) for i in range(2)
    }
    expected |= {(extra, p, i, f"x-{p}-{i}".encode()) for p in range(2) for i in range(2)}
    assert set(got) == expected
    # About 10 fetches a second for ~2 s: most of them incremental, in one session.
    assert cache.incremental_fetches >= 10, cache.incremental_fetches
    assert len(cache) >= 1


# --- the Java client 4.3 -----------------------------------------------------------------------

JAVA_SOURCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "java", "SessionConsumer.java"
)


async def run_session_consumer(
    running: RunningBroker, topic: str, partitions: int, per_partition: int, classes: str
) -> list[list[str]]:
    """Compile SessionConsumer.java into C{classes}, run it; its output lines, split."""
    args = [running.bootstrap, topic, str(partitions), str(per_partition)]
    return [line.split() for line in await run_java("SessionConsumer", args, classes, timeout=90)]


@pytest_twisted.ensureDeferred
async def test_java_client_consumes_many_partitions(
    broker: RunningBroker, topic_name: str, tmp_path: Any
) -> None:
    """kafka-clients 4.3 reads 200 partitions through one session: every record exactly once."""
    partitions, per_partition = 200, 3
    await broker.broker.controller.create_topic(topic_name, partitions)
    cache = broker.broker.fetch_sessions.cache
    lines = await run_session_consumer(
        broker, topic_name, partitions, per_partition, str(tmp_path / "classes")
    )
    assert lines[-1] == ["DONE"]
    records = [(int(p), int(o), v) for _, p, o, v in lines[:-1]]
    assert len(records) == len(set(records)), "a record arrived twice"
    expected = {(p, i, f"v-{p}-{i}") for p in range(partitions) for i in range(per_partition)}
    expected |= {
        (p, per_partition + i, f"late-{p}-{i}")
        for p in range(partitions)
        for i in range(per_partition)
    }
    assert set(records) == expected
    # A second of idle polls at fetch.max.wait.ms 100 alone is ~10 incremental fetches.
    assert cache.incremental_fetches >= 10, cache.incremental_fetches


def session_across_connections(port: int, topic: str) -> tuple[int, int, int]:
    """Create a session on one connection, close it, go on on another: the ids and error."""
    first = RawClient(port)
    part = FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)
    full = FetchRequest(
        max_wait_ms=0,
        min_bytes=1,
        session_id=0,
        session_epoch=0,
        topics=(FetchTopic(topic=topic, partitions=(part,)),),
    )
    created = first.call(1, 12, full, FetchResponse)
    first.close()
    second = RawClient(port)
    try:
        incremental = FetchRequest(
            max_wait_ms=0, min_bytes=1, session_id=created.session_id, session_epoch=1
        )
        went_on = second.call(1, 12, incremental, FetchResponse)
        return created.session_id, went_on.session_id, went_on.error_code
    finally:
        second.close()


@pytest_twisted.ensureDeferred
async def test_session_outlives_its_connection(broker: RunningBroker, topic_name: str) -> None:
    """A session is the broker's, not the connection's: another connection continues it."""
    await broker.broker.controller.create_topic(topic_name, 1)
    created, went_on, error = await in_thread(session_across_connections, broker.port, topic_name)
    assert created != 0
    assert (went_on, error) == (created, 0)
