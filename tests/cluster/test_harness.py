"""The cluster harness itself: broker processes started, SIGKILLed, restarted; PostgreSQL too.

These run on the file engine (no C{kafkatwist.storage}: each broker is a
cluster of its own) and on a bare PostgreSQL, so they check the harness
whatever the state of the PostgreSQL engine.
"""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from kafkatwist.config.java_properties import parse_properties
from kafkatwist.testing.postgres import PostgresServer
from tests.cluster.clients import create_topic, live_brokers, produce_values, read_all
from tests.cluster.harness import FAST_FAILOVER, Cluster


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_properties_file(tmp_path: Path) -> None:
    """Each broker's server.properties names its node id, port, rack, storage and lease timings."""
    cluster = Cluster(tmp_path, storage="postgresql://kafkatwist@127.0.0.1:5/db", size=2)
    node = cluster.node(2)
    node.port = 19092
    with open(node.write_properties(), encoding="utf-8") as f:
        written = dict(parse_properties(f.read()))
    assert written == {
        "node.id": "2",
        "listeners": "PLAINTEXT://127.0.0.1:19092",
        "advertised.listeners": "PLAINTEXT://127.0.0.1:19092",
        "log.dirs": str(tmp_path / "broker-2" / "logs"),
        "broker.rack": "rack-2",
        "kafkatwist.storage": "postgresql://kafkatwist@127.0.0.1:5/db",
        **FAST_FAILOVER,
    }
    assert cluster.bootstrap == "127.0.0.1:0,127.0.0.1:19092"


def test_brokers_start_sigkill_and_restart(tmp_path: Path) -> None:
    """Two file-engine brokers serve; one SIGKILLed is gone, then back on its port with its data."""
    cluster = Cluster(tmp_path, size=2).start()
    try:
        for node in cluster.nodes:
            assert live_brokers(node.bootstrap) == {node.node_id: node.bootstrap}
        first = cluster.node(1)
        create_topic(first.bootstrap, "kept", 2)
        values = [b"value-%03d" % i for i in range(40)]
        receipts = produce_values(first.bootstrap, "kept", values)
        pid, port = first.pid, first.port
        cluster.kill(1)
        assert not first.running and _refused(port)
        assert cluster.node(2).running
        cluster.restart(1)
        assert first.running and first.pid != pid and first.port == port
        assert first.output().count(" started: ") == 1
        records = read_all(first.bootstrap, "kept", 2)
        assert sorted(r.value for r in records) == values
        assert {r.value: (r.partition, r.offset) for r in records} == receipts.acked
    finally:
        cluster.stop()
    assert not any(node.running for node in cluster.nodes)
    assert (tmp_path / "broker-1" / "broker.log").read_text().count(" started: ") == 2


def test_postgres_killed_and_restarted(tmp_path: Path) -> None:
    """kill_postgres refuses connections; start_postgres serves again with every committed row."""
    server = PostgresServer()  # its own directory: the server user cannot enter tmp_path
    dsn = server.start()
    cluster = Cluster(tmp_path / "brokers", storage=dsn, postgres=server, size=0)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n integer)")
            conn.execute("INSERT INTO kept SELECT generate_series(1, 1000)")
        cluster.kill_postgres()
        assert _refused(server.port)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=2)
        cluster.start_postgres()
        assert server.dsn == dsn
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*), sum(n) FROM kept").fetchone() == (1000, 500500)
    finally:
        server.destroy()
