"""Transactional confluent-kafka (librdkafka) and kcat against an in-process broker (issue 11).

confluent-kafka runs in threads, kcat as a process. Every expectation is Kafka's
(KIP-98, KIP-447): aborted records are invisible to read_committed and visible to
read_uncommitted, each transaction ends with one control batch per partition,
an open transaction holds the last stable offset, transactional offsets become
visible on commit only, a second producer with the same transactional id fences
the first, and a transaction left open past its timeout is aborted by the
coordinator. kafka-python, aiokafka, kafkajs and the Java client are in
test_transactions_other_clients.py.
"""

from __future__ import annotations

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

from tests.brokers import log_of
from tests.integration import confluent_clients as cc
from tests.integration.harness import RunningBroker, in_thread
from tests.integration.test_kcat import json_lines, kcat
from tests.integration.txn_clients import (
    CONTROL,
    QUICK_GROUPS,
    READ_COMMITTED,
    READ_UNCOMMITTED,
    TRANSACTIONAL,
    create_topics,
    end_offsets,
    offsets_of,
    produce_transaction,
    read_all,
    stored_batches,
    txn_producer,
    values_of,
)

# --- confluent-kafka --------------------------------------------------------------------------


def commit_abort_commit(bootstrap: str, topic: str) -> None:
    """Three transactions of five records: committed, aborted, committed."""
    producer = txn_producer(bootstrap, f"{topic}-txn")
    produce_transaction(producer, topic, [b"c%d" % i for i in range(5)], commit=True)
    produce_transaction(producer, topic, [b"a%d" % i for i in range(5)], commit=False)
    produce_transaction(producer, topic, [b"c%d" % i for i in range(5, 10)], commit=True)


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


# --- kcat ---------------------------------------------------------------------------------------


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
