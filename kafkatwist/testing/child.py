"""
The broker child of the C{kafka_broker} fixture: C{python -m kafkatwist.testing.child}.

The first line on stdin is its SPEC (so a child can be started ahead of
need and wait, its imports done, for the broker it is to be), a JSON
object: C{log_dir}, C{port} (0: any free port), C{properties}, C{clock}
(a L{JumpClock}: C{advance} works) and C{log_file} (the broker's log, made
its stderr). Its arguments are the test process's pid and, if C{pdeathsig},
to ask Linux to SIGKILL it when the thread that started it ends.

The child starts the broker on 127.0.0.1 and writes one JSON line to
stdout: C{{"ready": port}} or C{{"error": reason}}. Then each line on stdin
is a control call, C{{"id": n, "call": name, "args": [...], "kwargs": {...}}}
(L{ControlledBroker.call}; C{"stop"} stops the broker cleanly and exits),
answered by one line, C{{"id": n, "result": value}} or C{{"id": n, "error":
message}}. The broker's log goes to stderr.

The end of stdin (the test process closed it, or died) stops the broker
cleanly, so a child never outlives pytest; with C{pdeathsig} it is killed at
once if the test process dies without closing it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Protocol, cast

from twisted.internet import reactor as _global_reactor
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


class _Writes(Protocol):
    def write(self, data: bytes) -> None:
        """Send C{data}."""


reactor = cast(_ChildReactor, _global_reactor)


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

    def __init__(self, broker: ControlledBroker) -> None:
        self.broker = broker
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
        d.addBoth(lambda _: reactor.stop())


async def serve(spec: dict[str, JSON]) -> None:
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
        sys.stdout.buffer.write(encode({"error": f"{type(e).__name__}: {e}"}))
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.buffer.write(encode({"ready": broker.port}))
    sys.stdout.flush()
    StandardIO(Control(broker))  # type: ignore[no-untyped-call]


def read_spec() -> dict[str, JSON]:
    """The spec on stdin's first line (read byte by byte: the rest is the control channel's)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:  # the test process ended before giving one
            sys.exit(0)
        line += byte
    spec = json.loads(line)
    assert isinstance(spec, dict)
    return spec


def main(argv: list[str]) -> None:
    """Run the broker child of the spec on stdin until stopped."""
    if argv[2:] == ["pdeathsig"]:
        die_with_parent(int(argv[1]))
    spec = read_spec()
    log = os.open(str(spec["log_file"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 2)
    os.close(log)
    observer = cast(ILogObserver, textFileLogObserver(sys.stderr))
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    reactor.callWhenRunning(lambda: Deferred.fromCoroutine(serve(spec)))
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
