"""
The C{kafka_broker} pytest fixtures: a real kafkatwist broker per test, module or session.

Registered through the C{pytest11} entry point (so C{pip install kafkatwist}
is all a project needs); C{-p kafkatwist.testing.plugin} loads it from a
checkout. Fixtures:

* C{kafka_broker}: a broker for one test;
* C{kafka_broker_module}, C{kafka_broker_session}: one broker shared by the
  tests of a module, of the session;
* C{kafka_broker_properties}: server properties for all of them (C{{}};
  override it in a conftest.py), merged under those of the marker
  C{@pytest.mark.kafka_broker(properties={...})} for C{kafka_broker}.

Each broker listens on an ephemeral 127.0.0.1 port over a fresh temporary
log dir; C{bootstrap_servers} is its C{"127.0.0.1:PORT"}.

Where it runs: a pytest-twisted test (C{@pytest_twisted.ensureDeferred},
C{@pytest_twisted.inlineCallbacks}) gets C{kafka_broker} on its own reactor,
an L{InProcessBroker} (its objects at hand; C{restart} and C{stop} return
Deferreds). Every other test, and the module and session fixtures, get a
L{BrokerProcess}: a child process serving whatever the test does (a
pytest-twisted reactor runs only during its tests, so an in-process broker
could not serve a plain test), crashed by a real SIGKILL. The marker's
C{in_process=True/False} overrides the choice. The children are forked
from one server process that did the imports once
(L{kafkatwist.testing.forkserver}), so a broker starts in milliseconds.

With C{KAFKATWIST_TEST_STORAGE=postgresql} in the environment the brokers
run on the PostgreSQL engine: the session starts one PostgreSQL server
(L{kafkatwist.testing.postgres.PostgresServer}, from the server binaries of
Debian's C{postgresql} package) and each broker gets a database of its own
(C{kafkatwist.storage}), unless its properties name one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, cast

import pytest

from kafkatwist.testing.forkserver import Children

try:
    import pytest_twisted  # type: ignore[import-untyped]
except ImportError:  # pytest-twisted is optional: every broker is then a child process
    pytest_twisted = None

if TYPE_CHECKING:
    from kafkatwist.testing.inprocess import InProcessBroker
    from kafkatwist.testing.postgres import PostgresServer
    from kafkatwist.testing.process import BrokerProcess
    from kafkatwist.transport.service import ServiceReactor

#: What the C{kafka_broker} fixtures yield.
KafkaBroker: TypeAlias = "BrokerProcess | InProcessBroker"

#: The marks pytest-twisted puts on the tests it runs on its reactor.
_TWISTED_TESTS = ("async_test", "inline_callbacks_test")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the C{kafka_broker} marker."""
    config.addinivalue_line(
        "markers",
        "kafka_broker(properties=None, in_process=None): server properties for the "
        "kafka_broker fixture, and whether it runs on the test's reactor",
    )


# Every pytest run where kafkatwist is installed imports this module (the
# pytest11 entry point), most of them never asking for a broker: the broker (a
# second of imports) and the reactor are imported only when a fixture is used.


def _reactor() -> ServiceReactor:
    """The reactor pytest-twisted installed (imported late: importing it installs one)."""
    from twisted.internet import reactor

    return cast("ServiceReactor", reactor)


def _is_twisted_test(request: pytest.FixtureRequest) -> bool:
    """Whether the test runs on pytest-twisted's reactor."""
    if pytest_twisted is None or request.scope != "function":
        return False
    return pytest_twisted._get_mark(request.function) in _TWISTED_TESTS


@pytest.fixture(scope="session")
def kafka_broker_properties() -> Mapping[str, str]:
    """Server properties of every C{kafka_broker} fixture (none; override it to set some)."""
    return {}


#: The engine of the fixtures' brokers: C{file} (the default) or C{postgresql}.
STORAGE_ENV = "KAFKATWIST_TEST_STORAGE"


class _Storage:
    """Where the session's brokers keep their data: their log dirs, or PostgreSQL databases."""

    def __init__(self, server: PostgresServer | None) -> None:
        self.server = server

    def properties(self, properties: Mapping[str, str]) -> dict[str, str]:
        """C{properties}, with a new database as C{kafkatwist.storage} on PostgreSQL."""
        out = dict(properties)
        if self.server is not None and "kafkatwist.storage" not in out:
            out["kafkatwist.storage"] = self.server.create_database(f"kt_{uuid.uuid4().hex[:16]}")
        return out


@pytest.fixture(scope="session")
def _kafka_broker_storage() -> Iterator[_Storage]:
    """The session's PostgreSQL server with C{KAFKATWIST_TEST_STORAGE=postgresql}, else none."""
    storage = os.environ.get(STORAGE_ENV) or "file"
    if storage == "file":
        yield _Storage(None)
        return
    if storage != "postgresql":
        raise pytest.UsageError(f"{STORAGE_ENV} must be file or postgresql, not {storage!r}")
    from kafkatwist.testing.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield _Storage(server)
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def _kafka_broker_children() -> Iterator[Children]:
    """Where the broker processes of the session come from (one fork server)."""
    children = Children()
    yield children
    children.close()


def _process_broker(
    log_dir: Path, properties: Mapping[str, str], children: Children
) -> Iterator[BrokerProcess]:
    from kafkatwist.testing.process import BrokerProcess

    broker = BrokerProcess(
        str(log_dir / "logs"), str(log_dir / "broker.log"), properties, children=children
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.crash()  # its log dir is thrown away: a clean stop would only cost time


@pytest.fixture
def kafka_broker(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kafka_broker_properties: Mapping[str, str],
    _kafka_broker_children: Children,
    _kafka_broker_storage: _Storage,
) -> Iterator[KafkaBroker]:
    """A kafkatwist broker for this test (on its reactor in a pytest-twisted test)."""
    marker = request.node.get_closest_marker("kafka_broker")
    options = dict(marker.kwargs) if marker is not None else {}
    properties = {**kafka_broker_properties, **dict(options.pop("properties", None) or {})}
    properties = _kafka_broker_storage.properties(properties)
    in_process = options.pop("in_process", None)
    if options:
        raise pytest.UsageError(f"unknown kafka_broker marker options: {sorted(options)}")
    if in_process is None:
        in_process = _is_twisted_test(request)
    if not in_process:
        yield from _process_broker(tmp_path, properties, _kafka_broker_children)
        return
    from kafkatwist.testing.inprocess import InProcessBroker
    from kafkatwist.testing.process import BrokerError

    if pytest_twisted is None:
        raise BrokerError("an in-process broker needs pytest-twisted")
    broker = InProcessBroker(_reactor(), str(tmp_path / "logs"), properties)
    pytest_twisted.blockon(broker.start())
    try:
        yield broker
    finally:
        pytest_twisted.blockon(broker.stop())


@pytest.fixture(scope="module")
def kafka_broker_module(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_broker_properties: Mapping[str, str],
    _kafka_broker_children: Children,
    _kafka_broker_storage: _Storage,
) -> Iterator[BrokerProcess]:
    """A kafkatwist broker (a child process) shared by the tests of a module."""
    log_dir = tmp_path_factory.mktemp("kafka-broker-module")
    properties = _kafka_broker_storage.properties(kafka_broker_properties)
    yield from _process_broker(log_dir, properties, _kafka_broker_children)


@pytest.fixture(scope="session")
def kafka_broker_session(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_broker_properties: Mapping[str, str],
    _kafka_broker_children: Children,
    _kafka_broker_storage: _Storage,
) -> Iterator[BrokerProcess]:
    """A kafkatwist broker (a child process) shared by every test of the session."""
    log_dir = tmp_path_factory.mktemp("kafka-broker-session")
    properties = _kafka_broker_storage.properties(kafka_broker_properties)
    yield from _process_broker(log_dir, properties, _kafka_broker_children)


__all__ = [
    "KafkaBroker",
    "kafka_broker",
    "kafka_broker_module",
    "kafka_broker_properties",
    "kafka_broker_session",
]
