# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Log cleaner benchmark: cleaning throughput, and what a running pass costs producers.

Run: .venv/bin/python bench/bench_cleaner.py [--messages N] [--keys K] [--size BYTES] ...

Starts the broker as its own process (twistd with the kafkatwist plugin) on a
free loopback port over a temporary log directory, with ``log.segment.bytes``
--segment-bytes (and ``message.max.bytes`` above it) and
``log.cleaner.backoff.ms=100``, then:

1. fill: N updates of SIZE-byte values over K keys (confluent-kafka,
   linger.ms=5, no compression) to a compacted topic whose
   ``min.cleanable.dirty.ratio`` is 1.0, so that the cleaner leaves it alone;
   then one record of most of a segment rolls the log;
2. baseline: produce throughput (P messages of SIZE bytes to a second, delete-policy
   topic, acks=1, as fast as possible) and produce latency (messages sent at
   RATE/s with acks=all, linger.ms=0; latency = delivery report time minus
   send time, reports served by a polling thread) with the cleaner idle;
3. cleaning: the dirty topic's ratio is set to 0.01 (IncrementalAlterConfigs);
   the same two measurements run at once, while the pass runs. The pass's
   log line (``Cleaned dirty-0: B bytes -> A bytes, ... in S s``) gives the
   cleaner throughput: B / S (MB of dirty log cleaned per second, 10^6).

Reports JSON. The measurements of phase 3 are reported with the share of
them that overlapped the pass (the pass must outlast them for a fair
comparison: raise --messages if it does not).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import (  # noqa: E402
    free_port,
    stop_process,
    twistd_command,
    wait_listening,
)

REPO = Path(__file__).resolve().parent.parent
_CLEANED = re.compile(
    r"Cleaned dirty-0: (\d+) bytes -> (\d+) bytes, (\d+)/(\d+) records kept.* in ([0-9.]+)s"
)


class BrokerProcess:
    """A kafkatwist broker process on a free port, a throw-away log dir, extra overrides."""

    def __init__(self, overrides: dict[str, str]) -> None:
        self.port = free_port()
        self.log_dir = tempfile.mkdtemp(prefix="kafkatwist-bench-cleaner-")
        argv = twistd_command(
            "--listen", f"tcp:{self.port}:interface=127.0.0.1", "--log-dirs", self.log_dir
        )
        for key, value in overrides.items():
            argv += ["--override", f"{key}={value}"]
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        self.out_path = os.path.join(self.log_dir, "broker.out")
        self.output = open(self.out_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self.output, stderr=subprocess.STDOUT
        )
        wait_listening(self.proc, self.port, self.out_path)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def text(self) -> str:
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        stop_process(self.proc)
        self.output.close()
        shutil.rmtree(self.log_dir, ignore_errors=True)


def create_topic(bootstrap: str, name: str, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(name, 1, 1, config=config)]
    for future in admin.create_topics(topics, operation_timeout=10).values():
        future.result(15)


def set_ratio(bootstrap: str, topic: str, ratio: str) -> None:
    """IncrementalAlterConfigs: C{topic}'s ``min.cleanable.dirty.ratio`` only."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entry = ConfigEntry(
        "min.cleanable.dirty.ratio", ratio, incremental_operation=AlterConfigOpType.SET
    )
    resource = ConfigResource("TOPIC", topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(15)


def fill(bootstrap: str, topic: str, count: int, keys: int, size: int, segment: int) -> float:
    """C{count} updates over C{keys} keys, then one record that rolls; the seconds taken."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    value = b"v" * size
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, key=b"key-%08d" % (i % keys), partition=0)
                break
            except BufferError:
                producer.poll(0.01)
        if i & 1023 == 0:
            producer.poll(0)
    if producer.flush(300):
        raise RuntimeError("fill: undelivered messages")
    # Most of a segment (Kafka refuses a batch over segment.bytes): a segment of its own.
    roller = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": segment + (1 << 20)})
    roller.produce(topic, b"r" * (segment - 4096), key=b"roll", partition=0)
    if roller.flush(60):
        raise RuntimeError("fill: the roll record was not delivered")
    return time.perf_counter() - start


def throughput(bootstrap: str, topic: str, count: int, size: int) -> float:
    """Produce C{count} messages as fast as possible (acks=1); messages per second."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "acks": 1,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    value = b"x" * size
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=0)
                break
            except BufferError:
                producer.poll(0.01)
        if i & 1023 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("throughput: undelivered messages")
    return count / (time.perf_counter() - start)


def latencies(bootstrap: str, topic: str, seconds: float, rate: float) -> list[tuple[float, float]]:
    """
    (send time, produce latency) of messages sent at C{rate}/s for C{seconds} (acks=all).

    A second thread polls the producer all along, so that a delivery report
    is timed when it arrives, not at the sender's next poll.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    out: list[tuple[float, float]] = []
    sending = threading.Event()
    sending.set()

    def poll() -> None:
        while sending.is_set():
            producer.poll(0.01)

    def report(sent: float) -> Any:
        def delivered(err: Any, msg: Any) -> None:
            if err is None:
                out.append((sent, time.perf_counter() - sent))

        return delivered

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    interval = 1.0 / rate
    start = next_send = time.perf_counter()
    while next_send < start + seconds:
        now = time.perf_counter()
        if now < next_send:
            time.sleep(next_send - now)
        sent = time.perf_counter()
        producer.produce(topic, b"l" * 100, partition=0, on_delivery=report(sent))
        next_send += interval
    sending.clear()
    poller.join()
    producer.flush(30)
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load_phase(
    broker: BrokerProcess, args: argparse.Namespace, until: list[float]
) -> dict[str, float | int]:
    """Produce throughput and latency on the ``load`` topic; C{until[0]}: when cleaning ended."""
    started = time.perf_counter()
    rate = throughput(broker.bootstrap, "load", args.produce, args.size)
    after_throughput = time.perf_counter()
    samples = latencies(broker.bootstrap, "load", args.latency_seconds, args.rate)
    during = [lat for sent, lat in samples if sent < until[0]]
    values = [lat for _, lat in samples]
    report = {
        "produce_msgs_per_s": round(rate),
        "produce_MB_per_s": round(rate * args.size / 1e6, 1),
        "throughput_overlap": round(
            max(0.0, min(1.0, (until[0] - started) / (after_throughput - started))), 2
        ),
        "latency_p50_ms": round(percentile(values, 50) * 1000, 2),
        "latency_p99_ms": round(percentile(values, 99) * 1000, 2),
        "latency_samples": len(values),
        "latency_samples_during_cleaning": len(during),
    }
    if during:
        report["latency_during_cleaning_p50_ms"] = round(percentile(during, 50) * 1000, 2)
        report["latency_during_cleaning_p99_ms"] = round(percentile(during, 99) * 1000, 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=4_000_000, help="dirty updates")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=100, help="value bytes")
    parser.add_argument("--segment-bytes", type=int, default=16 << 20)
    parser.add_argument("--produce", type=int, default=1_000_000, help="throughput messages")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency messages per second")
    parser.add_argument("--latency-seconds", type=float, default=2.0)
    parser.add_argument(
        "--io-max", type=float, default=None, help="log.cleaner.io.max.bytes.per.second"
    )
    args = parser.parse_args()
    throttle = (
        {} if args.io_max is None else {"log.cleaner.io.max.bytes.per.second": str(args.io_max)}
    )
    broker = BrokerProcess(
        {
            "log.segment.bytes": str(args.segment_bytes),
            "message.max.bytes": str(args.segment_bytes + (1 << 20)),
            "log.cleaner.backoff.ms": "100",
            **throttle,
        }
    )
    try:
        create_topic(
            broker.bootstrap,
            "dirty",
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "1"},
        )
        create_topic(broker.bootstrap, "load", {})
        fill_s = fill(
            broker.bootstrap, "dirty", args.messages, args.keys, args.size, args.segment_bytes
        )
        baseline = load_phase(broker, args, [0.0])
        ended = [float("inf")]

        def watch() -> None:
            deadline = time.perf_counter() + 300
            while _CLEANED.search(broker.text()) is None and time.perf_counter() < deadline:
                time.sleep(0.01)
            ended[0] = time.perf_counter()

        watcher = threading.Thread(target=watch, daemon=True)
        set_ratio(broker.bootstrap, "dirty", "0.01")
        triggered = time.perf_counter()
        watcher.start()
        during = load_phase(broker, args, ended)
        watcher.join(310)
        match = _CLEANED.search(broker.text())
        assert match is not None, "no cleaning pass finished"
        before, after, kept, read = (int(match.group(i)) for i in range(1, 5))
        seconds = float(match.group(5))
        report = {
            "dirty_updates": args.messages,
            "keys": args.keys,
            "value_bytes": args.size,
            "fill_seconds": round(fill_s, 2),
            "cleaner": {
                "bytes_before": before,
                "bytes_after": after,
                "records_read": read,
                "records_kept": kept,
                "pass_seconds": seconds,
                "wall_seconds_from_trigger": round(ended[0] - triggered, 2),
                "MB_per_s": round(before / seconds / 1e6, 1) if seconds else None,
            },
            "baseline": baseline,
            "while_cleaning": during,
        }
        print(json.dumps(report, indent=2))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
