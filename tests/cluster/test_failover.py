"""An idempotent acks=all producer while brokers are SIGKILLed one after another.

Three brokers, a topic of six partitions (replication factor 3) led by all
of them. The producer sends numbered records without pause while, round
after round, one broker is SIGKILLed and, some seconds later, restarted:
its partitions move to live brokers (leader epoch bumped), the producer
follows the NOT_LEADER_OR_FOLLOWER answers and retries. Every record is
then read back and checked: each acknowledged exactly once, at the offset
acknowledged, offsets dense, in the order sent, leader epochs never going
back.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

from tests.cluster.clients import Receipts, create_topic, leaders, read_all, resilient_producer
from tests.cluster.harness import Cluster

PARTITIONS = 6
#: The brokers SIGKILLed, one round each, in this order.
VICTIMS = (1, 2, 3, 1)


def test_sigkilled_brokers_lose_and_duplicate_nothing(cluster: Cluster) -> None:
    """Every record acknowledged while brokers die is stored exactly once, in order."""
    create_topic(cluster.node(1).bootstrap, "durable", PARTITIONS, replication=3)
    assert set(leaders(cluster.bootstrap, "durable").values()) == {1, 2, 3}
    receipts = Receipts()
    producer = resilient_producer(cluster.bootstrap)
    sent = 0

    def produce_for(seconds: float) -> None:
        nonlocal sent
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(20):
                partition = sent % PARTITIONS
                value = b"p%d-%08d" % (partition, sent)
                producer.produce("durable", value, partition=partition, on_delivery=receipts.report)
                sent += 1
            producer.poll(0.01)

    for victim in VICTIMS:
        produce_for(1.0)
        cluster.kill(victim)
        produce_for(4.0)  # past broker.session.timeout.ms: its partitions move
        cluster.restart(victim)
    produce_for(1.0)
    assert producer.flush(120) == 0, cluster.outputs()
    assert receipts.failed == [], receipts.failed[:5]
    assert len(receipts.acked) == sent

    records = read_all(cluster.bootstrap, "durable", PARTITIONS)
    counts = Counter(r.value for r in records)
    assert [v for v, n in counts.items() if n > 1] == []  # no duplicate
    assert set(counts) == set(receipts.acked)  # nothing lost, nothing unacknowledged
    assert {r.value: (r.partition, r.offset) for r in records} == receipts.acked
    by_partition: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for r in records:
        by_partition[r.partition].append((r.offset, int(r.value.split(b"-")[1]), r.leader_epoch))
    epochs_seen = 0
    for partition, rows in by_partition.items():
        rows.sort()
        offsets, numbers, epochs = zip(*rows, strict=True)
        assert list(offsets) == list(range(len(rows))), partition
        assert list(numbers) == sorted(numbers), partition  # the order sent
        assert all(n % PARTITIONS == partition for n in numbers)
        assert list(epochs) == sorted(epochs), partition  # leader epochs never go back
        epochs_seen = max(epochs_seen, len(set(epochs)))
    assert len(by_partition) == PARTITIONS
    # The partitions moved: some partition holds batches of more than one leader epoch.
    assert epochs_seen > 1
