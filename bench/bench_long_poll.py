# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Parked long polls under a stream of small appends: the broker's CPU.

Run: .venv/bin/python bench/bench_long_poll.py [--consumers 100] [--rate 1000] ...

Starts a broker process (bench_clients.BrokerProcess; --repo runs another
checkout's code, to compare before and after a change), creates a topic of
--partitions partitions, and assigns --consumers confluent-kafka consumers
--per-consumer consecutive partitions each at the end of the log, with
fetch.wait.max.ms 500 and --min-bytes as fetch.min.bytes (so that with a large
value their fetches stay parked while small appends trickle in). A producer
then appends --rate messages of 100 bytes per second (linger.ms 0), round
robin over the partitions, for --seconds seconds. The broker's CPU over that
window (utime + stime from /proc) is printed as a percentage of one core,
with the messages the consumers received.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_clients import BrokerProcess  # noqa: E402


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(30)


def broker_command(repo: str | None) -> list[str] | None:
    """Run the broker from C{repo}'s code (its kafkatwist package first on the path)."""
    if repo is None:
        return None
    code = (
        f"import sys; sys.path.insert(0, {os.path.abspath(repo)!r}); "
        "from twisted.scripts.twistd import run; run()"
    )
    return [sys.executable, "-c", code, "--nodaemon", "--pidfile=", "kafkatwist"]


def run(args: argparse.Namespace) -> tuple[float, int]:
    """One measurement: the broker's CPU share of one core, and the messages consumed."""
    broker = BrokerProcess(broker_command(args.repo), args.profile)
    stop = threading.Event()
    received = [0]
    lock = threading.Lock()
    try:
        create_topic(broker.bootstrap, "lp", args.partitions)
        consumers = []
        for i in range(args.consumers):
            consumer = Consumer(
                {
                    "bootstrap.servers": broker.bootstrap,
                    "group.id": f"lp-{i}",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 500,
                    "fetch.min.bytes": args.min_bytes,
                }
            )
            first = (i * args.per_consumer) % args.partitions
            consumer.assign(
                [
                    TopicPartition("lp", (first + k) % args.partitions, OFFSET_END)
                    for k in range(args.per_consumer)
                ]
            )
            consumers.append(consumer)

        def consume(consumer: Consumer) -> None:
            while not stop.is_set():
                got = consumer.consume(1000, timeout=0.2)
                if got:
                    with lock:
                        received[0] += len(got)

        threads = [threading.Thread(target=consume, args=(c,)) for c in consumers]
        for t in threads:
            t.start()
        time.sleep(3)  # every consumer connected and parked
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        value = b"v" * 100
        interval = 1.0 / args.rate
        cpu0, t0 = broker.cpu(), time.monotonic()
        next_send = t0
        sent = 0
        while time.monotonic() - t0 < args.seconds:
            now = time.monotonic()
            if now < next_send:
                time.sleep(next_send - now)
            producer.produce("lp", value, partition=sent % args.partitions)
            producer.poll(0)
            sent += 1
            next_send += interval
        producer.flush(30)
        cpu = (broker.cpu() - cpu0) / (time.monotonic() - t0)
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        for c in consumers:
            c.close()
        return 100 * cpu, received[0]
    finally:
        stop.set()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--consumers", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--per-consumer", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000.0, help="appends per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--min-bytes", type=int, default=1, help="the consumers' fetch.min.bytes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repo", help="run the broker from this checkout instead")
    parser.add_argument("--profile", help="run the broker under cProfile, stats to this file")
    args = parser.parse_args()
    for _ in range(args.runs):
        cpu, received = run(args)
        print(
            f"consumers={args.consumers} x {args.per_consumer} partitions, "
            f"{args.rate:.0f} appends/s, fetch.min.bytes={args.min_bytes}: "
            f"broker CPU {cpu:.1f} % of a core, {received} messages consumed",
            flush=True,
        )


if __name__ == "__main__":
    main()
