"""The log cleaner over PostgreSQL partition logs, against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import gatherResults

from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.log_config import LogConfig
from kafkatwist.groups import records as rec
from kafkatwist.groups.loader import replay_log, replay_records
from kafkatwist.postgres.cleaner import PgCleanerManager
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.log import PgPartitionLog
from kafkatwist.storage.cleaner import CleaningAbortedError, CleanStats
from kafkatwist.storage.cleaner.service import LogCleaner
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.topics.partitions import Partitions
from kafkatwist.wire.batch import BatchHeader
from kafkatwist.wire.record import Record
from tests.postgres.pglog_support import NODE, PgLogEnv, append, blocking, in_thread, until
from tests.postgres_support import fresh_database
from tests.storage.cleaner_support import kv

#: Every append rolls the active segment (segment.ms 0): all but the last append are cleanable.
COMPACT = LogConfig(cleanup_policy="compact", segment_ms=0, delete_retention_ms=1_000)
#: The cleaner's offset map in the tests.
MAP_BYTES = 1 << 20
T0 = 1_700_000_000_000


class _Finalizers:
    def __init__(self, request: Any) -> None:
        self._request = request

    def addCleanup(self, f: Any, *args: Any) -> None:
        self._request.addfinalizer(lambda: f(*args))


class CleanerEnv(PgLogEnv):
    """A log env with the cleaner's own database and manager (as the engine makes them)."""

    cleaner_db: Database
    cleaner: PgCleanerManager

    async def start(self) -> None:
        await super().start()
        self.cleaner_db = Database(self.dsn, reactor, 1)
        self.cleaner = PgCleanerManager(self.logs, self.cleaner_db, NODE)

    async def stop(self) -> None:
        await self.cleaner_db.stop()
        await super().stop()

    async def compacted(self, name: str) -> PgPartitionLog:
        """A compacted topic led here."""
        await self.topic(name)
        return cast(PgPartitionLog, await self.lead(name))

    async def clean(
        self,
        log: PgPartitionLog,
        now: int,
        manager: PgCleanerManager | None = None,
        throttle: Callable[[int], None] | None = None,
    ) -> CleanStats:
        """One pass, from the checkpoint this manager knows (the log start at first)."""
        cleaner = manager or self.cleaner
        first_dirty = cleaner.checkpoint_of(log.topic, log.partition)
        return await cleaner.clean(
            log,
            first_dirty_offset=log.log_start_offset if first_dirty is None else first_dirty,
            now_ms=now,
            offset_map_bytes=MAP_BYTES,
            run_blocking=lambda fn: in_thread(fn),
            throttle=throttle,
            delete_retention_ms=log.config.delete_retention_ms,
        )


@pytest_twisted.async_yield_fixture()
async def env(request: Any) -> AsyncIterator[CleanerEnv]:
    running = CleanerEnv(fresh_database(_Finalizers(request)), config=COMPACT)
    await running.start()
    yield running
    await running.stop()


Seen = list[tuple[int, bytes | None, bytes | None, BatchHeader]]


async def records_of(log: PgPartitionLog) -> Seen:
    """Every record from the log start, with its batch header (read through the log)."""
    seen: Seen = []

    def replay(header: BatchHeader, records: list[Record]) -> int:
        seen.extend((r.offset, r.key, r.value, header) for r in records)
        return len(records)

    await replay_log(log, log.name, replay)
    return seen


async def rows_of(env: PgLogEnv, log: PgPartitionLog) -> list[tuple[Any, ...]]:
    """C{(base offset, last offset, record count, size)} of each stored row."""
    return await in_thread(
        blocking, env.dsn,
        "SELECT base_offset, last_offset, record_count, size FROM batches"
        " WHERE topic_id = %s ORDER BY base_offset",
        (log.key.topic_id,),
    )  # fmt: skip


async def stored_aborted(env: PgLogEnv) -> list[AbortedTxn]:
    """The aborted transactions PostgreSQL keeps, in marker order."""
    rows = await in_thread(
        blocking, env.dsn,
        "SELECT producer_id, first_offset, last_offset, last_stable_offset FROM aborted_txns"
        " ORDER BY last_offset",
    )  # fmt: skip
    return [AbortedTxn(*row) for row in rows]


async def fence_row(env: PgLogEnv, log: PgPartitionLog) -> tuple[Any, ...]:
    """C{(size_bytes, cleaner_checkpoint)} of the partition's row."""
    [row] = await in_thread(
        blocking, env.dsn,
        "SELECT size_bytes, cleaner_checkpoint FROM partitions WHERE topic_id = %s",
        (log.key.topic_id,),
    )  # fmt: skip
    return row


async def write_rounds(log: PgPartitionLog, rounds: int, keys: int) -> dict[bytes, bytes]:
    """C{rounds} updates of C{keys} keys, four per batch; each key's latest value."""
    latest: dict[bytes, bytes] = {}
    for r in range(rounds):
        for start in range(0, keys, 4):
            pairs = [(b"k%d" % k, b"v%d-%d" % (k, r)) for k in range(start, min(start + 4, keys))]
            await append(log, kv(pairs, ts=T0))
            latest.update(cast(dict[bytes, bytes], dict(pairs)))
    return latest


@pytest_twisted.ensureDeferred
async def test_keys_are_compacted_to_their_last_value(env: CleanerEnv) -> None:
    """A pass keeps each key's latest record at its offset; sizes and checkpoint follow."""
    log = await env.compacted("t")
    latest = await write_rounds(log, 5, 20)
    await append(log, kv([(b"roll", b"x")], ts=T0))
    before = await records_of(log)
    end = log.high_watermark
    stats = await env.clean(log, T0)
    assert stats.first_dirty_offset_after == end - 1 == log.active_segment_base
    after = await records_of(log)
    last_offsets = {key: offset for offset, key, _, _ in before}
    assert [(o, k, v) for o, k, v, _ in after] == [
        (o, k, v) for o, k, v, _ in before if last_offsets[k] == o
    ]
    assert {k: v for _, k, v, _ in after if k != b"roll"} == latest
    rows = await rows_of(env, log)
    assert len(rows) == 5 + 1  # the last round's five batches, and the roll
    assert sum(r[3] for r in rows) == log.size_in_bytes
    assert await fence_row(env, log) == (log.size_in_bytes, end - 1)
    assert stats.bytes_read > stats.bytes_written > 0
    assert (await log.read(0, 1 << 20)).high_watermark == end


@pytest_twisted.ensureDeferred
async def test_tombstones_stay_for_delete_retention_then_go(env: CleanerEnv) -> None:
    """A tombstone is kept until delete.retention.ms after the pass that first saw it."""
    log = await env.compacted("t")
    await append(log, kv([(b"a", b"1"), (b"b", b"1")], ts=T0))
    await append(log, kv([(b"a", None)], ts=T0))
    await append(log, kv([(b"roll", b"x")], ts=T0))
    await env.clean(log, T0)
    assert [(o, k, v) for o, k, v, _ in await records_of(log)] == [
        (1, b"b", b"1"), (2, b"a", None), (3, b"roll", b"x"),
    ]  # fmt: skip
    await append(log, kv([(b"roll", b"y")], ts=T0))
    await env.clean(log, T0 + 500)  # within delete.retention.ms of the first pass
    assert [k for _, k, _, _ in await records_of(log)] == [b"b", b"a", b"roll", b"roll"]
    await append(log, kv([(b"roll", b"z")], ts=T0))
    await env.clean(log, T0 + 1_001)
    assert [(o, k, v) for o, k, v, _ in await records_of(log)] == [
        (1, b"b", b"1"), (4, b"roll", b"y"), (5, b"roll", b"z"),
    ]  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_transactions_are_cleaned_as_kafka_does(env: CleanerEnv) -> None:
    """Aborted data goes, its marker stays while needed; a new leader loads a stable state."""
    log = await env.compacted("t")
    partitions = Partitions(env.metadata, env.logs, lambda _: env.config, reactor)
    pid5 = dict(producer_id=5, producer_epoch=0, is_transactional=True)
    pid6 = dict(producer_id=6, producer_epoch=0, is_transactional=True)
    await append(log, kv([(b"a", b"aborted")], ts=T0, base_sequence=0, **pid5))
    await partitions.write_txn_marker("t", 0, 5, 0, 3, commit=False)
    await append(log, kv([(b"b", b"committed")], ts=T0, base_sequence=0, **pid6))
    await partitions.write_txn_marker("t", 0, 6, 0, 3, commit=True)
    await append(log, kv([(b"roll", b"x")], ts=T0))
    assert [
        (a.producer_id, a.first_offset, a.last_offset) for a in log.aborted_transactions(0, 5)
    ] == [(5, 0, 1)]
    await env.clean(log, T0)
    seen = await records_of(log)
    assert [(o, k) for o, k, _, h in seen if not h.is_control] == [(2, b"b"), (4, b"roll")]
    # The abort marker stays (its data went in this pass) and so does its index entry.
    assert [(o, h.producer_id) for o, _, _, h in seen if h.is_control] == [(1, 5), (3, 6)]
    assert await stored_aborted(env) == log.aborted_transactions(0, 5) != []
    await append(log, kv([(b"roll", b"y")], ts=T0))
    await env.clean(log, T0 + 2_000)
    seen = await records_of(log)
    assert [(o, k, v) for o, k, v, h in seen if not h.is_control] == [
        (2, b"b", b"committed"), (4, b"roll", b"x"), (5, b"roll", b"y"),
    ]  # fmt: skip
    assert await stored_aborted(env) == log.aborted_transactions(0, 6)
    epoch = await env.move_leader("t", 0, 2)
    env.logs.resign("t", 0)
    other = env.manager(2)
    moved = await other.become_leader("t", 0, epoch)
    assert moved.last_stable_offset == moved.high_watermark == 6
    assert moved.ongoing_transactions() == []
    assert set(moved.producer_state.producers) == {5, 6}
    await other.close()


@pytest_twisted.ensureDeferred
async def test_consumer_offsets_compacted_then_loaded_by_a_new_leader(env: CleanerEnv) -> None:
    """Offset commits are compacted; a new leader of the partition reads the same offsets."""
    log = await env.compacted("__consumer_offsets")
    committed: dict[tuple[str, str, int], int] = {}
    for n in range(50):
        for group in ("g1", "g2"):
            for p in range(3):
                key = rec.offset_commit_key(group, "orders", p)
                value = rec.offset_commit_value(rec.OffsetAndMetadata(n * 10 + p))
                await append(log, kv([(key, value)], ts=T0 + n))
                committed[(group, "orders", p)] = n * 10 + p
    await append(log, kv([(rec.offset_commit_key("g3", "x", 0), None)], ts=T0))
    size_before = log.size_in_bytes
    await env.clean(log, T0 + 100)
    assert log.size_in_bytes < size_before / 20
    epoch = await env.move_leader("__consumer_offsets", 0, 2)
    env.logs.resign("__consumer_offsets", 0)
    other = env.manager(2)
    moved = await other.become_leader("__consumer_offsets", 0, epoch)
    loaded: dict[tuple[str, str, int], int] = {}

    def replay_one(key: bytes | None, value: bytes | None) -> None:
        decoded = rec.decode_record(key, value)
        assert isinstance(decoded, rec.OffsetRecord)
        if decoded.value is not None:
            loaded[(decoded.group_id, decoded.topic, decoded.partition)] = decoded.value.offset

    name = "__consumer_offsets-0"
    count = await replay_log(moved, name, lambda _, rs: replay_records(name, rs, replay_one))
    assert loaded == committed
    assert count == len(committed) + 1  # and the tombstone, the active segment's
    await other.close()


@pytest_twisted.ensureDeferred
async def test_a_deposed_leader_cleans_nothing(env: CleanerEnv) -> None:
    """When the fence row names another leader, the pass fails and no row changes."""
    log = await env.compacted("t")
    await write_rounds(log, 3, 8)
    await append(log, kv([(b"roll", b"x")], ts=T0))
    rows = await rows_of(env, log)
    await env.move_leader("t", 0, 2)  # the old log object has not been told yet
    with pytest.raises(CleaningAbortedError):
        await env.clean(log, T0)
    assert await rows_of(env, log) == rows
    assert (await fence_row(env, log))[1] is None


@pytest_twisted.ensureDeferred
async def test_nothing_is_lost_under_concurrent_appends(env: CleanerEnv) -> None:
    """Appends running during passes keep their offsets; every key ends at its last value."""
    log = await env.compacted("t")
    env.cleaner.chunk_bytes = 2_000  # many transactions per pass
    latest = await write_rounds(log, 4, 40)
    await append(log, kv([(b"roll", b"x")], ts=T0))
    first = log.high_watermark
    writes: list[Any] = []
    for r in range(4, 12):
        for k in range(40):
            writes.append(append(log, kv([(b"k%d" % k, b"v%d-%d" % (k, r))], ts=T0)))
            latest[b"k%d" % k] = b"v%d-%d" % (k, r)
        await env.clean(log, T0)
    infos = await gatherResults(writes)
    assert [i.base_offset for i in infos] == list(range(first, first + len(infos)))
    await append(log, kv([(b"roll", b"y")], ts=T0))
    await env.clean(log, T0)
    after = await records_of(log)
    assert {k: v for _, k, v, _ in after if k != b"roll"} == latest
    cleaned = [k for o, k, _, _ in after if o < log.active_segment_base]
    assert len(set(cleaned)) == len(cleaned) == 41  # one record per key below the active segment
    rows = await rows_of(env, log)
    assert sum(r[3] for r in rows) == log.size_in_bytes == (await fence_row(env, log))[0]
    assert log.high_watermark == first + len(infos) + 1


@pytest_twisted.ensureDeferred
async def test_the_scheduler_cleans_and_a_new_leader_keeps_the_checkpoint(env: CleanerEnv) -> None:
    """LogCleaner over the manager cleans a log; the next leader reads its checkpoint."""
    log = await env.compacted("t")
    await write_rounds(log, 5, 8)
    await append(log, kv([(b"roll", b"x")], ts=T0))
    config = CleanerConfig(backoff_ms=50, dedupe_buffer_size=MAP_BYTES * 2)
    cleaner = LogCleaner.create(
        env.cleaner, reactor, lambda: config, env.cleaner.clean, lambda fn: in_thread(fn)
    )
    await cleaner.start()
    try:
        await until(lambda: cleaner.cleaned >= 1 and not cleaner.passes, "a pass")
    finally:
        await cleaner.stop()
    checkpoint = cleaner.checkpoint_of("t", 0)
    assert checkpoint == log.active_segment_base == log.high_watermark - 1
    epoch = await env.move_leader("t", 0, 2)
    env.logs.resign("t", 0)
    other_logs = env.manager(2)
    await other_logs.become_leader("t", 0, epoch)
    other = PgCleanerManager(other_logs, env.cleaner_db, 2)
    assert other.grab_filthiest(T0) is None  # reading its checkpoint first
    await until(lambda: other.checkpoint_of("t", 0) is not None, "the checkpoint read")
    assert other.checkpoint_of("t", 0) == checkpoint
    await other_logs.close()


@pytest_twisted.ensureDeferred
async def test_the_throttle_sees_the_bytes_and_can_stop_a_pass(env: CleanerEnv) -> None:
    """Every page read and chunk written is reported; a throttle that aborts changes nothing."""
    log = await env.compacted("t")
    await write_rounds(log, 4, 16)
    await append(log, kv([(b"roll", b"x")], ts=T0))
    rows = await rows_of(env, log)

    def stopping(_: int) -> None:
        raise CleaningAbortedError("the log cleaner is stopping")

    with pytest.raises(CleaningAbortedError):
        await env.clean(log, T0, throttle=stopping)
    assert await rows_of(env, log) == rows
    seen: list[int] = []
    stats = await env.clean(log, T0, throttle=seen.append)
    assert sum(seen) >= stats.map_bytes_read + stats.bytes_read > 0
    assert len(await rows_of(env, log)) < len(rows)
