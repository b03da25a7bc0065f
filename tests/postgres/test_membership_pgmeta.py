"""PgCluster over PgMetadataStore: each broker with its own metadata store, all over one PostgreSQL.

The controller's moves are metadata records like any other: every broker's
image follows them, and the C{partitions} fence rows (leader, leader epoch)
written in the same transaction agree with the images.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import pytest_twisted
from attrs import define
from twisted.internet.defer import gatherResults
from twisted.internet.task import Clock

from kafkatwist.messages import metadata_records as mr
from kafkatwist.postgres.cluster import PgCluster
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.membership import MembershipConfig
from kafkatwist.postgres.metadata import PgMetadataStore
from tests.postgres.pgmeta_support import brokers, migrated_database, pause, the_reactor

LEASE = MembershipConfig(heartbeat_interval_ms=100, session_timeout_ms=1500)


@pytest.fixture
def dsn(request: Any) -> str:
    """A fresh, migrated database (dropped after the test)."""
    return migrated_database(request)


def partition_records(topic_id: uuid.UUID, leaders: list[int]) -> list[object]:
    """PartitionRecords: partition i led by C{leaders[i]}, its only replica."""
    return [
        mr.PartitionRecord(
            partition_id=i,
            topic_id=topic_id,
            replicas=(leader,),
            isr=(leader,),
            removing_replicas=(),
            adding_replicas=(),
            leader=leader,
            leader_epoch=0,
            partition_epoch=0,
            directories=(),
        )
        for i, leader in enumerate(leaders)
    ]


async def fence_rows(db: Database, topic_id: uuid.UUID) -> dict[int, tuple[int, int]]:
    """The C{partitions} rows of a topic: partition -> (leader, leader epoch)."""
    rows = await db.run(
        lambda conn: conn.execute(
            "SELECT partition, leader, leader_epoch FROM partitions WHERE topic_id = %s",
            (topic_id,),
        ).fetchall()
    )
    return {int(p): (int(leader), int(epoch)) for p, leader, epoch in rows}


def leaders(store: PgMetadataStore, topic: str) -> dict[int, tuple[int, int]]:
    """Partition -> (leader, leader epoch) in C{store}'s image."""
    parts = store.image.topics[topic].partitions
    return {i: (p.leader, p.leader_epoch) for i, p in sorted(parts.items())}


@define
class Cluster:
    """Three brokers: their memberships, clocks and metadata stores, and a connection for checks."""

    clusters: list[PgCluster]
    clocks: list[Clock]
    stores: list[PgMetadataStore]
    db: Database


@pytest_twisted.async_yield_fixture()
async def cluster(dsn: str) -> AsyncIterator[Cluster]:
    async with brokers(dsn, 3) as stores:
        dbs = [Database(dsn, the_reactor(), size=1) for _ in stores]
        clocks = [Clock() for _ in stores]
        clusters = [
            PgCluster(store.node_id, db, store, clock, LEASE)
            for store, db, clock in zip(stores, dbs, clocks, strict=True)
        ]
        for c in clusters:
            await c.start({"PLAINTEXT": ("127.0.0.1", 9000 + c.node_id)})
        try:
            yield Cluster(clusters, clocks, stores, dbs[0])
        finally:
            for c in clusters:
                await c.stop()
            await gatherResults([db.stop() for db in dbs])


async def caught_up(stores: list[PgMetadataStore]) -> None:
    """Wait until every store has applied the same metadata log end."""
    for _ in range(1000):
        if len({s.next_offset for s in stores}) == 1:
            return
        await pause(0.02)
    raise AssertionError("the stores never agreed")


def new_topic(image: object, name: str) -> list[mr.TopicRecord]:
    """A topic of another writer (racing the controller's moves)."""
    return [mr.TopicRecord(name=name, topic_id=uuid.uuid4())]


@pytest_twisted.ensureDeferred
async def test_failover_through_the_metadata_log(cluster: Cluster) -> None:
    """A dead broker's partitions move in every image and in the fence rows, while others write."""
    stores, db = cluster.stores, cluster.db
    topic_id = uuid.uuid4()
    await stores[0].append(
        [mr.TopicRecord(name="t", topic_id=topic_id), *partition_records(topic_id, [1, 2, 3, 3])]
    )
    await caught_up(stores)
    assert await fence_rows(db, topic_id) == {0: (1, 0), 1: (2, 0), 2: (3, 0), 3: (3, 0)}
    survivors = cluster.clusters[:2]
    for clock in cluster.clocks[:2]:
        clock.advance(2)  # past the quiet time after start
    for n in range(1000):  # broker 3 stops heartbeating; the others go on, and write
        other = stores[1].append_when(partial(new_topic, name=f"o{n}"))
        await gatherResults([c.heartbeat() for c in survivors])
        await other
        if all(leader != 3 for leader, _ in leaders(stores[0], "t").values()):
            break
        await pause(0.05)
    await caught_up(stores)
    image = leaders(stores[2], "t")
    assert {image[2][0], image[3][0]} == {1, 2}
    assert (image[2][1], image[3][1]) == (1, 1)
    assert leaders(stores[0], "t") == leaders(stores[1], "t") == image
    assert await fence_rows(db, topic_id) == image
