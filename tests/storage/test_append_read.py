"""Tests for PartitionLog appends and reads: offsets, stored bytes, rolls, index look-ups."""

from __future__ import annotations

import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.wire.batch import batch_crc, iter_batches

from .support import (
    append,
    append_batches,
    batch,
    error_code,
    headers,
    open_log,
    read_bytes,
    segment_file_bytes,
    stored_batches,
    validated,
)


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
        self.assertEqual(error_code(self, d), ErrorCode.MESSAGE_TOO_LARGE)
        self.assertEqual(log.log_end_offset, 0)

    def test_record_list_too_large(self) -> None:
        """More bytes than segment.bytes in one append is RECORD_LIST_TOO_LARGE."""
        log = open_log(self, config=LogConfig(segment_bytes=200))
        data = batch(3, value_size=80)
        d = log.append(data, validated(data), leader_epoch=0, now_ms=0)
        self.assertEqual(error_code(self, d), ErrorCode.RECORD_LIST_TOO_LARGE)

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
