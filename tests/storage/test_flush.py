"""Tests for a partition log's flushing, disk errors and high watermark waiters."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from twisted.internet.defer import CancelledError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError

from .support import (
    ManualRunBlocking,
    append,
    batch,
    error_code,
    headers,
    open_log,
    read_bytes,
    segment_file_bytes,
    validated,
)


class FlushTests(SynchronousTestCase):
    """The flush policy and the high watermark."""

    def test_flush_messages_one_waits_for_fsync(self) -> None:
        """With flush.messages=1 the append and the high watermark wait for the fsync job."""
        manual = ManualRunBlocking()
        synced: list[int] = []
        log = open_log(
            self, config=LogConfig(flush_messages=1), run_blocking=manual, fsync=synced.append
        )
        waiter = log.add_waiter(0)
        data = batch(3)
        d = log.append(data, validated(data), leader_epoch=0, now_ms=0)
        self.assertNoResult(d)
        self.assertNoResult(waiter)
        self.assertEqual((log.log_end_offset, log.high_watermark, log.recovery_point), (3, 0, 0))
        self.assertEqual(synced, [])
        self.assertEqual(self.successResultOf(log.read(0, 1000)).size, 0)
        manual.run_all()
        self.assertEqual(self.successResultOf(d).last_offset, 2)
        self.assertEqual(self.successResultOf(waiter), 3)
        self.assertEqual((log.high_watermark, log.recovery_point), (3, 3))
        self.assertIn(log.segments[0].fd, synced)

    def test_flushes_keep_order_and_group(self) -> None:
        """Appends during a running flush share the next one; completions follow append order."""
        manual = ManualRunBlocking()
        synced: list[int] = []
        log = open_log(
            self, config=LogConfig(flush_messages=1), run_blocking=manual, fsync=synced.append
        )
        results = []
        for n in (1, 2, 3):
            data = batch(n)
            log.append(data, validated(data), leader_epoch=-1, now_ms=0).addCallback(
                lambda info: results.append((info.base_offset, log.high_watermark))
            )
        self.assertEqual(len(manual.pending), 1)
        manual.run_one()
        self.assertEqual(results, [(0, 1)])
        self.assertEqual(len(synced), 3)
        manual.run_one()
        self.assertEqual(results, [(0, 1), (1, 6), (3, 6)])
        self.assertEqual(len(synced), 6)
        self.assertEqual(manual.pending, [])

    def test_default_policy_never_waits(self) -> None:
        """With the default policy appends fire at once and fsync waits for roll or close."""
        manual = ManualRunBlocking()
        log = open_log(self, run_blocking=manual)
        info = append(self, log, batch(2))
        self.assertEqual((info.last_offset, log.high_watermark, log.recovery_point), (1, 2, 0))
        manual.run_all()
        self.assertEqual(log.recovery_point, 0)
        d = log.flush()
        manual.run_all()
        self.successResultOf(d)
        self.assertEqual(log.recovery_point, 2)

    def test_flush_ms(self) -> None:
        """flush.ms makes an append wait for a flush once that much time has passed."""
        clock = Clock()
        manual = ManualRunBlocking()
        log = open_log(self, config=LogConfig(flush_ms=1000), clock=clock, run_blocking=manual)
        clock.advance(0.999)
        self.successResultOf(log.append(batch(1), validated(batch(1)), leader_epoch=-1, now_ms=999))
        clock.advance(0.001)
        d = log.append(batch(1), validated(batch(1)), leader_epoch=-1, now_ms=1000)
        self.assertNoResult(d)
        manual.run_all()
        self.successResultOf(d)
        clock.advance(0.5)
        self.successResultOf(
            log.append(batch(1), validated(batch(1)), leader_epoch=-1, now_ms=1500)
        )
        self.assertIsNone(log.maybe_flush(1500))
        clock.advance(0.5)
        self.assertIsNotNone(log.maybe_flush(2000))

    def test_fsync_failure(self) -> None:
        """A failing fsync fails the waiting append (KAFKA_STORAGE_ERROR); the log goes offline."""

        def broken(fd: int) -> None:
            raise OSError(errno.EIO, "fsync: I/O error")

        log = open_log(self, config=LogConfig(flush_messages=1), fsync=broken)
        data = batch(1)
        d = log.append(data, validated(data), leader_epoch=-1, now_ms=0)
        self.assertEqual(error_code(self, d), ErrorCode.KAFKA_STORAGE_ERROR)
        self.assertTrue(log.is_offline)
        self.assertEqual(log.high_watermark, 0)
        error = self.failureResultOf(log.read(0, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.KAFKA_STORAGE_ERROR)
        self.flushLoggedErrors()


class DiskErrorTests(SynchronousTestCase):
    """OSError while writing."""

    def test_failing_writer(self) -> None:
        """A failed write is KAFKA_STORAGE_ERROR, acknowledges nothing, restores the file."""
        calls: list[int] = []

        def failing(fd: int, pieces: Sequence[memoryview]) -> int:
            calls.append(len(pieces))
            if len(calls) > 1:
                os.write(fd, b"\x00" * 7)
                raise OSError(errno.ENOSPC, "No space left on device")
            return os.writev(fd, pieces)

        log = open_log(self, writev=failing)
        append(self, log, batch(2))
        size = log.segments[0].size
        waiter = log.add_waiter(5)
        data = batch(3)
        d = log.append(data, validated(data), leader_epoch=0, now_ms=0)
        self.assertEqual(error_code(self, d), ErrorCode.KAFKA_STORAGE_ERROR)
        self.assertEqual((log.log_end_offset, log.high_watermark), (2, 2))
        self.assertEqual(os.path.getsize(log.segments[0].log_path), size)
        self.assertEqual(
            self.failureResultOf(waiter, KafkaError).value.code, ErrorCode.KAFKA_STORAGE_ERROR
        )
        self.assertEqual(
            error_code(self, log.append(data, validated(data), leader_epoch=0, now_ms=0)),
            ErrorCode.KAFKA_STORAGE_ERROR,
        )
        self.assertEqual(error_code(self, log.close()), ErrorCode.KAFKA_STORAGE_ERROR)

    def test_short_writes_are_resumed(self) -> None:
        """A writev that writes only part of the pieces is continued until all bytes are written."""

        def dribble(fd: int, pieces: list[memoryview]) -> int:
            return os.write(fd, pieces[0][:5])

        log = open_log(self, writev=dribble)
        append(self, log, batch(3, value_size=30))
        append(self, log, batch(2))
        self.assertEqual(read_bytes(log, 0), segment_file_bytes(log))
        self.assertEqual([h.base_offset for h in headers(read_bytes(log, 0))], [0, 3])


class WaiterTests(SynchronousTestCase):
    """Long-poll waiters on the high watermark."""

    def test_fires_when_passed(self) -> None:
        """A waiter fires with the new high watermark once it passes the offset."""
        log = open_log(self)
        append(self, log, batch(2))
        self.assertEqual(self.successResultOf(log.add_waiter(1)), 2)
        d = log.add_waiter(2)
        self.assertNoResult(d)
        append(self, log, batch(1))
        self.assertEqual(self.successResultOf(d), 3)

    def test_cancel(self) -> None:
        """A cancelled waiter is forgotten."""
        log = open_log(self)
        d = log.add_waiter(0)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        append(self, log, batch(1))
        self.assertFalse(log._waiters)

    def test_close_fires_waiters(self) -> None:
        """Closing the log fires pending waiters with the high watermark."""
        log = open_log(self)
        d = log.add_waiter(0)
        self.successResultOf(log.close())
        self.assertEqual(self.successResultOf(d), 0)
