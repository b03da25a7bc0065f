# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Transactional throughput and commit latency: confluent-kafka against a kafkatwist process.

Run: /work/main/.venv/bin/python bench/bench_txn.py [--messages N] [--size BYTES] [--json]

Starts the broker as its own process (twistd with the kafkatwist plugin, or any
command given with --broker-cmd, e.g. ./your_program.sh; see bench_clients.py)
on a free loopback port over a temporary log directory. Then, for transactions
of 100 and of 10,000 messages, each over a topic of 1 and of 8 partitions, one
librdkafka transactional producer (linger.ms=5, batch.size=1 MiB, acks=all,
messages round robin over the partitions) runs back-to-back transactions
(begin, produce, flush, commit) until about N messages are sent:

* msgs/s and MB/s (payload bytes, 10^6) from the first begin to the last commit;
* transactions/s;
* commit latency p50/p99: the time of each commit_transaction() call after
  flush(), in milliseconds: EndTxn, answered as in Kafka once PrepareCommit is
  in __transaction_state (the markers and CompleteCommit follow);
* the broker's CPU seconds (utime + stime from /proc/PID/stat).

Each run ends with a check: ListOffsets at read_committed equals the high
watermark (no transaction left open) and every partition holds its messages
plus one commit marker per transaction. Not part of the test suite (benchmarks
are never timed tests); the figures are in README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import BrokerProcess  # noqa: E402

#: (messages per transaction, partitions) of each run.
SHAPES = ((100, 1), (100, 8), (10_000, 1), (10_000, 8))


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(30)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of C{values}."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def run_shape(
    bootstrap: str, topic: str, per_txn: int, partitions: int, messages: int, size: int
) -> dict[str, Any]:
    """Back-to-back transactions of C{per_txn} messages; the figures of one run."""
    transactions = max(1, messages // per_txn)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"bench-{topic}",
            "linger.ms": 5,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    producer.init_transactions(30)
    payloads = [random.Random(i).randbytes(size) for i in range(64)]
    commits: list[float] = []
    start = time.perf_counter()
    for _ in range(transactions):
        producer.begin_transaction()
        for i in range(per_txn):
            while True:
                try:
                    producer.produce(topic, payloads[i & 63], partition=i % partitions)
                    break
                except BufferError:
                    producer.poll(0.01)
        remaining = producer.flush(120)
        if remaining:
            raise RuntimeError(f"{remaining} messages undelivered")
        before = time.perf_counter()
        producer.commit_transaction(60)
        commits.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - start
    check_offsets(bootstrap, topic, partitions, transactions * per_txn + transactions * partitions)
    sent = transactions * per_txn
    return {
        "per_txn": per_txn,
        "partitions": partitions,
        "transactions": transactions,
        "messages": sent,
        "seconds": round(elapsed, 3),
        "msgs_per_s": round(sent / elapsed),
        "mb_per_s": round(sent * size / 1e6 / elapsed, 2),
        "txns_per_s": round(transactions / elapsed, 1),
        "commit_p50_ms": round(percentile(commits, 0.50) * 1000, 2),
        "commit_p99_ms": round(percentile(commits, 0.99) * 1000, 2),
        "commit_mean_ms": round(statistics.fmean(commits) * 1000, 2),
    }


def check_offsets(bootstrap: str, topic: str, partitions: int, expected_total: int) -> None:
    """Every transaction is closed (LSO = high watermark) and the logs hold what was sent."""
    ends: dict[str, list[int]] = {}
    for isolation in ("read_committed", "read_uncommitted"):
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench-txn", "isolation.level": isolation}
        )
        try:
            marks = [
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
                for p in range(partitions)
            ]
        finally:
            consumer.close()
        ends[isolation] = [high for _, high in (m or (0, -1) for m in marks)]
    if ends["read_committed"] != ends["read_uncommitted"]:
        raise RuntimeError(f"open transactions remain: {ends}")
    if sum(ends["read_uncommitted"]) != expected_total:
        raise RuntimeError(f"{sum(ends['read_uncommitted'])} offsets, not {expected_total}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000, help="messages per run (about)")
    parser.add_argument("--size", type=int, default=100, help="message value size in bytes")
    parser.add_argument(
        "--broker-cmd",
        help="broker command (e.g. ./your_program.sh); --listen/--log-dirs are appended",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    broker = BrokerProcess(args.broker_cmd.split() if args.broker_cmd else None, None)
    rows: list[dict[str, Any]] = []
    try:
        for per_txn, partitions in SHAPES:
            topic = f"txn-{per_txn}-{partitions}"
            create_topic(broker.bootstrap, topic, partitions)
            cpu0 = broker.cpu()
            row = run_shape(broker.bootstrap, topic, per_txn, partitions, args.messages, args.size)
            row["broker_cpu_s"] = round(broker.cpu() - cpu0, 2)
            rows.append(row)
    finally:
        broker.stop()

    if args.json:
        print(json.dumps({"size": args.size, "runs": rows}, indent=2))
        return
    header = (
        f"{'msgs/txn':>8} {'parts':>5} {'txns':>6} {'msgs/s':>9} {'MB/s':>7} {'txn/s':>8} "
        f"{'commit p50 ms':>13} {'p99 ms':>8} {'broker CPU s':>12}"
    )
    print(f"transactional produce, {args.size}-byte messages, confluent-kafka")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['per_txn']:>8} {r['partitions']:>5} {r['transactions']:>6} "
            f"{r['msgs_per_s']:>9} {r['mb_per_s']:>7} {r['txns_per_s']:>8} "
            f"{r['commit_p50_ms']:>13} {r['commit_p99_ms']:>8} {r['broker_cpu_s']:>12}"
        )


if __name__ == "__main__":
    main()
