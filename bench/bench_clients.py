# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""End-to-end client benchmark: confluent-kafka (librdkafka) against a kafkatwist process.

Run: /work/venv/bin/python bench/bench_clients.py [--messages N] [--size BYTES] ...

Starts the broker as its own process (twistd with the kafkatwist plugin, or any
command given with --broker-cmd, e.g. ./your_program.sh) on a free loopback
port over a temporary log directory, then:

1. produce: N messages of SIZE random bytes to a 1-partition topic
   (linger.ms=5, batch.size=1 MiB, acks=1, no compression), timed from the
   first produce() to the end of flush();
2. consume: the same N messages back with assign() at offset 0;
3. latency: LATENCY_MESSAGES messages (acks=all, linger.ms=0), each carrying
   its send time, sent at a steady rate while a consumer long-polls; the
   latency of a message is its consume time minus its send time.

For phases 1 and 2 it reports msgs/s, MB/s (payload bytes, 10^6) and the
broker's CPU seconds (utime + stime from /proc/PID/stat). --cpu-only runs the
produce phase alone and reports the broker's CPU seconds per 1,000,000
records (the issue's CPU budget for produce validation). --profile FILE runs
the broker under cProfile (twistd --profile) and writes the stats there on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def twistd_command(*options: str, profile: str | None = None) -> list[str]:
    """
    The twistd command line of a kafkatwist broker with C{options} (this interpreter's twistd).

    @param profile: Where twistd's cProfile writes its stats on exit, if profiled.
    """
    twistd = ["-c", "from twisted.scripts.twistd import run; run()", "--nodaemon", "--pidfile="]
    if profile:
        twistd += ["--profiler=cprofile", f"--profile={profile}", "--savestats"]
    return [sys.executable, *twistd, "kafkatwist", *options]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (proc(5): fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_listening(
    proc: subprocess.Popen[bytes], port: int, output: str, timeout: float = 30
) -> None:
    """Wait until C{proc} accepts connections on loopback C{port}; C{output} is its log file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}; see {output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"broker on port {port} did not start listening")


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 60
) -> None:
    """Send C{sig} (a clean stop) and wait; kill the process if still there after C{timeout} s."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class BrokerProcess:
    """A kafkatwist broker process on a free port, with a throw-away log directory."""

    def __init__(self, command: list[str] | None, profile: str | None) -> None:
        self.port = free_port()
        self.log_dir = tempfile.mkdtemp(prefix="kafkatwist-bench-")
        listen = ["--listen", f"tcp:{self.port}:interface=127.0.0.1", "--log-dirs", self.log_dir]
        argv = [*command, *listen] if command else twistd_command(*listen, profile=profile)
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        self.output = open(os.path.join(self.log_dir, "broker.out"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self.output, stderr=subprocess.STDOUT
        )
        wait_listening(self.proc, self.port, self.output.name)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)
        self.output.close()
        shutil.rmtree(self.log_dir, ignore_errors=True)


def create_topic(bootstrap: str, name: str, partitions: int = 1, timeout: float = 15) -> None:
    """Create a topic of C{partitions} partitions (replication factor 1) through the admin API."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout)
    for future in futures.values():
        future.result(timeout + 5)


def produce_phase(
    bootstrap: str,
    topic: str,
    count: int,
    size: int,
    settings: dict[str, Any],
    partitions: Sequence[int] = (0,),
) -> float:
    """Produce C{count} messages, round-robin over C{partitions}; the elapsed seconds."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            **settings,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    payloads = [random.Random(i).randbytes(size) for i in range(64)]
    failures: list[Any] = []

    def report(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(err)

    spread = len(partitions)
    start = time.perf_counter()
    for i in range(count):
        partition = partitions[i % spread]
        while True:
            try:
                producer.produce(topic, payloads[i & 63], partition=partition, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.01)
        if i & 1023 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or failures:
        raise RuntimeError(f"{remaining} undelivered, {len(failures)} failed: {failures[:3]}")
    return elapsed


def await_coordinator(bootstrap: str, group: str, topic: str) -> None:
    """
    Look up C{group}'s coordinator once, with a throw-away consumer (an OffsetFetch).

    The first group lookup on a fresh broker creates ``__consumer_offsets`` (50
    partitions, as Kafka does on the first FindCoordinator); on kafkatwist that
    holds the reactor for 30-370 ms on this machine, and a consumer's first
    Metadata or Fetch answer waits behind it. The timed phases come after it. A
    separate consumer, because one that asked for its coordinator before its
    assign() learns the topic's metadata only at librdkafka's next 1 s refresh.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.committed([TopicPartition(topic, 0)], timeout=30)
    finally:
        consumer.close()


def consume_phase(
    bootstrap: str, topic: str, count: int, partition_fetch_bytes: int | None = 10485760
) -> float:
    """
    Consume C{count} messages from offset 0; the elapsed seconds (after the group lookup).

    C{partition_fetch_bytes} is the consumer's C{max.partition.fetch.bytes}
    (C{None}: librdkafka's default, 1 MiB).
    """
    await_coordinator(bootstrap, "bench", topic)
    fetch_size = (
        {}
        if partition_fetch_bytes is None
        else {"max.partition.fetch.bytes": partition_fetch_bytes}
    )
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench",
            "enable.auto.commit": False,
            **fetch_size,
            # librdkafka postpones the next fetch by fetch.queue.backoff.ms (1 s)
            # whenever its local queue is over queued.min.messages: with a Python
            # loop slower than the broker that measures the back-off, not the broker.
            "fetch.queue.backoff.ms": 10,
        }
    )
    return drain(consumer, topic, count)


def drain(consumer: Consumer, topic: str, count: int) -> float:
    """
    Read C{count} messages of partition 0 of C{topic} from offset 0 (assigned, no group),
    then close the consumer; the elapsed seconds.
    """
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    start = time.perf_counter()
    deadline = start + 300
    while got < count:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"consumed {got} of {count}")
        for msg in consumer.consume(num_messages=10000, timeout=1.0):
            if msg.error():
                raise KafkaException(msg.error())
            got += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    return elapsed


def latency_phase(bootstrap: str, topic: str, count: int, rate: float) -> list[float]:
    """Send C{count} timestamped messages at C{rate}/s; each one's produce-to-consume latency."""
    await_coordinator(bootstrap, "bench-latency", topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-latency",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 500,
            "fetch.min.bytes": 1,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumer.poll(0.5)  # connect and start fetching before the first message
    latencies: list[float] = []
    done = threading.Event()

    def consume() -> None:
        deadline = time.monotonic() + 60 + count / rate
        while len(latencies) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            latencies.append(time.perf_counter() - float(msg.value() or b"nan"))
        done.set()

    reader = threading.Thread(target=consume)
    reader.start()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    interval = 1.0 / rate
    next_send = time.perf_counter()
    for _ in range(count):
        now = time.perf_counter()
        if now < next_send:
            time.sleep(next_send - now)
        producer.produce(topic, repr(time.perf_counter()).encode(), partition=0)
        producer.poll(0)
        next_send += interval
    producer.flush(30)
    done.wait(120)
    reader.join()
    consumer.close()
    if len(latencies) < count:
        raise RuntimeError(f"latency: got {len(latencies)} of {count}")
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=1_000_000, help="messages to produce and consume"
    )
    parser.add_argument("--size", type=int, default=100, help="message value size in bytes")
    parser.add_argument(
        "--latency-messages", type=int, default=2000, help="messages for the latency phase"
    )
    parser.add_argument(
        "--latency-rate", type=float, default=1000.0, help="messages/s in the latency phase"
    )
    parser.add_argument("--linger-ms", type=int, default=5, help="producer linger.ms")
    parser.add_argument("--batch-size", type=int, default=1 << 20, help="producer batch.size")
    parser.add_argument("--acks", default="1", help="producer acks (0, 1, all)")
    parser.add_argument("--compression", default="none", help="producer compression.type")
    parser.add_argument(
        "--broker-cmd",
        help="broker command (e.g. ./your_program.sh); --listen/--log-dirs are appended",
    )
    parser.add_argument(
        "--profile", help="run the broker under cProfile and write its stats to this file"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="produce phase only; print broker CPU seconds per 1,000,000 records",
    )
    args = parser.parse_args()
    if args.cpu_only:
        args.latency_messages = 0

    broker = BrokerProcess(args.broker_cmd.split() if args.broker_cmd else None, args.profile)
    settings = {
        "linger.ms": args.linger_ms,
        "batch.size": args.batch_size,
        "acks": args.acks,
        "compression.type": args.compression,
    }
    results: dict[str, Any] = {"messages": args.messages, "size": args.size, "producer": settings}
    try:
        create_topic(broker.bootstrap, "bench")
        mb = args.messages * args.size / 1e6
        phases: list[tuple[str, Callable[[], float]]] = [
            (
                "produce",
                lambda: produce_phase(
                    broker.bootstrap, "bench", args.messages, args.size, settings
                ),
            ),
            ("consume", lambda: consume_phase(broker.bootstrap, "bench", args.messages)),
        ][: 1 if args.cpu_only else 2]
        for phase, run in phases:
            cpu0 = broker.cpu()
            elapsed = run()
            cpu = broker.cpu() - cpu0
            results[phase] = {
                "seconds": round(elapsed, 3),
                "msgs_per_s": round(args.messages / elapsed),
                "mb_per_s": round(mb / elapsed, 2),
                "broker_cpu_s": round(cpu, 3),
            }
        if args.latency_messages:
            create_topic(broker.bootstrap, "bench-latency")
            lat = latency_phase(
                broker.bootstrap, "bench-latency", args.latency_messages, args.latency_rate
            )
            results["latency_acks_all_ms"] = {
                "count": len(lat),
                "p50": round(percentile(lat, 50) * 1000, 2),
                "p99": round(percentile(lat, 99) * 1000, 2),
                "max": round(max(lat) * 1000, 2),
            }
    finally:
        broker.stop()

    if args.json:
        print(json.dumps(results, indent=2))
        return
    if args.cpu_only:
        per_million = results["produce"]["broker_cpu_s"] * 1_000_000 / args.messages
        print(f"broker CPU per 1,000,000 produced {args.size}-byte records: {per_million:.3f} s")
        return
    print(
        f"{args.messages} x {args.size}-byte messages, 1 partition, "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
    )
    for phase in ("produce", "consume"):
        r = results[phase]
        print(
            f"  {phase:8} {r['msgs_per_s']:>10,} msgs/s {r['mb_per_s']:>8.2f} MB/s "
            f"{r['seconds']:>8.2f} s  broker CPU {r['broker_cpu_s']:.2f} s"
        )
    if "latency_acks_all_ms" in results:
        lat_ms = results["latency_acks_all_ms"]
        print(
            f"  latency  acks=all, {lat_ms['count']} msgs at {args.latency_rate:g}/s: "
            f"p50 {lat_ms['p50']} ms, p99 {lat_ms['p99']} ms, max {lat_ms['max']} ms"
        )


if __name__ == "__main__":
    main()
