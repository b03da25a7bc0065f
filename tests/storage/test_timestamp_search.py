"""Tests for ListOffsets record look-ups: bounded, off the reactor when large, no record objects."""

from __future__ import annotations

import tracemalloc

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.wire.compression import GZIP, ZSTD
from tests.tiny_batches import T0, tiny_batch

from .support import ManualRunBlocking, append, batch, error_code, open_log

#: Decompresses to 1.4 MB: more than the reactor thread's 1 MiB share.
BIG = 200_000


class TimestampSearchTests(SynchronousTestCase):
    """Look-ups inside a batch, on the reactor thread or in the worker pool."""

    def _log(self, *batches: bytes, **kw: object) -> tuple[PartitionLog, ManualRunBlocking]:
        run = ManualRunBlocking()
        log = open_log(self, run_blocking=run, **kw)  # type: ignore[arg-type]
        for b in batches:
            append(self, log, b)
        run.run_all()  # nothing from the appends stays queued
        return log, run

    def test_target_between_records_and_none_found(self) -> None:
        """A target between two timestamps finds the later record; one past all finds nothing."""
        log, run = self._log(batch(timestamps=[100, 300, 200]), batch(timestamps=[150, 400]))
        found = log.offset_for_timestamp(350)
        self.assertEqual(self.successResultOf(found), OffsetAndTimestamp(4, 400, 0))
        self.assertIsNone(self.successResultOf(log.offset_for_timestamp(401)))
        self.assertEqual(run.pending, [])

    def test_max_timestamp_in_compressed_batch(self) -> None:
        """MAX_TIMESTAMP finds the first record with the largest timestamp, compressed or not."""
        log, _ = self._log(
            batch(timestamps=[100, 700, 200]),
            batch(timestamps=[150, 900, 900, 5], compression=ZSTD),
        )
        self.assertEqual(self.successResultOf(log.max_timestamp()), OffsetAndTimestamp(4, 900, 0))

    def test_log_append_time_records_untouched(self) -> None:
        """A LogAppendTime batch answers from its header: its records are never read."""
        garbage = tiny_batch(3, body=b"\xff" * 40, log_append_time=True, late=5)
        log, _ = self._log(garbage)
        found = log.offset_for_timestamp(T0)
        self.assertEqual(self.successResultOf(found), OffsetAndTimestamp(0, T0 + 5, 0))
        self.assertEqual(
            self.successResultOf(log.max_timestamp()), OffsetAndTimestamp(0, T0 + 5, 0)
        )

    def test_large_batch_searched_in_worker(self) -> None:
        """A batch decompressing past 1 MiB is searched by run_blocking, not on the reactor."""
        log, run = self._log(tiny_batch(BIG, codec=GZIP, late=7))
        for look_up in (lambda: log.offset_for_timestamp(T0 + 1), log.max_timestamp):
            found = look_up()
            self.assertNoResult(found)
            self.assertEqual(len(run.pending), 1)
            run.run_one()
            self.assertEqual(self.successResultOf(found), OffsetAndTimestamp(BIG - 1, T0 + 7, 0))

    def test_large_uncompressed_batch_searched_in_worker(self) -> None:
        """An uncompressed batch over 1 MiB is walked in place by run_blocking."""
        log, run = self._log(tiny_batch(BIG, late=7), config=LogConfig(max_message_bytes=2 << 20))
        found = log.offset_for_timestamp(T0)
        run.run_all()
        self.assertEqual(self.successResultOf(found), OffsetAndTimestamp(0, T0, 0))

    def test_search_goes_on_after_a_batch_without_answer(self) -> None:
        """A batch whose header claims a later timestamp than its records has is passed over."""
        for count, codec in ((3, 0), (BIG, GZIP)):
            with self.subTest(count=count):
                liar = tiny_batch(count, codec=codec, late=1, max_timestamp=T0 + 50)
                log, run = self._log(liar, tiny_batch(2, late=40))
                found = log.offset_for_timestamp(T0 + 30)
                run.run_all()
                self.assertEqual(
                    self.successResultOf(found), OffsetAndTimestamp(count + 1, T0 + 40, 0)
                )
                found = log.max_timestamp()
                run.run_all()
                self.assertIsNone(self.successResultOf(found))

    def test_corrupt_batch(self) -> None:
        """Stored records that do not decompress or walk answer CORRUPT_MESSAGE, small or large."""
        cases = [
            tiny_batch(3, body=b"\x7f" * 10),
            tiny_batch(3, codec=GZIP, body=b"\x7f" * 10),
            tiny_batch(BIG, codec=GZIP, body=b"\x00" * (3 << 20)),
        ]
        for stored in cases:
            log, run = self._log(stored)
            found = log.offset_for_timestamp(T0)
            run.run_all()
            self.assertEqual(error_code(self, found), ErrorCode.CORRUPT_MESSAGE)

    def test_over_the_decompression_limit(self) -> None:
        """A batch decompressing past the limit for its max.message.bytes is CORRUPT_MESSAGE."""
        config = LogConfig(max_message_bytes=3000)  # the limit is then 1 MiB
        log, run = self._log(tiny_batch(BIG, codec=GZIP), config=config)
        found = log.offset_for_timestamp(T0)
        self.assertEqual(error_code(self, found), ErrorCode.CORRUPT_MESSAGE)
        self.assertEqual(run.pending, [])

    def test_million_tiny_records_bounded(self) -> None:
        """A million tiny records in a few KB: found with no per-record objects (peak < 50 MiB)."""
        count = 1_000_000
        log, run = self._log(tiny_batch(count, codec=ZSTD, late=3))
        tracemalloc.start()
        try:
            found = log.offset_for_timestamp(T0 + 2)
            run.run_all()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(self.successResultOf(found), OffsetAndTimestamp(count - 1, T0 + 3, 0))
        self.assertLess(peak, 50 << 20)
