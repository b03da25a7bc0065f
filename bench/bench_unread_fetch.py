# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Broker memory under a client that pipelines Fetches and never reads the replies.

Starts a broker as a child process (``twistd kafkatwist``), fills a topic
with 1.2 MB (four batches of one 300 kB record), then opens a hostile
connection that sends C{--fetches} pipelined Fetch requests of C{--max-bytes}
each and reads nothing, while another client keeps sending ApiVersions and
reading the answers. Every 20 ms it samples the broker's RSS
(``/proc/<pid>/status`` VmRSS) for C{--seconds}, and reports the baseline,
the peak growth and how many answers the other client got (and its slowest).
With C{--unpaced} the hostile client keeps sending Fetches for the whole run.
Sampling stops early once the growth passes C{--max-growth} MiB, to spare
the machine.

Usage: python bench/bench_unread_fetch.py [--fetches N] [--max-bytes B] [--seconds S]
       [--unpaced] [--max-growth MiB]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kafkatwist.messages.api_versions import (  # noqa: E402
    ApiVersionsRequest,
    ApiVersionsResponse,
)
from tests.client_batches import client_batch  # noqa: E402
from tests.integration.child import ChildBroker  # noqa: E402
from tests.integration.raw import (  # noqa: E402
    RawClient,
    create_topic,
    fetch_frame,
    produce,
    rss_kib,
)

MiB = 1024 * 1024
TOPIC = "unread"


def fill(port: int) -> None:
    """Create the topic with four batches of one 300 kB record."""
    client = RawClient(port)
    create_topic(client, TOPIC)
    for _ in range(4):
        if produce(client, TOPIC, client_batch(records=[(None, os.urandom(300_000), [])])):
            raise SystemExit("produce failed")
    client.close()


def hostile(port: int, fetches: int, max_bytes: int, unpaced: bool, stop: threading.Event) -> None:
    """Send Fetches and never read (until C{stop}, with C{unpaced})."""
    client = RawClient(port, timeout=1.0)
    correlation_id = 0
    try:
        while not stop.is_set():
            batch = b"".join(fetch_frame(TOPIC, correlation_id + i, max_bytes) for i in range(100))
            correlation_id += 100
            try:
                client.send(batch)
            except TimeoutError:
                continue  # The broker stopped reading: keep trying, as a hostile client would.
            if not unpaced and correlation_id >= fetches:
                break
        stop.wait()
    except OSError:
        pass
    finally:
        client.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetches", type=int, default=1000, help="pipelined Fetches (1000)")
    parser.add_argument("--max-bytes", type=int, default=MiB, help="Fetch max bytes (1 MiB)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to watch (20)")
    parser.add_argument("--unpaced", action="store_true", help="send Fetches without end")
    parser.add_argument("--max-growth", type=float, default=1536, help="stop past this (MiB)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        broker = ChildBroker(os.path.join(tmp, "logs"))
        broker.start()
        try:
            assert broker.process is not None
            pid = broker.process.pid
            fill(broker.port)
            other = RawClient(broker.port, timeout=60)
            other.send(fetch_frame(TOPIC, 0, args.max_bytes))
            other.recv_frame()
            time.sleep(0.5)
            base = rss_kib(pid)
            stop = threading.Event()
            sender = threading.Thread(
                target=hostile,
                args=(broker.port, args.fetches, args.max_bytes, args.unpaced, stop),
                daemon=True,
            )
            sender.start()
            peak, answers, slowest = base, 0, 0.0
            request = ApiVersionsRequest(client_software_name="bench", client_software_version="1")
            start = time.monotonic()
            while time.monotonic() - start < args.seconds:
                t0 = time.monotonic()
                other.call(18, 3, request, ApiVersionsResponse)
                slowest = max(slowest, time.monotonic() - t0)
                answers += 1
                peak = max(peak, rss_kib(pid))
                if (peak - base) / 1024 > args.max_growth:
                    print(f"stopped early: growth passed {args.max_growth:g} MiB")
                    break
                time.sleep(0.02)
            elapsed = time.monotonic() - start
            final = rss_kib(pid)
            stop.set()
        finally:
            broker.kill()
    mode = "unpaced" if args.unpaced else f"{args.fetches} pipelined"
    print(
        f"{mode} Fetches of {args.max_bytes / MiB:g} MiB, never read, watched {elapsed:.1f} s:\n"
        f"  broker RSS baseline {base / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
        f"(growth {(peak - base) / 1024:.1f} MiB), at the end {final / 1024:.1f} MiB\n"
        f"  other client: {answers} answers, slowest {slowest * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
