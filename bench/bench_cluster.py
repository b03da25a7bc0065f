# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Cluster benchmark: 1, 2 and 3 brokers over one PostgreSQL, and the file engine alone.

Run: .venv/bin/python bench/bench_cluster.py [--messages N] [--size BYTES] [--engines file,pg]

Each configuration starts its brokers as processes (``python -m kafkatwist``
with a properties file each: L{tests.cluster.harness.Cluster}) on loopback
ports, over a fresh database of one PostgreSQL server (started here with
``initdb`` in a temporary directory, or C{--dsn} for an existing one), then
runs bench_clients' phases with confluent-kafka, bootstrapped from every
broker:

1. produce: N messages of SIZE bytes round-robin over P partitions (their
   leaders spread over the brokers), linger.ms=5, batch.size=1 MiB, acks=all
   (an acknowledgement is a committed PostgreSQL transaction);
2. consume: the same N messages back, every partition assigned from offset 0;
3. end-to-end latency: timestamped messages (acks=all, linger.ms=0) at a
   steady rate to one partition while a consumer long-polls; p50 and p99 of
   consume time minus send time.

It prints a markdown table: msgs/s and MB/s (payload bytes, 10^6) of the
two throughput phases, the latencies, and the CPU seconds the brokers and
PostgreSQL spent producing. A PostgreSQL row whose brokers do not register
in the database (the engine not wired in) reads "not run" with the reason.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from attrs import define
from confluent_kafka import Consumer, KafkaException, TopicPartition
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import (  # noqa: E402
    await_coordinator,
    cpu_seconds,
    create_topic,
    latency_phase,
    percentile,
    produce_phase,
)
from kafkatwist.testing.postgres import PostgresServer  # noqa: E402
from tests.cluster.clients import wait_for, wait_for_brokers  # noqa: E402
from tests.cluster.harness import Cluster  # noqa: E402

#: Lease timings of the benchmark's brokers (Kafka's defaults are 9000 and 2000).
CLUSTER_PROPERTIES = {
    "broker.session.timeout.ms": "9000",
    "broker.heartbeat.interval.ms": "2000",
    "offsets.topic.num.partitions": "12",
    "group.initial.rebalance.delay.ms": "0",
}


@define
class Row:
    """One configuration's results (None: not run, with C{reason})."""

    engine: str
    brokers: int
    produce: tuple[float, float] | None = None
    consume: tuple[float, float] | None = None
    latency: tuple[float, float] | None = None
    broker_cpu: float | None = None
    postgres_cpu: float | None = None
    reason: str = ""


def postgres_cpu(data_dir: str) -> float:
    """CPU seconds of the postmaster (``postmaster.pid``) and of every process it started."""
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    total = cpu_seconds(postmaster)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                total += cpu_seconds(int(entry))
        except (OSError, ValueError):  # gone meanwhile
            continue
    return total


def registered(dsn: str) -> int:
    """How many brokers the database's C{brokers} table holds (0: no such table yet)."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM brokers").fetchone()
    except psycopg.Error:
        return 0
    return 0 if row is None else int(row[0])


def new_database(dsn: str, name: str) -> str:
    """Create database C{name} on the server of C{dsn} (a C{postgresql://} URL); its URL."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def drain_partitions(bootstrap: str, topic: str, partitions: int, count: int) -> float:
    """Read C{count} messages from offset 0 of every partition; the elapsed seconds."""
    await_coordinator(bootstrap, "bench", topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench",
            "enable.auto.commit": False,
            "max.partition.fetch.bytes": 10485760,
            "fetch.queue.backoff.ms": 10,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = 0
    start = time.perf_counter()
    deadline = start + 300
    try:
        while got < count:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"consumed {got} of {count}")
            for msg in consumer.consume(num_messages=10000, timeout=1.0):
                if msg.error():
                    raise KafkaException(msg.error())
                got += 1
        return time.perf_counter() - start
    finally:
        consumer.close()


def run_config(
    args: argparse.Namespace, engine: str, brokers: int, server: PostgresServer | None, dsn: str
) -> Row:
    """Start the configuration's brokers, run the three phases, stop them."""
    row = Row(engine, brokers)
    storage = None
    if engine == "postgresql":
        database = f"bench_{brokers}_{int(time.time())}"
        storage = new_database(server.dsn if server is not None else dsn, database)
    with tempfile.TemporaryDirectory(prefix="kafkatwist-bench-cluster-") as directory:
        cluster = Cluster(
            Path(directory), storage=storage, size=brokers, properties=CLUSTER_PROPERTIES
        )
        try:
            cluster.start()
            if storage is not None:
                wait_for(
                    f"the PostgreSQL engine: {brokers} broker(s) registered in the database",
                    lambda: registered(storage) >= brokers,
                    30,
                )
                expected = {node.node_id: node.bootstrap for node in cluster.nodes}
                wait_for_brokers(cluster.bootstrap, expected)
        except (AssertionError, RuntimeError) as e:
            cluster.stop()
            row.reason = str(e).splitlines()[0]
            return row
        bootstrap = cluster.bootstrap
        settings = {"linger.ms": 5, "batch.size": 1 << 20, "acks": args.acks}
        mb = args.messages * args.size / 1e6
        try:
            create_topic(bootstrap, "bench", args.partitions)
            pids = [node.pid for node in cluster.nodes if node.pid is not None]
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            pg0 = postgres_cpu(server.data_dir) if server is not None and storage else None
            elapsed = produce_phase(
                bootstrap, "bench", args.messages, args.size, settings, range(args.partitions)
            )
            row.produce = (args.messages / elapsed, mb / elapsed)
            row.broker_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
            if pg0 is not None and server is not None:
                row.postgres_cpu = postgres_cpu(server.data_dir) - pg0
            elapsed = drain_partitions(bootstrap, "bench", args.partitions, args.messages)
            row.consume = (args.messages / elapsed, mb / elapsed)
            create_topic(bootstrap, "bench-latency", 1)
            lat = latency_phase(
                bootstrap, "bench-latency", args.latency_messages, args.latency_rate
            )
            row.latency = (percentile(lat, 50) * 1000, percentile(lat, 99) * 1000)
        finally:
            cluster.stop()
    return row


def table(rows: Sequence[Row]) -> str:
    """The results as a markdown table."""
    lines = [
        "| engine | brokers | produce msgs/s | produce MB/s | consume msgs/s | consume MB/s "
        "| e2e p50 ms | e2e p99 ms | broker CPU s (produce) | PostgreSQL CPU s (produce) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if r.produce is None or r.consume is None or r.latency is None:
            lines.append(f"| {r.engine} | {r.brokers} | not run: {r.reason} ||||||||")
            continue
        pg = "" if r.postgres_cpu is None else f"{r.postgres_cpu:.2f}"
        lines.append(
            f"| {r.engine} | {r.brokers} | {r.produce[0]:,.0f} | {r.produce[1]:.1f} "
            f"| {r.consume[0]:,.0f} | {r.consume[1]:.1f} | {r.latency[0]:.1f} "
            f"| {r.latency[1]:.1f} | {r.broker_cpu or 0:.2f} | {pg} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000, help="messages per phase")
    parser.add_argument("--size", type=int, default=100, help="message value size in bytes")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the topic")
    parser.add_argument("--acks", default="all", help="producer acks of the throughput phase")
    parser.add_argument("--latency-messages", type=int, default=1000)
    parser.add_argument("--latency-rate", type=float, default=200.0, help="messages/s")
    parser.add_argument(
        "--engines", default="file,postgresql", help="file and/or postgresql, comma separated"
    )
    parser.add_argument("--brokers", default="1,2,3", help="PostgreSQL cluster sizes to run")
    parser.add_argument(
        "--dsn",
        help="an existing PostgreSQL server (postgresql://user@host:port/db; a new database "
        "is made on it per configuration), else one is started here",
    )
    parser.add_argument(
        "--synchronous-commit",
        default="on",
        help="synchronous_commit of the PostgreSQL started here (on, off, ...)",
    )
    args = parser.parse_args()
    engines = args.engines.split(",")
    rows: list[Row] = []
    server: PostgresServer | None = None
    try:
        if "postgresql" in engines and not args.dsn:
            server = PostgresServer(settings={"synchronous_commit": args.synchronous_commit})
            server.start()
        if "file" in engines:
            rows.append(run_config(args, "file", 1, None, ""))
        if "postgresql" in engines:
            for n in (int(b) for b in args.brokers.split(",")):
                rows.append(run_config(args, "postgresql", n, server, args.dsn or ""))
    finally:
        if server is not None:
            server.destroy()
    print(
        f"{args.messages:,} x {args.size}-byte messages over {args.partitions} partitions, "
        f"acks={args.acks}; latency: {args.latency_messages} at {args.latency_rate:g}/s, "
        f"acks=all; synchronous_commit={args.synchronous_commit}\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
