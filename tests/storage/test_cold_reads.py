"""Tests for cold reads: hot reads stay on the reactor thread, uncached ones go to the pool."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from attrs import Factory, define
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.files import READ_HANDLES
from kafkatwist.storage.nowait import HAVE_NOWAIT, NoWaitPread, WouldBlock
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.wire.batch import iter_batches

from .support import ManualRunBlocking, append, batch, open_log, temp_dir

T = TypeVar("T")

#: Segments of a few batches each: several segments from a few appends.
SMALL_SEGMENTS = LogConfig(segment_bytes=4096, index_interval_bytes=256)


def evict(path: str) -> None:
    """Drop the clean pages of C{path} from the page cache (no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@define(eq=False)
class EvictedFiles(NoWaitPread):
    """
    The reactor's C{RWF_NOWAIT} reads, holding the files a test evicted as uncached.

    A missed C{RWF_NOWAIT} probe starts the kernel's readahead, which on a fast disk can bring
    the file back before the read path's next probe: the evicted file then reads as cached
    and the test would race the disk. The kernel's own answers are tested in C{test_nowait}.
    """

    inodes: set[int] = Factory(set)

    def evict(self, path: str) -> None:
        """Drop C{path} from the page cache and hold it uncached from now on."""
        evict(path)
        self.inodes.add(os.stat(path).st_ino)

    def __call__(self, fd: int, size: int, position: int) -> bytes:
        if os.fstat(fd).st_ino in self.inodes:
            raise WouldBlock()
        return super().__call__(fd, size, position)


def fill(case: SynchronousTestCase, log: PartitionLog, batches: int = 40) -> list[bytes]:
    """Append C{batches} batches of distinct values; return each stored batch's records."""
    values = []
    for i in range(batches):
        append(case, log, batch(3, value_size=100, timestamp=1_000 + i))
        values.append(bytes([65 + i % 26]))
    return values


def expected_read(log: PartitionLog, offset: int, max_bytes: int) -> bytes:
    """
    What a read from C{offset} returns, from the segment files (an oracle independent of the
    read path): whole batches from the one holding C{offset}, at most C{max_bytes} (the first
    one whole), across segments.
    """
    data = b""
    for segment in log.segments:
        with open(segment.log_path, "rb") as f:
            data += f.read()
    taken, started = b"", False
    for position, header in iter_batches(data):
        if header.last_offset < offset:
            continue
        if started and len(taken) + header.size > max_bytes:
            break
        taken += data[position : position + header.size]
        started = True
    return taken


class HotAndColdTests(SynchronousTestCase):
    """Where a read runs: the reactor for cached data, the pool for the rest."""

    def setUp(self) -> None:
        if not HAVE_NOWAIT:
            raise SkipTest("no RWF_NOWAIT on this OS")
        self.manual = ManualRunBlocking()
        self.evicted = EvictedFiles()
        self.pool = ReadPool(self.manual, nowait=self.evicted)
        self.log = open_log(self, config=SMALL_SEGMENTS, reads=self.pool)
        fill(self, self.log)
        self.successResultOf(self.log.flush())
        self.first = self.log.segments[0]
        self.expected = expected_read(self.log, 0, 1 << 20)

    def read(self, offset: int) -> bytes:
        """Read from C{offset}, running the pool's jobs if it went there."""
        d = self.log.read(offset, 1 << 20)
        self.manual.run_all()
        return b"".join(self.successResultOf(d).buffers)

    def test_hot_read_stays_on_reactor(self) -> None:
        """A read of cached data fires at once from the reactor thread; the pool is not used."""
        d = self.log.read(0, 1 << 20)
        self.assertEqual(b"".join(self.successResultOf(d).buffers), self.expected)
        self.assertEqual((self.pool.on_reactor, self.pool.in_pool), (1, 0))

    def test_cold_segment_goes_to_pool(self) -> None:
        """A read of a segment evicted from the page cache runs in the pool; its bytes are right."""
        self.evicted.evict(self.first.log_path)
        d = self.log.read(0, 1 << 20)
        self.assertNoResult(d)
        self.assertEqual((self.pool.on_reactor, self.pool.in_pool, self.pool.running), (0, 1, 1))
        self.manual.run_all()
        result = self.successResultOf(d)
        self.assertEqual(b"".join(result.buffers), self.expected)
        self.assertEqual(self.pool.running, 0)

    def test_cold_index_goes_to_pool(self) -> None:
        """An offset index whose pages are not cached is not touched on the reactor thread."""
        index = self.first.offset_index
        self.assertGreater(index.entries, 0)
        index.release()
        evict(index.path)
        if index.resident() is not False:
            raise SkipTest("cannot make the index cold here")
        index.release()
        offset = self.log.segments[1].base_offset - 2
        expected = expected_read(self.log, offset, 1 << 20)
        self.assertEqual(self.read(offset), expected)
        self.assertEqual((self.pool.on_reactor, self.pool.in_pool), (0, 1))
        self.assertEqual(self.read(offset), expected)
        self.assertEqual(self.pool.on_reactor, 1)

    def test_fallback_without_nowait(self) -> None:
        """Without RWF_NOWAIT, reads of older segments go to the pool, the active one's do not."""
        self.pool.nowait.supported = False
        self.assertEqual(self.read(0), self.expected)
        self.assertEqual((self.pool.on_reactor, self.pool.in_pool), (0, 1))
        active = self.log.segments[-1].base_offset
        self.assertEqual(self.read(active), expected_read(self.log, active, 1 << 20))
        self.assertEqual((self.pool.on_reactor, self.pool.in_pool), (1, 1))

    def test_partial_answer_rather_than_pool(self) -> None:
        """Cached batches read before uncached ones are answered at once (a shorter fetch)."""
        self.evicted.evict(self.log.segments[1].log_path)
        result = self.successResultOf(self.log.read(0, 1 << 20))
        self.assertEqual(result.size, self.first.size)
        self.assertEqual((self.pool.on_reactor, self.pool.in_pool), (1, 0))


class ClosingTests(SynchronousTestCase):
    """Closing a log with reads in the pool."""

    def setUp(self) -> None:
        self.manual = ManualRunBlocking()
        self.pool = ReadPool(self.manual, threads=1)
        self.pool.nowait.supported = False  # every read of an older segment goes to the pool
        self.log = open_log(self, config=SMALL_SEGMENTS, reads=self.pool)
        fill(self, self.log)

    def test_close_waits_for_running_read(self) -> None:
        """Close fires only after the read in the pool finished, which answers its data."""
        d = self.log.read(0, 1 << 20)
        closed = self.log.close()
        self.assertNoResult(closed)
        self.manual.run_all()
        self.assertGreater(self.successResultOf(d).size, 0)
        self.successResultOf(closed)

    def test_queued_read_fails_cleanly(self) -> None:
        """A read still queued for a worker when the log closes fails with KAFKA_STORAGE_ERROR."""
        first = self.log.read(0, 1 << 20)
        second = self.log.read(0, 1 << 20)
        self.assertEqual((self.pool.running, self.pool.queued), (1, 1))
        closed = self.log.close()
        self.manual.run_all()
        self.assertGreater(self.successResultOf(first).size, 0)
        error = self.failureResultOf(second, KafkaError).value
        self.assertEqual(error.code, ErrorCode.KAFKA_STORAGE_ERROR)
        self.successResultOf(closed)
        self.assertEqual((self.pool.running, self.pool.queued), (0, 0))


class GatedThreads:
    """
    A run_blocking running jobs in real threads, each held at a gate until the test opens it.

    Results are delivered to the Deferreds on the test's thread by L{deliver}, as the
    reactor would.
    """

    def __init__(self, case: SynchronousTestCase) -> None:
        self.gate = threading.Event()
        self._executor = ThreadPoolExecutor(8)
        case.addCleanup(self._executor.shutdown)
        case.addCleanup(self.gate.set)
        self._running: list[tuple[Future[Any], Deferred[Any]]] = []

    def __call__(self, fn: Callable[[], T]) -> Deferred[T]:
        d: Deferred[T] = Deferred()

        def held() -> T:
            self.gate.wait(30)
            return fn()

        self._running.append((self._executor.submit(held), d))
        return d

    def deliver(self) -> None:
        """Open the gate, wait for every job, fire their Deferreds here."""
        self.gate.set()
        while self._running:
            future, d = self._running.pop(0)
            try:
                value = future.result(30)
            except Exception as e:
                d.errback(e)
            else:
                d.callback(value)


class ConcurrencyTests(SynchronousTestCase):
    """Reads in worker threads while the segments' descriptors are closed and reused."""

    def test_reads_survive_deletion_and_fd_reuse(self) -> None:
        """
        Reads running in threads return the right bytes although retention closed their
        segments' descriptors and other files got the same numbers meanwhile.
        """
        threads = GatedThreads(self)
        pool = ReadPool(threads, threads=64)
        pool.nowait.supported = False
        log = open_log(self, config=SMALL_SEGMENTS, reads=pool)
        fill(self, log, batches=100)
        bases = [s.base_offset for s in log.segments[:-1]]
        self.assertGreater(len(bases), 5)
        expected = {base: expected_read(log, base, 4096) for base in bases}
        reads = [(base, log.read(base, 4096)) for base in bases for _ in range(2)]
        self.assertEqual((pool.running, pool.queued), (len(reads), 0))
        # Retention deletes every older segment: their descriptors are closed at once
        # (the log's executor runs here), the read handles dropped.
        handles = len(READ_HANDLES)  # the shared cache: other tests' logs may hold some
        self.successResultOf(log.delete_records_before(log.segments[-1].base_offset))
        self.assertEqual(len(log.segments), 1)
        self.assertEqual(len(READ_HANDLES), handles - len(bases))
        # Other files take the freed descriptor numbers.
        decoys = []
        for i in range(64):
            path = os.path.join(temp_dir(self), f"decoy-{i}")
            with open(path, "wb") as f:
                f.write(b"\xee" * 8192)
            decoys.append(os.open(path, os.O_RDONLY))
        for fd in decoys:
            self.addCleanup(os.close, fd)
        threads.deliver()
        for base, d in reads:
            result = self.successResultOf(d)
            self.assertEqual(b"".join(result.buffers), expected[base])

    def test_concurrent_reads_and_evictions(self) -> None:
        """Pool reads running while READ_HANDLES evicts return their segment's bytes."""
        threads = GatedThreads(self)
        pool = ReadPool(threads, threads=64)
        pool.nowait.supported = False
        log = open_log(self, config=SMALL_SEGMENTS, reads=pool)
        fill(self, log, batches=80)
        bases = [s.base_offset for s in log.segments[:-1]]
        expected = {base: expected_read(log, base, 4096) for base in bases}
        capacity = READ_HANDLES.capacity
        READ_HANDLES.capacity = 2
        self.addCleanup(setattr, READ_HANDLES, "capacity", capacity)
        pending = [(base, log.read(base, 4096)) for base in bases for _ in range(3)]
        threads.gate.set()  # the workers run while this thread keeps evicting read handles
        for _ in range(50):
            for segment in log.segments[:-1]:
                segment.read_fd()
        threads.deliver()
        for base, d in pending:
            self.assertEqual(b"".join(self.successResultOf(d).buffers), expected[base])
