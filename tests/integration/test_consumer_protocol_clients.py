"""KIP-848 consumer groups with real clients (``group.protocol=consumer``): confluent-kafka, Java.

The broker's consumer groups use its real server-side assignors (``uniform`` by default).
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import pytest_twisted

from kafkatwist.groups.consumer.group import ConsumerGroupState
from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_java,
)

PARTITIONS = 4

Read = tuple[int, int, bytes]


def produce(bootstrap: str, topic: str, first: int, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(first, first + count):
        producer.produce(topic, value=b"v%d" % i, partition=i % PARTITIONS)
    assert producer.flush(10) == 0


def consumer(bootstrap: str, group: str, name: str, **extra: str) -> Any:
    from confluent_kafka import Consumer

    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    config.update(extra)
    return Consumer(config)


def poll_all(consumers: list[Any], reads: list[list[Read]], total: int, timeout: float) -> None:
    """Poll every consumer in turn, committing each record, until C{total} records arrived."""
    deadline = time.monotonic() + timeout
    while sum(len(r) for r in reads) < total:
        assert time.monotonic() < deadline, [len(r) for r in reads]
        for c, got in zip(consumers, reads, strict=True):
            msg = c.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            got.append((msg.partition(), msg.offset(), msg.value()))
            c.commit(message=msg, asynchronous=False)


def two_members_then_one(bootstrap: str, topic: str, group: str) -> tuple[list[Read], ...]:
    """Two members share the topic; one leaves and the other takes over its partitions."""
    a = consumer(bootstrap, group, "a")
    a.subscribe([topic])
    b = consumer(bootstrap, group, "b")
    b.subscribe([topic])
    reads: list[list[Read]] = [[], []]
    produce(bootstrap, topic, 0, 40)
    poll_all([a, b], reads, 40, 30)
    deadline = time.monotonic() + 20
    # Both members end up with partitions (the target gives each two).
    while not (a.assignment() and b.assignment()):
        assert time.monotonic() < deadline, (a.assignment(), b.assignment())
        a.poll(0.1)
        b.poll(0.1)
    shared = (len(a.assignment()), len(b.assignment()))
    b.close()
    produce(bootstrap, topic, 40, 8)
    after: list[list[Read]] = [[]]
    poll_all([a], after, 8, 30)
    a.close()
    assert shared == (2, 2), shared
    return reads[0], reads[1], after[0]


@pytest_twisted.ensureDeferred
async def test_confluent_members_share_and_rebalance(
    broker: RunningBroker, topic_name: str
) -> None:
    """Two confluent-kafka members split the partitions; every record is read once; one leaves."""
    await broker.broker.controller.create_topic(topic_name, PARTITIONS)
    a, b, after = await in_thread(
        two_members_then_one, broker.bootstrap, topic_name, "g848", timeout=90
    )
    everything = a + b
    assert len(everything) == len(set(everything)) == 40
    assert {v for _, _, v in everything} == {b"v%d" % i for i in range(40)}
    assert sorted(v for _, _, v in after) == sorted(b"v%d" % i for i in range(40, 48))
    group = broker.broker.groups.consumer.describe("g848")
    assert group.group_state == ConsumerGroupState.EMPTY.value
    assert group.group_epoch >= 3


JAVA_SOURCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "java", "Kip848Consumer.java"
)


async def java_member(running: RunningBroker, classes: str, *args: str) -> list[list[str]]:
    """Compile Kip848Consumer.java into C{classes} and run it; its output lines, split."""
    lines = await run_java("Kip848Consumer", [running.bootstrap, *args], classes, timeout=90)
    return [line.split() for line in lines]


def produce_to(bootstrap: str, topics: list[str], first: int, count: int) -> None:
    for topic in topics:
        produce(bootstrap, topic, first, count)


def take_over(bootstrap: str, topics: list[str], group: str, count: int) -> list[tuple[str, bytes]]:
    """A confluent-kafka member reading C{count} records of C{topics} (after a crash)."""
    c = consumer(bootstrap, group, "survivor")
    c.subscribe(topics)
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + 60
    while len(got) < count:
        assert time.monotonic() < deadline, len(got)
        msg = c.poll(0.2)
        if msg is None or msg.error() is not None:
            continue
        got.append((msg.topic(), msg.value()))
        c.commit(message=msg, asynchronous=False)
    c.close()
    return got


@pytest.mark.broker_properties(
    {
        "group.consumer.session.timeout.ms": "6000",
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.heartbeat.interval.ms": "1000",
        "group.consumer.min.heartbeat.interval.ms": "1000",
    }
)
@pytest_twisted.ensureDeferred
async def test_java_static_regex_member_crash(broker: RunningBroker, tmp_path: Any) -> None:
    """
    A Java static member with a regex subscription reads its records and crashes (no leave);
    once its session expires a confluent-kafka member gets every partition and reads the rest:
    every record is read exactly once across the two.
    """
    topics = ["kip848-java-a", "kip848-java-b"]
    for t in topics:
        await broker.broker.controller.create_topic(t, PARTITIONS)
    await broker.broker.controller.create_topic("other-topic", 1)
    await in_thread(produce_to, broker.bootstrap, topics, 0, 8)
    lines = await java_member(
        broker, str(tmp_path / "classes"), "gj", "static-1", "kip848-java-.*", "16", "halt"
    )
    assert lines[-1] == ["HALT"]
    java_reads = {(t, v.encode()) for _, t, _, _, v in lines[:-1]}
    assert len(java_reads) == 16
    group = broker.broker.groups.consumer.describe("gj")
    assert [(m.instance_id, m.subscribed_topic_regex) for m in group.members] == [
        ("static-1", "kip848-java-.*")
    ]
    await in_thread(produce_to, broker.bootstrap, topics, 8, 8)
    rest = await in_thread(take_over, broker.bootstrap, topics, "gj", 16, timeout=90)
    assert len(set(rest)) == len(rest) == 16
    expected = {(t, b"v%d" % i) for t in topics for i in range(16)}
    assert java_reads | set(rest) == expected
    assert not java_reads & set(rest)
    members = broker.broker.groups.consumer.describe("gj").members
    assert all(m.instance_id != "static-1" for m in members)
