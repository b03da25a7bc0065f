# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""What one PostgreSQL server takes of the PostgreSQL engine's appends, on this machine.

Run: .venv/bin/python bench/bench_pg_appends.py [--seconds S] [--size BYTES]

Starts a PostgreSQL server (initdb in a temporary directory, fsync on) and
times the shape of the engine's append transaction with N client
connections in threads (psycopg 3, as the brokers' pool threads are):

    UPDATE partitions SET next_offset = next_offset + n
        WHERE topic_id = .. AND partition = .. AND leader = .. AND leader_epoch = ..
        RETURNING next_offset - n;
    INSERT INTO batches (...) VALUES (..., <SIZE bytes of bytea>);
    COMMIT;

(``--notify inside``: and a C{pg_notify('kafkatwist_data', ...)}, the engine's
wake-up; ``--notify after``: the notification in a transaction of its own
after the commit, with C{synchronous_commit} off)
each connection on a partition of its own (no row-lock waits; ``--shared``:
all on one partition), with ``synchronous_commit`` on and off. It prints a
markdown table: commits/s, MB/s of batch bytes, WAL MB/s
(``pg_current_wal_lsn`` before and after) and the server's CPU seconds per
1,000 commits. These are the numbers README's "How it scales past one
machine" estimates from.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_cluster import postgres_cpu  # noqa: E402
from kafkatwist.testing.postgres import PostgresServer  # noqa: E402

SCHEMA = """
CREATE TABLE partitions (
    topic_id uuid NOT NULL, partition integer NOT NULL, leader integer NOT NULL,
    leader_epoch integer NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (topic_id, partition));
CREATE TABLE batches (
    topic_id uuid NOT NULL, partition integer NOT NULL, base_offset bigint NOT NULL,
    last_offset bigint NOT NULL, max_timestamp bigint NOT NULL, producer_id bigint NOT NULL,
    data bytea NOT NULL, PRIMARY KEY (topic_id, partition, base_offset));
CREATE INDEX batches_time ON batches (topic_id, partition, max_timestamp);
"""
TOPIC = "00000000-0000-0000-0000-000000000001"
RECORDS_PER_BATCH = 100


def append_loop(
    dsn: str,
    partition: int,
    slot: int,
    payload: bytes,
    until: float,
    counts: list[int],
    notify: str = "none",
) -> None:
    """Append batches to C{partition} until C{until}; how many into C{counts[slot]}."""
    with psycopg.connect(dsn) as conn:
        done = 0
        while time.monotonic() < until:
            with conn.transaction():
                row = conn.execute(
                    "UPDATE partitions SET next_offset = next_offset + %s WHERE topic_id = %s "
                    "AND partition = %s AND leader = 1 AND leader_epoch = 0 "
                    "RETURNING next_offset - %s",
                    (RECORDS_PER_BATCH, TOPIC, partition, RECORDS_PER_BATCH),
                ).fetchone()
                assert row is not None
                base = int(row[0])
                conn.execute(
                    "INSERT INTO batches VALUES (%s, %s, %s, %s, %s, 7, %s)",
                    (TOPIC, partition, base, base + RECORDS_PER_BATCH - 1, base, payload),
                )
                if notify:
                    conn.execute(
                        "SELECT pg_notify('kafkatwist_data', %s)", (f"{partition}:{base}",)
                    )
            done += 1
        counts[slot] = done


def run(
    server: PostgresServer,
    connections: int,
    shared: bool,
    size: int,
    seconds: float,
    notify: str = "none",
) -> tuple[float, float, float, float]:
    """commits/s, batch MB/s, WAL MB/s, server CPU s per 1,000 commits."""
    dsn = server.dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE batches, partitions")
        for p in range(connections):
            conn.execute("INSERT INTO partitions VALUES (%s, %s, 1, 0, 0)", (TOPIC, p))
        conn.execute("CHECKPOINT")
        lsn0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    cpu0 = postgres_cpu(server.data_dir)
    payload = os.urandom(size)
    counts = [0] * connections
    until = time.monotonic() + seconds
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=append_loop, args=(dsn, 0 if shared else p, p, payload, until, counts, notify)
        )
        for p in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cpu = postgres_cpu(server.data_dir) - cpu0
    with psycopg.connect(dsn, autocommit=True) as conn:
        start_lsn = lsn0[0] if lsn0 else "0/0"
        row = conn.execute("SELECT pg_current_wal_lsn() - %s::pg_lsn", (start_lsn,)).fetchone()
    wal = float(row[0]) if row else 0.0
    commits = sum(counts)
    return (
        commits / elapsed,
        commits * size / elapsed / 1e6,
        wal / elapsed / 1e6,
        cpu * 1000 / commits,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--size", type=int, default=16384, help="batch bytes per row")
    parser.add_argument("--connections", default="1,4,16", help="client connections to try")
    parser.add_argument(
        "--notify",
        choices=("none", "inside", "after"),
        default="none",
        help="each append NOTIFYs too: in its transaction, or after it in one of its own "
        "with synchronous_commit off",
    )
    args = parser.parse_args()
    notify = {"none": "", "inside": ", NOTIFY inside", "after": ", NOTIFY after"}[args.notify]
    print(f"{args.size}-byte batches{notify}, {args.seconds:g} s per line\n")
    print(
        "| synchronous_commit | connections | partitions | commits/s | batch MB/s | WAL MB/s "
        "| PostgreSQL CPU s per 1,000 commits |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for synchronous_commit in ("on", "off"):
        server = PostgresServer(settings={"synchronous_commit": synchronous_commit})
        server.start()
        try:
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                conn.execute(SCHEMA)
            for n in (int(c) for c in args.connections.split(",")):
                for shared in (False, True) if n > 1 else (False,):
                    commits, mb, wal, cpu = run(
                        server, n, shared, args.size, args.seconds, args.notify
                    )
                    where = "one shared" if shared else "one each"
                    print(
                        f"| {synchronous_commit} | {n} | {where} | {commits:,.0f} | {mb:.1f} "
                        f"| {wal:.1f} | {cpu:.2f} |",
                        flush=True,
                    )
        finally:
            server.destroy()


if __name__ == "__main__":
    main()
