"""BrokerProcess: a broker child never outlives the test process, and a failed start says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kafkatwist.storage.checkpoints import CLEAN_SHUTDOWN_FILE
from kafkatwist.testing.forkserver import Children, alive
from kafkatwist.testing.process import BrokerError, BrokerProcess

ROOT = Path(__file__).resolve().parent.parent.parent

#: A test process that starts a broker child, prints its pid, then ends abruptly.
PARENT = """
import os, signal, sys, threading
from kafkatwist.testing.process import BrokerProcess

broker = BrokerProcess(sys.argv[1], sys.argv[2])
if sys.argv[3] == "main":
    broker.start()
else:  # started from another thread: the fork server is not PR_SET_PDEATHSIG's
    starter = threading.Thread(target=broker.start)
    starter.start()
    starter.join()
print(broker.pid, broker.children.server_pid, flush=True)
if sys.argv[3] == "main":
    os.kill(os.getpid(), signal.SIGKILL)
os._exit(0)
"""


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    """Wait until process C{pid} has ended (a test failure after C{timeout} s)."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail(f"broker process {pid} outlived its parent")
        time.sleep(0.05)


def orphan(tmp_path: Path, thread: str) -> tuple[int, int]:
    """Run L{PARENT} (the broker started from C{thread}); the broker's and fork server's pids."""
    out = subprocess.run(
        [sys.executable, "-c", PARENT, str(tmp_path / "logs"), str(tmp_path / "log"), thread],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        timeout=60,
    )
    pids = out.stdout.split()
    assert len(pids) == 2 and all(pid.isdigit() for pid in pids), out.stderr.decode()
    return int(pids[0]), int(pids[1])


def test_killed_parent_takes_the_broker_along(tmp_path: Path) -> None:
    """A test process SIGKILLed: its broker child sees its stdin end and stops cleanly."""
    broker, server = orphan(tmp_path, "main")
    wait_gone(broker)
    wait_gone(server)
    assert (tmp_path / "logs" / CLEAN_SHUTDOWN_FILE).exists()


def test_closed_stdin_stops_the_broker_cleanly(tmp_path: Path) -> None:
    """A test process that started its broker from a thread and exited: the broker stops too."""
    broker, server = orphan(tmp_path, "worker")
    wait_gone(broker)
    wait_gone(server)
    assert (tmp_path / "logs" / CLEAN_SHUTDOWN_FILE).exists()


def test_failed_start_says_why(tmp_path: Path) -> None:
    """Properties the broker refuses: start() raises with the broker's reason; no child is left."""
    broker = BrokerProcess(
        str(tmp_path / "logs"), str(tmp_path / "log"), {"num.partitions": "none"}
    )
    with pytest.raises(BrokerError, match="num.partitions"):
        broker.start()
    assert not broker.running
    with pytest.raises(BrokerError, match="not running"):
        broker.faults.pending()


def test_late_answer_does_not_desynchronise_calls(tmp_path: Path) -> None:
    """A call that timed out: its late answer is skipped, and the next calls get their own."""
    broker = BrokerProcess(str(tmp_path / "logs"), str(tmp_path / "log"))
    broker.start()
    try:
        broker.timeout = 0.0  # the answer cannot come in time
        with pytest.raises(BrokerError, match="did not answer"):
            broker.faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER")
        broker.timeout = 30.0
        assert broker.faults.pending() == 1
        broker.faults.clear()
        assert broker.faults.pending() == 0
    finally:
        broker.crash()


def test_dead_fork_server_replaced_and_released() -> None:
    """A fork server that died is replaced; its socket is closed and its process reaped."""
    children = Children()
    try:
        children.take(30.0).close()
        dead = children.server_pid
        assert dead is not None
        fds = len(os.listdir("/proc/self/fd"))
        os.kill(dead, signal.SIGKILL)
        wait_gone(dead)
        children.take(30.0).close()
        assert children.server_pid not in (None, dead)
        assert len(os.listdir("/proc/self/fd")) == fds
        with pytest.raises(ChildProcessError):
            os.waitpid(dead, os.WNOHANG)  # reaped, not a zombie
    finally:
        children.close()
