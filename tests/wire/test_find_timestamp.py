"""Tests for find_timestamp: the record look-up behind ListOffsets, compiled and pure-Python."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.wire import walk
from kafkatwist.wire.batch import RECORDS_OFFSET
from kafkatwist.wire.record import NewRecord, build_batch
from tests.tiny_batches import tiny_record, tiny_records

try:
    from kafkatwist.wire._walk import (  # type: ignore[import-not-found]
        find_timestamp as c_find_timestamp,
    )
except ImportError:
    c_find_timestamp = None

Finder = Callable[[bytes, int, int, int, bool, int], "tuple[int, int] | None"]
FINDERS: dict[str, Finder] = {
    "python": walk.py_find_timestamp,
    **({"c": c_find_timestamp} if c_find_timestamp is not None else {}),
}
STAMPS = [100, 300, 200, 300, 50]


def records(stamps: list[int], base: int | None = None) -> bytes:
    """The records section of a batch of records with these timestamps (and headers, keys)."""
    batch = build_batch(
        [NewRecord(b"k%d" % i, b"v" * i, (("h", b"x"),), t) for i, t in enumerate(stamps)],
        base_timestamp=min(stamps) if base is None else base,
    )
    return batch[RECORDS_OFFSET:]


def outcome(finder: Finder, data: bytes, *args: object) -> object:
    """What C{finder} answers, or C{("error", message)} for the ValueError it raises."""
    try:
        return finder(data, *args)  # type: ignore[arg-type]
    except ValueError as e:
        return ("error", str(e))


class DispatchTests(SynchronousTestCase):
    def test_compiled_one_in_use_when_built(self) -> None:
        """find_timestamp is the compiled finder exactly when the extension is built."""
        expected = c_find_timestamp if c_find_timestamp is not None else walk.py_find_timestamp
        self.assertIs(walk.find_timestamp, expected)
        self.assertEqual(walk.COMPILED, c_find_timestamp is not None)


class FindTests(SynchronousTestCase):
    def test_first_at_or_after(self) -> None:
        """The first record whose timestamp is >= the target, also between two timestamps."""
        data = records(STAMPS)
        for name, find in FINDERS.items():
            with self.subTest(name):
                self.assertEqual(find(data, 5, 50, 0, False, 0), (0, 100))
                self.assertEqual(find(data, 5, 50, 250, False, 0), (1, 300))
                self.assertEqual(find(data, 5, 50, 150, False, 0), (1, 300))
                self.assertIsNone(find(data, 5, 50, 301, False, 0))

    def test_exact(self) -> None:
        """In exact mode (MAX_TIMESTAMP) the first record with that very timestamp."""
        data = records(STAMPS)
        for name, find in FINDERS.items():
            with self.subTest(name):
                self.assertEqual(find(data, 5, 50, 200, True, 0), (2, 200))
                self.assertEqual(find(data, 5, 50, 300, True, 0), (1, 300))
                self.assertIsNone(find(data, 5, 50, 250, True, 0))

    def test_min_delta(self) -> None:
        """Records below the minimum offset delta (the log start offset) are skipped."""
        data = records(STAMPS)
        for name, find in FINDERS.items():
            with self.subTest(name):
                self.assertEqual(find(data, 5, 50, 250, False, 2), (3, 300))
                self.assertEqual(find(data, 5, 50, 0, False, 4), (4, 50))
                self.assertIsNone(find(data, 5, 50, 0, False, 5))

    def test_stops_at_the_match(self) -> None:
        """Bytes after the matching record are not read."""
        data = records(STAMPS) + b"\xff" * 3
        for name, find in FINDERS.items():
            with self.subTest(name):
                self.assertEqual(find(data, 7, 50, 250, False, 0), (1, 300))

    def test_timestamps_wrap_around_64_bits(self) -> None:
        """Base timestamp plus delta wraps as a Java long does, in both finders."""
        data = tiny_record(5) + tiny_record(-5, 1)
        top = (1 << 63) - 3
        for name, find in FINDERS.items():
            with self.subTest(name):
                self.assertEqual(find(data, 2, top, -(1 << 63), False, 0), (0, -(1 << 63) + 2))
                self.assertEqual(find(data, 2, top, top - 5, True, 0), (1, top - 5))

    def test_tiny_records(self) -> None:
        """A large batch of tiny records: the late record is found at its offset delta."""
        data = tiny_records(100_000)
        for name, find in FINDERS.items():
            with self.subTest(name):
                self.assertEqual(find(data, 100_000, 7, 8, False, 0), (99_999, 8))
                self.assertEqual(find(data, 100_000, 7, 7, True, 0), (0, 7))
                self.assertEqual(find(data, 100_000, 7, 7, False, 5), (99_999, 8))

    def test_malformed(self) -> None:
        """A negative count, a short section or a broken varint raise ValueError with a reason."""
        data = records(STAMPS)
        cases: list[tuple[bytes, int, str]] = [
            (data, -1, "found invalid record count -1"),
            (data, 6, "premature EOF reached (record 5)"),
            (b"\xff" * 6, 1, "bad record length varint (record 0)"),
            (b"\x7e\x00", 1, "the record length does not fit the batch (record 0)"),
            (b"\x04\x00\x00", 1, "the record length does not fit the batch (record 0)"),
            (b"\x06\x00\xff\xff", 1, "bad timestamp or offset delta varint (record 0)"),
        ]
        for name, find in FINDERS.items():
            for body, count, message in cases:
                with self.subTest(name, message=message):
                    result = outcome(find, body, count, 0, 10**6, False, 0)
                    assert isinstance(result, tuple) and result[0] == "error", result
                    self.assertIn(message, str(result[1]))


class AgreementTests(SynchronousTestCase):
    def setUp(self) -> None:
        if c_find_timestamp is None:
            raise self.skipTest("the compiled walker is not built")

    def agree(self, data: bytes, *args: object) -> None:
        """Both finders give the same answer or the same error for these arguments."""
        self.assertEqual(
            outcome(walk.py_find_timestamp, data, *args),
            outcome(c_find_timestamp, data, *args),
            (data, args),
        )

    def test_every_truncation_and_byte_change(self) -> None:
        """Both finders agree on every truncation and every single-byte change of a batch."""
        data = records(STAMPS)
        for target, exact in ((250, False), (200, True), (10**6, False), (50, True)):
            for end in range(len(data) + 1):
                self.agree(data[:end], 5, 50, target, exact, 0)
            for i in range(len(data)):
                for value in (0x00, 0x7F, 0x80, 0xFF, data[i] ^ 0x01):
                    changed = data[:i] + bytes([value]) + data[i + 1 :]
                    self.agree(changed, 5, 50, target, exact, 1)

    @settings(max_examples=300, deadline=None)
    @given(
        st.binary(max_size=64),
        st.integers(-2, 12),
        st.integers(-(1 << 63), (1 << 63) - 1),
        st.integers(-(1 << 63), (1 << 63) - 1),
        st.booleans(),
        st.integers(0, 5),
    )
    def test_random_bytes(
        self, data: bytes, count: int, base: int, target: int, exact: bool, min_delta: int
    ) -> None:
        """Both finders agree on arbitrary bytes and arguments."""
        self.agree(data, count, base, target, exact, min_delta)
