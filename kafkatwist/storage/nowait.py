"""Reading a file on the reactor thread only if that cannot wait for the disk.

L{NoWaitPread} is the C{pread} of the reactor's read attempts
(L{kafkatwist.storage.reads}): it returns the bytes when every page is in
the page cache, and raises L{WouldBlock} otherwise, without waiting and
without starting disk I/O on the reactor thread where it can avoid it.

- C{preadv(..., RWF_NOWAIT)} (Linux 4.14+) is the test: the kernel answers
  C{EAGAIN}, or a short read, when a page is missing or still being read in
  (readahead in flight), instead of sleeping.
- Before a large read, C{cachestat} (Linux 6.5+; one system call that copies
  nothing) says whether every page of the range is cached at all. Without it
  an C{RWF_NOWAIT} read of a range cached only in part copies the cached
  part for nothing and, on a miss, has the kernel allocate and submit its
  synchronous readahead on the calling thread: milliseconds, measured, for
  the 10 MiB reads of a catching-up consumer. C{cachestat} cannot see a page
  still being read in; the C{RWF_NOWAIT} read that follows does.
- Small reads (header windows) go through one reused buffer and one copy
  into C{bytes}; large ones are read straight into a new C{bytes} object
  through libc's C{preadv2} (C{PyBytes_FromStringAndSize(NULL, n)}, filled
  before anything else can see it, as C{os.pread} fills its own), so a
  cached read costs what C{os.pread} costs.

Where C{RWF_NOWAIT} is missing or refused (another OS, another file
system) L{NoWaitPread.supported} is false and the callers fall back to a
heuristic (L{kafkatwist.storage.reads.checked_lookup}).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from attrs import Factory, define

from kafkatwist.storage.files import pread_exact

#: Whether this OS has C{preadv} with C{RWF_NOWAIT}.
HAVE_NOWAIT = hasattr(os, "RWF_NOWAIT") and hasattr(os, "preadv")

#: Reads up to this size go through the reused buffer (and one copy), without C{cachestat}.
SMALL_READ = 64 * 1024

#: The errors saying C{RWF_NOWAIT} (or C{cachestat}) is not supported here.
_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})

#: Linux's C{cachestat} system call (one number on every architecture: 451).
_CACHESTAT = 451
_PAGE = mmap.PAGESIZE


class WouldBlock(Exception):
    """A read on the reactor thread would wait for the disk: do it in the pool instead."""


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Cachestat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")
    ]


def _libc() -> tuple[Callable[..., int], Callable[..., int]] | None:
    """libc's C{preadv2} and C{syscall}, or C{None} (another OS, an old libc)."""
    if not HAVE_NOWAIT or not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        preadv2, syscall = libc.preadv2, libc.syscall
    except (OSError, AttributeError):
        return None
    preadv2.restype = ctypes.c_ssize_t
    iov = ctypes.POINTER(_Iovec)
    preadv2.argtypes = [ctypes.c_int, iov, ctypes.c_int, ctypes.c_int64, ctypes.c_int]
    syscall.restype = ctypes.c_long
    new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
    new_bytes.restype, new_bytes.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_ssize_t]
    as_string = ctypes.pythonapi.PyBytes_AsString
    as_string.restype, as_string.argtypes = ctypes.c_void_p, [ctypes.py_object]
    return preadv2, syscall


_LIBC = _libc()
_NEW_BYTES: Callable[[None, int], bytes] = ctypes.pythonapi.PyBytes_FromStringAndSize
_BYTES_ADDRESS: Callable[[bytes], int] = ctypes.pythonapi.PyBytes_AsString


@define(eq=False)
class NoWaitPread:
    """
    C{pread} that raises L{WouldBlock} rather than wait for the disk (reactor thread only).

    @ivar supported: Whether C{RWF_NOWAIT} works here (off for good after a refusal).
    @ivar use_cachestat: Whether large reads ask C{cachestat} first (off where it is missing).
    """

    supported: bool = HAVE_NOWAIT
    use_cachestat: bool = _LIBC is not None
    #: A view of one reused buffer of L{SMALL_READ} bytes (never resized).
    _scratch: memoryview = Factory(lambda: memoryview(bytearray(SMALL_READ)))
    _iov: _Iovec = Factory(_Iovec)
    _range: _CachestatRange = Factory(_CachestatRange)
    _stat: _Cachestat = Factory(_Cachestat)

    def __call__(self, fd: int, size: int, position: int) -> bytes:
        if size <= 0 or not self.supported:
            return pread_exact(fd, size, position)
        if size <= SMALL_READ or _LIBC is None:
            return self._via_buffer(fd, size, position)
        if self.use_cachestat and not self._cached(fd, size, position):
            raise WouldBlock()
        data = _NEW_BYTES(None, size)
        self._iov.base, self._iov.len = _BYTES_ADDRESS(data), size
        got = _LIBC[0](fd, ctypes.byref(self._iov), 1, position, os.RWF_NOWAIT)
        if got < 0:
            self._refused(ctypes.get_errno())
        if got < size:
            raise WouldBlock()
        return data

    def _via_buffer(self, fd: int, size: int, position: int) -> bytes:
        view = self._scratch[:size] if size <= SMALL_READ else memoryview(bytearray(size))
        try:
            got = os.preadv(fd, [view], position, os.RWF_NOWAIT)
        except OSError as e:
            self._refused(e.errno)
        if got < size:
            raise WouldBlock()
        return bytes(view)

    def _cached(self, fd: int, size: int, position: int) -> bool:
        """Whether every page of the range is cached (C{True} where C{cachestat} is missing)."""
        assert _LIBC is not None
        self._range.off, self._range.len = position, size
        if _LIBC[1](_CACHESTAT, fd, ctypes.byref(self._range), ctypes.byref(self._stat), 0):
            self.use_cachestat = False
            return True
        pages = (position + size - 1) // _PAGE - position // _PAGE + 1
        return bool(self._stat.nr_cache >= pages)

    def _refused(self, code: int | None) -> NoReturn:
        """Raise L{WouldBlock} (noting an unsupported C{RWF_NOWAIT}), or the read's error."""
        if code == errno.EAGAIN:
            raise WouldBlock()
        if code in _UNSUPPORTED:
            self.supported = False
            raise WouldBlock()
        raise OSError(code, os.strerror(code or 0))
