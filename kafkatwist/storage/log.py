"""Partition logs in Kafka's on-disk format: segments, indexes, flushing, retention, recovery.

A partition dir ``<log.dir>/<topic>-<partition>`` holds, as in Kafka:

- segments ``<base offset, 20 digits>.log`` with RecordBatch v2 bytes exactly
  as produced (only the base offset and partition leader epoch rewritten, by
  L{kafkatwist.wire.records.assign_offsets});
- their ``.index`` and ``.timeindex`` (see L{kafkatwist.storage.index});
- ``leader-epoch-checkpoint`` and producer ``<offset>.snapshot`` files (see
  L{kafkatwist.storage.checkpoints}); files being deleted carry ``.deleted``.

Public surface:

- L{LogConfig}: per-topic settings under Kafka's names, with
  L{LogConfig.from_topic_configs} (built by L{kafkatwist.config.resolver}).
- L{PartitionLog}, opened with L{PartitionLog.open}; L{AppendInfo},
  L{ReadResult}, L{OffsetAndTimestamp}, L{RecoveryReport}, L{Truncation}.
- L{LeaderEpochCache} (Kafka's ``LeaderEpochFileCache`` rules).
- L{ProducerStateHooks}: what the producer-state engine
  (L{kafkatwist.producers.state.ProducerStateTable}) plugs in.
- L{Segment}, used by L{PartitionLog} and tests.

Rules the code keeps:

- Nothing on the append or read path runs Python per record. Appends take
  the batch headers found by validation, write the pieces from
  C{assign_offsets} with C{os.writev}, and touch the indexes once per batch.
  Reads locate the batch through the offset index plus a scan of at most
  about C{index.interval.bytes} of batch headers, then C{os.pread} whole
  batches (synchronous page-cache reads on the reactor thread).
- fsync, checkpoint and snapshot writes, closing of file descriptors and
  deletion of files run through C{run_blocking}, one at a time per log in
  submission order (L{_SerialExecutor}); flush requests made while one is
  queued share it (group commit).
- Time comes from the injected C{clock}; nothing here reads the wall clock.
- An C{OSError} while writing or flushing puts the log offline: the failing
  call and every later one fail with C{KafkaError(KAFKA_STORAGE_ERROR)} and
  nothing unwritten is acknowledged.
"""

from __future__ import annotations

import bisect
import errno
import os
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from attrs import Factory, define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.checkpoints import (
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LEADER_EPOCH_CHECKPOINT,
    LOG_SUFFIX,
    SNAPSHOT_SUFFIX,
    TIME_INDEX_SUFFIX,
    CorruptCheckpointError,
    CorruptSnapshotError,
    EpochEntry,
    file_name,
    offset_from_file_name,
    read_leader_epoch_checkpoint,
    read_producer_snapshot,
    write_leader_epoch_checkpoint,
    write_producer_snapshot,
)
from kafkatwist.storage.index import (
    NO_TIMESTAMP,
    CorruptIndexError,
    OffsetIndex,
    TimeIndex,
)
from kafkatwist.storage.results import (
    AppendInfo,
    OffsetAndTimestamp,
    ReadResult,
    RecoveryReport,
    Truncation,
)
from kafkatwist.wire import records
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.records import BATCH_HEADER_SIZE, LOG_OVERHEAD, BatchHeader

T = TypeVar("T")
RunBlocking = Callable[[Callable[[], Any]], Deferred]

LONG_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

#: ListOffsets' special timestamps (Kafka's C{ListOffsetsRequest}).
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4

_PREFIX = struct.Struct(">qi")  # base offset, batch length
_I32 = struct.Struct(">i")
_LAST_OFFSET_DELTA_AT = 23
_MAGIC_AT = 16
_CRC_FROM = 21
_MIN_PREFIX = _LAST_OFFSET_DELTA_AT + 4
_RECOVERY_CHUNK = 8 * 1024 * 1024
_IOV_MAX = 1024


class LeaderEpochCache:
    """
    Leader epochs and the offset each began at (Kafka's ``LeaderEpochFileCache``).

    Only the in-memory rules live here; L{PartitionLog} persists the entries
    to ``leader-epoch-checkpoint``.
    """

    def __init__(self, entries: Iterable[EpochEntry] = ()) -> None:
        self._entries: list[EpochEntry] = list(entries)

    @property
    def entries(self) -> tuple[EpochEntry, ...]:
        """The entries, oldest first."""
        return tuple(self._entries)

    @property
    def latest_epoch(self) -> int | None:
        """The newest epoch, or C{None} when empty."""
        return self._entries[-1].epoch if self._entries else None

    def assign(self, epoch: int, start_offset: int) -> bool:
        """
        Record that C{epoch} starts at C{start_offset}; return whether anything changed.

        As in Kafka, nothing changes when C{epoch} is already the latest
        with an earlier or equal start; otherwise entries whose epoch or
        start offset is not below the new one are dropped first.
        """
        if epoch < 0 or start_offset < 0:
            return False
        if self._entries:
            latest = self._entries[-1]
            if latest.epoch == epoch and start_offset >= latest.start_offset:
                return False
        while self._entries and (
            self._entries[-1].epoch >= epoch or self._entries[-1].start_offset >= start_offset
        ):
            self._entries.pop()
        self._entries.append(EpochEntry(epoch, start_offset))
        return True

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """
        Kafka's ``endOffsetFor``: the epoch at or below C{epoch} and the offset where it ended.

        The latest epoch ends at C{log_end_offset}. An unknown or too-new
        epoch gives C{(-1, -1)}.
        """
        if epoch < 0 or not self._entries:
            return (-1, -1)
        if self._entries[-1].epoch == epoch:
            return (epoch, log_end_offset)
        higher = next((e for e in self._entries if e.epoch > epoch), None)
        if higher is None:
            return (-1, -1)
        floor = None
        for e in self._entries:
            if e.epoch <= epoch:
                floor = e
        if floor is None:
            return (epoch, higher.start_offset)
        return (floor.epoch, higher.start_offset)

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch in force at C{offset} (Kafka's ``epochForOffset``), or C{None}."""
        found = None
        for e in self._entries:
            if e.start_offset > offset:
                break
            found = e.epoch
        return found

    def truncate_from_end(self, end_offset: int) -> bool:
        """Drop entries starting at or after C{end_offset}; return whether anything changed."""
        before = len(self._entries)
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()
        return len(self._entries) != before

    def truncate_from_start(self, start_offset: int) -> bool:
        """
        Drop entries wholly before C{start_offset}; the one in force there now starts at it.

        Kafka's ``truncateFromStart``.
        """
        below = [i for i, e in enumerate(self._entries) if e.start_offset <= start_offset]
        if not below:
            return False
        last = below[-1]
        kept = EpochEntry(self._entries[last].epoch, start_offset)
        changed = last > 0 or self._entries[last] != kept
        self._entries[: last + 1] = [kept]
        return changed


class ProducerStateHooks(Protocol):
    """
    What a producer-state engine plugs into a L{PartitionLog}.

    Only C{on_batch_appended} is required. The log also calls, when
    present: C{snapshot_entries() -> Iterable[ProducerSnapshotEntry]} when
    it writes a snapshot (on roll and close), C{load_snapshot(entries)} and
    C{clear()} during recovery, and C{on_log_start_offset(offset)} when the
    log start offset moves. During L{PartitionLog.open} these run in the
    thread that opens the log, before the log is handed out.
    """

    def on_batch_appended(self, header: BatchHeader, base_offset: int) -> None:
        """
        Called once per batch, after it is written (or replayed during recovery).

        C{header} is the batch's header as validated, so for appends its
        C{base_offset} and C{partition_leader_epoch} are the client's; the
        assigned base offset is C{base_offset}.
        """


@define
class _SerialExecutor:
    """
    Runs blocking jobs through C{run_blocking} one at a time, in submission order.

    C{submit(prepare)} queues C{prepare}; when the previous job has finished,
    C{prepare()} runs on the calling (reactor) thread and returns the
    blocking function, so a job can capture state at the moment it starts.
    Works with a synchronous C{run_blocking} too (jobs then complete inside
    C{submit}).
    """

    _run_blocking: RunBlocking
    _queue: deque[tuple[Callable[[], Callable[[], Any]], Deferred]] = Factory(deque)
    _busy: bool = False
    _pumping: bool = False

    def submit(self, prepare: Callable[[], Callable[[], Any]]) -> Deferred:
        d: Deferred = Deferred()
        self._queue.append((prepare, d))
        self._pump()
        return d

    @property
    def idle(self) -> bool:
        return not self._busy and not self._queue

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            while not self._busy and self._queue:
                prepare, d = self._queue.popleft()
                self._busy = True
                try:
                    blocking = prepare()
                    running = self._run_blocking(blocking)
                except BaseException:
                    self._busy = False
                    d.errback(Failure())
                    continue
                running.addBoth(self._finished, d)
        finally:
            self._pumping = False

    def _finished(self, result: object, d: Deferred) -> None:
        self._busy = False
        d.callback(result)
        self._pump()


@define(eq=False)
class _FlushJob:
    seq: int
    waiters: list[Deferred] = Factory(list)
    target: int = 0


@define(eq=False)
class _Recovered:
    valid_bytes: int
    next_offset: int
    truncated_bytes: int
    reason: str | None


def _pread_exact(fd: int, size: int, position: int) -> bytes:
    data = os.pread(fd, size, position)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.pread(fd, size - got, position + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


@define(eq=False)
class Segment:
    """
    One ``.log`` file and its two indexes (Kafka's ``LogSegment``).

    Appends and reads happen on the reactor thread; the log's executor
    fsyncs L{fds} and closes them. L{Segment.recover} (run while opening a
    log, possibly in a worker thread) validates every batch and rebuilds
    the indexes.
    """

    directory: str
    base_offset: int
    fd: int
    size: int
    offset_index: OffsetIndex
    time_index: TimeIndex
    index_interval_bytes: int
    max_index_bytes: int
    created_ms: int
    active: bool
    max_timestamp: int = NO_TIMESTAMP
    offset_of_max_timestamp: int = -1
    bytes_since_last_index_entry: int = 0
    _first_batch_timestamp: int | None = None

    # -- files -------------------------------------------------------------

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, file_name(self.base_offset, LOG_SUFFIX))

    @property
    def index_path(self) -> str:
        return os.path.join(self.directory, file_name(self.base_offset, INDEX_SUFFIX))

    @property
    def time_index_path(self) -> str:
        return os.path.join(self.directory, file_name(self.base_offset, TIME_INDEX_SUFFIX))

    @property
    def fds(self) -> tuple[int, int, int]:
        """The descriptors to fsync: log, offset index, time index."""
        return (self.fd, self.offset_index.fd, self.time_index.fd)

    @classmethod
    def create(cls, directory: str, base_offset: int, config: LogConfig, now_ms: int) -> Segment:
        """Create an empty active segment (any stale empty files of that name are replaced)."""
        log_path = os.path.join(directory, file_name(base_offset, LOG_SUFFIX))
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(log_path, flags, 0o644)
        try:
            if os.fstat(fd).st_size != 0:
                raise OSError(errno.EEXIST, f"segment {log_path} already exists and is not empty")
            for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
                try:
                    os.unlink(os.path.join(directory, file_name(base_offset, suffix)))
                except FileNotFoundError:
                    pass
            return cls._with_indexes(directory, base_offset, fd, 0, config, now_ms, active=True)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def _with_indexes(
        cls,
        directory: str,
        base_offset: int,
        fd: int,
        size: int,
        config: LogConfig,
        now_ms: int,
        *,
        active: bool,
    ) -> Segment:
        index_path = os.path.join(directory, file_name(base_offset, INDEX_SUFFIX))
        time_path = os.path.join(directory, file_name(base_offset, TIME_INDEX_SUFFIX))
        max_bytes = config.segment_index_bytes
        offset_index = OffsetIndex.open(index_path, base_offset, max_bytes, writable=active)
        try:
            time_index = TimeIndex.open(time_path, base_offset, max_bytes, writable=active)
        except BaseException:
            offset_index.close()
            raise
        return cls(
            directory=directory,
            base_offset=base_offset,
            fd=fd,
            size=size,
            offset_index=offset_index,  # type: ignore[arg-type]
            time_index=time_index,  # type: ignore[arg-type]
            index_interval_bytes=config.index_interval_bytes,
            max_index_bytes=max_bytes,
            created_ms=now_ms,
            active=active,
        )

    @classmethod
    def load(
        cls, directory: str, base_offset: int, config: LogConfig, now_ms: int, *, active: bool
    ) -> tuple[Segment, str | None]:
        """
        Open an existing segment without validating its batches.

        @return: The segment and, if its indexes are missing or fail their
            sanity checks, why they must be rebuilt (else C{None}).
        """
        log_path = os.path.join(directory, file_name(base_offset, LOG_SUFFIX))
        flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(log_path, flags)
        try:
            size = os.fstat(fd).st_size
            missing = [
                suffix
                for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
                if not os.path.exists(os.path.join(directory, file_name(base_offset, suffix)))
            ]
            segment = cls._with_indexes(
                directory, base_offset, fd, size, config, now_ms, active=active
            )
        except BaseException:
            os.close(fd)
            raise
        problem = None
        if missing:
            problem = "missing " + " and ".join(missing)
        else:
            try:
                segment.offset_index.sanity_check(size)
                segment.time_index.sanity_check(size)
            except CorruptIndexError as e:
                problem = f"corrupt index: {e}"
        if problem is None:
            segment.max_timestamp, segment.offset_of_max_timestamp = segment.time_index.last_entry()
            if segment.offset_index.entries:
                segment.bytes_since_last_index_entry = size - segment.offset_index.last_entry()[1]
            else:
                segment.bytes_since_last_index_entry = size
        return segment, problem

    # -- recovery ------------------------------------------------------------

    def recover(self, on_batch: Callable[[BatchHeader], None] | None = None) -> _Recovered:
        """
        Validate every batch, rebuild both indexes and cut any invalid tail.

        Checks length, magic, CRC-32C and offset order.

        Kafka's ``LogSegment.recover``: the indexes are rebuilt exactly as
        appends build them, and the largest timestamp goes into the time
        index as a final entry. C{on_batch} sees each valid header.
        """
        oi, ti = self.offset_index, self.time_index
        oi.make_writable(self.max_index_bytes)
        ti.make_writable(self.max_index_bytes)
        oi.reset()
        ti.reset()
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = -1
        self._first_batch_timestamp = None
        file_size = os.fstat(self.fd).st_size
        pos = 0
        last_index_pos = 0
        next_offset = self.base_offset
        reason = None
        chunk = b""
        chunk_start = 0
        while pos < file_size:
            avail = file_size - pos
            if avail < LOG_OVERHEAD:
                reason = f"incomplete batch header ({avail} bytes)"
                break
            rel = pos - chunk_start
            if rel + LOG_OVERHEAD > len(chunk):
                chunk = os.pread(self.fd, min(_RECOVERY_CHUNK, avail), pos)
                chunk_start, rel = pos, 0
            base, length = _PREFIX.unpack_from(chunk, rel)
            if length < BATCH_HEADER_SIZE - LOG_OVERHEAD:
                reason = f"invalid batch length {length}"
                break
            size = length + LOG_OVERHEAD
            if avail < size:
                reason = f"incomplete batch ({avail} of {size} bytes)"
                break
            if rel + size > len(chunk):
                chunk = _pread_exact(self.fd, max(min(_RECOVERY_CHUNK, avail), size), pos)
                chunk_start, rel = pos, 0
            magic = chunk[rel + _MAGIC_AT]
            if magic != 2:
                reason = f"unsupported magic {magic}"
                break
            header = records.parse_batch_header(chunk, rel)
            if crc32c(memoryview(chunk)[rel + _CRC_FROM : rel + size]) != header.crc:
                reason = f"CRC mismatch in batch at offset {base}"
                break
            last = header.last_offset
            if base < next_offset or header.last_offset_delta < 0 or not oi.can_append_offset(last):
                reason = f"batch offsets {base}..{last} out of order (expected >= {next_offset})"
                break
            if self._first_batch_timestamp is None:
                self._first_batch_timestamp = header.max_timestamp
            if header.max_timestamp > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = header.max_timestamp, last
            if (
                pos - last_index_pos > self.index_interval_bytes
                and not oi.is_full
                and not ti.is_full
            ):
                oi.append(last, pos)
                ti.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
                last_index_pos = pos
            if on_batch is not None:
                on_batch(header)
            next_offset = header.next_offset
            pos += size
        truncated = file_size - pos
        if truncated:
            os.ftruncate(self.fd, pos)
        self.size = pos
        self.bytes_since_last_index_entry = pos - last_index_pos
        ti.maybe_append(self.max_timestamp, self.offset_of_max_timestamp, skip_full_check=True)
        if not self.active:
            oi.trim()
            ti.trim()
        return _Recovered(pos, next_offset, truncated, reason)

    def load_tail(self) -> int:
        """
        Scan the batch headers after the last offset index entry; return the next offset.

        Also folds their timestamps into L{max_timestamp} (Kafka's
        ``readNextOffset`` and ``readLargestTimestamp``).
        """
        next_offset = self.base_offset
        _, pos = self.offset_index.last_entry()
        for _, header in self.iter_headers(pos):
            next_offset = header.next_offset
            if header.max_timestamp > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = (
                    header.max_timestamp,
                    header.last_offset,
                )
        return next_offset

    # -- append --------------------------------------------------------------

    def index_batch(self, position: int, last_offset: int, max_timestamp: int, size: int) -> None:
        """Account for one appended batch: max timestamp and, when due, index entries."""
        if self.size == 0 and self._first_batch_timestamp is None:
            self._first_batch_timestamp = max_timestamp
        if max_timestamp > self.max_timestamp:
            self.max_timestamp, self.offset_of_max_timestamp = max_timestamp, last_offset
        if self.bytes_since_last_index_entry > self.index_interval_bytes:
            oi, ti = self.offset_index, self.time_index
            if not oi.is_full and not ti.is_full:
                oi.append(last_offset, position)
                ti.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
                self.bytes_since_last_index_entry = 0
        self.bytes_since_last_index_entry += size

    def first_batch_timestamp(self) -> int:
        """The first batch's max timestamp, read lazily (-1 for an empty segment)."""
        if self._first_batch_timestamp is None:
            if self.size < BATCH_HEADER_SIZE:
                return NO_TIMESTAMP
            header = records.parse_batch_header(_pread_exact(self.fd, BATCH_HEADER_SIZE, 0))
            self._first_batch_timestamp = header.max_timestamp
        return self._first_batch_timestamp

    def time_waited_for_roll(self, now_ms: int, message_timestamp: int) -> int:
        """
        Kafka's ``timeWaitedForRoll``.

        Measured from the first batch's timestamp if it has one, else by the
        clock since the segment was created.
        """
        first = self.first_batch_timestamp()
        if first >= 0:
            return message_timestamp - first
        return now_ms - self.created_ms

    def index_room(self) -> int:
        """How many more index entries both indexes can take."""
        return min(self.offset_index.free_entries, self.time_index.free_entries)

    def on_become_inactive(self) -> None:
        """Append the final time index entry and trim both indexes (``onBecomeInactiveSegment``)."""
        if self.active:
            self.time_index.maybe_append(
                self.max_timestamp, self.offset_of_max_timestamp, skip_full_check=True
            )
            self.offset_index.trim()
            self.time_index.trim()
            self.active = False

    # -- reads ---------------------------------------------------------------

    def _header_window(self, pos: int) -> int:
        return max(self.index_interval_bytes, 4096) + BATCH_HEADER_SIZE

    def translate_offset(
        self, offset: int, start_position: int = 0
    ) -> tuple[int, int, int, int] | None:
        """
        Locate the first batch whose last offset is >= C{offset}.

        Looks the offset up in the offset index, then walks batch headers
        from there (reading only the 27-byte prefix of each).

        @return: C{(position, size, base offset, last offset)}, or C{None}
            if every batch in the segment ends before C{offset}.
        """
        _, pos = self.offset_index.lookup(offset)
        pos = max(pos, start_position)
        end = self.size
        window = b""
        window_start = pos
        window_size = self._header_window(pos)
        while pos + _MIN_PREFIX <= end:
            rel = pos - window_start
            if rel < 0 or rel + _MIN_PREFIX > len(window):
                window = os.pread(self.fd, min(window_size, end - pos), pos)
                window_start, rel = pos, 0
                if len(window) < _MIN_PREFIX:
                    return None
            base, length = _PREFIX.unpack_from(window, rel)
            (delta,) = _I32.unpack_from(window, rel + _LAST_OFFSET_DELTA_AT)
            if base + delta >= offset:
                return pos, length + LOG_OVERHEAD, base, base + delta
            pos += length + LOG_OVERHEAD
        return None

    def iter_headers(self, start_position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """Yield C{(position, header)} per batch from C{start_position}, one 61-byte parse each."""
        pos = start_position
        end = self.size
        window = b""
        window_start = pos
        window_size = self._header_window(pos)
        while pos + BATCH_HEADER_SIZE <= end:
            rel = pos - window_start
            if rel < 0 or rel + BATCH_HEADER_SIZE > len(window):
                window = os.pread(self.fd, min(window_size, end - pos), pos)
                window_start, rel = pos, 0
                if len(window) < BATCH_HEADER_SIZE:
                    return
            header = records.parse_batch_header(window, rel)
            yield pos, header
            pos += header.size

    def read(
        self, position: int, limit: int, max_bytes: int, first_size: int | None = None
    ) -> tuple[bytes | None, int]:
        """
        Read whole batches from C{position}, stopping before byte C{limit} and after C{max_bytes}.

        When C{first_size} is given, the first batch is read whole even if
        it is larger than C{max_bytes} (Kafka's C{minOneMessage}).

        @return: The buffer (or C{None} if not even one batch fits) and the
            position just after the last batch returned.
        """
        available = limit - position
        if available <= 0:
            return None, position
        want = min(available, max(max_bytes, 0))
        if first_size is not None:
            want = max(want, min(first_size, available))
        if want < LOG_OVERHEAD:
            return None, position
        data = _pread_exact(self.fd, want, position)
        end = len(data)
        p = 0
        while p + LOG_OVERHEAD <= end:
            (length,) = _I32.unpack_from(data, p + 8)
            size = length + LOG_OVERHEAD
            if p + size > end:
                break
            p += size
        if p == 0:
            return None, position
        # Twisted's transports take bytes only: trim with one copy of the
        # kept part when the read ended inside a batch.
        return (data if p == end else data[:p]), position + p

    def read_batch(self, position: int, size: int) -> bytes:
        """The bytes of one batch."""
        return _pread_exact(self.fd, size, position)

    def find_offset_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> OffsetAndTimestamp | None:
        """
        Kafka's ``findOffsetByTimestamp``.

        The first record with timestamp >= C{timestamp} and offset >=
        C{starting_offset}.

        Uses the time index, then the offset index, then batch headers;
        records are decoded only inside the one batch that qualifies.
        """
        _, indexed_offset = self.time_index.lookup(timestamp)
        _, pos = self.offset_index.lookup(max(indexed_offset, starting_offset))
        for position, header in self.iter_headers(pos):
            if header.max_timestamp < timestamp or header.last_offset < starting_offset:
                continue
            epoch = header.partition_leader_epoch
            if header.timestamp_type == records.LOG_APPEND_TIME:
                return OffsetAndTimestamp(
                    max(header.base_offset, starting_offset), header.max_timestamp, epoch
                )
            for record in _decode(self.read_batch(position, header.size)):
                if record.timestamp >= timestamp and record.offset >= starting_offset:
                    return OffsetAndTimestamp(record.offset, record.timestamp, epoch)
        return None

    def offset_of_record_with_max_timestamp(self) -> OffsetAndTimestamp | None:
        """The first record carrying this segment's largest timestamp (``MAX_TIMESTAMP``)."""
        if self.max_timestamp == NO_TIMESTAMP:
            return None
        _, pos = self.offset_index.lookup(self.offset_of_max_timestamp)
        for position, header in self.iter_headers(pos):
            if header.max_timestamp != self.max_timestamp:
                continue
            epoch = header.partition_leader_epoch
            if header.timestamp_type == records.LOG_APPEND_TIME:
                return OffsetAndTimestamp(header.base_offset, header.max_timestamp, epoch)
            for record in _decode(self.read_batch(position, header.size)):
                if record.timestamp == self.max_timestamp:
                    return OffsetAndTimestamp(record.offset, record.timestamp, epoch)
        return None

    def largest_timestamp(self) -> int:
        """Kafka's ``largestTimestamp``: the max timestamp, or the file's mtime if there is none."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return int(os.fstat(self.fd).st_mtime * 1000)

    # -- teardown ------------------------------------------------------------

    def close_maps(self) -> None:
        """Unmap both indexes (the descriptors stay open for pending fsyncs)."""
        self.offset_index.close_map()
        self.time_index.close_map()

    def close_files(self) -> None:
        """Close every descriptor (blocking-safe; run on the log's executor)."""
        self.offset_index.close()
        self.time_index.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def rename_for_deletion(self) -> list[str]:
        """Rename the files with Kafka's ``.deleted`` suffix; return the new paths."""
        renamed = []
        for path in (self.log_path, self.index_path, self.time_index_path):
            try:
                os.rename(path, path + DELETED_SUFFIX)
            except FileNotFoundError:
                continue
            renamed.append(path + DELETED_SUFFIX)
        return renamed


def _decode(batch: bytes) -> list[Any]:
    try:
        return list(records.decode_batch_records(batch, check_crc=False))
    except records.RecordsError as e:
        raise KafkaError(
            ErrorCode.CORRUPT_MESSAGE, f"cannot decode stored batch: {e.message}"
        ) from None


def _write_all(writev: Callable[[int, Sequence[Any]], int], fd: int, pieces: Sequence[Any]) -> int:
    """Write every piece with C{writev}, resuming after short writes; return the byte count."""
    views = [p if isinstance(p, memoryview) else memoryview(p) for p in pieces]
    total = 0
    start = 0
    while start < len(views):
        group = views[start : start + _IOV_MAX]
        written = writev(fd, group)
        if written <= 0:
            raise OSError(errno.EIO, "writev wrote nothing")
        total += written
        while start < len(views) and written >= views[start].nbytes:
            written -= views[start].nbytes
            start += 1
        if written:
            views[start] = views[start][written:]
    return total


def _unlink_all(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


@define(eq=False)
class PartitionLog:
    """
    One partition's log: an ordered list of L{Segment}s, the last one active.

    Create it with L{PartitionLog.open}. All methods are meant for the
    reactor thread. Offsets: C{log_start_offset} <= C{high_watermark} <=
    C{log_end_offset}; on a single broker the high watermark follows the log
    end offset, except that while a flush required by ``flush.messages`` /
    ``flush.ms`` is in progress it waits for the fsync.
    """

    directory: str
    topic: str
    partition: int
    config: LogConfig
    _clock: Any
    _run_blocking: RunBlocking
    _segments: list[Segment]
    _log_start_offset: int
    _log_end_offset: int
    _recovery_point: int
    _epochs: LeaderEpochCache
    recovery: RecoveryReport
    _producer_state: ProducerStateHooks | None = None
    _writev: Callable[[int, Sequence[Any]], int] = os.writev
    _fsync: Callable[[int], None] = os.fsync
    _bases: list[int] = field(init=False)
    _high_watermark: int = field(init=False)
    _executor: _SerialExecutor = field(init=False)
    _waiters: dict[int, list[Deferred]] = Factory(dict)
    _hw_gates: deque[tuple[int, int]] = Factory(deque)
    _queued_flush: _FlushJob | None = None
    _flush_seq: int = 0
    _last_flush_ms: int = 0
    _epochs_dirty: bool = False
    _epochs_write_queued: bool = False
    _dir_dirty: bool = False
    _offline: str | None = None
    _closing: Deferred | None = None
    _pending_deletes: dict[Any, list[str]] = Factory(dict)

    _log = Logger()

    def __attrs_post_init__(self) -> None:
        self._bases = [s.base_offset for s in self._segments]
        self._high_watermark = self._log_end_offset
        self._executor = _SerialExecutor(self._run_blocking)
        self._last_flush_ms = self._now_ms()

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: str,
        topic: str,
        partition: int,
        config: LogConfig,
        *,
        clock: Any,
        run_blocking: RunBlocking,
        recover: bool,
        recovery_point: int = 0,
        log_start_offset: int = 0,
        producer_state: ProducerStateHooks | None = None,
        writev: Callable[[int, Sequence[Any]], int] = os.writev,
        fsync: Callable[[int], None] = os.fsync,
    ) -> PartitionLog:
        """
        Open (creating if needed) the partition dir C{directory}.

        C{directory} is ``<log.dir>/<topic>-<partition>``.

        Blocking: reads files and may truncate them, but never fsyncs or
        writes checkpoints, creates no Deferreds and schedules nothing, so
        L{LogManager} runs it in a worker thread. See L{RecoveryReport}.

        @param recover: C{False} after a clean shutdown: trust the files and
            rebuild only missing or corrupt indexes. C{True}: validate every
            batch from the segment holding C{recovery_point} to the end,
            cut a torn or corrupt tail (and delete any later segments),
            rebuild those segments' indexes, and restore leader epochs and
            producer state.
        @param recovery_point: The offset below which data is known flushed
            (from ``recovery-point-offset-checkpoint``).
        @param log_start_offset: From ``log-start-offset-checkpoint``.
        @param producer_state: Optional L{ProducerStateHooks}; restored from
            the latest ``.snapshot`` at or below the log end offset plus a
            replay of the batch headers after it.
        @param writev: Injected for tests (disk errors); C{os.writev} otherwise.
        @param fsync: Injected for tests; C{os.fsync} otherwise.
        """
        now_ms = int(clock.seconds() * 1000)
        os.makedirs(directory, exist_ok=True)
        notes: list[str] = []
        bases: list[int] = []
        names = os.listdir(directory)
        for name in names:
            if name.endswith((DELETED_SUFFIX, ".cleaned", ".tmp")):
                _unlink_all([os.path.join(directory, name)])
                continue
            if name.endswith(LOG_SUFFIX):
                offset = offset_from_file_name(name)
                if offset is not None:
                    bases.append(offset)
        base_set = set(bases)
        for name in names:
            if name.endswith((INDEX_SUFFIX, TIME_INDEX_SUFFIX)):
                offset = offset_from_file_name(name)
                if offset is not None and offset not in base_set:
                    _unlink_all([os.path.join(directory, name)])
        bases.sort()

        segments: list[Segment] = []
        recovered: list[str] = []
        rebuilt: list[str] = []
        truncations: list[Truncation] = []
        deleted: list[str] = []
        try:
            epochs = LeaderEpochCache()
            epoch_path = os.path.join(directory, LEADER_EPOCH_CHECKPOINT)
            try:
                epochs = LeaderEpochCache(read_leader_epoch_checkpoint(epoch_path))
            except (CorruptCheckpointError, OSError) as e:
                notes.append(f"ignored unreadable {LEADER_EPOCH_CHECKPOINT}: {e}")
            epochs_before = epochs.entries

            def assign_epoch(header: BatchHeader) -> None:
                epoch = header.partition_leader_epoch
                latest = epochs.latest_epoch
                if epoch >= 0 and (latest is None or epoch > latest):
                    epochs.assign(epoch, header.base_offset)

            log_end = max(log_start_offset, 0)
            if not bases:
                segments.append(Segment.create(directory, log_end, config, now_ms))
            for i, base in enumerate(bases):
                last = i == len(bases) - 1
                segment, problem = Segment.load(directory, base, config, now_ms, active=last)
                segments.append(segment)
                holds_unflushed = last or bases[i + 1] > recovery_point
                if recover and holds_unflushed and not recovered:
                    # Epochs at or after the first unflushed segment come back from its batches.
                    epochs.truncate_from_end(base)
                if (recover and holds_unflushed) or problem is not None:
                    result = segment.recover(assign_epoch)
                    (recovered if recover and holds_unflushed else rebuilt).append(segment.log_path)
                    log_end = result.next_offset
                    if result.truncated_bytes:
                        truncations.append(
                            Truncation(
                                file=segment.log_path,
                                position=result.valid_bytes,
                                offset=result.next_offset,
                                bytes_removed=result.truncated_bytes,
                                reason=result.reason or "invalid bytes",
                            )
                        )
                        if recover and not last:
                            for later in bases[i + 1 :]:
                                for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
                                    path = os.path.join(directory, file_name(later, suffix))
                                    if suffix == LOG_SUFFIX and os.path.exists(path):
                                        deleted.append(path)
                                    _unlink_all([path])
                            segment.offset_index.make_writable(config.segment_index_bytes)
                            segment.time_index.make_writable(config.segment_index_bytes)
                            segment.active = True
                            break
                elif last:
                    log_end = segment.load_tail()
                else:
                    log_end = bases[i + 1]

            log_end = max(log_end, segments[-1].base_offset)
            start = min(max(log_start_offset, segments[0].base_offset), log_end)
            epochs.truncate_from_end(log_end)
            epochs.truncate_from_start(start)
            point = min(recovery_point, log_end) if recover else log_end

            if producer_state is not None:
                notes.extend(
                    _restore_producer_state(directory, segments, producer_state, start, log_end)
                )
        except BaseException:
            for segment in segments:
                segment.close_maps()
                segment.close_files()
            raise

        log = cls(
            directory=directory,
            topic=topic,
            partition=partition,
            config=config,
            clock=clock,
            run_blocking=run_blocking,
            segments=segments,
            log_start_offset=start,
            log_end_offset=log_end,
            recovery_point=point,
            epochs=epochs,
            recovery=RecoveryReport(
                clean=not recover,
                recovered_segments=tuple(recovered),
                rebuilt_indexes=tuple(rebuilt),
                truncations=tuple(truncations),
                deleted_segments=tuple(deleted),
                notes=tuple(notes),
            ),
            producer_state=producer_state,
            writev=writev,
            fsync=fsync,
        )
        log._epochs_dirty = epochs.entries != epochs_before
        return log

    # -- state ---------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock.seconds() * 1000)

    @property
    def log_start_offset(self) -> int:
        """The first offset a consumer may fetch."""
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""
        return self._log_end_offset

    @property
    def high_watermark(self) -> int:
        """The end of what consumers may read (the log end offset once a required flush is done)."""
        return self._high_watermark

    @property
    def last_stable_offset(self) -> int:
        """The end of what read_committed consumers may read (the high watermark, for now)."""
        return self._high_watermark

    @property
    def recovery_point(self) -> int:
        """Everything below this offset has been fsynced."""
        return self._recovery_point

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
    def size_in_bytes(self) -> int:
        """The total size of the segment files."""
        return sum(s.size for s in self._segments)

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The segments, oldest first (the last one is active)."""
        return tuple(self._segments)

    @property
    def producer_state(self) -> ProducerStateHooks | None:
        """The plugged-in producer state, if any."""
        return self._producer_state

    def producer_snapshot_path(self, offset: int) -> str:
        """The path of the producer snapshot taken at C{offset} (``<offset>.snapshot``)."""
        return os.path.join(self.directory, file_name(offset, SNAPSHOT_SUFFIX))

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: C{(epoch, end offset)}, or C{(-1, -1)} if unknown."""
        return self._epochs.end_offset_for(epoch, self._log_end_offset)

    def epoch_for_offset(self, offset: int) -> int:
        """The leader epoch in force at C{offset}, or -1 if unknown."""
        epoch = self._epochs.epoch_for_offset(offset)
        return -1 if epoch is None else epoch

    def size_bytes(self) -> int:
        """The total size of the segment files (DescribeLogDirs, ListOffsets v0)."""
        return self.size_in_bytes

    def _check_usable(self) -> None:
        if self._offline is not None:
            raise KafkaError(
                ErrorCode.KAFKA_STORAGE_ERROR,
                f"{self.topic}-{self.partition} is offline: {self._offline}",
            )
        if self._closing is not None:
            raise KafkaError(
                ErrorCode.KAFKA_STORAGE_ERROR, f"{self.topic}-{self.partition} is closed"
            )

    def _go_offline(self, reason: str) -> None:
        if self._offline is not None:
            return
        self._offline = reason
        self._log.error(
            "Partition {topic}-{partition} in {directory} is offline: {reason}",
            topic=self.topic,
            partition=self.partition,
            directory=self.directory,
            reason=reason,
        )
        waiters, self._waiters = self._waiters, {}
        error = KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, reason)
        for offset in sorted(waiters):
            for d in waiters[offset]:
                d.errback(Failure(error))

    # -- append --------------------------------------------------------------

    def append(
        self,
        buf: Any,
        batches: Sequence[tuple[int, BatchHeader]],
        *,
        leader_epoch: int,
        now_ms: int,
    ) -> Deferred[AppendInfo]:
        """
        Append validated batches, assigning offsets from the log end offset.

        C{buf} and C{batches} are a records buffer and the C{(position,
        header)} list that C{records.validate_produce_records} returned for
        it. Each batch's base offset and partition leader epoch are
        rewritten (and with LogAppendTime its timestamp and CRC), the pieces
        are written with C{os.writev}, and the indexes, leader epoch cache
        and producer hooks are updated once per batch.

        @return: A Deferred firing with L{AppendInfo}: at once, unless
            ``flush.messages`` or ``flush.ms`` makes a flush due, in which
            case only after the fsync completed off the reactor thread.
            It fails with L{KafkaError}: C{MESSAGE_TOO_LARGE} for a batch
            over ``max.message.bytes``, C{RECORD_LIST_TOO_LARGE} for more
            than ``segment.bytes`` at once, C{KAFKA_STORAGE_ERROR} if the
            log is offline or the write or fsync fails.
        """
        try:
            self._check_usable()
        except KafkaError as e:
            return fail(e)
        if not batches:
            return succeed(
                AppendInfo(
                    self._log_end_offset, self._log_end_offset - 1, -1, self._log_start_offset
                )
            )
        config = self.config
        total = 0
        for _, header in batches:
            if header.size > config.max_message_bytes:
                return fail(
                    KafkaError(
                        ErrorCode.MESSAGE_TOO_LARGE,
                        f"batch of {header.size} bytes exceeds max.message.bytes "
                        f"{config.max_message_bytes}",
                    )
                )
            total += header.size
        if total > config.segment_bytes:
            return fail(
                KafkaError(
                    ErrorCode.RECORD_LIST_TOO_LARGE,
                    f"{total} bytes exceed segment.bytes {config.segment_bytes}",
                )
            )
        append_time = now_ms if config.log_append_time else None
        base_offset = self._log_end_offset
        result = records.assign_offsets(
            buf, batches, base_offset, leader_epoch=leader_epoch, log_append_time_ms=append_time
        )
        max_timestamp = result.max_timestamp
        try:
            segment = self._segments[-1]
            if self._should_roll(
                segment, total, max_timestamp, result.last_offset, len(batches), now_ms
            ):
                segment = self._roll(now_ms)
            position = segment.size
            written = _write_all(self._writev, segment.fd, result.pieces)
            if written != total:
                raise OSError(errno.EIO, f"wrote {written} of {total} bytes")
        except OSError as e:
            self._undo_partial_write(e)
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"append failed: {e}"))

        offset = base_offset
        for _, header in batches:
            last = offset + header.last_offset_delta
            batch_max = header.max_timestamp if append_time is None else append_time
            segment.index_batch(position, last, batch_max, header.size)
            segment.size = position = position + header.size
            offset = last + 1
        self._log_end_offset = result.next_offset
        if leader_epoch >= 0 and self._epochs.assign(leader_epoch, base_offset):
            self._persist_epochs()
        hook = self._producer_state
        if hook is not None:
            offset = base_offset
            for _, header in batches:
                hook.on_batch_appended(header, offset)
                offset += header.last_offset_delta + 1

        info = AppendInfo(
            base_offset=base_offset,
            last_offset=result.last_offset,
            log_append_time_ms=-1 if append_time is None else append_time,
            log_start_offset=self._log_start_offset,
            max_timestamp=max_timestamp,
            size=total,
        )
        unflushed = self._log_end_offset - self._recovery_point
        due = unflushed >= config.flush_messages or (
            config.flush_ms < LONG_MAX and now_ms - self._last_flush_ms >= config.flush_ms
        )
        if due:
            return self._request_flush(gate=True).addCallback(lambda _: info)
        if self._hw_gates:
            self._hw_gates.append((self._hw_gates[-1][0], self._log_end_offset))
        else:
            self._set_high_watermark(self._log_end_offset)
        return succeed(info)

    def append_batches(
        self, data: bytes, *, leader_epoch: int = 0, now_ms: int | None = None
    ) -> Deferred[AppendInfo]:
        """Validate and append client-style batches (tests and tools; as the memory log offers)."""
        batches = records.validate_produce_records(
            data, max_batch_bytes=1 << 30, allow_multiple_batches=True
        )
        now = self._now_ms() if now_ms is None else now_ms
        return self.append(memoryview(data), batches, leader_epoch=leader_epoch, now_ms=now)

    def batches(self) -> list[bytes]:
        """Every stored batch from the log start, as bytes (tests and tools, not the Fetch path)."""
        result = self.read(self._log_start_offset, 1 << 62, max_offset=self._log_end_offset)
        data = b"".join(bytes(b) for b in result.buffers)
        return [data[pos : pos + h.size] for pos, h in records.iter_batches(data)]

    def _undo_partial_write(self, error: OSError) -> None:
        segment = self._segments[-1]
        try:
            os.ftruncate(segment.fd, segment.size)
        except OSError:
            pass
        self._go_offline(f"write to {segment.log_path} failed: {error}")

    def _should_roll(
        self,
        segment: Segment,
        size: int,
        max_timestamp: int,
        last_offset: int,
        batch_count: int,
        now_ms: int,
    ) -> bool:
        """Kafka's ``shouldRoll``: size, age, index room, or relative-offset overflow."""
        if segment.size == 0:
            return False
        config = self.config
        return (
            segment.size > config.segment_bytes - size
            or segment.time_waited_for_roll(now_ms, max_timestamp) > config.segment_ms
            or segment.index_room() < batch_count
            or last_offset - segment.base_offset > INT32_MAX
        )

    def _roll(self, now_ms: int) -> Segment:
        """Close the active segment for appends and start a new one at the log end offset."""
        old = self._segments[-1]
        old.on_become_inactive()
        new = Segment.create(self.directory, self._log_end_offset, self.config, now_ms)
        self._segments.append(new)
        self._bases.append(new.base_offset)
        self._dir_dirty = True
        self._take_producer_snapshot(new.base_offset)
        self._request_flush(gate=False).addErrback(lambda _: None)
        return new

    # -- flushing ------------------------------------------------------------

    def _request_flush(self, *, gate: bool) -> Deferred[None]:
        """
        A Deferred firing once everything appended so far is fsynced.

        Requests made while a flush is queued but not started share it. With
        C{gate}, the high watermark will not pass the current log end offset
        until that flush completes.
        """
        job = self._queued_flush
        new = job is None
        if job is None:
            self._flush_seq += 1
            job = self._queued_flush = _FlushJob(self._flush_seq)
        d: Deferred[None] = Deferred()
        job.waiters.append(d)
        if gate:
            self._hw_gates.append((job.seq, self._log_end_offset))
        if new:
            self._executor.submit(partial(self._prepare_flush, job)).addBoth(
                self._flush_finished, job
            )
        return d

    def _prepare_flush(self, job: _FlushJob) -> Callable[[], None]:
        if self._queued_flush is job:
            self._queued_flush = None
        job.target = self._log_end_offset
        first = max(bisect.bisect_right(self._bases, self._recovery_point) - 1, 0)
        fds = [fd for segment in self._segments[first:] for fd in segment.fds if fd >= 0]
        sync_dir = self._dir_dirty
        self._dir_dirty = False
        epochs = self._take_epochs_for_write()
        directory = self.directory
        fsync = self._fsync

        def flush() -> None:
            for fd in fds:
                fsync(fd)
            if sync_dir:
                _fsync_directory(directory, fsync)
            if epochs is not None:
                write_leader_epoch_checkpoint(
                    os.path.join(directory, LEADER_EPOCH_CHECKPOINT), epochs
                )

        return flush

    def _flush_finished(self, result: object, job: _FlushJob) -> None:
        if isinstance(result, Failure):
            self._go_offline(f"flush failed: {result.getErrorMessage()}")
            error = KafkaError(
                ErrorCode.KAFKA_STORAGE_ERROR, f"flush failed: {result.getErrorMessage()}"
            )
            for d in job.waiters:
                d.errback(Failure(error))
            return
        self._recovery_point = max(self._recovery_point, job.target)
        self._last_flush_ms = self._now_ms()
        released = None
        while self._hw_gates and self._hw_gates[0][0] <= job.seq:
            released = self._hw_gates.popleft()[1]
        if released is not None and self._offline is None:
            self._set_high_watermark(released)
        for d in job.waiters:
            d.callback(None)

    def flush(self) -> Deferred[None]:
        """Fsync all appended data (off the reactor thread, in order with other flushes)."""
        if self._offline is not None:
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline))
        if (
            self._recovery_point >= self._log_end_offset
            and not self._epochs_dirty
            and not self._dir_dirty
            and self._queued_flush is None
            and self._executor.idle
        ):
            return succeed(None)
        return self._request_flush(gate=False)

    def maybe_flush(self, now_ms: int) -> Deferred[None] | None:
        """Flush if ``flush.ms`` has passed since the last flush and data is unflushed."""
        if self._offline is not None or self._closing is not None:
            return None
        if self.config.flush_ms >= LONG_MAX or self._log_end_offset <= self._recovery_point:
            return None
        if now_ms - self._last_flush_ms < self.config.flush_ms:
            return None
        return self._request_flush(gate=False)

    def _take_epochs_for_write(self) -> tuple[EpochEntry, ...] | None:
        if not self._epochs_dirty:
            return None
        self._epochs_dirty = False
        return self._epochs.entries

    def _persist_epochs(self) -> None:
        """Write ``leader-epoch-checkpoint`` soon, off the reactor thread (Kafka: on change)."""
        self._epochs_dirty = True
        if self._epochs_write_queued:
            return
        self._epochs_write_queued = True
        path = os.path.join(self.directory, LEADER_EPOCH_CHECKPOINT)

        def prepare() -> Callable[[], None]:
            self._epochs_write_queued = False
            entries = self._take_epochs_for_write()
            if entries is None:
                return lambda: None
            return partial(write_leader_epoch_checkpoint, path, entries)

        self._executor.submit(prepare).addErrback(
            self._blocking_failed, "leader-epoch-checkpoint write"
        )

    def _take_producer_snapshot(self, offset: int) -> None:
        entries_of = getattr(self._producer_state, "snapshot_entries", None)
        if entries_of is None:
            return
        entries = list(entries_of())
        path = self.producer_snapshot_path(offset)
        self._executor.submit(lambda: partial(write_producer_snapshot, path, entries)).addErrback(
            self._blocking_failed, "producer snapshot write"
        )

    def _blocking_failed(self, failure: Failure, what: str) -> None:
        self._go_offline(f"{what} failed: {failure.getErrorMessage()}")

    # -- high watermark and waiters --------------------------------------------

    def _set_high_watermark(self, offset: int) -> None:
        if offset <= self._high_watermark:
            return
        self._high_watermark = offset
        if self._waiters:
            ready = sorted(o for o in self._waiters if o < offset)
            for o in ready:
                for d in self._waiters.pop(o):
                    d.callback(offset)

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

        def cancel(d: Deferred) -> None:
            waiting = self._waiters.get(offset)
            if waiting is not None and d in waiting:
                waiting.remove(d)
                if not waiting:
                    del self._waiters[offset]

        d: Deferred[int] = Deferred(cancel)
        self._waiters.setdefault(offset, []).append(d)
        return d

    # -- reads ---------------------------------------------------------------

    def _segment_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._bases, offset) - 1, 0)

    def _segment_end(self, i: int) -> int:
        return self._bases[i + 1] if i + 1 < len(self._bases) else self._log_end_offset

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> ReadResult:
        """
        Read whole batches starting with the batch that contains C{offset}.

        A synchronous page-cache read (C{os.pread}) on the calling thread.
        At most C{max_bytes} bytes, except that with C{min_one_message} the
        first batch is returned whole however large it is; nothing at or
        beyond C{max_offset} (default: the high watermark). Reads continue
        into following segments while the budget allows.

        @raise KafkaError: C{OFFSET_OUT_OF_RANGE} if C{offset} is below the
            log start offset or above the log end offset;
            C{KAFKA_STORAGE_ERROR} if the log is offline or closed.
        """
        self._check_usable()
        log_end = self._log_end_offset
        if offset < self._log_start_offset or offset > log_end:
            raise KafkaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"offset {offset} is outside [{self._log_start_offset}, {log_end}] "
                f"for {self.topic}-{self.partition}",
            )
        limit_offset = self._high_watermark if max_offset is None else min(max_offset, log_end)
        buffers: list[bytes] = []
        total = 0
        i = self._segment_index(offset)
        start_offset = offset
        first = True
        try:
            while i < len(self._segments) and start_offset < limit_offset:
                segment = self._segments[i]
                found = segment.translate_offset(start_offset)
                if found is None:
                    i += 1
                    continue
                position, first_size, _, _ = found
                limit = segment.size
                if limit_offset < self._segment_end(i):
                    bound = segment.translate_offset(limit_offset, position)
                    if bound is not None:
                        limit = bound[0]
                data, end = segment.read(
                    position,
                    limit,
                    max_bytes - total,
                    first_size if first and min_one_message else None,
                )
                if data is None:
                    break
                buffers.append(data)
                total += end - position
                first = False
                if end < limit:
                    break
                i += 1
                if i < len(self._segments):
                    start_offset = self._bases[i]
        except OSError as e:
            self._go_offline(f"read failed: {e}")
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"read failed: {e}") from None
        return ReadResult(
            buffers=buffers,
            size=total,
            high_watermark=self._high_watermark,
            last_stable_offset=self._high_watermark,
            log_start_offset=self._log_start_offset,
            log_end_offset=log_end,
        )

    def offset_for_timestamp(self, timestamp: int) -> OffsetAndTimestamp | None:
        """
        ListOffsets: the first record with a timestamp >= C{timestamp} below the high watermark.

        Kafka's semantics: the first segment whose largest timestamp is
        large enough, its time index, its offset index, then batch headers;
        records are decoded only in the one batch found. The special values
        work too: -2 (earliest) and -4 (earliest local) give the log start
        offset, -1 (latest) the high watermark, -3 the record with the
        largest timestamp (L{max_timestamp}).

        @return: The answer, or C{None} when no record qualifies.
        """
        self._check_usable()
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
            epoch = self._epochs.epoch_for_offset(self._log_start_offset)
            return OffsetAndTimestamp(
                self._log_start_offset, NO_TIMESTAMP, -1 if epoch is None else epoch
            )
        if timestamp == LATEST_TIMESTAMP:
            epoch = self._epochs.latest_epoch
            return OffsetAndTimestamp(
                self._high_watermark, NO_TIMESTAMP, -1 if epoch is None else epoch
            )
        if timestamp == MAX_TIMESTAMP:
            return self.max_timestamp()
        if timestamp < 0:
            return None
        for i in range(self._segment_index(self._log_start_offset), len(self._segments)):
            segment = self._segments[i]
            if segment.max_timestamp < timestamp:
                continue
            found = segment.find_offset_by_timestamp(timestamp, self._log_start_offset)
            if found is not None:
                return found if found.offset < self._high_watermark else None
        return None

    def max_timestamp(self) -> OffsetAndTimestamp | None:
        """ListOffsets ``MAX_TIMESTAMP`` (-3): the first record with the largest timestamp."""
        self._check_usable()
        best = None
        for segment in self._segments[self._segment_index(self._log_start_offset) :]:
            if segment.size and (best is None or segment.max_timestamp > best.max_timestamp):
                best = segment
        if best is None:
            return None
        found = best.offset_of_record_with_max_timestamp()
        if (
            found is None
            or found.offset < self._log_start_offset
            or found.offset >= self._high_watermark
        ):
            return None
        return found

    def earliest_offset(self) -> int:
        """ListOffsets -2: the log start offset."""
        return self._log_start_offset

    def latest_offset(self) -> int:
        """ListOffsets -1 for consumers: the high watermark."""
        return self._high_watermark

    # -- deletion ------------------------------------------------------------

    def delete_records_before(self, offset: int) -> int:
        """
        DeleteRecords: move the log start offset up to C{offset} (-1: the high watermark).

        Whole segments below the new log start offset are deleted; the
        L{LogManager} persists the offset in ``log-start-offset-checkpoint``.

        @return: The new log start offset (the partition's low watermark).
        @raise KafkaError: C{OFFSET_OUT_OF_RANGE} if C{offset} is above the
            high watermark (or negative other than -1).
        """
        self._check_usable()
        if offset == -1:
            offset = self._high_watermark
        if offset < 0 or offset > self._high_watermark:
            raise KafkaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"cannot delete records before {offset}: high watermark is {self._high_watermark}",
            )
        if offset > self._log_start_offset:
            self._advance_log_start(offset)
            self._delete_old_segments(
                lambda segment, following: (
                    following is not None and following.base_offset <= self._log_start_offset
                ),
                self._now_ms(),
            )
        return self._log_start_offset

    def _advance_log_start(self, offset: int) -> None:
        if offset <= self._log_start_offset:
            return
        self._log_start_offset = offset
        if self._epochs.truncate_from_start(offset):
            self._persist_epochs()
        moved = getattr(self._producer_state, "on_log_start_offset", None)
        if moved is not None:
            moved(offset)

    def apply_retention(self, now_ms: int) -> int:
        """
        Delete old segments by ``retention.ms`` and ``retention.bytes``.

        Only when ``cleanup.policy`` includes ``delete``; the log start offset
        rule applies always.

        Kafka's rules: oldest first, stopping at the first segment that must
        stay; never a segment holding offsets at or above the high
        watermark; never an empty active segment. If every segment
        qualifies, a new active segment is rolled first. Files are renamed
        with ``.deleted`` and removed after ``file.delete.delay.ms`` (on the
        injected clock).

        @return: The number of segments deleted.
        """
        if self._offline is not None or self._closing is not None:
            return 0
        config = self.config
        deleted = 0
        if config.deletes and config.retention_ms >= 0:
            deleted += self._delete_old_segments(
                lambda segment, _: now_ms - segment.largest_timestamp() > config.retention_ms,
                now_ms,
            )
        if config.deletes and config.retention_bytes >= 0:
            excess = [self.size_in_bytes - config.retention_bytes]
            if excess[0] > 0:

                def over_size(segment: Segment, _: Segment | None) -> bool:
                    if excess[0] - segment.size >= 0:
                        excess[0] -= segment.size
                        return True
                    return False

                deleted += self._delete_old_segments(over_size, now_ms)
        deleted += self._delete_old_segments(
            lambda segment, following: (
                following is not None and following.base_offset <= self._log_start_offset
            ),
            now_ms,
        )
        return deleted

    def _delete_old_segments(
        self, predicate: Callable[[Segment, Segment | None], bool], now_ms: int
    ) -> int:
        segments = self._segments
        deletable: list[Segment] = []
        for i, segment in enumerate(segments):
            following = segments[i + 1] if i + 1 < len(segments) else None
            upper = following.base_offset if following is not None else self._log_end_offset
            if self._high_watermark < upper or not predicate(segment, following):
                break
            if following is None and segment.size == 0:
                break
            deletable.append(segment)
        if not deletable:
            return 0
        try:
            if len(deletable) == len(segments):
                self._roll(now_ms)
            self._delete_segments(deletable)
        except OSError as e:
            self._go_offline(f"segment deletion failed: {e}")
            return 0
        self._advance_log_start(self._segments[0].base_offset)
        return len(deletable)

    def _delete_segments(self, doomed: list[Segment]) -> None:
        """Drop segments from the log, rename their files ``.deleted`` and schedule the removal."""
        gone = {id(s) for s in doomed}
        self._segments = [s for s in self._segments if id(s) not in gone]
        self._bases = [s.base_offset for s in self._segments]
        renamed: list[str] = []
        for segment in doomed:
            segment.close_maps()
            renamed.extend(segment.rename_for_deletion())
            snapshot = self.producer_snapshot_path(segment.base_offset)
            try:
                os.rename(snapshot, snapshot + DELETED_SUFFIX)
                renamed.append(snapshot + DELETED_SUFFIX)
            except FileNotFoundError:
                pass
            self._log.info(
                "Deleting segment {file} of {topic}-{partition}",
                file=segment.log_path,
                topic=self.topic,
                partition=self.partition,
            )

        def close_all() -> Callable[[], None]:
            def close() -> None:
                for segment in doomed:
                    segment.close_files()

            return close

        self._executor.submit(close_all).addErrback(
            self._blocking_failed, "closing deleted segments"
        )
        delay = self.config.file_delete_delay_ms / 1000.0
        call = self._clock.callLater(delay, self._remove_deleted, renamed)
        self._pending_deletes[call] = renamed

    def _remove_deleted(self, paths: list[str]) -> None:
        for call, pending in list(self._pending_deletes.items()):
            if pending is paths:
                del self._pending_deletes[call]
        self._executor.submit(lambda: partial(_unlink_all, paths)).addErrback(
            self._blocking_failed, "removing deleted segments"
        )

    # -- closing -------------------------------------------------------------

    def close(self) -> Deferred[None]:
        """
        Flush, write the producer snapshot and epochs, trim the indexes and close every file.

        Pending ``.deleted`` files are removed now. Waiters fire with the
        high watermark. Fails with C{KAFKA_STORAGE_ERROR} (after closing
        the files) if the log was or went offline, so that no clean-shutdown
        marker is written for it.
        """
        if self._closing is not None:
            return _chain(self._closing)
        done: Deferred[None] = Deferred()
        self._closing = done
        if self._offline is None:
            try:
                self._segments[-1].on_become_inactive()
            except OSError as e:
                self._go_offline(f"trimming indexes failed: {e}")
        if self._offline is None:
            self._take_producer_snapshot(self._log_end_offset)
            self._epochs_dirty = True
            flushed = self._request_flush(gate=False)
        else:
            flushed = fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline))
        outcome: list[Failure] = []
        flushed.addErrback(outcome.append)
        pending = [p for paths in self._pending_deletes.values() for p in paths]
        for call in list(self._pending_deletes):
            if call.active():
                call.cancel()
        self._pending_deletes.clear()
        segments = list(self._segments)

        def prepare_close() -> Callable[[], None]:
            for segment in segments:
                segment.close_maps()

            def close_files() -> None:
                for segment in segments:
                    segment.close_files()
                _unlink_all(pending)

            return close_files

        closed = self._executor.submit(prepare_close)

        def finished(result: object) -> None:
            waiters, self._waiters = self._waiters, {}
            for offset in sorted(waiters):
                for d in waiters[offset]:
                    d.callback(self._high_watermark)
            if isinstance(result, Failure):
                self._go_offline(f"closing files failed: {result.getErrorMessage()}")
                outcome.append(result)
            if outcome or self._offline is not None:
                done.errback(
                    Failure(
                        KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline or "close failed")
                    )
                )
            else:
                done.callback(None)

        closed.addBoth(finished)
        return _chain(done)


def _chain(d: Deferred[T]) -> Deferred[T]:
    """A new Deferred with C{d}'s result, leaving C{d} usable for other callers."""
    out: Deferred[T] = Deferred()

    def relay(result: Any) -> Any:
        out.callback(result)
        return result

    d.addBoth(relay)
    d.addErrback(lambda _: None)
    return out


def _fsync_directory(directory: str, fsync: Callable[[int], None]) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fsync(fd)
    finally:
        os.close(fd)


def _restore_producer_state(
    directory: str,
    segments: Sequence[Segment],
    state: ProducerStateHooks,
    log_start: int,
    log_end: int,
) -> list[str]:
    """Load the latest usable snapshot at or below C{log_end}, then replay the headers after it."""
    notes: list[str] = []
    snapshots = []
    for name in os.listdir(directory):
        if name.endswith(SNAPSHOT_SUFFIX):
            offset = offset_from_file_name(name)
            if offset is not None:
                snapshots.append(offset)
    snapshots.sort()
    for offset in snapshots:
        if offset > log_end:
            _unlink_all([os.path.join(directory, file_name(offset, SNAPSHOT_SUFFIX))])
    clear = getattr(state, "clear", None)
    if clear is not None:
        clear()
    replay_from = log_start
    for offset in reversed([o for o in snapshots if o <= log_end]):
        path = os.path.join(directory, file_name(offset, SNAPSHOT_SUFFIX))
        try:
            entries = read_producer_snapshot(path)
        except (CorruptSnapshotError, OSError) as e:
            notes.append(f"deleted unreadable producer snapshot {path}: {e}")
            _unlink_all([path])
            continue
        load = getattr(state, "load_snapshot", None)
        if load is not None:
            load(entries)
        replay_from = max(offset, log_start)
        break
    bases = [s.base_offset for s in segments]
    first = max(bisect.bisect_right(bases, replay_from) - 1, 0)
    for segment in segments[first:]:
        found = segment.translate_offset(replay_from)
        if found is None:
            continue
        for _, header in segment.iter_headers(found[0]):
            if header.last_offset >= replay_from:
                state.on_batch_appended(header, header.base_offset)
    return notes
