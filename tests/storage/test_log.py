"""Tests for kafkatwist.storage.log: appends, reads, rolls, lookups, retention, flushing, errors."""

from __future__ import annotations

import errno
import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LONG_MAX, LogConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import broker_layers
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.epochs import LeaderEpochCache
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.wire.batch import BatchHeader, batch_crc, iter_batches

from .support import (
    ManualRunBlocking,
    append,
    append_batches,
    batch,
    headers,
    open_log,
    read_bytes,
    segment_file_bytes,
    stored_batches,
    temp_dir,
    validated,
)


def _error_code(case: SynchronousTestCase, d: object) -> ErrorCode:
    failure = case.failureResultOf(d, KafkaError)  # type: ignore[arg-type]
    return failure.value.code


class AppendReadTests(SynchronousTestCase):
    """Appending batches and reading them back."""

    def test_offsets_assigned_from_log_end(self) -> None:
        """Each append starts at the log end offset and reports its first and last offsets."""
        log = open_log(self)
        first = append(self, log, batch(3))
        second = append(self, log, batch(2))
        self.assertEqual((first.base_offset, first.last_offset), (0, 2))
        self.assertEqual((second.base_offset, second.last_offset), (3, 4))
        self.assertEqual((first.log_append_time_ms, first.log_start_offset), (-1, 0))
        self.assertEqual(
            (log.log_end_offset, log.high_watermark, log.last_stable_offset), (5, 5, 5)
        )

    def test_stored_bytes_are_the_batch_with_new_prefix(self) -> None:
        """The segment holds each batch unchanged except its base offset and leader epoch."""
        log = open_log(self)
        original = batch(4, value_size=50)
        append(self, log, batch(1))
        append(self, log, original, epoch=7)
        stored = segment_file_bytes(log)[len(batch(1)) :]
        self.assertEqual(stored[16:], original[16:])
        self.assertEqual(struct.unpack_from(">qii", stored), (1, len(original) - 12, 7))

    def test_read_is_byte_identical(self) -> None:
        """A read returns exactly the bytes of the segment files."""
        log = open_log(self)
        for n in range(1, 6):
            append(self, log, batch(n, value_size=n * 7))
        self.assertEqual(read_bytes(log, 0), segment_file_bytes(log))

    def test_read_from_middle_of_batch(self) -> None:
        """Fetching an offset inside a batch returns that whole batch first."""
        log = open_log(self)
        append(self, log, batch(3))
        append(self, log, batch(3))
        found = headers(read_bytes(log, 4))
        self.assertEqual([(h.base_offset, h.last_offset) for h in found], [(3, 5)])

    def test_max_bytes_returns_whole_batches(self) -> None:
        """A byte limit that falls inside a batch stops before that batch."""
        log = open_log(self)
        sizes = []
        for _ in range(4):
            b = batch(2, value_size=40)
            sizes.append(len(b))
            append(self, log, b)
        result = self.successResultOf(log.read(0, sizes[0] + sizes[1] + 5))
        self.assertEqual(result.size, sizes[0] + sizes[1])
        self.assertEqual(len(headers(b"".join(bytes(b) for b in result.buffers))), 2)
        # Twisted's transports take bytes only: reads hand out bytes, even when trimmed.
        self.assertEqual({type(b) for b in result.buffers}, {bytes})

    def test_first_batch_whole_when_min_one_message(self) -> None:
        """The first batch comes whole even above max_bytes, unless min_one_message is off."""
        log = open_log(self)
        big = batch(5, value_size=500)
        append(self, log, big)
        append(self, log, batch(1))
        self.assertEqual(read_bytes(log, 2, 10), segment_file_bytes(log)[: len(big)])
        self.assertEqual(self.successResultOf(log.read(2, 10, min_one_message=False)).size, 0)

    def test_out_of_range(self) -> None:
        """Offsets outside [log start, log end] are OFFSET_OUT_OF_RANGE; the log end reads empty."""
        log = open_log(self)
        append(self, log, batch(3))
        error = self.failureResultOf(log.read(4, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        error = self.failureResultOf(log.read(-1, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(self.successResultOf(log.read(3, 100)).size, 0)

    def test_max_offset(self) -> None:
        """Nothing at or beyond max_offset is returned."""
        log = open_log(self)
        for _ in range(3):
            append(self, log, batch(2))
        found = headers(read_bytes(log, 0, max_offset=4))
        self.assertEqual([h.base_offset for h in found], [0, 2])

    def test_reads_span_segments(self) -> None:
        """A read continues into later segments while the budget allows."""
        log = open_log(self, config=LogConfig(segment_bytes=400))
        for i in range(12):
            append(self, log, batch(2, value_size=30 + i))
        self.assertGreater(len(log.segments), 3)
        self.assertEqual(read_bytes(log, 0), segment_file_bytes(log))
        self.assertEqual(headers(read_bytes(log, 13))[0].base_offset, 12)

    def test_message_too_large(self) -> None:
        """A batch above max.message.bytes is MESSAGE_TOO_LARGE and nothing is written."""
        log = open_log(self, config=LogConfig(max_message_bytes=100))
        big = batch(3, value_size=100)
        d = log.append(big, validated(big), leader_epoch=0, now_ms=0)
        self.assertEqual(_error_code(self, d), ErrorCode.MESSAGE_TOO_LARGE)
        self.assertEqual(log.log_end_offset, 0)

    def test_record_list_too_large(self) -> None:
        """More bytes than segment.bytes in one append is RECORD_LIST_TOO_LARGE."""
        log = open_log(self, config=LogConfig(segment_bytes=200))
        data = batch(3, value_size=80)
        d = log.append(data, validated(data), leader_epoch=0, now_ms=0)
        self.assertEqual(_error_code(self, d), ErrorCode.RECORD_LIST_TOO_LARGE)

    def test_several_batches_in_one_append(self) -> None:
        """One append of several batches gives them consecutive offset ranges."""
        log = open_log(self, config=LogConfig(index_interval_bytes=0))
        data = batch(2) + batch(3) + batch(1)
        info = append(self, log, data)
        self.assertEqual((info.base_offset, info.last_offset), (0, 5))
        found = headers(read_bytes(log, 0))
        self.assertEqual([(h.base_offset, h.last_offset) for h in found], [(0, 1), (2, 4), (5, 5)])
        self.assertEqual(headers(read_bytes(log, 5))[0].base_offset, 5)

    def test_test_conveniences(self) -> None:
        """append_batches and stored_batches, which handler tests use, see the segment bytes."""
        log = open_log(self)
        self.successResultOf(append_batches(log, batch(2) + batch(1)))
        stored = stored_batches(log)
        self.assertEqual([headers(b)[0].base_offset for b in stored], [0, 2])
        self.assertEqual(b"".join(stored), segment_file_bytes(log))

    def test_log_append_time(self) -> None:
        """With LogAppendTime the batch carries the broker's time, reported in AppendInfo."""
        log = open_log(self, config=LogConfig(message_timestamp_type="LogAppendTime"))
        info = append(self, log, batch(2, timestamp=5), now_ms=123_456)
        self.assertEqual(info.log_append_time_ms, 123_456)
        [header] = headers(read_bytes(log, 0))
        self.assertEqual((header.timestamp_type, header.max_timestamp), (1, 123_456))
        self.assertEqual(batch_crc(read_bytes(log, 0)), header.crc)
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(100_000)),
            OffsetAndTimestamp(0, 123_456, 0),
        )


class RollTests(SynchronousTestCase):
    """When the active segment is rolled."""

    def test_roll_on_size(self) -> None:
        """A segment never grows past segment.bytes; the next one starts at the log end offset."""
        config = LogConfig(segment_bytes=500)
        log = open_log(self, config=config)
        for _ in range(10):
            append(self, log, batch(2, value_size=60))
        self.assertTrue(all(s.size <= 500 for s in log.segments))
        bases = [s.base_offset for s in log.segments]
        self.assertEqual(bases[0], 0)
        for segment, following in zip(log.segments, log.segments[1:], strict=False):
            self.assertEqual(
                headers(read_bytes(log, following.base_offset))[0].base_offset,
                following.base_offset,
            )
            self.assertTrue(
                os.path.basename(segment.log_path).startswith(f"{segment.base_offset:020d}")
            )

    def test_roll_on_time_by_first_batch_timestamp(self) -> None:
        """A batch segment.ms newer than the segment's first batch starts a new segment."""
        log = open_log(self, config=LogConfig(segment_ms=1000))
        append(self, log, batch(1, timestamp=10_000))
        append(self, log, batch(1, timestamp=10_900))
        self.assertEqual(len(log.segments), 1)
        append(self, log, batch(1, timestamp=11_001))
        self.assertEqual([s.base_offset for s in log.segments], [0, 2])

    def test_roll_on_time_by_clock_without_timestamps(self) -> None:
        """Without batch timestamps, the clock since the segment was created decides."""
        clock = Clock()
        log = open_log(self, config=LogConfig(segment_ms=1000), clock=clock)
        append(self, log, batch(1, timestamp=-1), now_ms=0)
        append(self, log, batch(1, timestamp=-1), now_ms=1000)
        self.assertEqual(len(log.segments), 1)
        append(self, log, batch(1, timestamp=-1), now_ms=1001)
        self.assertEqual(len(log.segments), 2)

    def test_roll_on_full_index(self) -> None:
        """A segment whose index is full is rolled before the next append."""
        config = LogConfig(segment_index_bytes=24, index_interval_bytes=0)
        log = open_log(self, config=config)
        for i in range(10):
            append(self, log, batch(1, timestamp=100 + i))
        self.assertGreater(len(log.segments), 2)
        for segment in log.segments[:-1]:
            self.assertEqual(segment.offset_index.entries, 2)
        self.assertEqual(read_bytes(log, 0), segment_file_bytes(log))

    def test_rolled_indexes_are_trimmed(self) -> None:
        """A rolled segment's index files hold just their entries, the time index its final one."""
        config = LogConfig(segment_bytes=700, index_interval_bytes=100)
        log = open_log(self, config=config)
        for i in range(8):
            append(self, log, batch(2, value_size=60, timestamp=1000 + i))
        old = log.segments[0]
        self.assertEqual(os.path.getsize(old.index_path), 8 * old.offset_index.entries)
        self.assertEqual(os.path.getsize(old.time_index_path), 12 * old.time_index.entries)
        self.assertEqual(
            old.time_index.last_entry(), (old.max_timestamp, old.offset_of_max_timestamp)
        )
        active = log.segments[-1]
        self.assertEqual(os.path.getsize(active.index_path), config.segment_index_bytes)


class IndexLookupTests(SynchronousTestCase):
    """Offset lookups through the index agree with a scan of the whole log."""

    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(1, 4), st.integers(0, 300)), min_size=1, max_size=25),
        st.sampled_from([0, 64, 200, 1000]),
    )
    def test_lookup_equals_linear_scan(self, shapes: list[tuple[int, int]], interval: int) -> None:
        """For every offset, the batch found via the index is the one a linear scan finds."""
        config = LogConfig(segment_bytes=2000, index_interval_bytes=interval)
        log = open_log(self, config=config)
        for count, size in shapes:
            append(self, log, batch(count, value_size=size))
        everything = read_bytes(log, 0)
        linear = [(pos, h) for pos, h in iter_batches(everything)]
        biggest = max(h.size for _, h in linear)
        for offset in range(log.log_end_offset):
            expected = next(h for _, h in linear if h.last_offset >= offset)
            self.assertEqual(headers(read_bytes(log, offset, 1))[0], expected)
            for segment in log.segments:
                found = segment.translate_offset(offset)
                if found is not None:
                    _, indexed = segment.offset_index.lookup(offset)
                    self.assertLessEqual(found[0] - indexed, interval + biggest)
                    break

    def test_recovery_rebuilds_the_same_index(self) -> None:
        """Rebuilding an index from the log gives the bytes the appends wrote."""
        config = LogConfig(index_interval_bytes=150)
        log = open_log(self, config=config)
        for i in range(30):
            append(self, log, batch(1 + i % 3, value_size=i * 3, timestamp=1000 + i))
        segment = log.segments[0]
        written = [segment.offset_index.entry(i) for i in range(segment.offset_index.entries)]
        times = [segment.time_index.entry(i) for i in range(segment.time_index.entries)]
        segment.recover()
        self.assertEqual(
            [segment.offset_index.entry(i) for i in range(segment.offset_index.entries)], written
        )
        self.assertEqual(
            [segment.time_index.entry(i) for i in range(segment.time_index.entries)][: len(times)],
            times,
        )


class TimestampTests(SynchronousTestCase):
    """ListOffsets lookups by timestamp."""

    def _log(self, **kwargs: object) -> PartitionLog:
        log = open_log(self, config=LogConfig(index_interval_bytes=0, segment_bytes=600))
        append(self, log, batch(timestamps=[100, 300, 200]))
        append(self, log, batch(timestamps=[150, 400]))
        append(self, log, batch(timestamps=[500, 500, 600], **kwargs))
        return log

    def test_first_record_at_or_after(self) -> None:
        """The answer is the first record >= target in the first batch that has one."""
        log = self._log()
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(0)), OffsetAndTimestamp(0, 100, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(250)), OffsetAndTimestamp(1, 300, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(301)), OffsetAndTimestamp(4, 400, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(550)), OffsetAndTimestamp(7, 600, 0)
        )
        self.assertIsNone(self.successResultOf(log.offset_for_timestamp(601)))

    def test_compressed_batch(self) -> None:
        """Records inside a compressed batch are found too."""
        log = self._log(compression=1)
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(550)), OffsetAndTimestamp(7, 600, 0)
        )

    def test_special_timestamps(self) -> None:
        """-2 is the log start offset, -1 the high watermark, -3 the largest timestamp's record."""
        log = self._log()
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(-2)), OffsetAndTimestamp(0, -1, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(-1)), OffsetAndTimestamp(8, -1, 0)
        )
        self.assertEqual(
            self.successResultOf(log.offset_for_timestamp(-3)), OffsetAndTimestamp(7, 600, 0)
        )
        self.assertEqual(self.successResultOf(log.max_timestamp()), OffsetAndTimestamp(7, 600, 0))

    def test_empty_log(self) -> None:
        """An empty log has no answer for a timestamp or the max timestamp."""
        log = open_log(self)
        self.assertIsNone(self.successResultOf(log.offset_for_timestamp(0)))
        self.assertIsNone(self.successResultOf(log.max_timestamp()))

    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(st.lists(st.integers(0, 1000), min_size=1, max_size=4), min_size=1, max_size=12),
        st.integers(0, 1100),
    )
    def test_matches_kafka_semantics(self, stamps: list[list[int]], target: int) -> None:
        """The result equals Kafka's rule applied by brute force over every record."""
        log = open_log(self, config=LogConfig(index_interval_bytes=100, segment_bytes=500))
        for timestamps in stamps:
            append(self, log, batch(timestamps=timestamps))
        expected = None
        offset = 0
        for timestamps in stamps:
            if max(timestamps) >= target:
                i = next(i for i, t in enumerate(timestamps) if t >= target)
                expected = OffsetAndTimestamp(offset + i, timestamps[i], 0)
                break
            offset += len(timestamps)
        self.assertEqual(self.successResultOf(log.offset_for_timestamp(target)), expected)


class RetentionTests(SynchronousTestCase):
    """Deleting whole old segments."""

    def _filled(self, clock: Clock, **config: object) -> object:
        log = open_log(self, config=LogConfig(segment_bytes=400, **config), clock=clock)  # type: ignore[arg-type]
        for i in range(12):
            append(self, log, batch(2, value_size=50, timestamp=1000 * i))
        return log

    def test_retention_ms(self) -> None:
        """Segments older than retention.ms are renamed .deleted, then removed after the delay."""
        clock = Clock()
        log = self._filled(clock, retention_ms=5000, file_delete_delay_ms=60000)
        segments = list(log.segments)
        expired = [s for s in segments if 12_000 - s.max_timestamp > 5000]
        self.assertEqual(log.apply_retention(12_000), len(expired))
        self.assertEqual(log.log_start_offset, log.segments[0].base_offset)
        directory = log.directory
        names = os.listdir(directory)
        for segment in expired:
            name = os.path.basename(segment.log_path)
            self.assertIn(name + ".deleted", names)
            self.assertNotIn(name, names)
        clock.advance(59.9)
        self.assertTrue(any(n.endswith(".deleted") for n in os.listdir(directory)))
        clock.advance(0.2)
        self.assertFalse(any(n.endswith(".deleted") for n in os.listdir(directory)))
        error = self.failureResultOf(log.read(0, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)

    def test_everything_expired_rolls_a_new_segment(self) -> None:
        """When every segment expired, a new empty active segment remains at the log end offset."""
        log = self._filled(Clock(), retention_ms=10)
        end = log.log_end_offset
        log.apply_retention(100_000)
        self.assertEqual([(s.base_offset, s.size) for s in log.segments], [(end, 0)])
        self.assertEqual(log.log_start_offset, end)
        append(self, log, batch(1))  # type: ignore[arg-type]
        self.assertEqual(headers(read_bytes(log, end))[0].base_offset, end)  # type: ignore[arg-type]

    def test_retention_bytes(self) -> None:
        """The oldest segments go until the log fits retention.bytes, never the active one."""
        log = self._filled(Clock(), retention_bytes=900, retention_ms=-1)
        log.apply_retention(0)
        sizes = [s.size for s in log.segments]
        self.assertLessEqual(sum(sizes), 900 + sizes[0])
        self.assertLessEqual(sum(sizes[1:]), 900)

    def test_unlimited_and_compact(self) -> None:
        """retention.ms -1, or a compact-only cleanup policy, deletes nothing."""
        for config in ({"retention_ms": -1}, {"retention_ms": 1, "cleanup_policy": "compact"}):
            log = self._filled(Clock(), **config)
            self.assertEqual(log.apply_retention(10**12), 0)

    def test_nothing_at_or_above_high_watermark(self) -> None:
        """A segment holding offsets at or above the high watermark is kept."""
        manual = ManualRunBlocking()
        log = open_log(
            self, config=LogConfig(segment_bytes=300, flush_messages=1), run_blocking=manual
        )
        for i in range(6):
            log.append(
                batch(1, value_size=80),
                validated(batch(1, value_size=80)),
                leader_epoch=0,
                now_ms=i,
            )
        self.assertEqual(log.high_watermark, 0)
        self.assertEqual(log.apply_retention(10**12), 0)
        manual.run_all()
        self.assertGreater(log.apply_retention(10**12), 0)


class DeleteRecordsTests(SynchronousTestCase):
    """DeleteRecords: moving the log start offset."""

    def test_advances_start_and_deletes_whole_segments(self) -> None:
        """Segments wholly below the new log start offset go; the one holding it stays."""
        log = open_log(self, config=LogConfig(segment_bytes=400))
        for _ in range(12):
            append(self, log, batch(2, value_size=50))
        target = log.segments[2].base_offset + 1
        self.assertEqual(self.successResultOf(log.delete_records_before(target)), target)
        self.assertEqual(log.segments[0].base_offset, target - 1)
        error = self.failureResultOf(log.read(target - 1, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(headers(read_bytes(log, target))[0].base_offset, target - 1)
        self.assertEqual(self.successResultOf(log.offset_for_timestamp(-2)).offset, target)

    def test_beyond_high_watermark(self) -> None:
        """An offset above the high watermark is OFFSET_OUT_OF_RANGE; -1 means the watermark."""
        log = open_log(self)
        append(self, log, batch(3))
        error = self.failureResultOf(log.delete_records_before(4), KafkaError).value
        self.assertEqual(error.code, ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(self.successResultOf(log.delete_records_before(-1)), 3)
        self.assertEqual(self.successResultOf(log.delete_records_before(1)), 3)

    def test_epochs_truncated_from_start(self) -> None:
        """Leader epochs before the new start collapse onto it."""
        log = open_log(self)
        append(self, log, batch(2), epoch=1)
        append(self, log, batch(2), epoch=2)
        append(self, log, batch(2), epoch=3)
        self.successResultOf(log.delete_records_before(3))
        self.assertEqual(log.epoch_entries, (cp.EpochEntry(2, 3), cp.EpochEntry(3, 4)))
        with open(os.path.join(log.directory, cp.LEADER_EPOCH_CHECKPOINT)) as f:
            self.assertEqual(f.read(), "0\n2\n2 3\n3 4\n")


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
        self.assertEqual(_error_code(self, d), ErrorCode.KAFKA_STORAGE_ERROR)
        self.assertTrue(log.is_offline)
        self.assertEqual(log.high_watermark, 0)
        error = self.failureResultOf(log.read(0, 100), KafkaError).value
        self.assertEqual(error.code, ErrorCode.KAFKA_STORAGE_ERROR)
        self.flushLoggedErrors()


class DiskErrorTests(SynchronousTestCase):
    """OSError while writing."""

    def test_failing_writer(self) -> None:
        """A failed write is KAFKA_STORAGE_ERROR, acknowledges nothing, restores the file."""
        calls = []

        def failing(fd: int, pieces: list[object]) -> int:
            calls.append(len(pieces))
            if len(calls) > 1:
                os.write(fd, b"\x00" * 7)
                raise OSError(errno.ENOSPC, "No space left on device")
            return os.writev(fd, pieces)  # type: ignore[arg-type]

        log = open_log(self, writev=failing)
        append(self, log, batch(2))
        size = log.segments[0].size
        waiter = log.add_waiter(5)
        data = batch(3)
        d = log.append(data, validated(data), leader_epoch=0, now_ms=0)
        self.assertEqual(_error_code(self, d), ErrorCode.KAFKA_STORAGE_ERROR)
        self.assertEqual((log.log_end_offset, log.high_watermark), (2, 2))
        self.assertEqual(os.path.getsize(log.segments[0].log_path), size)
        self.assertEqual(
            self.failureResultOf(waiter, KafkaError).value.code, ErrorCode.KAFKA_STORAGE_ERROR
        )
        self.assertEqual(
            _error_code(self, log.append(data, validated(data), leader_epoch=0, now_ms=0)),
            ErrorCode.KAFKA_STORAGE_ERROR,
        )
        self.assertEqual(_error_code(self, log.close()), ErrorCode.KAFKA_STORAGE_ERROR)

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


class LeaderEpochTests(SynchronousTestCase):
    """The leader epoch cache and OffsetForLeaderEpoch."""

    def test_appends_record_epochs(self) -> None:
        """Each new epoch's first offset is recorded and written to leader-epoch-checkpoint."""
        log = open_log(self)
        append(self, log, batch(2), epoch=0)
        append(self, log, batch(2), epoch=0)
        append(self, log, batch(3), epoch=4)
        self.assertEqual(log.epoch_entries, (cp.EpochEntry(0, 0), cp.EpochEntry(4, 4)))
        with open(os.path.join(log.directory, cp.LEADER_EPOCH_CHECKPOINT)) as f:
            self.assertEqual(f.read(), "0\n2\n0 0\n4 4\n")
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(4)), (4, 7))
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(0)), (0, 4))
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(2)), (0, 4))
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(9)), (-1, -1))

    def test_cache_rules(self) -> None:
        """Kafka's rules: an older epoch truncates newer entries; lookups of unknown epochs."""
        cache = LeaderEpochCache([cp.EpochEntry(1, 10), cp.EpochEntry(3, 20)])
        self.assertFalse(cache.assign(3, 25))
        self.assertEqual(cache.end_offset_for(0, 99), (0, 10))
        self.assertEqual(cache.epoch_for_offset(15), 1)
        self.assertIsNone(cache.epoch_for_offset(5))
        self.assertTrue(cache.assign(2, 15))
        self.assertEqual(cache.entries, (cp.EpochEntry(1, 10), cp.EpochEntry(2, 15)))
        self.assertTrue(cache.truncate_from_end(15))
        self.assertEqual(cache.entries, (cp.EpochEntry(1, 10),))


class ProducerHookTests(SynchronousTestCase):
    """The producer state hooks and snapshots."""

    def test_hook_sees_each_batch_with_assigned_offsets(self) -> None:
        """on_batch_appended is called once per batch with the batch's assigned base offset."""
        seen = []

        class Hook(ProducerStateTable):
            def on_batch_appended(self, header: BatchHeader, base_offset: int) -> None:
                seen.append((header.records_count, base_offset))
                super().on_batch_appended(header, base_offset)

        log = open_log(self, producer_state=Hook())
        append(self, log, batch(2) + batch(3))
        append(self, log, batch(1))
        self.assertEqual(seen, [(2, 0), (3, 2), (1, 5)])

    def test_snapshots_on_roll_and_close(self) -> None:
        """Snapshots are written on roll (named by the new base offset) and on close."""
        table = ProducerStateTable()
        directory = os.path.join(temp_dir(self), "topic-0")
        log = open_log(self, directory, LogConfig(segment_bytes=300), producer_state=table)
        for seq in range(0, 12, 3):
            append(
                self,
                log,
                batch(3, value_size=40, producer_id=7, producer_epoch=1, base_sequence=seq),
            )
        rolled = log.segments[1].base_offset
        self.assertTrue(os.path.exists(log.producer_snapshot_path(rolled)))
        self.assertEqual(
            cp.read_producer_snapshot(log.producer_snapshot_path(rolled))[0].producer_id, 7
        )
        self.successResultOf(log.close())
        [entry] = cp.read_producer_snapshot(log.producer_snapshot_path(12))
        self.assertEqual(
            (entry.producer_epoch, entry.last_sequence, entry.last_offset), (1, 11, 11)
        )
        self.assertEqual(entry.offset_delta, 2)


class ConfigTests(SynchronousTestCase):
    """LogConfig from Kafka's config names."""

    def test_defaults(self) -> None:
        """The defaults are Kafka's."""
        config = LogConfig()
        self.assertEqual(
            (config.segment_bytes, config.segment_ms, config.retention_ms, config.flush_messages),
            (1073741824, 604800000, 604800000, LONG_MAX),
        )

    def test_topic_overrides(self) -> None:
        """Topic configs override the defaults by Kafka name; other names are ignored."""
        config = LogConfig.from_topic_configs(
            LogConfig(),
            {
                "segment.bytes": "1048576",
                "retention.ms": "-1",
                "flush.messages": "1",
                "message.timestamp.type": "LogAppendTime",
                "cleanup.policy": "compact,delete",
                "min.insync.replicas": "2",
            },
        )
        self.assertEqual(config.segment_bytes, 1048576)
        self.assertEqual((config.retention_ms, config.flush_messages), (-1, 1))
        self.assertTrue(config.log_append_time)
        self.assertTrue(config.deletes)
        self.assertEqual(config.to_topic_configs()["segment.bytes"], "1048576")

    def test_invalid(self) -> None:
        """Values Kafka refuses raise INVALID_CONFIG."""
        for name, value in [
            ("segment.bytes", "abc"),
            ("segment.bytes", "5"),
            ("flush.messages", "0"),
            ("retention.ms", "-2"),
            ("message.timestamp.type", "Now"),
            ("cleanup.policy", "keep"),
        ]:
            error = self.assertRaises(
                KafkaError, LogConfig.from_topic_configs, LogConfig(), {name: value}
            )
            self.assertEqual(error.code, ErrorCode.INVALID_CONFIG)

    def test_broker_properties(self) -> None:
        """server.properties names map onto the defaults; ms beats hours."""

        def from_broker_properties(props: dict[str, str]) -> LogConfig:
            return broker_layers(BrokerConfig.from_properties(props), {}).log_config({})

        config = from_broker_properties(
            {"log.retention.hours": "1", "log.roll.hours": "2", "log.segment.bytes": "2000000"}
        )
        self.assertEqual(
            (config.retention_ms, config.segment_ms, config.segment_bytes),
            (3600000, 7200000, 2000000),
        )
        config = from_broker_properties({"log.retention.ms": "5", "log.retention.hours": "1"})
        self.assertEqual(config.retention_ms, 5)
