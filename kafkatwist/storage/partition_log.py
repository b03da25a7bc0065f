"""One partition's log: offsets, appends, reads, waiters, flushing (Kafka's ``UnifiedLog``).

L{PartitionLog} implements L{kafkatwist.storage.interfaces.IPartitionLog}
over a L{LocalLog} of segments (file layout: L{kafkatwist.storage.segment});
L{kafkatwist.storage.loader.open_partition_log} opens it. Rules it keeps:

- Nothing on the append or read path runs Python per record: appends write
  the pieces from C{assign_offsets} with C{os.writev} and touch the indexes
  once per batch; reads of whole batches run on the reactor thread while
  the page cache holds them, in the read pool otherwise (L{reads}).
- fsync, checkpoint and snapshot writes, closing of file descriptors and
  deletion of files run through C{run_blocking}, one at a time per log in
  submission order (L{SerialExecutor}; flushing: L{LogFlusher}).
- Time comes from the injected C{clock}. An C{OSError} while writing or
  flushing puts the log offline: that call and every later one fail with
  C{KafkaError(KAFKA_STORAGE_ERROR)}; nothing unwritten is acknowledged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from attrs import Factory, define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime, RunBlocking, now_ms
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage import retention, timestamps
from kafkatwist.storage.checkpoints import (
    LEADER_EPOCH_CHECKPOINT,
    SNAPSHOT_SUFFIX,
    EpochEntry,
    file_name,
    write_producer_snapshot,
)
from kafkatwist.storage.epochs import LeaderEpochCache, LeaderEpochFile
from kafkatwist.storage.executor import SerialExecutor, chain
from kafkatwist.storage.files import Fsync, Writev, failed_disk
from kafkatwist.storage.flusher import LogFlusher
from kafkatwist.storage.local_log import LocalLog, check_batch_sizes
from kafkatwist.storage.read_pool import LogReader, ReadPool
from kafkatwist.storage.results import AppendInfo, OffsetAndTimestamp, ReadResult, RecoveryReport
from kafkatwist.storage.segment import Segment
from kafkatwist.storage.swap import CleanedSegment
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.storage.waiters import HighWatermarkWaiters
from kafkatwist.wire.batch import BatchHeader
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.validator import assign_offsets

T = TypeVar("T")


@define(eq=False)
class PartitionLog:
    """
    One partition's log over a L{LocalLog} of segments, the last one active.

    Opened by L{kafkatwist.storage.loader.open_partition_log}, used on the reactor
    thread. The high watermark follows the log end offset, but waits for a flush
    that ``flush.messages`` / ``flush.ms`` require.
    """

    topic: str
    partition: int
    config: LogConfig
    _clock: ReactorTime
    _run_blocking: RunBlocking
    _local: LocalLog
    _log_start_offset: int
    _recovery_point: int  # where the flusher starts; it keeps the current one
    _epochs: LeaderEpochCache
    _producer_state: ProducerStateTable
    recovery: RecoveryReport
    _writev: Writev = os.writev
    _fsync: Fsync = os.fsync
    _epochs_dirty: bool = False
    _high_watermark: int = field(init=False)
    _executor: SerialExecutor = field(init=False)
    _flusher: LogFlusher = field(init=False)
    _retention: retention.LogRetention = field(init=False)
    _waiters: HighWatermarkWaiters = Factory(HighWatermarkWaiters)
    _epoch_file: LeaderEpochFile = field(init=False)
    _offline: str | None = None
    _closing: Deferred[None] | None = None
    _reads: ReadPool = Factory(lambda self: ReadPool(self._run_blocking), takes_self=True)
    _reader: LogReader = field(init=False)

    _log = Logger()

    def __attrs_post_init__(self) -> None:
        self._high_watermark = self._local.log_end_offset
        self._executor = SerialExecutor(self._run_blocking)
        self._reader = LogReader(
            self._local, self._reads, self, self._check_usable, self._go_offline
        )
        self._epoch_file = LeaderEpochFile(
            self._epochs,
            os.path.join(self.directory, LEADER_EPOCH_CHECKPOINT),
            self._executor,
            self._blocking_failed,
            dirty=self._epochs_dirty,
        )
        self._flusher = LogFlusher(
            self._local, self._executor, self._clock, self._fsync, self._epoch_file.take_for_write,
            self._release_high_watermark, self._go_offline, self._recovery_point,
        )  # fmt: skip
        deleter = retention.SegmentDeleter(
            self.directory, self.name, self._clock, self._executor, self._go_offline
        )
        self._retention = retention.LogRetention(
            self._local, deleter, self._roll, self._advance_log_start, self._go_offline
        )

    # -- state ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """C{topic-partition}, for messages."""
        return f"{self.topic}-{self.partition}"

    @property
    def directory(self) -> str:
        """The partition dir, ``<log.dir>/<topic>-<partition>``."""
        return self._local.directory

    @property
    def log_start_offset(self) -> int:
        """The first offset a consumer may fetch."""
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""
        return self._local.log_end_offset

    @property
    def appended_bytes(self) -> int:
        """Bytes appended since the log was opened (only ever grows; long polls estimate by it)."""
        return self._local.appended_bytes

    @property
    def high_watermark(self) -> int:
        """The end of what consumers may read (the log end offset once a required flush is done)."""
        return self._high_watermark

    @property
    def last_stable_offset(self) -> int:
        """What read_committed consumers may read: the HW bounded by open transactions."""
        return self._producer_state.last_stable_offset(self._high_watermark, self._log_start_offset)

    def producer_snapshot_path(self, offset: int) -> str:
        """The path of the producer snapshot taken at C{offset} (``<offset>.snapshot``)."""
        return os.path.join(self.directory, file_name(offset, SNAPSHOT_SUFFIX))

    def ongoing_transactions(self) -> list[tuple[int, int, int]]:
        """C{(producer id, producer epoch, first offset)} of each open transaction, oldest first."""
        return self._producer_state.ongoing_transactions()

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions overlapping C{[fetch_offset, upper_bound)} (from memory)."""
        return self._local.txn_indexes.collect(fetch_offset, upper_bound)

    @property
    def recovery_point(self) -> int:
        """Everything below this offset has been fsynced."""
        return self._flusher.recovery_point

    @property
    def latest_epoch(self) -> int | None:
        """The newest leader epoch in the log, or C{None}."""
        return self._epochs.latest_epoch

    @property
    def epoch_entries(self) -> tuple[EpochEntry, ...]:
        """The leader epoch cache's entries."""
        return self._epochs.entries

    @property
    def is_offline(self) -> bool:
        """Whether a disk error took the log offline."""
        return self._offline is not None

    @property
    def is_closed(self) -> bool:
        """Whether L{close} was called."""
        return self._closing is not None

    @property
    def size_in_bytes(self) -> int:
        """The total size of the segment files (DescribeLogDirs, ListOffsets v0)."""
        return self._local.size_in_bytes

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The segments, oldest first (the last one is active)."""
        return self._local.segments

    @property
    def producer_state(self) -> ProducerStateTable:
        """This partition's producer state, restored at open and updated per appended batch."""
        return self._producer_state

    def end_offset_for_epoch(self, epoch: int) -> Deferred[tuple[int, int]]:
        """OffsetForLeaderEpoch: C{(epoch, end offset)}, or C{(-1, -1)} if unknown."""
        return succeed(self._epochs.end_offset_for(epoch, self.log_end_offset))

    def epoch_for_offset(self, offset: int) -> Deferred[int]:
        """The leader epoch in force at C{offset}, or -1 if unknown."""
        epoch = self._epochs.epoch_for_offset(offset)
        return succeed(-1 if epoch is None else epoch)

    def _check_usable(self) -> None:
        if self._offline is not None:
            raise KafkaError(
                ErrorCode.KAFKA_STORAGE_ERROR, f"{self.name} is offline: {self._offline}"
            )
        if self._closing is not None:
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{self.name} is closed")

    def _answer(self, compute: Callable[[], T]) -> Deferred[T]:
        """An already-fired Deferred: C{compute()}'s value, or why the log or C{compute} refused."""
        try:
            self._check_usable()
            return succeed(compute())
        except KafkaError as e:
            return fail(e)

    def _go_offline(self, reason: str) -> None:
        if self._offline is not None:
            return
        self._offline = reason
        self._log.error(
            "Partition {name} in {directory} is offline: {reason}",
            name=self.name,
            directory=self.directory,
            reason=reason,
        )
        self._waiters.fail_all(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, reason))

    # -- append --------------------------------------------------------------

    def append(
        self,
        buf: Buffer,
        batches: Sequence[tuple[int, BatchHeader]],
        *,
        leader_epoch: int,
        now_ms: int,
    ) -> Deferred[AppendInfo]:
        """
        Append validated batches, assigning offsets from the log end offset.

        C{batches}: the C{(position, header)} list of C{buf} from
        C{validator.validate_produce_records}. Base offsets and leader
        epochs are rewritten (with LogAppendTime also timestamp and CRC),
        the pieces written with C{os.writev}, and the indexes, epoch cache,
        producer state and transaction index updated once per batch.

        @return: A Deferred firing with L{AppendInfo}: at once, unless
            ``flush.messages``/``flush.ms`` make a flush due (then after
            the fsync). Fails with L{KafkaError}: C{MESSAGE_TOO_LARGE},
            C{RECORD_LIST_TOO_LARGE} (more than ``segment.bytes`` at once),
            C{KAFKA_STORAGE_ERROR} (offline, or the write or fsync failed).
        """
        config = self.config
        try:
            self._check_usable()
            total = check_batch_sizes(config, batches)
        except KafkaError as e:
            return fail(e)
        base_offset = self.log_end_offset
        if not batches:
            return succeed(AppendInfo(base_offset, base_offset - 1, -1, self._log_start_offset))
        append_time = now_ms if config.log_append_time else None
        assigned = assign_offsets(
            buf, batches, base_offset, leader_epoch=leader_epoch, log_append_time_ms=append_time
        )
        try:
            if self._local.should_roll(config, total, assigned, len(batches), now_ms):
                self._roll(now_ms)
            self._local.write(self._writev, assigned, batches, total, append_time)
            self._local.index_aborted(self._producer_state.on_appended(buf, batches, base_offset))
        except OSError as e:
            self._go_offline(f"write to {self._local.active.log_path} failed: {e}")
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"append failed: {e}"))
        if leader_epoch >= 0:
            self._epoch_file.assign(leader_epoch, base_offset)
        info = AppendInfo(
            base_offset=base_offset,
            last_offset=assigned.last_offset,
            log_append_time_ms=-1 if append_time is None else append_time,
            log_start_offset=self._log_start_offset,
            max_timestamp=assigned.max_timestamp,
            size=total,
        )
        if self._flusher.is_due(config, now_ms):
            return self._flusher.request(gate=True).addCallback(lambda _: info)
        self._flusher.appended()
        return succeed(info)

    def _roll(self, now_ms: int) -> Segment:
        """Start a new active segment; snapshot producer state; flush, then close, the old fd."""
        old = self._local.active
        new = self._local.roll(self.config, now_ms)
        close = partial(os.close, old.take_fd()) if old.fd >= 0 else (lambda: None)
        self._executor.submit(lambda: close).addErrback(self._blocking_failed, "segment close")
        self._flusher.dir_dirty = True
        self._take_producer_snapshot(new.base_offset)
        self._flusher.request(gate=False).addErrback(lambda _: None)
        return new

    # -- flushing ------------------------------------------------------------

    def flush(self) -> Deferred[None]:
        """Fsync all appended data (off the reactor thread, in order with other flushes)."""
        if self._offline is not None:
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline))
        return self._flusher.flush(epochs_dirty=self._epoch_file.needs_write)

    def fail_disk(self, error: OSError) -> Deferred[None]:
        """A test's failing disk (L{IPartitionLog.fail_disk}): writes and fsyncs raise C{error}."""
        self._writev = partial(failed_disk, error)
        return self._flusher.fail_disk(error)

    def maybe_flush(self, now_ms: int) -> Deferred[None] | None:
        """Flush if ``flush.ms`` has passed since the last flush and data is unflushed."""
        if self._offline is not None or self._closing is not None:
            return None
        return self._flusher.maybe_flush(self.config, now_ms)

    def _take_producer_snapshot(self, offset: int, sync: bool = True) -> None:
        path, entries = self.producer_snapshot_path(offset), self._producer_state.snapshot_entries()
        write = partial(write_producer_snapshot, path, entries, sync=sync)
        self._executor.submit(lambda: write).addErrback(self._blocking_failed, "snapshot write")

    def _blocking_failed(self, failure: Failure, what: str) -> None:
        self._go_offline(f"{what} failed: {failure.getErrorMessage()}")

    # -- high watermark and waiters --------------------------------------------

    def _release_high_watermark(self, offset: int) -> None:
        if self._offline is not None or offset <= self._high_watermark:
            return
        self._high_watermark = offset
        self._producer_state.on_high_watermark(offset)
        self._waiters.release(offset)

    def add_waiter(self, offset: int) -> Deferred[int]:
        """
        A Deferred firing with the high watermark once it is above C{offset} (Fetch long polls).

        Fires at once if it already is. Cancelling it forgets it. It fails
        with C{KAFKA_STORAGE_ERROR} if the log goes offline, and fires with
        the current high watermark when the log is closed.
        """
        if self._offline is not None:
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline))
        if self._high_watermark > offset or self._closing is not None:
            return succeed(self._high_watermark)
        return self._waiters.add(offset)

    # -- reads ---------------------------------------------------------------

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> Deferred[ReadResult]:
        """
        Read whole batches from the one holding C{offset}.

        On the reactor thread (fired at once) while the data is in the page
        cache, else in the read pool (L{kafkatwist.storage.reads}). At most
        C{max_bytes} bytes, except that with C{min_one_message} the first
        batch is returned whole however large it is; nothing at or beyond
        C{max_offset} (default: the high watermark). Fails with L{KafkaError}:
        C{OFFSET_OUT_OF_RANGE} if C{offset} is below the log start offset or above the log
        end offset; C{KAFKA_STORAGE_ERROR} if the log is offline or closed.
        """
        return self._reader.read(offset, max_bytes, max_offset, min_one_message)

    def offset_for_timestamp(self, timestamp: int) -> Deferred[OffsetAndTimestamp | None]:
        """
        ListOffsets: the first record with a timestamp >= C{timestamp} below the high watermark.

        See L{timestamps.offset_for_timestamp}; also -2/-4 (log start), -1 (high
        watermark), -3 (L{max_timestamp}). Fires with C{None} if none qualifies.
        """
        return self._offset_for_timestamp(timestamp)

    def _offset_for_timestamp(self, timestamp: int) -> Deferred[OffsetAndTimestamp | None]:
        args = (self._local, timestamp, self._epochs, self._log_start_offset, self._high_watermark)
        lookup = partial(timestamps.offset_for_timestamp, *args, self.config.max_message_bytes)
        return self._answer(lookup).addCallback(timestamps.finish, self._run_blocking)

    def max_timestamp(self) -> Deferred[OffsetAndTimestamp | None]:
        """ListOffsets ``MAX_TIMESTAMP`` (-3): the first record with the largest timestamp."""
        return self._offset_for_timestamp(timestamps.MAX_TIMESTAMP)

    # -- deletion ------------------------------------------------------------

    def delete_records_before(self, offset: int) -> Deferred[int]:
        """
        DeleteRecords: move the log start offset up to C{offset} (-1: the high watermark).

        Whole segments below the new log start offset are deleted; the log manager persists
        the offset in ``log-start-offset-checkpoint``. Fires with the new log start offset
        (the partition's low watermark); fails with C{OFFSET_OUT_OF_RANGE} if C{offset} is
        above the high watermark (or negative other than -1).
        """
        return self._answer(partial(self._delete_records_before, offset))

    def _delete_records_before(self, offset: int) -> int:
        self._retention.delete_records_before(
            offset, self.config, self._log_start_offset, self._high_watermark, now_ms(self._clock)
        )
        return self._log_start_offset

    def _advance_log_start(self, offset: int) -> None:
        if offset <= self._log_start_offset:
            return
        self._log_start_offset = offset
        self._epoch_file.truncate_from_start(offset)
        self._producer_state.on_log_start_offset(offset)

    def apply_retention(self, now_ms: int) -> int:
        """Delete old segments by retention (L{kafkatwist.storage.retention}); return how many."""
        if self._offline is not None or self._closing is not None:
            return 0
        return self._retention.apply(
            self.config, self._high_watermark, lambda: self._log_start_offset, now_ms
        )

    # -- compaction (L{kafkatwist.storage.cleaner}) -----------------------------

    def replace_segments(self, cleaned: CleanedSegment, old: Sequence[Segment]) -> None:
        """The cleaner's swap (L{LogRetention.replace_segments}); reactor thread."""
        self._check_usable()
        self._retention.replace_segments(cleaned, old, self.config.file_delete_delay_ms)
        self._flusher.dir_dirty = True
        self._flusher.request(gate=False).addErrback(lambda _: None)

    # -- closing -------------------------------------------------------------

    def close(self, *, sync: bool = True) -> Deferred[None]:
        """
        Flush, write epochs and (if due) the producer snapshot, trim
        the indexes, close every file, remove pending ``.deleted`` files, fire waiters.

        Fails with C{KAFKA_STORAGE_ERROR} (after closing the files) if the log was or went
        offline, so no clean-shutdown marker is written for it. With C{sync=False} nothing
        is fsynced: the caller syncs the file system, then calls L{mark_durable}.
        """
        if self._closing is not None:
            return chain(self._closing)
        done: Deferred[None] = Deferred()
        self._closing = done
        if self._offline is None:
            if self._producer_state.snapshot_due_at_close(self._local.active.size):
                self._take_producer_snapshot(self.log_end_offset, sync)
            self._epoch_file.prepare_close(sync)
            flushed = self._flusher.request(gate=False) if sync else self._flusher.write_unsynced()
        else:
            flushed = fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline))
        outcome: list[Failure] = []
        flushed.addErrback(outcome.append)
        pending = self._retention.cancel_pending()

        def finished(result: object) -> None:
            self._waiters.fire_all(self._high_watermark)
            if isinstance(result, Failure):
                self._go_offline(f"closing files failed: {result.getErrorMessage()}")
                outcome.append(result)
            if outcome or self._offline is not None:
                reason = self._offline or "close failed"
                done.errback(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, reason))
            else:
                done.callback(None)

        # Reads in the pool use descriptors of their own; the files close after them anyway.
        drained = self._reader.drained()
        drained.addCallback(lambda _: self._executor.submit(lambda: self._local.close_job(pending)))
        drained.addBoth(finished)
        return chain(done)

    def mark_durable(self) -> None:
        """After C{close(sync=False)} and a sync of the file system: everything is flushed."""
        self._flusher.recovery_point = max(self.recovery_point, self.log_end_offset)
