"""Kafka's wire primitives: a bounds-checked L{Reader} and a chunked L{Writer}.

The types follow https://kafka.apache.org/protocol.html#protocol_types:
fixed-width big-endian integers, (unsigned) varints, legacy and compact
strings, bytes and arrays (compact lengths are N+1, with 0 meaning null),
UUIDs and the tagged-field section of flexible versions.

Every read checks the remaining length and raises L{ProtocolViolation} on
truncated or malformed input; nothing else escapes a decode.
"""

from __future__ import annotations

import builtins
import struct
import uuid
from collections.abc import Sequence
from typing import TypeAlias

from kafkatwist.errors import ProtocolViolation

#: What the readers and writers take: any contiguous bytes-like object.
Buffer: TypeAlias = bytes | bytearray | memoryview

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")

ZERO_UUID = uuid.UUID(int=0)

#: Pieces at least this large are kept as separate chunks, never copied.
LARGE_CHUNK = 16384


def zigzag_encode(value: int, bits: int = 64) -> int:
    """Map a signed integer onto an unsigned one, small magnitudes first."""
    return (value << 1) ^ (value >> (bits - 1))


def zigzag_decode(value: int) -> int:
    """Undo L{zigzag_encode}."""
    return (value >> 1) ^ -(value & 1)


_U32_MAX = 0xFFFFFFFF
#: Kafka's limit on every string, legacy or compact (Short.MAX_VALUE bytes).
_MAX_STRING = 0x7FFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF


def _encode_unsigned(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_uvarint(value: int) -> bytes:
    """Encode an unsigned 32-bit integer as an unsigned varint (Kafka's C{writeUnsignedVarint})."""
    if not 0 <= value <= _U32_MAX:
        raise ValueError(f"{value} does not fit in an unsigned varint (uint32)")
    return _encode_unsigned(value)


def encode_varint(value: int) -> bytes:
    """Encode a signed 32-bit integer as a zig-zag varint (Kafka's C{writeVarint})."""
    if not -(2**31) <= value < 2**31:
        raise ValueError(f"{value} does not fit in a varint (int32)")
    return _encode_unsigned(zigzag_encode(value, 32))


def encode_varlong(value: int) -> bytes:
    """Encode a signed 64-bit integer as a zig-zag varlong (Kafka's C{writeVarlong})."""
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{value} does not fit in a varlong (int64)")
    return _encode_unsigned(zigzag_encode(value, 64))


class Reader:
    """Reads Kafka primitives from a buffer, advancing an offset without copying."""

    __slots__ = ("_buf", "pos", "_end")

    def __init__(self, data: Buffer, pos: int = 0, end: int | None = None) -> None:
        self._buf = data if isinstance(data, memoryview) else memoryview(data)
        self.pos = pos
        self._end = len(self._buf) if end is None else end

    @property
    def remaining(self) -> int:
        """How many bytes are left to read."""
        return self._end - self.pos

    def _need(self, n: int, what: str) -> int:
        pos = self.pos
        if n < 0 or pos + n > self._end:
            raise ProtocolViolation(f"truncated {what} at offset {pos}")
        self.pos = pos + n
        return pos

    def int8(self) -> int:
        value: int = _I8.unpack_from(self._buf, self._need(1, "int8"))[0]
        return value

    def int16(self) -> int:
        value: int = _I16.unpack_from(self._buf, self._need(2, "int16"))[0]
        return value

    def uint16(self) -> int:
        value: int = _U16.unpack_from(self._buf, self._need(2, "uint16"))[0]
        return value

    def int32(self) -> int:
        value: int = _I32.unpack_from(self._buf, self._need(4, "int32"))[0]
        return value

    def uint32(self) -> int:
        value: int = _U32.unpack_from(self._buf, self._need(4, "uint32"))[0]
        return value

    def int64(self) -> int:
        value: int = _I64.unpack_from(self._buf, self._need(8, "int64"))[0]
        return value

    def float64(self) -> float:
        value: float = _F64.unpack_from(self._buf, self._need(8, "float64"))[0]
        return value

    def bool(self) -> bool:
        return self._buf[self._need(1, "bool")] != 0

    def uuid(self) -> uuid.UUID:
        pos = self._need(16, "uuid")
        return uuid.UUID(bytes=bytes(self._buf[pos : pos + 16]))

    def _unsigned(self, max_bytes: int, limit: int, what: str) -> int:
        buf, start, end = self._buf, self.pos, self._end
        pos = start
        result = shift = 0
        while True:
            if pos >= end:
                raise ProtocolViolation(f"truncated {what} at offset {start}")
            if pos - start == max_bytes:
                raise ProtocolViolation(f"{what} longer than {max_bytes} bytes at offset {start}")
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        if result > limit:
            raise ProtocolViolation(f"{what} out of range at offset {start}")
        self.pos = pos
        return result

    def uvarint(self) -> int:
        """An unsigned varint: at most 5 bytes and 32 bits (Kafka's C{readUnsignedVarint})."""
        pos = self.pos
        if pos < self._end:
            b = self._buf[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
        return self._unsigned(5, _U32_MAX, "varint")

    def varint(self) -> int:
        """A zig-zag varint: a signed 32-bit value in at most 5 bytes."""
        return zigzag_decode(self._unsigned(5, _U32_MAX, "varint"))

    def varlong(self) -> int:
        """A zig-zag varlong: a signed 64-bit value in at most 10 bytes."""
        return zigzag_decode(self._unsigned(10, _U64_MAX, "varlong"))

    def raw(self, n: int) -> memoryview:
        """The next C{n} bytes, as a view into the buffer (no copy)."""
        pos = self._need(n, "bytes")
        return self._buf[pos : pos + n]

    def skip(self, n: int) -> None:
        self._need(n, "tagged field")

    def _text(self, n: int) -> str:
        pos = self._need(n, "string")
        try:
            return str(self._buf[pos : pos + n], "utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation(f"invalid UTF-8 string at offset {pos}") from None

    def string(self) -> str:
        n = self.int16()
        if n < 0:
            raise ProtocolViolation(f"null in non-nullable string at offset {self.pos - 2}")
        return self._text(n)

    def nullable_string(self) -> str | None:
        n = self.int16()
        return None if n < 0 else self._text(n)

    def compact_string(self) -> str:
        n = self.uvarint() - 1
        if n < 0:
            raise ProtocolViolation(f"null in non-nullable string at offset {self.pos}")
        if n > _MAX_STRING:
            raise ProtocolViolation(f"string of {n} bytes at offset {self.pos}")
        return self._text(n)

    def compact_nullable_string(self) -> str | None:
        n = self.uvarint() - 1
        if n > _MAX_STRING:
            raise ProtocolViolation(f"string of {n} bytes at offset {self.pos}")
        return None if n < 0 else self._text(n)

    def bytes(self) -> builtins.bytes:
        n = self.int32()
        if n < 0:
            raise ProtocolViolation(f"null in non-nullable bytes at offset {self.pos - 4}")
        return bytes(self.raw(n))

    def nullable_bytes(self) -> builtins.bytes | None:
        n = self.int32()
        return None if n < 0 else bytes(self.raw(n))

    def compact_bytes(self) -> builtins.bytes:
        n = self.uvarint() - 1
        if n < 0:
            raise ProtocolViolation(f"null in non-nullable bytes at offset {self.pos}")
        return bytes(self.raw(n))

    def compact_nullable_bytes(self) -> builtins.bytes | None:
        n = self.uvarint() - 1
        return None if n < 0 else bytes(self.raw(n))

    def records(self) -> memoryview | None:
        """A nullable records field, as a view into the buffer (no copy)."""
        n = self.int32()
        return None if n < 0 else self.raw(n)

    def compact_records(self) -> memoryview | None:
        n = self.uvarint() - 1
        return None if n < 0 else self.raw(n)

    def array_length(self) -> int:
        """A legacy array length: -1 for null, else the element count."""
        n = self.int32()
        if n < -1 or n > self.remaining:
            raise ProtocolViolation(f"invalid array length {n} at offset {self.pos - 4}")
        return n

    def compact_array_length(self) -> int:
        """A compact array length: -1 for null, else the element count."""
        n = self.uvarint() - 1
        if n > self.remaining:
            raise ProtocolViolation(f"invalid array length {n} at offset {self.pos}")
        return n


class Writer:
    """
    Accumulates an encoding as chunks.

    Small values go into one growing C{bytearray}; buffers of at least
    L{LARGE_CHUNK} bytes are kept by reference as chunks of their own, so
    record data is never copied while a response is built.
    """

    __slots__ = ("_buf", "_chunks", "_size")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._chunks: list[Buffer] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size + len(self._buf)

    def write(self, data: Buffer) -> None:
        """Append raw bytes, keeping large buffers as chunks of their own."""
        n = len(data)
        if n >= LARGE_CHUNK:
            if self._buf:
                self._chunks.append(bytes(self._buf))
                self._size += len(self._buf)
                self._buf = bytearray()
            self._chunks.append(data)
            self._size += n
        else:
            self._buf += data

    def chunks(self) -> list[Buffer]:
        """The encoding as a list of buffers, ready for C{writeSequence}."""
        if self._buf:
            return [*self._chunks, bytes(self._buf)]
        return list(self._chunks)

    def getvalue(self) -> bytes:
        """The encoding as one C{bytes} (joins the chunks: avoid for large data)."""
        if not self._chunks:
            return bytes(self._buf)
        return b"".join(self.chunks())

    def int8(self, v: int) -> None:
        self._buf += _I8.pack(v)

    def int16(self, v: int) -> None:
        self._buf += _I16.pack(v)

    def uint16(self, v: int) -> None:
        self._buf += _U16.pack(v)

    def int32(self, v: int) -> None:
        self._buf += _I32.pack(v)

    def uint32(self, v: int) -> None:
        self._buf += _U32.pack(v)

    def int64(self, v: int) -> None:
        self._buf += _I64.pack(v)

    def float64(self, v: float) -> None:
        self._buf += _F64.pack(v)

    def bool(self, v: bool) -> None:
        self._buf.append(1 if v else 0)

    def uuid(self, v: uuid.UUID) -> None:
        self._buf += v.bytes

    def uvarint(self, v: int) -> None:
        if 0 <= v < 0x80:
            self._buf.append(v)
        else:
            self._buf += encode_uvarint(v)

    def varint(self, v: int) -> None:
        self._buf += encode_varint(v)

    def varlong(self, v: int) -> None:
        self._buf += encode_varlong(v)

    def string(self, v: str) -> None:
        data = v.encode("utf-8")
        if len(data) > _MAX_STRING:
            raise ValueError("string longer than 32767 bytes")
        self._buf += _I16.pack(len(data))
        self._buf += data

    def nullable_string(self, v: str | None) -> None:
        if v is None:
            self._buf += b"\xff\xff"
        else:
            self.string(v)

    def compact_string(self, v: str) -> None:
        data = v.encode("utf-8")
        if len(data) > _MAX_STRING:
            raise ValueError("string longer than 32767 bytes")
        self.uvarint(len(data) + 1)
        self._buf += data

    def compact_nullable_string(self, v: str | None) -> None:
        if v is None:
            self._buf.append(0)
        else:
            self.compact_string(v)

    def bytes(self, v: Buffer) -> None:
        self._buf += _I32.pack(len(v))
        self.write(v)

    def nullable_bytes(self, v: Buffer | None) -> None:
        if v is None:
            self._buf += b"\xff\xff\xff\xff"
        else:
            self.bytes(v)

    def compact_bytes(self, v: Buffer) -> None:
        self.uvarint(len(v) + 1)
        self.write(v)

    def compact_nullable_bytes(self, v: Buffer | None) -> None:
        if v is None:
            self._buf.append(0)
        else:
            self.compact_bytes(v)

    def records(self, v: Buffer | Sequence[Buffer] | None) -> None:
        """A nullable records field: one buffer, or a sequence of buffers sent as is."""
        if v is None:
            self._buf += b"\xff\xff\xff\xff"
            return
        pieces = _pieces(v)
        self._buf += _I32.pack(sum(len(p) for p in pieces))
        for p in pieces:
            self.write(p)

    def compact_records(self, v: Buffer | Sequence[Buffer] | None) -> None:
        if v is None:
            self._buf.append(0)
            return
        pieces = _pieces(v)
        self.uvarint(sum(len(p) for p in pieces) + 1)
        for p in pieces:
            self.write(p)

    def array_length(self, n: int) -> None:
        self._buf += _I32.pack(n)

    def compact_array_length(self, n: int) -> None:
        self.uvarint(n + 1)


def _pieces(v: Buffer | Sequence[Buffer]) -> Sequence[Buffer]:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return (v,)
    return v
