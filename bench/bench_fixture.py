# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Start-up of the kafka_broker fixtures: per broker, per mode, and per test under pytest.

Run: PYTHONPATH=. .venv/bin/python bench/bench_fixture.py [--runs R] [--tests N] [--skip-pytest]

Part 1, brokers started directly (median of R, milliseconds):

* C{import}: a fresh interpreter importing the broker child's modules;
* C{process cold}: L{BrokerProcess.start} with a fork server of its own (spawn, import,
  fork, start): the session's first broker;
* C{process warm}: the same from the session's fork server (fork, start): every later one;
* C{process restart}: C{crash()} (SIGKILL) then C{restart()} on the same dir and port;
* C{process stop}: a clean C{stop()} (the fixtures' teardown kills instead: the dir is thrown away);
* C{reactor thread start/stop}: an L{InProcessBroker} on a reactor running in a thread,
  driven with C{blockingCallFromThread} (the alternative to a child process; also what an
  in-process broker costs in a pytest-twisted test).

Part 2, pytest runs (in a subprocess, N tests each doing nothing but take the fixture):
the first test's setup (the session's first broker) and the median setup and teardown
of the others, as pytest's --durations reports them, for C{kafka_broker}
(plain tests: child process; pytest-twisted tests: in-process), C{kafka_broker_module}
and C{kafka_broker_session}.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol, cast

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred

from kafkatwist.testing.forkserver import Children
from kafkatwist.testing.inprocess import InProcessBroker
from kafkatwist.testing.process import BrokerProcess
from kafkatwist.transport.service import ServiceReactor

ROOT = Path(__file__).resolve().parent.parent


class _ThreadedReactor(ServiceReactor, Protocol):
    def run(self, installSignalHandlers: bool = True) -> None: ...

    def callFromThread(self, f: Callable[[], object]) -> None: ...


reactor = cast(_ThreadedReactor, _reactor)


def in_reactor(fn: Callable[[], Deferred[None]]) -> None:
    """Run C{fn} on the reactor thread and wait for its Deferred (blockingCallFromThread)."""
    done = threading.Event()
    reactor.callFromThread(lambda: fn().addBoth(lambda _: done.set()))
    done.wait()


def ms(seconds: list[float]) -> str:
    """The median of C{seconds}, in milliseconds."""
    return f"{statistics.median(seconds) * 1000:7.0f} ms"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_imports(runs: int) -> list[float]:
    code = "import kafkatwist.testing.child"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return [
        timed(lambda: subprocess.run([sys.executable, "-c", code], env=env, check=True))
        for _ in range(runs)
    ]


def crash_and_restart(broker: BrokerProcess) -> None:
    broker.crash()
    broker.restart()


def bench_process(runs: int, tmp: Path) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"cold": [], "warm": [], "restart": [], "stop": []}
    cold = Children(reuse=False)
    for i in range(runs):
        broker = BrokerProcess(str(tmp / f"cold{i}"), str(tmp / "log"), children=cold)
        results["cold"].append(timed(broker.start))
        broker.crash()
    warm = Children()
    warm.take(30).kill()  # the session's first broker started the fork server
    for i in range(runs):
        broker = BrokerProcess(str(tmp / f"warm{i}"), str(tmp / "log"), children=warm)
        results["warm"].append(timed(broker.start))
        results["restart"].append(timed(partial(crash_and_restart, broker)))
        results["stop"].append(timed(broker.stop))
    warm.close()
    return results


def bench_reactor_thread(runs: int, tmp: Path) -> dict[str, list[float]]:
    thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False})
    thread.start()
    results: dict[str, list[float]] = {"start": [], "stop": []}
    try:
        for i in range(runs):
            broker = InProcessBroker(reactor, str(tmp / f"thread{i}"))
            results["start"].append(timed(partial(in_reactor, broker.start)))
            results["stop"].append(timed(partial(in_reactor, broker.stop)))
    finally:
        reactor.callFromThread(reactor.stop)
        thread.join()
    return results


PLAIN = """
import pytest

@pytest.mark.parametrize("n", range({n}))
def test_it(n, {fixture}):
    assert {fixture}.port
"""

TWISTED = """
import pytest, pytest_twisted

@pytest.mark.parametrize("n", range({n}))
@pytest_twisted.ensureDeferred
async def test_it(n, kafka_broker):
    assert kafka_broker.port
"""


def pytest_durations(source: str, tmp: Path, twisted: bool) -> dict[str, list[float]]:
    """Setup and teardown seconds of each test of a pytest run of C{source}, in test order."""
    path = Path(tempfile.mkdtemp(dir=tmp))
    (path / "test_bench.py").write_text(source)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "kafkatwist.testing.plugin"]
    argv += ["-p", "no:cacheprovider", "--durations=0", "-vv"]
    if not twisted:
        argv += ["-p", "no:twisted"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([*argv, str(path)], cwd=path, env=env, check=True, capture_output=True)
    found: dict[str, dict[int, float]] = {"setup": {}, "teardown": {}}
    for seconds, phase, n in DURATION.findall(out.stdout.decode()):
        if phase in found:
            found[phase][int(n)] = float(seconds)
    count = len(re.findall(r"::test_it\[\d+\] PASSED", out.stdout.decode()))
    # pytest leaves out durations under 5 ms even with -vv: those count as 0.
    return {phase: [by_test.get(n, 0.0) for n in range(count)] for phase, by_test in found.items()}


DURATION = re.compile(r"([0-9.]+)s (setup|teardown|call) +\S+::test_it\[(\d+)\]")


def bench_pytest(tests: int, tmp: Path) -> None:
    print(f"pytest, {tests} tests each (ms): first setup, then medians of the others")
    runs = [
        ("kafka_broker, plain tests (child process)", PLAIN, "kafka_broker", False),
        ("kafka_broker, pytest-twisted tests (in process)", TWISTED, "kafka_broker", True),
        ("kafka_broker_module", PLAIN, "kafka_broker_module", False),
        ("kafka_broker_session", PLAIN, "kafka_broker_session", False),
    ]
    for label, source, fixture, twisted in runs:
        found = pytest_durations(source.format(n=tests, fixture=fixture), tmp, twisted)
        setup, teardown = found["setup"], found["teardown"]
        print(
            f"  {label:48s} first setup {setup[0] * 1000:6.0f}, setup "
            f"{statistics.median(setup[1:]) * 1000:5.0f}, teardown "
            f"{statistics.median(teardown) * 1000:5.0f} (last {teardown[-1] * 1000:4.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--skip-pytest", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print(f"import (fresh interpreter)      {ms(bench_imports(args.runs))}")
        process = bench_process(args.runs, tmp)
        for key, label in [
            ("cold", "cold start"),
            ("warm", "warm start (forked)"),
            ("restart", "crash + restart"),
            ("stop", "clean stop"),
        ]:
            print(f"process {label:23s} {ms(process[key])}")
        thread = bench_reactor_thread(args.runs, tmp)
        print(f"reactor thread start            {ms(thread['start'])}")
        print(f"reactor thread stop             {ms(thread['stop'])}")
        if not args.skip_pytest:
            bench_pytest(args.tests, tmp)


if __name__ == "__main__":
    main()
