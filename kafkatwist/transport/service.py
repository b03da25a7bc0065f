"""BrokerService: creates the stores, builds the broker's services, loads, starts, then listens."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Protocol, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import _ISupportsExitSignalCapturing
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.broker import Broker, build_broker
from kafkatwist.clock import ReactorTime, RunBlocking
from kafkatwist.config.listeners import host_port
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.config.storage_config import StorageConfig
from kafkatwist.config.trace_config import TraceConfig
from kafkatwist.groups.coordinator import GroupCoordinator
from kafkatwist.metrics.web import MetricsServer, start_metrics
from kafkatwist.storage.cleaner.service import RunningCleaner
from kafkatwist.storage.lock import LogDirError
from kafkatwist.trace import TraceHook, install_trace
from kafkatwist.transactions.service import TransactionService
from kafkatwist.transport.engines import Engine, FileEngine, log_dirs_of
from kafkatwist.transport.listeners import (
    BoundListener,
    ListeningPort,
    StartupError,
    advertised_addresses,
    all_listener_tls,
    bind_listeners,
    check_listeners,
    factory_maker,
    registered_addresses,
    start_tls_reconfiguration,
)
from kafkatwist.transport.pg_engine import PostgresEngine
from kafkatwist.transport.protocol import KafkaServerFactory

__all__ = ["BrokerService", "ListeningPort", "StartupError", "check_listeners"]

_T = TypeVar("_T")


class ServiceReactor(ReactorTime, Protocol):
    """The reactor as the service uses it: time, and stopping it after a failed start."""

    def callWhenRunning(self, callable: Callable[[], object]) -> object:
        """Call C{callable} now if the reactor runs, else once it starts."""

    def stop(self) -> None:
        """Stop the reactor."""


def startup_failure_reason(error: BaseException | None) -> str | None:
    """
    The one line that explains a failed start, or None for a bug (log the traceback).

    Known causes: an unusable or locked log dir, a port that cannot be
    bound, a listener that cannot be served.
    """
    if isinstance(error, LogDirError | StartupError):
        return str(error)
    if isinstance(error, CannotListenError):
        cause = error.socketError
        reason = getattr(cause, "strerror", None) or str(cause)
        return f"cannot listen on {host_port(error.interface or '*', error.port)}: {reason}"
    return None


def _in_thread(fn: Callable[[], _T]) -> Deferred[_T]:
    """Run C{fn} in the reactor's thread pool."""
    return deferToThread(fn)


class BrokerService(Service):
    """
    The broker as a Twisted service.

    C{startService} checks the listeners and reads their key and trust
    stores (a bad one stops the start first), creates
    the stores, builds every service over them (L{build_broker}), loads the
    metadata and the logs, starts the group and transaction coordinators and
    only then binds every listener (C{listeners}: PLAINTEXT, SSL, SASL_PLAINTEXT,
    SASL_SSL), so no request is served from a half-loaded state.
    C{stopService} stops listening, closes every listener's connections,
    stops the coordinators, then closes the logs (flush and the
    clean-shutdown marker), and returns a Deferred.

    @ivar ready: fires with the first listener's port once the broker
        serves, or fails with the reason it could not start.
    """

    _log = Logger()

    def __init__(
        self,
        config: BrokerConfig,
        endpoint: str | None,
        reactor: ServiceReactor,
        *,
        run_blocking: RunBlocking | None = None,
        owns_process: bool = False,
        clock: ReactorTime | None = None,
    ) -> None:
        """
        @param clock: The broker's time (timers, timeouts, timestamps); the
            reactor by default. Sockets and threads always use the reactor.
        @param run_blocking: Runs the stores' blocking file work; by default
            in the reactor's thread pool (L{deferToThread}).
        @param owns_process: The process is the broker's alone (twistd), so
            its garbage collector may be tuned: paused while loading and
            while stopping (both build or touch an object per partition,
            and each full collection walks them all again), with what the
            load built frozen (C{gc.freeze}) so later collections skip it.
            Not for a broker inside someone else's process (tests).
        """
        self.owns_process = owns_process
        self.config = config
        self.endpoint = endpoint
        self.reactor = reactor
        self.clock: ReactorTime = reactor if clock is None else clock
        self.run_blocking: RunBlocking = _in_thread if run_blocking is None else run_blocking
        self._broker: Broker | None = None
        self._engine: Engine | None = None
        #: The cleaner's passes run in the injected C{run_blocking} if there is one (tests).
        self._injected_run_blocking = run_blocking
        self._trace: TraceHook | None = None
        self.factory: KafkaServerFactory | None = None
        self.port: ListeningPort | None = None
        #: Every listener served, the first one's factory and port also as C{factory}, C{port}.
        self.listeners: list[BoundListener] = []
        self.ready: Deferred[ListeningPort] = Deferred()
        #: The metrics listener (C{kafkatwist.metrics.listener}), None when off; C{.port} is bound.
        self.metrics: MetricsServer | None = None

    @property
    def broker(self) -> Broker:
        """The broker's services, built by C{startService}."""
        if self._broker is None:
            raise RuntimeError("the broker is built when the service starts")
        return self._broker

    @property
    def cleaner(self) -> RunningCleaner | None:
        """The log cleaner, once the logs are loaded (None before)."""
        return None if self._engine is None else self._engine.cleaner

    @property
    def log_dirs(self) -> list[str]:
        """Every log dir, absolute; the first holds C{meta.properties} and the metadata log."""
        return log_dirs_of(self.config)

    @property
    def log_dir(self) -> str:
        """The first log dir: it holds C{meta.properties} and the metadata log."""
        return self.log_dirs[0]

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call, unused-ignore]
        d = Deferred.fromCoroutine(self._start())
        d.addCallbacks(self.ready.callback, self._start_failed)

    def _start_failed(self, failure: Failure) -> None:
        """
        Report a failed start and stop the reactor (also when it has not started yet).

        A known cause (L{startup_failure_reason}) is one log line; anything
        else is a bug and is logged with its traceback.
        """
        reason = startup_failure_reason(failure.value)
        if reason is None:
            self._log.failure("kafkatwist failed to start", failure)
        else:
            self._log.critical("kafkatwist: {reason}", reason=reason)
        self.ready.errback(failure)
        if self.metrics is not None:
            Deferred.fromCoroutine(self.metrics.stop())
        self.reactor.callWhenRunning(self.reactor.stop)

    async def _start(self) -> ListeningPort:
        config, clock = self.config, self.clock
        check_listeners(config)
        # Key and trust stores are read now, before anything else: a bad one stops the start.
        tls = all_listener_tls(config)
        engine = self._engine = self._make_engine()
        metadata, cluster_id = await engine.open_metadata()
        configs = ConfigResolver(config, metadata)
        logs = engine.open_logs(configs)
        broker = self._broker = build_broker(
            config,
            clock,
            metadata,
            logs,
            configs,
            cluster_id=cluster_id,
            run_blocking=self.run_blocking,
            cluster=engine.cluster(),
            markers=engine.markers(),
        )
        engine.attach(broker)
        broker.metadata_directory_id = await engine.directory_id()
        # Before loading: /healthz answers 503 while the logs load.
        self.metrics = await start_metrics(self.reactor, self)
        trace = TraceConfig.from_properties(config.properties)
        self._trace = install_trace(trace, broker.hooks, clock, self.run_blocking)
        if self.owns_process:
            gc.disable()
        await metadata.load()
        broker.tls = await start_tls_reconfiguration(config, configs, tls, self.run_blocking)
        await broker.features.bootstrap()
        await engine.load_logs()
        self._start_transactions(broker.transactions)
        self.listeners = await bind_listeners(
            self.reactor, config, self.endpoint, factory_maker(config, clock, broker, metadata), tls
        )
        self.factory, self.port = self.listeners[0].factory, self.listeners[0].port
        if self.owns_process:
            gc.freeze()
            gc.enable()
        broker.advertised_listeners = advertised_addresses(config, self.listeners)
        broker.advertised_host, broker.advertised_port = broker.advertised_listeners[
            self.listeners[0].name
        ]
        await broker.cluster.start(
            registered_addresses(broker.advertised_listeners, self.listeners)
        )
        self._start_groups(broker.groups)
        for bound in self.listeners:
            address = bound.port.getHost()
            self._log.info(
                "kafkatwist listening on {host}:{port} ({listener}, {protocol})",
                host=address.host,
                port=address.port,
                listener=bound.name,
                protocol=bound.security_protocol,
            )
        self._log.info(
            "kafkatwist serving {topics} topics, cluster {cluster}",
            topics=len(metadata.image.topics),
            cluster=cluster_id,
        )
        return self.port

    def _make_engine(self) -> Engine:
        """The storage engine C{kafkatwist.storage} chooses (the files in log.dirs by default)."""
        storage = StorageConfig.from_properties(self.config.properties)
        if storage.is_postgres:
            return PostgresEngine(self.config, self.reactor, self.clock, storage)
        return FileEngine(
            self.config,
            self.reactor,
            self.clock,
            self.run_blocking,
            self._injected_run_blocking,
        )

    def _start_groups(self, groups: GroupCoordinator) -> None:
        """
        Start the group coordinator without waiting for it, once the cluster told its elections.

        Each elected ``__consumer_offsets`` partition is replayed (its groups
        answer COORDINATOR_LOAD_IN_PROGRESS meanwhile, those of partitions
        not led here NOT_COORDINATOR). Reads that answer at once (today's
        file logs read synchronously) finish the replay before C{start}
        returns. A failed replay is logged and tried again.
        """
        groups.start().addErrback(lambda f: self._log.failure("Group coordinator failed", f))

    def _start_transactions(self, transactions: TransactionService) -> None:
        """
        Start the transaction coordinator's timers.

        It replays each ``__transaction_state`` partition as the cluster
        elects this broker its leader (the transaction APIs answer
        COORDINATOR_LOAD_IN_PROGRESS meanwhile), then writes the markers of
        the transactions left in PrepareCommit/PrepareAbort and completes them.
        """
        transactions.start().addErrback(
            lambda f: self._log.failure("Transaction coordinator failed", f)
        )

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call, unused-ignore]
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self.owns_process:
            gc.disable()  # the process ends once stopped
        if self._broker is not None and self.listeners:
            # Kafka's controlled shutdown: this broker's partitions and
            # coordinators move to the others before it stops serving.
            await self._broker.cluster.stop()
        listeners, self.listeners, self.port = self.listeners, [], None
        for bound in listeners:
            stopped = bound.port.stopListening()
            if stopped is not None:
                await stopped
        for bound in listeners:
            for conn in list(bound.factory.connections):
                conn.disconnect()
        metrics, self.metrics = self.metrics, None
        if metrics is not None:
            await metrics.stop()
        if self._broker is not None:
            self._broker.groups.stop()
            self._broker.transactions.stop()
        if self._engine is not None:
            await self._engine.close()
        if self._trace is not None:
            await self._trace.close()
        self._forget_exit_signal()
        self._log.info("kafkatwist stopped")

    def kill(self) -> None:
        """Stop as SIGKILL would (a test's crash): nothing flushed; the caller stops its timers."""
        listeners, self.listeners, self.port = self.listeners, [], None
        for bound in listeners:
            bound.port.stopListening()
            for conn in list(bound.factory.connections):
                conn.disconnect()
        if self._engine is not None:
            self._engine.kill()

    def _forget_exit_signal(self) -> None:
        """
        Let a clean stop exit 0 under twistd.

        twistd and twist re-raise the signal that stopped the reactor once it
        has stopped (L{twisted.application.app._exitWithSignal}), so a SIGTERM
        would end the process "killed by signal". After a clean stop (logs
        flushed, .kafka_cleanshutdown written) the broker exits 0 instead.
        """
        if _ISupportsExitSignalCapturing.providedBy(self.reactor):
            setattr(self.reactor, "_exitSignal", None)  # noqa: B010 (a private attribute)
