"""PgCluster on a real PostgreSQL: registration, leases, the controller, failover, clean stops.

Several L{PgCluster}s run in this process over one fresh database, each with
its own L{Database} and its own L{Clock} (heartbeats happen when a test runs
a round or advances that clock), sharing one real metadata store (a
L{KRaftMetadataStore} in a temporary directory). Leases are computed by
PostgreSQL's clock: a broker "dies" by not heartbeating, and the test waits
out its (short) lease in real time before the next round.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.postgres.cluster import PgCluster
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.membership import MembershipConfig
from kafkatwist.postgres.schema import migrate
from kafkatwist.storage.kraft import KRaftMetadataStore
from tests.postgres_support import fresh_database, server

#: A lease that outlives every test (brokers that never die).
LONG = MembershipConfig(
    heartbeat_interval_ms=100, session_timeout_ms=60000, registration_timeout_ms=0
)
#: The lease of brokers that may die: L{outlive} keeps the others heartbeating while it runs out.
LEASE = MembershipConfig(
    heartbeat_interval_ms=100, session_timeout_ms=1500, registration_timeout_ms=0
)


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def pause(seconds: float) -> None:
    """Let the reactor run for C{seconds} (a lease running out on PostgreSQL's clock)."""
    d: Deferred[None] = Deferred()
    _reactor().callLater(seconds, d.callback, None)
    await d


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the reactor run until C{condition()} holds; fail after C{timeout} seconds."""
    deadline = _reactor().seconds() + timeout
    while not condition():
        assert _reactor().seconds() < deadline, "condition not met"
        await pause(0.02)


class _Cleanups:
    def __init__(self, request: Any) -> None:
        self._request = request

    def addCleanup(self, f: Any, *args: object) -> None:
        self._request.addfinalizer(lambda: f(*args))


class Node:
    """One broker's membership, with what its leadership tracker was told."""

    def __init__(self, cluster: PgCluster, db: Database, clock: Clock) -> None:
        self.cluster, self.db, self.clock = cluster, db, clock
        self.prepared: list[tuple[str, int, int]] = []
        self.released: list[tuple[str, int]] = []


class Harness:
    """Brokers over one database and one metadata store."""

    def __init__(self, dsn: str, store: KRaftMetadataStore) -> None:
        self.dsn, self.store = dsn, store
        self.nodes: list[Node] = []

    async def start(
        self, node_id: int, config: MembershipConfig = LONG, *, start: bool = True
    ) -> Node:
        db = Database(self.dsn, _reactor(), size=1, name=f"pg-{node_id}")
        clock = Clock()
        node: Node

        def prepare(topic: str, partition: int, epoch: int) -> Deferred[object]:
            node.prepared.append((topic, partition, epoch))
            return succeed(None)

        def release(topic: str, partition: int) -> None:
            node.released.append((topic, partition))

        cluster = PgCluster(node_id, db, self.store, clock, config, prepare, release)
        node = Node(cluster, db, clock)
        self.nodes.append(node)
        if start:
            await cluster.start({"PLAINTEXT": ("127.0.0.1", 9000 + node_id)})
        return node

    async def create_topic(self, name: str, assignment: list[tuple[int, ...]]) -> uuid.UUID:
        topic_id = uuid.uuid4()
        records: list[object] = [mr.TopicRecord(name=name, topic_id=topic_id)]
        for index, replicas in enumerate(assignment):
            records.append(
                mr.PartitionRecord(
                    partition_id=index,
                    topic_id=topic_id,
                    replicas=replicas,
                    isr=replicas,
                    removing_replicas=(),
                    adding_replicas=(),
                    leader=replicas[0],
                    leader_epoch=0,
                    partition_epoch=0,
                    directories=(),
                )
            )
        await self.store.append(records)
        return topic_id

    def leaders(self, topic: str) -> dict[int, tuple[int, int]]:
        """Partition -> (leader, leader epoch) in the image."""
        parts = self.store.image.topics[topic].partitions
        return {i: (p.leader, p.leader_epoch) for i, p in sorted(parts.items())}

    async def outlive(self, doomed: int, survivors: list[Node]) -> None:
        """Keep C{survivors} heartbeating until C{doomed}'s lease ran out on PostgreSQL's clock."""
        query = (
            f"SELECT count(*) FROM brokers WHERE node_id = {doomed} AND lease_expires_at > now()"
        )
        for _ in range(1000):
            for node in survivors:
                await node.cluster.heartbeat()
            if await self.row_count(query) == 0:
                for node in survivors:
                    await node.cluster.heartbeat()
                return
            await pause(0.05)
        raise AssertionError(f"the lease of {doomed} never ran out")

    async def row_count(self, sql: str) -> int:
        db = Database(self.dsn, _reactor(), size=1)
        try:
            row = await db.run(lambda conn: conn.execute(sql).fetchone())
            assert row is not None
            return int(row[0])
        finally:
            await db.stop()

    async def close(self) -> None:
        for node in self.nodes:
            await node.cluster.stop()
            await node.db.stop()


@pytest_twisted.async_yield_fixture()
async def harness(request: Any, tmp_path: Any) -> AsyncIterator[Harness]:
    dsn = fresh_database(_Cleanups(request))
    db = Database(dsn, _reactor(), size=1)
    await db.run(migrate)
    await db.stop()
    store = KRaftMetadataStore(str(tmp_path))
    await store.load()
    h = Harness(dsn, store)
    yield h
    await h.close()


def ids(node: Node) -> list[int]:
    return [b.node_id for b in node.cluster.live_brokers()]


@pytest_twisted.ensureDeferred
async def test_registration_and_live_set(harness: Harness) -> None:
    """Registered brokers are live with their listeners; a registration is seen by NOTIFY."""
    one = await harness.start(1)
    two = await harness.start(2, MembershipConfig(session_timeout_ms=60000, rack="r2"))
    await wait_until(lambda: ids(one) == [1, 2])
    assert ids(two) == [1, 2]
    assert two.cluster.live_brokers()[1].rack == "r2"
    assert one.cluster.live_brokers()[1].address("PLAINTEXT") == ("127.0.0.1", 9002)
    assert one.cluster.controller_id == two.cluster.controller_id == 1
    assert one.cluster.is_live(2) and not one.cluster.is_live(3)
    placed = one.cluster.assign_replicas(4, 2)
    assert sorted(r[0] for r in placed) == [1, 1, 2, 2]
    assert all(sorted(r) == [1, 2] for r in placed)


@pytest_twisted.ensureDeferred
async def test_duplicate_registration_refused(harness: Harness) -> None:
    """A second incarnation of a live node id is refused with DUPLICATE_BROKER_REGISTRATION."""
    await harness.start(1)
    other = await harness.start(1, start=False)
    with pytest.raises(KafkaError) as raised:
        await other.cluster.start({"PLAINTEXT": ("127.0.0.1", 9100)})
    assert raised.value.code == ErrorCode.DUPLICATE_BROKER_REGISTRATION
    assert await harness.row_count("SELECT count(*) FROM brokers") == 1


@pytest_twisted.ensureDeferred
async def test_dead_broker_partitions_move(harness: Harness) -> None:
    """A broker that stops heartbeating loses its partitions to live brokers, epochs bumped."""
    one, two, three = [await harness.start(n, LEASE) for n in (1, 2, 3)]
    await harness.create_topic("t", [(1,), (2,), (3,), (1,), (2,), (3,)])
    assert sorted(p for (_, p, _) in three.prepared) == [2, 5]
    one.clock.advance(2)  # past the quiet time after start
    two.clock.advance(2)
    await harness.outlive(3, [one, two])  # three never heartbeats again
    assert ids(one) == [1, 2]
    leaders = harness.leaders("t")
    assert {i: leaders[i] for i in (0, 1, 3, 4)} == {0: (1, 0), 1: (2, 0), 3: (1, 0), 4: (2, 0)}
    assert leaders[2][0] != leaders[5][0] and {leaders[2][0], leaders[5][0]} == {1, 2}
    assert (leaders[2][1], leaders[5][1]) == (1, 1)
    assert sorted(three.released) == [("t", 2), ("t", 5)]
    elected = {p: e for (_, p, e) in one.prepared + two.prepared if p in (2, 5)}
    assert elected == {2: 1, 5: 1}


@pytest_twisted.ensureDeferred
async def test_controller_lease_fails_over(harness: Harness) -> None:
    """Another broker takes a lapsed controller lease (epoch bumped) and moves its partitions."""
    nodes = [await harness.start(n, LEASE) for n in (1, 2, 3)]
    for node in nodes:
        node.clock.advance(2)
    controller = nodes[0].cluster.controller_id
    assert [node.cluster.controller_id for node in nodes] == [controller] * 3
    first_epoch = nodes[0].cluster.controller_epoch
    others = [node for node in nodes if node.cluster.node_id != controller]
    a, b = (node.cluster.node_id for node in others)
    await harness.create_topic("t", [(controller, a), (a, b), (controller, b)])
    await harness.outlive(controller, others)
    await others[0].cluster.heartbeat()
    successor = others[0].cluster.controller_id
    assert successor in (a, b)
    assert [node.cluster.controller_id for node in others] == [successor] * 2
    assert others[0].cluster.controller_epoch == first_epoch + 1
    assert harness.leaders("t") == {0: (a, 1), 1: (a, 0), 2: (b, 1)}


@pytest_twisted.ensureDeferred
async def test_returning_broker_registers_and_gets_its_partitions_back(harness: Harness) -> None:
    """A restarted broker re-registers after its old lease; the preferred-leader check restores."""
    rebalancing = MembershipConfig(
        heartbeat_interval_ms=100, session_timeout_ms=60000, rebalance_interval_ms=1000
    )
    one = await harness.start(1, rebalancing)
    await harness.start(2, LEASE)
    await harness.create_topic("t", [(2, 1), (1, 2)])
    one.clock.advance(60)  # past the quiet time; the first check was due at 1, the next at 61
    await harness.outlive(2, [one])
    assert harness.leaders("t") == {0: (1, 1), 1: (1, 0)}
    restarted = await harness.start(2, LONG)
    assert await harness.row_count("SELECT count(*) FROM brokers WHERE node_id = 2") == 1
    await one.cluster.heartbeat()
    assert ids(one) == [1, 2]
    assert harness.leaders("t")[0] == (1, 1)  # the check is not due yet
    one.clock.advance(1.0)
    await one.cluster.heartbeat()
    assert harness.leaders("t") == {0: (2, 2), 1: (1, 0)}
    assert ("t", 0, 2) in restarted.prepared


async def retry_until_started(node: Node, started: Deferred[None]) -> None:
    """Advance C{node}'s clock a heartbeat interval at a time until C{started} fires."""
    for _ in range(1000):
        if started.called:
            break
        node.clock.advance(0.1)
        await pause(0.05)
    await started


@pytest_twisted.ensureDeferred
async def test_registration_retried_until_old_lease_expires(harness: Harness) -> None:
    """A refused registration is retried every heartbeat interval until the old lease runs out."""
    await harness.start(1, LEASE)
    patient = MembershipConfig(
        heartbeat_interval_ms=100, session_timeout_ms=60000, registration_timeout_ms=600000
    )
    again = await harness.start(1, patient, start=False)
    started = again.cluster.start({"PLAINTEXT": ("127.0.0.1", 9300)})
    await pause(0.1)
    assert not started.called
    await retry_until_started(again, started)
    assert ids(again) == [1]


@pytest_twisted.ensureDeferred
async def test_controlled_shutdown_hands_over(harness: Harness) -> None:
    """A clean stop moves its partitions, deregisters, and the controller lease is taken at once."""
    one, two = await harness.start(1), await harness.start(2)
    await harness.create_topic("t", [(1,), (2,), (1, 2)])
    await one.cluster.stop()
    assert harness.leaders("t") == {0: (2, 1), 1: (2, 0), 2: (2, 1)}
    assert sorted(one.released) == [("t", 0), ("t", 2)]
    assert await harness.row_count("SELECT count(*) FROM brokers") == 1
    await wait_until(lambda: ids(two) == [2] and two.cluster.controller_id == 2)


@pytest_twisted.ensureDeferred
async def test_heartbeats_run_on_the_injected_clock(harness: Harness) -> None:
    """Advancing a broker's clock by the heartbeat interval runs a round that renews its lease."""
    one = await harness.start(1)
    two = await harness.start(2, LEASE)
    await harness.outlive(2, [one])
    assert ids(one) == [1]
    two.clock.advance(0.1)
    for _ in range(500):
        await one.cluster.heartbeat()
        if ids(one) == [1, 2]:
            break
        await pause(0.02)
    assert ids(one) == [1, 2]


@pytest_twisted.ensureDeferred
async def test_nothing_moves_in_the_quiet_time_after_start(harness: Harness) -> None:
    """For a session timeout after start, partitions of unregistered brokers stay (a cold start)."""
    one = await harness.start(1)
    await harness.create_topic("t", [(5,), (1,)])
    await one.cluster.heartbeat()
    assert one.cluster.controller_id == 1
    assert harness.leaders("t") == {0: (5, 0), 1: (1, 0)}
    one.clock.advance(60)
    await one.cluster.heartbeat()
    assert harness.leaders("t") == {0: (1, 1), 1: (1, 0)}


@pytest_twisted.ensureDeferred
async def test_no_mass_failover_after_a_database_outage(harness: Harness) -> None:
    """After PostgreSQL was away longer than a lease, the controller waits for the others first."""
    one, two = await harness.start(1, LEASE), await harness.start(2, LEASE)
    await harness.create_topic("t", [(1,), (2,)])
    one.clock.advance(2)
    pg = server()
    pg.kill()
    try:
        await pause(1.7)  # longer than a lease: every lease has run out when it is back
        with pytest.raises(KafkaError) as raised:
            await one.cluster.heartbeat()
        assert raised.value.code == ErrorCode.KAFKA_STORAGE_ERROR
    finally:
        await deferToThread(pg.start)
    await one.cluster.heartbeat()
    # Either broker may hold the controller lease now (broker 2's LISTEN resync can take
    # the free lease before broker 1's round): whichever it is, nothing moved.
    assert one.cluster.controller_id in (1, 2)
    assert harness.leaders("t") == {0: (1, 0), 1: (2, 0)}
    await two.cluster.heartbeat()
    one.clock.advance(2)
    await one.cluster.heartbeat()
    assert ids(one) == [1, 2]
    assert harness.leaders("t") == {0: (1, 0), 1: (2, 0)}


@pytest_twisted.ensureDeferred
async def test_stop_during_registration_retries(harness: Harness) -> None:
    """A broker stopped while its refused registration waits to retry never stays registered."""
    await harness.start(1, LEASE)
    patient = MembershipConfig(heartbeat_interval_ms=100, registration_timeout_ms=600000)
    again = await harness.start(1, patient, start=False)
    started = again.cluster.start({"PLAINTEXT": ("127.0.0.1", 9400)})
    await pause(0.1)
    await again.cluster.stop()
    again.clock.advance(0.1)
    await started  # no further attempt once stopped
    mine = f"SELECT count(*) FROM brokers WHERE incarnation = '{again.cluster.incarnation}'"
    assert await harness.row_count(mine) == 0
    assert not again.cluster.is_live(1)


@pytest_twisted.ensureDeferred
async def test_start_waits_for_the_first_elections(harness: Harness) -> None:
    """C{start} fires once the partitions this broker leads at start are loaded and told."""
    await harness.create_topic("t", [(1,)])
    loading: Deferred[object] = Deferred()
    db = Database(harness.dsn, _reactor(), size=1, name="pg-1")
    cluster = PgCluster(
        1,
        db,
        harness.store,
        Clock(),
        LONG,
        lambda topic, partition, epoch: loading,
        lambda *_: None,
    )
    harness.nodes.append(Node(cluster, db, Clock()))
    elected: list[tuple[str, int, int]] = []

    class Listener:
        def on_election(self, topic: str, partition: int, leader_epoch: int) -> None:
            elected.append((topic, partition, leader_epoch))

        def on_resignation(self, topic: str, partition: int) -> None:
            """Not expected here."""

    cluster.add_listener(Listener())
    done: list[object] = []
    started = cluster.start({"PLAINTEXT": ("127.0.0.1", 9500)}).addCallback(done.append)
    await wait_until(lambda: cluster.is_live(1))
    await pause(0.1)
    assert (done, elected) == ([], [])
    loading.callback(None)
    await started
    assert (done, elected) == ([None], [("t", 0, 0)])
