"""The storage engines a broker runs on: the files in log.dirs, or a PostgreSQL database.

An L{Engine} makes the metadata store and the log manager the broker is
built over, loads and runs what keeps them (retention, flushes, the log
cleaner, producer expiration), and closes them. L{FileEngine} is the file
engine (the default); the PostgreSQL engine is L{kafkatwist.transport.pg_engine}.
The service (L{kafkatwist.transport.service.BrokerService}) drives either the same way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Protocol

from attrs import define, field
from twisted.internet.interfaces import IReactorFromThreads
from twisted.python.threadpool import ThreadPool

from kafkatwist.broker import Broker
from kafkatwist.clock import ReactorTime, RunBlocking
from kafkatwist.cluster.interfaces import ICluster
from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.producers.expiration import ProducerIdExpiration
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage.cleaner.service import LogCleaner, RunningCleaner
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore
from kafkatwist.storage.kraft import (
    KRaftMetadataStore,
    directory_id,
    ensure_meta_properties,
    run_now,
)
from kafkatwist.storage.kraft_files import MetadataLogConfig
from kafkatwist.storage.lock import DirLock, LogDirError, lock_log_dirs
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.transactions.markers import MarkerDelivery
from kafkatwist.transport.workers import in_pool, log_cleaner

#: Where the logs go when C{log.dirs} names none (Kafka's default).
DEFAULT_LOG_DIR = "/tmp/kraft-combined-logs"


def log_dirs_of(config: BrokerConfig) -> list[str]:
    """Every log dir, absolute; the first holds C{meta.properties} and the metadata log."""
    return [os.path.abspath(d) for d in (config.log_dirs or (DEFAULT_LOG_DIR,))]


class Engine(Protocol):
    """What the service needs of a storage engine, in the order it calls them."""

    async def open_metadata(self) -> tuple[IMetadataStore, str]:
        """Make (not load) the metadata store; return it and the cluster id."""

    def open_logs(self, configs: ConfigResolver) -> ILogManager:
        """Make (not load) the log manager, its topic configs read through C{configs}."""

    def cluster(self) -> ICluster | None:
        """The cluster this broker joins (None: this broker alone)."""

    def markers(self) -> MarkerDelivery | None:
        """How transaction markers reach partition leaders (None: written here)."""

    def attach(self, broker: Broker) -> None:
        """Connect what the engine adds to the built broker (before anything loads)."""

    async def directory_id(self) -> uuid.UUID | None:
        """The metadata log dir's C{directory.id}, if the engine has one."""

    async def load_logs(self) -> None:
        """Load the logs and start what maintains them (after the metadata is loaded)."""

    @property
    def cleaner(self) -> RunningCleaner | None:
        """The log cleaner, once the logs are loaded (None if the engine has none)."""

    async def close(self) -> None:
        """Stop maintaining the logs and close them (a clean shutdown)."""

    def kill(self) -> None:
        """Stop as SIGKILL would: nothing flushed, threads and locks let go."""


def _format_log_dir(log_dir: str, node_id: int) -> str:
    """L{ensure_meta_properties}, a failure to write naming the directory (L{LogDirError})."""
    try:
        return ensure_meta_properties(log_dir, node_id)
    except OSError as e:
        raise LogDirError(log_dir, e.strerror or str(e)) from e


def file_log_manager(
    config: BrokerConfig,
    clock: ReactorTime,
    run_blocking: RunBlocking,
    configs: ConfigResolver,
    read_pool: ReadPool | None = None,
) -> LogManager:
    """The file-backed log manager over the configured log directories and C{read_pool}."""
    return LogManager(
        log_dirs_of(config),
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
    config: BrokerConfig,
    clock: ReactorTime,
    tables: Callable[[], list[ProducerStateTable]],
    configs: ConfigResolver,
) -> ProducerIdExpiration:
    """
    Kafka's periodic producer expiration over the producer state C{tables} of the open logs.

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
        tables=tables,
        clock=clock,
        expiration_ms=expiration_ms,
        check_interval_ms=config.producer_id_expiration_check_interval_ms,
    )


@define
class FileEngine:
    """
    The file engine: the metadata log and the partition logs in C{log.dirs}.

    C{run_blocking} runs the stores' file work; C{injected} is the caller's
    own C{run_blocking} if any (tests), which then also runs the cleaner's
    passes and the cold reads, instead of pools of their own.
    """

    config: BrokerConfig
    #: Adapted to C{IReactorFromThreads} only when pools of its own are made (not in tests).
    reactor: object
    clock: ReactorTime
    run_blocking: RunBlocking
    injected: RunBlocking | None = None
    _metadata: KRaftMetadataStore | None = field(default=None, init=False)
    _logs: LogManager | None = field(default=None, init=False)
    _configs: ConfigResolver | None = field(default=None, init=False)
    _locks: list[DirLock] = field(factory=list, init=False)
    _io_pool: ThreadPool | None = field(default=None, init=False)
    _cleaner_pool: ThreadPool | None = field(default=None, init=False)
    _cleaner: LogCleaner[PartitionLog] | None = field(default=None, init=False)
    _producer_expiration: ProducerIdExpiration | None = field(default=None, init=False)

    @property
    def log_dir(self) -> str:
        return log_dirs_of(self.config)[0]

    async def open_metadata(self) -> tuple[IMetadataStore, str]:
        # One broker per directory: create, check and lock them all first.
        self._locks = await run_now(lambda: lock_log_dirs(log_dirs_of(self.config)))
        log_dir, node_id = self.log_dir, self.config.node_id
        # Formatting a directory is tiny and must precede everything else.
        cluster_id = await run_now(lambda: _format_log_dir(log_dir, node_id))
        self._metadata = KRaftMetadataStore(
            log_dir,
            run_blocking=self.run_blocking,
            clock=self.clock,
            config=metadata_log_config(self.config),
        )
        return self._metadata, cluster_id

    def open_logs(self, configs: ConfigResolver) -> ILogManager:
        self._configs = configs
        self._logs = file_log_manager(
            self.config,
            self.clock,
            self.run_blocking,
            configs,
            self._read_pool(self.config.num_io_threads),
        )
        return self._logs

    def cluster(self) -> ICluster | None:
        return None

    def markers(self) -> MarkerDelivery | None:
        return None

    def attach(self, broker: Broker) -> None:
        pass

    async def directory_id(self) -> uuid.UUID | None:
        log_dir = self.log_dir
        return await run_now(lambda: directory_id(log_dir))

    async def load_logs(self) -> None:
        logs, configs = self._logs, self._configs
        assert logs is not None and configs is not None
        await logs.load()
        logs.start_periodic(self.clock)
        self._producer_expiration = producer_id_expiration(
            self.config,
            self.clock,
            lambda: [log.producer_state for log in logs.all_logs()],
            configs,
        )
        self._producer_expiration.start()
        self._cleaner = self._start_cleaner(logs, configs)
        await self._cleaner.start()

    @property
    def cleaner(self) -> RunningCleaner | None:
        return self._cleaner

    def _read_pool(self, threads: int) -> ReadPool:
        """
        The pool reads of data not in the page cache run in: C{num.io.threads} threads of its own.

        Its own pool, so that a burst of cold reads never delays the logs'
        flushes and closes; in the injected C{run_blocking} if there is one (tests).
        """
        threads = max(threads, 1)
        if self.injected is not None:
            return ReadPool(self.injected, threads)
        pool = self._io_pool = ThreadPool(0, threads, "kafkatwist-io")
        pool.start()
        return ReadPool(in_pool(IReactorFromThreads(self.reactor), pool), threads)

    def _start_cleaner(self, logs: LogManager, configs: ConfigResolver) -> LogCleaner[PartitionLog]:
        """
        The log cleaner, its passes in a pool of C{log.cleaner.threads} threads of its own.

        Its own pool, not the reactor's: a long pass never delays the logs'
        flushes and checkpoints. Started after the logs load.
        """
        if self.injected is not None:
            return log_cleaner(self.clock, logs, configs, self.run_blocking, self.injected)
        threads = max(CleanerConfig.from_layers(configs.layers()).threads, 1)
        pool = self._cleaner_pool = ThreadPool(0, threads, "kafkatwist-cleaner")
        pool.start()
        workers = in_pool(IReactorFromThreads(self.reactor), pool)

        def resize(threads: int) -> None:
            pool.adjustPoolsize(0, max(threads, 1))

        return log_cleaner(self.clock, logs, configs, self.run_blocking, workers, resize)

    async def close(self) -> None:
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
        self._release_locks()

    def kill(self) -> None:
        for pool in (self._cleaner_pool, self._io_pool):
            if pool is not None:
                pool.stop()
        self._cleaner_pool = self._io_pool = None
        self._release_locks()

    def _release_locks(self) -> None:
        locks, self._locks = self._locks, []
        for lock in locks:
            lock.release()
