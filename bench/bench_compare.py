# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Side-by-side benchmark: kafkatwist against a second Kafka-compatible broker.

Run: .venv/bin/python bench/bench_compare.py --tansu /path/to/tansu [--runs 5] [--markdown]
     .venv/bin/python bench/bench_compare.py --peer HOST:PORT [--peer-pid PID]

Each run starts kafkatwist fresh as its own process (twistd, file-backed logs in
a temporary directory; bench_clients.BrokerProcess) and, with --tansu PATH,
starts that binary fresh too (``tansu broker --storage-engine memory://tansu/``
on a free loopback port, so its memory storage starts empty); with --peer the
second broker is already running at that address (fresh topics per run) and its
CPU is measured only when --peer-pid is given. Runs alternate (kafkatwist, peer,
kafkatwist, peer, ...), --runs each. Every run creates fresh topics through the
admin API and runs these workloads with the same confluent-kafka client
(bench_clients' phases; --messages N x --size bytes, default 1,000,000 x 100):

- produce, 1 partition: msg/s (linger.ms=5, batch.size=1 MiB, acks=1), and the
  broker's CPU seconds (utime + stime, /proc/PID/stat) per 1,000,000 produced;
- consume, 1 partition: the same messages back from offset 0, msg/s, with
  librdkafka's own fetch sizes (max.partition.fetch.bytes 1 MiB). Tansu 0.6.0
  does not honour that limit: it answers about 4.8 MB per Fetch where Kafka and
  kafkatwist answer at most 1 MiB per partition (23 Fetches against about 160
  for 1,000,000 x 100 bytes, from librdkafka's statistics). With 10 MiB
  (bench_clients' setting) kafkatwist answers up to 10 MiB, and librdkafka's
  queue thresholds then favoured Tansu's mid-sized answers: 0.88-0.92 of
  Tansu's rate, against 1.06-1.17 with the client's default;
- produce, 8 partitions, 4 producers: 4 Producer instances, each in a process
  of its own, each sending N/4 messages round-robin to 2 of the partitions;
  msg/s over the wall time from the start signal to the last flush() (in 4
  threads of one process the Python loops shared one interpreter lock, and
  the row measured that lock more than the brokers);
- end-to-end latency, 1 partition: 2,000 messages at 1,000/s (acks=all,
  linger.ms=0) while a consumer long-polls (fetch.wait.max.ms=500); p99 in ms;
- an idle consumer of 1,000 partitions (fetch.wait.max.ms=500, all assigned at
  offset 0 of an empty topic): after --idle-warmup seconds (assignment and the
  first empty fetches), the broker's CPU over --idle-seconds, in % of a core.
  Once with confluent-kafka (librdkafka sends the full partition list in every
  Fetch: it does not implement KIP-227 sessions) and once with kafka-python
  (which uses incremental fetch sessions when the broker grants them).

For each workload it prints the median over the runs, the spread (min-max) and
the ratio in kafkatwist's favour (throughput: kafkatwist/peer; CPU and latency:
peer/kafkatwist), so > 1.0 means kafkatwist is ahead; --markdown prints the
same as a Markdown table, --json the raw per-run values. The 1-minute load
average before and after is printed: the figures mean little on a busy machine.

The consume phase uses fetch.queue.backoff.ms=10 (see bench_clients). Before
anything is timed, each run looks up the group coordinator once
(bench_clients.await_coordinator): on a fresh broker that creates
__consumer_offsets, which on kafkatwist holds the reactor for 30-370 ms on this
machine. Timed inside the consume phase, as it was, that made the phase
bimodal on kafkatwist (200,000 messages: 0.22 s, or 0.34-0.63 s when the first
Metadata answer waited behind it). No Fetch with data was ever held: in 48
runs traced with librdkafka's debug=fetch,protocol, every Fetch listed the
partition below its high watermark and the slowest answer took 114 ms; a
partition over queued.min.messages is left out of the fetch list for
fetch.queue.backoff.ms, and librdkafka sends no Fetch when the list is empty
(rd_kafka_broker_fetch_toppars), so with one partition nothing is parked for
fetch.wait.max.ms. The remaining spread of the consume phase is the Python
consume loop (how often the local queue fills).
"""

from __future__ import annotations

import argparse
import atexit
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import (  # noqa: E402
    BrokerProcess,
    await_coordinator,
    consume_phase,
    cpu_seconds,
    create_topic,
    free_port,
    latency_phase,
    percentile,
    produce_phase,
    stop_process,
    wait_listening,
)

PRODUCER = {"linger.ms": 5, "batch.size": 1 << 20, "acks": "1", "compression.type": "none"}
IDLE_PARTITIONS = 1000
IDLE_WAIT_MS = 500

#: key, label, unit, whether more is better.
WORKLOADS: tuple[tuple[str, str, str, bool], ...] = (
    ("produce_1p", "produce, 1 partition", "msg/s", True),
    ("produce_cpu_1p", "broker CPU per 1 M produced, 1 partition", "s", False),
    ("produce_8p", "produce, 8 partitions, 4 producers", "msg/s", True),
    ("consume_1p", "consume, 1 partition", "msg/s", True),
    ("latency_p99", "end-to-end p99, 1 partition", "ms", False),
    (
        "idle_confluent",
        "an idle consumer of 1,000 partitions (fetch.wait.max.ms 500), confluent-kafka",
        "% of a core",
        False,
    ),
    (
        "idle_kafka_python",
        "an idle consumer of 1,000 partitions (fetch.wait.max.ms 500), kafka-python 3.0.12",
        "% of a core",
        False,
    ),
)
GROUPS = ("produce1", "produce8", "latency", "idle", "idle-kafka-python")


class Broker:
    """A broker under test: its bootstrap address, its PID when known, and how to stop it."""

    def __init__(self, bootstrap: str, pid: int | None, stop: Callable[[], None]) -> None:
        self.bootstrap = bootstrap
        self.pid = pid
        self._stop = stop

    def cpu(self) -> float | None:
        return None if self.pid is None else cpu_seconds(self.pid)

    def stop(self) -> None:
        self._stop()


_LIVE: list[subprocess.Popen[bytes]] = []


def _kill_live() -> None:
    for proc in _LIVE:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_kafkatwist() -> Broker:
    broker = BrokerProcess(None, None)
    _LIVE.append(broker.proc)
    return Broker(broker.bootstrap, broker.proc.pid, broker.stop)


def start_tansu(binary: str) -> Broker:
    """C{tansu broker} with memory storage on a free loopback port, listening."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    out = tempfile.NamedTemporaryFile(prefix="tansu-bench-", suffix=".out", delete=False)  # noqa: SIM115
    argv = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    argv += ["--storage-engine", "memory://tansu/"]
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    _LIVE.append(proc)

    def stop() -> None:
        stop_process(proc, signal.SIGTERM, timeout=10)
        out.close()
        os.unlink(out.name)

    try:
        wait_listening(proc, port, out.name)
    except RuntimeError:
        if proc.poll() is None:
            stop()
        raise
    return Broker(f"127.0.0.1:{port}", proc.pid, stop)


def _produce_share(
    bootstrap: str,
    topic: str,
    count: int,
    size: int,
    index: int,
    ready: Any,
    go: Any,
    done: Any,
) -> None:
    """One of L{produce_parallel}'s producers, in a process of its own."""
    ready.put(index)
    go.wait()
    try:
        produce_phase(bootstrap, topic, count, size, PRODUCER, (index, index + 4))
        done.put(None)
    except BaseException as e:  # reported by the parent
        done.put(repr(e))


def produce_parallel(bootstrap: str, topic: str, count: int, size: int) -> float:
    """
    4 producers, each C{count}/4 messages to 2 of 8 partitions; wall seconds.

    Each producer is a process of its own (started and imported before the
    clock starts), so that the Python produce loops do not share one
    interpreter lock: in threads of one process they measured the lock.
    """
    context = multiprocessing.get_context("spawn")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    procs = [
        context.Process(
            target=_produce_share,
            args=(bootstrap, topic, count // 4, size, i, ready, go, done),
        )
        for i in range(4)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=60)
        start = time.perf_counter()
        go.set()
        errors = [e for e in (done.get(timeout=300) for _ in procs) if e is not None]
        elapsed = time.perf_counter() - start
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    if errors:
        raise RuntimeError(f"a producer failed: {errors[0]}")
    return elapsed


def _idle_cpu(broker: Broker, warmup: float, seconds: float, poll: Callable[[], None]) -> float:
    """Call C{poll} in a thread; the broker's CPU in % of a core over C{seconds} after C{warmup}."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            while not stop.is_set():
                poll()
        except BaseException as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        time.sleep(warmup)
        cpu0, t0 = broker.cpu(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = broker.cpu(), time.monotonic()
    finally:
        stop.set()
        thread.join(30)
    if errors:
        raise RuntimeError(f"idle consumer failed: {errors[0]!r}")
    if cpu0 is None or cpu1 is None:
        raise RuntimeError("no broker PID to measure")
    return (cpu1 - cpu0) / (t1 - t0) * 100


def idle_confluent(broker: Broker, topic: str, warmup: float, seconds: float) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "bench-idle",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": IDLE_WAIT_MS,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(IDLE_PARTITIONS)])

    def poll() -> None:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error():
            raise RuntimeError(str(msg.error()))

    try:
        return _idle_cpu(broker, warmup, seconds, poll)
    finally:
        consumer.close()


def idle_kafka_python(broker: Broker, topic: str, warmup: float, seconds: float) -> float:
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=IDLE_WAIT_MS,
        request_timeout_ms=30000,
    )
    partitions = [KpTopicPartition(topic, p) for p in range(IDLE_PARTITIONS)]
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, 0)
    try:
        return _idle_cpu(broker, warmup, seconds, lambda: consumer.poll(timeout_ms=200) and None)
    finally:
        consumer.close()


def run_once(
    broker: Broker, prefix: str, args: argparse.Namespace, groups: set[str]
) -> dict[str, float | str]:
    """One run of the selected workloads against a started broker; failures are recorded."""
    out: dict[str, float | str] = {"load_before": os.getloadavg()[0]}
    count, size = args.messages, args.size

    def attempt(keys: tuple[str, ...], body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as e:
            for key in keys:
                out.setdefault(key, f"error: {e!r}")
            print(f"    {'/'.join(keys)} failed: {e!r}", file=sys.stderr)

    # The first group lookup creates __consumer_offsets: before anything is timed.
    attempt(("warmup",), lambda: await_coordinator(broker.bootstrap, "bench", f"{prefix}-p1"))
    if "produce1" in groups:

        def produce1() -> None:
            topic = f"{prefix}-p1"
            create_topic(broker.bootstrap, topic)
            cpu0 = broker.cpu()
            elapsed = produce_phase(broker.bootstrap, topic, count, size, PRODUCER)
            cpu1 = broker.cpu()
            out["produce_1p"] = count / elapsed
            if cpu0 is not None and cpu1 is not None:
                out["produce_cpu_1p"] = (cpu1 - cpu0) * 1_000_000 / count
            # The client's own fetch sizes (see the module docstring).
            out["consume_1p"] = count / consume_phase(broker.bootstrap, topic, count, None)

        attempt(("produce_1p", "produce_cpu_1p", "consume_1p"), produce1)
    if "produce8" in groups:

        def produce8() -> None:
            topic = f"{prefix}-p8"
            create_topic(broker.bootstrap, topic, 8)
            out["produce_8p"] = count / produce_parallel(broker.bootstrap, topic, count, size)

        attempt(("produce_8p",), produce8)
    if "latency" in groups:

        def latency() -> None:
            topic = f"{prefix}-lat"
            create_topic(broker.bootstrap, topic)
            lat = latency_phase(broker.bootstrap, topic, args.latency_messages, 1000.0)
            out["latency_p99"] = percentile(lat, 99) * 1000
            out["latency_p50"] = percentile(lat, 50) * 1000

        attempt(("latency_p99",), latency)
    idle_topic = f"{prefix}-idle"
    if broker.pid is None:  # only the broker's CPU is measured while idle
        groups = groups - {"idle", "idle-kafka-python"}
    if groups & {"idle", "idle-kafka-python"}:
        attempt(
            ("idle_confluent", "idle_kafka_python"),
            lambda: create_topic(broker.bootstrap, idle_topic, IDLE_PARTITIONS, timeout=60),
        )
    for group, key, measure in (
        ("idle", "idle_confluent", idle_confluent),
        ("idle-kafka-python", "idle_kafka_python", idle_kafka_python),
    ):
        if group in groups and key not in out:

            def idle(key: str = key, measure: Any = measure) -> None:
                out[key] = measure(broker, idle_topic, args.idle_warmup, args.idle_seconds)

            attempt((key,), idle)
    out["load_after"] = os.getloadavg()[0]
    return out


def _fmt(value: float, unit: str) -> str:
    if unit == "msg/s":
        return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value / 1e3:.0f} k"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:.1f} %"


def summarize(
    results: dict[str, list[dict[str, float | str]]], peer: str
) -> list[tuple[str, str, str, str]]:
    """Per workload: label, kafkatwist's median (min-max), the peer's, the ratio."""
    rows = []
    for key, label, unit, more_is_better in WORKLOADS:
        cells = []
        medians: list[float | None] = []
        for name in ("kafkatwist", peer):
            values: list[float] = []
            failed = 0
            for r in results[name]:
                value = r.get(key)
                if isinstance(value, float):
                    values.append(value)
                elif isinstance(value, str):
                    failed += 1
            if not values:
                cells.append("failed" if failed else "-")
                medians.append(None)
                continue
            med = statistics.median(values)
            medians.append(med)
            text = f"{_fmt(med, unit)} ({_fmt(min(values), unit)}-{_fmt(max(values), unit)})"
            cells.append(text + (f", {failed} failed" if failed else ""))
        kt, other = medians
        if kt is None or other is None or not kt or not other:
            ratio = "-"
        else:
            ratio = f"{(kt / other if more_is_better else other / kt):.2f}"
        unit_note = "" if unit in ("msg/s", "s", "ms") else f" ({unit})"
        rows.append((label + unit_note, cells[0], cells[1], ratio))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    peer = parser.add_mutually_exclusive_group(required=True)
    peer.add_argument("--tansu", metavar="PATH", help="start this tansu binary for each run")
    peer.add_argument("--peer", metavar="HOST:PORT", help="a running broker to compare with")
    parser.add_argument("--peer-pid", type=int, help="the --peer broker's PID (for its CPU)")
    parser.add_argument("--peer-name", help="the peer's name in the output (default Tansu/peer)")
    parser.add_argument("--runs", type=int, default=5, help="runs per broker, alternating")
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages per phase")
    parser.add_argument("--size", type=int, default=100, help="message value size in bytes")
    parser.add_argument("--latency-messages", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--idle-warmup", type=float, default=3.0)
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}"
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--json", action="store_true", help="print every run's values as JSON")
    args = parser.parse_args()
    groups = set(args.only.split(","))
    if groups - set(GROUPS):
        parser.error(f"unknown workloads: {sorted(groups - set(GROUPS))}")
    peer_name = args.peer_name or ("Tansu" if args.tansu else "peer")
    atexit.register(_kill_live)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def start_peer() -> Broker:
        if args.tansu:
            return start_tansu(args.tansu)
        return Broker(args.peer, args.peer_pid, lambda: None)

    starters: list[tuple[str, Callable[[], Broker]]] = [
        ("kafkatwist", start_kafkatwist),
        (peer_name, start_peer),
    ]
    results: dict[str, list[dict[str, float | str]]] = {name: [] for name, _ in starters}
    stamp = int(time.time())
    print(f"load average before: {os.getloadavg()}", flush=True)
    for run in range(args.runs):
        for name, start in starters:
            print(f"run {run + 1}/{args.runs}: {name}", flush=True)
            broker = start()
            try:
                values = run_once(broker, f"cmp-{stamp}-{run}", args, groups)
            finally:
                broker.stop()
            results[name].append(values)
            shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}
            print(f"  {shown}", flush=True)
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        print(json.dumps(results, indent=2))
    rows = summarize(results, peer_name)
    print(
        f"\n{args.messages:,} x {args.size}-byte messages, {args.runs} alternating runs each; "
        f"median (min-max); ratio > 1 favours kafkatwist"
    )
    for label, kt, other, ratio in rows:
        print(f"  {label}\n    kafkatwist {kt}\n    {peer_name} {other}\n    ratio {ratio}")
    if args.markdown:
        print(f"\n| workload | kafkatwist | {peer_name} | ratio |\n| --- | --- | --- | --- |")
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
