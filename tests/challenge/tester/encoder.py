"""Primitive encoders: Kafka's fixed-width integers, varints, strings, arrays and UUIDs."""

from __future__ import annotations

import base64
import struct
import uuid as _uuid
from collections.abc import Iterable


def enc_int8(value: int) -> bytes:
    """Encode a signed 8-bit integer."""
    return struct.pack(">b", value)


def enc_int16(value: int) -> bytes:
    """Encode a signed big-endian 16-bit integer."""
    return struct.pack(">h", value)


def enc_int32(value: int) -> bytes:
    """Encode a signed big-endian 32-bit integer."""
    return struct.pack(">i", value)


def enc_uint32(value: int) -> bytes:
    """Encode an unsigned big-endian 32-bit integer."""
    return struct.pack(">I", value)


def enc_int64(value: int) -> bytes:
    """Encode a signed big-endian 64-bit integer."""
    return struct.pack(">q", value)


def enc_uvarint(value: int) -> bytes:
    """Encode an unsigned LEB128 varint."""
    if value < 0:
        raise ValueError(f"unsigned varint cannot encode {value}")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def enc_varint(value: int) -> bytes:
    """Encode a signed zig-zag varint (Kafka's VARINT/VARLONG)."""
    return enc_uvarint((value << 1) ^ (value >> 63))


def _as_bytes(value: str | bytes) -> bytes:
    """UTF-8 for text, the bytes themselves otherwise."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def enc_string(value: str | bytes) -> bytes:
    """Encode a non-null (NULLABLE_)STRING: int16 length then bytes."""
    data = _as_bytes(value)
    return enc_int16(len(data)) + data


def enc_compact_string(value: str | bytes) -> bytes:
    """Encode a COMPACT_STRING: uvarint(length + 1) then bytes."""
    data = _as_bytes(value)
    return enc_uvarint(len(data) + 1) + data


def enc_compact_nullable_string(value: str | bytes | None) -> bytes:
    """Encode a COMPACT_NULLABLE_STRING (0x00 for null)."""
    return b"\x00" if value is None else enc_compact_string(value)


def enc_uuid(value: str) -> bytes:
    """Encode a UUID as its 16 raw bytes."""
    return _uuid.UUID(value).bytes


def enc_compact_array(items: Iterable[bytes]) -> bytes:
    """Encode a COMPACT_ARRAY of already-encoded elements."""
    elements = list(items)
    return enc_uvarint(len(elements) + 1) + b"".join(elements)


def enc_compact_int32_array(values: Iterable[int]) -> bytes:
    """Encode a COMPACT_ARRAY of INT32."""
    return enc_compact_array(enc_int32(v) for v in values)


def frame(message: bytes) -> bytes:
    """Prefix a message with its int32 size, as on the wire."""
    return enc_int32(len(message)) + message


def uuid_to_base64(value: str) -> str:
    """The tester's uuidToBase64: *standard* base64, with ``==`` padding."""
    return base64.b64encode(_uuid.UUID(value).bytes).decode("ascii")
