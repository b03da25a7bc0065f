"""
The broker children of the C{kafka_broker} fixture, and the fork server they come from.

C{python -m kafkatwist.testing.child PID [pdeathsig]} is the fork server of
L{kafkatwist.testing.forkserver}: it imports everything a broker needs,
installs no reactor, and forks a child for each request on its stdin (a Unix
socket carrying the child's stdin and stdout pipes), answering its pid. With
C{pdeathsig}, Linux kills it when the thread of process PID that started it
ends; it exits when its socket closes.

A child reads its SPEC from the first line of its stdin, a JSON object:
C{log_dir}, C{port} (0: any free port), C{properties}, C{clock} (a
L{JumpClock}: C{advance} works) and C{log_file} (the broker's log, made its
stderr). Only then does it install a reactor (a forked epoll must not be
shared) and start the broker on 127.0.0.1, writing one JSON line to stdout:
C{{"ready": port, "metrics_port": port or null}} or C{{"error": reason}}.
Then each line on stdin is a control call,
C{{"id": n, "call": name, "args": [...], "kwargs": {...}}}
(L{ControlledBroker.call}; C{"stop"} stops the broker cleanly and exits),
answered by one line, C{{"id": n, "result": value}} or C{{"id": n, "error":
message}}.

The end of its stdin (the test process closed it, or died) stops the broker
cleanly, so a child never outlives pytest.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
from typing import Protocol, cast

# Imported, not installed: the reactor is installed in each forked child.
import twisted.internet.default  # noqa: F401
from twisted.internet.defer import Deferred
from twisted.internet.stdio import StandardIO
from twisted.logger import ILogObserver, globalLogBeginner, textFileLogObserver
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from kafkatwist.testing.control import JSON, ControlledBroker, encode, start_test_broker
from kafkatwist.transport.service import ServiceReactor

#: Linux's prctl(2) option: the signal this process gets when its parent thread ends.
PR_SET_PDEATHSIG = 1


class _ChildReactor(ServiceReactor, Protocol):
    def run(self) -> None:
        """Run until stopped."""

    def stop(self) -> None:
        """Stop the reactor."""


class _Writes(Protocol):
    def write(self, data: bytes) -> None:
        """Send C{data}."""


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when the thread that started it ends (Linux), or now if it has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the stdin watchdog alone
        return
    if os.getppid() != parent:  # the parent died before prctl
        os.kill(os.getpid(), signal.SIGKILL)


class Control(LineOnlyReceiver):
    """The control channel on stdin/stdout."""

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, broker: ControlledBroker, reactor: _ChildReactor) -> None:
        self.broker = broker
        self.reactor = reactor
        self.stopping = False

    def lineReceived(self, line: bytes) -> None:
        message = json.loads(line)
        ident: JSON = message.get("id")
        name = str(message.get("call"))
        if name == "stop":
            self.stop()
            return
        d = self.broker.call(name, list(message.get("args", [])), dict(message.get("kwargs", {})))

        def answer(result: JSON) -> None:
            self.sendRaw({"id": ident, "result": result})

        def fail(failure: Failure) -> None:
            error = failure.value
            self.sendRaw({"id": ident, "error": f"{type(error).__name__}: {error}"})

        d.addCallbacks(answer, fail)

    def sendRaw(self, message: dict[str, JSON]) -> None:
        if self.transport is not None:
            cast(_Writes, self.transport).write(encode(message))

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the broker cleanly, then the reactor."""
        if self.stopping:
            return
        self.stopping = True
        d: Deferred[None] = self.broker.service.stopService()
        d.addErrback(lambda f: print(f.getTraceback(), file=sys.stderr))
        d.addBoth(lambda _: self.reactor.stop())


async def serve(spec: dict[str, JSON], reactor: _ChildReactor) -> None:
    """Start the broker of C{spec}, report its port and serve control calls."""
    properties = spec.get("properties") or {}
    assert isinstance(properties, dict)
    port = spec.get("port", 0)
    assert isinstance(port, int)
    try:
        broker = await start_test_broker(
            reactor,
            str(spec["log_dir"]),
            port=port,
            properties={str(k): str(v) for k, v in properties.items()},
            clock=bool(spec.get("clock", True)),
        )
    except Exception as e:
        # The broker's log (stderr) has the details; a failed start leaves nothing to clean.
        os.write(1, encode({"error": f"{type(e).__name__}: {e}"}))
        sys.stderr.flush()
        os._exit(1)
    os.write(1, encode({"ready": broker.port, "metrics_port": broker.metrics_port}))
    StandardIO(Control(broker, reactor))  # type: ignore[no-untyped-call]


def read_spec() -> dict[str, JSON]:
    """The spec on stdin's first line (read byte by byte: the rest is the control channel's)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:  # the test process ended before giving one
            os._exit(0)
        line += byte
    spec = json.loads(line)
    assert isinstance(spec, dict)
    return spec


def run_child() -> None:
    """Run the broker of the spec on stdin (fds 0 and 1 are the control pipes) until stopped."""
    # Installed here, after the fork: each child needs an epoll and a waker of its own.
    from twisted.internet import reactor as installed

    reactor = cast(_ChildReactor, installed)
    spec = read_spec()
    log = os.open(str(spec["log_file"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 2)
    os.close(log)
    observer = cast(ILogObserver, textFileLogObserver(sys.stderr))
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    reactor.callWhenRunning(lambda: Deferred.fromCoroutine(serve(spec, reactor)))
    reactor.run()
    sys.stderr.flush()


def serve_forks(requests: socket.socket) -> None:
    """Fork a broker child for each request on C{requests} (its two pipes), answering its pid."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(requests, 64, 2)
        except OSError:
            return
        if not message or len(fds) != 2:
            return
        pid = os.fork()
        if pid == 0:
            requests.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.dup2(fds[0], 0)
            os.dup2(fds[1], 1)
            for fd in fds:
                os.close(fd)
            try:
                run_child()
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        requests.sendall(b"%d\n" % pid)


def main(argv: list[str]) -> None:
    """The fork server: serve the socket on stdin until it closes."""
    if argv[2:] == ["pdeathsig"]:
        die_with_parent(int(argv[1]))
    serve_forks(socket.socket(fileno=0))


if __name__ == "__main__":
    main(sys.argv)
