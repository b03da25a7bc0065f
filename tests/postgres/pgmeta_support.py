"""Support for the PgMetadataStore tests: a migrated fresh database, loaded stores, waiting.

Shared by L{tests.postgres.test_metadata} and L{tests.postgres.test_metadata_writers}.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from twisted.internet.defer import Deferred, gatherResults
from twisted.python.failure import Failure

from kafkatwist.errors import KafkaError
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.metadata import PgMetadataStore
from kafkatwist.postgres.schema import migrate
from kafkatwist.storage.kraft import MetadataImage
from tests.integration.harness import in_thread
from tests.postgres_support import fresh_database

#: Generous bounds for things that happen in milliseconds; a hang fails instead of blocking.
WAIT = 30.0


class _Cleanups:
    """C{addCleanup} for L{fresh_database}, run by a pytest finalizer."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple[object, ...]]] = []

    def addCleanup(self, f: object, *args: object) -> None:
        self.calls.append((f, args))

    def run(self) -> None:
        for f, args in reversed(self.calls):
            f(*args)


def migrated_database(request: Any) -> str:
    """A fresh database of the test process's PostgreSQL server, migrated to the latest schema."""
    cleanups = _Cleanups()
    request.addfinalizer(cleanups.run)
    url = fresh_database(cleanups)
    with psycopg.connect(url) as conn:
        migrate(conn)
    return url


def the_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@asynccontextmanager
async def brokers(dsn: str, count: int = 2) -> AsyncIterator[list[PgMetadataStore]]:
    """C{count} loaded stores (node ids 1...), each with its own connections; stopped at exit."""
    dbs = [Database(dsn, the_reactor()) for _ in range(count)]
    stores = [PgMetadataStore(db, node, the_reactor()) for node, db in enumerate(dbs, 1)]
    try:
        for up, store in enumerate(stores, 1):
            await store.load()
            await listening(dsn, up)
        yield stores
    finally:
        for store in stores:
            store.close()
        await gatherResults([db.stop() for db in dbs])


async def listening(dsn: str, count: int, timeout: float = 30.0) -> None:
    """Wait until C{count} LISTEN connections are up on the database (fail after C{timeout} s)."""
    deadline = the_reactor().seconds() + timeout
    while len(await in_thread(listen_backends, dsn)) < count:
        assert the_reactor().seconds() < deadline, f"{count} LISTEN connections not up"
        await pause(0.02)


async def pause(seconds: float) -> None:
    """Let the reactor run for C{seconds}."""
    d: Deferred[None] = Deferred()
    the_reactor().callLater(seconds, d.callback, None)
    await d


def listen_backends(dsn: str) -> list[int]:
    """The server processes of the LISTEN connections on the database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND query LIKE 'LISTEN%%'"
        ).fetchall()
    return [row[0] for row in rows]


def next_records(store: PgMetadataStore) -> Deferred[Sequence[Any]]:
    """Fires with the records of the next batch the store applies (its subscriber)."""
    d: Deferred[Sequence[Any]] = Deferred()

    def seen(records: Sequence[Any]) -> None:
        if not d.called:
            d.callback(records)

    store.subscribe(seen)
    return d.addTimeout(WAIT, the_reactor())


def outcome(d: Deferred[MetadataImage]) -> Deferred[KafkaError | None]:
    """None once C{d} succeeds, or the KafkaError it fails with."""

    def failed(f: Failure) -> KafkaError:
        error = f.value
        if not isinstance(error, KafkaError):
            f.raiseException()
        assert isinstance(error, KafkaError)
        return error

    return d.addCallbacks(lambda _: None, failed)
