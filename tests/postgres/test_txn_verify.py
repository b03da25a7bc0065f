"""Verifying partitions with another broker's transaction coordinator through PostgreSQL.

Broker 1 is a real broker (file engine, a Clock) whose coordinator owns
transactional id ``a``; broker 2 asks it through a real PostgreSQL
(L{tests.postgres_support}), each with its own L{Database} and
L{PgTxnVerifier} in this process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_twisted
from attrs import define

from kafkatwist.broker import Broker
from kafkatwist.errors import ErrorCode
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.schema import migrate
from kafkatwist.postgres.txn_verify import PgTxnVerifier
from kafkatwist.transactions.metadata import TopicPartition
from tests.brokers import make_broker
from tests.postgres.txn_support import Finalizers, eventually, the_reactor
from tests.postgres_support import fresh_database

T0: TopicPartition = ("t", 0)
T1: TopicPartition = ("t", 1)


@define
class Pair:
    """Broker 1's coordinator and verifier; broker 2's verifier."""

    dsn: str
    broker: Broker
    producer_id: int
    first: PgTxnVerifier
    second: PgTxnVerifier
    dbs: list[Database]

    async def rows(self) -> int:
        db = Database(self.dsn, the_reactor(), size=1)
        try:
            return await db.run(
                lambda conn: len(
                    conn.execute("SELECT request_id FROM txn_verifications").fetchall()
                )
            )
        finally:
            await db.stop()


@pytest_twisted.async_yield_fixture()
async def pair(request: Any) -> AsyncIterator[Pair]:
    reactor = the_reactor()
    dsn = fresh_database(Finalizers(request))
    setup = Database(dsn, reactor, size=1)
    await setup.run(migrate)
    await setup.stop()
    broker = make_broker()
    await broker.controller.create_topic("t", 2)
    coordinator = broker.transactions.coordinator
    code, pid, _ = await coordinator.init_producer_id("a", 60000, None)
    assert code == ErrorCode.NONE
    assert await coordinator.add_partitions("a", pid, 0, [T0]) == ErrorCode.NONE
    # Broker 2 coordinates nothing: its coordinator is another broker's, never asked here.
    idle = make_broker().transactions.coordinator.ensure_partitions
    dbs = [Database(dsn, reactor, size=2), Database(dsn, reactor, size=2)]
    first = PgTxnVerifier(dbs[0], reactor, 1, coordinator.ensure_partitions)
    second = PgTxnVerifier(dbs[1], reactor, 2, idle, timeout_ms=30000)
    second.start()
    running = Pair(dsn, broker, pid, first, second, dbs)
    yield running
    first.stop()
    second.stop()
    for db in dbs:
        await db.stop()


@pytest_twisted.ensureDeferred
async def test_verify_with_the_coordinator_elsewhere(pair: Pair) -> None:
    """A partition of the transaction is NONE, another TRANSACTION_ABORTABLE."""
    pair.first.start()
    codes = await pair.second.ensure(1, "a", pair.producer_id, 0, [T0, T1], False)
    assert codes == {T0: ErrorCode.NONE, T1: ErrorCode.TRANSACTION_ABORTABLE}
    assert await pair.rows() == 0


@pytest_twisted.ensureDeferred
async def test_add_with_the_coordinator_elsewhere(pair: Pair) -> None:
    """Transaction version 2: the coordinator adds the partition to the transaction."""
    pair.first.start()
    codes = await pair.second.ensure(1, "a", pair.producer_id, 0, [T1], True)
    assert codes == {T1: ErrorCode.NONE}
    assert pair.broker.transactions.coordinator.txns["a"].partitions == {T0, T1}


@pytest_twisted.ensureDeferred
async def test_fenced_epoch(pair: Pair) -> None:
    """The coordinator's own answers travel back (an old epoch is PRODUCER_FENCED)."""
    pair.first.start()
    await pair.broker.transactions.coordinator.init_producer_id("a", 60000, None)
    codes = await pair.second.ensure(1, "a", pair.producer_id, 0, [T0], False)
    assert codes == {T0: ErrorCode.PRODUCER_FENCED}


@pytest_twisted.ensureDeferred
async def test_request_stored_before_the_coordinator_listens(pair: Pair) -> None:
    """A coordinator starting to listen answers the requests already waiting for it."""
    answer = pair.second.ensure(1, "a", pair.producer_id, 0, [T0], False)

    async def stored() -> bool:
        return await pair.rows() == 1

    await eventually(stored, "the request stored")
    pair.first.start()
    assert await answer == {T0: ErrorCode.NONE}


@pytest_twisted.ensureDeferred
async def test_no_answer_is_coordinator_not_available(pair: Pair) -> None:
    """Nobody answers for broker 3: COORDINATOR_NOT_AVAILABLE, and the request is removed."""
    pair.second.timeout_ms = 300
    codes = await pair.second.ensure(3, "a", pair.producer_id, 0, [T0, T1], False)
    assert codes == {
        T0: ErrorCode.COORDINATOR_NOT_AVAILABLE,
        T1: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    }

    async def removed() -> bool:
        return await pair.rows() == 0

    await eventually(removed, "the request removed")
