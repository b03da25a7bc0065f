"""
A broker on the test's own reactor: what C{kafka_broker} gives a pytest-twisted test.

The test and the broker share the reactor pytest-twisted runs, so the test
reaches the broker's objects (L{InProcessBroker.service}, C{.broker}), its
L{Faults} and its L{JumpClock} directly. Starting, stopping and restarting
return Deferreds (the test awaits them); the control calls that change
nothing but state (faults, L{InProcessBroker.advance}, L{InProcessBroker.crash})
are plain calls.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import define, field
from twisted.internet.defer import Deferred, succeed

from kafkatwist.broker import Broker
from kafkatwist.testing.clock import JumpClock
from kafkatwist.testing.control import ControlledBroker, start_test_broker
from kafkatwist.testing.faults import Faults
from kafkatwist.transport.service import BrokerService, ServiceReactor


@define(eq=False)
class InProcessBroker:
    """A kafkatwist broker on the test's reactor, on 127.0.0.1 over C{log_dir}."""

    reactor: ServiceReactor
    log_dir: str
    properties: Mapping[str, str] = field(factory=dict)
    port: int = 0
    _running: ControlledBroker | None = None

    @property
    def bootstrap_servers(self) -> str:
        """C{127.0.0.1:PORT}, for a client's bootstrap servers."""
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_port(self) -> int | None:
        """The port of C{/metrics} and C{/healthz} (C{kafkatwist.metrics.listener}), or None."""
        return self._current.metrics_port

    @property
    def running(self) -> bool:
        """Whether the broker serves."""
        return self._running is not None

    @property
    def _current(self) -> ControlledBroker:
        if self._running is None:
            raise RuntimeError("the broker is not running")
        return self._running

    @property
    def service(self) -> BrokerService:
        """The running L{BrokerService}."""
        return self._current.service

    @property
    def broker(self) -> Broker:
        """The running broker's services (metadata image, logs, groups...)."""
        return self._current.service.broker

    @property
    def faults(self) -> Faults:
        """The running broker's faults (a new, empty set after each restart)."""
        return self._current.faults

    @property
    def clock(self) -> JumpClock:
        """The running broker's time: the reactor's, moved forward by L{advance}."""
        jump = self._current.jump
        assert jump is not None  # always asked for
        return jump

    def advance(self, seconds: float) -> None:
        """Move the broker's clock C{seconds} forward: every timer due by then runs now."""
        self._current.advance(seconds)

    def start(self) -> Deferred[None]:
        """Start the broker on C{port} (0 the first time: any free port)."""
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        if self._running is not None:
            raise RuntimeError("the broker is already running")
        self._running = await start_test_broker(
            self.reactor, self.log_dir, port=self.port, properties=self.properties, clock=True
        )
        self.port = self._running.port

    def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> Deferred[None]:
        """Create topic C{name} with C{partitions} partitions and C{config} overrides."""
        return Deferred.fromCoroutine(self._create_topic(name, partitions, config))

    async def _create_topic(
        self, name: str, partitions: int, config: Mapping[str, str] | None
    ) -> None:
        await self.broker.controller.create_topic(name, partitions, configs=config)

    def crash(self) -> None:
        """
        Stop as SIGKILL would: listeners and connections closed, every timer gone, no log
        flushed, checkpointed or closed (what was written stays, as in the page cache).
        """
        running, self._running = self._running, None
        if running is not None:
            running.kill()

    def restart(self) -> Deferred[None]:
        """Start a new broker on the same log dir and port (stopping this one first if it runs)."""
        return Deferred.fromCoroutine(self._restart())

    async def _restart(self) -> None:
        await self.stop()
        await self.start()

    def stop(self) -> Deferred[None]:
        """Stop the broker cleanly (logs flushed and closed)."""
        running, self._running = self._running, None
        if running is None:
            return succeed(None)
        return running.service.stopService()


__all__ = ["InProcessBroker"]
