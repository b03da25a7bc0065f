"""Blocking confluent-kafka helpers for the cluster tests: topics, produce with receipts, read all.

Every helper retries what Kafka calls retriable until its deadline (a
cluster that just lost a broker answers NOT_LEADER_OR_FOLLOWER,
LEADER_NOT_AVAILABLE or COORDINATOR_NOT_AVAILABLE for a few seconds), and
raises an AssertionError naming what it waited for otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from attrs import define, field, frozen
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

# confluent_kafka.admin re-exports NewTopic without marking it (upstream typing gap).
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

#: librdkafka's "end of partition" event code (enable.partition.eof).
PARTITION_EOF = KafkaError._PARTITION_EOF


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Call C{check} every 0.2 s until it holds; after C{timeout} s, an AssertionError."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def live_brokers(bootstrap: str) -> dict[int, str]:
    """The brokers C{bootstrap}'s Metadata lists: node id -> C{host:port}."""
    metadata = admin(bootstrap).list_topics(timeout=10)
    return {b.id: f"{b.host}:{b.port}" for b in metadata.brokers.values()}


def wait_for_brokers(bootstrap: str, expected: dict[int, str], timeout: float = 60.0) -> None:
    """Wait until Metadata through C{bootstrap} lists exactly C{expected} (node id -> address)."""

    def listed() -> bool:
        try:
            return live_brokers(bootstrap) == expected
        except KafkaException:
            return False

    wait_for(f"Metadata from {bootstrap} listing {expected}", listed, timeout)


def create_topic(
    bootstrap: str, name: str, partitions: int, replication: int = -1, timeout: float = 60.0
) -> None:
    """Create C{name}; wait until every partition has a leader in Metadata."""
    client = admin(bootstrap)  # kept: a collected client fails its futures
    futures = client.create_topics([NewTopic(name, partitions, replication)], operation_timeout=30)
    for future in futures.values():
        future.result(40)
    wait_for(f"leaders of {name}", lambda: len(leaders(bootstrap, name)) == partitions, timeout)


def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition -> leader node id, for the partitions that have a live leader now."""
    metadata = admin(bootstrap).list_topics(topic, timeout=10)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        return {}
    return {p.id: p.leader for p in described.partitions.values() if p.leader >= 0}


@define(eq=False)
class Receipts:
    """Delivery reports of one producer: what was acknowledged where, and what failed."""

    acked: dict[bytes, tuple[int, int]] = field(factory=dict)
    failed: list[tuple[bytes, str]] = field(factory=list)
    _lock: threading.Lock = field(factory=threading.Lock)

    def report(self, err: KafkaError | None, msg: Message) -> None:
        """librdkafka's on_delivery: (partition, offset) of each value acknowledged."""
        value = msg.value()
        assert isinstance(value, bytes)
        with self._lock:
            if err is None:
                partition, offset = msg.partition(), msg.offset()
                assert partition is not None and offset is not None
                self.acked[value] = (partition, offset)
            else:
                self.failed.append((value, str(err)))


def resilient_producer(bootstrap: str, **settings: object) -> Producer:
    """An idempotent acks=all producer that retries for two minutes, reconnecting quickly."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "message.timeout.ms": 120000,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 500,
            "retry.backoff.ms": 50,
            "retry.backoff.max.ms": 500,
            "topic.metadata.refresh.interval.ms": 1000,
            **settings,
        }
    )


def produce_values(
    bootstrap: str, topic: str, values: Iterable[bytes], **settings: object
) -> Receipts:
    """Produce C{values} (each its own key), idempotent and acks=all; every one acknowledged."""
    receipts = Receipts()
    producer = resilient_producer(bootstrap, **settings)
    for value in values:
        producer.produce(topic, value, key=value, on_delivery=receipts.report)
        producer.poll(0)
    assert producer.flush(120) == 0, "messages still undelivered after 120 s"
    assert receipts.failed == [], receipts.failed[:5]
    return receipts


@frozen
class Record:
    """One consumed record."""

    partition: int
    offset: int
    value: bytes
    #: The leader epoch of the batch that holds it (-1: none given).
    leader_epoch: int = -1


def read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 90.0) -> list[Record]:
    """
    Every record of C{topic}'s C{partitions} partitions, from offset 0 to each one's end.

    Read with assign() (no group): end of partition on every partition ends it.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "cluster-read-all",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records: list[Record] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < partitions:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(records)} records; at the end of {sorted(at_end)}")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                partition = msg.partition()
                assert partition is not None
                error = msg.error()
                if error is not None:
                    if error.code() == PARTITION_EOF:
                        at_end.add(partition)
                        continue
                    if error.retriable():
                        continue
                    raise AssertionError(f"consume error: {error}")
                offset, value = msg.offset(), msg.value()
                assert offset is not None and isinstance(value, bytes)
                at_end.discard(partition)
                epoch = msg.leader_epoch()
                records.append(Record(partition, offset, value, -1 if epoch is None else epoch))
    finally:
        consumer.close()
    return records


def coordinator_of(bootstrap: str, group: str, timeout: float = 60.0) -> int:
    """The node id of C{group}'s coordinator (DescribeGroups through the admin client)."""
    found: list[int] = []

    def described() -> bool:
        try:
            client = admin(bootstrap)  # kept: a collected client fails its futures
            future = client.describe_consumer_groups([group])[group]
            found.append(future.result(15).coordinator.id)
            return True
        except KafkaException:
            return False

    wait_for(f"the coordinator of {group}", described, timeout)
    return found[-1]


__all__ = [
    "Receipts",
    "Record",
    "coordinator_of",
    "create_topic",
    "leaders",
    "live_brokers",
    "produce_values",
    "read_all",
    "resilient_producer",
    "wait_for",
    "wait_for_brokers",
]
