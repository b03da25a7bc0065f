"""The PostgreSQL engine: the cluster's metadata, partition logs and brokers in one database.

Chosen by C{kafkatwist.storage=postgresql://...} (L{kafkatwist.config.storage_config}).
Every broker of the cluster points at the same database: the schema is made
or migrated at start (L{kafkatwist.postgres.schema}), the cluster id is the
database's, the metadata log is a table every broker follows
(L{kafkatwist.postgres.metadata}), the partition logs are rows
(L{kafkatwist.postgres.log}), the brokers register with leases
(L{kafkatwist.postgres.cluster}), and the transaction markers and KIP-890
checks for partitions led by another broker go through tables of their own
(L{kafkatwist.postgres.markers}, L{kafkatwist.postgres.txn_verify}).
C{log.dirs} is not used.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from attrs import define, field
from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred

from kafkatwist.broker import Broker
from kafkatwist.clock import ReactorTime, RunBlocking
from kafkatwist.cluster.interfaces import ICluster
from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.config.storage_config import StorageConfig
from kafkatwist.postgres.cleaner import PgCleanerManager
from kafkatwist.postgres.cluster import PgCluster
from kafkatwist.postgres.db import IDLE_IN_TRANSACTION_TIMEOUT_MS, Database
from kafkatwist.postgres.follower import PgFollowerLogs
from kafkatwist.postgres.log import PgPartitionLog
from kafkatwist.postgres.manager import PgLogManager
from kafkatwist.postgres.marker_service import PgMarkerService
from kafkatwist.postgres.markers import PgMarkerDelivery
from kafkatwist.postgres.membership import MembershipConfig
from kafkatwist.postgres.metadata import PgMetadataStore, cluster_id
from kafkatwist.postgres.schema import migrate
from kafkatwist.postgres.txn_verify import PgTxnVerifier
from kafkatwist.producers.expiration import ProducerIdExpiration
from kafkatwist.storage.cleaner.service import LogCleaner, RunningCleaner
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore
from kafkatwist.transactions.markers import MarkerDelivery
from kafkatwist.transport.engines import producer_id_expiration


def _become_leader(logs: PgLogManager, topic: str, partition: int, epoch: int) -> Deferred[object]:
    """C{logs.become_leader}, as the L{LeadershipTracker}'s C{prepare} (a Deferred of anything)."""
    loaded: Deferred[object] = logs.become_leader(topic, partition, epoch).addCallback(_itself)
    return loaded


def _itself(value: object) -> object:
    return value


def _in_database(db: Database) -> RunBlocking:
    """A C{run_blocking} over C{db}'s threads (the cleaner's passes use the database itself)."""

    def run(fn: Callable[[], T]) -> Deferred[T]:
        return db.run(lambda _: fn())

    return run


T = TypeVar("T")


@define
class PostgresEngine:
    """The PostgreSQL engine of one broker (see the module docstring)."""

    config: BrokerConfig
    reactor: object
    clock: ReactorTime
    storage: StorageConfig
    _db: Database | None = field(default=None, init=False)
    _metadata: PgMetadataStore | None = field(default=None, init=False)
    _logs: PgLogManager | None = field(default=None, init=False)
    _configs: ConfigResolver | None = field(default=None, init=False)
    _cluster: PgCluster | None = field(default=None, init=False)
    _delivery: PgMarkerDelivery | None = field(default=None, init=False)
    _marker_service: PgMarkerService | None = field(default=None, init=False)
    _verifier: PgTxnVerifier | None = field(default=None, init=False)
    _producer_expiration: ProducerIdExpiration | None = field(default=None, init=False)
    _periodic: TimerService | None = field(default=None, init=False)
    _cleaner_db: Database | None = field(default=None, init=False)
    _cleaner: LogCleaner[PgPartitionLog] | None = field(default=None, init=False)
    _followers: PgFollowerLogs | None = field(default=None, init=False)
    _cluster_db: Database | None = field(default=None, init=False)

    def _parts(self) -> tuple[Database, PgMetadataStore, PgLogManager]:
        assert self._db is not None and self._metadata is not None and self._logs is not None
        return self._db, self._metadata, self._logs

    async def open_metadata(self) -> tuple[IMetadataStore, str]:
        assert self.storage.url is not None
        # A paused broker's open transaction ends about when its lease would (not sooner
        # than the default: a slow step inside a transaction must not be taken for a pause).
        session = MembershipConfig.from_properties(self.config.properties).session_timeout_ms
        idle = max(session, IDLE_IN_TRANSACTION_TIMEOUT_MS)
        db = self._db = Database(
            self.storage.url, self.reactor, self.storage.pool_size, idle_timeout_ms=idle
        )
        await db.run(migrate)
        cluster = await cluster_id(db)
        self._metadata = PgMetadataStore(db, self.config.node_id, self.clock)
        return self._metadata, cluster

    def open_logs(self, configs: ConfigResolver) -> ILogManager:
        assert self._db is not None and self._metadata is not None
        self._configs = configs
        self._logs = PgLogManager(
            self._db,
            self._metadata,
            self.config.node_id,
            self.clock,
            configs.log_config,
            retention_check_interval_ms=self.config.log_retention_check_interval_ms,
        )
        return self._logs

    def cluster(self) -> ICluster | None:
        db, metadata, logs = self._parts()
        # Heartbeats get a connection of their own: a backlog of appends and
        # reads in the pool must never delay a lease renewal past its expiry.
        self._cluster_db = Database(
            self.storage.url or "", self.reactor, 1, name="kafkatwist-pg-cluster",
            idle_timeout_ms=db.idle_timeout_ms,
        )  # fmt: skip
        self._cluster = PgCluster(
            self.config.node_id,
            self._cluster_db,
            metadata,
            self.clock,
            MembershipConfig.from_properties(self.config.properties),
            partial(_become_leader, logs),
            logs.resign,
        )
        return self._cluster

    def markers(self) -> MarkerDelivery | None:
        db, metadata, _ = self._parts()
        self._delivery = PgMarkerDelivery(db, metadata, self.clock, self.config.node_id)
        return self._delivery

    def attach(self, broker: Broker) -> None:
        db, metadata, _ = self._parts()
        service = self._marker_service = PgMarkerService(
            db,
            metadata,
            broker.partitions,
            self.clock,
            on_offsets_marker=broker.groups.txn_offsets.complete,
        )
        broker.cluster.add_listener(service)
        if self._delivery is not None:
            # The coordinator's markers for partitions led here are written at once.
            self._delivery.local = service
        verifier = self._verifier = PgTxnVerifier(
            db, self.clock, self.config.node_id, broker.transactions.coordinator.ensure_partitions
        )
        broker.transactions.remote = verifier
        broker.followers = self._followers = PgFollowerLogs(db, broker.configs.log_config)

    async def directory_id(self) -> uuid.UUID | None:
        return None

    async def load_logs(self) -> None:
        logs, configs = self._logs, self._configs
        assert logs is not None and configs is not None
        await logs.load()
        self._periodic = logs.periodic_service()
        self._periodic.startService()  # type: ignore[no-untyped-call]
        self._producer_expiration = producer_id_expiration(
            self.config,
            self.clock,
            lambda: [log.producer_state for log in logs.all_logs()],
            configs,
        )
        self._producer_expiration.start()
        for started in (self._delivery, self._marker_service, self._verifier, self._followers):
            if started is not None:
                started.start()
        self._cleaner = self._start_cleaner(logs, configs)
        await self._cleaner.start()

    def _start_cleaner(
        self, logs: PgLogManager, configs: ConfigResolver
    ) -> LogCleaner[PgPartitionLog]:
        """
        Kafka's log cleaner over the logs this broker leads (L{kafkatwist.postgres.cleaner}).

        Its passes run in a L{Database} of its own, one connection per
        C{log.cleaner.threads} at start: a pass never holds the connections
        appends and fetches use.
        """
        assert self.storage.url is not None

        def settings() -> CleanerConfig:
            return CleanerConfig.from_layers(configs.layers())

        threads = max(settings().threads, 1)
        db = self._cleaner_db = Database(self.storage.url, self.reactor, threads)
        manager = PgCleanerManager(logs, db, self.config.node_id)
        return LogCleaner.create(manager, self.clock, settings, manager.clean, _in_database(db))

    @property
    def cleaner(self) -> RunningCleaner | None:
        return self._cleaner

    async def close(self) -> None:
        if self._producer_expiration is not None:
            self._producer_expiration.stop()
        # The cleaner stops before the logs close: a running pass is aborted and awaited.
        if self._cleaner is not None:
            await self._cleaner.stop()
        if self._cleaner_db is not None:
            await self._cleaner_db.stop()
        if self._periodic is not None:
            await self._periodic.stopService()  # type: ignore[no-untyped-call]
        for stopped in (self._marker_service, self._verifier):
            if stopped is not None:
                stopped.stop()
        if self._followers is not None:
            self._followers.close()
        if self._logs is not None:
            await self._logs.close()
        if self._metadata is not None:
            self._metadata.close()
        if self._cluster_db is not None:
            await self._cluster_db.stop()
        if self._db is not None:
            await self._db.stop()

    def kill(self) -> None:
        for db in (self._cleaner_db, self._cluster_db):
            if db is not None:
                db.stop()
        if self._metadata is not None:
            self._metadata.close()
        if self._db is not None:
            self._db.stop()
