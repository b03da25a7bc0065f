"""One broker per log directory: Kafka's C{.lock} file, and a usable-directory check.

Kafka's C{LogManager} creates every log directory, checks that it is one,
and takes an exclusive lock on C{<dir>/.lock} for the life of the process
(C{FileLock.tryLock}); a second broker on the same directory fails to start
with "Failed to acquire lock on file .lock in <dir>". L{lock_log_dirs} does
the same with C{flock(LOCK_EX | LOCK_NB)}: the lock belongs to the open file,
so it conflicts with any other process, and with another open of the same
file in this process; the kernel drops it when the process dies, so a
SIGKILLed broker leaves nothing stale behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable

from attrs import define, field

__all__ = ["LOCK_FILE", "DirLock", "LogDirError", "LogDirLockedError", "lock_log_dirs"]

#: Kafka's lock file name (C{LogManager.LockFileName}).
LOCK_FILE = ".lock"


class LogDirError(Exception):
    """A log directory the broker cannot use; C{str()} names the path and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot use log dir {self.path}: {self.reason}"


class LogDirLockedError(LogDirError):
    """Another broker (process or service) holds the directory's C{.lock}."""

    def __str__(self) -> str:
        # Kafka's wording (LogManager.lockLogDirs).
        return (
            f"Failed to acquire lock on file {LOCK_FILE} in {self.path}. A Kafka instance "
            "in another process or thread is using this directory."
        )


@define
class DirLock:
    """The held lock of one directory: an open C{.lock} file; L{release} closes it."""

    path: str
    _fd: int | None = field(alias="fd")

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _prepare(path: str) -> None:
    """Create C{path} (and its parents) unless it exists; it must be a directory."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        pass  # a file (or a dangling link) is named below
    except OSError as e:
        raise LogDirError(path, e.strerror or str(e)) from None
    if not os.path.isdir(path):
        raise LogDirError(path, "Not a directory")


def _lock(path: str) -> DirLock:
    """Open (creating it) C{path}/.lock and take the exclusive lock, or raise."""
    try:
        fd = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        # Also the test that the directory is writable (a root-owned bind mount).
        raise LogDirError(path, e.strerror or str(e)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LogDirLockedError(path, "locked") from None
    except OSError as e:
        os.close(fd)
        raise LogDirError(path, e.strerror or str(e)) from None
    return DirLock(path, fd=fd)


def lock_log_dirs(paths: Iterable[str]) -> list[DirLock]:
    """
    Create, check and lock every log directory, in order; all or nothing.

    @param paths: absolute directory paths (the first is the metadata dir).
    @raise LogDirError: for the first directory that is not a directory,
        cannot be created or written (L{LogDirLockedError}: is locked); the
        locks taken before it are released.
    """
    locks: list[DirLock] = []
    try:
        for path in dict.fromkeys(paths):
            _prepare(path)
            locks.append(_lock(path))
    except BaseException:
        for held in locks:
            held.release()
        raise
    return locks
