"""Tests for L{kafkatwist.wire.primitives}: fixed-width values, strings, bytes, the Writer."""

from __future__ import annotations

import math
import struct
import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ProtocolViolation
from kafkatwist.wire.primitives import (
    LARGE_CHUNK,
    Reader,
    Writer,
    encode_uvarint,
)

from .support import written

FIXED: list[tuple[str, str, list[float]]] = [
    ("int8", ">b", [-(2**7), -1, 0, 1, 2**7 - 1]),
    ("int16", ">h", [-(2**15), -1, 0, 1, 2**15 - 1]),
    ("uint16", ">H", [0, 1, 2**15, 2**16 - 1]),
    ("int32", ">i", [-(2**31), -1, 0, 1, 2**31 - 1]),
    ("uint32", ">I", [0, 1, 2**31, 2**32 - 1]),
    ("int64", ">q", [-(2**63), -1, 0, 1, 2**63 - 1]),
    ("float64", ">d", [0.0, -1.5, 1e300, math.inf, -math.inf]),
]


class FixedWidthTests(SynchronousTestCase):
    """Fixed-width big-endian integers, floats, booleans and UUIDs."""

    def test_round_trip_edges(self) -> None:
        """Each fixed-width type writes its big-endian form and reads it back."""
        for name, fmt, values in FIXED:
            for value in values:
                with self.subTest(type=name, value=value):
                    data = written(name, value)
                    self.assertEqual(data, struct.pack(fmt, value))
                    r = Reader(data)
                    self.assertEqual(getattr(r, name)(), value)
                    self.assertEqual(r.remaining, 0)

    def test_nan(self) -> None:
        """A float64 NaN survives a round trip."""
        self.assertTrue(math.isnan(Reader(written("float64", math.nan)).float64()))

    def test_widths_follow_the_type(self) -> None:
        """Unsigned types read the high bit as magnitude, signed ones as sign."""
        self.assertEqual(Reader(b"\xff\xff").uint16(), 65535)
        self.assertEqual(Reader(b"\xff\xff").int16(), -1)
        self.assertEqual(Reader(b"\xff\xff\xff\xff").uint32(), 2**32 - 1)
        self.assertEqual(Reader(b"\xff\xff\xff\xff").int32(), -1)

    def test_out_of_range_write(self) -> None:
        """Writing a value too wide for its type fails instead of truncating."""
        self.assertRaises(struct.error, Writer().int16, 2**15)
        self.assertRaises(struct.error, Writer().uint16, -1)
        self.assertRaises(struct.error, Writer().int32, 2**31)

    def test_bool(self) -> None:
        """Booleans are one byte; any non-zero byte reads as true."""
        self.assertEqual(written("bool", True), b"\x01")
        self.assertEqual(written("bool", False), b"\x00")
        self.assertIs(Reader(b"\x00").bool(), False)
        self.assertIs(Reader(b"\x01").bool(), True)
        self.assertIs(Reader(b"\x02").bool(), True)

    def test_uuid(self) -> None:
        """UUIDs are their 16 bytes in order."""
        u = uuid.UUID("00000000-0000-4000-8000-000000000086")
        data = written("uuid", u)
        self.assertEqual(data, bytes.fromhex("00000000000040008000000000000086"))
        self.assertEqual(Reader(data).uuid(), u)

    def test_truncated(self) -> None:
        """Every fixed-width read past the end raises ProtocolViolation naming type and offset."""
        sizes = {
            "int8": 1,
            "int16": 2,
            "uint16": 2,
            "int32": 4,
            "uint32": 4,
            "int64": 8,
            "float64": 8,
            "bool": 1,
            "uuid": 16,
        }
        for name, size in sizes.items():
            for have in range(size):
                with self.subTest(type=name, have=have):
                    r = Reader(b"\x00" * (3 + have), pos=3)
                    e = self.assertRaises(ProtocolViolation, getattr(r, name))
                    self.assertEqual(str(e), f"truncated {name} at offset 3")
                    self.assertEqual(r.pos, 3)

    def test_end_bound(self) -> None:
        """A reader given an end never reads past it, even when the buffer goes on."""
        r = Reader(b"\x00\x01\x00\x02\x00\x03", pos=2, end=4)
        self.assertEqual(r.remaining, 2)
        self.assertEqual(r.int16(), 2)
        self.assertRaises(ProtocolViolation, r.int16)

    def test_memoryview_input(self) -> None:
        """A reader works over a memoryview and a bytearray as over bytes."""
        for data in (memoryview(b"\x00\x07"), bytearray(b"\x00\x07")):
            self.assertEqual(Reader(data).int16(), 7)


class StringTests(SynchronousTestCase):
    """Legacy (int16) and compact (uvarint N+1) strings, nullable or not."""

    def test_legacy(self) -> None:
        """Legacy strings are an int16 length and UTF-8 bytes; -1 is null."""
        self.assertEqual(written("string", "héllo"), b"\x00\x06h\xc3\xa9llo")
        self.assertEqual(Reader(b"\x00\x06h\xc3\xa9llo").string(), "héllo")
        self.assertEqual(written("string", ""), b"\x00\x00")
        self.assertEqual(written("nullable_string", None), b"\xff\xff")
        self.assertIsNone(Reader(b"\xff\xff").nullable_string())
        self.assertEqual(Reader(b"\x00\x01a").nullable_string(), "a")

    def test_legacy_null_in_non_nullable(self) -> None:
        """A null where a non-nullable string is due is a ProtocolViolation."""
        e = self.assertRaises(ProtocolViolation, Reader(b"\xff\xff").string)
        self.assertIn("null", str(e))

    def test_compact(self) -> None:
        """Compact strings are length+1 as an unsigned varint; 0 is null."""
        self.assertEqual(written("compact_string", "abc"), b"\x04abc")
        self.assertEqual(written("compact_string", ""), b"\x01")
        self.assertEqual(written("compact_nullable_string", None), b"\x00")
        self.assertEqual(Reader(b"\x04abc").compact_string(), "abc")
        self.assertEqual(Reader(b"\x01").compact_string(), "")
        self.assertIsNone(Reader(b"\x00").compact_nullable_string())
        self.assertEqual(Reader(b"\x01").compact_nullable_string(), "")

    def test_compact_null_in_non_nullable(self) -> None:
        """Compact length 0 where a non-nullable string is due is a ProtocolViolation."""
        self.assertRaises(ProtocolViolation, Reader(b"\x00").compact_string)

    def test_long_compact_length(self) -> None:
        """A compact string of 200 bytes has a two-byte length."""
        text = "x" * 200
        data = written("compact_string", text)
        self.assertEqual(data[:2], b"\xc9\x01")
        self.assertEqual(Reader(data).compact_string(), text)

    def test_legacy_too_long(self) -> None:
        """A legacy string over 32767 bytes cannot be written."""
        self.assertRaises(ValueError, Writer().string, "x" * 32768)
        self.assertEqual(len(written("string", "x" * 32767)), 32769)

    def test_compact_too_long(self) -> None:
        """Compact strings obey Kafka's 32767-byte string limit too, on write and on read."""
        self.assertRaises(ValueError, Writer().compact_string, "x" * 32768)
        self.assertRaises(ValueError, Writer().compact_nullable_string, "x" * 32768)
        self.assertEqual(
            Reader(written("compact_string", "x" * 32767)).compact_string(), "x" * 32767
        )
        data = encode_uvarint(32769) + b"x" * 32768
        self.assertRaises(ProtocolViolation, Reader(data).compact_string)
        self.assertRaises(ProtocolViolation, Reader(data).compact_nullable_string)

    def test_invalid_utf8(self) -> None:
        """Malformed UTF-8 in any string reader is a ProtocolViolation."""
        bad = [b"\xff", b"\xc3", b"\xe2\x82", b"\xc0\x80", b"\xed\xa0\x80", b"a\x80b"]
        for payload in bad:
            legacy = struct.pack(">h", len(payload)) + payload
            compact = bytes([len(payload) + 1]) + payload
            cases = [
                ("string", legacy),
                ("nullable_string", legacy),
                ("compact_string", compact),
                ("compact_nullable_string", compact),
            ]
            for method, data in cases:
                with self.subTest(method=method, payload=payload):
                    e = self.assertRaises(ProtocolViolation, getattr(Reader(data), method))
                    self.assertIn("UTF-8", str(e))

    def test_truncated(self) -> None:
        """A string shorter than its length is a ProtocolViolation."""
        for method, data in [
            ("string", b"\x00\x05abc"),
            ("nullable_string", b"\x00\x05abc"),
            ("compact_string", b"\x06abc"),
            ("compact_nullable_string", b"\x06abc"),
            ("string", b"\x00"),
            ("compact_string", b""),
        ]:
            with self.subTest(method=method, data=data):
                self.assertRaises(ProtocolViolation, getattr(Reader(data), method))


class BytesTests(SynchronousTestCase):
    """Legacy (int32) and compact bytes, records and arrays."""

    def test_legacy(self) -> None:
        """Legacy bytes are an int32 length and the data; -1 is null."""
        self.assertEqual(written("bytes", b"ab"), b"\x00\x00\x00\x02ab")
        self.assertEqual(Reader(b"\x00\x00\x00\x02ab").bytes(), b"ab")
        self.assertEqual(written("nullable_bytes", None), b"\xff\xff\xff\xff")
        self.assertIsNone(Reader(b"\xff\xff\xff\xff").nullable_bytes())
        self.assertRaises(ProtocolViolation, Reader(b"\xff\xff\xff\xff").bytes)

    def test_compact(self) -> None:
        """Compact bytes are length+1 as an unsigned varint; 0 is null."""
        self.assertEqual(written("compact_bytes", b"ab"), b"\x03ab")
        self.assertEqual(written("compact_nullable_bytes", None), b"\x00")
        self.assertEqual(Reader(b"\x03ab").compact_bytes(), b"ab")
        self.assertEqual(Reader(b"\x01").compact_bytes(), b"")
        self.assertIsNone(Reader(b"\x00").compact_nullable_bytes())
        self.assertRaises(ProtocolViolation, Reader(b"\x00").compact_bytes)

    def test_records(self) -> None:
        """Records are nullable bytes, read as a view and written from one or many buffers."""
        self.assertEqual(written("records", None), b"\xff\xff\xff\xff")
        self.assertEqual(written("compact_records", None), b"\x00")
        self.assertEqual(written("records", [b"ab", b"cd"]), b"\x00\x00\x00\x04abcd")
        self.assertEqual(written("compact_records", [b"ab", b"cd"]), b"\x05abcd")
        self.assertEqual(written("compact_records", b""), b"\x01")
        view = Reader(b"\x00\x00\x00\x02xy").records()
        self.assertIsInstance(view, memoryview)
        self.assertEqual(view, b"xy")
        self.assertIsNone(Reader(b"\xff\xff\xff\xff").records())
        self.assertEqual(Reader(b"\x03xy").compact_records(), b"xy")
        self.assertIsNone(Reader(b"\x00").compact_records())

    def test_truncated(self) -> None:
        """Bytes and records shorter than their length are a ProtocolViolation."""
        for method, data in [
            ("bytes", b"\x00\x00\x00\x05abc"),
            ("nullable_bytes", b"\x00\x00\x00\x05abc"),
            ("compact_bytes", b"\x06abc"),
            ("compact_nullable_bytes", b"\x06abc"),
            ("records", b"\x00\x00\x00\x05abc"),
            ("compact_records", b"\x06abc"),
            ("records", b"\x00\x00"),
        ]:
            with self.subTest(method=method):
                self.assertRaises(ProtocolViolation, getattr(Reader(data), method))

    def test_array_lengths(self) -> None:
        """Array lengths: -1 is null, and a count beyond the remaining bytes is refused."""
        self.assertEqual(Reader(b"\xff\xff\xff\xff").array_length(), -1)
        self.assertEqual(Reader(b"\x00\x00\x00\x01\x00").array_length(), 1)
        self.assertRaises(ProtocolViolation, Reader(b"\xff\xff\xff\xfe").array_length)
        self.assertRaises(ProtocolViolation, Reader(b"\x7f\xff\xff\xff").array_length)
        self.assertEqual(Reader(b"\x00").compact_array_length(), -1)
        self.assertEqual(Reader(b"\x02\x00").compact_array_length(), 1)
        self.assertRaises(ProtocolViolation, Reader(b"\x03\x00").compact_array_length)
        self.assertEqual(written("array_length", -1), b"\xff\xff\xff\xff")
        self.assertEqual(written("compact_array_length", -1), b"\x00")
        self.assertEqual(written("compact_array_length", 0), b"\x01")

    def test_raw_is_a_view(self) -> None:
        """C{raw} returns a view into the buffer and advances past it."""
        data = bytearray(b"abcdef")
        r = Reader(data, pos=1)
        view = r.raw(3)
        self.assertEqual(view, b"bcd")
        self.assertEqual(r.pos, 4)
        data[1] = ord("B")
        self.assertEqual(view, b"Bcd")

    def test_skip(self) -> None:
        """C{skip} advances, and refuses to go past the end."""
        r = Reader(b"abc")
        r.skip(2)
        self.assertEqual(r.remaining, 1)
        self.assertRaises(ProtocolViolation, r.skip, 2)
        self.assertRaises(ProtocolViolation, r.skip, -1)


class WriterTests(SynchronousTestCase):
    """The chunked L{Writer}."""

    def test_small_writes_join(self) -> None:
        """Small values accumulate in one chunk."""
        w = Writer()
        w.int32(1)
        w.write(b"abc")
        self.assertEqual(len(w), 7)
        self.assertEqual(w.chunks(), [b"\x00\x00\x00\x01abc"])

    def test_large_buffers_by_reference(self) -> None:
        """A buffer of at least LARGE_CHUNK bytes becomes its own chunk, not a copy."""
        big = memoryview(b"x" * LARGE_CHUNK)
        w = Writer()
        w.int16(2)
        w.bytes(big)
        w.int8(1)
        chunks = w.chunks()
        self.assertEqual(len(chunks), 3)
        self.assertIs(chunks[1], big)
        self.assertEqual(len(w), 2 + 4 + LARGE_CHUNK + 1)
        self.assertEqual(
            w.getvalue(), b"\x00\x02" + struct.pack(">i", LARGE_CHUNK) + bytes(big) + b"\x01"
        )

    def test_empty(self) -> None:
        """An empty writer has no chunks and an empty value."""
        self.assertEqual(Writer().chunks(), [])
        self.assertEqual(Writer().getvalue(), b"")
