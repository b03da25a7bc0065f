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

Then each record's key and timestamp, as Kafka 4.0's
C{LogValidator.validateRecord} checks them: with C{keys} (a compacted
topic) a record without a key is a key error; otherwise, on a CreateTime
topic, a record whose timestamp is not C{-1} and lies more than
C{before_max} before or C{after_max} after C{now} (KIP-937; Java's wrapping
C{long} arithmetic) is a timestamp error, and a record of a batch whose
producer set the LogAppendTime flag is one too (unless the CreateTime check
applied to it).  Records of such a batch all have the batch's C{maxTimestamp}
as their timestamp, as Kafka reads them.  The walk also gives the largest
record timestamp (Kafka's C{maxBatchTimestamp}, which starts at C{-1}).

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

#: How many refused records a walk reports at most.
MAX_RECORD_ERRORS: Final = 1000

#: The kinds of refused record a walk reports.
KEY_ERROR: Final = 0
TIMESTAMP_RANGE_ERROR: Final = 1
TIMESTAMP_TYPE_ERROR: Final = 2

#: A refused record: (index, kind, timestamp, offset delta, key size, value size),
#: sizes 0 for null as in Kafka's C{DefaultRecord.toString}.
RecordError = tuple[int, int, int, int, int, int]
#: A walk that found well-formed records: (largest timestamp, key errors,
#: timestamp errors, the first refused records).
Walked = tuple[int, int, int, list[RecordError]]
Walker = Callable[[Buffer, int, bool, int, int, int, bool, bool, int, int, int], "str | Walked"]
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


def _wrap(value: int) -> int:
    """C{value} wrapped around 64 bits, as Java's C{long} arithmetic does."""
    return (value + _INT64_BIAS) % _UINT64 - _INT64_BIAS


#: A well-formed record: (its end, timestamp delta, offset delta, key length, value length).
_Fields = tuple[int, int, int, int, int]


def _walk_one(data: memoryview, pos: int, end: int) -> str | _Fields:
    """Check the record at C{pos}: an error, or the fields the timestamp and key checks need."""
    length, pos = _varint(data, pos, end)
    if length == _BAD:
        return "found invalid record structure: bad record length varint"
    if length < 6 or length > end - pos:
        return "invalid record size: the record length does not fit the batch"
    rec_end = pos + length
    if data[pos] & 0x80:
        return "found invalid record structure: record attributes out of range"
    delta, pos = _varlong(data, pos + 1, rec_end)
    offset_delta = _BAD
    if delta is not None:
        offset_delta, pos = _varint(data, pos, rec_end)
    if delta is None or offset_delta == _BAD:
        return "found invalid record structure: bad timestamp or offset delta varint"
    key_len, pos = _field(data, pos, rec_end)
    value_len = _BAD
    if key_len != _BAD:
        value_len, pos = _field(data, pos, rec_end)
    if value_len == _BAD:
        return "found invalid record structure: bad key or value length"
    count, pos = _varint(data, pos, rec_end)
    if count < 0 or count > (rec_end - pos) // 2:
        return "found invalid number of record headers"
    for _ in range(count):
        key, pos = _varint(data, pos, rec_end)
        if key < 0 or key > rec_end - pos:
            return "found invalid record structure: bad header key length"
        try:
            bytes(data[pos : pos + key]).decode("utf-8")
        except UnicodeDecodeError:
            return "found invalid record structure: header key is not UTF-8"
        header_value, pos = _field(data, pos + key, rec_end)
        if header_value == _BAD:
            return "found invalid record structure: bad header value length"
    if pos != rec_end:
        return "invalid record size: the record's fields do not fill its length"
    return rec_end, delta, offset_delta, key_len, value_len


def py_walk(
    data: Buffer,
    count: int,
    keys: bool,
    max_errors: int,
    base_timestamp: int,
    max_timestamp: int,
    log_append_batch: bool,
    create_time: bool,
    now: int,
    before_max: int,
    after_max: int,
) -> str | Walked:
    """
    Check the records section C{data} of a batch declaring C{count} records.

    @param keys: Whether a record needs a key (a compacted topic).
    @param max_errors: How many refused records to report at most.
    @param base_timestamp: The batch's C{baseTimestamp}.
    @param max_timestamp: The batch's C{maxTimestamp}: every record's
        timestamp when C{log_append_batch}.
    @param log_append_batch: Whether the batch has the LogAppendTime flag.
    @param create_time: Whether the topic's C{message.timestamp.type} is
        CreateTime (timestamps are then checked against C{now}).
    @param before_max: C{message.timestamp.before.max.ms}.
    @param after_max: C{message.timestamp.after.max.ms}.
    @return: The first violation as a message, or C{(largest timestamp, key
        errors, timestamp errors, refused records)}, the refused records as
        L{RecordError}s, at most C{max_errors} of them.
    """
    mv = memoryview(data).cast("B")
    end = len(mv)
    pos = 0
    largest = -1
    key_errors = timestamp_errors = 0
    errors: list[RecordError] = []
    for index in range(count):
        if pos >= end:
            return f"incorrect declared batch size, premature EOF reached (record {index})"
        fields = _walk_one(mv, pos, end)
        if isinstance(fields, str):
            return f"{fields} (record {index})"
        pos, delta, offset_delta, key_len, value_len = fields
        timestamp = max_timestamp if log_append_batch else _wrap(base_timestamp + delta)
        largest = max(largest, timestamp)
        kind = -1
        if keys and key_len < 0:
            kind = KEY_ERROR
            key_errors += 1
        elif create_time and timestamp != -1:
            diff = _wrap(now - timestamp)
            if diff > before_max or _wrap(-diff) > after_max:
                kind = TIMESTAMP_RANGE_ERROR
        elif log_append_batch:
            kind = TIMESTAMP_TYPE_ERROR
        if kind > KEY_ERROR:
            timestamp_errors += 1
        if kind >= 0 and len(errors) < max_errors:
            sizes = max(key_len, 0), max(value_len, 0)
            errors.append((index, kind, timestamp, offset_delta, *sizes))
    if pos != end:
        return f"incorrect declared batch size, records still remaining in file (record {count})"
    return largest, key_errors, timestamp_errors, errors


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
        timestamp = _wrap(base_timestamp + delta)
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
    "KEY_ERROR",
    "MAX_RECORD_ERRORS",
    "TIMESTAMP_RANGE_ERROR",
    "TIMESTAMP_TYPE_ERROR",
    "RecordError",
    "Walked",
    "find_timestamp",
    "py_find_timestamp",
    "py_walk",
    "walk_records",
]
