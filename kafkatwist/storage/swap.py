"""Swapping cleaned segments in, crash-safely (Kafka's ``replaceSegments``, ``LogLoader``).

The file dance of L{replace_segments} (on the reactor thread, after the
cleaned files were fsynced in a worker):

1. rename the cleaned segment's files ``.cleaned`` -> ``.swap`` (``.log`` first);
2. rename the old segments' files ``.deleted`` (removed after
   ``file.delete.delay.ms``, as retention deletes:
   L{kafkatwist.storage.retention.SegmentDeleter});
3. rename the ``.swap`` files to their final names; swap the segment objects
   in memory (readers see the old or the new segment, never a mixture);
4. (the caller) fsync the directory.

L{recover_interrupted_swaps}, run by the loader before it lists a partition
dir, finishes or rolls back a dance a crash interrupted, by Kafka's rules:
``.swap`` files at or above the lowest ``.cleaned`` offset belong to a swap
whose step 1 did not finish and are deleted, with every ``.cleaned`` file
(roll back: the old segments are intact); otherwise the remaining swap is
complete, so the old segment files whose base offsets lie in the range the
``.swap`` logs cover (``[lowest base, highest next offset)``) are deleted and
the ``.swap`` files renamed to their final names (roll forward).

L{CleanedSegment} writes a cleaned segment in the cleaner's worker thread:
its files have the group's first base offset, so they are named like the
first old segment's, with the ``.cleaned`` suffix while they are written.
Batches are appended and indexed as appends index them
(L{Segment.index_batch}, every ``index.interval.bytes``); L{CleanedSegment.finish}
appends the final time index entry, trims the indexes, writes the
``.txnindex`` of the aborted transactions whose markers it keeps, gives the
``.log`` the last old segment's modification time (Kafka's
C{setLastModified}), fsyncs everything and reopens the indexes read-only
after their sanity checks.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence

from attrs import define, field

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage.checkpoints import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX
from kafkatwist.storage.files import fsync_path, unlink_all, write_all
from kafkatwist.storage.index import OffsetIndex, TimeIndex
from kafkatwist.storage.local_log import LocalLog
from kafkatwist.storage.segment import Segment
from kafkatwist.storage.txn_index import TXN_INDEX_SUFFIX, AbortedTxn
from kafkatwist.wire.primitives import Buffer


class CleaningAbortedError(Exception):
    """The log changed under the cleaner (segments deleted, log closed): the pass stops."""


CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def segment_paths(directory: str, segment: Segment) -> list[str]:
    """The final paths of a segment's four files (``.log``, indexes, ``.txnindex``)."""
    txn = os.path.join(directory, f"{segment.base_offset:020d}{TXN_INDEX_SUFFIX}")
    return [segment.log_path, segment.index_path, segment.time_index_path, txn]


@define(eq=False)
class CleanedSegment:
    """
    A cleaned segment being written (then swapped in).

    @ivar segment: The segment; its log descriptor and indexes use the
        ``.cleaned`` files until the swap renames them.
    @ivar txns: The aborted transactions of its ``.txnindex``.
    """

    segment: Segment
    txns: list[AbortedTxn] = field(factory=list)
    bytes_written: int = 0

    @property
    def final_paths(self) -> list[str]:
        """The four final paths (the ``.txnindex`` only exists with L{txns})."""
        return segment_paths(self.segment.directory, self.segment)

    def existing(self, suffix: str) -> list[tuple[str, str]]:
        """C{(path with suffix, final path)} of the files written, ``.log`` first."""
        paths = self.final_paths
        if not self.txns:
            paths = paths[:3]
        return [(p + suffix, p) for p in paths]

    @classmethod
    def create(
        cls, directory: str, base_offset: int, config: LogConfig, now_ms: int
    ) -> CleanedSegment:
        """Create empty ``.cleaned`` files at C{base_offset} (replacing leftovers of that name)."""
        log_path = os.path.join(directory, f"{base_offset:020d}.log{CLEANED_SUFFIX}")
        fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | _CLOEXEC, 0o644)
        try:
            paths = [
                os.path.join(directory, f"{base_offset:020d}{s}{CLEANED_SUFFIX}")
                for s in (".index", ".timeindex", TXN_INDEX_SUFFIX)
            ]
            unlink_all(paths)
            max_bytes = config.segment_index_bytes
            oi = OffsetIndex.open(
                paths[0], base_offset, max_bytes, writable=True, preallocate=False
            )
            ti = TimeIndex.open(paths[1], base_offset, max_bytes, writable=True, preallocate=False)
        except BaseException:
            os.close(fd)
            raise
        segment = Segment(
            directory,
            base_offset,
            fd,
            0,
            oi,
            ti,
            config.index_interval_bytes,
            max_bytes,
            now_ms,
            True,
        )
        return cls(segment)

    def append(self, data: Buffer, batches: Sequence[tuple[int, int, int]]) -> None:
        """
        Write C{data}, holding C{batches} as C{(last offset, max timestamp, size)}, and index them.

        @raise OSError: The write failed.
        """
        segment = self.segment
        position = segment.size
        view = memoryview(data)
        written = write_all(os.writev, segment.fd, [view])
        if written != len(view):
            raise OSError(f"wrote {written} of {len(view)} bytes to a cleaned segment")
        for last, max_ts, size in batches:
            segment.index_batch(position, last, max_ts, size)
            segment.size = position = position + size
        self.bytes_written += len(view)

    def finish(self, txns: list[AbortedTxn], mtime: float) -> None:
        """Complete the files (see the module docstring); the segment then holds no descriptor."""
        segment = self.segment
        self.txns = txns
        segment.on_become_inactive()
        segment.offset_index.release()
        segment.time_index.release()
        txn_path = self.final_paths[3] + CLEANED_SUFFIX
        if txns:
            with open(txn_path, "wb") as f:
                f.write(b"".join(t.encode() for t in txns))
        fd = segment.take_fd()
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        for path, _ in self.existing(CLEANED_SUFFIX)[1:]:
            fsync_path(path, os.fsync)
        os.utime(self.final_paths[0] + CLEANED_SUFFIX, (mtime, mtime))
        base, max_bytes = segment.base_offset, segment.max_index_bytes
        oi = OffsetIndex.open(segment.offset_index.path, base, max_bytes, writable=False)
        ti = TimeIndex.open(segment.time_index.path, base, max_bytes, writable=False)
        try:
            oi.sanity_check(segment.size)
            ti.sanity_check(segment.size)
        finally:
            oi.release()
            ti.release()
        segment.offset_index, segment.time_index = oi, ti

    def discard(self) -> None:
        """Close and remove the files (``.cleaned`` or ``.swap``): a pass that did not swap."""
        segment = self.segment
        segment.offset_index.release()
        segment.time_index.release()
        fd = segment.take_fd()
        if fd >= 0:
            os.close(fd)
        paths = self.final_paths
        unlink_all([p + s for p in paths for s in (CLEANED_SUFFIX, SWAP_SUFFIX)])

    def set_index_paths(self, suffix: str) -> None:
        """Point the indexes at their files with C{suffix} (C{""}: the final names)."""
        segment = self.segment
        segment.offset_index.path = segment.index_path + suffix
        segment.time_index.path = segment.time_index_path + suffix


_SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)
_PREFIX = struct.Struct(">qi")
_DELTA = struct.Struct(">i")


def check_still_held(segments: Sequence[Segment], old: Sequence[Segment]) -> None:
    """
    Raise L{CleaningAbortedError} unless C{old} are consecutive inactive ones of C{segments}.

    (Retention or DeleteRecords may have removed some while the cleaner worked.)
    """
    ids = [id(s) for s in segments]
    try:
        first = ids.index(id(old[0]))
    except ValueError:
        raise CleaningAbortedError("the segments being cleaned were deleted") from None
    if ids[first : first + len(old)] != [id(s) for s in old] or first + len(old) >= len(ids):
        raise CleaningAbortedError("the segments being cleaned changed")


def replace_segments(
    local: LocalLog,
    rename_old: Callable[[Sequence[Segment]], None],
    cleaned: CleanedSegment,
    old: Sequence[Segment],
) -> None:
    """
    Swap C{cleaned} in for C{old} (see the module docstring); reactor thread.

    C{rename_old(old)} renames the old files ``.deleted`` and schedules their removal.

    @raise CleaningAbortedError: C{old} are no longer the log's (nothing was renamed).
    @raise OSError: A rename failed (the loader finishes or rolls back the swap).
    """
    check_still_held(local.segments, old)
    files = cleaned.existing(CLEANED_SUFFIX)
    for path, final in files:
        os.rename(path, final + SWAP_SUFFIX)
    cleaned.set_index_paths(SWAP_SUFFIX)
    rename_old(old)
    for _, final in files:
        os.rename(final + SWAP_SUFFIX, final)
    cleaned.set_index_paths("")
    local.replace(cleaned.segment, old, cleaned.txns)


def _offset(name: str) -> int | None:
    if len(name) > 21 and name[:20].isdigit() and name[20] == ".":
        return int(name[:20])
    return None


def _next_offset(path: str, base: int) -> int:
    """The offset after the last batch of a ``.log`` file (Kafka's C{readNextOffset})."""
    next_offset = base
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        pos = 0
        while pos + 27 <= size:
            head = os.pread(f.fileno(), 27, pos)
            if len(head) < 27:
                break
            batch_base, length = _PREFIX.unpack_from(head)
            (delta,) = _DELTA.unpack_from(head, 23)
            if length < 49 or pos + 12 + length > size:
                break
            next_offset = batch_base + delta + 1
            pos += 12 + length
    return next_offset


def recover_interrupted_swaps(directory: str, names: set[str]) -> list[str]:
    """
    Finish or roll back an interrupted swap in a partition dir (see the module docstring).

    Blocking; for the loader. C{names}, the dir's listing, is kept up to
    date. Returns notes for the recovery report.
    """
    if not any(n.endswith((CLEANED_SUFFIX, SWAP_SUFFIX)) for n in names):
        return []
    notes: list[str] = []
    cleaned = [n for n in names if n.endswith(CLEANED_SUFFIX)]
    swaps = [n for n in names if n.endswith(SWAP_SUFFIX) and _offset(n) is not None]
    min_cleaned = min((o for o in map(_offset, cleaned) if o is not None), default=None)
    valid = []
    for name in swaps:
        offset = _offset(name)
        if min_cleaned is not None and offset is not None and offset >= min_cleaned:
            notes.append(f"deleted {name}: its swap had not finished (rolled back)")
            unlink_all([os.path.join(directory, name)])
        else:
            valid.append(name)
    unlink_all([os.path.join(directory, n) for n in cleaned])
    logs = [n for n in valid if n.endswith(LOG_SUFFIX + SWAP_SUFFIX)]
    if logs:
        low = min(int(n[:20]) for n in logs)
        high = max(_next_offset(os.path.join(directory, n), int(n[:20])) for n in logs)
        for name in os.listdir(directory):
            offset = _offset(name)
            if offset is not None and name.endswith(_SEGMENT_SUFFIXES) and low <= offset < high:
                notes.append(f"deleted {name}: replaced by an interrupted swap")
                unlink_all([os.path.join(directory, name)])
    for name in valid:
        os.rename(os.path.join(directory, name), os.path.join(directory, name[: -len(SWAP_SUFFIX)]))
        notes.append(f"recovered {name[: -len(SWAP_SUFFIX)]} from an interrupted swap")
    names.clear()
    names.update(os.listdir(directory))
    return notes
