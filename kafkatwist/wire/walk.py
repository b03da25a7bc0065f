"""Walking the records of a batch without decoding them (Kafka's ``DefaultRecord`` reading).

L{walk_records} checks the records section of one v2 batch (uncompressed,
or already decompressed) the way Kafka's C{DefaultRecordBatch} record
iterator and C{DefaultRecord.readFrom} do, so that nothing stored can stall a
consumer:

  - exactly C{recordsCount} records, and no byte after the last one
    ("premature EOF" / "records still remaining");
  - each record: a length varint between 6 (the smallest record body) and
    the bytes left; attributes; a timestamp-delta varlong; an offset-delta
    varint; key and value lengths of -1 (null) or that fit the record; a
    header count that is not negative and fits the record (two bytes per
    header at least); header keys of a length >= 0, in UTF-8; header
    values of -1 or a length that fits; and fields that fill the record's
    length exactly.

Two points are stricter than Kafka, because common consumers misread what
Kafka lets through: varints must fit 32 bits in at most 5 bytes (varlongs
64 bits in 10) and lengths below -1 are refused (Java reads them as null),
record attributes must be below 0x80 (kafka-python reads them as a varint),
and header keys must be UTF-8 (Java decodes them leniently, kafka-python
raises).  Offset deltas are not checked against the record's index, as in
Kafka.

L{find_timestamp} looks up the first record at (or after) a timestamp in
such a records section for ListOffsets, reading only each record's length,
timestamp delta and offset delta: no object per record, whatever the count.

Both run in C (C{kafkatwist.wire._walk}, built by C{tools/build_walk.py})
when it was built, and in the pure-Python L{py_walk} and
L{py_find_timestamp} otherwise; each pair gives the same answer for every
input.  L{COMPILED} says which ones are in use.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from kafkatwist.wire.primitives import Buffer

#: How many keyless record indexes a walk reports at most.
MAX_RECORD_ERRORS: Final = 1000

Walker = Callable[[Buffer, int, bool, int], "str | list[int]"]
TimestampFinder = Callable[[Buffer, int, int, int, bool, int], "tuple[int, int] | None"]


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    """A zig-zag varint of at most 5 bytes fitting 32 bits; (-2**40, pos) when malformed."""
    raw = 0
    for i in range(5):
        if pos >= end:
            return -(1 << 40), pos
        b = data[pos]
        pos += 1
        if i == 4 and b > 0x0F:
            return -(1 << 40), pos
        raw |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
    return -(1 << 40), pos


def _skip_varlong(data: memoryview, pos: int, end: int) -> int:
    """The position after a varlong of at most 10 bytes fitting 64 bits, or -1."""
    for i in range(10):
        if pos >= end:
            return -1
        b = data[pos]
        pos += 1
        if i == 9 and b > 0x01:
            return -1
        if not b & 0x80:
            return pos
    return -1


_BAD: Final = -(1 << 40)
_INT64_BIAS: Final = 1 << 63
_UINT64: Final = 1 << 64


def _varlong(data: memoryview, pos: int, end: int) -> tuple[int | None, int]:
    """A zig-zag varlong of at most 10 bytes fitting 64 bits; (None, pos) when malformed."""
    raw = 0
    for i in range(10):
        if pos >= end:
            return None, pos
        b = data[pos]
        pos += 1
        if i == 9 and b > 0x01:
            return None, pos
        raw |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
    return None, pos


def _field(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    """A nullable length-prefixed field: (length or -1, next position), or (_BAD, pos)."""
    length, pos = _varint(data, pos, end)
    if length < -1 or length > end - pos:
        return _BAD, pos
    return length, pos + max(length, 0)


def _walk_one(data: memoryview, pos: int, end: int) -> tuple[str | None, int, bool]:
    """Check the record at C{pos}: (error or None, the record's end, whether it has a key)."""
    length, pos = _varint(data, pos, end)
    if length == _BAD:
        return "found invalid record structure: bad record length varint", pos, False
    if length < 6 or length > end - pos:
        return "invalid record size: the record length does not fit the batch", pos, False
    rec_end = pos + length
    if data[pos] & 0x80:
        return "found invalid record structure: record attributes out of range", pos, False
    pos = _skip_varlong(data, pos + 1, rec_end)
    scratch = _BAD
    if pos >= 0:
        scratch, pos = _varint(data, pos, rec_end)
    if pos < 0 or scratch == _BAD:
        return (
            "found invalid record structure: bad timestamp or offset delta varint",
            pos,
            False,
        )
    key_len, pos = _field(data, pos, rec_end)
    value_len = _BAD
    if key_len != _BAD:
        value_len, pos = _field(data, pos, rec_end)
    if value_len == _BAD:
        return "found invalid record structure: bad key or value length", pos, False
    count, pos = _varint(data, pos, rec_end)
    if count < 0 or count > (rec_end - pos) // 2:
        return "found invalid number of record headers", pos, False
    for _ in range(count):
        key, pos = _varint(data, pos, rec_end)
        if key < 0 or key > rec_end - pos:
            return "found invalid record structure: bad header key length", pos, False
        try:
            bytes(data[pos : pos + key]).decode("utf-8")
        except UnicodeDecodeError:
            return "found invalid record structure: header key is not UTF-8", pos, False
        header_value, pos = _field(data, pos + key, rec_end)
        if header_value == _BAD:
            return "found invalid record structure: bad header value length", pos, False
    if pos != rec_end:
        return "invalid record size: the record's fields do not fill its length", pos, False
    return None, rec_end, key_len >= 0


def py_walk(data: Buffer, count: int, keys: bool, max_keyless: int) -> str | list[int]:
    """
    Check the records section C{data} of a batch declaring C{count} records.

    @param keys: Whether to report the records without a key (a compacted
        topic refuses them).
    @param max_keyless: How many keyless record indexes to report at most.
    @return: The first violation as a message, or the indexes of the records
        without a key (empty unless C{keys}).
    """
    mv = memoryview(data).cast("B")
    end = len(mv)
    pos = 0
    keyless: list[int] = []
    for index in range(count):
        if pos >= end:
            return f"incorrect declared batch size, premature EOF reached (record {index})"
        error, pos, has_key = _walk_one(mv, pos, end)
        if error is not None:
            return f"{error} (record {index})"
        if keys and not has_key and len(keyless) < max_keyless:
            keyless.append(index)
    if pos != end:
        return f"incorrect declared batch size, records still remaining in file (record {count})"
    return keyless


def py_find_timestamp(
    data: Buffer, count: int, base_timestamp: int, target: int, exact: bool, min_delta: int
) -> tuple[int, int] | None:
    """
    The first record of a records section at or after a timestamp (ListOffsets).

    Timestamps are C{base_timestamp} plus each record's delta, wrapping
    around 64 bits as in Java.  Only each record's length, timestamp delta
    and offset delta are read (and must be well formed); the search stops at
    the first match, so what follows it is not looked at.

    @param count: The records the batch declares.
    @param exact: Find a timestamp equal to C{target} (C{MAX_TIMESTAMP}),
        not one >= C{target}.
    @param min_delta: Skip the records whose offset delta is below this.
    @return: C{(offset_delta, timestamp)} of that record, or C{None}.
    @raise ValueError: For a negative count or records that cannot be read.
    """
    if count < 0:
        raise ValueError(f"found invalid record count {count}")
    mv = memoryview(data).cast("B")
    end = len(mv)
    pos = 0
    for index in range(count):
        if pos >= end:
            error = "incorrect declared batch size, premature EOF reached"
            raise ValueError(f"{error} (record {index})")
        length, pos = _varint(mv, pos, end)
        if length == _BAD:
            error = "found invalid record structure: bad record length varint"
            raise ValueError(f"{error} (record {index})")
        if length < 3 or length > end - pos:
            error = "invalid record size: the record length does not fit the batch"
            raise ValueError(f"{error} (record {index})")
        delta, at = _varlong(mv, pos + 1, pos + length)
        offset_delta = _BAD
        if delta is not None:
            offset_delta, at = _varint(mv, at, pos + length)
        if delta is None or offset_delta == _BAD:
            error = "found invalid record structure: bad timestamp or offset delta varint"
            raise ValueError(f"{error} (record {index})")
        timestamp = (base_timestamp + delta + _INT64_BIAS) % _UINT64 - _INT64_BIAS
        if offset_delta >= min_delta and (timestamp == target if exact else timestamp >= target):
            return offset_delta, timestamp
        pos += length
    return None


try:
    from kafkatwist.wire._walk import (  # type: ignore[import-not-found]
        find_timestamp as _c_find_timestamp,
    )
    from kafkatwist.wire._walk import walk as _c_walk
except ImportError:  # not built: no C compiler where it was installed
    _c_walk = _c_find_timestamp = None

#: Whether L{walk_records} and L{find_timestamp} are the compiled ones.
COMPILED: Final = _c_walk is not None
walk_records: Walker = _c_walk if _c_walk is not None else py_walk
find_timestamp: TimestampFinder = (
    _c_find_timestamp if _c_find_timestamp is not None else py_find_timestamp
)

__all__ = [
    "COMPILED",
    "MAX_RECORD_ERRORS",
    "find_timestamp",
    "py_find_timestamp",
    "py_walk",
    "walk_records",
]
