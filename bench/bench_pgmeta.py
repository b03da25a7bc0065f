# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""The metadata log in PostgreSQL: append latency, cross-broker propagation, contention, replay.

Run: .venv/bin/python bench/bench_pgmeta.py [--appends 500]

Starts a PostgreSQL server of its own (kafkatwist.testing.postgres), then with
two L{PgMetadataStore}s over one database (each its own connections, as two
brokers): the latency of one-record appends on one store; the time until the
other store's subscriber sees each of them (through NOTIFY); both stores
appending --appends records at once with C{append_when} (how many appends were
rebuilt after a conflict, and the rate); and a third store's L{load} replaying
every row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from twisted.internet import task
from twisted.internet.defer import Deferred, gatherResults

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kafkatwist.messages import metadata_records as mr  # noqa: E402
from kafkatwist.postgres.db import Database  # noqa: E402
from kafkatwist.postgres.metadata import PgMetadataStore  # noqa: E402
from kafkatwist.postgres.schema import migrate  # noqa: E402
from kafkatwist.storage.kraft import MetadataImage  # noqa: E402
from kafkatwist.testing.postgres import PostgresServer  # noqa: E402


def ms(samples: Sequence[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


async def measure(reactor: Any, dsn: str, appends: int) -> None:
    dbs = [Database(dsn, reactor) for _ in range(3)]
    a, b, c = (PgMetadataStore(db, node, reactor) for node, db in enumerate(dbs, 1))
    await a.load()
    await b.load()
    await b.sync()
    waiting: dict[str, Deferred[float]] = {}

    def seen(records: Sequence[Any]) -> None:
        for r in records:
            if isinstance(r, mr.ConfigRecord) and r.name in waiting:
                waiting.pop(r.name).callback(time.perf_counter())

    b.subscribe(seen)
    latencies, propagation = [], []
    for i in range(appends):
        name = f"k{i}"
        arrival: Deferred[float] = Deferred()
        waiting[name] = arrival
        start = time.perf_counter()
        await a.append([mr.ConfigRecord(4, "", name, "1")])
        latencies.append(time.perf_counter() - start)
        propagation.append(await arrival - start)
    print(f"append (one record, one broker):  {ms(latencies)}")
    print(f"seen by the other broker:         {ms(propagation)} after the append started")

    builds = [0]

    def writer(prefix: str, i: int) -> Deferred[MetadataImage]:
        def build(image: MetadataImage) -> list[object]:
            builds[0] += 1
            return [mr.ConfigRecord(4, "", f"{prefix}{i}", "1")]

        return (a if prefix == "a" else b).append_when(build)

    start = time.perf_counter()
    await gatherResults(
        [writer(p, i) for i in range(appends) for p in ("a", "b")]  # queued per store
    )
    elapsed = time.perf_counter() - start
    print(
        f"two brokers appending at once:    {2 * appends} appends in {elapsed:.2f} s "
        f"({2 * appends / elapsed:.0f}/s), {builds[0] - 2 * appends} rebuilt after a conflict"
    )
    start = time.perf_counter()
    await c.load()
    print(
        f"replay by a third broker:         {c.next_offset} records in "
        f"{(time.perf_counter() - start) * 1000:.0f} ms"
    )
    for store in (a, b, c):
        store.close()
    await gatherResults([db.stop() for db in dbs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=500)
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        dsn = server.create_database("bench")
        with psycopg.connect(dsn) as conn:
            migrate(conn)
        task.react(lambda reactor: Deferred.fromCoroutine(measure(reactor, dsn, args.appends)))
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
