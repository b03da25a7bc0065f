# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""The cost of the metrics: confluent-kafka produce and consume, metrics listener off and on.

Run: python bench/bench_metrics.py [--messages 500000] [--size 100] [--runs 3]

Each run starts a fresh broker process (twistd with the kafkatwist plugin,
as bench_clients.py does), creates a 1-partition topic, produces N messages
of SIZE bytes (linger.ms=5, batch.size=1 MiB, acks=1, no compression) and
consumes them back from offset 0 (C{--linger-ms 0 --batch-size 2000}
makes small batches: many more requests, the hook's worst case). With the
metrics on (C{kafkatwist.metrics.listener} set) a scraper thread GETs
C{/metrics} every C{--scrape-interval} seconds during both phases
(Prometheus scrapes every 15 s by default: 1 s is the pessimistic case), and
the run reports the scrapes' median time and size, under load (which
includes this process's own GIL contention with the producer) and then idle
(20 scrapes after the consume phase: the broker's render time plus a
loopback HTTP request). Off and on runs alternate (off, on, off, on...), so
drift on a shared machine hits both alike; the medians of the runs are
printed, with the broker's CPU seconds (utime + stime), which depend less
on the other processes of the machine than wall time does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import reactor  # noqa: E402

from bench.bench_clients import (  # noqa: E402
    BrokerProcess,
    consume_phase,
    create_topic,
    free_port,
    produce_phase,
    twistd_command,
)
from kafkatwist.config.properties import BrokerConfig  # noqa: E402
from kafkatwist.hooks import Exchange  # noqa: E402
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchTopic  # noqa: E402
from kafkatwist.messages.heartbeat import HeartbeatRequest  # noqa: E402
from kafkatwist.messages.produce import (  # noqa: E402
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from kafkatwist.storage.kraft import run_now  # noqa: E402
from kafkatwist.transport.service import BrokerService  # noqa: E402
from kafkatwist.wire.record import build_batch  # noqa: E402
from tests.support import request_frame  # noqa: E402

#: Scrapes timed after each run, broker and client idle.
IDLE_SCRAPES = 20

SETTINGS = {"linger.ms": 5, "batch.size": 1 << 20, "acks": "1", "compression.type": "none"}


class Scraper:
    """GETs a URL every C{interval} seconds in a thread; keeps each scrape's time and size."""

    def __init__(self, url: str, interval: float) -> None:
        self.url = url
        self.interval = interval
        self.times: list[float] = []
        self.sizes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            start = time.perf_counter()
            with urllib.request.urlopen(self.url, timeout=10) as response:  # noqa: S310
                body = response.read()
            self.times.append(time.perf_counter() - start)
            self.sizes.append(len(body))

    def once(self) -> float:
        """One scrape now; its seconds."""
        start = time.perf_counter()
        with urllib.request.urlopen(self.url, timeout=10) as response:  # noqa: S310
            response.read()
        return time.perf_counter() - start

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def one_run(
    metrics: bool, messages: int, size: int, scrape_interval: float, settings: dict[str, Any]
) -> dict[str, Any]:
    """Start a broker (metrics on or off), produce and consume; the timings."""
    metrics_port = free_port()
    listener = f"kafkatwist.metrics.listener=127.0.0.1:{metrics_port}"
    options = ["--override", listener] if metrics else []
    broker = BrokerProcess(twistd_command(*options), None)
    scraper = Scraper(f"http://127.0.0.1:{metrics_port}/metrics", scrape_interval)
    result: dict[str, Any] = {"metrics": metrics}
    try:
        create_topic(broker.bootstrap, "bench")
        if metrics:
            scraper.start()
        for phase in ("produce", "consume"):
            cpu0 = broker.cpu()
            if phase == "produce":
                elapsed = produce_phase(broker.bootstrap, "bench", messages, size, settings)
            else:
                elapsed = consume_phase(broker.bootstrap, "bench", messages)
            result[phase] = {
                "msgs_per_s": round(messages / elapsed),
                "broker_cpu_s": round(broker.cpu() - cpu0, 3),
            }
        if metrics:
            scraper.stop()
            result["scrapes"] = len(scraper.times)
            if scraper.times:
                result["scrape_ms"] = round(statistics.median(scraper.times) * 1000, 2)
                result["scrape_bytes"] = scraper.sizes[-1]
            # The broker idle and this process too: the scrape's own cost.
            idle = [scraper.once() for _ in range(IDLE_SCRAPES)]
            result["idle_scrape_ms"] = round(statistics.median(idle) * 1000, 2)
    finally:
        if metrics and not scraper._stop.is_set():
            scraper.stop()
        broker.stop()
    return result


def started(metrics: bool) -> BrokerService:
    """A broker service in this process, blocking work run at once, with a topic "bench"."""
    props = {"log.dirs": tempfile.mkdtemp(prefix="bench-metrics-"), "node.id": "1"}
    if metrics:
        props["kafkatwist.metrics.listener"] = "127.0.0.1:0"
    service = BrokerService(
        BrokerConfig.from_properties(props),
        "tcp:0:interface=127.0.0.1",
        reactor,
        run_blocking=run_now,
    )
    service.startService()
    service.broker.controller.create_topic("bench", 1)
    return service


def requests_frames() -> dict[str, bytes]:
    """A Produce of one 10 x 100 B batch, a Fetch of 16 KiB from offset 0, a Heartbeat."""
    records = build_batch([(None, b"x" * 100)] * 10, base_timestamp=1_700_000_000_000)
    data = PartitionProduceData(index=0, records=records)
    produce = ProduceRequest(
        acks=1,
        timeout_ms=1000,
        topic_data=(TopicProduceData(name="bench", partition_data=(data,)),),
    )
    part = FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=16384)
    fetch = FetchRequest(
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=1 << 20,
        topics=(FetchTopic(topic="bench", partitions=(part,)),),
    )
    # A Heartbeat of an unknown group: a handler that does next to nothing, so the
    # dispatcher's own hook path stands out.
    heartbeat = HeartbeatRequest(group_id="none", generation_id=1, member_id="m")
    return {
        "produce": request_frame(0, 11, 1, produce, client_id="bench", framed=False),
        "fetch": request_frame(1, 12, 1, fetch, client_id="bench", framed=False),
        "heartbeat": request_frame(12, 4, 1, heartbeat, client_id="bench", framed=False),
    }


class NoopHook:
    """A hook that does nothing (the dispatcher's own cost of hooks); keeps the last exchange."""

    last: Exchange | None = None

    def received(self, exchange: Exchange) -> None:
        return None

    def answered(self, exchange: Exchange) -> None:
        self.last = exchange


def hook_alone(service: BrokerService, exchange: Exchange, calls: int = 100_000) -> float:
    """Microseconds of the metrics hook's received() and answered() for one exchange."""
    metrics = service.metrics
    assert metrics is not None
    hook = metrics.hook
    start = time.perf_counter()
    for _ in range(calls):
        hook.received(exchange)
        hook.answered(exchange)
    return (time.perf_counter() - start) / calls * 1e6


#: The three brokers the dispatch measurement compares.
MODES = ("off", "noop hook", "metrics on")


def dispatch_cost(rounds: int, chunk: int) -> dict[str, dict[str, float]]:
    """
    Microseconds per Produce and per Fetch dispatched in-process, by mode (L{MODES}).

    Three brokers in this process: no hook, a hook that does nothing (what the
    dispatcher itself spends on hooks), the metrics on; blocking work run at
    once, so each dispatch completes before the next; no socket, no client.
    Chunks of C{chunk} requests rotate between the brokers, C{rounds} times,
    the order reversed every other round, so the machine's drift hits all
    alike and a few microseconds stand out.
    """
    services = {mode: started(mode == "metrics on") for mode in MODES}
    noop = NoopHook()
    services["noop hook"].broker.hooks.append(noop)
    dispatchers = [(m, s.listeners[0].factory.dispatcher) for m, s in services.items()]
    out: dict[str, dict[str, float]] = {}
    for name, data in requests_frames().items():
        spent = dict.fromkeys(MODES, 0.0)
        for i in range(rounds):
            for mode, dispatcher in dispatchers if i % 2 else dispatchers[::-1]:
                start = time.perf_counter()
                for _ in range(chunk):
                    dispatcher.dispatch(data, "127.0.0.1:1")
                spent[mode] += time.perf_counter() - start
        out[name] = {m: t / (rounds * chunk) * 1e6 for m, t in spent.items()}
        assert noop.last is not None
        out[name]["metrics hook alone"] = hook_alone(services["metrics on"], noop.last)
    for service in services.values():
        service.stopService()
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of the runs of one mode."""
    out: dict[str, Any] = {}
    for phase in ("produce", "consume"):
        out[phase] = {
            key: statistics.median(r[phase][key] for r in runs)
            for key in ("msgs_per_s", "broker_cpu_s")
        }
    if "scrape_ms" in runs[0]:
        out["scrape_ms"] = statistics.median(r["scrape_ms"] for r in runs)
        out["scrape_bytes"] = runs[-1]["scrape_bytes"]
        out["scrapes"] = sum(r["scrapes"] for r in runs)
        out["idle_scrape_ms"] = statistics.median(r["idle_scrape_ms"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (0: no client runs)")
    parser.add_argument("--scrape-interval", type=float, default=1.0)
    parser.add_argument("--linger-ms", type=int, default=5, help="producer linger.ms")
    parser.add_argument("--batch-size", type=int, default=1 << 20, help="producer batch.size")
    parser.add_argument(
        "--dispatch",
        type=int,
        default=20_000,
        help="requests per in-process dispatch measurement (0: skip it)",
    )
    parser.add_argument("--json", action="store_true", help="print every run as JSON too")
    args = parser.parse_args()
    settings = {**SETTINGS, "linger.ms": args.linger_ms, "batch.size": args.batch_size}

    if args.dispatch:
        rounds = 40
        costs = dispatch_cost(rounds, max(args.dispatch // rounds, 1))
        print(f"in-process dispatch, {args.dispatch:,} requests each, interleaved, us/request:")
        for name, cost in costs.items():
            print(
                f"  {name:8} "
                + " | ".join(f"{m} {cost[m]:6.1f}" for m in (*MODES, "metrics hook alone"))
            )
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for _ in range(args.runs):
        for metrics in (False, True):
            r = one_run(metrics, args.messages, args.size, args.scrape_interval, settings)
            runs[metrics].append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    if not args.runs:
        return
    off, on = summary(runs[False]), summary(runs[True])
    if args.json:
        print(json.dumps({"off": off, "on": on, "runs": runs[False] + runs[True]}, indent=2))
    print(
        f"{args.messages:,} x {args.size}-byte messages, 1 partition, "
        f"linger.ms={args.linger_ms}, batch.size={args.batch_size}, "
        f"median of {args.runs} runs per mode"
    )
    for phase in ("produce", "consume"):
        a, b = off[phase], on[phase]
        print(
            f"  {phase:8} off {a['msgs_per_s']:>9,.0f} msgs/s CPU {a['broker_cpu_s']:.2f} s | "
            f"on {b['msgs_per_s']:>9,.0f} msgs/s CPU {b['broker_cpu_s']:.2f} s | "
            f"CPU {100 * (b['broker_cpu_s'] / a['broker_cpu_s'] - 1):+.1f}%"
        )
    if "scrape_ms" in on:
        print(
            f"  scrapes every {args.scrape_interval:g} s: {on['scrapes']} in all, "
            f"median {on['scrape_ms']} ms under load, {on['idle_scrape_ms']} ms idle, "
            f"{on['scrape_bytes']:,} bytes"
        )


if __name__ == "__main__":
    main()
