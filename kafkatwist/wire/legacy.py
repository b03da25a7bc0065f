"""Message sets of magic 0 and 1, the formats before record batches (Kafka's ``LegacyRecord``).

Reference: the "Message sets" section of Kafka's protocol guide
(https://kafka.apache.org/protocol.html#protocol_message_sets, the
0.10 documentation's "Messages" layout) and, in Kafka 3.9's ``clients``
module, ``org.apache.kafka.common.record.LegacyRecord`` and
``AbstractLegacyRecordBatch``.  A message set is a sequence of messages,
each (big-endian)::

    offset       int64
    message_size int32   (bytes after this field)
    crc          uint32  (CRC-32, not CRC-32C, of magic to the end)
    magic        int8    (0 or 1)
    attributes   int8    (bits 0-2: codec; bit 3, magic 1: LogAppendTime)
    timestamp    int64   (magic 1 only)
    key          int32 length (-1: null), bytes
    value        int32 length (-1: null), bytes

A compressed message (codec in its attributes) is a wrapper: its value is
a compressed message set of the same magic, whose offsets are absolute for
magic 0 and relative (0, 1, ...; the wrapper carries the last absolute
offset) for magic 1.

LZ4 wrappers of magic 0 carry Kafka 0.8/0.9's broken LZ4 frame header
checksum, computed over the frame's magic number too (KAFKA-3160); Kafka
reads them without checking it (``KafkaLZ4BlockInputStream`` with
``ignoreFlagDescriptorChecksum``) and writes them that way for magic 0
(``useBrokenFlagDescriptorChecksum``). L{fix_lz4_header} and
L{break_lz4_header} convert between the two, with a small pure-Python
XXH32 (the header is at most 15 bytes).

This is the old-client conversion path, where Python per message is
accepted (L{kafkatwist.wire.upconvert}, L{kafkatwist.wire.downconvert}).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from attrs import frozen

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.primitives import Buffer

MAGIC_V0: Final = 0
MAGIC_V1: Final = 1
#: offset + message_size: the bytes of a message not counted in message_size.
LOG_OVERHEAD: Final = 12
#: Where the magic byte sits in a message (and in a v2 batch).
MAGIC_OFFSET: Final = 16
#: Kafka's C{LegacyRecord.RECORD_OVERHEAD_V0} / C{_V1}: crc, magic,
#: attributes, (timestamp), key length, value length.
RECORD_OVERHEAD: Final = {MAGIC_V0: 14, MAGIC_V1: 22}
CODEC_MASK: Final = 0x07
TIMESTAMP_TYPE_MASK: Final = 0x08
NO_TIMESTAMP: Final = -1

_PREFIX: Final = struct.Struct(">qiI")
_MAGIC_ATTRIBUTES: Final = struct.Struct(">bb")
_TIMESTAMP: Final = struct.Struct(">q")
_LENGTH: Final = struct.Struct(">i")


@frozen
class LegacyMessage:
    """
    One message of a magic 0 or 1 message set, its CRC checked.

    @ivar timestamp: C{NO_TIMESTAMP} for magic 0.
    """

    offset: int
    magic: int
    attributes: int
    timestamp: int
    key: bytes | None
    value: bytes | None

    @property
    def codec(self) -> int:
        """The codec id of a wrapper (0 for a plain message)."""
        return self.attributes & CODEC_MASK

    @property
    def log_append_time(self) -> bool:
        """Whether a magic 1 message says its timestamp is LogAppendTime."""
        return self.magic > MAGIC_V0 and bool(self.attributes & TIMESTAMP_TYPE_MASK)


def _corrupt(message: str) -> RecordsError:
    return RecordsError(ErrorCode.CORRUPT_MESSAGE, message)


def _field(view: memoryview, pos: int, end: int) -> tuple[bytes | None, int]:
    if end - pos < _LENGTH.size:
        raise _corrupt("message ends inside a key or value length")
    (length,) = _LENGTH.unpack_from(view, pos)
    pos += _LENGTH.size
    if length == -1:
        return None, pos
    if length < 0 or length > end - pos:
        raise _corrupt(f"invalid key or value length {length}")
    return bytes(view[pos : pos + length]), pos + length


def read_message(view: memoryview, pos: int, end: int) -> tuple[LegacyMessage, int] | None:
    """
    The message at C{pos} and the position after it; None when the bytes end inside it.

    @raise RecordsError: C{CORRUPT_MESSAGE} for a size below the record
        overhead, a CRC-32 mismatch (Kafka's message), or fields that do not
        fill the message exactly; C{INVALID_RECORD} for a magic other than
        0 or 1 (a v2 batch in a legacy message set).
    """
    if end - pos < LOG_OVERHEAD:
        return None
    offset, size, crc = _PREFIX.unpack_from(view, pos)
    if size < RECORD_OVERHEAD[MAGIC_V0]:
        raise _corrupt(
            f"message size {size} at position {pos} is less than the minimum record "
            f"overhead ({RECORD_OVERHEAD[MAGIC_V0]})"
        )
    if end - pos < LOG_OVERHEAD + size:
        return None
    magic, attributes = _MAGIC_ATTRIBUTES.unpack_from(view, pos + MAGIC_OFFSET)
    if magic not in (MAGIC_V0, MAGIC_V1):
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"a message set of magic 0 or 1 holds magic {magic} at position {pos}",
        )
    message_end = pos + LOG_OVERHEAD + size
    if size < RECORD_OVERHEAD[magic]:
        raise _corrupt(
            f"message size {size} at position {pos} is less than the minimum record "
            f"overhead ({RECORD_OVERHEAD[magic]})"
        )
    computed = zlib.crc32(view[pos + MAGIC_OFFSET : message_end])
    if computed != crc:
        raise _corrupt(f"Record is corrupt (stored crc = {crc}, computed crc = {computed})")
    at = pos + MAGIC_OFFSET + _MAGIC_ATTRIBUTES.size
    timestamp = NO_TIMESTAMP
    if magic == MAGIC_V1:
        (timestamp,) = _TIMESTAMP.unpack_from(view, at)
        at += _TIMESTAMP.size
    key, at = _field(view, at, message_end)
    value, at = _field(view, at, message_end)
    if at != message_end:
        raise _corrupt(f"{message_end - at} bytes after the value of the message at position {pos}")
    return LegacyMessage(offset, magic, attributes & 0xFF, timestamp, key, value), message_end


def read_message_set(buf: Buffer) -> list[tuple[int, LegacyMessage]]:
    """
    Every message of a complete message set, with its position (shallow: wrappers stay wrapped).

    @raise RecordsError: C{CORRUPT_MESSAGE} when the bytes end inside a
        message, and as L{read_message}.
    """
    view = memoryview(buf).cast("B")
    end = len(view)
    pos = 0
    messages: list[tuple[int, LegacyMessage]] = []
    while pos < end:
        found = read_message(view, pos, end)
        if found is None:
            raise _corrupt(
                f"records end inside a message at position {pos} ({end - pos} bytes left)"
            )
        messages.append((pos, found[0]))
        pos = found[1]
    return messages


def _put_field(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out += _LENGTH.pack(-1)
    else:
        out += _LENGTH.pack(len(data))
        out += data


def encode_message(
    offset: int,
    magic: int,
    attributes: int,
    timestamp: int,
    key: bytes | None,
    value: bytes | None,
) -> bytes:
    """One message of magic C{magic} with its CRC-32 (C{timestamp} is dropped for magic 0)."""
    body = bytearray(_MAGIC_ATTRIBUTES.pack(magic, attributes))
    if magic == MAGIC_V1:
        body += _TIMESTAMP.pack(timestamp)
    _put_field(body, key)
    _put_field(body, value)
    return _PREFIX.pack(offset, len(body) + 4, zlib.crc32(body)) + bytes(body)


# -- LZ4 frame header checksums ------------------------------------------------

_P1: Final = 2654435761
_P2: Final = 2246822519
_P3: Final = 3266489917
_P4: Final = 668265263
_P5: Final = 374761393
_M32: Final = 0xFFFFFFFF
_LZ4_MAGIC: Final = b"\x04\x22\x4d\x18"
#: FLG's content-size bit: 8 more header bytes.
_LZ4_CONTENT_SIZE: Final = 0x08


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M32, 13) * _P1) & _M32


def xxh32(data: bytes, seed: int = 0) -> int:
    """XXH32 of C{data} (for LZ4 frame header checksums: a few bytes)."""
    n = len(data)
    pos = 0
    if n >= 16:
        v = [(seed + _P1 + _P2) & _M32, (seed + _P2) & _M32, seed, (seed - _P1) & _M32]
        while pos + 16 <= n:
            for i in range(4):
                v[i] = _round(v[i], int.from_bytes(data[pos : pos + 4], "little"))
                pos += 4
        acc = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M32
    else:
        acc = (seed + _P5) & _M32
    acc = (acc + n) & _M32
    while pos + 4 <= n:
        acc = (acc + int.from_bytes(data[pos : pos + 4], "little") * _P3) & _M32
        acc = (_rotl(acc, 17) * _P4) & _M32
        pos += 4
    while pos < n:
        acc = (acc + data[pos] * _P5) & _M32
        acc = (_rotl(acc, 11) * _P1) & _M32
        pos += 1
    acc ^= acc >> 15
    acc = (acc * _P2) & _M32
    acc ^= acc >> 13
    acc = (acc * _P3) & _M32
    acc ^= acc >> 16
    return acc


def _lz4_header_end(frame: bytes) -> int | None:
    """The position just past an LZ4 frame header's checksum byte; None if not a frame."""
    if len(frame) < 7 or frame[:4] != _LZ4_MAGIC:
        return None
    end = 7 + (8 if frame[4] & _LZ4_CONTENT_SIZE else 0)
    return end if len(frame) >= end else None


def fix_lz4_header(frame: bytes) -> bytes:
    """
    An LZ4 frame with its header checksum made right, whatever it held.

    Reads magic 0's frames as Kafka does (their checksum is not checked);
    bytes that are not an LZ4 frame are returned as they are, for the
    decompressor to refuse.
    """
    end = _lz4_header_end(frame)
    if end is None:
        return frame
    checksum = (xxh32(frame[4 : end - 1]) >> 8) & 0xFF
    return frame[: end - 1] + bytes((checksum,)) + frame[end:]


def break_lz4_header(frame: bytes) -> bytes:
    """An LZ4 frame with Kafka 0.8's header checksum (over the magic number too), for magic 0."""
    end = _lz4_header_end(frame)
    if end is None:
        return frame
    checksum = (xxh32(frame[: end - 1]) >> 8) & 0xFF
    return frame[: end - 1] + bytes((checksum,)) + frame[end:]


__all__ = [
    "MAGIC_V0",
    "MAGIC_V1",
    "LegacyMessage",
    "break_lz4_header",
    "encode_message",
    "fix_lz4_header",
    "read_message",
    "read_message_set",
    "xxh32",
]
