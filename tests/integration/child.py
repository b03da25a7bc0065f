"""A kafkatwist broker in a child process: the real twistd plugin, started and killed.

Used by the process-level tests (plugin loopback, graceful stop, crash
recovery). Blocking, no reactor: each test drives the child and real clients
from its own thread.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"kafkatwist listening on [^ ]*:(\d+) ")


def free_port() -> int:
    """A loopback port that was free a moment ago (for restarts on the same port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def twistd_command() -> list[str]:
    """The twistd beside this interpreter (the venv's), else ``python -m twisted``'s twistd."""
    twistd = Path(sys.executable).with_name("twistd")
    if twistd.exists():
        return [sys.executable, str(twistd)]
    return [sys.executable, "-c", "import sys; from twisted.scripts.twistd import run; run()"]


def twistd(*args: str) -> list[str]:
    """The command line of C{twistd --nodaemon kafkatwist ARGS} (no pid file)."""
    return [*twistd_command(), "--nodaemon", "--pidfile=", "kafkatwist", *args]


def child_env() -> dict[str, str]:
    """This process's environment with the checkout first on C{PYTHONPATH}."""
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_to_exit(
    command: list[str],
    cwd: Path,
    timeout: float,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[int, list[str]]:
    """Run C{command} to its end; its exit status and its stdout and stderr lines."""
    result = subprocess.run(
        command,
        cwd=str(cwd),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )
    return result.returncode, (result.stdout + result.stderr).splitlines()


def assert_one_line(status: int, lines: list[str], *needles: str) -> str:
    """Exit status 1, exactly one line holding every needle, and no traceback or usage."""
    output = "\n".join(lines)
    assert status == 1, f"exit status {status}:\n{output}"
    matching = [line for line in lines if all(needle in line for needle in needles)]
    assert len(matching) == 1, f"{len(matching)} lines name {needles}:\n{output}"
    assert "Traceback" not in output, output
    assert "Usage:" not in output, output
    assert "kafkatwist: " in matching[0], output
    return matching[0]


class ChildBroker:
    """One broker process over C{log_dir}, listening on 127.0.0.1:C{port} (0: any)."""

    def __init__(
        self,
        log_dir: str,
        port: int = 0,
        extra: list[str] | None = None,
        *,
        nofile: int | None = None,
    ) -> None:
        """
        @param nofile: The child's descriptor limit (C{RLIMIT_NOFILE}), if lowered.
        """
        self.log_dir = log_dir
        self.port = port
        self.extra = extra or []
        self.nofile = nofile
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return "".join(self.lines)

    def start(self, timeout: float = 20.0) -> int:
        """Start the child and wait until it listens; returns the port."""
        self.lines = []
        self._ready.clear()
        listen = f"--listen=tcp:{self.port}:interface=127.0.0.1"
        self.process = subprocess.Popen(
            twistd(listen, f"--log-dirs={self.log_dir}", *self.extra),
            cwd=str(REPO),
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=None if self.nofile is None else self._limit_descriptors,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.kill()
            raise AssertionError(f"the broker did not start within {timeout} s:\n{self.output()}")
        return self.port

    def _limit_descriptors(self) -> None:
        """In the child, before exec: lower its descriptor limit to L{nofile}."""
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def open_descriptors(self) -> int:
        """How many descriptors the child holds now (``/proc/PID/fd``)."""
        assert self.process is not None
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
            match = _LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                self._ready.set()

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown work at all, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.process.wait(0.1)
