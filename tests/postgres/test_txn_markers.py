"""Transaction markers through PostgreSQL: a coordinator's rows, written by two brokers' services.

One process holds two brokers' marker sides (each its own L{Database},
file-engine logs and L{LeadershipTracker}) over one metadata store and one
real PostgreSQL (L{tests.postgres_support}); broker 1 also runs the
coordinator's L{PgMarkerDelivery}. Topic ``t`` has partition 0 led by
broker 1 and partition 1 by broker 2.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_twisted
from attrs import define, field

from kafkatwist.cluster.local import LeadershipTracker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.messages.metadata_records import (
    PartitionChangeRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.marker_service import PgMarkerService
from kafkatwist.postgres.markers import PgMarkerDelivery
from kafkatwist.postgres.schema import migrate
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.topics.partitions import Partitions
from kafkatwist.wire.batch import iter_batches
from tests.postgres.txn_support import Finalizers, eventually, the_reactor
from tests.postgres_support import fresh_database
from tests.storage.support import batch, run_now, validated

PID = 7
TOPIC = "t"


@define
class Side:
    """One broker's marker side: its database, logs, leadership and service."""

    node_id: int
    db: Database
    partitions: Partitions
    tracker: LeadershipTracker
    service: PgMarkerService
    offsets_markers: list[tuple[int, int, bool]] = field(factory=list)


@define
class Cluster:
    """Two brokers' marker sides over one metadata store; broker 1's delivery."""

    metadata: KRaftMetadataStore
    dsn: str
    sides: dict[int, Side] = field(factory=dict)
    delivery: PgMarkerDelivery | None = None
    delivery_db: Database | None = None
    topic_id: uuid.UUID = field(factory=uuid.uuid4)

    async def add_side(self, node_id: int) -> Side:
        reactor = the_reactor()
        log_dir = tempfile.mkdtemp(prefix=f"pg-markers-{node_id}-")
        configs = ConfigResolver(BrokerConfig(node_id=node_id), self.metadata)
        logs = LogManager(
            [log_dir],
            configs.log_config,
            clock=reactor,
            run_blocking=run_now,
            read_pool=ReadPool(run_now),
        )
        logs.load()
        partitions = Partitions(self.metadata, logs, configs.log_config, reactor, None)
        db = Database(self.dsn, reactor, size=2, name=f"pg-{node_id}")
        service = PgMarkerService(db, self.metadata, partitions, reactor, retry_backoff_ms=20)
        side = Side(node_id, db, partitions, LeadershipTracker(self.metadata, node_id), service)
        service.on_offsets_marker = lambda p, pid, commit: side.offsets_markers.append(
            (p, pid, commit)
        )
        side.tracker.add_listener(service)
        self.metadata.subscribe(side.tracker.changed)
        side.tracker.changed()
        service.start()
        self.sides[node_id] = side
        return side

    async def append(self, *records: object) -> None:
        await self.metadata.append(list(records))

    def controls(self, node_id: int, partition: int) -> list[tuple[int, int]]:
        """(producer id, epoch) of the control batches of t-C{partition} on broker C{node_id}."""
        partitions = self.sides[node_id].partitions
        log = partitions.partition_log(self.metadata.image.topics[TOPIC], partition)
        assert log is not None
        out: list[Any] = []
        log.read(log.log_start_offset, 1 << 20).addCallback(out.append)
        return [
            (h.producer_id, h.producer_epoch)
            for buf in out[0].buffers
            for _, h in iter_batches(buf)
            if h.is_control
        ]

    async def produce(self, node_id: int, partition: int) -> None:
        """A transactional batch of producer L{PID} in t-C{partition}, led by C{node_id}."""
        partitions = self.sides[node_id].partitions
        topic = self.metadata.image.topics[TOPIC]
        log = partitions.partition_log(topic, partition)
        assert log is not None
        buf = batch(2, producer_id=PID, producer_epoch=1, base_sequence=0, is_transactional=True)
        await partitions.append(topic, partition, log, buf, validated(buf))


@pytest_twisted.async_yield_fixture()
async def cluster(request: Any) -> AsyncIterator[Cluster]:
    reactor = the_reactor()
    dsn = fresh_database(Finalizers(request))
    setup = Database(dsn, reactor, size=1)
    await setup.run(migrate)
    await setup.stop()
    metadata = KRaftMetadataStore(tempfile.mkdtemp(prefix="pg-markers-meta-"), clock=reactor)
    metadata.load()
    running = Cluster(metadata, dsn)
    await running.append(
        TopicRecord(name=TOPIC, topic_id=running.topic_id),
        PartitionRecord(
            partition_id=0,
            topic_id=running.topic_id,
            replicas=(1,),
            isr=(1,),
            leader=1,
            leader_epoch=0,
        ),
        PartitionRecord(
            partition_id=1,
            topic_id=running.topic_id,
            replicas=(2,),
            isr=(2,),
            leader=2,
            leader_epoch=0,
        ),
    )
    await running.add_side(1)
    await running.add_side(2)
    running.delivery_db = Database(dsn, reactor, size=2)
    running.delivery = PgMarkerDelivery(
        running.delivery_db, metadata, reactor, 1, sweep_ms=50, retry_backoff_ms=20
    )
    running.delivery.start()
    yield running
    running.delivery.stop()
    await running.delivery_db.stop()
    for side in running.sides.values():
        side.service.stop()
        await side.db.stop()


async def rows(dsn: str) -> list[tuple[int, int]]:
    """(partition, producer id) of every row of txn_markers."""
    db = Database(dsn, the_reactor(), size=1)
    try:
        return await db.run(
            lambda conn: [
                (r[0], r[1])
                for r in conn.execute(
                    "SELECT partition, producer_id FROM txn_markers ORDER BY partition"
                ).fetchall()
            ]
        )
    finally:
        await db.stop()


@pytest_twisted.ensureDeferred
async def test_markers_written_by_each_partitions_leader(cluster: Cluster) -> None:
    """Each broker writes the marker of the partition it leads; the write then fires."""
    await cluster.produce(1, 0)
    await cluster.produce(2, 1)
    assert cluster.delivery is not None
    await cluster.delivery.write([(TOPIC, 0), (TOPIC, 1)], PID, 1, 0, True).done
    assert cluster.controls(1, 0) == [(PID, 1)]
    assert cluster.controls(2, 1) == [(PID, 1)]
    assert cluster.controls(2, 0) == []  # broker 2 never wrote t-0
    assert await rows(cluster.dsn) == []
    assert cluster.delivery.pending == 0


@pytest_twisted.ensureDeferred
async def test_partition_without_leader_waits_for_its_next_leader(cluster: Cluster) -> None:
    """A partition with no live leader keeps its row; the next leader writes it on election."""
    assert cluster.delivery is not None
    await cluster.append(
        PartitionChangeRecord(partition_id=1, topic_id=cluster.topic_id, leader=-1)
    )
    done = cluster.delivery.write([(TOPIC, 0), (TOPIC, 1)], PID, 1, 0, False).done

    async def only_t1_left() -> bool:
        return await rows(cluster.dsn) == [(1, PID)]

    await eventually(only_t1_left, "t-0's marker written")
    assert not done.called
    await cluster.append(PartitionChangeRecord(partition_id=1, topic_id=cluster.topic_id, leader=1))
    await done
    assert cluster.controls(1, 1) == [(PID, 1)]
    assert cluster.controls(2, 1) == []


@pytest_twisted.ensureDeferred
async def test_rows_of_a_deleted_topic_are_dropped(cluster: Cluster) -> None:
    """The marker of a partition whose topic was deleted is given up; the write fires."""
    assert cluster.delivery is not None
    await cluster.append(
        PartitionChangeRecord(partition_id=1, topic_id=cluster.topic_id, leader=-1)
    )
    await cluster.append(
        PartitionChangeRecord(partition_id=0, topic_id=cluster.topic_id, leader=-1)
    )
    done = cluster.delivery.write([(TOPIC, 0), (TOPIC, 1)], PID, 1, 0, True).done

    async def stored() -> bool:
        return len(await rows(cluster.dsn)) == 2

    await eventually(stored, "the rows stored")
    await cluster.append(RemoveTopicRecord(topic_id=cluster.topic_id))
    await done
    assert await rows(cluster.dsn) == []


@pytest_twisted.ensureDeferred
async def test_broker_starting_later_drains_its_rows(cluster: Cluster) -> None:
    """Rows stored before a broker listens are written once it is elected and listening."""
    assert cluster.delivery is not None
    side = cluster.sides.pop(2)
    side.service.stop()
    await side.db.stop()
    await cluster.append(PartitionChangeRecord(partition_id=1, topic_id=cluster.topic_id, leader=3))
    done = cluster.delivery.write([(TOPIC, 1)], PID, 2, 0, True).done

    async def stored() -> bool:
        return await rows(cluster.dsn) == [(1, PID)]

    await eventually(stored, "the row stored")
    third = await cluster.add_side(3)
    await done
    assert cluster.controls(3, 1) == [(PID, 2)]
    assert third.offsets_markers == []


@pytest_twisted.ensureDeferred
async def test_offsets_marker_ends_pending_offsets_on_its_leader(cluster: Cluster) -> None:
    """A marker in __consumer_offsets calls the leader's group hook (pending offsets end)."""
    assert cluster.delivery is not None
    offsets_id = uuid.uuid4()
    await cluster.append(
        TopicRecord(name="__consumer_offsets", topic_id=offsets_id),
        PartitionRecord(
            partition_id=0, topic_id=offsets_id, replicas=(2,), isr=(2,), leader=2, leader_epoch=0
        ),
    )
    await cluster.delivery.write([("__consumer_offsets", 0)], PID, 1, 0, True).done
    assert cluster.sides[2].offsets_markers == [(0, PID, True)]
    assert cluster.sides[1].offsets_markers == []


@pytest_twisted.ensureDeferred
async def test_an_older_coordinator_epoch_never_replaces_a_newer_ones_row(
    cluster: Cluster,
) -> None:
    """A zombie coordinator's marker request leaves the newer coordinator's pending row as it is."""
    assert cluster.delivery is not None and cluster.delivery_db is not None
    await cluster.append(
        PartitionChangeRecord(partition_id=1, topic_id=cluster.topic_id, leader=-1)
    )
    current = cluster.delivery.write([(TOPIC, 1)], PID, 1, 4, False).done

    async def stored(count: int) -> bool:
        found = await cluster.delivery_db.run(  # type: ignore[union-attr]
            lambda conn: conn.execute("SELECT count(*) FROM txn_markers").fetchall()
        )
        return found == [(count,)]

    await eventually(lambda: stored(1), "the current coordinator's row stored")
    zombie = PgMarkerDelivery(
        cluster.delivery_db, cluster.metadata, the_reactor(), 3, sweep_ms=50, retry_backoff_ms=20
    )
    try:
        stale = zombie.write([(TOPIC, 1)], PID, 1, 3, True).done

        async def zombie_tried() -> bool:
            return not zombie._waiting or next(iter(zombie._waiting.values()))[0].stored

        await eventually(zombie_tried, "the zombie's upsert done")
        found = await cluster.delivery_db.run(
            lambda conn: conn.execute(
                "SELECT coordinator_epoch, commit, coordinator FROM txn_markers"
            ).fetchall()
        )
        assert found == [(4, False, 1)]
        await cluster.append(
            PartitionChangeRecord(partition_id=1, topic_id=cluster.topic_id, leader=2)
        )
        await current
        await stale
    finally:
        zombie.stop()
    assert cluster.controls(2, 1) == [(PID, 1)]


@pytest_twisted.ensureDeferred
async def test_partition_led_here_written_at_once(cluster: Cluster) -> None:
    """
    A delivery with broker 1's service as its local writer writes t-0 (led by broker 1)
    before C{here} fires and without the table; t-1 (broker 2's) still goes through it.
    """
    assert cluster.delivery_db is not None
    await cluster.produce(1, 0)
    # A database nobody listens on: any use of the table would fail and be retried forever.
    nowhere = Database("postgresql://nobody@127.0.0.1:1/none", the_reactor(), size=1)
    direct = PgMarkerDelivery(nowhere, cluster.metadata, the_reactor(), 1, retry_backoff_ms=20)
    direct.local = cluster.sides[1].service
    sent = direct.write([(TOPIC, 0)], PID, 1, 0, True)
    await sent.here
    assert cluster.controls(1, 0) == [(PID, 1)]
    await sent.done
    direct.stop()
    await nowhere.stop()
    both = PgMarkerDelivery(cluster.delivery_db, cluster.metadata, the_reactor(), 1, sweep_ms=50)
    both.local = cluster.sides[1].service
    both.start()
    mixed = both.write([(TOPIC, 0), (TOPIC, 1)], PID, 1, 0, False)
    await mixed.here
    assert cluster.controls(1, 0) == [(PID, 1), (PID, 1)]
    await mixed.done
    both.stop()
    assert cluster.controls(2, 1) == [(PID, 1)]
    assert await rows(cluster.dsn) == []
