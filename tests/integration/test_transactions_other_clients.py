"""Transactional kafka-python, aiokafka, kafkajs and the Java client 4.3 (issue 11).

Against an in-process broker on loopback: kafka-python and aiokafka run in
threads, kafkajs (node/kafkajs_transactions.js) and the official Java client
(java/TxnProducer.java, compiled by the test with javac; jars from
L{tests.integration.java_client}) as processes. The Java client 4.x runs
transaction version 2 (KIP-890) when the broker finalizes transaction.version 2.
kafka-python's KIP-664 admin calls look at an open transaction and abort it on
one partition. Strict xfails until the APIs they need are registered.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import pytest_twisted

from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_java,
    run_kafkajs,
)
from tests.integration.test_aiokafka import run_asyncio
from tests.integration.txn_clients import (
    CONTROL,
    QUICK_GROUPS,
    READ_COMMITTED,
    READ_UNCOMMITTED,
    create_topics,
    end_offsets,
    read_all,
    stored_batches,
    txn_producer,
    values_of,
)

# --- kafka-python and aiokafka ----------------------------------------------------------------

COMMITTED_VALUES = [b"k0", b"k1", b"k2", b"k3", b"k4", b"k5"]
ABORTED_VALUES = [b"a0", b"a1", b"a2"]


def kafka_python_transactions(bootstrap: str, topic: str) -> list[tuple[int, bytes]]:
    """kafka-python: commit k0-k2, abort a0-a2, commit k3-k5; read back read_committed."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KafkaTopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-kp")
    try:
        producer.init_transactions()
        for values, commit in (
            (COMMITTED_VALUES[:3], True),
            (ABORTED_VALUES, False),
            (COMMITTED_VALUES[3:], True),
        ):
            producer.begin_transaction()
            for value in values:
                producer.send(topic, value=value, partition=0)
            producer.flush(10)
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
    finally:
        producer.close(5)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=READ_COMMITTED,
    )
    try:
        tp = KafkaTopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + 15
        while len(got) < len(COMMITTED_VALUES) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                got.extend((r.offset, r.value) for r in records)
        return got
    finally:
        consumer.close()


@pytest_twisted.ensureDeferred
async def test_kafka_python_transactional_producer(broker: RunningBroker, topic_name: str) -> None:
    """kafka-python's transactional producer commits and aborts; read_committed agrees."""
    await create_topics(broker, (topic_name, 1))
    got = await in_thread(kafka_python_transactions, broker.bootstrap, topic_name, timeout=60)
    assert got == [(o, v) for o, v in zip([0, 1, 2, 8, 9, 10], COMMITTED_VALUES, strict=True)]
    uncommitted = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_UNCOMMITTED)
    assert values_of(uncommitted) == [*COMMITTED_VALUES[:3], *ABORTED_VALUES, *COMMITTED_VALUES[3:]]


async def aiokafka_transactions(bootstrap: str, topic: str) -> list[tuple[int, bytes | None]]:
    """aiokafka: commit k0-k2, abort a0-a2, commit k3-k5; read back read_committed."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka import TopicPartition as AioTopicPartition

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-aio")
    await producer.start()
    try:
        async with producer.transaction():
            for value in COMMITTED_VALUES[:3]:
                await producer.send_and_wait(topic, value=value, partition=0)
        await producer.begin_transaction()
        for value in ABORTED_VALUES:
            await producer.send_and_wait(topic, value=value, partition=0)
        await producer.abort_transaction()
        async with producer.transaction():
            for value in COMMITTED_VALUES[3:]:
                await producer.send_and_wait(topic, value=value, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=READ_COMMITTED
    )
    await consumer.start()
    try:
        tp = AioTopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got: list[tuple[int, bytes | None]] = []
        while len(got) < len(COMMITTED_VALUES):
            for records in (await consumer.getmany(timeout_ms=300)).values():
                got.extend((r.offset, r.value) for r in records)
        return got
    finally:
        await consumer.stop()


@pytest_twisted.ensureDeferred
async def test_aiokafka_transactional_producer(broker: RunningBroker, topic_name: str) -> None:
    """aiokafka's transactional producer commits and aborts; its read_committed consumer agrees."""
    await create_topics(broker, (topic_name, 1))
    got = await run_asyncio(lambda: aiokafka_transactions(broker.bootstrap, topic_name), 40)
    assert got == [(o, v) for o, v in zip([0, 1, 2, 8, 9, 10], COMMITTED_VALUES, strict=True)]
    uncommitted = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_UNCOMMITTED)
    assert values_of(uncommitted) == [*COMMITTED_VALUES[:3], *ABORTED_VALUES, *COMMITTED_VALUES[3:]]


def inspect_and_abort(bootstrap: str, topic: str) -> dict[str, Any]:
    """
    Leave a transaction open over two partitions, look at it with kafka-python's KIP-664
    admin calls, abort it on partition 0 only (WriteTxnMarkers), then commit it.
    """
    from kafka import TopicPartition as KafkaTopicPartition
    from kafka.admin import AbortTransactionSpec, KafkaAdminClient

    tid = f"{topic}-hanging"
    producer = txn_producer(bootstrap, tid, **{"transaction.timeout.ms": 60000})
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, value=b"p0-%d" % i, partition=0)
    for i in range(2):
        producer.produce(topic, value=b"p1-%d" % i, partition=1)
    assert producer.flush(15) == 0
    tps = [KafkaTopicPartition(topic, 0), KafkaTopicPartition(topic, 1)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        out: dict[str, Any] = {
            "listed": [
                (t.transactional_id, t.state.value)
                for listings in admin.list_transactions().values()
                for t in listings
            ],
            "described": admin.describe_transactions([tid])[tid],
            "producers": admin.describe_producers(tps),
        }
        [state] = out["producers"][tps[0]].active_producers
        admin.abort_transaction(
            AbortTransactionSpec(
                tps[0], state.producer_id, state.producer_epoch, state.coordinator_epoch
            )
        )
        out["after_abort_stable"] = end_offsets(bootstrap, topic, 2, READ_COMMITTED)
        out["after_abort_producers"] = admin.describe_producers(tps)
    finally:
        admin.close()
    producer.commit_transaction(20)
    out["committed"] = values_of(read_all(bootstrap, topic, 2, READ_COMMITTED))
    out["uncommitted"] = values_of(read_all(bootstrap, topic, 2, READ_UNCOMMITTED))
    return out


@pytest_twisted.ensureDeferred
async def test_kafka_python_transaction_admin(broker: RunningBroker, topic_name: str) -> None:
    """
    ListTransactions, DescribeTransactions and DescribeProducers show an open transaction;
    an admin abort (WriteTxnMarkers) on one partition ends it there and moves that LSO only.
    """
    await create_topics(broker, (topic_name, 2))
    out = await in_thread(inspect_and_abort, broker.bootstrap, topic_name, timeout=60)
    tid = f"{topic_name}-hanging"
    assert (tid, "Ongoing") in out["listed"]
    described = out["described"]
    assert described.state.value == "Ongoing"
    assert described.transaction_timeout_ms == 60000
    assert described.transaction_start_time_ms > 0
    assert {(tp.topic, tp.partition) for tp in described.topic_partitions} == {
        (topic_name, 0),
        (topic_name, 1),
    }
    starts = {
        tp.partition: [
            (p.producer_id, p.producer_epoch, p.current_transaction_start_offset)
            for p in state.active_producers
        ]
        for tp, state in out["producers"].items()
    }
    ids = (described.producer_id, described.producer_epoch)
    assert starts == {0: [(*ids, 0)], 1: [(*ids, 0)]}
    # Partition 0: three records and the admin's abort marker; partition 1 still open.
    assert out["after_abort_stable"] == [(0, 4), (0, 0)]
    after = {
        tp.partition: [p.current_transaction_start_offset for p in state.active_producers]
        for tp, state in out["after_abort_producers"].items()
    }
    assert after == {0: [-1], 1: [0]}
    # The commit that follows writes its markers to both partitions; partition 0's
    # records stay aborted.
    assert out["committed"] == [b"p1-0", b"p1-1"]
    assert out["uncommitted"] == [b"p0-0", b"p0-1", b"p0-2", b"p1-0", b"p1-1"]


# --- kafkajs ------------------------------------------------------------------------------------


@pytest.mark.broker_properties(QUICK_GROUPS)
@pytest_twisted.ensureDeferred
async def test_kafkajs_transactions(broker: RunningBroker, topic_name: str) -> None:
    """kafkajs transactions with sendOffsets: aborted writes and offsets never show up."""
    args = [broker.bootstrap, topic_name]
    out = await run_kafkajs("kafkajs_transactions.js", args, timeout=60)
    assert out["offsets"] == [{"partition": 0, "offset": "7"}, {"partition": 1, "offset": "-1"}]
    assert out["received"] == [
        {"partition": 0, "offset": "0", "value": "c0"},
        {"partition": 0, "offset": "4", "value": "c2"},
        {"partition": 1, "offset": "0", "value": "c1"},
        {"partition": 1, "offset": "4", "value": "c3"},
    ]
    uncommitted = await in_thread(read_all, broker.bootstrap, topic_name, 2, READ_UNCOMMITTED)
    assert values_of(uncommitted) == [b"c0", b"a0", b"c2", b"c1", b"a1", b"c3"]


# --- the Java client 4.3: transaction version 2 -------------------------------------------------

JAVA_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java", "TxnProducer.java")


async def run_java_client(running: RunningBroker, topic: str, classes: str) -> list[list[str]]:
    """Compile TxnProducer.java into C{classes}, run it; its output lines, split."""
    lines = await run_java("TxnProducer", [running.bootstrap, topic], classes, timeout=90)
    return [line.split() for line in lines]


@pytest_twisted.ensureDeferred
async def test_java_client_transaction_version_2(
    broker: RunningBroker, topic_name: str, tmp_path: Any
) -> None:
    """
    kafka-clients 4.3 runs transactions with version 2 (KIP-890): every transaction has a new
    producer epoch, partitions join through Produce; read_committed and offsets are Kafka's.
    """
    await create_topics(broker, (topic_name, 2))
    lines = await run_java_client(broker, topic_name, str(tmp_path / "classes"))
    records = {
        isolation: [
            (int(p), int(o), v)
            for kind, iso, p, o, v in lines_of(lines, "RECORD")
            if iso == isolation
        ]
        for isolation in (READ_COMMITTED, READ_UNCOMMITTED)
    }
    committed = [
        *((0, i, f"commit-{i}") for i in range(5)),
        (0, 12, "commit-5"),
        (0, 13, "commit-7"),
        (1, 0, "commit-6"),
        (1, 2, "commit-8"),
    ]
    aborted = [(0, 6 + i, f"abort-{i}") for i in range(5)]
    assert sorted(records[READ_COMMITTED]) == committed
    assert sorted(records[READ_UNCOMMITTED]) == sorted(committed + aborted)
    ends = {(iso, int(p)): int(o) for _, iso, p, o in lines_of(lines, "END")}
    assert ends == {
        (iso, p): e for iso in (READ_COMMITTED, READ_UNCOMMITTED) for p, e in ((0, 15), (1, 4))
    }
    assert {int(p): int(o) for _, p, o in lines_of(lines, "COMMITTED")} == {0: 3, 1: -1}

    # Transaction version 2: the epoch is bumped by every EndTxn, so each transaction's
    # records carry a new epoch (with version 1 they would all share one).
    headers = await stored_batches(broker, topic_name, 0)
    data_epochs = [h.producer_epoch for h in headers if not h.attributes & CONTROL]
    by_offset = {h.base_offset: h.producer_epoch for h in headers if not h.attributes & CONTROL}
    assert data_epochs == sorted(data_epochs)
    assert by_offset[0] < by_offset[6] < by_offset[12], by_offset


def lines_of(lines: list[list[str]], kind: str) -> list[list[str]]:
    """The output lines starting with C{kind}."""
    return [line for line in lines if line and line[0] == kind]
