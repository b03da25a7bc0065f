"""KIP-392 over PostgreSQL: consumers fetch from the follower in their rack, woken by NOTIFY.

Three broker processes (racks rack-1..rack-3) with C{replica.selector.class}
RackAwareReplicaSelector over one PostgreSQL database; a topic replicated on
all three. A consumer whose C{client.rack} is a follower's rack is sent there
by the leader (preferred_read_replica) and reads every record from it;
librdkafka's statistics say which broker it fetches from.
"""

from __future__ import annotations

import json
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
)
from tests.cluster.clients import (
    PARTITION_EOF,
    create_topic,
    leaders,
    produce_values,
    resilient_producer,
    wait_for,
)
from tests.cluster.harness import Cluster
from tests.integration.raw import RawClient

FETCH = 1
FETCH_VERSION = 12


def _follower_of(cluster: Cluster, topic: str) -> tuple[int, int]:
    """The topic's partition 0 leader, and a follower (the lowest other node id)."""
    leader = leaders(cluster.bootstrap, topic)[0]
    return leader, min(n.node_id for n in cluster.nodes if n.node_id != leader)


class _RackConsumer:
    """A consumer in C{rack}, reading partition 0, recording the broker it fetches from."""

    def __init__(self, bootstrap: str, topic: str, rack: str, **settings: object) -> None:
        self.fetched_from: list[int] = []
        self.values: list[bytes] = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"follower-{topic}-{rack}",
                "client.rack": rack,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "statistics.interval.ms": 200,
                "stats_cb": self._stats,
                **settings,
            }
        )
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.topic = topic

    def _stats(self, report: str) -> None:
        partition = json.loads(report).get("topics", {}).get(self.topic, {})
        broker = partition.get("partitions", {}).get("0", {}).get("broker", -1)
        if broker >= 0:
            self.fetched_from.append(broker)

    def read(self, count: int, timeout: float = 60.0) -> None:
        """Consume until C{count} values in all (retriable errors skipped)."""
        deadline = time.monotonic() + timeout
        while len(self.values) < count:
            assert time.monotonic() < deadline, f"read {len(self.values)} of {count}"
            for msg in self.consumer.consume(num_messages=500, timeout=0.5):
                error = msg.error()
                if error is not None:
                    assert error.code() == PARTITION_EOF or error.retriable(), str(error)
                    continue
                value = msg.value()
                assert isinstance(value, bytes)
                self.values.append(value)

    def served_by(self, node_id: int) -> bool:
        """
        Whether the statistics name C{node_id} as the broker fetched from, within 30 s.

        (A metadata refresh sends librdkafka back to the leader for one fetch,
        which names the follower again: the statistics may show the leader briefly.)
        """
        self.fetched_from.clear()

        def reported() -> bool:
            self.consumer.poll(0.2)  # serves the statistics callback
            return node_id in self.fetched_from

        try:
            wait_for(f"fetches from broker {node_id}", reported, timeout=30)
        except AssertionError:
            return False
        return True

    def close(self) -> None:
        self.consumer.close()


def test_consumer_reads_from_the_follower_in_its_rack(rack_aware_cluster: Cluster) -> None:
    """Every record comes from the follower in the consumer's rack, which the leader names."""
    cluster = rack_aware_cluster
    create_topic(cluster.bootstrap, "near", 1, 3)
    leader, follower = _follower_of(cluster, "near")
    values = [b"near-%d" % i for i in range(300)]
    produce_values(cluster.bootstrap, "near", values)
    consumer = _RackConsumer(cluster.bootstrap, "near", f"rack-{follower}")
    try:
        consumer.read(len(values))
        assert sorted(consumer.values) == sorted(values)
        assert consumer.served_by(follower), (leader, follower, consumer.fetched_from)
        # The leader's answer to a consumer in the follower's rack names the follower.
        raw = RawClient(cluster.node(leader).port)
        try:
            response = raw.call(
                FETCH, FETCH_VERSION, _fetch("near", 0, f"rack-{follower}", 0), FetchResponse
            )
        finally:
            raw.close()
        [part] = response.responses[0].partitions
        assert (part.error_code, part.preferred_read_replica, part.records) == (0, follower, b"")
        assert part.high_watermark == len(values)
    finally:
        consumer.close()


def _fetch(topic: str, offset: int, rack: str, max_wait_ms: int) -> FetchRequest:
    return FetchRequest(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=1,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(
            FetchTopic(
                topic=topic,
                partitions=(
                    FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1 << 20),
                ),
            ),
        ),
        rack_id=rack,
    )


def test_a_long_poll_on_the_follower_wakes_on_a_produce_to_the_leader(
    rack_aware_cluster: Cluster,
) -> None:
    """A fetch parked on the follower answers the record a produce to the leader wrote."""
    cluster = rack_aware_cluster
    create_topic(cluster.bootstrap, "wake", 1, 3)
    leader, follower = _follower_of(cluster, "wake")
    produce_values(cluster.bootstrap, "wake", [b"first"])
    raw = RawClient(cluster.node(follower).port, timeout=120)
    answers: list[FetchResponse] = []
    # Waits for up to 60 s; only the produce below can end it with a record at offset 1.
    request = _fetch("wake", 1, f"rack-{follower}", 60000)
    parked = threading.Thread(
        target=lambda: answers.append(raw.call(FETCH, FETCH_VERSION, request, FetchResponse))
    )
    try:
        parked.start()
        producer = Producer({"bootstrap.servers": cluster.node(leader).bootstrap, "acks": "all"})
        producer.produce("wake", b"second", partition=0)
        assert producer.flush(60) == 0
        parked.join(120)
        [response] = answers
    finally:
        raw.close()
    [part] = response.responses[0].partitions
    assert part.error_code == 0 and part.high_watermark == 2
    records = part.records
    assert isinstance(records, memoryview | bytes)  # decoded: one buffer
    assert b"second" in bytes(records)


def test_read_committed_through_the_follower(rack_aware_cluster: Cluster) -> None:
    """A read_committed consumer of the follower gets committed transactions only."""
    cluster = rack_aware_cluster
    create_topic(cluster.bootstrap, "txn", 1, 3)
    _, follower = _follower_of(cluster, "txn")
    producer = resilient_producer(
        cluster.bootstrap, **{"transactional.id": "follower-txn", "transaction.timeout.ms": 150000}
    )
    producer.init_transactions(60)
    for commit, prefix in ((True, b"kept"), (False, b"aborted"), (True, b"also-kept")):
        producer.begin_transaction()
        for i in range(20):
            producer.produce("txn", b"%s-%d" % (prefix, i), partition=0)
        producer.flush(60)
        if commit:
            producer.commit_transaction(60)
        else:
            producer.abort_transaction(60)
    consumer = _RackConsumer(
        cluster.bootstrap, "txn", f"rack-{follower}", **{"isolation.level": "read_committed"}
    )
    try:
        consumer.read(40)
        assert sorted(consumer.values) == sorted(
            [b"kept-%d" % i for i in range(20)] + [b"also-kept-%d" % i for i in range(20)]
        )
        assert consumer.served_by(follower), (follower, consumer.fetched_from)
    finally:
        consumer.close()


def test_the_follower_keeps_serving_after_the_leader_dies(rack_aware_cluster: Cluster) -> None:
    """With the leader SIGKILLed, consumers of the followers get what the new leader takes."""
    cluster = rack_aware_cluster
    create_topic(cluster.bootstrap, "orphan", 1, 3)
    leader, follower = _follower_of(cluster, "orphan")
    survivors = cluster.bootstrap_without(leader)
    before = [b"before-%d" % i for i in range(50)]
    produce_values(cluster.bootstrap, "orphan", before)
    fast_metadata = {"topic.metadata.refresh.interval.ms": 1000}
    consumer = _RackConsumer(survivors, "orphan", f"rack-{follower}", **fast_metadata)
    try:
        consumer.read(len(before))
        cluster.kill(leader)
        wait_for("a new leader", lambda: leaders(survivors, "orphan").get(0, leader) != leader)
        new_leader = leaders(survivors, "orphan")[0]
        after = [b"after-%d" % i for i in range(50)]
        produce_values(survivors, "orphan", after)
        consumer.read(len(before) + len(after), timeout=90)
        assert sorted(consumer.values) == sorted(before + after)
    finally:
        consumer.close()
    # The one broker now neither dead nor leader is a follower: a consumer in its rack reads there.
    [other] = [n.node_id for n in cluster.nodes if n.node_id not in (leader, new_leader)]
    late = _RackConsumer(survivors, "orphan", f"rack-{other}")
    try:
        late.read(len(before) + len(after), timeout=90)
        assert sorted(late.values) == sorted(before + after)
        assert late.served_by(other), (leader, new_leader, other, late.fetched_from)
    finally:
        late.close()
