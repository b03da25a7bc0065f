"""Reading whole batches from segments: on the reactor while the data is cached, else in a pool.

A fetch reads whole batches: an offset-index look-up, a walk of batch
headers from the indexed position, then one read of the batches. While the
pages are in the page cache that is a few microseconds and stays on the
reactor thread. A read of data that is not (a consumer catching up on an
old segment, or any read after the cache was dropped) waits for the disk,
and every connection would wait with it; such reads run in L{ReadPool}, a
bounded pool of worker threads (``num.io.threads``, 8 by default).

How a read knows it would block, without blocking:

- data reads go through L{kafkatwist.storage.nowait.NoWaitPread}
  (C{preadv} with C{RWF_NOWAIT}, Linux 4.14+, after C{cachestat} for large
  reads), which raises L{WouldBlock} instead of waiting for the disk;
- offset-index look-ups go through the index's memory map, where a page
  fault would block unseen: the pages of the entries are checked with
  C{mincore} first (L{kafkatwist.storage.files.FileMapping.resident});
- where either is unsupported (another OS, a file system that refuses
  C{RWF_NOWAIT}), the heuristic takes over: reads of the active segment
  (recently written, so almost always cached) stay on the reactor; reads
  of older segments go to the pool.

A L{WouldBlock} anywhere abandons that partition's read on the reactor (it
read nothing it keeps) and the whole read is done again in the pool. Only
the read of that one partition waits; the connection is muted until its
response is sent (so responses stay in request order), other connections
are served meanwhile.

Safety: a worker never touches a descriptor or a map another thread may
close. When the read's turn in the pool comes, the reactor thread takes a
L{SegmentSnapshot} of each segment the read may reach: its ``.log``
reopened through C{/proc/self/fd} (L{files.reopen}: the same file, with an
open file description of its own, so the worker's reads have their own
readahead while the reactor's descriptors have none), its ``.index`` opened
then, its size and entry count. The worker reads through those and closes
them. Retention, DeleteRecords, compaction swaps, log close and evictions
from L{kafkatwist.storage.files.READ_HANDLES} close the log's own
descriptors whenever they like: the worker's keep the file (even a renamed
or removed one) open, and their numbers cannot be reused until the worker
closes them. A log's L{kafkatwist.storage.read_pool.LogReads} counts its
reads in flight; closing the log waits for them, and reads still queued
then fail with C{KAFKA_STORAGE_ERROR}.

Bounds: at most C{threads} reads run at once (each at most the fetch's
byte budget); the others wait in a queue holding no descriptor and no
buffer.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence

from attrs import define, frozen

from kafkatwist.storage.files import pread_exact, reopen
from kafkatwist.storage.index import OffsetIndex
from kafkatwist.storage.nowait import NoWaitPread, WouldBlock
from kafkatwist.wire.batch import LENGTH_OFFSET, LOG_OVERHEAD

#: A positional read: C{pread(fd, size, position)} -> the bytes.
Pread = Callable[[int, int, int], bytes]

_PREFIX = struct.Struct(">qi")  # base offset, batch length
_I32 = struct.Struct(">i")
_OFFSET_ENTRY = struct.Struct(">ii")
_LAST_OFFSET_DELTA_AT = 23
#: The bytes of a batch a header walk reads: up to its last offset delta.
MIN_PREFIX = _LAST_OFFSET_DELTA_AT + 4

#: Kafka's ``num.io.threads`` default: the read pool's size.
DEFAULT_IO_THREADS = 8


# -- the read itself (either thread) ------------------------------------------------------


def batch_windows(
    pread: Pread, fd: int, start: int, end: int, need: int, window_size: int
) -> Iterator[tuple[int, bytes, int]]:
    """
    Yield C{(position, window, rel)} per batch from C{start} up to byte C{end}.

    C{window[rel : rel + need]} holds the batch's first C{need} bytes;
    windows of C{window_size} bytes are read ahead, one C{pread} each.
    """
    pos = start
    window = b""
    window_start = pos
    while pos + need <= end:
        rel = pos - window_start
        if rel < 0 or rel + need > len(window):
            window = pread(fd, min(window_size, end - pos), pos)
            window_start, rel = pos, 0
            if len(window) < need:
                return
        yield pos, window, rel
        (length,) = _I32.unpack_from(window, rel + LENGTH_OFFSET)
        pos += length + LOG_OVERHEAD


def locate(
    pread: Pread, fd: int, size: int, window_size: int, offset: int, start: int
) -> tuple[int, int, int, int] | None:
    """
    The first batch at or after byte C{start} whose last offset is >= C{offset}.

    Reads only the 27-byte prefix of each batch walked.

    @return: C{(position, size, base offset, last offset)}, or C{None}.
    """
    for position, window, rel in batch_windows(pread, fd, start, size, MIN_PREFIX, window_size):
        base, length = _PREFIX.unpack_from(window, rel)
        (delta,) = _I32.unpack_from(window, rel + _LAST_OFFSET_DELTA_AT)
        if base + delta >= offset:
            return position, length + LOG_OVERHEAD, base, base + delta
    return None


def read_batches(
    pread: Pread,
    fd: int,
    position: int,
    limit: int,
    max_bytes: int,
    first_size: int | None,
    reread: bool = False,
) -> tuple[bytes | None, int]:
    """
    Whole batches from C{position}, stopping before byte C{limit} and after C{max_bytes}.

    With C{first_size} the first batch is read whole even if larger than
    C{max_bytes} (Kafka's C{minOneMessage}). A read that ended inside a batch
    is trimmed by slicing (one copy), or with C{reread} by reading the whole
    batches again from the page cache: a worker thread copies in the kernel,
    without holding the GIL the reactor thread needs.

    @return: The buffer (C{None} if not even one batch fits) and the
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
    data = pread(fd, want, position)
    end = len(data)
    p = 0
    while p + LOG_OVERHEAD <= end:
        (length,) = _I32.unpack_from(data, p + LENGTH_OFFSET)
        size = length + LOG_OVERHEAD
        if p + size > end:
            break
        p += size
    if p == 0:
        return None, position
    # Transports take bytes only: trim with one copy of the kept part.
    if p == end:
        return data, position + p
    return (pread(fd, p, position) if reread else data[:p]), position + p


@frozen
class SegmentView:
    """
    What one read needs of a segment.

    @ivar end_offset: The next segment's base offset, or the log end offset.
    @ivar lookup: The offset index: the position of the greatest entry at or below an offset.
    """

    base_offset: int
    end_offset: int
    size: int
    fd: int
    window_size: int
    lookup: Callable[[int], int]


def read_segments(
    views: Iterable[SegmentView],
    pread: Pread,
    offset: int,
    max_bytes: int,
    limit_offset: int,
    min_one_message: bool,
    reread: bool = False,
) -> tuple[list[bytes], int]:
    """
    Whole batches from the one holding C{offset}, below C{limit_offset}, within C{max_bytes}.

    C{views}: the segment holding C{offset} and the later ones, pulled only
    while the budget lasts. With C{min_one_message} the first batch comes
    whole however large it is.

    @return: The buffers and their total size.
    """
    buffers: list[bytes] = []
    total = 0
    start_offset = offset
    first = True
    pending = iter(views)
    while start_offset < limit_offset:
        view = next(pending, None)
        if view is None:
            break
        try:
            budget, first_whole = max_bytes - total, first and min_one_message
            data, end, limit = _read_segment(
                view, pread, start_offset, limit_offset, budget, first_whole, reread
            )
        except WouldBlock:
            if buffers:  # what was read is a valid (shorter) answer
                break
            raise
        if data is None:
            break
        if data:
            buffers.append(data)
            total += len(data)
            first = False
            if end < limit:
                break
        start_offset = view.end_offset
    return buffers, total


def _read_segment(
    view: SegmentView,
    pread: Pread,
    offset: int,
    limit_offset: int,
    budget: int,
    first_whole: bool,
    reread: bool,
) -> tuple[bytes | None, int, int]:
    """
    L{read_segments} in one segment: the data, where it ends, and the read's limit there.

    The data is C{b""} when every batch of the segment ends before C{offset}
    (go on with the next one), C{None} when not even one batch fits.
    """
    found = locate(pread, view.fd, view.size, view.window_size, offset, view.lookup(offset))
    if found is None:
        return b"", view.size, view.size
    position, first_size, _, _ = found
    limit = view.size
    if limit_offset < view.end_offset:
        start = max(view.lookup(limit_offset), position)
        bound = locate(pread, view.fd, view.size, view.window_size, limit_offset, start)
        if bound is not None:
            limit = bound[0]
    first = first_size if first_whole else None
    data, end = read_batches(pread, view.fd, position, limit, budget, first, reread)
    return data, end, limit


# -- the reactor's attempt ---------------------------------------------------------------


def checked_lookup(index: OffsetIndex, nowait: NoWaitPread, active: bool) -> Callable[[int], int]:
    """
    The reactor's index look-up: raises L{WouldBlock} when it could fault on a page not cached.

    Checks once, with C{mincore}, that the pages of the entries are cached;
    where that cannot be known (or C{RWF_NOWAIT} is off), only the active
    segment is read on the reactor. The active segment's index is not
    checked (3 us saved on almost every fetch): it is mapped in this
    process, written by appends and touched by look-ups, so its pages are
    in memory but under memory pressure.
    """
    checked = active and nowait.supported

    def lookup(offset: int) -> int:
        nonlocal checked
        if not checked:
            resident = index.resident() if nowait.supported else None
            if resident is False or (resident is None and not active):
                raise WouldBlock()
            checked = True
        return index.lookup(offset)[1]

    return lookup


# -- the worker's read -------------------------------------------------------------------


@define(eq=False)
class SegmentSnapshot:
    """
    One segment as a worker reads it: descriptors of its own, taken on the reactor thread.

    @ivar log_fd: The segment's ``.log``, reopened (L{files.reopen}).
    @ivar index_fd: The ``.index`` opened for this read (-1 when it has no entries).
    """

    base_offset: int
    end_offset: int
    size: int
    window_size: int
    log_fd: int
    index_fd: int
    index_entries: int

    def lookup(self, offset: int) -> int:
        """The offset index look-up, by C{pread}s of the entries (a binary search)."""
        lo, hi = 0, self.index_entries - 1
        found = 0
        while lo <= hi:
            mid = (lo + hi) >> 1
            raw = os.pread(self.index_fd, 8, mid * 8)
            if len(raw) < 8:
                break
            relative, position = _OFFSET_ENTRY.unpack(raw)
            if self.base_offset + relative <= offset:
                found, lo = position, mid + 1
            else:
                hi = mid - 1
        return found

    def view(self) -> SegmentView:
        """The L{SegmentView} reading through the snapshot's descriptors."""
        return SegmentView(
            self.base_offset,
            self.end_offset,
            self.size,
            self.log_fd,
            self.window_size,
            self.lookup,
        )

    def close(self) -> None:
        """Close the snapshot's descriptors."""
        for fd in (self.log_fd, self.index_fd):
            if fd >= 0:
                os.close(fd)


def read_snapshots(
    snapshots: Sequence[SegmentSnapshot],
    offset: int,
    max_bytes: int,
    limit_offset: int,
    min_one_message: bool,
) -> tuple[list[bytes], int]:
    """The worker's read (L{read_segments} with blocking C{pread}s); closes the snapshots."""
    try:
        views = (s.view() for s in snapshots)
        args = (offset, max_bytes, limit_offset, min_one_message)
        return read_segments(views, pread_exact, *args, reread=True)
    finally:
        for snapshot in snapshots:
            snapshot.close()


def snapshots_for(
    views: Iterable[tuple[SegmentView, str, int]], max_bytes: int
) -> list[SegmentSnapshot]:
    """
    Snapshot the segments a read of at most C{max_bytes} may reach (reactor thread).

    C{views}: from the segment holding the read's offset on, each with its
    index path and entry count; pulled until the later segments taken hold
    C{max_bytes}.
    """
    taken: list[SegmentSnapshot] = []
    later = 0
    pending = iter(views)
    try:
        while not taken or later < max_bytes:
            item = next(pending, None)
            if item is None:
                break
            view, index_path, entries = item
            index_fd = os.open(index_path, os.O_RDONLY | os.O_CLOEXEC) if entries else -1
            try:
                log_fd = reopen(view.fd)
            except BaseException:
                if index_fd >= 0:
                    os.close(index_fd)
                raise
            if taken:
                later += view.size
            taken.append(
                SegmentSnapshot(
                    view.base_offset,
                    view.end_offset,
                    view.size,
                    view.window_size,
                    log_fd,
                    index_fd,
                    entries,
                )
            )
    except BaseException:
        for snapshot in taken:
            snapshot.close()
        raise
    return taken
