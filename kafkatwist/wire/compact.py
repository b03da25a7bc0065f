"""The log cleaner's per-record kernels: an MD5 offset map and the record filter.

Kafka's C{SkimpyOffsetMap} keeps, for each key of the dirty part of a
compacted log, the offset of its latest record, in a fixed buffer: C{slots}
entries of 24 bytes, the key's 16-byte MD5 then the offset (int64,
big-endian); an entry of 24 zero bytes is empty. A key is probed at slot
C{abs(int32 at hash[min(attempt, 12)] + max(0, attempt - 12)) % slots}
(Java's wrapping C{int}; C{Utils.abs(MIN_VALUE)} is 0), attempt 0, 1, 2...
until an empty entry or the key's own hash turns up (C{positionOf}).

The kernels, over the records section of one (decompressed) v2 batch:

- L{py_map_put} / L{py_map_get}: one key (C{put} and C{get});
- L{py_map_index}: C{Cleaner.buildOffsetMapForSegment}'s inner loop: every
  keyed record at an offset in C{[start_offset, end_offset)} goes into the
  map while it holds fewer than C{max_entries} entries (the load factor's
  bound); the first one that finds it at the bound stops the walk ("full");
- L{py_filter_records}: C{Cleaner.shouldRetainRecord}: a record past the
  map's latest offset is kept; otherwise one without a key is dropped, and
  one with a key is kept if its offset is at or after the map's offset for
  the key and it has a value or the batch's tombstones are still retained.
  Kept records are copied byte for byte (their offset deltas are relative to
  the batch's unchanged base offset), or with their timestamp delta rebased
  when the batch gets a new base timestamp (the KIP-534 delete horizon).

They run in C (C{kafkatwist.wire._walk}) when it was built, and in the pure
Python below otherwise; each pair gives the same answer for every input.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from kafkatwist.wire.primitives import Buffer, encode_varint, encode_varlong
from kafkatwist.wire.walk import _varint, _varlong, _wrap

#: The bytes of one entry: a 16-byte MD5 and an 8-byte offset.
ENTRY_SIZE: Final = 24
_HASH_SIZE: Final = 16
_EMPTY: Final = bytes(ENTRY_SIZE)

#: map_index's answer: (entries, latest offset, records read, full).
Indexed = tuple[int, int, int, bool]
#: filter_records' answer: (kept bytes, kept, max timestamp, tombstones, max offset).
Filtered = tuple[bytes, int, int, bool, int]


def _slot(digest: bytes, attempt: int, slots: int) -> int:
    at = min(attempt, _HASH_SIZE - 4)
    probe = int.from_bytes(digest[at : at + 4], "big") + max(0, attempt - _HASH_SIZE + 4)
    probe &= 0xFFFFFFFF
    if probe >= 1 << 31:
        probe -= 1 << 32
    return (0 if probe == -(1 << 31) else abs(probe)) % slots


def _check(table: Buffer, slots: int) -> memoryview:
    view = memoryview(table).cast("B")
    if slots <= 0 or len(view) < slots * ENTRY_SIZE:
        raise ValueError("the offset map table is smaller than its slots")
    return view


def _put(view: memoryview, slots: int, entries: int, key: Buffer, offset: int) -> int:
    """1 if a new slot was taken, 0 if the key's entry was updated, -1 if the map is full."""
    if entries >= slots:
        return -1
    digest = hashlib.md5(key).digest()
    attempt = 0
    while True:
        pos = _slot(digest, attempt, slots) * ENTRY_SIZE
        entry = bytes(view[pos : pos + ENTRY_SIZE])
        if entry == _EMPTY or entry[:_HASH_SIZE] == digest:
            view[pos : pos + _HASH_SIZE] = digest
            view[pos + _HASH_SIZE : pos + ENTRY_SIZE] = (offset & (2**64 - 1)).to_bytes(8, "big")
            return 1 if entry == _EMPTY else 0
        attempt += 1


def _get(view: memoryview, slots: int, key: Buffer) -> int:
    digest = hashlib.md5(key).digest()
    for attempt in range(slots + _HASH_SIZE - 4):
        pos = _slot(digest, attempt, slots) * ENTRY_SIZE
        entry = bytes(view[pos : pos + ENTRY_SIZE])
        if entry == _EMPTY:
            return -1
        if entry[:_HASH_SIZE] == digest:
            return int.from_bytes(entry[_HASH_SIZE:], "big", signed=True)
    return -1


def py_map_put(table: Buffer, slots: int, entries: int, key: Buffer, offset: int) -> int:
    """
    Put C{key} at C{offset}; return the new entry count.

    @raise ValueError: The map has no free slot (Kafka's "Attempted to add a
        new entry to a full offset map").
    """
    took = _put(_check(table, slots), slots, entries, key, offset)
    if took < 0:
        raise ValueError("Attempted to add a new entry to a full offset map.")
    return entries + took


def py_map_get(table: Buffer, slots: int, key: Buffer) -> int:
    """The offset stored for C{key}, or -1."""
    return _get(_check(table, slots), slots, key)


#: A record's parts: (end, body start, after the timestamp delta, timestamp delta,
#: offset delta, key start, key length, value length).
_Parts = tuple[int, int, int, int, int, int, int, int]


def _parts(mv: memoryview, pos: int, end: int) -> _Parts:
    length, body = _varint(mv, pos, end)
    if length < 6 or length > end - body:
        raise ValueError("unreadable record")
    rec_end = body + length
    delta, at = _varlong(mv, body + 1, rec_end)
    if delta is None:
        raise ValueError("unreadable record")
    after_ts = at
    offset_delta, at = _varint(mv, at, rec_end)
    key_len, at = _varint(mv, at, rec_end)
    if offset_delta < -(1 << 31) or key_len < -1 or key_len > rec_end - at:
        raise ValueError("unreadable record")
    key_at = at
    value_len, at = _varint(mv, at + max(key_len, 0), rec_end)
    if value_len < -1 or value_len > rec_end - at:
        raise ValueError("unreadable record")
    return rec_end, body, after_ts, delta, offset_delta, key_at, key_len, value_len


def py_map_index(
    table: Buffer,
    slots: int,
    entries: int,
    max_entries: int,
    latest: int,
    records: Buffer,
    count: int,
    base_offset: int,
    start_offset: int,
    end_offset: int,
) -> tuple[int, int, int, int]:
    """
    Map the keys of a batch's records at offsets in C{[start_offset, end_offset)}.

    @return: C{(entries, latest offset put, records read, full)}: C{full} is
        1 when a record found the map at C{max_entries} (it and the records
        after it were not read).
    @raise ValueError: For records that cannot be read.
    """
    view = _check(table, slots)
    mv = memoryview(records).cast("B")
    end = len(mv)
    pos = read = 0
    for index in range(count):
        try:
            pos_next, _, _, _, offset_delta, key_at, key_len, _ = _parts(mv, pos, end)
        except ValueError:
            raise ValueError(f"unreadable record {index} in a batch") from None
        offset = base_offset + offset_delta
        if key_len >= 0 and start_offset <= offset < end_offset:
            took = (
                -1
                if entries >= max_entries
                else _put(view, slots, entries, mv[key_at : key_at + key_len], offset)
            )
            if took < 0:
                return entries, latest, read, 1
            entries += took
            latest = offset
        read += 1
        pos = pos_next
    return entries, latest, read, 0


def py_filter_records(
    table: Buffer,
    slots: int,
    latest: int,
    records: Buffer,
    count: int,
    base_offset: int,
    retain_deletes: bool,
    base_timestamp: int,
    new_base_timestamp: int,
) -> tuple[bytes, int, int, int, int]:
    """
    The records of a batch the cleaner keeps, and what it needs to know of them.

    @param latest: The offset map's latest offset: records after it are kept.
    @param retain_deletes: Whether tombstones (null values) are still kept
        (the batch has no delete horizon, or it has not passed).
    @param new_base_timestamp: The base timestamp the kept records are
        written against (C{base_timestamp} keeps their bytes as they are).
    @return: C{(kept records, how many, largest timestamp, whether a kept
        record is a tombstone (1/0), largest kept offset)}; -1 for the
        largest timestamp and offset when none is kept.
    @raise ValueError: For records that cannot be read.
    """
    view = _check(table, slots)
    mv = memoryview(records).cast("B")
    end = len(mv)
    if not 0 <= count <= end:
        raise ValueError(f"a batch of {end} bytes cannot hold {count} records")
    out = bytearray()
    pos = kept = tombstones = 0
    max_ts = max_offset = -1
    for index in range(count):
        try:
            rec_end, body, after_ts, delta, offset_delta, key_at, key_len, value_len = _parts(
                mv, pos, end
            )
        except ValueError:
            raise ValueError(f"unreadable record {index} in a batch") from None
        offset = base_offset + offset_delta
        if offset > latest:
            keep = True
        elif key_len < 0:
            keep = False
        else:
            found = _get(view, slots, mv[key_at : key_at + key_len])
            keep = offset >= found and (value_len >= 0 or retain_deletes)
        if keep:
            kept += 1
            timestamp = _wrap(base_timestamp + delta)
            max_ts = max(max_ts, timestamp)
            max_offset = max(max_offset, offset)
            if value_len < 0:
                tombstones = 1
            if new_base_timestamp == base_timestamp:
                out += mv[pos:rec_end]
            else:
                rest = bytes(mv[after_ts:rec_end])
                new_delta = encode_varlong(_wrap(timestamp - new_base_timestamp))
                out += encode_varint(1 + len(new_delta) + len(rest))
                out += mv[body : body + 1]
                out += new_delta
                out += rest
        pos = rec_end
    return bytes(out), kept, max_ts, tombstones, max_offset


MapPut = Callable[[Buffer, int, int, Buffer, int], int]
MapGet = Callable[[Buffer, int, Buffer], int]
MapIndex = Callable[
    [Buffer, int, int, int, int, Buffer, int, int, int, int], "tuple[int, int, int, int]"
]
FilterRecords = Callable[
    [Buffer, int, int, Buffer, int, int, bool, int, int], "tuple[bytes, int, int, int, int]"
]

try:
    from kafkatwist.wire._walk import (  # type: ignore[import-not-found]
        filter_records as _c_filter_records,
    )
    from kafkatwist.wire._walk import map_get as _c_map_get
    from kafkatwist.wire._walk import map_index as _c_map_index
    from kafkatwist.wire._walk import map_put as _c_map_put
except ImportError:  # not built: no C compiler where it was installed
    _c_map_put = _c_map_get = _c_map_index = _c_filter_records = None

#: Whether the compiled kernels are in use.
COMPILED: Final = _c_map_put is not None
map_put: MapPut = _c_map_put if _c_map_put is not None else py_map_put
map_get: MapGet = _c_map_get if _c_map_get is not None else py_map_get
map_index: MapIndex = _c_map_index if _c_map_index is not None else py_map_index
filter_records: FilterRecords = (
    _c_filter_records if _c_filter_records is not None else py_filter_records
)

__all__ = [
    "COMPILED",
    "ENTRY_SIZE",
    "filter_records",
    "map_get",
    "map_index",
    "map_put",
    "py_filter_records",
    "py_map_get",
    "py_map_index",
    "py_map_put",
]
