"""Cross-broker transaction round trips over a local PostgreSQL: markers and KIP-890 verification.

Two brokers' sides run in this process (each its own L{Database}) over one
PostgreSQL started in a temporary directory (L{PostgresServer}):

- markers: broker 1's L{PgMarkerDelivery} asks for one marker in ``t-0``
  (led by broker 1) and one in ``t-1`` (led by broker 2); the time is from
  C{write} to its firing (rows stored, NOTIFY, both leaders write and
  delete, NOTIFY, the coordinator's check);
- verification: broker 2's L{PgTxnVerifier} asks broker 1's coordinator
  (a real broker's, file engine) whether ``t-0`` is in id ``a``'s
  transaction (row, NOTIFY, answer, NOTIFY, read).

Run: ``PYTHONPATH=. python bench/bench_txn_pg.py [rounds]``. Prints p50/p99/max in ms.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from typing import Any

from twisted.internet import task

from kafkatwist.cluster.local import LeadershipTracker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.metadata_records import PartitionRecord, TopicRecord
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.marker_service import PgMarkerService
from kafkatwist.postgres.markers import PgMarkerDelivery
from kafkatwist.postgres.schema import migrate
from kafkatwist.postgres.txn_verify import PgTxnVerifier
from kafkatwist.storage.kraft import KRaftMetadataStore, run_now
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.testing.postgres import PostgresServer
from kafkatwist.topics.partitions import Partitions
from tests.brokers import make_broker


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms"


async def _markers(reactor: Any, dsn: str, rounds: int) -> list[float]:
    metadata = KRaftMetadataStore(tempfile.mkdtemp(prefix="bench-txn-meta-"), clock=reactor)
    metadata.load()
    topic_id = uuid.uuid4()
    await metadata.append(
        [
            TopicRecord(name="t", topic_id=topic_id),
            PartitionRecord(partition_id=0, topic_id=topic_id, replicas=(1,), isr=(1,), leader=1),
            PartitionRecord(partition_id=1, topic_id=topic_id, replicas=(2,), isr=(2,), leader=2),
        ]
    )
    dbs = []
    services = []
    for node_id in (1, 2):
        configs = ConfigResolver(BrokerConfig(node_id=node_id), metadata)
        logs = LogManager(
            [tempfile.mkdtemp(prefix=f"bench-txn-{node_id}-")],
            configs.log_config,
            clock=reactor,
            run_blocking=run_now,
            read_pool=ReadPool(run_now),
        )
        logs.load()
        partitions = Partitions(metadata, logs, configs.log_config, reactor, None)
        db = Database(dsn, reactor, size=2)
        service = PgMarkerService(db, metadata, partitions, reactor)
        tracker = LeadershipTracker(metadata, node_id)
        tracker.add_listener(service)
        metadata.subscribe(tracker.changed)
        tracker.changed()
        service.start()
        dbs.append(db)
        services.append(service)
    db = Database(dsn, reactor, size=2)
    dbs.append(db)
    delivery = PgMarkerDelivery(db, metadata, reactor, 1)
    delivery.start()
    await task.deferLater(reactor, 0.5, lambda: None)  # the LISTENs connect
    samples = []
    for i in range(rounds):
        start = time.perf_counter()
        await delivery.write([("t", 0), ("t", 1)], 1000 + i, 0, 0, True).done
        samples.append((time.perf_counter() - start) * 1000)
    delivery.stop()
    for service in services:
        service.stop()
    for d in dbs:
        await d.stop()
    return samples


async def _verification(reactor: Any, dsn: str, rounds: int) -> list[float]:
    broker = make_broker()
    await broker.controller.create_topic("t", 2)
    coordinator = broker.transactions.coordinator
    code, pid, _ = await coordinator.init_producer_id("a", 60000, None)
    assert code == ErrorCode.NONE
    await coordinator.add_partitions("a", pid, 0, [("t", 0)])
    dbs = [Database(dsn, reactor, size=2), Database(dsn, reactor, size=2)]
    first = PgTxnVerifier(dbs[0], reactor, 1, coordinator.ensure_partitions)
    second = PgTxnVerifier(dbs[1], reactor, 2, coordinator.ensure_partitions)
    first.start()
    second.start()
    await task.deferLater(reactor, 0.5, lambda: None)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        codes = await second.ensure(1, "a", pid, 0, [("t", 0)], False)
        samples.append((time.perf_counter() - start) * 1000)
        assert codes == {("t", 0): ErrorCode.NONE}, codes
    first.stop()
    second.stop()
    for d in dbs:
        await d.stop()
    return samples


async def main(reactor: Any, rounds: int) -> None:
    server = PostgresServer()
    server.start()
    try:
        dsn = server.create_database("bench_txn")
        setup = Database(dsn, reactor, size=1)
        await setup.run(migrate)
        await setup.stop()
        markers = await _markers(reactor, dsn, rounds)
        print(f"markers, 2 partitions on 2 brokers ({rounds} rounds): {_percentiles(markers)}")
        verified = await _verification(reactor, dsn, rounds)
        print(f"verification with another broker ({rounds} rounds): {_percentiles(verified)}")
    finally:
        server.destroy()


if __name__ == "__main__":
    task.react(main, [int(sys.argv[1]) if len(sys.argv) > 1 else 200])
