"""Log compaction seen by real clients: confluent-kafka writes, the cleaner runs, clients read.

confluent-kafka writes 100,000 updates over 1,000 keys (a tenth of them
deleted at the end by tombstones) to a compacted topic with small
segments; the broker's cleaner (backoff 100 ms) cleans it, also while it is
written; then confluent-kafka, kcat and kafka-python read the partition
from offset 0 and see exactly one record per live key, with its latest
value, and none for the deleted keys. Records of another key, each filling
most of a segment, roll the log so that every update is in an inactive
(cleanable) segment.

On the PostgreSQL engine (C{KAFKATWIST_TEST_STORAGE=postgresql}) the same
workload runs against L{kafkatwist.postgres.cleaner}: its active segment is
the leader's virtual one (rolled by C{segment.bytes} as a file is) and its
checkpoint is kept in PostgreSQL rather than in a file.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from kafkatwist.postgres.log import PgPartitionLog
from kafkatwist.storage.checkpoints import CLEANER_OFFSET_CHECKPOINT
from kafkatwist.storage.cleaner.service import RunningCleaner
from kafkatwist.storage.partition_log import PartitionLog
from tests.integration import confluent_clients as cc
from tests.integration.harness import (
    RunningBroker,
    in_thread,
    require_executable,
    run_process,
    wait_until,
)

KEYS = 1_000
UPDATES = 100_000
#: Every tenth key ends with a tombstone.
DELETED = {k for k in range(KEYS) if k % 10 == 3}
SEGMENT_BYTES = 65_536
#: Most of a segment (Kafka refuses a batch larger than segment.bytes): the
#: record that carries it starts a new segment after any other batch.
ROLL_VALUE = b"r" * (SEGMENT_BYTES - 4096)
#: The key of the records that roll the log (not one of the workload's).
ROLL_KEY = b"roll"

CLEANER_PROPERTIES = {
    "log.segment.bytes": str(SEGMENT_BYTES),
    "log.cleaner.backoff.ms": "100",
    "log.cleaner.dedupe.buffer.size": str(16 << 20),
}

TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "0",
}


def key_of(k: int) -> bytes:
    return b"key-%04d" % k


def value_of(k: int, i: int) -> bytes:
    return b"value-%04d-%06d" % (k, i)


def expected_state() -> dict[bytes, bytes]:
    """The latest value of every live key after the workload."""
    last_round = UPDATES // KEYS - 1
    return {key_of(k): value_of(k, last_round * KEYS + k) for k in range(KEYS) if k not in DELETED}


def write_workload(bootstrap: str, topic: str) -> None:
    """100,000 updates, round after round over the 1,000 keys; tombstones last for DELETED."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 500})
    last_round = UPDATES // KEYS - 1
    for i in range(UPDATES):
        k = i % KEYS
        deleted = i // KEYS == last_round and k in DELETED
        producer.produce(
            topic, key=key_of(k), value=None if deleted else value_of(k, i), partition=0
        )
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def roll(bootstrap: str, topic: str) -> None:
    """One record of most of a segment: it starts a new segment unless the active one is tiny."""
    errors: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(
        topic,
        key=ROLL_KEY,
        value=ROLL_VALUE,
        partition=0,
        on_delivery=lambda err, msg: errors.append(err) if err is not None else None,
    )
    assert producer.flush(15) == 0
    assert errors == []


CompactedLog = PartitionLog | PgPartitionLog


def partition_log(broker: RunningBroker, topic: str) -> CompactedLog:
    log = broker.service.broker.logs.get(topic, 0)
    assert isinstance(log, PartitionLog | PgPartitionLog)
    return log


def active_base(log: CompactedLog) -> int:
    """Where the active segment starts: the cleaner cleans below it."""
    if isinstance(log, PgPartitionLog):
        return log.active_segment_base
    return log.segments[-1].base_offset


def state_of(records: list[tuple[bytes | None, bytes | None]]) -> dict[bytes, list[bytes | None]]:
    """Every value seen per workload key, in offset order."""
    seen: dict[bytes, list[bytes | None]] = {}
    for key, value in records:
        if key is not None and key != ROLL_KEY:
            seen.setdefault(key, []).append(value)
    return seen


def check_compacted(records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Exactly one record per live key, its latest value; none for deleted keys."""
    seen = state_of(records)
    assert {k: v for k, v in seen.items() if v != [None]} == {
        k: [v] for k, v in expected_state().items()
    }
    assert not any(key_of(k) in seen for k in DELETED), "a deleted key is still there"


async def cleaned_up_to(cleaner: RunningCleaner, log: CompactedLog) -> None:
    """Wait until a pass has cleaned C{log} up to its active segment."""
    active = active_base(log)

    def done() -> bool:
        checkpoint = cleaner.checkpoint_of(log.topic, log.partition)
        return checkpoint is not None and checkpoint >= active and not cleaner.passes

    await wait_until(done)


async def compacted(broker: RunningBroker, topic: str) -> CompactedLog:
    """Create, fill, roll and let the cleaner clean C{topic} twice (tombstones go at the second)."""
    created = await in_thread(
        cc.create, broker.bootstrap, NewTopic(topic, 1, 1, config=TOPIC_CONFIGS)
    )
    assert created == {topic: 0}
    await in_thread(write_workload, broker.bootstrap, topic, timeout=60)
    log = partition_log(broker, topic)
    cleaner = broker.service.cleaner
    assert cleaner is not None
    # Passes ran while the workload was written; the first after the roll sees it all,
    # keeps the tombstones and gives their batches a delete horizon (now + 0 ms).
    while active_base(log) < UPDATES:
        await in_thread(roll, broker.bootstrap, topic)
    await cleaned_up_to(cleaner, log)
    # Another roll makes the log dirty again: the next pass drops the tombstones,
    # whose delete horizon has passed.
    active = active_base(log)
    while active_base(log) == active:
        await in_thread(roll, broker.bootstrap, topic)
    await cleaned_up_to(cleaner, log)
    # A tenth of the keys and values written (2.5 MB), roll records included.
    written = sum(len(key_of(i % KEYS)) + len(value_of(i % KEYS, i)) for i in range(UPDATES))
    assert log.size_in_bytes < written / 10, (written, log.size_in_bytes)
    return log


def confluent_read(bootstrap: str, topic: str, end: int) -> list[tuple[bytes | None, bytes | None]]:
    messages = cc.consume(bootstrap, [(topic, 0, 0)], count=10**9, timeout=8)
    return [(m.key(), m.value()) for m in messages if (m.offset() or 0) < end]


def log_dir_sizes(bootstrap: str, topic: str) -> Any:
    """DescribeLogDirs through kafka-python's admin client, for C{topic}."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return admin.describe_log_dirs({topic: [0]})
    finally:
        admin.close()


def kafka_python_read(bootstrap: str, topic: str, end: int) -> list[tuple[Any, Any]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got: list[tuple[Any, Any]] = []
        deadline = time.monotonic() + 20
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend((r.key, r.value) for r in records)
        return got
    finally:
        consumer.close()


@pytest.mark.broker_properties(CLEANER_PROPERTIES)
@pytest_twisted.ensureDeferred
async def test_compacted_topic_read_by_three_clients(
    broker: RunningBroker, topic_name: str
) -> None:
    """After cleaning, confluent-kafka, kafka-python and kcat see one record per live key."""
    log = await compacted(broker, topic_name)
    end = log.log_end_offset
    records = await in_thread(confluent_read, broker.bootstrap, topic_name, end, timeout=30)
    check_compacted(records)
    offsets = [m for m in records]
    assert len(offsets) < KEYS + 10
    check_compacted(await in_thread(kafka_python_read, broker.bootstrap, topic_name, end))
    kcat = require_executable("kcat", "apt-get install kcat")
    result = (
        await run_process(
            [
                kcat,
                "-b",
                broker.bootstrap,
                "-C",
                "-e",
                "-o",
                "0",
                "-t",
                topic_name,
                "-Z",
                "-f",
                "%k\\t%s\\n",
            ],
            timeout=30,
        )
    ).check()
    lines = [line.split(b"\t", 1) for line in result.stdout.split(b"\n") if line]
    check_compacted([(k or None, None if v == b"" else v) for k, v in lines if k != ROLL_KEY])
    if isinstance(log, PartitionLog):  # the PostgreSQL engine has no log dir to describe
        [described] = await in_thread(log_dir_sizes, broker.bootstrap, topic_name)
        [log_dir] = described["log_dirs"]
        [partition] = log_dir["topics"][0]["partitions"]
        assert partition["partition_size"] == log.size_in_bytes  # DescribeLogDirs: cleaned size
    # The checkpoint says where the next pass starts: the active segment.
    cleaner = broker.service.cleaner
    assert cleaner is not None and cleaner.checkpoint_of(topic_name, 0) == active_base(log)
    if isinstance(log, PartitionLog):  # the file engine keeps it in a file
        with open(f"{broker.log_dir}/{CLEANER_OFFSET_CHECKPOINT}") as f:
            assert f"{topic_name} 0 {log.segments[-1].base_offset}" in f.read()
