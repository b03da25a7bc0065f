"""PgMetadataStore against a real PostgreSQL: two brokers' stores over one database.

pytest-twisted tests on the real reactor (the stores talk to PostgreSQL in
threads and hear each other through LISTEN/NOTIFY). Each test gets a fresh
database (L{tests.postgres_support.fresh_database}).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.features import METADATA_VERSION, FeatureRegistry
from kafkatwist.messages import metadata_records as mr
from kafkatwist.postgres.db import Database, DatabaseUnavailable
from kafkatwist.postgres.metadata import APPEND_LOCK, PgMetadataStore, cluster_id
from kafkatwist.producers.ids import ProducerIdAllocator
from kafkatwist.storage.kraft import MetadataImage, encode_metadata_record
from kafkatwist.wire.record import build_batch
from tests.integration.harness import in_thread
from tests.postgres.pgmeta_support import (
    brokers,
    listen_backends,
    migrated_database,
    next_records,
    outcome,
    pause,
    the_reactor,
)
from tests.postgres_support import server


@pytest.fixture
def dsn(request: Any) -> str:
    """A fresh, migrated database (dropped after the test)."""
    return migrated_database(request)


def topic_records(name: str, partitions: int, leader: int) -> tuple[uuid.UUID, list[object]]:
    """A topic's TopicRecord and PartitionRecords, led by C{leader} at leader epoch 0."""
    topic_id = uuid.uuid4()
    records: list[object] = [mr.TopicRecord(name=name, topic_id=topic_id)]
    records += [
        mr.PartitionRecord(
            partition_id=p,
            topic_id=topic_id,
            replicas=(leader,),
            isr=(leader,),
            leader=leader,
            leader_epoch=0,
            partition_epoch=0,
        )
        for p in range(partitions)
    ]
    return topic_id, records


def change(topic_id: uuid.UUID, partition: int, leader: int) -> mr.PartitionChangeRecord:
    """A PartitionChangeRecord moving the leader (-2: leaving it, changing the ISR only)."""
    return mr.PartitionChangeRecord(
        partition_id=partition, topic_id=topic_id, leader=leader, isr=(1, 2)
    )


def fence_rows(dsn: str) -> dict[tuple[uuid.UUID, int], tuple[int, int]]:
    """The C{partitions} table: (leader, leader epoch) by (topic id, partition)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT topic_id, partition, leader, leader_epoch FROM partitions")
        return {(t, p): (leader, epoch) for t, p, leader, epoch in rows.fetchall()}


def image_leaders(image: MetadataImage) -> dict[tuple[uuid.UUID, int], tuple[int, int]]:
    """The image's (leader, leader epoch) by (topic id, partition)."""
    return {
        (topic.topic_id, p): (state.leader, state.leader_epoch)
        for topic in image.topics.values()
        for p, state in topic.partitions.items()
    }


def log_offsets(dsn: str) -> list[tuple[int, int]]:
    """The (base offset, last offset) of every metadata_log row, in order."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT base_offset, last_offset FROM metadata_log ORDER BY 1")
        return [(base, last) for base, last in rows.fetchall()]


def assert_contiguous(offsets: list[tuple[int, int]]) -> None:
    """Every row starts where the one before ended: no offset lost or given twice."""
    expected = 0
    for base, last in offsets:
        assert base == expected
        assert last >= base
        expected = last + 1


@pytest_twisted.ensureDeferred
async def test_cluster_id_is_made_once(dsn: str) -> None:
    """Two brokers asking for the cluster id get the one the first made, in Kafka's text form."""
    reactor = the_reactor()
    dbs = [Database(dsn, reactor), Database(dsn, reactor)]
    try:
        ids = await gatherResults([cluster_id(db) for db in dbs])
        again = await cluster_id(dbs[1])
    finally:
        await gatherResults([db.stop() for db in dbs])
    assert ids[0] == ids[1] == again
    assert len(ids[0]) == 22


@pytest_twisted.ensureDeferred
async def test_other_brokers_records_arrive_by_notify(dsn: str) -> None:
    """A record one store appends reaches the other's image and subscribers through NOTIFY."""
    async with brokers(dsn) as (a, b):
        seen = next_records(b)
        topic_id, records = topic_records("orders", 3, leader=1)
        await a.append(records)
        got = await seen
        assert [type(r) for r in got] == [type(r) for r in records]
        assert b.image.topics["orders"].topic_id == topic_id
        assert sorted(b.image.topics["orders"].partitions) == [0, 1, 2]
        assert b.next_offset == a.next_offset == 4


@pytest_twisted.ensureDeferred
async def test_stale_append_catches_up_and_fails_not_controller(dsn: str) -> None:
    """An append from a stale image fails NOT_CONTROLLER with the other broker's rows applied."""
    async with brokers(dsn) as (a, b):
        # Both write at offset 0 at once: one of them loses.
        results = await gatherResults(
            [
                outcome(a.append([mr.ConfigRecord(4, "", "a", "1")])),
                outcome(b.append([mr.ConfigRecord(4, "", "b", "2")])),
            ]
        )
        failures = [e for e in results if e is not None]
        assert len(failures) == 1
        assert failures[0].code == ErrorCode.NOT_CONTROLLER
        # The loser has caught up: both images hold the winner's record, and a retry works.
        loser = a if results[0] is not None else b
        assert loser.next_offset == 1
        await loser.append([mr.ConfigRecord(4, "", "c", "3")])
        assert loser.image.configs[4, ""].keys() >= {"c"}
        assert_contiguous(log_offsets(dsn))
        assert len(log_offsets(dsn)) == 2


@pytest_twisted.ensureDeferred
async def test_concurrent_producer_id_blocks_never_overlap(dsn: str) -> None:
    """Producer id allocators on two brokers, racing for blocks, never give out the same id."""
    async with brokers(dsn) as (a, b):
        allocators = [
            ProducerIdAllocator(a, 1, block_size=1),
            ProducerIdAllocator(b, 2, block_size=1),
        ]
        ids: list[int] = []
        for _ in range(15):
            ids += await gatherResults([alloc.allocate() for alloc in allocators])
        assert len(ids) == len(set(ids)) == 30
        offsets = log_offsets(dsn)
        assert_contiguous(offsets)
        assert len(offsets) == 30


@pytest_twisted.ensureDeferred
async def test_concurrent_appends_lose_and_duplicate_nothing(dsn: str) -> None:
    """Many appends from three brokers at once: each written once, offsets contiguous, one image."""
    async with brokers(dsn, 3) as stores:
        written: list[Deferred[MetadataImage]] = []
        # Each conflict an append_when meets is a row of another store: with 9 appends per
        # store one meets at most 18, below MAX_ATTEMPTS (with 10 it could give up after 20).
        for node, store in enumerate(stores, 1):
            for i in range(9):

                def build(image: MetadataImage, key: str = f"n{node}-{i}") -> list[object]:
                    return [mr.ConfigRecord(4, "", key, str(len(image.configs.get((4, ""), {}))))]

                written.append(store.append_when(build))
        await gatherResults(written)
        offsets = log_offsets(dsn)
        assert_contiguous(offsets)
        assert len(offsets) == 27
        for store in stores:
            await store.sync()
        keys = [set(store.image.configs[4, ""]) for store in stores]
        assert keys[0] == keys[1] == keys[2]
        assert len(keys[0]) == 27
        # Each value counted the keys before it: all 0..26, so no write saw a stale image.
        values = sorted(int(v) for v in stores[0].image.configs[4, ""].values())
        assert values == list(range(27))


@pytest_twisted.ensureDeferred
async def test_feature_bootstrap_is_written_once(dsn: str) -> None:
    """Two brokers bootstrapping features at once write the levels once between them."""
    async with brokers(dsn) as (a, b):
        registries = [FeatureRegistry(a, 1), FeatureRegistry(b, 2)]
        await gatherResults([r.bootstrap() for r in registries])
        await b.sync()
        await a.sync()
        assert len(log_offsets(dsn)) == 1
        assert METADATA_VERSION in a.image.features
        assert a.image.features == b.image.features


@pytest_twisted.ensureDeferred
async def test_restart_replays_everything(dsn: str) -> None:
    """A store started again on the database rebuilds the same image and log end."""
    async with brokers(dsn, 1) as (a,):
        _, records = topic_records("t", 2, leader=1)
        await a.append(records)
        await a.append([mr.ConfigRecord(2, "t", "retention.ms", "1000")])
        await a.append([mr.ProducerIdsRecord(broker_id=1, next_producer_id=1000)])
        before = (a.next_offset, image_leaders(a.image), dict(a.image.topics["t"].configs))
    async with brokers(dsn, 1) as (again,):
        after = (
            again.next_offset,
            image_leaders(again.image),
            dict(again.image.topics["t"].configs),
        )
        assert after == before
        assert again.image.next_producer_id == 1000


@pytest_twisted.ensureDeferred
async def test_missed_notifications_resync_on_reconnect(dsn: str) -> None:
    """A row written without a NOTIFY is read once the LISTEN connection is made again."""
    async with brokers(dsn) as (a, b):
        await a.append([mr.ConfigRecord(4, "", "x", "1")])
        await b.sync()
        _, records = topic_records("heard", 1, leader=1)
        await a.append(records)
        await b.sync()
        # A row no broker is told about (as if its NOTIFY was lost with the connection),
        # then the LISTEN connections break.
        quiet = a.next_offset
        await in_thread(_write_quietly, dsn, quiet, [mr.ConfigRecord(4, "", "quiet", "1")])
        seen = next_records(b)
        for pid in await in_thread(listen_backends, dsn):
            await in_thread(_terminate, dsn, pid)
        while b.next_offset <= quiet:
            await seen
            seen = next_records(b)
        assert b.image.configs[4, ""]["quiet"] == "1"
        assert b.next_offset == quiet + 1


def _write_quietly(dsn: str, base: int, records: list[object]) -> None:
    """Insert a metadata_log row at C{base} without a NOTIFY."""
    batch = build_batch(
        [(None, encode_metadata_record(r), ()) for r in records], base_offset=base, base_timestamp=0
    )
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO metadata_log (base_offset, last_offset, epoch, written_by, batch)"
            " VALUES (%s, %s, 1, 99, %s)",
            (base, base + len(records) - 1, batch),
        )


def _terminate(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest_twisted.ensureDeferred
async def test_postgres_restart_resyncs(dsn: str) -> None:
    """While PostgreSQL is killed appends fail retriably; after its restart both stores agree."""
    async with brokers(dsn) as (a, b):
        await a.append([mr.ConfigRecord(4, "", "before", "1")])
        await b.sync()
        pg = server()
        await in_thread(pg.kill)
        try:
            with pytest.raises(DatabaseUnavailable) as caught:
                await a.append([mr.ConfigRecord(4, "", "during", "1")])
            assert caught.value.code == ErrorCode.KAFKA_STORAGE_ERROR
        finally:
            await in_thread(pg.start)
        await _appended_eventually(a, [mr.ConfigRecord(4, "", "after", "1")])
        seen = next_records(b)
        while "after" not in b.image.configs[4, ""]:
            await seen
            seen = next_records(b)
        assert a.image.configs == b.image.configs
        assert a.next_offset == b.next_offset
        assert_contiguous(log_offsets(dsn))


async def _appended_eventually(store: PgMetadataStore, records: list[object]) -> None:
    """Append, retrying while the database comes back (a client retrying a retriable error)."""
    for _ in range(50):
        try:
            await store.append(records)
            return
        except KafkaError:
            await pause(0.1)
    raise AssertionError("the append never succeeded")


@pytest_twisted.ensureDeferred
async def test_fence_rows_follow_partition_records(dsn: str) -> None:
    """The partitions rows follow the partition records as every broker's image applies them."""
    async with brokers(dsn) as (a, b):
        topic_id, records = topic_records("fenced", 2, leader=1)
        await a.append(records)
        assert (
            fence_rows(dsn)
            == image_leaders(a.image)
            == {
                (topic_id, 0): (1, 0),
                (topic_id, 1): (1, 0),
            }
        )
        # A new leader bumps the epoch; -2 (no leader change) leaves it; an unknown
        # partition and an unknown topic change nothing (the image ignores them).
        await b.sync()
        ghost = uuid.uuid4()
        await b.append(
            [
                change(topic_id, 0, 2),
                change(topic_id, 1, -2),
                change(topic_id, 7, 2),
                change(ghost, 0, 2),
                mr.PartitionRecord(partition_id=0, topic_id=ghost, leader=2, leader_epoch=0),
            ]
        )
        await a.sync()
        assert fence_rows(dsn) == image_leaders(a.image) == image_leaders(b.image)
        assert fence_rows(dsn) == {(topic_id, 0): (2, 1), (topic_id, 1): (1, 0)}
        # A partition added, then moved twice in one batch.
        await a.append(
            [
                mr.PartitionRecord(partition_id=2, topic_id=topic_id, leader=1, leader_epoch=4),
                change(topic_id, 2, 2),
                change(topic_id, 2, 1),
            ]
        )
        moved = a.image.topics["fenced"].partitions[2]
        assert fence_rows(dsn)[topic_id, 2] == (moved.leader, moved.leader_epoch) == (1, 6)
        assert fence_rows(dsn) == image_leaders(a.image)
        # A topic made and removed in one batch, then the topic removed.
        other, more = topic_records("brief", 1, leader=2)
        await b.sync()
        await b.append([*more, mr.RemoveTopicRecord(topic_id=other)])
        await b.append([mr.RemoveTopicRecord(topic_id=topic_id)])
        await a.sync()
        assert fence_rows(dsn) == image_leaders(a.image) == image_leaders(b.image) == {}


def _advisory_waiters(dsn: str) -> int:
    """How many sessions wait for an advisory lock (the metadata append lock)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest_twisted.ensureDeferred
async def test_records_built_from_an_image_caught_up_before_their_turn_fail(dsn: str) -> None:
    """An append built before the store applied another broker's rows fails NOT_CONTROLLER."""
    async with brokers(dsn) as (a, b):
        holder = await in_thread(psycopg.connect, dsn)
        try:
            await in_thread(holder.execute, "SELECT pg_advisory_lock(%s)", (APPEND_LOCK,))
            first = outcome(a.append(topic_records("x", 1, 1)[1]))
            while await in_thread(_advisory_waiters, dsn) < 1:
                await pause(0.01)
            # b's earlier append waits behind a's and will catch up with a's topic...
            earlier = outcome(b.append([mr.ConfigRecord(4, "", "k", "v")]))
            while await in_thread(_advisory_waiters, dsn) < 2:
                await pause(0.01)
            # ...while b's next records are built from an image without it.
            assert "x" not in b.image.topics
            second = outcome(b.append(topic_records("x", 2, 2)[1]))
        finally:
            await in_thread(holder.execute, "SELECT pg_advisory_unlock(%s)", (APPEND_LOCK,))
            await in_thread(holder.close)
        assert await first is None
        conflicted = await earlier
        assert conflicted is not None and conflicted.code == ErrorCode.NOT_CONTROLLER
        rejected = await second
        assert rejected is not None and rejected.code == ErrorCode.NOT_CONTROLLER
        assert len(b.image.topics["x"].partitions) == 1
        assert b.image.topics["x"].topic_id == a.image.topics["x"].topic_id
