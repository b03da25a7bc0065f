"""BrokerService: owns the stores, loads them, then opens the listener."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from kafkatwist.apis import REGISTRY
from kafkatwist.broker import Broker
from kafkatwist.config.log_config import LogConfig
from kafkatwist.groups.coordinator import GroupCoordinator
from kafkatwist.storage.kraft import KRaftMetadataStore, ensure_meta_properties, run_now
from kafkatwist.topics.controller import Controller
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.protocol import KafkaServerFactory


def default_log_manager(broker: Broker, run_blocking: Callable[..., Any]) -> Any:
    """The file-backed log manager over the configured log directories."""
    from kafkatwist.storage.manager import LogManager

    config = broker.config

    def log_config(name: str) -> LogConfig:
        return broker.log_config(broker.metadata.image.topics.get(name))

    return LogManager(
        [os.path.abspath(d) for d in (config.log_dirs or ("/tmp/kraft-combined-logs",))],
        log_config,
        clock=broker.clock,
        run_blocking=run_blocking,
        recovery_threads_per_data_dir=config.num_recovery_threads_per_data_dir,
        retention_check_interval_ms=config.log_retention_check_interval_ms,
    )


class BrokerService(Service):
    """
    The broker as a Twisted service.

    C{startService} loads the metadata and the logs and only then listens, so
    no request is served from a half-loaded state. C{stopService} stops
    listening, closes the connections, then closes the logs (flush and the
    clean-shutdown marker), and returns a Deferred.

    @ivar ready: fires with the listening port once the broker serves.
    """

    _log = Logger()

    def __init__(
        self,
        config: Any,
        endpoint: str,
        reactor: Any,
        *,
        run_blocking: Callable[..., Any] | None = None,
        log_manager: Callable[[Broker, Callable[..., Any]], Any] = default_log_manager,
    ) -> None:
        self.config = config
        self.endpoint = endpoint
        self.reactor = reactor
        if run_blocking is None:
            from twisted.internet.threads import deferToThreadPool

            def run_blocking(fn: Callable[[], Any]) -> Deferred[Any]:
                return deferToThreadPool(reactor, reactor.getThreadPool(), fn)

        self.run_blocking = run_blocking
        self._make_logs = log_manager
        self.broker = Broker(config=config, clock=reactor, node_id=getattr(config, "node_id", 1))
        self.factory: KafkaServerFactory | None = None
        self.port: Any = None
        self.ready: Deferred[Any] = Deferred()

    @property
    def log_dir(self) -> str:
        dirs = getattr(self.config, "log_dirs", None) or ("/tmp/kraft-combined-logs",)
        return os.path.abspath(dirs[0])

    def startService(self) -> None:
        super().startService()
        d = Deferred.fromCoroutine(self._start())
        d.addCallbacks(self.ready.callback, self._start_failed)

    def _start_failed(self, failure: Any) -> None:
        self._log.failure("kafkatwist failed to start", failure)
        self.ready.errback(failure)
        if getattr(self.reactor, "running", False):
            self.reactor.stop()

    async def _start(self) -> Any:
        broker = self.broker
        log_dir = self.log_dir
        # Formatting a directory is tiny and must precede everything else.
        broker.cluster_id = await run_now(lambda: ensure_meta_properties(log_dir, broker.node_id))
        broker.metadata = KRaftMetadataStore(
            log_dir, run_blocking=self.run_blocking, clock=self.reactor
        )
        await broker.metadata.load()
        broker.logs = self._make_logs(broker, self.run_blocking)
        await broker.logs.load()
        start_periodic = getattr(broker.logs, "start_periodic", None)
        if start_periodic is not None:
            start_periodic(self.reactor)
        broker.extras["controller"] = Controller(broker)
        # The coordinator replays __consumer_offsets in the background; group
        # APIs answer COORDINATOR_LOAD_IN_PROGRESS until it is done.
        groups = broker.extras["groups"] = GroupCoordinator(broker)
        groups.start().addErrback(lambda f: self._log.failure("Group coordinator failed", f))
        dispatcher = Dispatcher(REGISTRY, broker)
        max_size = getattr(self.config, "socket_request_max_bytes", 104857600)
        self.factory = KafkaServerFactory(dispatcher, max_size)
        endpoint = serverFromString(self.reactor, self.endpoint)
        self.port = await endpoint.listen(self.factory)
        address = self.port.getHost()
        broker.advertised_host, broker.advertised_port = self._advertised(address.port)
        image = broker.metadata.image
        self._log.info(
            "kafkatwist listening on {host}:{port} ({topics} topics, cluster {cluster})",
            host=address.host,
            port=address.port,
            topics=len(image.topics),
            cluster=broker.cluster_id,
        )
        return self.port

    def _advertised(self, bound_port: int) -> tuple[str | None, int]:
        """
        What Metadata tells clients: C{advertised.listeners} when it is set,
        else the bound port (so port 0 and endpoint overrides work) and the
        address each client connected to.
        """
        advertised = getattr(self.config, "advertised_address", None)
        properties = getattr(self.config, "properties", None) or {}
        if advertised is None or "advertised.listeners" not in properties:
            return None, bound_port
        host, port = advertised()
        return host, port or bound_port

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            await port.stopListening()
        if self.factory is not None:
            for conn in list(self.factory.connections):
                conn.transport.loseConnection()
        groups = self.broker.extras.get("groups")
        if groups is not None:
            groups.stop()
        logs = self.broker.logs
        if logs is not None:
            await logs.close()
        # twistd and twist re-raise the signal that stopped the reactor once it
        # has stopped (twisted.application.app._exitWithSignal), so a SIGTERM
        # would end the process "killed by signal". After a clean stop (logs
        # flushed, .kafka_cleanshutdown written) the broker exits 0 instead.
        if getattr(self.reactor, "_exitSignal", None) is not None:
            self.reactor._exitSignal = None
        self._log.info("kafkatwist stopped")
