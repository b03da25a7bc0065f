"""Making a partition log durable: fsyncs, the recovery point, high watermark gates.

Kafka's ``UnifiedLog.flush`` / ``LocalLog.flush`` with the flush policy of
``flush.messages`` and ``flush.ms``: L{LogFlusher} queues fsyncs of the
segments above the recovery point on the log's L{SerialExecutor}. Flush
requests made while one is queued but not started share it (group commit).
An append that makes a flush due "gates" the high watermark: it does not
pass that append's end until the fsync completed.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from functools import partial

from attrs import Factory, define
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.checkpoints import (
    LEADER_EPOCH_CHECKPOINT,
    EpochEntry,
    write_leader_epoch_checkpoint,
)
from kafkatwist.storage.executor import FlushJob, SerialExecutor
from kafkatwist.storage.files import Fsync, failed_disk, fsync_directory, fsync_path
from kafkatwist.storage.local_log import LocalLog

LONG_MAX = 2**63 - 1


@define(eq=False)
class LogFlusher:
    """
    The fsync side of one partition log.

    @ivar recovery_point: Everything below this offset has been fsynced.
    @ivar dir_dirty: Whether the partition dir gained or lost entries since
        the last fsync of it (a roll).
    """

    _local: LocalLog
    _executor: SerialExecutor
    _clock: ReactorTime
    _fsync: Fsync
    #: The leader epochs to write with the next flush, if they changed.
    _take_epochs: Callable[[], tuple[EpochEntry, ...] | None]
    #: Called with the offset the high watermark may move up to.
    _release: Callable[[int], None]
    #: Called with the reason when an fsync fails (the log goes offline).
    _failed: Callable[[str], None]
    recovery_point: int
    dir_dirty: bool = False
    _last_flush_ms: int = 0
    _queued: FlushJob | None = None
    _seq: int = 0
    _gates: deque[tuple[int, int]] = Factory(deque)

    def __attrs_post_init__(self) -> None:
        self._last_flush_ms = self._now_ms()

    def _now_ms(self) -> int:
        return now_ms(self._clock)

    def is_due(self, config: LogConfig, now_ms: int) -> bool:
        """Whether ``flush.messages`` or ``flush.ms`` requires a flush after an append."""
        unflushed = self._local.log_end_offset - self.recovery_point
        return unflushed >= config.flush_messages or (
            config.flush_ms < LONG_MAX and now_ms - self._last_flush_ms >= config.flush_ms
        )

    def appended(self) -> None:
        """An append needs no flush: the high watermark follows, behind any open gate."""
        log_end = self._local.log_end_offset
        if self._gates:
            self._gates.append((self._gates[-1][0], log_end))
        else:
            self._release(log_end)

    def request(self, *, gate: bool) -> Deferred[None]:
        """
        A Deferred firing once everything appended so far is fsynced.

        Requests made while a flush is queued but not started share it. With
        C{gate}, the high watermark will not pass the current log end offset
        until that flush completes.
        """
        job = self._queued
        new = job is None
        if job is None:
            self._seq += 1
            job = self._queued = FlushJob(self._seq)
        d: Deferred[None] = Deferred()
        job.waiters.append(d)
        if gate:
            self._gates.append((job.seq, self._local.log_end_offset))
        if new:
            self._executor.submit(partial(self._prepare, job)).addBoth(self._finished, job)
        return d

    def _prepare(self, job: FlushJob) -> Callable[[], None]:
        if self._queued is job:
            self._queued = None
        job.target = self._local.log_end_offset
        fds = []
        paths: list[str] = []
        for segment in self._local.segments_from(self.recovery_point):
            fd, more = segment.flush_targets()
            if fd >= 0:
                fds.append(fd)
            paths.extend(more)
        paths.extend(self._local.txn_indexes.paths_from(self.recovery_point))
        sync_dir = self.dir_dirty
        self.dir_dirty = False
        epochs = self._take_epochs()
        directory = self._local.directory
        fsync = self._fsync

        def flush() -> None:
            for fd in fds:
                fsync(fd)
            for path in paths:
                fsync_path(path, fsync)
            if sync_dir:
                fsync_directory(directory, fsync)
            if epochs is not None:
                write_leader_epoch_checkpoint(
                    os.path.join(directory, LEADER_EPOCH_CHECKPOINT), epochs
                )

        return flush

    def _finished(self, result: object, job: FlushJob) -> None:
        if isinstance(result, Failure):
            reason = f"flush failed: {result.getErrorMessage()}"
            self._failed(reason)
            for d in job.waiters:
                d.errback(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, reason))
            return
        self.recovery_point = max(self.recovery_point, job.target)
        self._last_flush_ms = self._now_ms()
        released = None
        while self._gates and self._gates[0][0] <= job.seq:
            released = self._gates.popleft()[1]
        if released is not None:
            self._release(released)
        for d in job.waiters:
            d.callback(None)

    def flush(self, *, epochs_dirty: bool) -> Deferred[None]:
        """Fsync all appended data; at once if nothing is unflushed or pending."""
        if (
            self.recovery_point >= self._local.log_end_offset
            and not epochs_dirty
            and not self.dir_dirty
            and self._queued is None
            and self._executor.idle
        ):
            return succeed(None)
        return self.request(gate=False)

    def fail_disk(self, error: OSError) -> Deferred[None]:
        """
        A test's failing disk (L{kafkatwist.storage.interfaces.IPartitionLog.fail_disk}): every
        fsync from now on raises C{error}. One starts at once, so the log goes offline as after
        any failed fsync; fires once it has run.
        """
        self._fsync = partial(failed_disk, error)
        return self.request(gate=False).addErrback(lambda _: None)

    def write_unsynced(self) -> Deferred[None]:
        """
        Write pending leader epochs without any fsync, in order with the flushes.

        For a clean shutdown whose caller syncs the whole file system
        afterwards (then the recovery point is the log end offset).
        """

        def prepare() -> Callable[[], None]:
            epochs = self._take_epochs()
            if epochs is None:
                return lambda: None
            path = os.path.join(self._local.directory, LEADER_EPOCH_CHECKPOINT)
            return partial(write_leader_epoch_checkpoint, path, epochs, sync=False)

        return self._executor.submit(prepare).addCallback(lambda _: None)

    def maybe_flush(self, config: LogConfig, now_ms: int) -> Deferred[None] | None:
        """Flush if ``flush.ms`` has passed since the last flush and data is unflushed."""
        if config.flush_ms >= LONG_MAX or self._local.log_end_offset <= self.recovery_point:
            return None
        if now_ms - self._last_flush_ms < config.flush_ms:
            return None
        return self.request(gate=False)
