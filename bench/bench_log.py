# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Benchmark: partition log append throughput and LogManager start-up after an unclean stop.

Run: /work/venv/bin/python bench/bench_log.py [--append-mb 256] [--startup-bytes 200M]
     [--partitions 100] [--threads 1,2] [--in-flight 1,8] [--dir /tmp]

Append: one partition, the same pre-built, pre-validated batch appended over
and over (1 MiB and 16 KiB batches, uncompressed, incompressible values),
with the default flush policy (page cache; fsync only on roll) and with
``flush.messages=1`` (each append waits for a real fsync in a Twisted thread
pool, on a real reactor). With more than one append in flight, appends that
arrive while a flush runs share the next one (group commit).

Start-up: ``--startup-bytes`` of 16 KiB batches spread over ``--partitions``
partitions, left as a crash leaves them (no clean-shutdown marker, no
recovery-point checkpoint, preallocated indexes), then ``LogManager.load()``
on a real reactor with ``--threads`` recovery threads per data dir: every
batch's CRC-32C is checked and every index rebuilt. The page cache is warm
(the files were just written); a cold start adds the disk's read time. A
clean start-up (marker present) is timed for comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import task  # noqa: E402
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred  # noqa: E402
from twisted.internet.threads import deferToThreadPool  # noqa: E402
from twisted.python.threadpool import ThreadPool  # noqa: E402

from kafkatwist.clock import RunBlocking  # noqa: E402
from kafkatwist.config.log_config import LogConfig  # noqa: E402
from kafkatwist.storage.checkpoints import remove_clean_shutdown  # noqa: E402
from kafkatwist.storage.loader import open_partition_log  # noqa: E402
from kafkatwist.storage.manager import LogManager  # noqa: E402
from kafkatwist.storage.results import AppendInfo  # noqa: E402
from kafkatwist.wire.record import build_batch  # noqa: E402
from kafkatwist.wire.validator import validate_produce_records  # noqa: E402

MIB = 1024 * 1024


def make_batch(total_bytes: int, value_size: int = 1000) -> bytes:
    """One uncompressed batch of about C{total_bytes} with random values."""
    rng = random.Random(total_bytes)
    value_size = min(value_size, max(total_bytes // 4, 16))
    count = max(1, total_bytes // (value_size + 20))
    records = [(b"key-%d" % i, rng.randbytes(value_size)) for i in range(count)]
    return build_batch(records, base_timestamp=1_700_000_000_000)


T = TypeVar("T")


def parse_size(text: str) -> int:
    """'200M', '1G', '4096' -> bytes."""
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    text = text.strip().upper()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def sync_run(fn: Callable[[], T]) -> Deferred[T]:
    return maybeDeferred(fn)


async def bench_append(
    reactor: Any,
    root: str,
    batch_bytes: int,
    total_mb: int,
    flush_messages: int,
    in_flight: int,
    run_blocking: RunBlocking,
) -> float:
    """MB/s for appending C{total_mb} MiB in batches of C{batch_bytes}."""
    data = make_batch(batch_bytes)
    batches = validate_produce_records(data, max_batch_bytes=64 * MIB)
    directory = tempfile.mkdtemp(prefix="append-", dir=root)
    config = LogConfig(flush_messages=flush_messages, max_message_bytes=64 * MIB)
    log = open_partition_log(
        os.path.join(directory, "bench-0"),
        "bench",
        0,
        config,
        clock=reactor,
        run_blocking=run_blocking,
        recover=False,
    )
    count = max(1, total_mb * MIB // len(data))
    started = time.perf_counter()
    pending: list[Deferred[AppendInfo]] = []
    for _ in range(count):
        pending.append(log.append(data, batches, leader_epoch=0, now_ms=0))
        if len(pending) >= in_flight:
            await DeferredList(pending, fireOnOneErrback=True)
            pending = []
    if pending:
        await DeferredList(pending, fireOnOneErrback=True)
    elapsed = time.perf_counter() - started
    await log.close()
    shutil.rmtree(directory, ignore_errors=True)
    return count * len(data) / MIB / elapsed


def write_crash_image(root: str, total: int, partitions: int) -> str:
    """C{total} bytes of 16 KiB batches over C{partitions} partitions, left unclosed."""
    directory = os.path.join(root, "logs")
    data = make_batch(16 * 1024)
    batches = validate_produce_records(data, max_batch_bytes=64 * MIB)
    per_partition = max(1, total // partitions // len(data))
    clock = task.Clock()
    logs = []
    for p in range(partitions):
        log = open_partition_log(
            os.path.join(directory, f"startup-{p}"),
            "startup",
            p,
            LogConfig(),
            clock=clock,
            run_blocking=sync_run,
            recover=False,
        )
        for _ in range(per_partition):
            log.append(data, batches, leader_epoch=0, now_ms=0)
        logs.append(log)
    # Crash: no close, no marker, no checkpoints; just drop the descriptors.
    for log in logs:
        for segment in log.segments:
            segment.close_maps()
            segment.close_files()
    os.sync()
    return directory


async def bench_startup(reactor: Any, directory: str, threads: int, pool: ThreadPool) -> float:
    """Seconds for LogManager.load() over C{directory}."""

    def run_blocking(fn: Callable[[], T]) -> Deferred[T]:
        return deferToThreadPool(reactor, pool, fn)

    manager = LogManager(
        [directory],
        lambda topic: LogConfig(),
        clock=reactor,
        run_blocking=run_blocking,
        recovery_threads_per_data_dir=threads,
    )
    started = time.perf_counter()
    await manager.load()
    elapsed = time.perf_counter() - started
    assert manager.failed() == {}, manager.failed()
    await manager.close()
    return elapsed


async def main(reactor: Any, args: argparse.Namespace) -> None:
    pool = ThreadPool(minthreads=1, maxthreads=max(args.pool, max(args.threads)))
    pool.start()
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)

    def threaded(fn: Callable[[], T]) -> Deferred[T]:
        return deferToThreadPool(reactor, pool, fn)

    root = tempfile.mkdtemp(prefix="kafkatwist-bench-", dir=args.dir)
    try:
        print(f"append, {args.append_mb} MiB per case, one partition, dir {root}")
        for batch_bytes, label in ((MIB, "1 MiB"), (16 * 1024, "16 KiB")):
            rate = await bench_append(
                reactor, root, batch_bytes, args.append_mb, 2**63 - 1, 1, threaded
            )
            print(f"  {label:>6} batches, page cache (default flush policy): {rate:8.1f} MB/s")
            for in_flight in args.in_flight:
                mb = args.append_mb if batch_bytes == MIB else max(1, args.append_mb // 8)
                rate = await bench_append(reactor, root, batch_bytes, mb, 1, in_flight, threaded)
                print(
                    f"  {label:>6} batches, flush.messages=1, {in_flight} in flight:"
                    f" {rate:8.1f} MB/s ({mb} MiB)"
                )
        total = args.startup_bytes
        print(
            f"start-up after an unclean stop: {total / MIB:.0f} MiB in {args.partitions} partitions"
        )
        written = time.perf_counter()
        directory = write_crash_image(root, total, args.partitions)
        print(f"  (wrote the image in {time.perf_counter() - written:.1f}s)")
        for threads in args.threads:
            image = os.path.join(root, f"copy-{threads}")
            shutil.copytree(directory, image)
            seconds = await bench_startup(reactor, image, threads, pool)
            rate = total / MIB / seconds
            print(
                f"  recovery, {threads} thread(s): {seconds:6.2f}s"
                f" ({rate:.0f} MiB/s, warm page cache)"
            )
            seconds = await bench_startup(reactor, image, threads, pool)
            print(f"  clean start-up after that close, {threads} thread(s): {seconds:6.2f}s")
            remove_clean_shutdown(image)
            shutil.rmtree(image, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--append-mb", type=int, default=256)
    parser.add_argument("--startup-bytes", type=parse_size, default=parse_size("200M"))
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument(
        "--in-flight", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8]
    )
    parser.add_argument("--pool", type=int, default=4, help="thread pool size")
    parser.add_argument("--dir", default=None, help="where to write (default: the temp dir)")
    args = parser.parse_args()
    task.react(lambda reactor: Deferred.fromCoroutine(main(reactor, args)))


if __name__ == "__main__":
    cli()
