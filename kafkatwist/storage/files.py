"""File helpers of the log engine: exact C{pread}s, C{writev} of many pieces, unlinking, fsync."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Sequence

#: Writers: C{os.writev}, or a fake injected by tests to simulate disk errors.
Writev = Callable[[int, Sequence[memoryview]], int]
#: C{os.fsync}, or a fake injected by tests.
Fsync = Callable[[int], None]

#: How many buffers one C{writev} call takes (Linux's C{IOV_MAX}).
_IOV_MAX = 1024


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


def fsync_directory(directory: str, fsync: Fsync) -> None:
    """Fsync a directory, so that created, renamed and removed entries are durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fsync(fd)
    finally:
        os.close(fd)
