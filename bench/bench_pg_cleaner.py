# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Benchmark: the log cleaner over a PostgreSQL partition log (no broker, no network client).

Run: /work/main/.venv/bin/python bench/bench_pg_cleaner.py [--mb 64] [--keys 10000]
     [--value-bytes 100] [--per-batch 100] [--codec 0]

A PostgreSQL server of its own (L{PostgresServer}, ``fsync=on``) and one
broker's log manager and cleaner on a real reactor. A compacted partition is
filled with C{--mb} MiB of updates (C{--per-batch} records of C{--value-bytes}
over C{--keys} keys, round after round), one more append rolls its active
segment (``segment.ms=0`` here: every append rolls it), then:

1. first pass: everything is dirty (the map is built over the whole log,
   then the whole log is filtered and the changed rows replaced);
2. second pass after as many updates again (the clean part is re-read and
   left in place, the dirty part rewritten);
3. the first pass again on a fresh copy while appends run (16 in flight): the
   append latency p50 / p99 with and without a pass running (the fence row is
   locked only while a chunk's rows are replaced).

Throughput is MB (10^6 bytes) of batches cleaned (read in the cleaning step)
per second of the whole pass (map building included), and the map step's and
the cleaning step's own rates.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from twisted.internet import reactor, task, threads  # noqa: E402
from twisted.internet.defer import Deferred, ensureDeferred  # noqa: E402

from kafkatwist.config.log_config import LogConfig  # noqa: E402
from kafkatwist.messages import metadata_records as mr  # noqa: E402
from kafkatwist.postgres.cleaner import PgCleanerManager  # noqa: E402
from kafkatwist.postgres.db import Database  # noqa: E402
from kafkatwist.postgres.log import PgPartitionLog  # noqa: E402
from kafkatwist.postgres.manager import PgLogManager  # noqa: E402
from kafkatwist.postgres.schema import migrate  # noqa: E402
from kafkatwist.storage.cleaner import CleanStats  # noqa: E402
from kafkatwist.storage.kraft import KRaftMetadataStore  # noqa: E402
from kafkatwist.testing.postgres import PostgresServer  # noqa: E402
from kafkatwist.wire.record import build_batch  # noqa: E402
from kafkatwist.wire.validator import validate_produce_records  # noqa: E402

MB = 1_000_000
NODE = 1
T0 = 1_700_000_000_000


class Bench:
    """One database, one metadata store, one log manager and cleaner."""

    def __init__(self, dsn: str, metadata: KRaftMetadataStore, codec: int) -> None:
        self.dsn = dsn
        self.db = Database(dsn, reactor, size=4)
        self.cleaner_db = Database(dsn, reactor, size=1)
        self.metadata = metadata
        # segment.ms 0: every append rolls the active segment (all but the last is cleanable).
        self.config = LogConfig(cleanup_policy="compact", segment_ms=0)
        self.logs = PgLogManager(self.db, metadata, NODE, reactor, lambda _: self.config)
        self.cleaner = PgCleanerManager(self.logs, self.cleaner_db, NODE)
        self.codec = codec

    async def topic(self, name: str) -> PgPartitionLog:
        topic_id = uuid.uuid4()
        await self.metadata.append([
            mr.TopicRecord(name=name, topic_id=topic_id),
            mr.PartitionRecord(
                partition_id=0, topic_id=topic_id, replicas=(NODE,), isr=(NODE,), leader=NODE,
                leader_epoch=0, partition_epoch=0, directories=(), eligible_leader_replicas=None,
                last_known_elr=None,
            ),
        ])  # fmt: skip
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO partitions (topic_id, partition, leader, leader_epoch)"
                " VALUES (%s, 0, %s, 0)",
                (topic_id, NODE),
            )
        log = await self.logs.become_leader(name, 0, 0)
        assert isinstance(log, PgPartitionLog)
        return log

    def batch(self, rng: random.Random, keys: int, per_batch: int, value_bytes: int) -> bytes:
        records = [
            (b"key-%08d" % rng.randrange(keys), rng.randbytes(value_bytes))
            for _ in range(per_batch)
        ]
        return build_batch(records, base_timestamp=T0, compression=self.codec)

    async def fill(self, log: PgPartitionLog, args: argparse.Namespace, seed: int) -> int:
        """Append C{--mb} MiB of updates, 16 appends in flight; the bytes appended."""
        rng = random.Random(seed)
        total = 0
        window: list[Deferred[object]] = []
        while total < args.mb * MB:
            buf = self.batch(rng, args.keys, args.per_batch, args.value_bytes)
            found = validate_produce_records(buf, max_batch_bytes=1 << 24)
            window.append(log.append(buf, found, leader_epoch=0, now_ms=T0))  # type: ignore[arg-type]
            total += len(buf)
            if len(window) >= 16:
                await window.pop(0)
        for d in window:
            await d
        await self.append_one(log, rng, args)
        return total

    async def append_one(
        self, log: PgPartitionLog, rng: random.Random, a: argparse.Namespace
    ) -> float:
        buf = self.batch(rng, a.keys, a.per_batch, a.value_bytes)
        found = validate_produce_records(buf, max_batch_bytes=1 << 24)
        began = time.perf_counter()
        await log.append(buf, found, leader_epoch=0, now_ms=T0)
        return time.perf_counter() - began

    async def clean(self, log: PgPartitionLog) -> CleanStats:
        checkpoint = self.cleaner.checkpoint_of(log.topic, 0)
        return await self.cleaner.clean(
            log,
            first_dirty_offset=log.log_start_offset if checkpoint is None else checkpoint,
            now_ms=T0,
            offset_map_bytes=128 * 1024 * 1024,
            run_blocking=lambda fn: threads.deferToThread(fn),
        )


def report(what: str, stats: CleanStats, appended: int) -> None:
    total = stats.seconds
    print(
        f"{what}: {stats.bytes_read / MB:.1f} MB cleaned -> {stats.bytes_written / MB:.1f} MB"
        f" (log {appended / MB:.1f} MB appended), {stats.records_kept}/{stats.records_read}"
        f" records kept, map {stats.map_bytes_read / MB:.1f} MB, {stats.segments_cleaned}"
        f" transactions, {total:.2f} s: {stats.bytes_read / MB / total:.1f} MB/s cleaned,"
        f" {(stats.bytes_read + stats.map_bytes_read) / MB / total:.1f} MB/s read"
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def latency_while(bench: Bench, log: PgPartitionLog, args: argparse.Namespace,
                        running: Deferred[CleanStats] | None) -> list[float]:  # fmt: skip
    """Append latencies (ms), one append at a time, until C{running} fires (or 300 appends)."""
    rng = random.Random(7)
    samples: list[float] = []
    done = [False]
    if running is not None:
        running.addBoth(lambda r: done.__setitem__(0, True) or r)
    while not done[0] and len(samples) < (10_000 if running is not None else 300):
        samples.append(1000 * await bench.append_one(log, rng, args))
    return samples


async def main(args: argparse.Namespace) -> None:
    server = PostgresServer()
    server.start()
    try:
        dsn = server.create_database("bench")
        with psycopg.connect(dsn) as conn:
            migrate(conn)
        metadata = KRaftMetadataStore(tempfile.mkdtemp(prefix="bench-pgclean-"), clock=reactor)
        bench = Bench(dsn, metadata, args.codec)
        print(
            f"{args.mb} MB of updates: {args.per_batch} records of {args.value_bytes} bytes"
            f" per batch over {args.keys} keys, codec {args.codec}"
        )
        log = await bench.topic("dirty")
        appended = await bench.fill(log, args, 1)
        report("first pass (all dirty)", await bench.clean(log), appended)
        appended += await bench.fill(log, args, 2)
        report("second pass (clean part + as much dirty)", await bench.clean(log), appended)
        busy = await bench.topic("busy")
        await bench.fill(busy, args, 3)
        idle = await latency_while(bench, busy, args, None)
        running = ensureDeferred(bench.clean(busy))
        during = await latency_while(bench, busy, args, running)
        report("pass with appends running", await running, appended)
        for name, samples in (("idle", idle), ("during a pass", during)):
            print(
                f"append latency {name}: p50 {percentile(samples, 0.5):.2f} ms,"
                f" p99 {percentile(samples, 0.99):.2f} ms ({len(samples)} appends)"
            )
        await bench.logs.close()
        await bench.cleaner_db.stop()
        await bench.db.stop()
    finally:
        server.destroy()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--per-batch", type=int, default=100)
    parser.add_argument("--codec", type=int, default=0)
    args = parser.parse_args()
    task.react(lambda _: ensureDeferred(main(args)))


if __name__ == "__main__":
    run()
