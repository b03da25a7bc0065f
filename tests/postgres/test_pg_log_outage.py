"""A partition log across a PostgreSQL crash: a retried idempotent batch is not lost nor doubled.

Each test runs a PostgreSQL server of its own (it is killed with SIGKILL and
started again on the same data directory). To kill it exactly while a commit
is in its WAL but not yet answered, the server is made to wait after the
commit for a synchronous standby that does not exist
(``synchronous_standby_names``): the append's transaction is committed, its
answer never comes, then the server dies. After the restart the commit is
there, as with a crash in the middle of a real commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_twisted
from twisted.internet import reactor

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.results import AppendInfo
from kafkatwist.testing.postgres import PostgresServer
from kafkatwist.topics.partitions import Partitions
from kafkatwist.wire.validator import validate_produce_records
from tests.client_batches import client_batch
from tests.postgres.pglog_support import (
    UNTIL_TRIES,
    PgLogEnv,
    blocking,
    in_thread,
    offsets_of,
    sleep,
)

PRODUCER = 9


@pytest_twisted.async_yield_fixture()
async def crashable() -> AsyncIterator[tuple[PostgresServer, PgLogEnv]]:
    server = PostgresServer()
    await in_thread(server.start)
    dsn = await in_thread(server.create_database, "pglog")
    env = PgLogEnv(dsn)
    await env.start()
    try:
        yield server, env
    finally:
        await env.stop()
        await in_thread(server.destroy)


def _partitions(env: PgLogEnv) -> Partitions:
    return Partitions(env.metadata, env.logs, lambda _: env.config, reactor)


def _produce(env: PgLogEnv, batch: bytes) -> Any:
    """The Produce path after validation: producer state check, then the log's append."""
    topic = env.metadata.image.topics["t"]
    log = env.logs.get("t", 0)
    assert log is not None
    found = validate_produce_records(batch, max_batch_bytes=1 << 20)
    return _partitions(env).append_checked(topic, 0, log, batch, found)


async def _wait_for(server: PostgresServer, sql: str, expected: object) -> None:
    for _ in range(UNTIL_TRIES):
        if (await in_thread(blocking, server.dsn, sql)) == [(expected,)]:
            return
        await sleep(0.02)
    raise AssertionError(f"{sql} never gave {expected!r}")


async def _storage_error(d: Any) -> KafkaError:
    try:
        await d
    except KafkaError as e:
        return e
    raise AssertionError("the append succeeded")


@pytest_twisted.ensureDeferred
async def test_a_commit_whose_answer_was_lost_is_a_duplicate_on_retry(
    crashable: tuple[PostgresServer, PgLogEnv],
) -> None:
    """PostgreSQL dies after committing an append: its retry answers the original offsets."""
    server, env = crashable
    await env.topic("t")
    await env.lead("t")
    log = env.logs.get("t", 0)
    assert log is not None
    first: AppendInfo = await _produce(env, client_batch(0, 2, producer_id=PRODUCER, epoch=0))
    assert first.base_offset == 0
    await in_thread(
        blocking, server.dsn, "ALTER SYSTEM SET synchronous_standby_names = 'nobody_there'"
    )
    await in_thread(blocking, server.dsn, "SELECT pg_reload_conf()")
    await _wait_for(server, "SHOW synchronous_standby_names", "nobody_there")
    retried = client_batch(2, 2, producer_id=PRODUCER, epoch=0)
    pending = _produce(env, retried)
    await _wait_for(server, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'", 1)
    await in_thread(server.kill)
    error = await _storage_error(pending)
    assert error.code == ErrorCode.KAFKA_STORAGE_ERROR
    assert log.is_stale
    await in_thread(server.start)
    await in_thread(blocking, server.dsn, "ALTER SYSTEM RESET synchronous_standby_names")
    await in_thread(blocking, server.dsn, "SELECT pg_reload_conf()")
    await _wait_for(server, "SHOW synchronous_standby_names", "")
    again: AppendInfo = await _produce(env, retried)
    assert (again.base_offset, again.last_offset) == (2, 3)
    assert not log.is_stale
    after: AppendInfo = await _produce(env, client_batch(4, 1, producer_id=PRODUCER, epoch=0))
    assert after.base_offset == 4
    assert offsets_of(await log.read(0, 1 << 20)) == [(0, 1), (2, 3), (4, 4)]
    rows = await in_thread(blocking, env.dsn, "SELECT count(*), sum(record_count) FROM batches")
    assert rows == [(3, 5)]


@pytest_twisted.ensureDeferred
async def test_an_append_while_postgres_is_down_is_retried_once_it_returns(
    crashable: tuple[PostgresServer, PgLogEnv],
) -> None:
    """An append that never committed fails retriably; the retry is appended after the rest."""
    server, env = crashable
    await env.topic("t")
    await env.lead("t")
    log = env.logs.get("t", 0)
    assert log is not None
    await _produce(env, client_batch(0, 2, producer_id=PRODUCER, epoch=0))
    await in_thread(server.kill)
    batch = client_batch(2, 3, producer_id=PRODUCER, epoch=0)
    error = await _storage_error(_produce(env, batch))
    assert error.code == ErrorCode.KAFKA_STORAGE_ERROR
    assert log.is_stale
    error = await _storage_error(_produce(env, batch))
    assert error.code == ErrorCode.KAFKA_STORAGE_ERROR
    await in_thread(server.start)
    info: AppendInfo = await _produce(env, batch)
    assert (info.base_offset, info.last_offset) == (2, 4)
    assert offsets_of(await log.read(0, 1 << 20)) == [(0, 1), (2, 4)]
    rows = await in_thread(blocking, env.dsn, "SELECT next_offset FROM partitions")
    assert rows == [(5,)]


@pytest_twisted.ensureDeferred
async def test_a_zombie_marker_is_fenced_after_the_log_went_stale(
    crashable: tuple[PostgresServer, PgLogEnv],
) -> None:
    """A marker from an older coordinator epoch is refused even when it reloads a stale log."""
    server, env = crashable
    await env.topic("t")
    await env.lead("t")
    log = env.logs.get("t", 0)
    assert log is not None
    partitions = _partitions(env)
    await _produce(env, client_batch(0, 2, producer_id=PRODUCER, epoch=1, is_transactional=True))
    await partitions.write_txn_marker("t", 0, PRODUCER, 1, 5, True)
    await _produce(env, client_batch(2, 1, producer_id=PRODUCER, epoch=1, is_transactional=True))
    await in_thread(server.kill)
    error = await _storage_error(_produce(env, client_batch(0, 1)))
    assert error.code == ErrorCode.KAFKA_STORAGE_ERROR
    assert log.is_stale
    await in_thread(server.start)
    error = await _storage_error(partitions.write_txn_marker("t", 0, PRODUCER, 1, 3, False))
    assert error.code == ErrorCode.TRANSACTION_COORDINATOR_FENCED
    assert log.ongoing_transactions() == [(PRODUCER, 1, 3)]
    rows = await in_thread(
        blocking, env.dsn, "SELECT count(*) FROM batches WHERE attributes & 32 <> 0"
    )
    assert rows == [(1,)]
