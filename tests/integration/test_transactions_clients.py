"""Transactional real clients against an in-process broker on loopback (issue 11).

confluent-kafka (librdkafka), kafka-python and aiokafka run in threads, kcat and
kafkajs as processes, the official Java client 4.3 (transaction version 2) as a
JVM program compiled by the test. Every expectation is Kafka's (KIP-98, KIP-447,
KIP-890): aborted records are invisible to read_committed and visible to
read_uncommitted, each transaction ends with one control batch per partition,
transactional offsets become visible on commit only, a second producer with the
same transactional id fences the first, and a transaction left open past its
timeout is aborted by the coordinator.

Until the transaction APIs are registered these tests run and must fail (see
L{expect_failure_until}); then they must pass.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from kafkatwist.wire.batch import iter_batches
from tests.brokers import log_of
from tests.integration import confluent_clients as cc
from tests.integration import java_client
from tests.integration.harness import (
    RunningBroker,
    expect_failure_until,
    in_thread,
    require_executable,
    run_process,
)
from tests.integration.test_aiokafka import run_asyncio
from tests.integration.test_kafkajs import NODE_DIR
from tests.integration.test_kcat import json_lines, kcat
from tests.integration.txn_clients import (
    READ_COMMITTED,
    READ_UNCOMMITTED,
    TXN_APIS,
    end_offsets,
    produce_transaction,
    read_all,
    txn_producer,
    values_of,
)

#: Kafka's record-batch attribute bits (DefaultRecordBatch): transactional, control.
TRANSACTIONAL = 0x10
CONTROL = 0x20

needs_transactions = expect_failure_until(*TXN_APIS, why="transactions (issue 11)")

#: A fast group join for the consume-transform-produce loops.
QUICK_GROUPS = {"group.initial.rebalance.delay.ms": "0"}


async def stored_batches(running: RunningBroker, topic: str, partition: int = 0) -> list[Any]:
    """The batch headers of one partition's log, read in-process."""
    log = log_of(running.broker, topic, partition)
    data = b"".join(bytes(b) for b in (await log.read(0, 1 << 30)).buffers)
    return [header for _, header in iter_batches(data)]


async def create_topics(running: RunningBroker, *topics: tuple[str, int]) -> None:
    """Create each C{(name, partitions)} topic through the controller."""
    for name, partitions in topics:
        await running.broker.controller.create_topic(name, partitions)


def offsets_of(records: list[tuple[int, int, bytes | None, bytes | None]]) -> list[int]:
    return [offset for _, offset, _, _ in records]


# --- confluent-kafka --------------------------------------------------------------------------


def commit_abort_commit(bootstrap: str, topic: str) -> None:
    """Three transactions of five records: committed, aborted, committed."""
    producer = txn_producer(bootstrap, f"{topic}-txn")
    produce_transaction(producer, topic, [b"c%d" % i for i in range(5)], commit=True)
    produce_transaction(producer, topic, [b"a%d" % i for i in range(5)], commit=False)
    produce_transaction(producer, topic, [b"c%d" % i for i in range(5, 10)], commit=True)


@needs_transactions
@pytest_twisted.ensureDeferred
async def test_confluent_commit_and_abort(broker: RunningBroker, topic_name: str) -> None:
    """
    Committed records are seen by both isolation levels, aborted ones by read_uncommitted only,
    and each transaction ends with one control batch (offsets 5, 11, 17).
    """
    await create_topics(broker, (topic_name, 1))
    await in_thread(commit_abort_commit, broker.bootstrap, topic_name)

    committed = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_COMMITTED)
    uncommitted = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_UNCOMMITTED)
    assert values_of(committed) == [b"c%d" % i for i in range(10)]
    assert offsets_of(committed) == [*range(0, 5), *range(12, 17)]
    assert values_of(uncommitted) == [
        *(b"c%d" % i for i in range(5)),
        *(b"a%d" % i for i in range(5)),
        *(b"c%d" % i for i in range(5, 10)),
    ]
    assert offsets_of(uncommitted) == [*range(0, 5), *range(6, 11), *range(12, 17)]

    headers = await stored_batches(broker, topic_name)
    markers = [h for h in headers if h.attributes & CONTROL]
    assert [h.base_offset for h in markers] == [5, 11, 17]
    assert all(h.attributes & TRANSACTIONAL and h.records_count == 1 for h in markers)
    data = [h for h in headers if not h.attributes & CONTROL]
    assert all(h.attributes & TRANSACTIONAL for h in data)
    assert len({h.producer_id for h in headers}) == 1
    ends = await in_thread(end_offsets, broker.bootstrap, topic_name, 1, READ_COMMITTED)
    assert ends == [(0, 18)]
    assert log_of(broker.broker, topic_name, 0).last_stable_offset == 18


def open_transaction_then_commit(bootstrap: str, topic: str) -> dict[str, Any]:
    """Leave a transaction open, look at both isolation levels, then commit it and look again."""
    producer = txn_producer(bootstrap, f"{topic}-txn")
    produce_transaction(producer, topic, [b"x0", b"x1", b"x2"], commit=True)
    producer.begin_transaction()
    for value in (b"y0", b"y1", b"y2"):
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(15) == 0
    out: dict[str, Any] = {
        "open_committed_end": end_offsets(bootstrap, topic, 1, READ_COMMITTED),
        "open_uncommitted_end": end_offsets(bootstrap, topic, 1, READ_UNCOMMITTED),
        "open_committed": values_of(read_all(bootstrap, topic, 1, READ_COMMITTED)),
        "open_uncommitted": values_of(read_all(bootstrap, topic, 1, READ_UNCOMMITTED)),
    }
    producer.commit_transaction(20)
    out["committed_end"] = end_offsets(bootstrap, topic, 1, READ_COMMITTED)
    out["committed"] = values_of(read_all(bootstrap, topic, 1, READ_COMMITTED))
    return out


@needs_transactions
@pytest_twisted.ensureDeferred
async def test_confluent_open_transaction_holds_back_read_committed(
    broker: RunningBroker, topic_name: str
) -> None:
    """
    An open transaction holds the last stable offset at its first record: ListOffsets and
    read_committed fetches stop there, read_uncommitted goes on to the high watermark.
    """
    await create_topics(broker, (topic_name, 1))
    out = await in_thread(open_transaction_then_commit, broker.bootstrap, topic_name, timeout=60)
    assert out["open_committed_end"] == [(0, 4)]
    assert out["open_uncommitted_end"] == [(0, 7)]
    assert out["open_committed"] == [b"x0", b"x1", b"x2"]
    assert out["open_uncommitted"] == [b"x0", b"x1", b"x2", b"y0", b"y1", b"y2"]
    assert out["committed_end"] == [(0, 8)]
    assert out["committed"] == [b"x0", b"x1", b"x2", b"y0", b"y1", b"y2"]


def group_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets (OffsetFetch, require_stable=false): -1001 when none."""
    client = cc.admin(bootstrap)
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p) for p in range(partitions)]
    )
    futures = client.list_consumer_group_offsets([request], require_stable=False)
    answer = futures[group].result(10)
    return {tp.partition: tp.offset for tp in answer.topic_partitions}


def poll_batch(consumer: Consumer, size: int, timeout: float = 20) -> list[Message]:
    """The next (non-empty) batch of at most C{size} records."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = consumer.consume(size, timeout=0.5)
        for msg in msgs:
            if msg.error() is not None:
                raise KafkaException(msg.error())
        if msgs:
            return msgs
    raise AssertionError(f"no records within {timeout} s")


def transformed(value: bytes | None) -> bytes:
    assert value is not None
    return b"out-" + value


def consume_transform_produce(
    bootstrap: str, source: str, sink: str, group: str, total: int
) -> dict[str, Any]:
    """
    The exactly-once loop: read_committed group consumer, transactional producer,
    C{send_offsets_to_transaction}. Its first transaction is aborted and re-done.

    @return: the group's committed offsets seen around each transaction.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "isolation.level": READ_COMMITTED,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = txn_producer(bootstrap, f"{group}-txn")
    history: list[tuple[dict[int, int], dict[int, int], dict[int, int]]] = []
    aborted: dict[str, Any] = {}
    try:
        consumer.subscribe([source])
        done = 0
        first = True
        while done < total:
            batch = poll_batch(consumer, 10)
            producer.begin_transaction()
            for msg in batch:
                producer.produce(sink, value=transformed(msg.value()), key=msg.key())
            positions = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 20)
            pending = group_offsets(bootstrap, group, source, 2)
            if first:
                # Abort, check nothing was committed, and rewind to the batch's start.
                producer.abort_transaction(20)
                aborted = {"pending": pending, "after": group_offsets(bootstrap, group, source, 2)}
                starts: dict[int, int] = {}
                for msg in batch:
                    partition, offset = msg.partition(), msg.offset()
                    assert partition is not None and offset is not None
                    starts.setdefault(partition, offset)
                for partition, offset in starts.items():
                    consumer.seek(TopicPartition(source, partition, offset))
                first = False
                continue
            producer.commit_transaction(20)
            done += len(batch)
            after = group_offsets(bootstrap, group, source, 2)
            history.append((pending, after, {tp.partition: tp.offset for tp in positions}))
    finally:
        consumer.close()
    return {"aborted": aborted, "history": history}


@needs_transactions
@pytest.mark.broker_properties(QUICK_GROUPS)
@pytest_twisted.ensureDeferred
async def test_confluent_consume_transform_produce(broker: RunningBroker, topic_name: str) -> None:
    """
    send_offsets_to_transaction: the offsets become the group's committed offsets on commit only,
    and the output holds every input exactly once for read_committed (the aborted try included
    for read_uncommitted).
    """
    source, sink, group = f"{topic_name}-in", f"{topic_name}-out", f"{topic_name}-group"
    await create_topics(broker, (source, 2), (sink, 3))
    inputs = [{"value": b"v%03d" % i, "key": b"k%d" % i, "partition": i % 2} for i in range(60)]
    reports = await in_thread(cc.produce, broker.bootstrap, source, inputs)
    assert all(err is None for err, _, _ in reports)
    out = await in_thread(
        consume_transform_produce, broker.bootstrap, source, sink, group, 60, timeout=90
    )

    unset = {0: -1001, 1: -1001}
    assert out["aborted"] == {"pending": unset, "after": unset}
    previous = unset
    for pending, after, positions in out["history"]:
        assert pending == previous, "offsets visible before the commit"
        assert after == {**previous, **positions}, "offsets not visible after the commit"
        previous = after
    assert previous == {0: 30, 1: 30}

    committed = await in_thread(read_all, broker.bootstrap, sink, 3, READ_COMMITTED)
    assert sorted(values_of(committed)) == sorted(b"out-v%03d" % i for i in range(60))
    uncommitted = await in_thread(read_all, broker.bootstrap, sink, 3, READ_UNCOMMITTED)
    assert len(uncommitted) > len(committed)
    assert set(values_of(uncommitted)) == set(values_of(committed))


def fenced(bootstrap: str, topic: str) -> dict[str, Any]:
    """Two producers with one transactional id: the second's init fences the first."""
    tid = f"{topic}-shared"
    first = txn_producer(bootstrap, tid)
    first.begin_transaction()
    first.produce(topic, value=b"zombie", partition=0)
    assert first.flush(15) == 0
    second = txn_producer(bootstrap, tid)
    produce_transaction(second, topic, [b"live"], commit=True)
    try:
        first.commit_transaction(20)
    except KafkaException as e:
        error: KafkaError = e.args[0]
        return {"code": error.code(), "fatal": error.fatal(), "name": error.name()}
    return {"code": 0, "fatal": False, "name": "committed"}


@needs_transactions
@pytest_twisted.ensureDeferred
async def test_confluent_second_producer_fences_the_first(
    broker: RunningBroker, topic_name: str
) -> None:
    """
    InitProducerId for a transactional id in use aborts the open transaction and bumps the
    epoch: the older producer's commit fails with a fatal fenced error, its record stays invisible.
    """
    await create_topics(broker, (topic_name, 1))
    out = await in_thread(fenced, broker.bootstrap, topic_name, timeout=60)
    assert out["fatal"] is True, out
    assert out["code"] in {
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError._FENCED,
    }, out
    committed = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_COMMITTED)
    assert values_of(committed) == [b"live"]
    uncommitted = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_UNCOMMITTED)
    assert values_of(uncommitted) == [b"zombie", b"live"]
    epochs = [h.producer_epoch for h in await stored_batches(broker, topic_name)]
    assert epochs == sorted(epochs) and epochs[0] < epochs[-1], epochs


def left_open(bootstrap: str, topic: str) -> dict[str, Any]:
    """Open a transaction with a 2 s timeout and wait until the coordinator has aborted it."""
    tid = f"{topic}-slow"
    producer = txn_producer(bootstrap, tid, **{"transaction.timeout.ms": 2000})
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, value=b"late%d" % i, partition=0)
    assert producer.flush(15) == 0
    started = time.monotonic()
    stable = end_offsets(bootstrap, topic, 1, READ_COMMITTED)
    while stable != [(0, 4)] and time.monotonic() - started < 20:
        time.sleep(0.2)
        stable = end_offsets(bootstrap, topic, 1, READ_COMMITTED)
    out: dict[str, Any] = {"stable": stable, "waited": time.monotonic() - started}
    try:
        producer.commit_transaction(10)
        out["commit"] = "committed"
    except KafkaException as e:
        out["commit"] = e.args[0].name()
    successor = txn_producer(bootstrap, tid, **{"transaction.timeout.ms": 2000})
    produce_transaction(successor, topic, [b"next"], commit=True)
    return out


@needs_transactions
@pytest.mark.broker_properties(
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"}
)
@pytest_twisted.ensureDeferred
async def test_confluent_transaction_timeout_aborts(broker: RunningBroker, topic_name: str) -> None:
    """
    A transaction left open past transaction.timeout.ms is aborted by the coordinator: an abort
    marker moves the last stable offset past it, the late commit fails, a successor commits.
    """
    await create_topics(broker, (topic_name, 1))
    out = await in_thread(left_open, broker.bootstrap, topic_name, timeout=60)
    assert out["stable"] == [(0, 4)], out  # 3 records and the abort marker
    assert 1.0 < out["waited"] < 10, out
    assert out["commit"] != "committed", out
    committed = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_COMMITTED)
    assert values_of(committed) == [b"next"]
    uncommitted = await in_thread(read_all, broker.bootstrap, topic_name, 1, READ_UNCOMMITTED)
    assert values_of(uncommitted) == [b"late0", b"late1", b"late2", b"next"]
    markers = [h for h in await stored_batches(broker, topic_name) if h.attributes & CONTROL]
    assert [h.base_offset for h in markers] == [3, 5]


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


@needs_transactions
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


@needs_transactions
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


@expect_failure_until(27, 61, 65, 66, why="the KIP-664 transaction admin APIs (issue 11)")
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


# --- kcat ---------------------------------------------------------------------------------------


@needs_transactions
@pytest_twisted.ensureDeferred
async def test_kcat_isolation_levels(broker: RunningBroker, topic_name: str) -> None:
    """kcat -X isolation.level=read_committed skips the aborted records and the markers."""
    await create_topics(broker, (topic_name, 1))
    await in_thread(commit_abort_commit, broker.bootstrap, topic_name)
    seen = {}
    for isolation in (READ_COMMITTED, READ_UNCOMMITTED):
        result = await kcat(
            broker,
            "-C",
            "-e",
            "-o",
            "0",
            "-J",
            "-t",
            topic_name,
            "-X",
            f"isolation.level={isolation}",
        )
        seen[isolation] = [(m["offset"], m["payload"]) for m in json_lines(result.check().stdout)]
    committed = [f"c{i}" for i in range(10)]
    assert seen[READ_COMMITTED] == list(zip([*range(5), *range(12, 17)], committed, strict=True))
    assert seen[READ_UNCOMMITTED] == list(
        zip(
            [*range(5), *range(6, 11), *range(12, 17)],
            [*committed[:5], *(f"a{i}" for i in range(5)), *committed[5:]],
            strict=True,
        )
    )


# --- kafkajs ------------------------------------------------------------------------------------


@needs_transactions
@pytest.mark.broker_properties(QUICK_GROUPS)
@pytest_twisted.ensureDeferred
async def test_kafkajs_transactions(broker: RunningBroker, topic_name: str) -> None:
    """kafkajs transactions with sendOffsets: aborted writes and offsets never show up."""
    node = require_executable("node", "install Node.js (Debian package nodejs)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kafkajs")):
        raise AssertionError(f"kafkajs is not installed: run `npm ci` in {NODE_DIR} (test.sh does)")
    script = os.path.join(NODE_DIR, "kafkajs_transactions.js")
    result = await run_process(
        [node, script, broker.bootstrap, topic_name],
        env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"),
        cwd=NODE_DIR,
        timeout=60,
    )
    out = json.loads(result.check().stdout.decode().strip().splitlines()[-1])
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
    javac = require_executable(
        "javac", "run ./test.sh as root (it installs openjdk-17-jdk-headless with apt-get)"
    )
    java = require_executable("java", "install openjdk-17-jdk-headless")
    libs = java_client.libs_dir()
    jars = await in_thread(java_client.install, libs, timeout=300)
    compiled = await run_process(
        [javac, "-Xlint:all", "-Werror", "-cp", os.pathsep.join(jars), "-d", classes, JAVA_SOURCE],
        timeout=60,
    )
    compiled.check()
    result = await run_process(
        [java, "-cp", os.pathsep.join([classes, *jars]), "TxnProducer", running.bootstrap, topic],
        timeout=90,
    )
    return [line.split() for line in result.check().stdout.decode().splitlines()]


@needs_transactions
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
