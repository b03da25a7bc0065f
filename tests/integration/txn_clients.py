"""confluent-kafka helpers for the transaction tests: transactional producers, isolated reads.

Each helper blocks; the in-process tests run them with
L{tests.integration.harness.in_thread}, the process tests call them directly.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from kafkatwist.wire.batch import BatchHeader, iter_batches
from tests.brokers import log_of
from tests.integration.harness import RunningBroker

#: Kafka's record-batch attribute bits (DefaultRecordBatch): transactional, control.
TRANSACTIONAL = 0x10
CONTROL = 0x20

#: A fast group join for the consume-transform-produce loops.
QUICK_GROUPS = {"group.initial.rebalance.delay.ms": "0"}

READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"

Record = tuple[int, int, bytes | None, bytes | None]
"""C{(partition, offset, key, value)} of one consumed record."""


def txn_producer(bootstrap: str, transactional_id: str, **config: Any) -> Producer:
    """
    A librdkafka transactional producer, its C{init_transactions} done.

    @param config: librdkafka settings over the defaults (dots as underscores are not
        translated: pass them with C{**{"transaction.timeout.ms": 5000}}).
    """
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "linger.ms": 5,
            **config,
        }
    )
    producer.init_transactions(20)
    return producer


def produce_transaction(
    producer: Producer,
    topic: str,
    values: list[bytes],
    *,
    commit: bool,
    partition: int = 0,
) -> None:
    """One transaction of C{values} to C{topic}-C{partition}, committed or aborted."""
    producer.begin_transaction()
    for value in values:
        producer.produce(topic, value=value, partition=partition)
    assert producer.flush(15) == 0, "messages still queued"
    if commit:
        producer.commit_transaction(20)
    else:
        producer.abort_transaction(20)


def read_all(
    bootstrap: str,
    topic: str,
    partitions: int | list[int],
    isolation: str,
    timeout: float = 20,
    group: str = "kafkatwist-txn-reader",
) -> list[Record]:
    """
    Every record of C{topic}'s partitions from offset 0 up to the end the broker
    serves at C{isolation} (the last stable offset for read_committed, the high
    watermark for read_uncommitted), in partition then offset order.
    """
    numbers = list(range(partitions)) if isinstance(partitions, int) else partitions
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 50,
        }
    )
    got: list[Record] = []
    at_end: set[int] = set()
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in numbers])
        deadline = time.monotonic() + timeout
        while len(at_end) < len(numbers):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{isolation} read of {topic} did not reach the end of partitions "
                    f"{sorted(set(numbers) - at_end)} within {timeout} s; got {len(got)} records"
                )
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition() or 0)
                    continue
                raise KafkaException(error)
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            at_end.discard(partition)
            got.append((partition, offset, msg.key(), msg.value()))
    finally:
        consumer.close()
    return sorted(got, key=lambda r: (r[0], r[1]))


def values_of(records: list[Record]) -> list[bytes]:
    """The values of C{records}, which must not be null."""
    out = []
    for _, _, _, value in records:
        assert value is not None, "null value"
        out.append(value)
    return out


def end_offsets(
    bootstrap: str, topic: str, partitions: int, isolation: str
) -> list[tuple[int, int]]:
    """C{(low, high)} watermarks per partition as ListOffsets answers at C{isolation}."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "kafkatwist-txn-watermarks",
            "isolation.level": isolation,
        }
    )
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            for p in range(partitions)
        ]
    finally:
        consumer.close()


async def stored_batches(
    running: RunningBroker, topic: str, partition: int = 0
) -> list[BatchHeader]:
    """The batch headers of one partition's log, read in-process."""
    log = log_of(running.broker, topic, partition)
    data = b"".join(bytes(b) for b in (await log.read(0, 1 << 30)).buffers)
    return [header for _, header in iter_batches(data)]


async def create_topics(running: RunningBroker, *topics: tuple[str, int]) -> None:
    """Create each C{(name, partitions)} topic through the controller."""
    for name, partitions in topics:
        await running.broker.controller.create_topic(name, partitions)


def offsets_of(records: list[Record]) -> list[int]:
    """The offsets of C{records}."""
    return [offset for _, offset, _, _ in records]
