"""The partition logs a broker leads over PostgreSQL (L{ILogManager}, Kafka's ``LogManager``).

A log exists here only while this broker leads its partition: the cluster's
L{kafkatwist.cluster.local.LeadershipTracker} calls L{PgLogManager.become_leader}
(its C{prepare}) before an election is told, which loads the partition's state
from PostgreSQL (L{kafkatwist.postgres.log_sql.load_partition}), and
L{PgLogManager.resign} (its C{release}) after a resignation. L{get} answers
a loaded log; L{create} gives a fresh empty log for a topic being created
(the image does not know it yet), bound to its topic id and leader epoch at
its election, and refuses one the image knows but this broker has not loaded
(C{NOT_LEADER_OR_FOLLOWER}: another broker leads it, or its load is under way).

Periodic work: L{apply_retention} (``log.retention.check.interval.ms``) runs
each log's set-based retention DELETE.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from attrs import Factory, define, field
from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.logger import Logger

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres import log_sql as sql
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.log import PgPartitionLog
from kafkatwist.postgres.log_state import DEFAULT_TAIL_BYTES
from kafkatwist.postgres.notifier import DataNotifier
from kafkatwist.storage.executor import chain
from kafkatwist.storage.interfaces import IMetadataStore, IPartitionLog

#: Kafka's ``log.retention.check.interval.ms`` default.
RETENTION_CHECK_INTERVAL_MS = 300000


@define(eq=False)
class PgLogManager:
    """
    The logs of the partitions this broker leads, loaded from PostgreSQL (module docstring).

    @ivar log_config: A topic's L{LogConfig} now (static, dynamic and topic layers).
    """

    _db: Database
    _metadata: IMetadataStore
    node_id: int
    _clock: ReactorTime
    _log_config: Callable[[str], LogConfig]
    #: No log dirs: the data is in PostgreSQL.
    log_dirs: Sequence[str] = ()
    tail_bytes: int = DEFAULT_TAIL_BYTES
    retention_check_interval_ms: int = RETENTION_CHECK_INTERVAL_MS
    _logs: dict[tuple[str, int], PgPartitionLog] = Factory(dict)
    #: Per partition, the load under way and the epoch it is for.
    _loading: dict[tuple[str, int], tuple[int, Deferred[IPartitionLog]]] = field(factory=dict)
    #: Tells the followers of each commit (None: no broker follows these logs).
    notifier: DataNotifier | None = field(
        default=Factory(lambda self: DataNotifier(self._db), takes_self=True)
    )

    _log = Logger()

    def load(self) -> Deferred[None]:
        """Nothing to open at start: logs are loaded as this broker becomes their leader."""
        return succeed(None)

    def get(self, topic: str, partition: int) -> PgPartitionLog | None:
        return self._logs.get((topic, partition))

    def partitions(self) -> list[tuple[str, int]]:
        return sorted(self._logs)

    def all_logs(self) -> list[PgPartitionLog]:
        """Every log this broker has loaded (the partitions it leads)."""
        return list(self._logs.values())

    def failed(self) -> Mapping[tuple[str, int], str]:
        return {}

    def log_dir_of(self, topic: str, partition: int) -> str | None:
        return None

    def move_replica(self, topic: str, partition: int, log_dir: str) -> Deferred[None]:
        """There are no log dirs to move between (Kafka's C{LOG_DIR_NOT_FOUND})."""
        return fail(KafkaError(ErrorCode.LOG_DIR_NOT_FOUND, f"no log dir {log_dir} (PostgreSQL)"))

    def update_config(self, topic: str, config: LogConfig) -> None:
        for (name, _), log in self._logs.items():
            if name == topic:
                log.config = config

    # -- leadership --------------------------------------------------------------

    def create(self, topic: str, partition: int, config: LogConfig) -> PgPartitionLog:
        """
        The loaded log, or a new empty one for a partition the image does not know yet.

        @raise KafkaError: C{NOT_LEADER_OR_FOLLOWER} for a partition the image
            knows that this broker has not loaded (it does not lead it, or the
            load is under way).
        """
        key = (topic, partition)
        log = self._logs.get(key)
        if log is not None:
            return log
        state = self._metadata.image.topics.get(topic)
        if state is not None and partition in state.partitions:
            raise KafkaError(
                ErrorCode.NOT_LEADER_OR_FOLLOWER,
                f"broker {self.node_id} has not loaded {topic}-{partition} as its leader",
            )
        placeholder = sql.PartitionKey(topic, uuid.UUID(int=0), partition)
        log = self._new_log(placeholder, -1, config)
        self._logs[key] = log
        return log

    def discard(self, topic: str, partition: int) -> None:
        """Forget a log made by L{create} for a topic whose creation failed."""
        log = self._logs.get((topic, partition))
        if log is not None and not log.is_bound:
            del self._logs[(topic, partition)]

    def _new_log(self, key: sql.PartitionKey, epoch: int, config: LogConfig) -> PgPartitionLog:
        return PgPartitionLog(
            key.topic, key.partition, config, self._db, self._clock, self.node_id, key, epoch,
            tail_bytes=self.tail_bytes, notifier=self.notifier,
        )  # fmt: skip

    def become_leader(
        self, topic: str, partition: int, leader_epoch: int
    ) -> Deferred[IPartitionLog]:
        """
        Load C{topic}-C{partition} as its leader at C{leader_epoch}; fires with the log.

        A log already loaded at that epoch is kept; a new topic's empty log
        (from L{create}) is bound to it; otherwise the state is read from
        PostgreSQL (the fence row must name this broker at C{leader_epoch}).
        L{get} answers the log once this fires.

        @return: Fails with C{NOT_LEADER_OR_FOLLOWER} if PostgreSQL disagrees,
            C{UNKNOWN_TOPIC_OR_PARTITION} if the image has no such partition,
            C{KAFKA_STORAGE_ERROR} if the database is unavailable.
        """
        key = (topic, partition)
        existing = self._logs.get(key)
        state = self._metadata.image.topics.get(topic)
        if state is None or partition not in state.partitions:
            message = f"{topic}-{partition} is not in the metadata"
            return fail(KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message))
        if existing is not None and not existing.is_bound:
            existing.bind(state.topic_id, leader_epoch)
            return succeed(existing)
        if existing is not None and existing.leader_epoch == leader_epoch:
            if existing.key.topic_id == state.topic_id and existing.is_serving:
                return succeed(existing)
        loading = self._loading.get(key)
        if loading is not None and loading[0] == leader_epoch:
            return chain(loading[1])
        if existing is not None:
            self.resign(topic, partition)
        pkey = sql.PartitionKey(topic, state.topic_id, partition)
        log = self._new_log(pkey, leader_epoch, self._log_config(topic))
        done: Deferred[IPartitionLog] = Deferred()
        self._loading[key] = (leader_epoch, done)
        d = self._db.run(partial(sql.load_partition, pkey, self.node_id, leader_epoch))

        def loaded(loaded_state: sql.LoadedPartition) -> IPartitionLog:
            log.apply_loaded(loaded_state)
            if self._loading.get(key, (None, None))[1] is done:
                self._logs[key] = log
            else:
                log.resign()  # resigned (or another epoch) while loading
            return log

        def finished(result: object) -> object:
            if self._loading.get(key, (None, None))[1] is done:
                del self._loading[key]
            return result

        d.addCallback(loaded).addBoth(finished).addCallbacks(done.callback, done.errback)
        return chain(done)

    def resign(self, topic: str, partition: int) -> None:
        """Drop C{topic}-C{partition}: its waiters fail NOT_LEADER_OR_FOLLOWER."""
        key = (topic, partition)
        self._loading.pop(key, None)
        log = self._logs.pop(key, None)
        if log is not None:
            log.resign()

    # -- deletion and periodic work ----------------------------------------------

    def delete_topic(self, topic: str) -> Deferred[None]:
        """
        Drop the topic's logs; delete its rows, and any deleted topic's left behind.

        Called once its RemoveTopicRecord is applied (the C{partitions} rows
        are gone with it): the batches of every topic without C{partitions}
        rows go (L{kafkatwist.postgres.log_sql.delete_topic_data}).
        """
        ids = []
        for key in [k for k in self._logs if k[0] == topic]:
            log = self._logs.pop(key)
            if log.is_bound:
                ids.append(log.key.topic_id)
            log.resign()
        d = self._db.run(partial(sql.delete_topic_data, sorted(set(ids))))
        return d.addCallback(lambda _: None)

    def apply_retention(self, now: int | None = None) -> Deferred[None]:
        """Run every loaded log's retention (set-based DELETEs); fires when all are done."""
        at = now_ms(self._clock) if now is None else now
        runs = [log.apply_retention(at) for log in list(self._logs.values()) if log.is_bound]

        def report(results: list[tuple[bool, int]]) -> None:
            for ok, result in results:
                if not ok:
                    self._log.warn("Retention failed: {error}", error=result)

        done: Deferred[None] = DeferredList(runs, consumeErrors=True).addCallback(report)
        return done

    def periodic_service(self) -> TimerService:
        """A service running L{apply_retention} every ``log.retention.check.interval.ms``."""
        interval = self.retention_check_interval_ms / 1000
        service = TimerService(interval, self.apply_retention)  # type: ignore[no-untyped-call]
        service.clock = self._clock
        return service

    def close(self) -> Deferred[None]:
        """Wait for every log's appends in flight; the logs stay in PostgreSQL."""
        logs, self._logs = list(self._logs.values()), {}
        done = DeferredList([log.close() for log in logs], consumeErrors=True)
        return done.addCallback(lambda _: None)
