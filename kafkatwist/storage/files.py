"""File helpers of the log engine: exact C{pread}s, C{writev} of many pieces, unlinking, fsync."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

#: Writers: C{os.writev}, or a fake injected by tests to simulate disk errors.
Writev = Callable[[int, Sequence[memoryview]], int]
#: C{os.fsync}, or a fake injected by tests.
Fsync = Callable[[int], None]

#: How many buffers one C{writev} call takes (Linux's C{IOV_MAX}).
_IOV_MAX = 1024

#: How many inactive segments may keep a read descriptor open at once (all logs together).
MAX_OPEN_READ_HANDLES = 256


def pread_exact(fd: int, size: int, position: int) -> bytes:
    """C{size} bytes at C{position} (fewer only at the end of the file)."""
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


def write_all(writev: Writev, fd: int, pieces: Sequence[bytes | memoryview]) -> int:
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


def unlink_all(paths: Iterable[str]) -> None:
    """Remove each file, ignoring those already gone."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def fsync_path(path: str, fsync: Fsync) -> None:
    """Fsync the file at C{path} through a descriptor opened for it; a missing file is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    try:
        fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: str, fsync: Fsync) -> None:
    """Fsync a directory, so that created, renamed and removed entries are durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fsync(fd)
    finally:
        os.close(fd)


def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return syncfs


_SYNCFS = _libc_syncfs()


def sync_filesystem(directory: str) -> None:
    """
    Write back every dirty file of the file system holding C{directory} (Linux C{syncfs}).

    One call instead of an fsync per file, as at a clean shutdown; where
    C{syncfs} is missing, C{os.sync} (every file system).
    """
    if _SYNCFS is None:
        os.sync()
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if _SYNCFS(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"syncfs of {directory} failed: {os.strerror(code)}")
    finally:
        os.close(fd)


class ReadHandles:
    """
    A bounded LRU of read-only descriptors, one per owner (an inactive segment), shared by all logs.

    An inactive segment holds no descriptor at rest: a read opens its
    ``.log`` through L{get}, and the least recently read one is closed when
    more than C{capacity} are open. Used on the reactor thread only (the
    lock guards the bookkeeping, not a descriptor in use elsewhere).
    """

    def __init__(self, capacity: int = MAX_OPEN_READ_HANDLES) -> None:
        self.capacity = capacity
        self._open: OrderedDict[int, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def get(self, owner: object, path: str) -> int:
        """A read descriptor of C{path} for C{owner}, opened now if it has none."""
        key = id(owner)
        with self._lock:
            held = self._open.get(key)
            if held is not None:
                self._open.move_to_end(key)
                return held[1]
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        evicted: list[int] = []
        with self._lock:
            # The owner is kept with its descriptor, so that its id is not reused meanwhile.
            self._open[key] = (owner, fd)
            while len(self._open) > max(self.capacity, 1):
                _, (_, old) = self._open.popitem(last=False)
                evicted.append(old)
        for old in evicted:
            os.close(old)
        return fd

    def drop(self, owner: object) -> None:
        """Close C{owner}'s read descriptor, if one is open."""
        with self._lock:
            held = self._open.pop(id(owner), None)
        if held is not None:
            os.close(held[1])


#: The process-wide read descriptors of inactive segments.
READ_HANDLES = ReadHandles()
