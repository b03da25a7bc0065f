"""Tests for the descriptors a log holds: lazy indexes, inactive segments, batched jobs."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage import files
from kafkatwist.storage.executor import BatchingRunBlocking
from kafkatwist.storage.files import ReadHandles
from kafkatwist.storage.index import OffsetIndex, TimeIndex
from kafkatwist.storage.manager import LogManager

from .support import ManualRunBlocking, append, batch, open_log, read_bytes, run_now, temp_dir


def _open_fds() -> set[str]:
    """The targets of this process's open descriptors."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return out


def _fds_under(directory: str) -> list[str]:
    return sorted(path for path in _open_fds() if path.startswith(directory))


class LazyIndexTests(SynchronousTestCase):
    """An index holds no descriptor, and maps its file only when an entry is used."""

    def test_open_holds_nothing(self) -> None:
        """Opening a writable index preallocates the file but holds no descriptor and no map."""
        directory = temp_dir(self)
        index = OffsetIndex.open(os.path.join(directory, "0.index"), 0, 80, writable=True)
        self.addCleanup(index.close)
        self.assertEqual(_fds_under(directory), [])
        self.assertFalse(index.is_mapped)
        self.assertEqual(os.path.getsize(index.path), 80)

    def test_append_maps_without_a_descriptor(self) -> None:
        """An append maps the file and closes the descriptor; entries read back after release."""
        directory = temp_dir(self)
        index = TimeIndex.open(os.path.join(directory, "0.timeindex"), 10, 120, writable=True)
        self.addCleanup(index.close)
        index.maybe_append(1000, 12)
        self.assertTrue(index.is_mapped)
        self.assertEqual(_fds_under(directory), [])
        index.release()
        self.assertFalse(index.is_mapped)
        self.assertEqual(index.lookup(5000), (1000, 12))
        index.trim()
        self.assertEqual(os.path.getsize(index.path), 12)

    def test_empty_lookup_maps_nothing(self) -> None:
        """A look-up in an empty index answers the base offset without mapping the file."""
        directory = temp_dir(self)
        index = OffsetIndex.open(os.path.join(directory, "5.index"), 5, 80, writable=False)
        self.addCleanup(index.close)
        self.assertEqual(index.lookup(100), (5, 0))
        self.assertFalse(index.is_mapped)


class SegmentDescriptorTests(SynchronousTestCase):
    """A partition log holds one descriptor at rest: its active segment's ``.log``."""

    def test_one_descriptor_per_log(self) -> None:
        """A new log, and one with appends, hold just the active .log open."""
        directory = os.path.join(temp_dir(self), "t-0")
        log = open_log(self, directory)
        self.assertEqual(_fds_under(directory), [log.segments[-1].log_path])
        append(self, log, batch(3))
        self.assertEqual(_fds_under(directory), [log.segments[-1].log_path])

    def test_rolled_segments_close_their_descriptor(self) -> None:
        """After rolls only the active segment holds a descriptor; reads of old ones still work."""
        directory = os.path.join(temp_dir(self), "t-0")
        log = open_log(self, directory, LogConfig(segment_bytes=300))
        for _ in range(4):
            append(self, log, batch(3, value_size=50))
        self.assertGreater(len(log.segments), 2)
        self.assertEqual([s.fd >= 0 for s in log.segments[:-1]], [False] * (len(log.segments) - 1))
        files.READ_HANDLES.drop(log.segments[0])
        self.assertEqual(_fds_under(directory), [log.segments[-1].log_path])
        self.assertEqual(len(read_bytes(log, 0, min_one_message=True)) > 0, True)
        files.READ_HANDLES.drop(log.segments[0])

    def test_reopened_log_holds_only_the_active_segment(self) -> None:
        """A log loaded from several segments, cleanly or after a crash, keeps one descriptor."""
        directory = os.path.join(temp_dir(self), "t-0")
        log = open_log(self, directory, LogConfig(segment_bytes=300))
        for _ in range(4):
            append(self, log, batch(3, value_size=50))
        self.successResultOf(log.close())
        for recover in (False, True):
            again = open_log(self, directory, LogConfig(segment_bytes=300), recover=recover)
            self.assertEqual(_fds_under(directory), [again.segments[-1].log_path])
            self.assertEqual(again.log_end_offset, 12)
            self.successResultOf(again.close())

    def test_read_handles_are_bounded(self) -> None:
        """The shared read handles close the least recently used descriptor beyond capacity."""
        directory = temp_dir(self)
        handles = ReadHandles(capacity=2)
        owners = [object() for _ in range(3)]
        paths = []
        for i, owner in enumerate(owners):
            path = os.path.join(directory, f"{i}.log")
            with open(path, "wb") as f:
                f.write(b"x")
            paths.append(path)
            handles.get(owner, path)
        self.assertEqual(len(handles), 2)
        self.assertEqual(_fds_under(directory), paths[1:])
        for owner in owners:
            handles.drop(owner)
        self.assertEqual(_fds_under(directory), [])


class BatchingTests(SynchronousTestCase):
    """Many small blocking jobs run in a few thread-pool jobs while batching."""

    def test_jobs_run_in_few_pool_jobs(self) -> None:
        """100 jobs queued while batching cost at most max_jobs calls of run_blocking."""
        manual = ManualRunBlocking()
        runner = BatchingRunBlocking(manual, max_jobs=3)
        runner.batching = True
        results: list[Any] = []
        deferreds: list[Deferred[int]] = []
        for i in range(100):
            deferreds.append(runner(partial(int.__mul__, i, 2)))
        for d in deferreds:
            d.addCallback(results.append)
        self.assertEqual(manual.pending, [])
        runner.dispatch()
        self.assertEqual(len(manual.pending), 3)
        manual.run_all()
        self.assertEqual(results, [i * 2 for i in range(100)])

    def test_failure_stays_with_its_job(self) -> None:
        """A job that raises fails only its own Deferred."""
        runner = BatchingRunBlocking(run_now)
        runner.batching = True

        def boom() -> int:
            raise OSError("no")

        bad = runner(boom)
        good = runner(lambda: 1)
        runner.stop_batching()
        self.failureResultOf(bad, OSError)
        self.assertEqual(self.successResultOf(good), 1)

    def test_job_queued_from_elsewhere_after_dispatch_runs(self) -> None:
        """A job queued after dispatch by a callback of another Deferred is not left waiting."""
        manual = ManualRunBlocking()
        runner = BatchingRunBlocking(manual, max_jobs=2)
        runner.batching = True
        first = runner(lambda: 1)
        runner.dispatch()
        manual.run_all()
        self.assertEqual(self.successResultOf(first), 1)
        # Nothing is in flight now; a flush finishing through some other path
        # (not one of this runner's deliveries) queues a job while batching.
        elsewhere: Deferred[None] = Deferred()
        later: list[Deferred[int]] = []
        elsewhere.addCallback(lambda _: later.append(runner(lambda: 2)))
        elsewhere.callback(None)
        manual.run_all()
        self.assertEqual(self.successResultOf(later[0]), 2)
        runner.stop_batching()


class ManagerCloseTests(SynchronousTestCase):
    """A clean close of many logs writes no per-file fsync and still marks everything flushed."""

    def test_close_checkpoints_log_end(self) -> None:
        """After close the recovery point checkpoint holds each log's end offset."""
        directory = temp_dir(self)
        manager = LogManager(
            [directory], lambda topic: LogConfig(), clock=Clock(), run_blocking=run_now
        )
        for p in range(5):
            append(self, manager.create("t", p, LogConfig()), batch(p + 1))
        self.successResultOf(manager.close())
        with open(os.path.join(directory, "recovery-point-offset-checkpoint")) as f:
            lines = f.read().split("\n")
        self.assertEqual(sorted(lines[2:7]), [f"t {p} {p + 1}" for p in range(5)])
        self.assertTrue(os.path.exists(os.path.join(directory, ".kafka_cleanshutdown")))
        self.assertEqual(_fds_under(directory), [])
