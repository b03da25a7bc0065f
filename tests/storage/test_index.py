"""Tests for kafkatwist.storage.index: Kafka's offset and time index files."""

from __future__ import annotations

import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.storage.index import CorruptIndexError, OffsetIndex, TimeIndex

from .support import temp_dir


def _offset_index(case: SynchronousTestCase, base: int = 100, max_bytes: int = 80) -> OffsetIndex:
    index = OffsetIndex.open(
        os.path.join(temp_dir(case), "x.index"), base, max_bytes, writable=True
    )
    case.addCleanup(index.close)
    return index


def _time_index(case: SynchronousTestCase, base: int = 100, max_bytes: int = 120) -> TimeIndex:
    index = TimeIndex.open(
        os.path.join(temp_dir(case), "x.timeindex"), base, max_bytes, writable=True
    )
    case.addCleanup(index.close)
    return index


class OffsetIndexTests(SynchronousTestCase):
    """The .index file: 8-byte (relative offset, position) entries."""

    def test_entry_bytes(self) -> None:
        """Entries are big-endian int32 relative offset then int32 position, as in Kafka."""
        index = _offset_index(self)
        index.append(105, 4096)
        index.append(110, 8200)
        index.trim()
        with open(index.path, "rb") as f:
            self.assertEqual(f.read(), struct.pack(">iiii", 5, 4096, 10, 8200))

    def test_preallocated_then_trimmed(self) -> None:
        """A writable index is preallocated to whole entries and trim cuts it to its entries."""
        index = _offset_index(self, max_bytes=83)
        self.assertEqual(os.path.getsize(index.path), 80)
        self.assertEqual(index.max_entries, 10)
        index.append(101, 0)
        index.trim()
        self.assertEqual(os.path.getsize(index.path), 8)
        self.assertEqual(index.lookup(1000), (101, 0))

    def test_lookup_greatest_lower_bound(self) -> None:
        """Lookup returns the last entry at or below the target, or (base, 0) below the first."""
        index = _offset_index(self)
        for offset, position in [(103, 10), (107, 20), (120, 30)]:
            index.append(offset, position)
        self.assertEqual(index.lookup(50), (100, 0))
        self.assertEqual(index.lookup(103), (103, 10))
        self.assertEqual(index.lookup(106), (103, 10))
        self.assertEqual(index.lookup(119), (107, 20))
        self.assertEqual(index.lookup(10**9), (120, 30))

    def test_full(self) -> None:
        """Appending to a full index is refused."""
        index = _offset_index(self, max_bytes=16)
        index.append(101, 0)
        index.append(102, 1)
        self.assertTrue(index.is_full)
        self.assertRaises(ValueError, index.append, 103, 2)

    def test_offsets_must_grow(self) -> None:
        """An offset not above the last entry is refused."""
        index = _offset_index(self)
        index.append(105, 0)
        self.assertRaises(ValueError, index.append, 105, 10)

    def test_reopen_reads_entries(self) -> None:
        """A trimmed index opened again read-only has the same entries."""
        index = _offset_index(self)
        index.append(101, 0)
        index.append(150, 999)
        index.trim()
        again = OffsetIndex.open(index.path, 100, 80, writable=False)
        self.addCleanup(again.close)
        self.assertEqual((again.entries, again.lookup(151)), (2, (150, 999)))

    def test_zero_tail_is_corrupt(self) -> None:
        """A preallocated index left untrimmed by a crash fails the sanity check."""
        index = _offset_index(self)
        index.append(101, 0)
        index.append(102, 100)
        index.close()
        again = OffsetIndex.open(index.path, 100, 80, writable=False)
        self.addCleanup(again.close)
        self.assertEqual(again.entries, 10)
        self.assertRaises(CorruptIndexError, again.sanity_check, 1000)

    def test_position_beyond_log_is_corrupt(self) -> None:
        """An entry pointing past the end of the log fails the sanity check."""
        index = _offset_index(self)
        index.append(101, 500)
        self.assertRaises(CorruptIndexError, index.sanity_check, 400)
        index.sanity_check(501)

    def test_partial_entry_length_is_corrupt(self) -> None:
        """A read-only index whose length is not a multiple of 8 fails the sanity check."""
        path = os.path.join(temp_dir(self), "y.index")
        with open(path, "wb") as f:
            f.write(struct.pack(">ii", 1, 0) + b"\x00\x01")
        index = OffsetIndex.open(path, 0, 80, writable=False)
        self.addCleanup(index.close)
        self.assertRaises(CorruptIndexError, index.sanity_check, 100)

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.integers(1, 50), min_size=0, max_size=9), st.integers(0, 700))
    def test_lookup_equals_linear_scan(self, gaps: list[int], target: int) -> None:
        """Binary search agrees with a linear scan for any sorted entries."""
        entries = []
        offset = 100
        for i, gap in enumerate(gaps):
            offset += gap
            entries.append((offset, i * 10))
        path = os.path.join(temp_dir(self), "h.index")
        with open(path, "wb") as f:
            for o, p in entries:
                f.write(struct.pack(">ii", o - 100, p))
        index = OffsetIndex.open(path, 100, 0, writable=False)
        self.addCleanup(index.close)
        expected = (100, 0)
        for o, p in entries:
            if o <= target:
                expected = (o, p)
        self.assertEqual(index.lookup(target), expected)


class TimeIndexTests(SynchronousTestCase):
    """The .timeindex file: 12-byte (timestamp, relative offset) entries."""

    def test_entry_bytes(self) -> None:
        """Entries are big-endian int64 timestamp then int32 relative offset."""
        index = _time_index(self)
        index.maybe_append(1_700_000_000_000, 104)
        index.trim()
        with open(index.path, "rb") as f:
            self.assertEqual(f.read(), struct.pack(">qi", 1_700_000_000_000, 4))

    def test_only_growing_timestamps(self) -> None:
        """An entry is added only when the timestamp grows, as Kafka's maybeAppend does."""
        index = _time_index(self)
        index.maybe_append(10, 101)
        index.maybe_append(10, 102)
        index.maybe_append(5, 103)
        index.maybe_append(20, 104)
        self.assertEqual([index.entry(i) for i in range(index.entries)], [(10, 101), (20, 104)])

    def test_no_timestamp_not_indexed(self) -> None:
        """A timestamp of -1 (none) is never indexed in an empty index."""
        index = _time_index(self)
        index.maybe_append(-1, 101)
        self.assertEqual(index.entries, 0)
        self.assertEqual(index.last_entry(), (-1, 100))

    def test_lookup(self) -> None:
        """Lookup returns the last entry with timestamp at or below the target, else (-1, base)."""
        index = _time_index(self)
        for ts, offset in [(10, 101), (20, 105), (30, 110)]:
            index.maybe_append(ts, offset)
        self.assertEqual(index.lookup(5), (-1, 100))
        self.assertEqual(index.lookup(10), (10, 101))
        self.assertEqual(index.lookup(29), (20, 105))
        self.assertEqual(index.lookup(99), (30, 110))

    def test_final_entry_skips_full_check(self) -> None:
        """The final entry of a rolled segment goes in even when the index is full."""
        index = _time_index(self, max_bytes=12)
        index.maybe_append(10, 101)
        self.assertRaises(ValueError, index.maybe_append, 20, 102)
        index.maybe_append(20, 102, skip_full_check=True)
        index.trim()
        self.assertEqual(os.path.getsize(index.path), 24)

    def test_sanity_check(self) -> None:
        """Entries whose last timestamp is below the first, or with a zero tail, are corrupt."""
        path = os.path.join(temp_dir(self), "z.timeindex")
        with open(path, "wb") as f:
            f.write(struct.pack(">qiqi", 50, 1, 40, 2))
        index = TimeIndex.open(path, 0, 120, writable=False)
        self.addCleanup(index.close)
        self.assertRaises(CorruptIndexError, index.sanity_check, 100)
