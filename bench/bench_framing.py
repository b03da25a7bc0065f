# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Framing benchmark: one large frame delivered in small pieces.

Feeds a single length-prefixed frame (50 MiB by default) in 64 KiB reads to

* L{kafkatwist.transport.protocol.KafkaServerProtocol}, with a trivial dispatcher
  that answers nothing, and
* Twisted's stock L{twisted.protocols.basic.Int32StringReceiver}, whose
  C{dataReceived} concatenates the whole unprocessed buffer on every read
  (twisted#6358), so its cost grows with the square of the frame size.

The stock receiver is measured on a smaller frame (10 MiB by default) and its
time extrapolated quadratically to the full size; pass C{--stock-full} to
measure it at full size instead. The extrapolation is a lower bound: once the
buffer outgrows the CPU caches each copy gets slower per byte (on the
development machine, 10 MiB took 0.045 s, extrapolating to 1.1 s for 50 MiB,
while 50 MiB measured 8.1 s). Times cover only the C{dataReceived} calls:
the pieces are prepared beforehand, as a socket would hand them over.

Usage: python bench/bench_framing.py [--size MiB] [--chunk KiB] [--stock-size MiB]
       [--stock-full] [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from twisted.internet.defer import Deferred, succeed  # noqa: E402
from twisted.internet.protocol import Protocol  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402
from twisted.protocols.basic import Int32StringReceiver  # noqa: E402

from kafkatwist.transport.protocol import KafkaServerFactory  # noqa: E402

MiB = 1024 * 1024


class NullDispatcher:
    """Accepts every frame and answers nothing (as for acks=0)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def dispatch(
        self, frame: bytes, peer: str = "", local_host: str | None = None
    ) -> Deferred[None]:
        self.sizes.append(len(frame))
        return succeed(None)


class StockReceiver(Int32StringReceiver):
    """Twisted's receiver, unchanged but for the size limit."""

    MAX_LENGTH = 2**31 - 1

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def stringReceived(self, string: bytes) -> None:
        self.sizes.append(len(string))


def pieces(size: int, chunk: int) -> list[bytes]:
    """One frame of C{size} payload bytes, prefixed, cut into C{chunk}-byte reads."""
    data = struct.pack(">i", size) + os.urandom(1024) * (size // 1024) + b"x" * (size % 1024)
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def run(make: Callable[[], tuple[object, Callable[[], list[int]]]], reads: list[bytes]) -> float:
    """Seconds to deliver C{reads} to a fresh protocol; checks one whole frame arrived."""
    protocol, sizes = make()
    expected = sum(len(r) for r in reads) - 4
    gc.collect()
    start = time.perf_counter()
    for r in reads:
        protocol.dataReceived(r)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    if sizes() != [expected]:
        raise SystemExit(f"frame not delivered whole: {sizes()} != [{expected}]")
    return elapsed


def connect(protocol: Protocol) -> None:
    """Connect C{protocol} to an in-memory transport."""
    # Both are untyped in Twisted.
    protocol.makeConnection(StringTransport())  # type: ignore[no-untyped-call]


def make_kafkatwist() -> tuple[object, Callable[[], list[int]]]:
    dispatcher = NullDispatcher()
    factory = KafkaServerFactory(dispatcher, max_request_size=2**31 - 1)  # type: ignore[arg-type]
    protocol = factory.buildProtocol(None)
    connect(protocol)
    return protocol, lambda: dispatcher.sizes


def make_stock() -> tuple[object, Callable[[], list[int]]]:
    protocol = StockReceiver()
    connect(protocol)
    return protocol, lambda: protocol.sizes


def report(name: str, size: int, seconds: float, note: str = "") -> None:
    mb_per_s = size / MiB / seconds if seconds else float("inf")
    print(f"{name:<28} {size / MiB:8.1f} MiB {seconds:10.3f} s {mb_per_s:10.1f} MiB/s  {note}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=50, help="frame size in MiB (50)")
    parser.add_argument("--chunk", type=int, default=64, help="read size in KiB (64)")
    parser.add_argument("--stock-size", type=float, default=10, help="stock frame size in MiB (10)")
    parser.add_argument("--stock-full", action="store_true", help="measure stock at full size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best kept")
    args = parser.parse_args(argv)

    size = int(args.size * MiB)
    chunk = args.chunk * 1024
    print(f"Python {sys.version.split()[0]}, {args.chunk} KiB reads, best of {args.repeat}")

    reads = pieces(size, chunk)
    best = min(run(make_kafkatwist, reads) for _ in range(args.repeat))
    report("KafkaServerProtocol", size, best)

    stock_size = size if args.stock_full else int(min(args.stock_size, args.size) * MiB)
    stock_reads = reads if stock_size == size else pieces(stock_size, chunk)
    stock = min(run(make_stock, stock_reads) for _ in range(args.repeat))
    report("Int32StringReceiver", stock_size, stock, "measured")
    if stock_size != size:
        scaled = stock * (size / stock_size) ** 2
        factor = (size / stock_size) ** 2
        report("Int32StringReceiver", size, scaled, f"extrapolated (x{factor:.0f}, quadratic)")
        print(
            f"speed-up at {args.size:g} MiB: at least ~{scaled / best:.0f}x (extrapolated; a lower"
            " bound, since copies that outgrow the CPU caches get slower per byte: use"
            " --stock-full to measure)"
        )
    else:
        print(f"speed-up at {args.size:g} MiB: {stock / best:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
