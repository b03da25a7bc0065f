"""The KIP-848 consumer group protocol with real clients: confluent-kafka ``group.protocol=consumer``.

The broker's consumer groups use the round-robin assignor test double of
tests/groups/consumer_support.py until the server-side assignors
(``uniform``, ``range``) are merged: FOR THE LEAD, drop L{_with_assignor}
then.
"""

from __future__ import annotations

import time
from typing import Any

import pytest_twisted

from kafkatwist.groups.consumer.group import ConsumerGroupState
from tests.groups.consumer_support import RoundRobin
from tests.integration.harness import RunningBroker, in_thread

PARTITIONS = 4

Read = tuple[int, int, bytes]


def _with_assignor(broker: RunningBroker) -> None:
    """Give the broker's consumer groups the round-robin test double."""
    broker.broker.groups.consumer.assignors = {"uniform": RoundRobin()}


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
    _with_assignor(broker)
    await broker.broker.controller.create_topic(topic_name, PARTITIONS)
    a, b, after = await in_thread(
        two_members_then_one, broker.bootstrap, topic_name, "g848", timeout=90
    )
    everything = a + b
    assert len(everything) == len(set(everything)) == 40
    assert {v for _, _, v in everything} == {b"v%d" % i for i in range(40)}
    assert sorted(v for _, _, v in after) == sorted(b"v%d" % i for i in range(40, 48))
    group = broker.broker.groups.consumer.describe("g848", False)
    assert group.group_state == ConsumerGroupState.EMPTY.value
    assert group.group_epoch >= 3
