# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Benchmark: the PostgreSQL partition log alone (appends and reads), no broker, no network client.

Run: /work/main/.venv/bin/python bench/bench_pg_log.py [--mb 32] [--batch-kb 16]
     [--in-flight 1,16,64] [--partitions 1,8] [--sync on,off] [--notify after]

A PostgreSQL server of its own (L{PostgresServer}: a temporary directory,
``fsync=on``) and the log manager of one broker on a real reactor. Append:
the same pre-built, pre-validated batch (incompressible values) appended
C{--mb} MiB per case, with C{--in-flight} appends outstanding per partition
(appends queued while a transaction is in flight share the next one: group
commit), over C{--partitions} partitions, with ``synchronous_commit`` on
(an acknowledgement waits for the WAL flush) and off. Read: the whole
partition sequentially, 1 MiB per read, from the leader's tail cache (on the
reactor thread) and from PostgreSQL (a leader with no tail cache).

C{--notify}: how the followers are told of each commit: C{after} (kafkatwist's
way: a NOTIFY of its own after the commit, coalesced per partition), C{inside}
(a NOTIFY inside every append transaction, as before: PostgreSQL's async.c
then holds a database-wide lock through each commit's WAL flush), C{none}.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from twisted.internet import reactor, task  # noqa: E402
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults  # noqa: E402

from kafkatwist.config.log_config import LogConfig  # noqa: E402
from kafkatwist.messages import metadata_records as mr  # noqa: E402
from kafkatwist.postgres import log_sql  # noqa: E402
from kafkatwist.postgres.db import Database, notify  # noqa: E402
from kafkatwist.postgres.manager import PgLogManager  # noqa: E402
from kafkatwist.postgres.schema import migrate  # noqa: E402
from kafkatwist.storage.interfaces import IPartitionLog  # noqa: E402
from kafkatwist.storage.kraft import KRaftMetadataStore  # noqa: E402
from kafkatwist.testing.postgres import PostgresServer  # noqa: E402
from kafkatwist.wire.record import build_batch  # noqa: E402
from kafkatwist.wire.validator import validate_produce_records  # noqa: E402

MIB = 1024 * 1024
NODE = 1
T = TypeVar("T")


class NotifyInsideDatabase(Database):
    """The old way, for comparison: each append transaction sends its NOTIFY before committing."""

    def run(self, work: Callable[[psycopg.Connection[Any]], T]) -> Deferred[T]:
        if not (isinstance(work, partial) and work.func is log_sql.append_batches):
            return super().run(work)
        append: Any = work

        def with_notify(conn: psycopg.Connection[Any]) -> T:
            result: T = append(conn)
            key = append.args[0].key
            notify(conn, log_sql.DATA_CHANNEL, f"{key.topic}:{key.partition}:0:0:0:0")
            return result

        return super().run(with_notify)


def make_batch(total_bytes: int, value_size: int = 1000) -> bytes:
    """One uncompressed batch of about C{total_bytes} with random values."""
    rng = random.Random(total_bytes)
    value_size = min(value_size, max(total_bytes // 4, 16))
    count = max(1, total_bytes // (value_size + 20))
    records = [(b"key-%d" % i, rng.randbytes(value_size)) for i in range(count)]
    return build_batch(records, base_timestamp=1_700_000_000_000)


class Bench:
    """One database, one metadata store; topics made per case."""

    def __init__(
        self, dsn: str, sync: str, metadata: KRaftMetadataStore, notify: str = "after"
    ) -> None:
        self.dsn = dsn
        kind = NotifyInsideDatabase if notify == "inside" else Database
        self.db = kind(f"{dsn}?options=-csynchronous_commit%3D{sync}", reactor, size=4)
        self.metadata = metadata
        self.config = LogConfig()
        self.notify = notify

    def manager(self, tail_bytes: int) -> PgLogManager:
        logs = PgLogManager(
            self.db, self.metadata, NODE, reactor, lambda _: self.config, tail_bytes=tail_bytes
        )
        if self.notify != "after":
            logs.notifier = None
        return logs

    async def topic(self, name: str, partitions: int) -> None:
        topic_id = uuid.uuid4()
        records: list[object] = [mr.TopicRecord(name=name, topic_id=topic_id)]
        records += [
            mr.PartitionRecord(
                partition_id=p,
                topic_id=topic_id,
                replicas=(NODE,),
                isr=(NODE,),
                leader=NODE,
                leader_epoch=0,
                partition_epoch=0,
                directories=(),
                eligible_leader_replicas=None,
                last_known_elr=None,
            )  # fmt: skip
            for p in range(partitions)
        ]
        await self.metadata.append(records)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for p in range(partitions):
                conn.execute(
                    "INSERT INTO partitions (topic_id, partition, leader, leader_epoch)"
                    " VALUES (%s, %s, %s, 0)",
                    (topic_id, p, NODE),
                )


async def append_case(
    bench: Bench, name: str, batch: bytes, total: int, partitions: int, in_flight: int
) -> tuple[float, float]:
    """Append C{total} bytes over C{partitions}; (MiB/s, appends/s)."""
    await bench.topic(name, partitions)
    logs = bench.manager(4 * MIB)
    parts: list[IPartitionLog] = [await logs.become_leader(name, p, 0) for p in range(partitions)]
    found = validate_produce_records(batch, max_batch_bytes=1 << 24)
    per_partition = max(1, total // len(batch) // partitions)

    async def drive(log: IPartitionLog) -> None:
        sent = 0
        window: list[Deferred[object]] = []
        while sent < per_partition:
            while len(window) < in_flight and sent < per_partition:
                window.append(log.append(batch, found, leader_epoch=0, now_ms=0))  # type: ignore[arg-type]
                sent += 1
            await window.pop(0)
        await gatherResults(window)

    start = time.perf_counter()
    await gatherResults([ensureDeferred(drive(log)) for log in parts])
    elapsed = time.perf_counter() - start
    count = per_partition * partitions
    return count * len(batch) / MIB / elapsed, count / elapsed


async def read_case(bench: Bench, name: str) -> float:
    """Read partition 0 of C{name} from PostgreSQL, start to end, 1 MiB at a time; MiB/s."""
    logs = bench.manager(0)
    log = await logs.become_leader(name, 0, 0)
    offset, read = 0, 0
    start = time.perf_counter()
    while offset < log.high_watermark:
        result = await log.read(offset, MIB)
        read += result.size
        last = result.buffers[-1]
        offset = int.from_bytes(last[0:8], "big") + int.from_bytes(last[23:27], "big") + 1
    return read / MIB / (time.perf_counter() - start)


async def main(args: argparse.Namespace) -> None:
    server = PostgresServer()
    server.start()
    try:
        dsn = server.create_database("bench")
        with psycopg.connect(dsn) as conn:
            migrate(conn)
        metadata = KRaftMetadataStore(tempfile.mkdtemp(prefix="bench-pglog-"), clock=reactor)
        batch = make_batch(args.batch_kb * 1024)
        total = args.mb * MIB
        print(f"batch {len(batch)} bytes, {args.mb} MiB per case")
        header = f"{'notify':>6} {'sync':>5} {'parts':>5} {'in flight':>9}"
        print(f"{header} {'MiB/s':>8} {'appends/s':>10}")
        n = 0
        for how in args.notify.split(","):
            for sync in args.sync.split(","):
                bench = Bench(dsn, sync, metadata, how)
                for partitions in (int(p) for p in args.partitions.split(",")):
                    for in_flight in (int(i) for i in args.in_flight.split(",")):
                        n += 1
                        mibs, rate = await append_case(
                            bench, f"t{n}", batch, total, partitions, in_flight
                        )
                        case = f"{how:>6} {sync:>5} {partitions:>5} {in_flight:>9}"
                        print(f"{case} {mibs:>8.1f} {rate:>10.0f}")
                await bench.db.stop()
        bench = Bench(dsn, "on", metadata)
        # The last append case's partition 0, read by a new leader with no tail cache.
        cold = await read_case(bench, f"t{n}")
        print(f"read from PostgreSQL: {cold:.1f} MiB/s")
        await bench.topic("warm", 1)
        warm_logs = bench.manager(1 << 40)
        warm = await warm_logs.become_leader("warm", 0, 0)
        found = validate_produce_records(batch, max_batch_bytes=1 << 24)
        for _ in range(max(1, total // len(batch))):
            await warm.append(batch, found, leader_epoch=0, now_ms=0)
        offset, read = 0, 0
        start = time.perf_counter()
        while offset < warm.high_watermark:
            result = await warm.read(offset, MIB)
            read += result.size
            last = result.buffers[-1]
            offset = int.from_bytes(last[0:8], "big") + int.from_bytes(last[23:27], "big") + 1
        print(f"read from the tail cache: {read / MIB / (time.perf_counter() - start):.1f} MiB/s")
        await bench.db.stop()
    finally:
        server.destroy()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=32)
    parser.add_argument("--batch-kb", type=int, default=16)
    parser.add_argument("--in-flight", default="1,16,64")
    parser.add_argument("--partitions", default="1,8")
    parser.add_argument("--sync", default="on,off")
    parser.add_argument("--notify", default="after")
    args = parser.parse_args()
    task.react(lambda _: ensureDeferred(main(args)))


if __name__ == "__main__":
    run()
