"""File helpers of the log engine: exact C{pread}s, C{writev}, unlinking, fsync, syncfs, maps.

Also the descriptor-frugal pieces: L{ReadHandles} (the bounded LRU of read
descriptors of inactive segments) and L{FileMapping} (a shared map that keeps
no descriptor).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

#: Writers: C{os.writev}, or a fake injected by tests to simulate disk errors.
Writev = Callable[[int, Sequence[memoryview]], int]
#: C{os.fsync}, or a fake injected by tests.
Fsync = Callable[[int], None]


def failed_disk(error: OSError, *args: object) -> NoReturn:
    """A C{writev} or C{fsync} on a failed disk (L{LogFlusher.fail_disk}): raises C{error}."""
    raise error


#: How many buffers one C{writev} call takes (Linux's C{IOV_MAX}).
_IOV_MAX = 1024

#: How many inactive segments may keep a read descriptor open at once (all logs together).
MAX_OPEN_READ_HANDLES = 256

_FADV_RANDOM: int | None = getattr(os, "POSIX_FADV_RANDOM", None)


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


def reopen(fd: int) -> int:
    """
    A new read-only descriptor of C{fd}'s file, with an open file description of its own.

    Through C{/proc/self/fd} (Linux): the same file even if it was renamed or
    removed meanwhile, with its own readahead state and advice. Elsewhere a
    duplicate (C{os.dup}), which shares them.
    """
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return os.dup(fd)


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
        if _FADV_RANDOM is not None:
            # Reads through this description run on the reactor thread: no readahead,
            # which would submit up to read_ahead_kb of disk I/O from that thread
            # (the read pool reads through descriptions of its own, L{reopen}).
            os.posix_fadvise(fd, 0, 0, _FADV_RANDOM)
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


class FileMapping:
    """
    A shared memory map of a file that keeps no descriptor once made.

    Python's C{mmap.mmap} keeps a duplicate of the descriptor for as long as
    the map lives (before Python 3.13's C{trackfd=False}), which is what made
    each index cost a descriptor. This maps through libc's C{mmap} instead
    (or C{mmap.mmap(trackfd=False)} where that exists) and exposes the bytes
    as a buffer for C{struct.pack_into}/C{unpack_from}; no view of it is
    kept beyond one call, so unmapping is safe.
    """

    def __init__(self, fd: int, length: int, writable: bool) -> None:
        self.length = length
        self._mm: mmap.mmap | None = None
        self._address = 0
        access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
        if _LIBC_MMAP is None:
            self._mm = mmap.mmap(fd, length, access=access, **_TRACKFD)
            self.buffer: ctypes.Array[ctypes.c_char] | mmap.mmap = self._mm
            return
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        address = _LIBC_MMAP(None, length, prot, mmap.MAP_SHARED, fd, 0)
        if address is None or address == _MAP_FAILED:
            code = ctypes.get_errno()
            raise OSError(code, f"mmap failed: {os.strerror(code)}")
        self._address = address
        self.buffer = (ctypes.c_char * length).from_address(address)

    def resident(self, length: int) -> bool | None:
        """
        Whether the pages of the first C{length} bytes are in the page cache (C{mincore}).

        C{None} when that cannot be known (no C{mincore}, or a Python map).
        """
        if not self._address or _LIBC_MINCORE is None:
            return None
        pages = -(-min(length, self.length) // mmap.PAGESIZE)
        if pages <= 0:
            return True
        vec = ctypes.create_string_buffer(pages)
        if _LIBC_MINCORE(self._address, pages * mmap.PAGESIZE, vec) != 0:
            return None
        # Only the low bit of each byte says "resident".
        return b"\x00" not in vec.raw.translate(_LOW_BIT)

    def close(self) -> None:
        """Unmap; idempotent."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        elif self._address and _LIBC_MUNMAP is not None:
            _LIBC_MUNMAP(self._address, self.length)
            self._address = 0


def _libc_functions() -> tuple[object, object, object] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        map_, unmap, mincore = libc.mmap, libc.munmap, libc.mincore
    except (OSError, AttributeError):
        return None
    map_.restype = ctypes.c_void_p
    map_.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    unmap.restype = ctypes.c_int
    unmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    mincore.restype = ctypes.c_int
    mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    return map_, unmap, mincore


_FUNCTIONS = _libc_functions()
_LIBC_MMAP: Any = None if _FUNCTIONS is None else _FUNCTIONS[0]
_LIBC_MUNMAP: Any = None if _FUNCTIONS is None else _FUNCTIONS[1]
_LIBC_MINCORE: Any = None if _FUNCTIONS is None else _FUNCTIONS[2]
#: C{bytes.translate} table keeping the low bit of each byte (C{mincore}'s vector).
_LOW_BIT = bytes(b & 1 for b in range(256))
_MAP_FAILED = ctypes.c_void_p(-1).value
#: Python 3.13+ can map without keeping a duplicate descriptor.
_TRACKFD: dict[str, bool] = {"trackfd": False} if sys.version_info >= (3, 13) else {}
