"""One segment of a partition log: a ``.log`` file and its two indexes (Kafka's ``LogSegment``).

Nothing here runs Python per record: appends, reads and recovery work on
whole batches, located through the offset index plus a scan of batch
headers. The look-ups by timestamp, which decode the records of one batch,
are L{kafkatwist.storage.timestamps}; the file helpers (exact C{pread}s,
C{writev}, unlinking) are L{kafkatwist.storage.files}. The byte-level reads
(header walks, whole-batch reads) are L{kafkatwist.storage.reads}, shared
with the partition reads that run on the reactor thread or in the read pool.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Container, Iterator

from attrs import define

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage import reads
from kafkatwist.storage.checkpoints import (
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    file_name,
)
from kafkatwist.storage.files import READ_HANDLES, pread_exact
from kafkatwist.storage.index import NO_TIMESTAMP, CorruptIndexError, OffsetIndex, TimeIndex
from kafkatwist.wire.batch import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    parse_batch_header,
)
from kafkatwist.wire.crc32c import crc32c

_PREFIX = struct.Struct(">qi")  # base offset, batch length
_MAGIC_AT = 16
_CRC_FROM = 21
_RECOVERY_CHUNK = 8 * 1024 * 1024
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@define(eq=False)
class SegmentRecovery:
    """What L{Segment.recover} found: the valid prefix, the next offset, what it cut and why."""

    valid_bytes: int
    next_offset: int
    truncated_bytes: int
    reason: str | None


@define(eq=False)
class Segment:
    """
    One ``.log`` file and its two indexes (Kafka's ``LogSegment``).

    Appends and reads happen on the reactor thread (a read in the read pool
    goes through descriptors of its own, L{reads.SegmentSnapshot}); the log's
    executor fsyncs the files (L{flush_targets}) and closes L{fd}.
    L{Segment.recover} (while a log opens, in any thread) validates every
    batch and rebuilds the indexes.

    Descriptors: the active segment (and one a loader works on) holds L{fd};
    an inactive one reads through L{READ_HANDLES}; the indexes hold none.
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

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, file_name(self.base_offset, LOG_SUFFIX))

    @property
    def index_path(self) -> str:
        return os.path.join(self.directory, file_name(self.base_offset, INDEX_SUFFIX))

    @property
    def time_index_path(self) -> str:
        return os.path.join(self.directory, file_name(self.base_offset, TIME_INDEX_SUFFIX))

    def flush_targets(self) -> tuple[int, tuple[str, ...]]:
        """What to fsync: the own fd (-1 if none) and paths to open and fsync (.log if no fd)."""
        paths = (self.index_path, self.time_index_path)
        return (self.fd, paths) if self.fd >= 0 else (-1, (self.log_path, *paths))

    def open_own_fd(self) -> int:
        """Open L{fd} (read-write, appending) if it is not open; return it."""
        if self.fd < 0:
            self.fd = os.open(self.log_path, os.O_RDWR | os.O_APPEND | _CLOEXEC)
        return self.fd

    def take_fd(self) -> int:
        """Hand over L{fd} (the caller closes it) and hold none; -1 if none was held."""
        fd, self.fd = self.fd, -1
        return fd

    def read_fd(self) -> int:
        """A descriptor to read the ``.log`` with: L{fd}, or a cached read-only one."""
        return self.fd if self.fd >= 0 else READ_HANDLES.get(self, self.log_path)

    @classmethod
    def create(cls, directory: str, base_offset: int, config: LogConfig, now_ms: int) -> Segment:
        """Create an empty active segment (any stale empty files of that name are replaced)."""
        log_path = os.path.join(directory, file_name(base_offset, LOG_SUFFIX))
        fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND | _CLOEXEC, 0o644)
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
        # Indexes hold no descriptor and are preallocated only when first written.
        offset_index = OffsetIndex.open(
            index_path, base_offset, max_bytes, writable=active, preallocate=False
        )
        time_index = TimeIndex.open(
            time_path, base_offset, max_bytes, writable=active, preallocate=False
        )
        return cls(
            directory=directory,
            base_offset=base_offset,
            fd=fd,
            size=size,
            offset_index=offset_index,
            time_index=time_index,
            index_interval_bytes=config.index_interval_bytes,
            max_index_bytes=max_bytes,
            created_ms=now_ms,
            active=active,
        )

    @classmethod
    def load(
        cls,
        directory: str,
        base_offset: int,
        config: LogConfig,
        now_ms: int,
        *,
        active: bool,
        names: Container[str],
    ) -> tuple[Segment, str | None]:
        """
        Open an existing segment (C{names}: the dir's) without validating its batches.

        @return: The segment and why its indexes must be rebuilt (missing or
            failing their sanity checks), or C{None}.
        """
        log_path = os.path.join(directory, file_name(base_offset, LOG_SUFFIX))
        # Only the active segment holds a descriptor; recovery opens its own.
        fd = os.open(log_path, os.O_RDWR | os.O_APPEND | _CLOEXEC) if active else -1
        try:
            size = os.fstat(fd).st_size if fd >= 0 else os.stat(log_path).st_size
            indexes = (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
            missing = [x for x in indexes if file_name(base_offset, x) not in names]
            segment = cls._with_indexes(
                directory, base_offset, fd, size, config, now_ms, active=active
            )
        except BaseException:
            if fd >= 0:
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
        segment.offset_index.release()
        segment.time_index.release()
        return segment, problem

    # -- recovery ------------------------------------------------------------

    def recover(self, on_batch: Callable[[BatchHeader], None] | None = None) -> SegmentRecovery:
        """
        Validate every batch, rebuild both indexes and cut any invalid tail.

        Checks length, magic, CRC-32C and offset order.

        Kafka's ``LogSegment.recover``: the indexes are rebuilt exactly as
        appends build them, and the largest timestamp goes into the time
        index as a final entry. C{on_batch} sees each valid header.
        """
        oi, ti = self.offset_index, self.time_index
        self.open_own_fd()
        oi.make_writable(self.max_index_bytes, preallocate=False)
        ti.make_writable(self.max_index_bytes, preallocate=False)
        oi.begin_rebuild()
        ti.begin_rebuild()
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
                chunk = pread_exact(self.fd, max(min(_RECOVERY_CHUNK, avail), size), pos)
                chunk_start, rel = pos, 0
            magic = chunk[rel + _MAGIC_AT]
            if magic != 2:
                reason = f"unsupported magic {magic}"
                break
            header = parse_batch_header(chunk, rel)
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
        oi.finish_rebuild()
        ti.finish_rebuild()
        if not self.active:
            oi.trim()
            ti.trim()
        oi.release()
        ti.release()
        return SegmentRecovery(pos, next_offset, truncated, reason)

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
            header = parse_batch_header(pread_exact(self.read_fd(), BATCH_HEADER_SIZE, 0))
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

    @property
    def window_size(self) -> int:
        """How much a header walk reads at a time: a little over one index interval."""
        return max(self.index_interval_bytes, 4096) + BATCH_HEADER_SIZE

    def translate_offset(
        self, offset: int, start_position: int = 0
    ) -> tuple[int, int, int, int] | None:
        """
        Locate the first batch whose last offset is >= C{offset} (blocking C{pread}s).

        Looks the offset up in the offset index, then walks batch headers
        from there (L{reads.locate}: only the 27-byte prefix of each).

        @return: C{(position, size, base offset, last offset)}, or C{None}
            if every batch in the segment ends before C{offset}.
        """
        _, pos = self.offset_index.lookup(offset)
        start = max(pos, start_position)
        return reads.locate(pread_exact, self.read_fd(), self.size, self.window_size, offset, start)

    def iter_headers(self, start_position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """Yield C{(position, header)} per batch from C{start_position}, one 61-byte parse each."""
        windows = reads.batch_windows(
            os.pread, self.read_fd(), start_position, self.size, BATCH_HEADER_SIZE, self.window_size
        )
        for position, window, rel in windows:
            yield position, parse_batch_header(window, rel)

    def read_batch(self, position: int, size: int) -> bytes:
        """The bytes of one batch."""
        return pread_exact(self.read_fd(), size, position)

    def largest_timestamp(self) -> int:
        """Kafka's ``largestTimestamp``: the max timestamp, or the file's mtime if there is none."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return int(os.stat(self.log_path).st_mtime * 1000)

    # -- teardown ------------------------------------------------------------

    def close_maps(self) -> None:
        """Unmap both indexes and close the cached read descriptor (reactor thread)."""
        self.offset_index.release()
        self.time_index.release()
        READ_HANDLES.drop(self)

    def close_files(self) -> None:
        """Close the own descriptor (the log's executor runs it after L{close_maps})."""
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
