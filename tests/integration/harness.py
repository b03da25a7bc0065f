"""The real-client harness: a loopback broker, clients in threads, clients as processes.

Everything here runs on the reactor that pytest-twisted installs (the default
reactor) and is used from ``async def`` tests decorated with
C{pytest_twisted.ensureDeferred}:

* L{start_broker} / L{stop_broker}: a L{BrokerService} on
  ``tcp:0:interface=127.0.0.1`` over a temporary ``log.dirs``;
  L{running_broker} is both as C{async with} (the C{broker} fixture of
  conftest.py uses it);
* L{in_thread}: run blocking client code (confluent-kafka, kafka-python, an
  asyncio loop, L{http_get}) in its own daemon thread, with a timeout. Not the
  reactor's thread pool: the broker sends its own blocking work (metadata
  fsyncs) there, and clients blocked on the broker must never starve it;
* L{run_process}: run a client program (kcat, node) with a timeout, killing it
  when the time is up, and collect its output.
* L{run_kafkajs} and L{run_java}: the kafkajs scripts of node/ and the Java
  programs of java/ (kafka-clients 4.3), each through L{run_process}.

This module imports no reactor at import time, so trial (which imports every
``test_*`` module under tests/ and ignores plain pytest functions) can import
the suites without installing one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import pytest
from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from kafkatwist.broker import Broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.transport.service import BrokerService
from tests import postgres_support
from tests.integration import java_client

T = TypeVar("T")

#: Default time limit for one blocking client call or one client process.
CLIENT_TIMEOUT = 30.0


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@frozen
class RunningBroker:
    """A broker serving on loopback: what the C{broker} fixture yields."""

    service: BrokerService
    port: int
    log_dir: str
    #: Every listener's bound port, by listener name (the first one's is C{port}).
    ports: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def broker(self) -> Broker:
        return self.service.broker

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        """C{host:port}, for bootstrap.servers."""
        return f"{self.host}:{self.port}"

    def bootstrap_of(self, listener: str) -> str:
        """C{host:port} of the listener named C{listener}, for bootstrap.servers."""
        return f"{self.host}:{self.ports[listener]}"


async def start_broker(log_dir: str, properties: Mapping[str, str] | None = None) -> RunningBroker:
    """
    Start a broker on a free loopback port with C{log_dir} as its log.dirs.

    @param properties: server.properties entries that override the defaults
        (e.g. C{{"auto.create.topics.enable": "false"}}). When they set
        C{listeners} (e.g. C{PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0} with
        C{listener.security.protocol.map}), every listener is bound as
        configured, and L{RunningBroker.ports} gives each one's port.
    """
    props = {"log.dirs": log_dir, "listeners": "PLAINTEXT://127.0.0.1:0", "node.id": "1"}
    props.update(properties or {})
    if test_storage() == "postgresql" and "kafkatwist.storage" not in props:
        props["kafkatwist.storage"] = database_for(log_dir)
    config = BrokerConfig.from_properties(props)
    endpoint = None if "listeners" in (properties or {}) else "tcp:0:interface=127.0.0.1"
    service = BrokerService(config, endpoint, _reactor())
    service.startService()
    port = await service.ready
    ports = {b.name: b.port.getHost().port for b in service.listeners}
    return RunningBroker(service=service, port=port.getHost().port, log_dir=log_dir, ports=ports)


#: The engine the single-broker suites run on: C{KAFKATWIST_TEST_STORAGE=postgresql}
#: runs them on the PostgreSQL engine (./test.sh does, in a second pass).
STORAGE_ENV = "KAFKATWIST_TEST_STORAGE"


def test_storage() -> str:
    """C{file} (the default) or C{postgresql}: the engine the harness's brokers use."""
    return os.environ.get(STORAGE_ENV, "file") or "file"


def database_for(log_dir: str) -> str:
    """
    The DSN of the test PostgreSQL database of the broker whose log dir is C{log_dir}.

    One database per log dir, made on first use: a broker restarted on the
    same log dir (a crash test) finds its data again.
    """
    name = "kt_" + hashlib.sha1(os.path.abspath(log_dir).encode()).hexdigest()[:20]
    return postgres_support.server().create_database(name)


async def stop_broker(running: RunningBroker) -> None:
    """Stop the service: the listener, every connection, then the logs."""
    await running.service.stopService()


@asynccontextmanager
async def running_broker(
    log_dir: str, properties: Mapping[str, str] | None = None
) -> AsyncIterator[RunningBroker]:
    """L{start_broker}, and L{stop_broker} when the block ends (however it ends)."""
    running = await start_broker(log_dir, properties)
    try:
        yield running
    finally:
        await stop_broker(running)


class ClientTimeout(AssertionError):
    """A client call or process did not finish in time."""


async def wait_until(
    condition: Callable[[], bool], timeout: float = CLIENT_TIMEOUT, step: float = 0.05
) -> None:
    """
    Let the reactor run until C{condition()} holds (checked every C{step} seconds).

    @raise ClientTimeout: it still does not hold after C{timeout} seconds.
    """
    reactor = _reactor()
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise ClientTimeout(f"condition not met within {timeout:g} s")
        pause: Deferred[None] = Deferred()
        reactor.callLater(step, pause.callback, None)
        await pause


def in_thread(
    fn: Callable[..., T], *args: Any, timeout: float = CLIENT_TIMEOUT, **kwargs: Any
) -> Deferred[T]:
    """
    Run blocking C{fn(*args, **kwargs)} in a new daemon thread.

    @return: a Deferred with its result or exception; it fails with
        L{ClientTimeout} after C{timeout} seconds (the thread is abandoned:
        being a daemon, it cannot keep the test process alive).
    """
    reactor = _reactor()
    d: Deferred[T] = Deferred()
    name = getattr(fn, "__name__", "client")

    def deliver(outcome: Any) -> None:
        if not d.called:
            if isinstance(outcome, Failure):
                d.errback(outcome)
            else:
                d.callback(outcome)

    def work() -> None:
        try:
            outcome: Any = fn(*args, **kwargs)
        except BaseException:
            outcome = Failure()
        reactor.callFromThread(deliver, outcome)

    def expire() -> None:
        if not d.called:
            d.errback(ClientTimeout(f"{name} did not finish within {timeout:g} s"))

    timer = reactor.callLater(timeout, expire)

    def cancel_timer(result: Any) -> Any:
        if timer.active():
            timer.cancel()
        return result

    d.addBoth(cancel_timer)
    threading.Thread(target=work, name=f"client-{name}", daemon=True).start()
    return d


def http_get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    """GET C{url} (blocking): (status, body), an HTTP error status included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@frozen
class ProcessResult:
    """What a finished client process left behind."""

    argv: tuple[str, ...]
    returncode: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes

    def check(self) -> ProcessResult:
        """Self, or an AssertionError quoting the output when the exit status was not 0."""
        if self.returncode != 0:
            raise AssertionError(
                f"{' '.join(self.argv)} exited with {self.returncode} (signal {self.signal})\n"
                f"--- stdout\n{self.stdout.decode(errors='replace')[-4000:]}\n"
                f"--- stderr\n{self.stderr.decode(errors='replace')[-4000:]}"
            )
        return self


class _Collect(ProcessProtocol):
    def __init__(
        self, argv: Sequence[str], stdin: bytes | None, done: Deferred[ProcessResult]
    ) -> None:
        self.argv = tuple(argv)
        self.stdin = stdin
        self.done = done
        self.out: list[bytes] = []
        self.err: list[bytes] = []

    def connectionMade(self) -> None:
        transport: Any = self.transport
        if self.stdin:
            transport.write(self.stdin)
        transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def result(self, code: int | None, sig: int | None) -> ProcessResult:
        return ProcessResult(self.argv, code, sig, b"".join(self.out), b"".join(self.err))

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        if not self.done.called:
            self.done.callback(
                self.result(getattr(value, "exitCode", None), getattr(value, "signal", None))
            )


def run_process(
    argv: Sequence[str],
    *,
    timeout: float = CLIENT_TIMEOUT,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Deferred[ProcessResult]:
    """
    Run a program (C{argv[0]} is looked up on PATH), feeding it C{stdin}.

    @return: a Deferred with the L{ProcessResult} whatever the exit status; it
        fails with L{ClientTimeout} (quoting the output so far) after
        C{timeout} seconds, once the process has been killed.
    """
    reactor = _reactor()
    executable = shutil.which(argv[0]) or argv[0]
    done: Deferred[ProcessResult] = Deferred()
    proto = _Collect(argv, stdin, done)
    environment = dict(os.environ if env is None else env)
    transport = reactor.spawnProcess(proto, executable, list(argv), env=environment, path=cwd)

    def expire() -> None:
        if done.called:
            return
        partial = proto.result(None, None)
        try:
            transport.signalProcess(signal.SIGKILL)
        except Exception:  # already gone
            pass
        done.errback(
            ClientTimeout(
                f"{' '.join(argv)} did not finish within {timeout:g} s\n"
                f"--- stdout\n{partial.stdout.decode(errors='replace')[-4000:]}\n"
                f"--- stderr\n{partial.stderr.decode(errors='replace')[-4000:]}"
            )
        )

    timer = reactor.callLater(timeout, expire)

    def cancel_timer(result: Any) -> Any:
        if timer.active():
            timer.cancel()
        return result

    return done.addBoth(cancel_timer)


def require_executable(name: str, how: str) -> str:
    """The path of C{name}, or a test failure saying how to install it (never a skip)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; {how}", pytrace=False)
    return path


#: The kafkajs programs of the integration tests (tests/integration/node/<script>.js).
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


async def run_kafkajs(script: str, args: Sequence[str], *, timeout: float = 40) -> Any:
    """Run C{node/<script>} with C{args} (it must exit 0); the JSON of its last output line."""
    node = require_executable("node", "install Node.js (Debian package nodejs)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kafkajs")):
        raise AssertionError(f"kafkajs is not installed: run `npm ci` in {NODE_DIR} (test.sh does)")
    result = await run_process(
        [node, os.path.join(NODE_DIR, script), *args],
        env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"),
        cwd=NODE_DIR,
        timeout=timeout,
    )
    return json.loads(result.check().stdout.decode().strip().splitlines()[-1])


#: The Java programs of the integration tests (tests/integration/java/<Program>.java).
JAVA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java")


async def run_java(
    program: str, args: Sequence[str], classes: str, *, timeout: float = 120
) -> list[str]:
    """
    Compile C{java/<program>.java} into C{classes} (once per directory), run it; its output lines.

    The jars are kafka-clients 4.3's (L{tests.integration.java_client});
    javac runs with every lint as an error. The run must exit 0.
    """
    javac = require_executable(
        "javac", "run ./test.sh as root (it installs openjdk-17-jdk-headless with apt-get)"
    )
    java = require_executable("java", "install openjdk-17-jdk-headless")
    jars = await in_thread(java_client.install, java_client.libs_dir(), timeout=300)
    if not os.path.exists(os.path.join(classes, program + ".class")):
        source = os.path.join(JAVA_DIR, program + ".java")
        argv = [javac, "-Xlint:all", "-Werror", "-cp", os.pathsep.join(jars), "-d", classes, source]
        (await run_process(argv, timeout=120)).check()
    argv = [java, "-cp", os.pathsep.join([classes, *jars]), program, *args]
    result = await run_process(argv, timeout=timeout)
    return result.check().stdout.decode().splitlines()
