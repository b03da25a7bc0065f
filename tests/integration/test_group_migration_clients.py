"""
Online migration between the classic and the consumer group protocol, with real clients.

Rolling upgrade: confluent-kafka members of the classic protocol
(``group.protocol=classic``) form a group; members of the consumer protocol
(``group.protocol=consumer``) join one by one while the classic ones leave.
The first consumer-protocol member converts the classic group into a consumer
group that serves the remaining classic members (Kafka's
``convertToConsumerGroup``, ``classicGroup*ToConsumerGroup``). Rolling
downgrade: the other way; the last consumer-protocol member leaving converts
the group back to a classic group (``convertToClassicGroup``). In both runs
every record is read exactly once (each read is committed before the next).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater

from kafkatwist.groups.consumer.describe import CONSUMER_MEMBER
from kafkatwist.messages.consumer_group_describe import DescribedGroup
from tests.integration.harness import RunningBroker, in_thread
from tests.integration.test_consumer_protocol_clients import PARTITIONS, Read, java_member, produce


class Members:
    """Live confluent-kafka members of one group, polled in turn, each read committed."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.live: dict[str, Any] = {}
        self.reads: dict[str, list[Read]] = {}

    def start(self, name: str, protocol: str) -> None:
        from confluent_kafka import Consumer

        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "group.protocol": protocol,
            "client.id": name,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
        if protocol == "classic":
            config.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
        c = Consumer(config)
        c.subscribe([self.topic])
        self.live[name] = c
        self.reads[name] = []

    def stop(self, name: str) -> None:
        self.live.pop(name).close()

    def total(self) -> int:
        return sum(len(r) for r in self.reads.values())

    def poll(self, until: int, timeout: float) -> None:
        """Poll until C{until} records were read in all (then a little more, for duplicates)."""
        deadline = time.monotonic() + timeout
        extra = None
        while True:
            now = time.monotonic()
            if self.total() >= until:
                extra = extra or now + 1.0
                if now >= extra:
                    return
            assert now < deadline, {n: len(r) for n, r in self.reads.items()}
            for name, c in list(self.live.items()):
                msg = c.poll(0.05)
                if msg is None or msg.error() is not None:
                    continue
                self.reads[name].append((msg.partition(), msg.offset(), msg.value()))
                c.commit(message=msg, asynchronous=False)

    def everything(self) -> list[Read]:
        return [r for reads in self.reads.values() for r in reads]


def group_type(bootstrap: str, group: str) -> str:
    """The group's type as the admin client lists it (ListGroups v5)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups().result(timeout=10)
    types = {g.group_id: g.type.name for g in listed.valid}
    kind: str = types[group]
    return kind


def rolling_upgrade(bootstrap: str, topic: str, group: str) -> tuple[Members, str, str]:
    """Two classic members; two consumer members join one by one while the classic ones leave."""
    m = Members(bootstrap, topic, group)
    produce(bootstrap, topic, 0, 20)
    m.start("classic-a", "classic")
    m.start("classic-b", "classic")
    m.poll(20, 60)
    before = group_type(bootstrap, group)
    m.start("consumer-1", "consumer")
    produce(bootstrap, topic, 20, 20)
    m.poll(40, 60)
    m.stop("classic-a")
    produce(bootstrap, topic, 40, 20)
    m.poll(60, 60)
    m.start("consumer-2", "consumer")
    m.stop("classic-b")
    produce(bootstrap, topic, 60, 20)
    m.poll(80, 60)
    after = group_type(bootstrap, group)
    for name in list(m.live):
        m.stop(name)
    return m, before, after


def rolling_downgrade(bootstrap: str, topic: str, group: str) -> tuple[Members, str, str]:
    """A consumer member; two classic members join it; the consumer member leaves."""
    m = Members(bootstrap, topic, group)
    produce(bootstrap, topic, 0, 20)
    m.start("consumer-1", "consumer")
    m.poll(20, 60)
    m.start("classic-a", "classic")
    produce(bootstrap, topic, 20, 20)
    m.poll(40, 60)
    m.start("classic-b", "classic")
    produce(bootstrap, topic, 40, 20)
    m.poll(60, 60)
    before = group_type(bootstrap, group)
    m.stop("consumer-1")
    produce(bootstrap, topic, 60, 20)
    m.poll(80, 60)
    after = group_type(bootstrap, group)
    for name in list(m.live):
        m.stop(name)
    return m, before, after


def assert_exactly_once(m: Members, total: int) -> None:
    everything = m.everything()
    values = sorted(v for _, _, v in everything)
    assert values == sorted(b"v%d" % i for i in range(total)), {
        n: len(r) for n, r in m.reads.items()
    }
    assert len(set(everything)) == len(everything)


@pytest_twisted.ensureDeferred
async def test_rolling_upgrade(broker: RunningBroker, topic_name: str) -> None:
    """Classic members replaced one by one by consumer-protocol members: read once, converted."""
    await broker.broker.controller.create_topic(topic_name, PARTITIONS)
    m, before, after = await in_thread(
        rolling_upgrade, broker.bootstrap, topic_name, "gup", timeout=300
    )
    assert_exactly_once(m, 80)
    assert (before, after) == ("CLASSIC", "CONSUMER")
    assert all(m.reads[n] for n in ("classic-a", "consumer-1")), {
        n: len(r) for n, r in m.reads.items()
    }
    group = broker.broker.groups.consumer.describe("gup")
    assert group.error_code == 0
    assert all(x.member_type == CONSUMER_MEMBER for x in group.members)


@pytest_twisted.ensureDeferred
async def test_rolling_downgrade(broker: RunningBroker, topic_name: str) -> None:
    """Classic members join a consumer group whose consumer member then leaves: back to classic."""
    await broker.broker.controller.create_topic(topic_name, PARTITIONS)
    m, before, after = await in_thread(
        rolling_downgrade, broker.bootstrap, topic_name, "gdown", timeout=300
    )
    assert_exactly_once(m, 80)
    assert (before, after) == ("CONSUMER", "CLASSIC")
    assert m.reads["consumer-1"]
    assert m.reads["classic-a"] or m.reads["classic-b"]
    assert broker.broker.groups.consumer.describe("gdown").error_code == 69


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Wait on the reactor until C{condition()} holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        await deferLater(reactor, 0.1, lambda: None)


def java_holds_partitions(group: DescribedGroup) -> bool:
    """Whether the group is a consumer group whose consumer-protocol member holds partitions."""
    return group.error_code == 0 and any(
        m.member_type == CONSUMER_MEMBER and m.assignment.topic_partitions for m in group.members
    )


def classic_pair(m: Members, first: int, stop: threading.Event, target: list[int]) -> None:
    """Two classic members read the first records, then keep polling until told how many."""
    produce(m.bootstrap, m.topic, 0, first)
    m.start("classic-a", "classic")
    m.start("classic-b", "classic")
    m.poll(first, 60)
    deadline = time.monotonic() + 150
    while not stop.is_set() and time.monotonic() < deadline:
        for name, c in list(m.live.items()):
            msg = c.poll(0.05)
            if msg is not None and msg.error() is None:
                m.reads[name].append((msg.partition(), msg.offset(), msg.value()))
                c.commit(message=msg, asynchronous=False)
    try:
        m.poll(target[0], 60)
    finally:
        for name in list(m.live):
            m.stop(name)


@pytest_twisted.ensureDeferred
async def test_java_member_upgrades_and_downgrades(
    broker: RunningBroker, topic_name: str, tmp_path: Any
) -> None:
    """
    A Java 4.3 consumer-protocol member joins a group of two confluent-kafka classic members
    (upgrade), reads its share, and leaves (downgrade): every record is read exactly once.
    """
    await broker.broker.controller.create_topic(topic_name, PARTITIONS)
    consumer = broker.broker.groups.consumer
    m = Members(broker.bootstrap, topic_name, "gjava")
    stop = threading.Event()
    target = [0]
    classic = in_thread(classic_pair, m, 20, stop, target, timeout=300)
    try:
        await until(lambda: m.total() >= 20, 60)
        java = ensureDeferred(
            java_member(
                broker,
                str(tmp_path / "classes"),
                "gjava",
                "-",
                f"topics:{topic_name}",
                "8",
                "close",
            )
        )
        # Once the Java member converted the group and holds partitions, more records arrive.
        await until(lambda: java_holds_partitions(consumer.describe("gjava")), 60)
        await in_thread(produce, broker.bootstrap, topic_name, 20, 40)
        lines = await java
    finally:
        stop.set()
    java_reads = [(int(x[2]), int(x[3]), x[4].encode()) for x in lines if x[0] == "RECORD"]
    assert lines[-1] == ["DONE"]
    assert len(java_reads) >= 8
    target[0] = 60 - len(java_reads)
    await classic
    m.reads["java"] = java_reads
    assert_exactly_once(m, 60)
    # The Java member's leave left only classic members: the group is classic again.
    assert consumer.describe("gjava").error_code == 69
    listed = broker.broker.groups.admin.list_groups()
    assert ("gjava", "consumer", "Empty", "classic") in listed, listed
