"""PgPartitionLog and PgLogManager against a real PostgreSQL: appends, reads, loads, fences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import pytest_twisted
from kafka.record.default_records import DefaultRecordBatch
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, gatherResults

from kafkatwist.cluster.local import LeadershipTracker
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres.log_sql import DATA_CHANNEL
from kafkatwist.postgres.notifier import parse_data_payload
from kafkatwist.producers.state import ProducerStateError
from kafkatwist.storage.checkpoints import EpochEntry
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.topics.partitions import Partitions
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.validator import validate_produce_records
from tests.client_batches import T0, client_batch, timed_batch
from tests.postgres.pglog_support import (
    NODE,
    PgLogEnv,
    append,
    blocking,
    in_thread,
    offsets_of,
    until,
)
from tests.postgres_support import fresh_database


class _Finalizers:
    def __init__(self, request: Any) -> None:
        self._request = request

    def addCleanup(self, f: Any, *args: Any) -> None:
        self._request.addfinalizer(lambda: f(*args))


@pytest_twisted.async_yield_fixture()
async def env(request: Any) -> AsyncIterator[PgLogEnv]:
    running = PgLogEnv(fresh_database(_Finalizers(request)))
    await running.start()
    yield running
    await running.stop()


async def _expect_error(d: Any, code: ErrorCode) -> KafkaError:
    try:
        await d
    except KafkaError as e:
        assert e.code == code, e
        return e
    raise AssertionError(f"expected {code.name}")


@pytest_twisted.ensureDeferred
async def test_append_assigns_offsets_and_reads_back(env: PgLogEnv) -> None:
    """Appends get consecutive offsets from the fence row; the stored bytes keep their CRC."""
    await env.topic("t")
    log = await env.lead("t")
    first = await append(log, client_batch(count=3), client_batch(count=2))
    second = await append(log, client_batch(count=1))
    assert (first.base_offset, first.last_offset, second.base_offset) == (0, 4, 5)
    assert (log.log_end_offset, log.high_watermark) == (6, 6)
    read = await log.read(0, 1 << 20)
    assert offsets_of(read) == [(0, 2), (3, 4), (5, 5)]
    for buf in read.buffers:
        assert DefaultRecordBatch(buf).validate_crc()
    topic_id = env.metadata.image.topics["t"].topic_id
    rows = await in_thread(
        blocking, env.dsn, "SELECT next_offset, size_bytes FROM partitions WHERE topic_id = %s",
        (topic_id,),
    )  # fmt: skip
    assert rows == [(6, read.size)]
    assert log.size_in_bytes == read.size


@pytest_twisted.ensureDeferred
async def test_reads_from_postgres_match_the_tail_cache(env: PgLogEnv) -> None:
    """A read past the tail cache goes to PostgreSQL and answers the same whole batches."""
    env.tail_bytes = 1
    await env.topic("t")
    log = await env.lead("t")
    for _ in range(5):
        await append(log, client_batch(count=2))
    cached = await log.read(6, 1 << 20)
    assert offsets_of(cached) == [(6, 7), (8, 9)]
    from_db = await log.read(3, 1 << 20)
    assert offsets_of(from_db) == [(2, 3), (4, 5), (6, 7), (8, 9)]
    one = await log.read(0, 1)
    assert offsets_of(one) == [(0, 1)]
    none = await log.read(0, 1, min_one_message=False)
    assert none.buffers == []
    bounded = await log.read(0, 1 << 20, max_offset=4)
    assert offsets_of(bounded) == [(0, 1), (2, 3)]
    await _expect_error(log.read(11, 100), ErrorCode.OFFSET_OUT_OF_RANGE)


@pytest_twisted.ensureDeferred
async def test_concurrent_appends_commit_in_order(env: PgLogEnv) -> None:
    """Appends made while a transaction is in flight go together, in offset order."""
    await env.topic("t")
    log = await env.lead("t")
    infos = await gatherResults([append(log, client_batch(count=2)) for _ in range(40)])
    assert [i.base_offset for i in infos] == list(range(0, 80, 2))
    read = await log.read(0, 1 << 24)
    assert offsets_of(read) == [(o, o + 1) for o in range(0, 80, 2)]
    batches = await in_thread(blocking, env.dsn, "SELECT count(*) FROM batches")
    assert batches == [(40,)]


@pytest_twisted.ensureDeferred
async def test_a_new_leader_loads_state_from_postgres(env: PgLogEnv) -> None:
    """Another broker becoming leader loads offsets, epochs and idempotent producers."""
    await env.topic("t")
    log = await env.lead("t")
    batch = client_batch(0, 2, producer_id=7, epoch=0)
    await append(log, batch)
    await append(log, client_batch(2, 2, producer_id=7, epoch=0))
    epoch = await env.move_leader("t", 0, 2)
    env.logs.resign("t", 0)
    other = env.manager(2)
    moved = await other.become_leader("t", 0, epoch)
    assert (moved.log_end_offset, moved.high_watermark, moved.latest_epoch) == (4, 4, 0)
    header = parse_batch_header(client_batch(2, 2, producer_id=7, epoch=0))
    duplicate = moved.producer_state.check_append([header], next_offset=4)
    assert duplicate is not None and (duplicate.first_offset, duplicate.last_offset) == (2, 3)
    info = await append(moved, client_batch(4, 1, producer_id=7, epoch=0))
    assert info.base_offset == 4
    assert moved.epoch_entries == (EpochEntry(0, 0), EpochEntry(epoch, 4))
    assert await moved.end_offset_for_epoch(0) == (0, 4)
    assert await moved.epoch_for_offset(4) == epoch
    await other.close()


@pytest_twisted.ensureDeferred
async def test_a_deposed_leader_cannot_append(env: PgLogEnv) -> None:
    """The fence: once the row names another leader, appends and waiters fail."""
    await env.topic("t")
    log = await env.lead("t")
    await append(log, client_batch(count=1))
    waiter = log.add_waiter(1)
    results = DeferredList([waiter], consumeErrors=True)
    await env.move_leader("t", 0, 2)
    await _expect_error(append(log, client_batch(count=1)), ErrorCode.NOT_LEADER_OR_FOLLOWER)
    [(ok, failure)] = await results
    assert not ok and cast(Any, failure).value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    rows = await in_thread(blocking, env.dsn, "SELECT count(*), max(last_offset) FROM batches")
    assert rows == [(1, 0)]


@pytest_twisted.ensureDeferred
async def test_create_and_leadership(env: PgLogEnv) -> None:
    """create() makes a new topic's log, refuses a known one not loaded; resign drops it."""
    fresh = env.logs.create("new", 0, env.config)
    assert env.logs.get("new", 0) is fresh
    await env.topic("new")
    log = await env.lead("new")
    assert log is fresh
    assert (await append(log, client_batch(count=1))).base_offset == 0
    await env.topic("other", leader=2)
    with pytest.raises(KafkaError) as raised:
        env.logs.create("other", 0, env.config)
    assert raised.value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    await _expect_error(env.lead("other"), ErrorCode.NOT_LEADER_OR_FOLLOWER)
    waiter = DeferredList([log.add_waiter(5)], consumeErrors=True)
    env.logs.resign("new", 0)
    assert env.logs.get("new", 0) is None
    [(ok, failure)] = await waiter
    assert not ok and cast(Any, failure).value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER


@pytest_twisted.ensureDeferred
async def test_waiters_fire_on_commit_and_notify_is_sent(env: PgLogEnv) -> None:
    """A parked fetch wakes when an append commits; NOTIFY kafkatwist_data says the new end."""
    await env.topic("t")
    log = await env.lead("t")
    heard: list[str | None] = []
    env.db.listen(DATA_CHANNEL, heard.append)
    waiter = log.add_waiter(0)
    assert not waiter.called
    await until(lambda: None in heard, "LISTEN connected")
    await append(log, client_batch(count=3))
    assert await waiter == 3
    await until(lambda: len(heard) >= 2, "the NOTIFY heard")
    state = parse_data_payload(str(heard[1]))
    assert (state.topic, state.partition, state.high_watermark) == ("t", 0, 3)


@pytest_twisted.ensureDeferred
async def test_delete_records_and_retention(env: PgLogEnv) -> None:
    """DeleteRecords and retention.bytes/ms delete whole batches below the new log start."""
    await env.topic("t")
    log = await env.lead("t")
    for i in range(6):
        await append(log, timed_batch([T0 + 1000 * i, T0 + 1000 * i + 1]))
    assert await log.delete_records_before(3) == 3
    assert log.log_start_offset == 3
    rows = await in_thread(blocking, env.dsn, "SELECT min(base_offset), count(*) FROM batches")
    assert rows == [(2, 5)]
    await _expect_error(log.read(2, 100), ErrorCode.OFFSET_OUT_OF_RANGE)
    await _expect_error(log.delete_records_before(13), ErrorCode.OFFSET_OUT_OF_RANGE)
    size = log.size_in_bytes // 5
    env.logs.update_config("t", LogConfig(retention_bytes=2 * size, retention_ms=-1))
    await env.logs.apply_retention(T0)
    assert log.log_start_offset == 8
    env.logs.update_config("t", LogConfig(retention_ms=1500))
    await env.logs.apply_retention(T0 + 6000)
    assert log.log_start_offset == 10
    assert offsets_of(await log.read(10, 1 << 20)) == [(10, 11)]
    assert log.size_in_bytes == size


@pytest_twisted.ensureDeferred
async def test_list_offsets_by_time(env: PgLogEnv) -> None:
    """ListOffsets by time finds the first record at or after a timestamp, and the max."""
    await env.topic("t")
    log = await env.lead("t")
    await append(log, timed_batch([T0, T0 + 10, T0 + 20]))
    await append(log, timed_batch([T0 + 30, T0 + 90, T0 + 40]), timed_batch([T0 + 50]))
    found = await log.offset_for_timestamp(T0 + 15)
    assert found is not None and (found.offset, found.timestamp) == (2, T0 + 20)
    found = await log.offset_for_timestamp(T0 + 45)
    assert found is not None and (found.offset, found.timestamp) == (4, T0 + 90)
    assert await log.offset_for_timestamp(T0 + 100) is None
    top = await log.max_timestamp()
    assert top is not None and (top.offset, top.timestamp) == (4, T0 + 90)
    earliest = await log.offset_for_timestamp(-2)
    latest = await log.offset_for_timestamp(-1)
    assert earliest is not None and latest is not None
    assert (earliest.offset, latest.offset) == (0, 7)


@pytest_twisted.ensureDeferred
async def test_delete_topic_removes_its_rows(env: PgLogEnv) -> None:
    """delete_topic deletes the batches and epochs of a topic whose fence rows are gone."""
    topic_id = await env.topic("t")
    log: IPartitionLog = await env.lead("t")
    await append(log, client_batch(count=2))
    await env.topic("kept")
    kept = await env.lead("kept")
    await append(kept, client_batch(count=2))
    await in_thread(blocking, env.dsn, "DELETE FROM partitions WHERE topic_id = %s", (topic_id,))
    await env.logs.delete_topic("t")
    assert env.logs.get("t", 0) is None
    rows = await in_thread(blocking, env.dsn, "SELECT count(*) FROM batches WHERE topic_id = %s",
                           (topic_id,))  # fmt: skip
    assert rows == [(0,)]
    rows = await in_thread(blocking, env.dsn, "SELECT count(*) FROM batches")
    assert rows == [(1,)]
    assert NODE == 1


@pytest_twisted.ensureDeferred
async def test_transactions_survive_a_change_of_leader(env: PgLogEnv) -> None:
    """Open and aborted transactions (LSO, aborted list) are rebuilt by the next leader."""
    await env.topic("t")
    log = await env.lead("t")
    partitions = Partitions(env.metadata, env.logs, lambda _: env.config, reactor)
    await append(log, client_batch(0, 2, producer_id=5, epoch=0, is_transactional=True))
    assert (log.last_stable_offset, log.high_watermark) == (0, 2)
    await partitions.write_txn_marker("t", 0, 5, 0, 3, commit=False)
    assert log.last_stable_offset == log.high_watermark == 3
    assert log.aborted_transactions(0, 3) == [AbortedTxn(5, 0, 2, 3)]
    await append(log, client_batch(0, 1, producer_id=6, epoch=0, is_transactional=True))
    assert log.last_stable_offset == 3
    epoch = await env.move_leader("t", 0, 2)
    env.logs.resign("t", 0)
    moved = await env.manager(2).become_leader("t", 0, epoch)
    assert moved.aborted_transactions(0, 4) == [AbortedTxn(5, 0, 2, 3)]
    assert moved.ongoing_transactions() == [(6, 0, 3)]
    assert (moved.last_stable_offset, moved.high_watermark) == (3, 4)
    header = parse_batch_header(client_batch(1, 1, producer_id=6, epoch=0))
    with pytest.raises(ProducerStateError):
        moved.producer_state.check_append([header], next_offset=4)


@pytest_twisted.ensureDeferred
async def test_leadership_tracker_loads_and_drops_logs(env: PgLogEnv) -> None:
    """With the cluster's tracker, elections load logs and resignations drop them."""

    def prepare(topic: str, partition: int, epoch: int) -> Deferred[object]:
        # Prepare wants a Deferred[object]; Deferred is invariant in its result type.
        loaded: Deferred[object] = Deferred()
        env.logs.become_leader(topic, partition, epoch).addCallbacks(
            loaded.callback, loaded.errback
        )
        return loaded

    tracker = LeadershipTracker(env.metadata, NODE, prepare=prepare, release=env.logs.resign)
    env.metadata.subscribe(tracker.changed)
    await env.topic("t", partitions=2)
    await until(lambda: len(env.logs.partitions()) == 2, "both partitions loaded")
    assert env.logs.partitions() == [("t", 0), ("t", 1)]
    log = env.logs.get("t", 1)
    assert log is not None and log.log_end_offset == 0
    await append(log, client_batch(count=2))
    await env.move_leader("t", 1, 2)
    assert env.logs.partitions() == [("t", 0)]
    assert env.logs.failed() == {} and env.logs.log_dir_of("t", 0) is None
    await _expect_error(env.logs.move_replica("t", 0, "/x"), ErrorCode.LOG_DIR_NOT_FOUND)
    env.logs.update_config("t", LogConfig(retention_ms=5))
    kept = env.logs.get("t", 0)
    assert kept is not None and kept.config.retention_ms == 5


@pytest_twisted.ensureDeferred
async def test_a_retry_of_a_batch_in_flight_is_not_acknowledged_early(env: PgLogEnv) -> None:
    """A duplicate of a batch whose transaction has not committed gets a retriable error."""
    await env.topic("t")
    log = await env.lead("t")
    partitions = Partitions(env.metadata, env.logs, lambda _: env.config, reactor)
    topic = env.metadata.image.topics["t"]
    batch = client_batch(0, 2, producer_id=3, epoch=0)
    found = validate_produce_records(batch, max_batch_bytes=1 << 20)
    first = partitions.append_checked(topic, 0, log, batch, found)
    early = partitions.append_checked(topic, 0, log, batch, found)
    next_batch = client_batch(2, 1, producer_id=3, epoch=0)
    next_found = validate_produce_records(next_batch, max_batch_bytes=1 << 20)
    following = partitions.append_checked(topic, 0, log, next_batch, next_found)
    error = await _expect_error(early, ErrorCode.REQUEST_TIMED_OUT)
    assert "still being written" in str(error)
    assert (await first).base_offset == 0
    assert (await following).base_offset == 2
    again = await partitions.append_checked(topic, 0, log, batch, found)
    assert (again.base_offset, again.last_offset) == (0, 1)
    assert offsets_of(await log.read(0, 1 << 20)) == [(0, 1), (2, 2)]
