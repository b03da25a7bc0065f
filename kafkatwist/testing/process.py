"""
A broker in a child process (L{kafkatwist.testing.child}), driven from the test's process.

What the C{kafka_broker} fixtures give tests that do not run on the
pytest-twisted reactor (plain, asyncio, and any module- or session-scoped
use): the broker serves whatever the test process does, L{BrokerProcess.crash}
is a real SIGKILL, and control calls (faults, the clock) are JSON lines over
the child's stdin and stdout, answered synchronously.

The child is forked by the session's fork server
(L{kafkatwist.testing.forkserver}) and never outlives the test process: it
stops when its stdin closes, which only the test process holds open.
"""

from __future__ import annotations

import json
import os
import selectors
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import IO

from attrs import define, field

from kafkatwist.testing.control import JSON, encode
from kafkatwist.testing.forkserver import Child, ChildError, Children


class BrokerError(RuntimeError):
    """The broker child failed to start, died, or answered a control call with an error."""


@define(eq=False)
class _Channel:
    """The child's stdin and stdout: one JSON object a line each way."""

    _stdin: IO[bytes]
    _stdout: IO[bytes]
    _buffer: bytearray = field(factory=bytearray)

    def send(self, message: Mapping[str, JSON]) -> None:
        self._stdin.write(encode(message))
        self._stdin.flush()

    def receive(self, timeout: float) -> dict[str, JSON]:
        """The next line, decoded; L{BrokerError} if the child ends or is silent too long."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise BrokerError(f"the broker did not answer within {timeout:g} s")
                chunk = os.read(self._stdout.fileno(), 65536)
                if not chunk:
                    raise BrokerError("the broker process ended")
                self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        message = json.loads(line)
        assert isinstance(message, dict)
        return message


@define(eq=False)
class _Calls:
    """C{broker.faults}: every attribute is the child's C{Faults} method of that name."""

    _call: Callable[..., JSON]

    def __getattr__(self, method: str) -> Callable[..., JSON]:
        if method.startswith("_"):
            raise AttributeError(method)
        return partial(self._call, f"faults.{method}")


@define(eq=False)
class BrokerProcess:
    """
    A kafkatwist broker in a child process, on 127.0.0.1 over C{log_dir}.

    @ivar log_file: Where the broker's log goes (its stderr), kept for a failing test to read.
    @ivar metrics_port: The port of its metrics and C{/healthz} (C{kafkatwist.metrics.listener},
        port 0 included), None when off.
    @ivar faults: The broker's L{kafkatwist.testing.faults.Faults}: C{faults.fail_next(...)}
        and every other method of it, forwarded by name.
    """

    log_dir: str
    log_file: str
    properties: Mapping[str, str] = field(factory=dict)
    clock: bool = True
    timeout: float = 30.0
    children: Children = field(factory=Children)
    port: int = 0
    metrics_port: int | None = field(default=None, init=False)
    _proc: Child | None = None
    _channel: _Channel | None = None
    _ids: int = 0
    _lock: threading.Lock = field(factory=threading.Lock)
    faults: _Calls = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.faults = _Calls(self.call)

    @property
    def bootstrap_servers(self) -> str:
        """C{127.0.0.1:PORT}, for a client's bootstrap servers."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's pid while it runs."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the broker process runs."""
        return self._proc is not None and self._proc.alive()

    def start(self) -> None:
        """Start the broker process on C{port} (0 the first time: any free port)."""
        if self.running:
            raise BrokerError("the broker is already running")
        spec: dict[str, JSON] = {
            "log_dir": self.log_dir,
            "log_file": self.log_file,
            "port": self.port,
            "properties": dict(self.properties),
            "clock": self.clock,
        }
        try:
            proc = self.children.take(self.timeout)
        except ChildError as e:
            raise BrokerError(str(e)) from None
        self._proc, self._channel = proc, _Channel(proc.stdin, proc.stdout)
        try:
            self._channel.send(spec)
            ready = self._channel.receive(self.timeout)
        except (BrokerError, OSError) as e:
            self.crash()
            raise BrokerError(f"{e} while starting\n{self._log_tail()}") from None
        port = ready.get("ready")
        if not isinstance(port, int):
            self.crash()
            raise BrokerError(f"the broker failed to start: {ready.get('error')}")
        self.port = port
        metrics_port = ready.get("metrics_port")
        self.metrics_port = metrics_port if isinstance(metrics_port, int) else None

    def call(self, call: str, /, *args: JSON, **kwargs: JSON) -> JSON:
        """Run the broker's control call C{call} (L{ControlledBroker.call}); its result."""
        with self._lock:
            if self._channel is None or not self.running:
                raise BrokerError("the broker is not running")
            self._ids += 1
            ident = self._ids
            self._channel.send({"id": ident, "call": call, "args": list(args), "kwargs": kwargs})
            reply = self._channel.receive(self.timeout)
            while isinstance(answered := reply.get("id"), int) and answered < ident:
                # The late answer of a call that timed out: skipped, not taken for this one's.
                reply = self._channel.receive(self.timeout)
        if reply.get("id") != ident:
            raise BrokerError(f"answer to another call: {reply}")
        if "error" in reply:
            raise BrokerError(f"{call}: {reply['error']}")
        return reply.get("result")

    def advance(self, seconds: float) -> None:
        """Move the broker's clock C{seconds} forward: every timer due by then runs now."""
        self.call("advance", seconds)

    def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        """Create topic C{name} with C{partitions} partitions and C{config} overrides."""
        self.call("create_topic", name=name, partitions=partitions, config=dict(config or {}))

    def crash(self) -> None:
        """SIGKILL the broker: nothing flushed, checkpointed or closed cleanly."""
        proc, self._proc, self._channel = self._proc, None, None
        if proc is None:
            return
        proc.kill()
        proc.close()

    def restart(self) -> None:
        """Start a new broker on the same log dir and port (stopping this one first if it runs)."""
        if self.running:
            self.stop()
        self.start()

    def stop(self) -> None:
        """Stop the broker cleanly (logs flushed and closed); killed if it takes too long."""
        proc, channel = self._proc, self._channel
        if proc is None or channel is None:
            return
        try:
            channel.send({"call": "stop"})
            proc.wait(self.timeout)
        except (OSError, ChildError):
            pass
        self.crash()

    def _log_tail(self) -> str:
        with open(self.log_file, "rb") as f:
            return f.read()[-4000:].decode(errors="replace")


__all__ = ["BrokerError", "BrokerProcess"]
