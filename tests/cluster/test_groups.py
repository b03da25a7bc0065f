"""Consumer groups over three brokers: coordinators spread, a group spread, a coordinator's death.

A group's coordinator is the leader of its ``__consumer_offsets`` partition:
with the partitions led by all three brokers, groups land on all three. When
the coordinator is SIGKILLed, its partitions move to a live broker, which
loads the group's state from PostgreSQL: the committed offsets are still
there and the members carry on.
"""

from __future__ import annotations

import time
from collections import Counter

from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.cluster.clients import (
    coordinator_of,
    create_topic,
    leaders,
    produce_values,
    wait_for,
)
from tests.cluster.harness import Cluster

ALL = {1, 2, 3}


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 20000,
            "heartbeat.interval.ms": 500,
            "topic.metadata.refresh.interval.ms": 1000,
            "reconnect.backoff.max.ms": 500,
        }
    )


def _poll_values(consumer: Consumer, into: list[bytes]) -> int:
    """Poll C{consumer} once, appending the values it gives to C{into}; how many C{into} holds."""
    for msg in consumer.consume(num_messages=500, timeout=0.2):
        if msg.error() is None:
            value = msg.value()
            assert isinstance(value, bytes)
            into.append(value)
    return len(into)


def test_coordinators_spread_over_brokers(cluster: Cluster) -> None:
    """Thirty groups' coordinators, as FindCoordinator answers them, are all three brokers."""
    coordinators = {coordinator_of(cluster.bootstrap, f"group-{i}") for i in range(30)}
    assert coordinators == ALL


def test_group_spread_over_brokers(cluster: Cluster) -> None:
    """Three members, each bootstrapped from another broker, share six partitions led by all."""
    create_topic(cluster.node(1).bootstrap, "shared", 6)
    assert set(leaders(cluster.node(1).bootstrap, "shared").values()) == ALL
    members = [_consumer(node.bootstrap, "sharers") for node in cluster.nodes]
    for member in members:
        member.subscribe(["shared"])
    got: list[list[bytes]] = [[] for _ in members]
    try:

        def settled() -> bool:
            for member, into in zip(members, got, strict=True):
                _poll_values(member, into)
            owned = [{tp.partition for tp in m.assignment()} for m in members]
            return all(owned) and sorted(p for o in owned for p in o) == list(range(6))

        wait_for("three members owning six partitions", settled, 90)
        values = [b"shared-%03d" % i for i in range(300)]
        produce_values(cluster.node(2).bootstrap, "shared", values)

        def consumed() -> bool:
            for member, into in zip(members, got, strict=True):
                _poll_values(member, into)
            return sum(len(into) for into in got) >= len(values)

        wait_for("every record consumed by the group", consumed, 90)
        assert all(got), [len(into) for into in got]
        counts = Counter(v for into in got for v in into)
        assert sorted(counts) == values
        assert set(counts.values()) == {1}
        assert coordinator_of(cluster.bootstrap, "sharers") in ALL
    finally:
        for member in members:
            member.close()


def _commit(consumer: Consumer, timeout: float = 60.0) -> None:
    """Commit the consumer's positions synchronously, retrying while the coordinator moves."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            consumer.commit(asynchronous=False)
            return
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            consumer.poll(0.2)


def test_group_survives_its_coordinators_death(cluster: Cluster) -> None:
    """Its coordinator SIGKILLed, a group keeps its committed offsets; its member consumes on."""
    create_topic(cluster.node(1).bootstrap, "orders", 3, replication=3)
    first = [b"first-%03d" % i for i in range(90)]
    produce_values(cluster.bootstrap, "orders", first)
    member = _consumer(cluster.bootstrap, "survivors")
    member.subscribe(["orders"])
    got: list[bytes] = []
    try:
        wait_for("the first records", lambda: _poll_values(member, got) >= 90, 90)
        assert sorted(got) == first
        _commit(member)
        committed = {
            tp.partition: tp.offset
            for tp in member.committed([TopicPartition("orders", p) for p in range(3)], 30)
        }
        assert sum(committed.values()) == 90
        coordinator = coordinator_of(cluster.bootstrap, "survivors")
        cluster.kill(coordinator)
        survivors = cluster.bootstrap_without(coordinator)
        second = [b"second-%03d" % i for i in range(90)]
        receipts = produce_values(survivors, "orders", second)
        later: list[bytes] = []
        wait_for(
            "the records produced after",
            lambda: _poll_values(member, later) >= 90,
            120,
        )
        # Nothing before the commit comes again: the new coordinator had the offsets.
        assert sorted(later) == second
        _commit(member)
        moved = coordinator_of(survivors, "survivors")
        assert moved in ALL - {coordinator}
    finally:
        member.close()
    ends = {p: 1 + max(o for q, o in receipts.acked.values() if q == p) for p in range(3)}
    checker = _consumer(survivors, "survivors")
    try:
        offsets = checker.committed([TopicPartition("orders", p) for p in range(3)], 30)
    finally:
        checker.close()
    assert {tp.partition: tp.offset for tp in offsets} == ends
