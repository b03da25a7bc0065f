# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Benchmark: end-to-end latency fetching from the leader vs. from a follower (KIP-392).

Run: .venv/bin/python bench/bench_follower.py [--messages 2000] [--rate 200]

Three broker processes (L{tests.cluster.harness.Cluster}, racks rack-1..3,
C{replica.selector.class} RackAwareReplicaSelector) over one PostgreSQL
started here; a topic of one partition replicated on all three. A producer
(acks=all, linger.ms=0) sends timestamped messages at C{--rate}/s to the
leader while a consumer long-polls (fetch.wait.max.ms=500), first with no
rack (it fetches from the leader, woken by the leader's own commit), then
with a follower's rack (the leader sends it to that follower, woken by the
leader's NOTIFY through PostgreSQL). Prints p50/p99/max of consume time
minus send time, and the broker the consumer fetched from (librdkafka's
statistics).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import percentile  # noqa: E402
from kafkatwist.cluster.replica_selector import RACK_AWARE_SELECTOR  # noqa: E402
from kafkatwist.testing.postgres import PostgresServer  # noqa: E402
from tests.cluster.clients import create_topic, leaders, wait_for_brokers  # noqa: E402
from tests.cluster.harness import FAST_FAILOVER, Cluster  # noqa: E402

TOPIC = "latency"


def measure(
    bootstrap: str, leader: str, rack: str, count: int, rate: float
) -> tuple[list[float], set[int]]:
    """Latencies of C{count} messages, and the brokers the consumer fetched from."""
    served: set[int] = set()

    def stats(report: str) -> None:
        part = (
            json.loads(report).get("topics", {}).get(TOPIC, {}).get("partitions", {}).get("0", {})
        )
        if part.get("broker", -1) >= 0:
            served.add(part["broker"])

    settings: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{rack or 'leader'}",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 500,
        "fetch.min.bytes": 1,
        "statistics.interval.ms": 500,
        "stats_cb": stats,
    }
    if rack:
        settings["client.rack"] = rack
    consumer = Consumer(settings)
    consumer.assign([TopicPartition(TOPIC, 0, OFFSET_END)])  # only new messages
    for _ in range(10):
        consumer.poll(0.2)  # connect, learn the preferred replica, start long-polling
    latencies: list[float] = []

    def consume() -> None:
        deadline = time.monotonic() + 60 + count / rate
        while len(latencies) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            latencies.append(time.perf_counter() - float(msg.value() or b"nan"))

    reader = threading.Thread(target=consume)
    reader.start()
    producer = Producer({"bootstrap.servers": leader, "linger.ms": 0, "acks": "all"})
    next_send = time.perf_counter()
    for _ in range(count):
        now = time.perf_counter()
        if now < next_send:
            time.sleep(next_send - now)
        producer.produce(TOPIC, repr(time.perf_counter()).encode(), partition=0)
        producer.poll(0)
        next_send += 1.0 / rate
    producer.flush(30)
    reader.join(120)
    consumer.close()
    if len(latencies) < count:
        raise RuntimeError(f"got {len(latencies)} of {count}")
    return latencies, served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    directory = Path(tempfile.mkdtemp(prefix="bench-follower-"))
    properties = {**FAST_FAILOVER, "replica.selector.class": RACK_AWARE_SELECTOR}
    cluster = Cluster(directory, storage=server.create_database("bench"), properties=properties)
    try:
        cluster.start()
        expected = {node.node_id: node.bootstrap for node in cluster.nodes}
        wait_for_brokers(cluster.bootstrap, expected)
        create_topic(cluster.bootstrap, TOPIC, 1, 3)
        leader = leaders(cluster.bootstrap, TOPIC)[0]
        follower = min(n for n in expected if n != leader)
        print(f"{args.messages} messages at {args.rate:g}/s; leader {leader}, follower {follower}")
        print(f"{'fetch from':<22} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  served by")
        for label, rack in (
            ("leader (no rack)", ""),
            (f"follower (rack-{follower})", f"rack-{follower}"),
        ):
            latencies, served = measure(
                cluster.bootstrap, expected[leader], rack, args.messages, args.rate
            )
            ms = [x * 1000 for x in latencies]
            print(
                f"{label:<22} {percentile(ms, 50):>8.2f} {percentile(ms, 99):>8.2f}"
                f" {max(ms):>8.2f}  {sorted(served)}"
            )
    finally:
        cluster.stop()
        server.destroy()


if __name__ == "__main__":
    main()
