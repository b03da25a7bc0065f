"""Several kafkatwist broker processes over one PostgreSQL: the cluster tests' harness.

Each L{NodeProcess} is a real broker process, C{python -m kafkatwist
server.properties}, as a user runs it, with a properties file of its own
(C{node.id}, C{listeners} and C{advertised.listeners} on a loopback port,
C{log.dirs}, C{broker.rack}, C{kafkatwist.storage=postgresql://...}, short
C{broker.session.timeout.ms} / C{broker.heartbeat.interval.ms}). It is
ready when it logs its start-up line (L{kafkatwist.transport.banner}:
C{kafkatwist X started: ... listeners PLAINTEXT://127.0.0.1:PORT ...}),
which it writes only once every listener is bound and the broker serves.

The port is chosen once (free on loopback) and kept across restarts, so a
restarted broker is where its clients and the other brokers knew it, and it
is advertised as such: the other brokers learn it from the broker's
registration, clients from Metadata.

A L{Cluster} is N of them over one database of a
L{kafkatwist.testing.postgres.PostgresServer} (or, with no storage, N
independent file-engine brokers: how the harness checks itself); it SIGKILLs
and restarts a broker, and kills and restarts PostgreSQL.

Plain blocking code, no reactor: tests drive the processes and real clients
from their own thread, as the process-level tests of tests/integration do.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from attrs import define, field

from kafkatwist.config.java_properties import format_properties
from kafkatwist.testing.postgres import PostgresServer, free_port
from tests.integration.child import child_env

#: The start-up line (L{kafkatwist.transport.banner.started_line}): the first listener's port.
STARTED = re.compile(r"kafkatwist \S+ started: .* listeners [A-Z_]+://[^,\s]*:(\d+)")

#: What the cluster tests give every broker: failures noticed within a few seconds.
FAST_FAILOVER = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    # Fewer coordinator partitions than Kafka's 50: each election loads fewer.
    "offsets.topic.num.partitions": "12",
    "transaction.state.log.num.partitions": "6",
    "group.initial.rebalance.delay.ms": "0",
}


class NodeError(AssertionError):
    """A broker process did not start, or ended when it should not have."""


@define(eq=False)
class NodeProcess:
    """
    One broker process with its own directory: C{server.properties}, C{logs/}, C{broker.log}.

    @ivar storage: C{kafkatwist.storage} (a C{postgresql://} DSN), None for the file engine.
    @ivar properties: Further server.properties entries, over the harness's own.
    """

    node_id: int
    directory: Path
    storage: str | None = None
    rack: str | None = None
    properties: Mapping[str, str] = field(factory=dict)
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_start: int = field(default=0, init=False)

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_file(self) -> Path:
        """The broker's stdout and stderr, every run appended."""
        return self.directory / "broker.log"

    @property
    def bootstrap(self) -> str:
        """C{127.0.0.1:PORT}, for a client's bootstrap servers."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def server_properties(self) -> dict[str, str]:
        """What C{server.properties} says: the harness's entries, then L{properties} over them."""
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        props = {
            "node.id": str(self.node_id),
            "listeners": listener,
            "advertised.listeners": listener,
            "log.dirs": str(self.directory / "logs"),
        }
        if self.rack is not None:
            props["broker.rack"] = self.rack
        if self.storage is not None:
            props["kafkatwist.storage"] = self.storage
        props.update(self.properties)
        return props

    def write_properties(self) -> Path:
        """Write L{server_properties} to L{properties_file}; its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        text = format_properties(self.server_properties().items())
        self.properties_file.write_text(f"# kafkatwist broker {self.node_id}\n{text}")
        return self.properties_file

    def command(self) -> list[str]:
        """C{python -m kafkatwist server.properties} with this interpreter."""
        return [sys.executable, "-m", "kafkatwist", str(self.properties_file)]

    def start(self, timeout: float = 60.0) -> None:
        """
        Start the broker and wait until it serves (its start-up line).

        The first start picks a free loopback port (again if another process took it first);
        restarts keep it.

        @raise NodeError: the process ended, or said nothing within C{timeout} seconds.
        """
        if self.running:
            raise NodeError(f"broker {self.node_id} is already running")
        first = self.port == 0
        for attempt in range(3 if first else 1):
            if first:
                self.port = free_port()
            try:
                self._start(timeout)
                return
            except NodeError as e:
                if not (first and "Address already in use" in str(e)) or attempt == 2:
                    raise

    def _start(self, timeout: float) -> None:
        self.write_properties()
        self._log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                cwd=str(self.directory),
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            match = STARTED.search(self.output())
            if match is not None:
                if int(match.group(1)) != self.port:
                    raise NodeError(f"broker {self.node_id} bound {match.group(1)}:\n{self.tail()}")
                return
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise NodeError(f"broker {self.node_id} exited with {code}:\n{self.tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise NodeError(f"broker {self.node_id} not ready in {timeout:g} s:\n{self.tail()}")
            time.sleep(0.05)

    def output(self) -> str:
        """What the current (or last) run logged."""
        try:
            with open(self.log_file, "rb") as f:
                f.seek(self._log_start)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, size: int = 6000) -> str:
        """The last C{size} characters of L{output}, for an assertion message."""
        return self.output()[-size:]

    def kill(self) -> None:
        """SIGKILL: no shutdown work at all (no lease given up, no connection closed cleanly)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
        if process is not None:
            process.wait(30)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a clean stop) and wait; SIGKILL after C{timeout}. The exit status, if any."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
            return None

    def restart(self, timeout: float = 60.0) -> None:
        """SIGKILL the broker if it runs, then start it again on the same port and directory."""
        self.kill()
        self.start(timeout)


@define(eq=False)
class Cluster:
    """
    C{size} brokers (node ids 1..size, racks C{rack-1}..) in C{directory}.

    @ivar storage: The C{kafkatwist.storage} DSN every broker shares; None: each broker
        is a file-engine broker of its own (not a cluster; the harness's self-checks).
    @ivar postgres: The server behind C{storage}, for L{kill_postgres} / L{start_postgres}.
    """

    directory: Path
    storage: str | None = None
    postgres: PostgresServer | None = None
    size: int = 3
    properties: Mapping[str, str] = field(factory=lambda: dict(FAST_FAILOVER))
    nodes: list[NodeProcess] = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.nodes = [
            NodeProcess(
                node_id=n,
                directory=self.directory / f"broker-{n}",
                storage=self.storage,
                rack=f"rack-{n}",
                properties=self.properties,
            )
            for n in range(1, self.size + 1)
        ]

    def start(self, timeout: float = 60.0) -> Cluster:
        """Start every broker, one after the other (the first one migrates the schema)."""
        for node in self.nodes:
            node.start(timeout)
        return self

    def node(self, node_id: int) -> NodeProcess:
        return self.nodes[node_id - 1]

    @property
    def bootstrap(self) -> str:
        """Every broker's C{127.0.0.1:PORT}, comma separated."""
        return ",".join(node.bootstrap for node in self.nodes)

    def bootstrap_without(self, node_id: int) -> str:
        """Every broker but C{node_id}, for a client that must not start at a dead broker."""
        return ",".join(node.bootstrap for node in self.nodes if node.node_id != node_id)

    def kill(self, node_id: int) -> None:
        """SIGKILL broker C{node_id}."""
        self.node(node_id).kill()

    def restart(self, node_id: int, timeout: float = 60.0) -> None:
        """Start broker C{node_id} again (SIGKILLed first if it still runs)."""
        self.node(node_id).restart(timeout)

    def kill_postgres(self) -> None:
        """SIGKILL PostgreSQL (postmaster and backends): the brokers lose their database."""
        assert self.postgres is not None, "a cluster without its own PostgresServer"
        self.postgres.kill()

    def start_postgres(self) -> None:
        """Start PostgreSQL again on the same port and directory (crash recovery from its WAL)."""
        assert self.postgres is not None, "a cluster without its own PostgresServer"
        self.postgres.start()

    def stop(self) -> None:
        """Stop every broker (SIGTERM, then SIGKILL if one lingers)."""
        for node in self.nodes:
            node.terminate()

    def outputs(self) -> str:
        """Every broker's log tail, for an assertion message."""
        return "\n".join(f"--- broker {n.node_id}\n{n.tail(3000)}" for n in self.nodes)


__all__ = ["FAST_FAILOVER", "STARTED", "Cluster", "NodeError", "NodeProcess"]
