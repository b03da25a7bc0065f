"""Fixtures of the cluster tests: three broker processes over one PostgreSQL database.

``cluster``: three brokers (node ids 1, 2, 3; racks rack-1..rack-3) with
``kafkatwist.storage`` on a fresh database of the test process's PostgreSQL
(L{tests.postgres_support}), started one after the other, and ready once
Metadata through each of them lists all three; stopped (SIGTERM) after the
test, the database dropped.

``rack_aware_cluster``: the same with C{replica.selector.class} rack-aware (KIP-392).

``own_postgres``: a PostgreSQL server of the test's own, for tests that kill
it; ``outage_cluster`` is three brokers over it.

The brokers' logs are printed at teardown: pytest shows them for a failing test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from kafkatwist.cluster.replica_selector import RACK_AWARE_SELECTOR
from kafkatwist.testing.postgres import PostgresServer
from tests.cluster.clients import wait_for_brokers
from tests.cluster.harness import FAST_FAILOVER, Cluster
from tests.postgres_support import fresh_database


class _Finalizers:
    """C{addCleanup} for L{fresh_database}, on a pytest request's finalizers."""

    def __init__(self, add: Callable[[Callable[[], object]], None]) -> None:
        self._add = add

    def addCleanup(self, f: object, *args: object) -> None:
        assert callable(f)
        self._add(lambda: f(*args))


def running_cluster(
    directory: Path,
    dsn: str,
    postgres: PostgresServer | None,
    properties: Mapping[str, str] = FAST_FAILOVER,
) -> Cluster:
    """Three brokers over C{dsn}, started, each one's Metadata listing all three."""
    cluster = Cluster(directory, storage=dsn, postgres=postgres, properties=properties)
    try:
        cluster.start()
        expected = {node.node_id: node.bootstrap for node in cluster.nodes}
        for node in cluster.nodes:
            wait_for_brokers(node.bootstrap, expected)
    except BaseException:
        print(cluster.outputs())
        cluster.stop()
        raise
    return cluster


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    dsn = fresh_database(_Finalizers(request.addfinalizer))
    running = running_cluster(tmp_path, dsn, None)
    try:
        yield running
    finally:
        running.stop()
        print(running.outputs())


@pytest.fixture
def rack_aware_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    dsn = fresh_database(_Finalizers(request.addfinalizer))
    properties = {**FAST_FAILOVER, "replica.selector.class": RACK_AWARE_SELECTOR}
    running = running_cluster(tmp_path, dsn, None, properties)
    try:
        yield running
    finally:
        running.stop()
        print(running.outputs())


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()  # its own directory: the server user cannot enter tmp_path
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def outage_cluster(own_postgres: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    dsn = own_postgres.create_database("kafkatwist")
    running = running_cluster(tmp_path / "brokers", dsn, own_postgres)
    try:
        yield running
    finally:
        running.stop()
        print(running.outputs())
