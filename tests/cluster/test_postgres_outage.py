"""PostgreSQL SIGKILLed for a few seconds under three brokers and a producer.

While the database is away the brokers answer a retriable error (a produce
cannot commit: KAFKA_STORAGE_ERROR, or NOT_LEADER_OR_FOLLOWER from a broker
whose lease it cannot renew) instead of acknowledging, hanging or dying.
PostgreSQL comes back from its WAL: every acknowledged record is still
there, the producer's retries land exactly once, and the cluster serves new
producers and consumers again.
"""

from __future__ import annotations

import time
from collections import Counter

from kafka import KafkaProducer
from kafka.errors import BrokerResponseError, KafkaError

from tests.cluster.clients import (
    Receipts,
    create_topic,
    leaders,
    produce_values,
    read_all,
    resilient_producer,
)
from tests.cluster.harness import Cluster

PARTITIONS = 3
#: How long PostgreSQL stays down.
OUTAGE_SECONDS = 5.0


def _refused_produce(producer: KafkaProducer, partition: int) -> KafkaError:
    """One record sent to C{partition} with no retry while the database is down: its error."""
    future = producer.send("outage", value=b"probe-%d" % partition, partition=partition)
    producer.flush(30)
    error = future.exception if future.is_done else None
    assert isinstance(error, KafkaError), (
        f"partition {partition}: {future.value if future.is_done else 'pending'}"
    )
    return error


def test_postgres_outage_loses_nothing_acknowledged(outage_cluster: Cluster) -> None:
    """Kill PostgreSQL: retriable errors, every acknowledged record kept, service back after."""
    cluster = outage_cluster
    create_topic(cluster.node(1).bootstrap, "outage", PARTITIONS, replication=3)
    led = leaders(cluster.bootstrap, "outage")
    assert set(led.values()) == {1, 2, 3}  # each broker leads one partition: each is probed
    before = produce_values(cluster.bootstrap, "outage", [b"before-%04d" % i for i in range(300)])
    # Connected and warmed up (metadata) before the outage; no retry, so the first error shows.
    probe = KafkaProducer(
        bootstrap_servers=cluster.bootstrap,
        acks="all",
        retries=0,
        enable_idempotence=False,
        request_timeout_ms=15000,
        delivery_timeout_ms=30000,
    )
    receipts = Receipts()
    producer = resilient_producer(cluster.bootstrap)
    try:
        for partition in led:
            probe.send("outage", value=b"warm-up", partition=partition).get(30)
        cluster.kill_postgres()
        down = time.monotonic()
        errors = {led[p]: _refused_produce(probe, p) for p in led}
        during = [b"during-%04d" % i for i in range(200)]
        for value in during:
            producer.produce("outage", value, key=value, on_delivery=receipts.report)
            producer.poll(0.01)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
        cluster.start_postgres()
        assert producer.flush(120) == 0, cluster.outputs()
    finally:
        probe.close(5)
    for node_id, error in errors.items():
        assert isinstance(error, BrokerResponseError), (node_id, error)
        assert error.retriable, (node_id, error)
    assert receipts.failed == [], receipts.failed[:5]
    assert len(receipts.acked) == len(during)

    after = produce_values(
        cluster.node(3).bootstrap, "outage", [b"after-%04d" % i for i in range(60)]
    )
    records = read_all(cluster.node(2).bootstrap, "outage", PARTITIONS)
    stored = {r.value: (r.partition, r.offset) for r in records}
    counts = Counter(r.value for r in records)
    assert [v for v, n in counts.items() if n > 1 and v != b"warm-up"] == []
    assert counts[b"warm-up"] == PARTITIONS
    for acknowledged in (before.acked, receipts.acked, after.acked):
        assert {v: stored.get(v) for v in acknowledged} == acknowledged
