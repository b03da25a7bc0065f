"""BrokerService: creates the stores, builds the broker's services, loads, starts, then listens."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Protocol, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorFromThreads, _ISupportsExitSignalCapturing
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from kafkatwist.broker import Broker, build_broker
from kafkatwist.clock import ReactorTime, RunBlocking
from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.listeners import host_port
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.config.trace_config import TraceConfig
from kafkatwist.groups.coordinator import GroupCoordinator
from kafkatwist.metrics.web import MetricsServer, start_metrics
from kafkatwist.producers.expiration import ProducerIdExpiration
from kafkatwist.storage.cleaner.service import LogCleaner
from kafkatwist.storage.kraft import (
    KRaftMetadataStore,
    directory_id,
    ensure_meta_properties,
    run_now,
)
from kafkatwist.storage.kraft_files import MetadataLogConfig
from kafkatwist.storage.lock import DirLock, LogDirError, lock_log_dirs
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.trace import TraceHook, install_trace
from kafkatwist.transactions.service import TransactionService
from kafkatwist.transport.listeners import (
    BoundListener,
    ListeningPort,
    StartupError,
    advertised_addresses,
    all_listener_tls,
    bind_listeners,
    check_listeners,
    factory_maker,
    start_tls_reconfiguration,
)
from kafkatwist.transport.protocol import KafkaServerFactory
from kafkatwist.transport.workers import in_pool, log_cleaner

__all__ = ["BrokerService", "ListeningPort", "StartupError", "check_listeners"]

_T = TypeVar("_T")

#: Where the logs go when C{log.dirs} names none (Kafka's default).
DEFAULT_LOG_DIR = "/tmp/kraft-combined-logs"


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


def _format_log_dir(log_dir: str, node_id: int) -> str:
    """L{ensure_meta_properties}, a failure to write naming the directory (L{LogDirError})."""
    try:
        return ensure_meta_properties(log_dir, node_id)
    except OSError as e:
        raise LogDirError(log_dir, e.strerror or str(e)) from e


def _in_thread(fn: Callable[[], _T]) -> Deferred[_T]:
    """Run C{fn} in the reactor's thread pool."""
    return deferToThread(fn)


def file_log_manager(
    config: BrokerConfig,
    clock: ReactorTime,
    run_blocking: RunBlocking,
    configs: ConfigResolver,
    read_pool: ReadPool | None = None,
) -> LogManager:
    """The file-backed log manager over the configured log directories and C{read_pool}."""
    return LogManager(
        [os.path.abspath(d) for d in (config.log_dirs or (DEFAULT_LOG_DIR,))],
        configs.log_config,
        clock=clock,
        run_blocking=run_blocking,
        read_pool=ReadPool(run_blocking) if read_pool is None else read_pool,
        recovery_threads_per_data_dir=config.num_recovery_threads_per_data_dir,
        retention_check_interval_ms=config.log_retention_check_interval_ms,
    )


def metadata_log_config(config: BrokerConfig) -> MetadataLogConfig:
    """The metadata log's roll, snapshot and retention settings."""
    return MetadataLogConfig(
        segment_bytes=config.metadata_log_segment_bytes,
        segment_ms=config.metadata_log_segment_ms,
        retention_bytes=config.metadata_max_retention_bytes,
        retention_ms=config.metadata_max_retention_ms,
        max_bytes_between_snapshots=config.metadata_log_max_record_bytes_between_snapshots,
        max_snapshot_interval_ms=config.metadata_log_max_snapshot_interval_ms,
    )


def producer_id_expiration(
    config: BrokerConfig, clock: ReactorTime, logs: LogManager, configs: ConfigResolver
) -> ProducerIdExpiration:
    """
    Kafka's periodic producer expiration over every open partition log.

    C{producer.id.expiration.ms} is dynamic cluster-wide: each check reads
    the dynamic value (per broker, then cluster default), else the static
    one; a malformed stored value falls back to the static one.
    """

    key = "producer.id.expiration.ms"

    def expiration_ms() -> int:
        layers = configs.layers()
        value = layers.per_broker.get(key, layers.cluster_default.get(key))
        try:
            return int(value) if value is not None else config.producer_id_expiration_ms
        except ValueError:
            return config.producer_id_expiration_ms

    return ProducerIdExpiration(
        tables=lambda: [log.producer_state for log in logs.all_logs()],
        clock=clock,
        expiration_ms=expiration_ms,
        check_interval_ms=config.producer_id_expiration_check_interval_ms,
    )


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
        self._logs: LogManager | None = None
        self._producer_expiration: ProducerIdExpiration | None = None
        self._cleaner: LogCleaner | None = None
        self._cleaner_pool: ThreadPool | None = None
        self._io_pool: ThreadPool | None = None
        #: The cleaner's passes run in the injected C{run_blocking} if there is one (tests).
        self._injected_run_blocking = run_blocking
        self._locks: list[DirLock] = []
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
    def cleaner(self) -> LogCleaner | None:
        """The log cleaner, once the logs are loaded (None before)."""
        return self._cleaner

    @property
    def log_dirs(self) -> list[str]:
        """Every log dir, absolute; the first holds C{meta.properties} and the metadata log."""
        return [os.path.abspath(d) for d in (self.config.log_dirs or (DEFAULT_LOG_DIR,))]

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
        log_dir = self.log_dir
        # One broker per directory: create, check and lock them all first.
        self._locks = await run_now(lambda: lock_log_dirs(self.log_dirs))
        # Formatting a directory is tiny and must precede everything else.
        cluster_id = await run_now(lambda: _format_log_dir(log_dir, config.node_id))
        metadata = KRaftMetadataStore(
            log_dir, run_blocking=self.run_blocking, clock=clock, config=metadata_log_config(config)
        )
        configs = ConfigResolver(config, metadata)
        self._logs = logs = file_log_manager(
            config, clock, self.run_blocking, configs, self._read_pool(config.num_io_threads)
        )
        broker = self._broker = build_broker(
            config,
            clock,
            metadata,
            logs,
            configs,
            cluster_id=cluster_id,
            run_blocking=self.run_blocking,
        )
        broker.metadata_directory_id = await run_now(lambda: directory_id(log_dir))
        # Before loading: /healthz answers 503 while the logs load.
        self.metrics = await start_metrics(self.reactor, self)
        trace = TraceConfig.from_properties(config.properties)
        self._trace = install_trace(trace, broker.hooks, clock, self.run_blocking)
        if self.owns_process:
            gc.disable()
        await metadata.load()
        broker.tls = await start_tls_reconfiguration(config, configs, tls, self.run_blocking)
        await broker.features.bootstrap()
        await logs.load()
        logs.start_periodic(clock)
        self._producer_expiration = producer_id_expiration(config, clock, logs, configs)
        self._producer_expiration.start()
        self._cleaner = self._start_cleaner(logs, configs)
        await self._cleaner.start()
        self._start_groups(broker.groups)
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
        await broker.cluster.start(broker.advertised_listeners)
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

    def _read_pool(self, threads: int) -> ReadPool:
        """
        The pool reads of data not in the page cache run in: C{num.io.threads} threads of its own.

        Its own pool, so that a burst of cold reads never delays the logs'
        flushes and closes; in the injected C{run_blocking} if there is one (tests).
        """
        threads = max(threads, 1)
        if self._injected_run_blocking is not None:
            return ReadPool(self._injected_run_blocking, threads)
        pool = self._io_pool = ThreadPool(0, threads, "kafkatwist-io")
        pool.start()
        return ReadPool(in_pool(IReactorFromThreads(self.reactor), pool), threads)

    def _start_cleaner(self, logs: LogManager, configs: ConfigResolver) -> LogCleaner:
        """
        The log cleaner, its passes in a pool of C{log.cleaner.threads} threads of its own.

        Its own pool, not the reactor's: a long pass never delays the logs'
        flushes and checkpoints. Started after the logs load.
        """
        workers = self._injected_run_blocking
        if workers is not None:
            return log_cleaner(self.clock, logs, configs, self.run_blocking, workers)
        threads = max(CleanerConfig.from_layers(configs.layers()).threads, 1)
        pool = self._cleaner_pool = ThreadPool(0, threads, "kafkatwist-cleaner")
        pool.start()
        workers = in_pool(IReactorFromThreads(self.reactor), pool)

        def resize(threads: int) -> None:
            pool.adjustPoolsize(0, max(threads, 1))

        return log_cleaner(self.clock, logs, configs, self.run_blocking, workers, resize)

    def _start_groups(self, groups: GroupCoordinator) -> None:
        """
        Start the group coordinator without waiting for it.

        It replays ``__consumer_offsets``; the listener opens without waiting
        for that, and while C{groups.loading} the group APIs answer
        COORDINATOR_LOAD_IN_PROGRESS. Reads that answer at once (today's
        file logs read synchronously) finish the replay before C{start}
        returns. A failed replay is logged, and the coordinator then serves
        the groups it had loaded.
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
        if self._producer_expiration is not None:
            self._producer_expiration.stop()
        # The cleaner stops before the logs close: a running pass is aborted and awaited.
        if self._cleaner is not None:
            await self._cleaner.stop()
        if self._cleaner_pool is not None:
            self._cleaner_pool.stop()
            self._cleaner_pool = None
        if self._logs is not None:
            await self._logs.close()
        # Closing each log waited for its reads in the pool: the pool is idle.
        if self._io_pool is not None:
            self._io_pool.stop()
            self._io_pool = None
        if self._trace is not None:
            await self._trace.close()
        locks, self._locks = self._locks, []
        for lock in locks:
            lock.release()
        self._forget_exit_signal()
        self._log.info("kafkatwist stopped")

    def kill(self) -> None:
        """Stop as SIGKILL would (a test's crash): nothing flushed; the caller stops its timers."""
        listeners, self.listeners, self.port = self.listeners, [], None
        for bound in listeners:
            bound.port.stopListening()
            for conn in list(bound.factory.connections):
                conn.disconnect()
        for pool in (self._cleaner_pool, self._io_pool):
            if pool is not None:
                pool.stop()
        self._cleaner_pool = self._io_pool = None
        locks, self._locks = self._locks, []
        for lock in locks:
            lock.release()

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
