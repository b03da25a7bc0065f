"""Tests for L{kafkatwist.wire.primitives}: unsigned varints, zig-zag varints and varlongs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ProtocolViolation
from kafkatwist.wire.primitives import (
    Reader,
    encode_uvarint,
    encode_varint,
    encode_varlong,
    zigzag_decode,
    zigzag_encode,
)

from .support import written

# Unsigned varints. 150 and 300 are the examples of Protocol Buffers' encoding
# guide (https://protobuf.dev/programming-guides/encoding/), whose varints
# Kafka's protocol guide (https://kafka.apache.org/protocol.html#protocol_types)
# says it follows; the others are the edge values of STYLE.md section 3.4.
UVARINTS = [
    (0, "00"),
    (1, "01"),
    (127, "7f"),
    (128, "8001"),
    (150, "9601"),
    (300, "ac02"),
    (16383, "ff7f"),
    (16384, "808001"),
    (2**31 - 1, "ffffffff07"),
    (2**32 - 1, "ffffffff0f"),
]


# Zig-zag varints (int32): protobuf's table maps 0, -1, 1, -2, 2**31-1 and
# -2**31 to 0, 1, 2, 3, 0xfffffffe and 0xffffffff.
VARINTS = [
    (0, "00"),
    (-1, "01"),
    (1, "02"),
    (-2, "03"),
    (63, "7e"),
    (-64, "7f"),
    (64, "8001"),
    (127, "fe01"),
    (128, "8002"),
    (16383, "feff01"),
    (16384, "808002"),
    (2**31 - 1, "feffffff0f"),
    (-(2**31), "ffffffff0f"),
]


# Zig-zag varlongs (int64).
VARLONGS = [
    (0, "00"),
    (-1, "01"),
    (1, "02"),
    (127, "fe01"),
    (128, "8002"),
    (16383, "feff01"),
    (16384, "808002"),
    (2**31 - 1, "feffffff0f"),
    (-(2**31), "ffffffff0f"),
    (2**31, "8080808010"),
    (2**63 - 1, "feffffffffffffffff01"),
    (-(2**63), "ffffffffffffffffff01"),
]


#: Edge values and their zig-zag varint bytes (Kafka's ByteUtils encoding).
KNOWN_VARINTS = {
    0: "00",
    1: "02",
    -1: "01",
    63: "7e",
    -64: "7f",
    64: "8001",
    2**31 - 1: "feffffff0f",
    -(2**31): "ffffffff0f",
}


class VarintTests(SynchronousTestCase):
    """Unsigned varints, zig-zag varints and varlongs at their edge values."""

    def check_edges(
        self,
        kind: str,
        table: Iterable[tuple[int, str]],
        encode: Callable[[int], bytes],
        decode: Callable[[Reader], int],
    ) -> None:
        """Each value of C{table} encodes to its bytes, both ways, and decodes back."""
        for value, hexed in table:
            with self.subTest(value=value):
                data = bytes.fromhex(hexed)
                self.assertEqual(encode(value), data)
                self.assertEqual(written(kind, value), data)
                r = Reader(data)
                self.assertEqual(decode(r), value)
                self.assertEqual(r.remaining, 0)

    def test_uvarint_edges(self) -> None:
        """Unsigned varints encode and decode the edge values to the known bytes."""
        self.check_edges("uvarint", UVARINTS, encode_uvarint, Reader.uvarint)

    def test_varint_edges(self) -> None:
        """Zig-zag varints encode and decode the int32 edge values to the known bytes."""
        self.check_edges("varint", VARINTS, encode_varint, Reader.varint)

    def test_varlong_edges(self) -> None:
        """Zig-zag varlongs encode and decode the int64 edge values to the known bytes."""
        self.check_edges("varlong", VARLONGS, encode_varlong, Reader.varlong)

    def test_zigzag_table(self) -> None:
        """Zig-zag maps signed values to unsigned ones as protobuf's table shows."""
        for signed, unsigned in [(0, 0), (-1, 1), (1, 2), (-2, 3), (2**31 - 1, 0xFFFFFFFE)]:
            self.assertEqual(zigzag_encode(signed, 32), unsigned)
            self.assertEqual(zigzag_decode(unsigned), signed)
        self.assertEqual(zigzag_encode(-(2**31), 32), 0xFFFFFFFF)
        self.assertEqual(zigzag_encode(-(2**63), 64), 2**64 - 1)

    @given(st.integers(-(2**31), 2**31 - 1))
    @settings(max_examples=200)
    def test_varint_round_trip(self, value: int) -> None:
        """Every int32 survives a varint round trip."""
        r = Reader(encode_varint(value))
        self.assertEqual(r.varint(), value)
        self.assertEqual(r.remaining, 0)

    @given(st.integers(-(2**63), 2**63 - 1))
    @settings(max_examples=200)
    def test_varlong_round_trip(self, value: int) -> None:
        """Every int64 survives a varlong round trip."""
        r = Reader(encode_varlong(value))
        self.assertEqual(r.varlong(), value)
        self.assertEqual(r.remaining, 0)

    def test_encode_out_of_range(self) -> None:
        """Values outside the type's range are refused rather than silently wrapped."""
        self.assertRaises(ValueError, encode_uvarint, -1)
        self.assertRaises(ValueError, encode_uvarint, 2**32)
        self.assertRaises(ValueError, encode_varint, 2**31)
        self.assertRaises(ValueError, encode_varint, -(2**31) - 1)
        self.assertRaises(ValueError, encode_varlong, 2**63)
        self.assertRaises(ValueError, encode_varlong, -(2**63) - 1)

    def test_truncated(self) -> None:
        """A varint whose last byte still has the continuation bit is truncated."""
        for data in [b"", b"\x80", b"\xff\xff", b"\x80\x80\x80\x80"]:
            for method in ("uvarint", "varint", "varlong"):
                with self.subTest(data=data, method=method):
                    e = self.assertRaises(ProtocolViolation, getattr(Reader(data), method))
                    self.assertIn("truncated var", str(e))

    def test_too_long_varint(self) -> None:
        """Unsigned varints and varints longer than 5 bytes are refused, as Kafka does."""
        data = b"\x80\x80\x80\x80\x80\x00"
        self.assertRaises(ProtocolViolation, Reader(data).uvarint)
        self.assertRaises(ProtocolViolation, Reader(data).varint)

    def test_varint_overflow(self) -> None:
        """A 5-byte varint whose value does not fit in 32 bits is refused."""
        data = b"\xff\xff\xff\xff\x1f"
        self.assertRaises(ProtocolViolation, Reader(data).uvarint)
        self.assertRaises(ProtocolViolation, Reader(data).varint)
        self.assertEqual(Reader(data).varlong(), zigzag_decode(2**33 - 1))

    def test_too_long_varlong(self) -> None:
        """Varlongs longer than 10 bytes, or beyond 64 bits, are refused."""
        self.assertRaises(ProtocolViolation, Reader(b"\x80" * 10 + b"\x00").varlong)
        self.assertRaises(ProtocolViolation, Reader(b"\xff" * 9 + b"\x7f").varlong)

    def test_kafka_byte_utils_values(self) -> None:
        """Edge values encode to the bytes of Kafka's ByteUtils, as varint and varlong alike."""
        for value, hexed in KNOWN_VARINTS.items():
            with self.subTest(value=value):
                encoded = bytes.fromhex(hexed)
                self.assertEqual(encode_varint(value), encoded)
                self.assertEqual(encode_varlong(value), encoded)
                for method in ("varint", "varlong"):
                    r = Reader(encoded)
                    self.assertEqual(getattr(r, method)(), value)
                    self.assertEqual(r.pos, len(encoded))

    def test_varlong_extremes(self) -> None:
        """The int64 extremes take ten bytes and round trip."""
        self.assertEqual(encode_varlong(2**63 - 1), bytes.fromhex("feffffffffffffffff01"))
        self.assertEqual(encode_varlong(-(2**63)), bytes.fromhex("ffffffffffffffffff01"))
        for value in (2**63 - 1, -(2**63), 2**31, -(2**31) - 1):
            r = Reader(encode_varlong(value))
            self.assertEqual(r.varlong(), value)
            self.assertEqual(r.pos, len(encode_varlong(value)))

    def test_decode_at_offset(self) -> None:
        """Decoding starts at the given position and moves past the varint."""
        data = b"\xaa" + encode_varint(300) + encode_varint(-5)
        r = Reader(data, 1)
        self.assertEqual(r.varint(), 300)
        self.assertEqual(r.varint(), -5)
        self.assertEqual(r.pos, len(data))

    def test_bad_record_varints(self) -> None:
        """The malformed varints a record may hold are refused (records: CORRUPT_MESSAGE)."""
        cases = [
            ("varint", b""),
            ("varint", b"\x80"),
            ("varint", b"\xff\xff\xff\xff\xff\x01"),  # six bytes
            ("varint", b"\xff\xff\xff\xff\x1f"),  # 35 bits
            ("varlong", b"\xff" * 10 + b"\x01"),  # eleven bytes
            ("varlong", b"\xff" * 9 + b"\x03"),  # 65 bits
        ]
        for method, data in cases:
            with self.subTest(method=method, data=data):
                self.assertRaises(ProtocolViolation, getattr(Reader(data), method))

    def test_non_minimal_accepted(self) -> None:
        """Padded (non-minimal) varints decode, as Kafka's readers accept them."""
        self.assertEqual(Reader(b"\x80\x00").uvarint(), 0)
        self.assertEqual(Reader(b"\x81\x80\x00").varint(), -1)
