"""
Where broker children come from: a fork server that has done the imports once.

A broker child spends most of its start-up importing Twisted and
kafkatwist. L{ForkServer} starts one process (C{python -m
kafkatwist.testing.child}) that imports them, installs no reactor, and then
forks a broker child per request: the test process sends it, over a Unix
socket, the two pipe ends that become the child's stdin and stdout
(C{SCM_RIGHTS}); the server answers with the child's pid. A fork takes
milliseconds, so every broker after the first starts warm.

The server ends when its socket closes (the test process closed it or
died), and Linux kills it when the thread that started it ends
(C{PR_SET_PDEATHSIG}, asked for when that thread is the main one). A broker
child stops when its stdin closes, whatever became of the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO

from attrs import define, field

import kafkatwist

#: The directory kafkatwist is imported from: the server imports the same one.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(kafkatwist.__file__)))


class ChildError(RuntimeError):
    """The fork server could not give a child, or a child did not end in time."""


def alive(pid: int) -> bool:
    """Whether process C{pid} exists and has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return running(f)
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return False
    try:  # no /proc: ask the kernel
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(stat: IO[str]) -> bool:
    """Whether the process of an open C{/proc/PID/stat} runs (not a zombie, not reaped since)."""
    try:
        text = stat.read()
    except ProcessLookupError:  # reaped (by the fork server) after the open: ESRCH
        return False
    return text.rpartition(")")[2].split()[0] != "Z"


@define(eq=False)
class Child:
    """A forked broker child: its pid, and its stdin and stdout (the control channel)."""

    pid: int
    stdin: IO[bytes]
    stdout: IO[bytes]

    def alive(self) -> bool:
        """Whether the child runs."""
        return alive(self.pid)

    def kill(self) -> None:
        """SIGKILL the child and wait until it has gone."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait(10.0)

    def wait(self, timeout: float) -> None:
        """Wait until the child has ended; L{ChildError} after C{timeout} seconds."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise ChildError(f"broker process {self.pid} did not end in {timeout:g} s")
            time.sleep(0.005)

    def close(self) -> None:
        """Close the pipes (the child, if it still runs, stops when its stdin ends)."""
        for pipe in (self.stdin, self.stdout):
            try:
                pipe.close()
            except OSError:
                pass


@define(eq=False)
class ForkServer:
    """The fork server process and the test process's end of its socket."""

    _proc: subprocess.Popen[bytes]
    _socket: socket.socket
    _lock: threading.Lock = field(factory=threading.Lock)

    @property
    def pid(self) -> int:
        """The server process's pid."""
        return self._proc.pid

    @classmethod
    def start(cls) -> ForkServer:
        """Start a fork server (it imports kafkatwist while the caller goes on)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        args = [str(os.getpid())]
        if threading.current_thread() is threading.main_thread():
            args.append("pdeathsig")
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_PACKAGE_ROOT, path])))
        with theirs:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kafkatwist.testing.child", *args],
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        return cls(proc, ours)

    def fork(self, timeout: float) -> Child:
        """A new broker child, waiting for its spec on its stdin."""
        child_in, stdin = os.pipe()
        stdout, child_out = os.pipe()
        try:
            with self._lock:
                self._socket.settimeout(timeout)
                socket.send_fds(self._socket, [b"fork\n"], [child_in, child_out])
                answer = b""
                while not answer.endswith(b"\n"):
                    chunk = self._socket.recv(64)
                    if not chunk:
                        raise ChildError(f"the fork server ended ({self._proc.poll()})")
                    answer += chunk
        except OSError as e:
            for fd in (stdin, stdout):
                os.close(fd)
            raise ChildError(f"the fork server did not answer: {e}") from None
        finally:
            os.close(child_in)
            os.close(child_out)
        return Child(int(answer), os.fdopen(stdin, "wb"), os.fdopen(stdout, "rb"))

    def close(self) -> None:
        """End the server (its socket closes); the children it forked stay theirs."""
        self._socket.close()
        self._proc.wait()


@define(eq=False)
class Children:
    """
    Broker children for a session: one fork server, started on first use and reused.

    With C{reuse} False, each child gets a fork server of its own (a cold start,
    for measuring what the server saves).
    """

    reuse: bool = True
    _server: ForkServer | None = None
    _lock: threading.Lock = field(factory=threading.Lock)

    @property
    def server_pid(self) -> int | None:
        """The fork server's pid, once started."""
        return None if self._server is None else self._server.pid

    def take(self, timeout: float) -> Child:
        """A new broker child, waiting for its spec."""
        if not self.reuse:
            server = ForkServer.start()
            try:
                return server.fork(timeout)
            finally:
                server.close()
        with self._lock:
            if self._server is not None and not alive(self._server.pid):
                self._server = None  # it died (killed?): a new one
            if self._server is None:
                self._server = ForkServer.start()
            server = self._server
        return server.fork(timeout)

    def close(self) -> None:
        """End the fork server."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()


__all__ = ["Child", "ChildError", "Children", "ForkServer", "alive", "running"]
