# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""The protocol trace's cost: confluent-kafka produce and consume with the trace off and on.

Run: /work/main/.venv/bin/python bench/bench_trace.py [--messages N] [--size BYTES] [--runs R]

For each of R rounds, two broker processes in turn (twistd, as bench_clients
starts them), each over a fresh log directory: one with the trace off (the
default), one with C{--trace} and C{kafkatwist.trace.file} set, tracing
every request and response to a file. Against each: produce N messages of
SIZE bytes to a 1-partition topic (linger.ms=5, batch.size=1 MiB unless
--linger-ms and --batch-size say otherwise, acks=1, no compression), then
consume them back from offset 0 (bench_clients' phases). Prints the median
over the rounds of each phase's msgs/s and the broker's CPU seconds, and for
the traced broker the trace's lines and bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import (  # noqa: E402
    BrokerProcess,
    consume_phase,
    create_topic,
    produce_phase,
    twistd_command,
)

SETTINGS = {"linger.ms": 5, "batch.size": 1 << 20, "acks": "1", "compression.type": "none"}


def one_run(traced: bool, messages: int, size: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Start a broker (traced or not), produce and consume; the timings and the broker's CPU."""
    trace_dir = tempfile.mkdtemp(prefix="kafkatwist-trace-")
    trace = os.path.join(trace_dir, "trace.jsonl")
    options = ("--trace", "--override", f"kafkatwist.trace.file={trace}") if traced else ()
    broker = BrokerProcess(twistd_command(*options), None)
    try:
        create_topic(broker.bootstrap, "bench")
        cpu0 = broker.cpu()
        produce_s = produce_phase(broker.bootstrap, "bench", messages, size, settings)
        cpu1 = broker.cpu()
        consume_s = consume_phase(broker.bootstrap, "bench", messages)
        cpu2 = broker.cpu()
    finally:
        broker.stop()
    result: dict[str, Any] = {
        "produce_msgs_s": messages / produce_s,
        "consume_msgs_s": messages / consume_s,
        "produce_cpu_s": cpu1 - cpu0,
        "consume_cpu_s": cpu2 - cpu1,
    }
    if traced:
        with open(trace, "rb") as f:
            data = f.read()
        result["trace_lines"] = data.count(b"\n")
        result["trace_mb"] = len(data) / 1e6
        os.unlink(trace)
    os.rmdir(trace_dir)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--linger-ms", type=int, default=5, help="producer linger.ms")
    parser.add_argument("--batch-size", type=int, default=1 << 20, help="producer batch.size")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    settings = {**SETTINGS, "linger.ms": args.linger_ms, "batch.size": args.batch_size}
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for round_ in range(args.runs):
        for mode in ("off", "on"):
            started = time.perf_counter()
            result = one_run(mode == "on", args.messages, args.size, settings)
            runs[mode].append(result)
            print(
                f"round {round_ + 1} trace {mode}: "
                + ", ".join(f"{k}={v:,.2f}" for k, v in result.items())
                + f" ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
            )
    medians = {
        mode: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for mode, results in runs.items()
    }
    if args.json:
        print(json.dumps({"messages": args.messages, "size": args.size, "median": medians}))
        return
    print(f"{args.messages:,} x {args.size} B, median of {args.runs}:")
    for key in medians["off"]:
        off, on = medians["off"][key], medians["on"][key]
        print(f"  {key:16} off {off:12,.2f}   on {on:12,.2f}   ({(on / off - 1) * 100:+.1f}%)")
    for key in ("trace_lines", "trace_mb"):
        print(f"  {key:16} {medians['on'][key]:,.2f}")


if __name__ == "__main__":
    main()
