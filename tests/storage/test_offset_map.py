"""The cleaner's offset map and record filter: C kernels against their pure-Python twins."""

from __future__ import annotations

import hashlib
import random
import struct
from unittest import skipIf

from kafka.record.memory_records import MemoryRecords
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.storage.cleaner import DEFAULT_KERNELS, PYTHON_KERNELS, Kernels, OffsetMap
from kafkatwist.wire import compact
from kafkatwist.wire.batch import RECORDS_OFFSET, encode_batch_header
from kafkatwist.wire.record import NewRecord, build_batch

BOTH = (("python", PYTHON_KERNELS), ("default", DEFAULT_KERNELS))


def records_section(records: list[NewRecord], base_offset: int, base_ts: int) -> bytes:
    """The records section of a batch holding C{records}."""
    return build_batch(records, base_timestamp=base_ts, base_offset=base_offset)[RECORDS_OFFSET:]


class OffsetMapTests(SynchronousTestCase):
    """SkimpyOffsetMap's layout and behaviour, in both implementations."""

    def test_one_slot_holds_md5_and_offset(self) -> None:
        """An entry is the key's MD5 (as hashlib computes it) then the offset, big-endian."""
        for name, kernels in BOTH:
            for length in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000):
                key = bytes(range(256))[:length] * (1 + length // 256)
                key = key[:length]
                m = OffsetMap(24, 1.0, kernels)
                m.put(key, 0x0102030405060708)
                expected = hashlib.md5(key).digest() + struct.pack(">q", 0x0102030405060708)
                self.assertEqual(m.table, expected, (name, length))
                self.assertEqual(m.get(key), 0x0102030405060708)
                self.assertEqual(m.get(key + b"x"), -1)

    def test_put_get_update(self) -> None:
        """A key maps to its last offset; updates do not grow the map; puts set latest_offset."""
        for name, kernels in BOTH:
            m = OffsetMap(24 * 100, kernels=kernels)
            m.put(b"a", 1)
            m.put(b"b", 2)
            m.put(b"a", 3)
            self.assertEqual((m.get(b"a"), m.get(b"b"), m.get(b"c")), (3, 2, -1), name)
            self.assertEqual((m.entries, m.latest_offset, m.slots), (2, 3, 100))
            self.assertEqual(m.max_entries, 90)
            m.clear()
            self.assertEqual((m.entries, m.get(b"a"), m.latest_offset), (0, -1, -1))

    def test_full_map_refuses_new_keys(self) -> None:
        """A map with every slot taken refuses any put, as Kafka's C{require(entries < slots)}."""
        for _, kernels in BOTH:
            m = OffsetMap(24 * 3, kernels=kernels)
            for i, k in enumerate((b"x", b"y", b"z")):
                m.put(k, i)
            self.assertRaises(ValueError, m.put, b"w", 9)
            self.assertRaises(ValueError, m.put, b"x", 9)
            self.assertEqual([m.get(k) for k in (b"x", b"y", b"z", b"w")], [0, 1, 2, -1])

    def test_too_small(self) -> None:
        """A budget below one entry is refused."""
        self.assertRaises(ValueError, OffsetMap, 23)

    @skipIf(not compact.COMPILED, "the C kernels are not built")
    def test_same_table_as_python(self) -> None:
        """Random puts (with many collisions) leave byte-identical tables in both."""
        rnd = random.Random(12)
        for slots in (1, 2, 7, 64, 1000):
            maps = [OffsetMap(24 * slots, 1.0, k) for _, k in BOTH]
            for i in range(slots * 3):
                key = rnd.randbytes(rnd.randrange(0, 40))
                for m in maps:
                    if m.entries < m.slots:
                        m.put(key, i)
            self.assertEqual(maps[0].table, maps[1].table, slots)
            self.assertEqual(maps[0].entries, maps[1].entries)
            for _ in range(200):
                key = rnd.randbytes(rnd.randrange(0, 40))
                self.assertEqual(maps[0].get(key), maps[1].get(key))


def _random_records(rnd: random.Random, n: int) -> list[NewRecord]:
    out = []
    for _ in range(n):
        key = None if rnd.random() < 0.1 else b"k%d" % rnd.randrange(12)
        value = None if rnd.random() < 0.2 else rnd.randbytes(rnd.randrange(0, 30))
        headers = (("h", b"x"),) if rnd.random() < 0.3 else ()
        out.append(NewRecord(key, value, headers, 5_000 + rnd.randrange(-100, 10**9)))
    return out


class KernelParityTests(SynchronousTestCase):
    """map_index and filter_records give the same answers in C and in Python."""

    @skipIf(not compact.COMPILED, "the C kernels are not built")
    def test_index_and_filter_agree(self) -> None:
        """Random batches: same entries, latest offsets, fullness, kept bytes and facts."""
        rnd = random.Random(7)
        for _ in range(60):
            n = rnd.randrange(1, 40)
            records = _random_records(rnd, n)
            base = rnd.randrange(0, 10**12)
            section = records_section(records, base, 5_000)
            start = base + rnd.randrange(0, n)
            end = base + rnd.randrange(0, n + 3)
            slots = rnd.choice((4, 16, 64))
            maps = [OffsetMap(24 * slots, 0.9, k) for _, k in BOTH]
            answers = [m.index_records(section, n, base, start, end) for m in maps]
            self.assertEqual(answers[0], answers[1])
            self.assertEqual(maps[0].table, maps[1].table)
            self.assertEqual(maps[0].latest_offset, maps[1].latest_offset)
            for retain in (True, False):
                for new_base in (5_000, 7_777_777, -3):
                    kept = [
                        m.filter_records(
                            section,
                            n,
                            base,
                            retain_deletes=retain,
                            base_timestamp=5_000,
                            new_base_timestamp=new_base,
                        )
                        for m in maps
                    ]
                    self.assertEqual(kept[0], kept[1])

    def test_filter_keeps_the_latest_and_rebases(self) -> None:
        """Kept records decode with their keys, values and timestamps; rebasing keeps timestamps."""
        for _, kernels in BOTH:
            records = [
                NewRecord(b"a", b"1", (), 100),
                NewRecord(None, b"x", (), 101),
                NewRecord(b"b", None, (), 102),
                NewRecord(b"a", b"2", (), 103),
            ]
            section = records_section(records, 10, 100)
            m = OffsetMap(24 * 16, kernels=kernels)
            self.assertEqual(m.index_records(section, 4, 10, 0, 100), (4, False))
            data, kept, max_ts, tombstones, max_offset = m.filter_records(
                section, 4, 10, retain_deletes=True, base_timestamp=100, new_base_timestamp=100
            )
            self.assertEqual((kept, max_ts, tombstones, max_offset), (2, 103, True, 13))
            rebased, kept2, *_ = m.filter_records(
                section, 4, 10, retain_deletes=False, base_timestamp=100, new_base_timestamp=9_000
            )
            self.assertEqual(kept2, 1)
            head = encode_batch_header(
                rebased,
                base_offset=10,
                partition_leader_epoch=0,
                attributes=0,
                last_offset_delta=3,
                base_timestamp=9_000,
                max_timestamp=103,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=-1,
                records_count=1,
            )
            batch = MemoryRecords(head + rebased).next_batch()
            self.assertTrue(batch.validate_crc())
            decoded = [(r.offset, r.key, r.value, r.timestamp) for r in batch]
            self.assertEqual(decoded, [(13, b"a", b"2", 103)])

    def test_filter_refuses_a_count_past_the_data(self) -> None:
        """A record count no batch of that size can hold is refused, not trusted for memory."""
        for _, kernels in BOTH:
            section = records_section([NewRecord(b"a", b"1", (), 100)], 0, 100)
            m = OffsetMap(24 * 16, kernels=kernels)
            for count in (len(section) + 1, 2**31 - 1, -1):
                with self.assertRaises(ValueError):
                    m.filter_records(
                        section,
                        count,
                        0,
                        retain_deletes=True,
                        base_timestamp=100,
                        new_base_timestamp=5,
                    )

    def test_index_stops_when_full(self) -> None:
        """The first keyed record that finds the map at its bound stops the walk."""
        for _, kernels in BOTH:
            records = [NewRecord(b"k%d" % i, b"v") for i in range(10)]
            section = records_section(records, 0, 0)
            m = OffsetMap(24 * 5, 0.8, kernels)  # 4 entries at most
            self.assertEqual(m.index_records(section, 10, 0, 0, 100), (4, True))
            self.assertEqual((m.entries, m.latest_offset), (4, 3))

    def test_kernels_type(self) -> None:
        """The default kernels are the compiled ones when they were built."""
        self.assertIsInstance(DEFAULT_KERNELS, Kernels)
        self.assertEqual(DEFAULT_KERNELS.put is compact.py_map_put, not compact.COMPILED)
