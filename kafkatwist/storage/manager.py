"""LogManager: the partition logs under ``log.dirs``, recovery, checkpoints, periodic work.

Kafka's ``LogManager``.

Layout of each log dir (Kafka's): ``<topic>-<partition>/`` per partition
(see L{kafkatwist.storage.partition_log}), ``recovery-point-offset-checkpoint`` and
``log-start-offset-checkpoint`` in the root, and ``.kafka_cleanshutdown``
after a clean stop. ``__cluster_metadata-0`` belongs to the metadata
engine and is left alone; ``<topic>-<partition>.<id>-delete`` and ``-future`` dirs
are removed at load (see L{kafkatwist.storage.log_move}); ``-stray`` dirs are skipped.

Public surface: L{LogManager.load} (open every partition through
C{run_blocking}, at most C{recovery_threads_per_data_dir} at a time per
dir; after a clean shutdown the files are trusted and the marker deleted,
else each partition is recovered from its recovery point, every truncation
logged), L{LogManager.get}, L{LogManager.create}, L{LogManager.delete_topic},
L{LogManager.delete_partition}, L{LogManager.update_config},
L{LogManager.move_replica} (AlterReplicaLogDirs,
L{kafkatwist.storage.log_move}), the periodic work (L{LogManager.checkpoint},
L{LogManager.flush_dirty}, L{LogManager.apply_retention},
L{LogManager.start_periodic}) and L{LogManager.close}.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from attrs import Factory, define, field
from twisted.application.internet import TimerService
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, DeferredList, DeferredSemaphore, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime, RunBlocking, now_ms
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.checkpoints import remove_clean_shutdown
from kafkatwist.storage.executor import BatchingRunBlocking
from kafkatwist.storage.loader import open_partition_log
from kafkatwist.storage.log_dirs import (
    DELETE_DIR_SUFFIX,
    OPEN_CHUNK,
    DirScan,
    Opened,
    finish_clean_shutdown,
    log_recovery,
    open_partitions,
    parse_partition_dir,
    scan_log_dir,
    sync_log_dir,
    write_checkpoints,
)
from kafkatwist.storage.log_move import LogMove, MoveQueue
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.read_pool import ReadPool

__all__ = ["LogManager", "parse_partition_dir"]


@define(eq=False)
class LogManager:
    """
    Owns the L{PartitionLog}s of every log dir.

    Implements L{kafkatwist.storage.interfaces.ILogManager}; every log has
    its own L{kafkatwist.producers.state.ProducerStateTable}.

    @ivar recovery_threads_per_data_dir: Kafka's
        ``num.recovery.threads.per.data.dir``: how many partitions of one
        dir are opened at once.
    """

    log_dirs: Sequence[str]
    #: The L{LogConfig} of a topic, for the logs opened by L{load}.
    _log_config: Callable[[str], LogConfig]
    _clock: ReactorTime = field(kw_only=True)
    _run_blocking: RunBlocking = field(kw_only=True)
    #: Where reads of data not in the page cache run (default: C{run_blocking}, 8 at a time).
    read_pool: ReadPool = field(
        kw_only=True, default=Factory(lambda self: ReadPool(self._run_blocking), takes_self=True)
    )
    recovery_threads_per_data_dir: int = field(kw_only=True, default=1)
    retention_check_interval_ms: int = field(kw_only=True, default=300000)
    flush_check_interval_ms: int = field(kw_only=True, default=1000)
    checkpoint_interval_ms: int = field(kw_only=True, default=60000)
    broker_epoch: int = field(kw_only=True, default=-1)
    #: Kafka's ``InitialTaskDelayMs``: the delay before the first periodic run.
    initial_task_delay_ms: int = field(kw_only=True, default=30000)
    _periodic_start: DelayedCall | None = None
    _logs: dict[tuple[str, int], PartitionLog] = Factory(dict)
    _dir_of: dict[tuple[str, int], str] = Factory(dict)
    #: How many partitions each log dir holds (kept with C{_dir_of}: creating
    #: a partition must not count them all again).
    _dir_counts: Counter[str] = Factory(Counter)
    _failed: dict[tuple[str, int], str] = Factory(dict)
    _moves: MoveQueue = Factory(MoveQueue)
    _periodic: MultiService | None = None
    _closed: bool = False
    #: The logs' C{run_blocking}: batches their jobs while closing.
    _blocking: BatchingRunBlocking = field(init=False)

    _log = Logger()

    def __attrs_post_init__(self) -> None:
        self._blocking = BatchingRunBlocking(self._run_blocking)

    # -- lookup ----------------------------------------------------------------

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        """The open log of C{topic}-C{partition}, or C{None}."""
        return self._logs.get((topic, partition))

    def partitions(self) -> list[tuple[str, int]]:
        """Every open partition, sorted."""
        return sorted(self._logs)

    def all_logs(self) -> list[PartitionLog]:
        """Every open log."""
        return [self._logs[key] for key in sorted(self._logs)]

    def failed(self) -> Mapping[tuple[str, int], str]:
        """Partitions that could not be opened at load, with the reason."""
        return dict(self._failed)

    def log_dir_of(self, topic: str, partition: int) -> str | None:
        """The log dir that holds C{topic}-C{partition}."""
        return self._dir_of.get((topic, partition))

    def update_config(self, topic: str, config: LogConfig) -> None:
        """Apply C{topic}'s new storage settings to its open logs (after AlterConfigs)."""
        for (t, _), log in self._logs.items():
            if t == topic:
                log.config = config

    # -- loading ---------------------------------------------------------------

    def load(self) -> Deferred[None]:
        """
        Open every partition of every log dir; see the module docstring.

        A partition that fails to open is logged and listed in L{failed};
        the others still load.
        """
        return Deferred.fromCoroutine(self._load())

    async def _load(self) -> None:
        for log_dir in self.log_dirs:
            started = self._clock.seconds()
            scan: DirScan = await self._run_blocking(partial(scan_log_dir, log_dir))
            for note in scan.notes:
                self._log.warn("{log_dir}: {note}", log_dir=log_dir, note=note)
            for path in scan.doomed:
                self._log.info("Removing {path}, left over from a deletion", path=path)
                await self._run_blocking(partial(shutil.rmtree, path, True))
            # A few thread-pool jobs open every partition, one chunk after another.
            configs: dict[str, LogConfig] = {}
            openers = []
            for topic, partition, path in scan.partitions:
                key = (topic, partition)
                if topic not in configs:
                    configs[topic] = self._log_config(topic)
                opener = partial(
                    open_partition_log,
                    path,
                    topic,
                    partition,
                    configs[topic],
                    clock=self._clock,
                    run_blocking=self._blocking,
                    reads=self.read_pool,
                    recover=not scan.clean,
                    recovery_point=scan.recovery_points.get(key, 0),
                    log_start_offset=scan.log_starts.get(key, 0),
                )
                openers.append((key, opener))
            threads = max(self.recovery_threads_per_data_dir, 1)
            semaphore = DeferredSemaphore(threads)
            size = max(min(OPEN_CHUNK, -(-len(openers) // threads)), 1)
            chunks = [openers[i : i + size] for i in range(0, len(openers), size)]
            jobs = [semaphore.run(self._run_blocking, partial(open_partitions, c)) for c in chunks]
            for job in jobs:
                job.addCallback(self._opened_chunk, log_dir)
            for ok, value in await DeferredList(jobs, consumeErrors=True):
                if not ok and isinstance(value, Failure):
                    self._log.failure(
                        "Opening partitions of {log_dir} failed", value, log_dir=log_dir
                    )
            if scan.clean:
                await self._run_blocking(partial(remove_clean_shutdown, log_dir))
            self._log.info(
                "Loaded {count} partitions from {log_dir} in {seconds:.3f}s {kind}",
                count=len(scan.partitions),
                log_dir=log_dir,
                seconds=self._clock.seconds() - started,
                kind="(a new log dir)"
                if scan.fresh
                else "after a clean shutdown"
                if scan.clean
                else "after an unclean shutdown",
            )

    def _opened_chunk(self, outcomes: list[Opened], log_dir: str) -> None:
        for key, outcome in outcomes:
            if isinstance(outcome, Failure):
                self._open_failed(outcome, log_dir, key)
            else:
                self._opened(outcome, log_dir)

    def _opened(self, log: PartitionLog, log_dir: str) -> None:
        key = (log.topic, log.partition)
        self._logs[key] = log
        self._place(key, log_dir)
        log_recovery(self._log, log)

    def _open_failed(self, failure: Failure, log_dir: str, key: tuple[str, int]) -> None:
        self._failed[key] = failure.getErrorMessage()
        self._log.failure(
            "Could not open {topic}-{partition} in {log_dir}",
            failure,
            topic=key[0],
            partition=key[1],
            log_dir=log_dir,
        )

    # -- creation and deletion ---------------------------------------------------

    def create(self, topic: str, partition: int, config: LogConfig) -> PartitionLog:
        """
        The log of C{topic}-C{partition}; a new one in ``<log.dir>/<topic>-<partition>``
        of the log dir holding the fewest partitions (as Kafka picks), made
        synchronously (a directory and empty files; no ``partition.metadata``).

        @raise KafkaError: C{KAFKA_STORAGE_ERROR} (Kafka's C{KafkaStorageException})
            when the files cannot be made; nothing of the partition is left.
        """
        key = (topic, partition)
        existing = self._logs.get(key)
        if existing is not None:
            return existing
        log_dir = min(self.log_dirs, key=lambda d: self._dir_counts[d])
        path = os.path.join(log_dir, f"{topic}-{partition}")
        existed = os.path.exists(path)
        try:
            log = open_partition_log(
                path,
                topic,
                partition,
                config,
                clock=self._clock,
                run_blocking=self._blocking,
                reads=self.read_pool,
                recover=False,
            )
        except OSError as e:
            if not existed:
                shutil.rmtree(path, ignore_errors=True)
            message = f"Error while creating log for {topic}-{partition} in dir {log_dir}: {e}"
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, message) from e
        self._logs[key] = log
        self._place(key, log_dir)
        return log

    def move_replica(self, topic: str, partition: int, log_dir: str) -> Deferred[None]:
        """Move the open log to C{log_dir}, one of L{log_dirs}, after any move under way."""
        return self._moves.then((topic, partition), partial(self._move, topic, partition, log_dir))

    def _move(self, topic: str, partition: int, log_dir: str) -> Deferred[None]:
        key = (topic, partition)
        if (log := self._logs.get(key)) is None or self._dir_of.get(key) == log_dir:
            return succeed(None)
        reopen = partial(
            open_partition_log, topic=topic, partition=partition, config=log.config,
            clock=self._clock, run_blocking=self._blocking, reads=self.read_pool, recover=False,
        )  # fmt: skip
        current = partial(self._is_current, key, log)
        return LogMove(log, log_dir, self._run_blocking, reopen, self._opened, current).run()

    def _is_current(self, key: tuple[str, int], log: PartitionLog) -> bool:
        return self._logs.get(key) is log

    def _place(self, key: tuple[str, int], log_dir: str) -> None:
        self._unplace(key)
        self._dir_of[key] = log_dir
        self._dir_counts[log_dir] += 1

    def _unplace(self, key: tuple[str, int]) -> str | None:
        log_dir = self._dir_of.pop(key, None)
        if log_dir is not None:
            self._dir_counts[log_dir] -= 1
        return log_dir

    def discard(self, topic: str, partition: int) -> None:
        """
        Forget a log created moments ago, unused, and remove its dir now (a failed creation);
        without an open log, any dir of its name (left by a creation that failed) is removed.
        """
        log = self._logs.pop((topic, partition), None)
        self._unplace((topic, partition))
        if log is not None:
            for segment in log.segments:
                segment.close_maps()
                segment.close_files()
            shutil.rmtree(log.directory, ignore_errors=True)
            return
        for log_dir in self.log_dirs:
            shutil.rmtree(os.path.join(log_dir, f"{topic}-{partition}"), ignore_errors=True)

    def delete_partition(self, topic: str, partition: int) -> Deferred[None]:
        """
        Close the log; rename its dir to Kafka's ``<topic>-<partition>.<uuid hex>-delete``
        and remove it at once (Kafka waits ``file.delete.delay.ms``; a leftover is
        removed at the next load).
        """
        key = (topic, partition)
        log = self._logs.pop(key, None)
        log_dir = self._unplace(key)
        if log is None or log_dir is None:
            return succeed(None)
        doomed = os.path.join(log_dir, f"{topic}-{partition}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}")

        def remove(_: object) -> Deferred[None]:
            def blocking() -> None:
                os.rename(log.directory, doomed)
                shutil.rmtree(doomed, ignore_errors=True)

            return self._run_blocking(blocking)

        d = log.close()
        d.addErrback(lambda _: None)
        d.addCallback(remove)
        return d

    def delete_topic(self, topic: str) -> Deferred[None]:
        """Delete every partition of C{topic} (see L{delete_partition})."""
        keys = [key for key in self._logs if key[0] == topic]
        done = DeferredList([self.delete_partition(*key) for key in keys], consumeErrors=True)
        return done.addCallback(lambda _: None)

    # -- periodic work -----------------------------------------------------------

    def _now_ms(self) -> int:
        return now_ms(self._clock)

    def _dir_checkpoints(
        self, log_dir: str
    ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        recovery_points = {}
        log_starts = {}
        for key, log in self._logs.items():
            if self._dir_of.get(key) == log_dir and not log.is_offline:
                recovery_points[key] = log.recovery_point
                log_starts[key] = log.log_start_offset
        return recovery_points, log_starts

    def checkpoint(self) -> Deferred[None]:
        """Write every dir's recovery point and log start offset checkpoints (off-thread)."""
        writes = []
        for log_dir in self.log_dirs:
            recovery_points, log_starts = self._dir_checkpoints(log_dir)
            writes.append(
                self._run_blocking(partial(write_checkpoints, log_dir, recovery_points, log_starts))
            )
        return DeferredList(writes, consumeErrors=True).addCallback(
            self._report_errors, "checkpoint"
        )

    def _report_errors(self, results: list[tuple[bool, Any]], what: str) -> None:
        for ok, value in results:
            if not ok:
                self._log.failure("Periodic {what} failed", value, what=what)

    def flush_dirty(self, now_ms: int | None = None) -> Deferred[None]:
        """Flush the logs whose ``flush.ms`` has elapsed."""
        now = self._now_ms() if now_ms is None else now_ms
        flushes = [d for d in (log.maybe_flush(now) for log in self.all_logs()) if d is not None]
        return DeferredList(flushes, consumeErrors=True).addCallback(self._report_errors, "flush")

    def apply_retention(self, now_ms: int | None = None) -> int:
        """Apply retention to every log; return the number of segments deleted."""
        now = self._now_ms() if now_ms is None else now_ms
        deleted = 0
        for log in self.all_logs():
            if not log.is_offline:
                deleted += log.apply_retention(now)
        return deleted

    def periodic_service(self, clock: ReactorTime | None = None) -> MultiService:
        """
        A service running retention, ``flush.ms`` flushes and checkpoints on C{clock}.

        Three C{TimerService}s (steps ``retention_check_interval_ms``,
        ``flush_check_interval_ms``, ``checkpoint_interval_ms``); a
        TimerService waits for a returned Deferred before its next step.
        """
        clock = self._clock if clock is None else clock
        service = MultiService()  # type: ignore[no-untyped-call]
        for interval_ms, work in (
            (self.retention_check_interval_ms, self._retention_step),
            (self.flush_check_interval_ms, self.flush_dirty),
            (self.checkpoint_interval_ms, self.checkpoint),
        ):
            timer = TimerService(interval_ms / 1000.0, work)  # type: ignore[no-untyped-call]
            timer.clock = clock
            timer.setServiceParent(service)  # type: ignore[no-untyped-call]
        return service

    def _retention_step(self) -> None:
        try:
            self.apply_retention()
        except Exception:
            self._log.failure("Retention check failed")

    def start_periodic(self, clock: ReactorTime | None = None) -> MultiService:
        """
        Start L{periodic_service} after L{initial_task_delay_ms} (stopped by L{close}).

        Kafka's LogManager schedules retention, flushes and checkpoints with
        an initial delay (``InitialTaskDelayMs``, 30 s), so a broker that
        starts on old data serves it for a while before the first check.
        """
        if self._periodic is None:
            clock = self._clock if clock is None else clock
            self._periodic = self.periodic_service(clock)
            self._periodic_start = clock.callLater(
                self.initial_task_delay_ms / 1000.0, self._periodic.startService
            )
        return self._periodic

    # -- closing -----------------------------------------------------------------

    def close(self) -> Deferred[None]:
        """
        Stop periodic work, close every log (flushing it, writing its snapshot and
        epochs, trimming its indexes), then write checkpoints and, in dirs where
        every log closed cleanly, ``.kafka_cleanshutdown``.
        """
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._periodic_start is not None and self._periodic_start.active():
            self._periodic_start.cancel()
        if self._periodic is not None:
            if self._periodic.running:
                await self._periodic.stopService()  # type: ignore[no-untyped-call]
            self._periodic = None
        # Every log closes without an fsync, its jobs batched into few thread-pool
        # jobs; then one syncfs per log dir makes all of it durable (Kafka's
        # shutdown flushes each log, but its threads do not hop per file).
        keys = sorted(self._logs)
        self._blocking.batching = True
        closing = [self._logs[key].close(sync=False) for key in keys]
        self._blocking.dispatch()
        results = await DeferredList(closing, consumeErrors=True)
        self._blocking.stop_batching()
        broken_dirs = {
            self._dir_of[key] for key, (ok, _) in zip(keys, results, strict=True) if not ok
        }
        for key, (ok, value) in zip(keys, results, strict=True):
            if not ok:
                self._log.error(
                    "Closing {topic}-{partition} failed: {error}",
                    topic=key[0],
                    partition=key[1],
                    error=value.getErrorMessage() if isinstance(value, Failure) else value,
                )
        for log_dir in self.log_dirs:
            clean = log_dir not in broken_dirs
            try:
                await self._run_blocking(partial(sync_log_dir, log_dir))
            except Exception:
                self._log.failure("Syncing {log_dir} failed", log_dir=log_dir)
                clean = False
            else:
                for key, (ok, _) in zip(keys, results, strict=True):
                    if ok and self._dir_of[key] == log_dir:
                        self._logs[key].mark_durable()
            recovery_points, log_starts = self._dir_checkpoints(log_dir)
            finish = partial(
                finish_clean_shutdown,
                log_dir,
                recovery_points,
                log_starts,
                clean,
                self.broker_epoch,
            )
            try:
                await self._run_blocking(finish)
            except Exception:
                self._log.failure("Writing the checkpoints of {log_dir} failed", log_dir=log_dir)
