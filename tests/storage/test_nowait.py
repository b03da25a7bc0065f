"""Tests for L{kafkatwist.storage.nowait} and L{kafkatwist.storage.files.reopen}."""

from __future__ import annotations

import os

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from kafkatwist.storage.files import FileMapping, reopen
from kafkatwist.storage.nowait import HAVE_NOWAIT, SMALL_READ, NoWaitPread, WouldBlock

from .support import temp_dir


def cached(path: str) -> bool:
    """Whether every page of the file is in the page cache (C{mincore} through a map)."""
    size = os.stat(path).st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        mapping = FileMapping(fd, size, False)
    finally:
        os.close(fd)
    try:
        return mapping.resident(size) is True
    finally:
        mapping.close()


class NoWaitPreadTests(SynchronousTestCase):
    """Reads of cached data return it; reads of evicted data raise WouldBlock."""

    def setUp(self) -> None:
        if not HAVE_NOWAIT:
            raise SkipTest("no RWF_NOWAIT on this OS")
        self.path = os.path.join(temp_dir(self), "data")
        self.data = os.urandom(4 * SMALL_READ + 123)
        with open(self.path, "wb") as f:
            f.write(self.data)
            f.flush()
            os.fsync(f.fileno())
        self.fd = os.open(self.path, os.O_RDONLY)
        self.addCleanup(os.close, self.fd)

    def evict(self) -> None:
        """Drop the file's pages from the page cache, or skip where that does not work."""
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        if cached(self.path) or FileMapping(self.fd, 1, False).resident(1) is not False:
            raise SkipTest("this file system keeps the pages cached")

    def test_cached_reads(self) -> None:
        """Small and large reads of cached data return exactly the file's bytes."""
        nowait = NoWaitPread()
        self.assertEqual(nowait(self.fd, 100, 7), self.data[7:107])
        large = nowait(self.fd, 3 * SMALL_READ, 5)
        self.assertIs(type(large), bytes)
        self.assertEqual(large, self.data[5 : 5 + 3 * SMALL_READ])
        self.assertEqual(hash(large), hash(self.data[5 : 5 + 3 * SMALL_READ]))

    def test_evicted_reads_would_block(self) -> None:
        """Small and large reads of evicted data raise WouldBlock, with or without cachestat."""
        self.evict()
        nowait = NoWaitPread()
        self.assertRaises(WouldBlock, nowait, self.fd, 3 * SMALL_READ, 0)
        nowait.use_cachestat = False
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        self.assertRaises(WouldBlock, nowait, self.fd, 3 * SMALL_READ, 0)
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        self.assertRaises(WouldBlock, nowait, self.fd, 100, 2 * SMALL_READ)
        self.assertTrue(nowait.supported)

    def test_unsupported_reads_block(self) -> None:
        """With RWF_NOWAIT off, reads are plain preads."""
        self.evict()
        nowait = NoWaitPread(supported=False)
        self.assertEqual(nowait(self.fd, 3 * SMALL_READ, 1), self.data[1 : 1 + 3 * SMALL_READ])


class ReopenTests(SynchronousTestCase):
    """L{reopen}: a descriptor of its own for the same file."""

    def test_same_file_after_rename_and_removal(self) -> None:
        """The reopened descriptor reads the original file although it was renamed and removed."""
        directory = temp_dir(self)
        path = os.path.join(directory, "00000000000000000000.log")
        with open(path, "wb") as f:
            f.write(b"old contents")
        fd = os.open(path, os.O_RDONLY)
        own = reopen(fd)
        self.addCleanup(os.close, own)
        self.assertNotEqual(own, fd)
        os.rename(path, path + ".deleted")
        with open(path, "wb") as f:
            f.write(b"new contents")
        os.unlink(path + ".deleted")
        os.close(fd)
        self.assertEqual(os.pread(own, 100, 0), b"old contents")
