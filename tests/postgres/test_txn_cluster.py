"""A transaction across two brokers: its coordinator on one, a partition led by the other.

Two real brokers (L{build_broker}, file-engine logs each in its own
directory) share one metadata store and one real PostgreSQL, wired as the
PostgreSQL engine wires them: markers through L{PgMarkerDelivery} and
L{PgMarkerService}, verification through L{PgTxnVerifier}. Broker 1
coordinates transactional id ``a`` and leads ``t-0``; broker 2 leads ``t-1``.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest_twisted
from attrs import define, field

from kafkatwist.apis import add_partitions_to_txn, end_txn, produce
from kafkatwist.broker import Broker, build_broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.add_partitions_to_txn import (
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnTopic,
)
from kafkatwist.messages.end_txn import EndTxnRequest
from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.marker_service import PgMarkerService
from kafkatwist.postgres.markers import PgMarkerDelivery
from kafkatwist.postgres.schema import migrate
from kafkatwist.postgres.txn_verify import PgTxnVerifier
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.transactions.metadata import TxnState
from kafkatwist.wire.batch import iter_batches
from tests.brokers import call
from tests.client_batches import client_batch
from tests.postgres.txn_support import Finalizers, eventually, the_reactor
from tests.postgres_support import fresh_database
from tests.storage.support import run_now
from tests.transactions.test_leadership import TwoBrokers

TOPIC = "t"


@define
class Node:
    """One broker with its PostgreSQL pieces."""

    broker: Broker
    db: Database
    delivery: PgMarkerDelivery
    service: PgMarkerService
    verifier: PgTxnVerifier
    cluster: TwoBrokers

    def controls(self, partition: int) -> list[tuple[int, bool]]:
        """(producer id, transactional) of the control batches of t-C{partition} here."""
        log = self.broker.partitions.partition_log(
            self.broker.metadata.image.topics[TOPIC], partition
        )
        assert log is not None
        out: list[Any] = []
        log.read(log.log_start_offset, 1 << 20).addCallback(out.append)
        return [
            (h.producer_id, h.is_transactional)
            for buf in out[0].buffers
            for _, h in iter_batches(buf)
            if h.is_control
        ]


@define
class Pair:
    """Brokers 1 and 2."""

    nodes: dict[int, Node] = field(factory=dict)


def _node(node_id: int, metadata: KRaftMetadataStore, dsn: str) -> Node:
    reactor = the_reactor()
    config = BrokerConfig(node_id=node_id)
    configs = ConfigResolver(config, metadata)
    logs = LogManager(
        [tempfile.mkdtemp(prefix=f"txn-cluster-{node_id}-")],
        configs.log_config,
        clock=reactor,
        run_blocking=run_now,
        read_pool=ReadPool(run_now),
    )
    logs.load()
    db = Database(dsn, reactor, size=3, name=f"pg-{node_id}")
    delivery = PgMarkerDelivery(db, metadata, reactor, node_id, sweep_ms=100)
    cluster = TwoBrokers(node_id, metadata)
    broker = build_broker(
        config, reactor, metadata, logs, configs, cluster_id="c", cluster=cluster, markers=delivery
    )
    service = PgMarkerService(
        db,
        metadata,
        broker.partitions,
        reactor,
        on_offsets_marker=broker.groups.txn_offsets.complete,
    )
    cluster.add_listener(service)
    verifier = PgTxnVerifier(
        db, reactor, node_id, broker.transactions.coordinator.ensure_partitions
    )
    broker.transactions.remote = verifier
    delivery.start()
    service.start()
    verifier.start()
    return Node(broker, db, delivery, service, verifier, cluster)


@pytest_twisted.async_yield_fixture()
async def pair(request: Any) -> AsyncIterator[Pair]:
    reactor = the_reactor()
    dsn = fresh_database(Finalizers(request))
    setup = Database(dsn, reactor, size=1)
    await setup.run(migrate)
    await setup.stop()
    metadata = KRaftMetadataStore(tempfile.mkdtemp(prefix="txn-cluster-meta-"), clock=reactor)
    metadata.load()
    running = Pair()
    for node_id in (1, 2):
        running.nodes[node_id] = node = _node(node_id, metadata, dsn)
        await node.cluster.start({})
    first = running.nodes[1].broker
    topic = await first.controller.create_topic(TOPIC, 2)
    await metadata.append(
        [PartitionChangeRecord(partition_id=1, topic_id=topic.topic_id, leader=2)]
    )
    yield running
    for node in running.nodes.values():
        node.broker.transactions.stop()
        node.service.stop()
        node.verifier.stop()
        await node.db.stop()


def _produce_request(pid: int, partition: int) -> ProduceRequest:
    batch = client_batch(0, 1, producer_id=pid, epoch=0, is_transactional=True)
    return ProduceRequest(
        transactional_id="a",
        acks=-1,
        timeout_ms=30000,
        topic_data=(
            TopicProduceData(
                name=TOPIC, partition_data=(PartitionProduceData(index=partition, records=batch),)
            ),
        ),
    )


@pytest_twisted.ensureDeferred
async def test_commit_across_brokers(pair: Pair) -> None:
    """Verified through broker 1, written on both, committed with both brokers' markers."""
    first, second = pair.nodes[1], pair.nodes[2]
    coordinator = first.broker.transactions.coordinator
    code, pid, _ = await coordinator.init_producer_id("a", 60000, None)
    assert code == ErrorCode.NONE
    # Broker 2 cannot answer for "a": it is not its coordinator.
    code, _, _ = await second.broker.transactions.coordinator.init_producer_id("a", 60000, None)
    assert code == ErrorCode.NOT_COORDINATOR
    add = AddPartitionsToTxnRequest(
        v3_and_below_transactional_id="a",
        v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=0,
        v3_and_below_topics=(AddPartitionsToTxnTopic(name=TOPIC, partitions=(0, 1)),),
    )
    added = await call(first.broker, add_partitions_to_txn.SPEC, add, 3)
    assert [
        r.partition_error_code for r in added.results_by_topic_v3_and_below[0].results_by_partition
    ] == [0, 0]
    # Produce v9 on each leader: broker 2 verifies "a" with broker 1 through PostgreSQL.
    for node, partition in ((first, 0), (second, 1)):
        response = await call(node.broker, produce.SPEC, _produce_request(pid, partition), 9)
        assert response.responses[0].partition_responses[0].error_code == ErrorCode.NONE
    end = EndTxnRequest(transactional_id="a", producer_id=pid, producer_epoch=0, committed=True)
    ended = await call(first.broker, end_txn.SPEC, end, 3)
    assert ended.error_code == ErrorCode.NONE

    async def completed() -> bool:
        return coordinator.txns["a"].state == TxnState.COMPLETE_COMMIT

    await eventually(completed, "the transaction completed")
    assert first.controls(0) == [(pid, True)]
    assert second.controls(1) == [(pid, True)]
    assert first.delivery.pending == 0


@pytest_twisted.ensureDeferred
async def test_produce_outside_the_transaction_is_refused_remotely(pair: Pair) -> None:
    """Broker 2's verification with broker 1 refuses a partition not in the transaction."""
    first, second = pair.nodes[1], pair.nodes[2]
    code, pid, _ = await first.broker.transactions.coordinator.init_producer_id("a", 60000, None)
    assert code == ErrorCode.NONE
    response = await call(second.broker, produce.SPEC, _produce_request(pid, 1), 11)
    assert (
        response.responses[0].partition_responses[0].error_code == ErrorCode.TRANSACTION_ABORTABLE
    )
