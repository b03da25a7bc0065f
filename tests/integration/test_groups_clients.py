"""Consumer groups with real clients: confluent-kafka (librdkafka), aiokafka and kafka-python.

The broker runs in-process on the test reactor (``tcp:0:interface=127.0.0.1``);
each client runs in a thread. Offsets 0 are committed up front by a
standalone consumer (generation -1), so consumers start from committed
offsets and the tests do not depend on ListOffsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, threads

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.transport.service import BrokerService

TOPIC = "orders"
PARTITIONS = 4


async def start_broker(tmp_path: Any, **props: str) -> tuple[BrokerService, str]:
    settings = {
        "log.dirs": str(tmp_path / "logs"),
        "node.id": "1",
        "process.roles": "broker,controller",
        "listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        "controller.listener.names": "CONTROLLER",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.num.partitions": "5",
    }
    settings.update(props)
    service = BrokerService(
        BrokerConfig.from_properties(settings), "tcp:0:interface=127.0.0.1", reactor
    )
    service.startService()
    port = await service.ready
    return service, f"127.0.0.1:{port.getHost().port}"


def prepare_topic(bootstrap: str, group: str) -> None:
    """Create the topic and commit offset 0 of every partition for C{group} (standalone commit)."""
    from confluent_kafka import Consumer, TopicPartition

    # confluent_kafka.admin re-exports NewTopic without marking it (upstream typing gap).
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(timeout=10)
    standalone = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    committed = standalone.commit(
        offsets=[TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)], asynchronous=False
    )
    assert all(tp.error is None for tp in committed)
    standalone.close()


def produce(bootstrap: str, first: int, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(first, first + count):
        producer.produce(TOPIC, key=str(i).encode(), value=b"v%d" % i, partition=i % PARTITIONS)
    assert producer.flush(10) == 0


def confluent_consumers(bootstrap: str, group: str, strategy: str, n: int) -> list[Any]:
    from confluent_kafka import Consumer

    consumers = [
        Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": f"c{i}",
                "partition.assignment.strategy": strategy,
                "enable.auto.commit": False,
                "auto.offset.reset": "error",
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 500,
            }
        )
        for i in range(n)
    ]
    for c in consumers:
        c.subscribe([TOPIC])
    return consumers


def wait_until(
    condition: Callable[[], bool],
    poll: Callable[[], None],
    timeout: float = 30.0,
    settle: float = 1.0,
) -> float:
    """Poll until C{condition} has held for C{settle} seconds; the time it first held."""
    start = time.monotonic()
    held_since = None
    while time.monotonic() - start < timeout:
        poll()
        if condition():
            if held_since is None:
                held_since = time.monotonic()
            if time.monotonic() - held_since >= settle:
                return held_since - start
        else:
            held_since = None
    raise AssertionError("condition not reached")


def stable_assignment(consumers: list[Any]) -> dict[int, list[int]]:
    """Poll the consumers until every partition is assigned exactly once, steadily."""

    def assignments() -> list[list[int]]:
        return [sorted(tp.partition for tp in c.assignment()) for c in consumers]

    def exactly_once() -> bool:
        flat = [p for a in assignments() for p in a]
        return sorted(flat) == list(range(PARTITIONS))

    def poll_all() -> None:
        for c in consumers:
            message = c.poll(0.05)
            assert message is None, "no messages expected while assigning"

    wait_until(exactly_once, poll_all)
    return dict(enumerate(assignments()))


def consume(consumers: list[Any], count: int) -> list[tuple[int, int, bytes]]:
    """Consume C{count} messages, committing each one synchronously."""
    seen: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + 30
    while len(seen) < count and time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.05)
            if m is None:
                continue
            assert m.error() is None, m.error()
            seen.append((m.partition(), m.offset(), m.key()))
            c.commit(message=m, asynchronous=False)
    assert len(seen) == count, f"consumed {len(seen)} of {count}"
    return seen


def run_confluent_scenario(bootstrap: str, strategy: str) -> dict[str, Any]:
    group = f"group-{strategy}"
    prepare_topic(bootstrap, group)
    consumers = confluent_consumers(bootstrap, group, strategy, 3)
    first = stable_assignment(consumers)
    produce(bootstrap, 0, 40)
    phase1 = consume(consumers, 40)
    for c in consumers:
        c.close()
    consumers = confluent_consumers(bootstrap, group, strategy, 3)
    second = stable_assignment(consumers)
    produce(bootstrap, 40, 40)
    phase2 = consume(consumers, 40)
    for c in consumers:
        c.close()
    return {"first": first, "second": second, "phase1": phase1, "phase2": phase2}


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
@pytest_twisted.ensureDeferred
async def test_confluent_consumers_share_partitions_and_resume(
    tmp_path: Any, strategy: str
) -> None:
    """Three consumers split 4 partitions exactly once; restarted, they resume at the commits."""
    service, bootstrap = await start_broker(tmp_path)
    try:
        result = await threads.deferToThread(run_confluent_scenario, bootstrap, strategy)
    finally:
        await service.stopService()
    for assignment in (result["first"], result["second"]):
        assert sorted(p for ps in assignment.values() for p in ps) == [0, 1, 2, 3]
        assert all(ps for ps in assignment.values()), assignment  # 3 members, 4 partitions
    everything = result["phase1"] + result["phase2"]
    positions = [(p, o) for p, o, _ in everything]
    assert len(set(positions)) == len(positions) == 80  # no duplicates
    assert sorted(int(k) for _, _, k in everything) == list(range(80))  # no loss
    for p in range(PARTITIONS):
        resumed = min(o for q, o, _ in result["phase2"] if q == p)
        assert resumed == 10  # the committed offset of phase 1


def run_aiokafka_leave(bootstrap: str) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer

    prepare_topic(bootstrap, "aio")

    async def scenario() -> dict[str, Any]:
        def make(client_id: str) -> Any:
            return AIOKafkaConsumer(
                TOPIC,
                bootstrap_servers=bootstrap,
                group_id="aio",
                client_id=client_id,
                session_timeout_ms=30000,
                heartbeat_interval_ms=1000,
                enable_auto_commit=False,
            )

        a, b = make("a"), make("b")
        await a.start()
        await b.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if len(a.assignment()) == 2 and len(b.assignment()) == 2:
                    break
                await asyncio.sleep(0.05)
            split = (len(a.assignment()), len(b.assignment()))
            await a.stop()  # sends LeaveGroup
            left = time.monotonic()
            while time.monotonic() - left < 25 and len(b.assignment()) != PARTITIONS:
                await asyncio.sleep(0.05)
            return {
                "split": split,
                "after": sorted(tp.partition for tp in b.assignment()),
                "seconds": time.monotonic() - left,
            }
        finally:
            await b.stop()

    return asyncio.run(scenario())


@pytest_twisted.ensureDeferred
async def test_aiokafka_leave_frees_partitions_at_once(tmp_path: Any) -> None:
    """An aiokafka consumer that leaves hands its partitions over without a session timeout."""
    service, bootstrap = await start_broker(tmp_path)
    try:
        result = await threads.deferToThread(run_aiokafka_leave, bootstrap)
    finally:
        await service.stopService()
    assert result["split"] == (2, 2)
    assert result["after"] == [0, 1, 2, 3]
    assert result["seconds"] < 10, result  # the session timeout is 30 s


def run_admin(bootstrap: str) -> dict[str, Any]:
    from kafka.admin import KafkaAdminClient

    prepare_topic(bootstrap, "described")
    consumers = confluent_consumers(bootstrap, "described", "range", 2)
    stable_assignment(consumers)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        listed = admin.list_groups()
        described = admin.describe_groups(["described"])
    finally:
        admin.close()
        for c in consumers:
            c.close()
    return {"listed": listed, "described": described}


@pytest_twisted.ensureDeferred
async def test_kafka_python_admin_lists_and_describes_groups(tmp_path: Any) -> None:
    """kafka-python's admin client lists the group and describes its members and assignments."""
    service, bootstrap = await start_broker(tmp_path)
    try:
        result = await threads.deferToThread(run_admin, bootstrap)
    finally:
        await service.stopService()
    listed = {g["group_id"]: g for g in result["listed"]}
    assert listed["described"]["protocol_type"] == "consumer"
    assert listed["described"]["group_state"] == "Stable"
    group = result["described"]["described"]
    assert group["error"] is None
    assert group["group_state"] == "Stable"
    assert group["protocol_data"] == "range"
    members = group["members"]
    assert sorted(m["client_id"] for m in members) == ["c0", "c1"]
    assert {m["client_host"] for m in members} == {"/127.0.0.1"}
    assert all(m["member_metadata"]["topics"] == [TOPIC] for m in members)
    owned = sorted(
        p
        for m in members
        for t in m["member_assignment"]["assigned_partitions"]
        for p in t["partitions"]
    )
    assert owned == [0, 1, 2, 3]
