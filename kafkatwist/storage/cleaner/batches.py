"""Reading segments in the cleaner's thread, and filtering one batch (``MemoryRecords.filterTo``).

L{read_batches} reads a ``.log`` file in chunks of the I/O buffer size (a
larger batch gets a read of its own), through its own descriptor: the
shared read handles belong to the reactor thread.

L{filter_batch} is Kafka's C{filterTo} for one v2 batch under the cleaner's
C{RecordFilter} (C{Cleaner.cleanInto}): the batch is deleted, kept whole
(byte for byte, when every record stays and no delete horizon must be set),
rebuilt with the records that stay, or kept empty for a producer's state.
A rebuilt batch keeps its base offset, last offset delta, producer id,
epoch, base sequence, leader epoch, attributes and codec; its records are
the kept ones byte for byte (re-compressed with the batch's own codec), its
count, length, max timestamp and CRC are new. A batch that gains a delete
horizon (it keeps a tombstone or a marker that may go) gets the delete
horizon flag and the horizon as base timestamp, its records' timestamp
deltas rebased. Per record work happens in C (L{OffsetMap.filter_records}).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from attrs import define, frozen

from kafkatwist.storage.cleaner.offset_map import OffsetMap
from kafkatwist.storage.cleaner.txn import (
    CleanedTransactionMetadata,
    LastRecord,
    is_last_batch_of_producer,
)
from kafkatwist.storage.files import pread_exact
from kafkatwist.storage.swap import CleaningAbortedError
from kafkatwist.wire.batch import (
    BATCH_HEADER_SIZE,
    DELETE_HORIZON_FLAG_MASK,
    LOG_OVERHEAD,
    NO_TIMESTAMP,
    RECORDS_OFFSET,
    BatchHeader,
    encode_batch_header,
    parse_batch_header,
    read_end_txn_marker,
)
from kafkatwist.wire.compression import NONE, compress
from kafkatwist.wire.inflate import inflate
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.record_checks import decompressed_limit

#: Kafka's ``log.cleaner.io.buffer.size`` default (split between reading and writing there).
DEFAULT_IO_BUFFER_BYTES: Final = 512 * 1024

Throttle = Callable[[int], None]


def open_for_cleaning(path: str) -> int:
    """A read-only descriptor of a segment's ``.log``; L{CleaningAbortedError} if it is gone."""
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CleaningAbortedError(f"{path} was deleted during cleaning") from None


def read_batches(
    fd: int, size: int, position: int, buffer_bytes: int, throttle: Throttle | None
) -> Iterator[tuple[BatchHeader, memoryview]]:
    """
    Yield C{(header, whole batch)} for each batch from C{position} to C{size}.

    The views are valid until the next item. C{throttle(n)} is told of every chunk read.

    @raise CleaningAbortedError: The file ends early (it was truncated).
    """
    while position + BATCH_HEADER_SIZE <= size:
        want = min(max(buffer_bytes, BATCH_HEADER_SIZE), size - position)
        try:
            chunk = memoryview(pread_exact(fd, want, position))
        except OSError as e:
            raise CleaningAbortedError(f"segment read failed: {e}") from None
        if throttle is not None:
            throttle(len(chunk))
        rel = 0
        while rel + BATCH_HEADER_SIZE <= len(chunk):
            header = parse_batch_header(chunk, rel)
            if rel + header.size > len(chunk):
                break
            yield header, chunk[rel : rel + header.size]
            rel += header.size
        if rel == 0:
            header = parse_batch_header(chunk, 0)
            if header.size > size - position or header.batch_length < 0:
                raise CleaningAbortedError(f"batch at position {position} runs past the segment")
            whole = memoryview(pread_exact(fd, header.size, position))
            if throttle is not None:
                throttle(len(whole))
            yield header, whole
            rel = header.size
        position += rel


def records_of(header: BatchHeader, batch: Buffer, max_message_bytes: int) -> Buffer:
    """The records section of a batch, decompressed (bounded as Produce validation bounds it)."""
    body = memoryview(batch)[RECORDS_OFFSET : header.size]
    if header.compression == NONE:
        return body
    return inflate(header.compression, body, decompressed_limit(max_message_bytes))


@frozen
class FilterContext:
    """What filtering a batch needs besides the batch (one per cleaning pass)."""

    offset_map: OffsetMap
    transactions: CleanedTransactionMetadata
    last_records: Mapping[int, LastRecord]
    upper_bound_offset: int
    now_ms: int
    delete_retention_ms: int
    max_message_bytes: int


@define
class Filtered:
    """One batch's outcome: the bytes to write (empty if deleted), records read and kept."""

    data: Buffer
    records_read: int
    records_kept: int
    max_timestamp: int


def _empty_batch(header: BatchHeader) -> bytes:
    """Kafka's C{DefaultRecordBatch.writeEmptyHeader}: a header without records, no codec."""
    attributes = header.attributes & ~0x07 & ~DELETE_HORIZON_FLAG_MASK
    return encode_batch_header(
        b"",
        base_offset=header.base_offset,
        partition_leader_epoch=header.partition_leader_epoch,
        attributes=attributes,
        last_offset_delta=header.last_offset_delta,
        base_timestamp=NO_TIMESTAMP,
        max_timestamp=header.max_timestamp,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        records_count=0,
    )


def filter_batch(header: BatchHeader, batch: memoryview, ctx: FilterContext) -> Filtered:
    """Kafka's C{filterTo} under the cleaner's filter, for one batch (see the module docstring)."""
    txns = ctx.transactions
    if header.is_control:
        can_discard = txns.on_control_batch_read(header, read_end_txn_marker(batch, 0, header))
        horizon_passed = header.has_delete_horizon and header.base_timestamp <= ctx.now_ms
        discard_records = can_discard and horizon_passed
    else:
        can_discard = discard_records = txns.on_batch_read(header)
    retain_empty = (
        header.has_producer_id and is_last_batch_of_producer(header, ctx.last_records)
    ) or header.next_offset == ctx.upper_bound_offset
    count = header.records_count
    if discard_records:
        data = _empty_batch(header) if retain_empty else b""
        return Filtered(data, count, 0, header.max_timestamp if data else NO_TIMESTAMP)
    marker_for_empty_txn = can_discard and header.is_control
    retain_deletes = not header.has_delete_horizon or ctx.now_ms < header.base_timestamp
    records = records_of(header, batch, ctx.max_message_bytes)
    omap = ctx.offset_map
    base_ts = header.base_timestamp
    kept_bytes, kept, max_ts, tombstones, _ = omap.filter_records(
        records,
        count,
        header.base_offset,
        retain_deletes=retain_deletes,
        base_timestamp=base_ts,
        new_base_timestamp=base_ts,
        keep_all=header.is_control,
    )
    if kept == 0:
        data = _empty_batch(header) if retain_empty else b""
        return Filtered(data, count, 0, header.max_timestamp if data else NO_TIMESTAMP)
    set_horizon = (tombstones or marker_for_empty_txn) and not header.has_delete_horizon
    if kept == count and not set_horizon:
        return Filtered(batch, count, kept, header.max_timestamp)
    if set_horizon:
        new_base = ctx.now_ms + ctx.delete_retention_ms
        kept_bytes, kept, max_ts, _, _ = omap.filter_records(
            records,
            count,
            header.base_offset,
            retain_deletes=retain_deletes,
            base_timestamp=base_ts,
            new_base_timestamp=new_base,
            keep_all=header.is_control,
        )
    else:
        new_base = base_ts
    if header.timestamp_type == 1:  # LogAppendTime: every record has the batch's time
        max_ts = header.max_timestamp
    body = compress(header.compression, kept_bytes) if header.compression else kept_bytes
    attributes = header.attributes | (DELETE_HORIZON_FLAG_MASK if set_horizon else 0)
    head = encode_batch_header(
        body,
        base_offset=header.base_offset,
        partition_leader_epoch=header.partition_leader_epoch,
        attributes=attributes,
        last_offset_delta=header.last_offset_delta,
        base_timestamp=new_base,
        max_timestamp=max_ts,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        records_count=kept,
    )
    return Filtered(head + body, count, kept, max_ts)


__all__ = [
    "DEFAULT_IO_BUFFER_BYTES",
    "LOG_OVERHEAD",
    "CleaningAbortedError",
    "FilterContext",
    "Filtered",
    "Throttle",
    "filter_batch",
    "open_for_cleaning",
    "read_batches",
    "records_of",
]


def index_batch(
    omap: OffsetMap,
    txns: CleanedTransactionMetadata,
    header: BatchHeader,
    batch: memoryview,
    start: int,
    end: int,
    max_message_bytes: int,
) -> tuple[int, bool]:
    """
    One batch of Kafka's C{buildOffsetMap}: its keys into C{omap} (worker thread).

    Control batches feed C{txns}; batches of aborted transactions are counted
    and skipped. Returns the records read and whether the map is full (the
    batch then stopped the map, and the latest offset is left where it was).
    """
    if header.is_control:
        txns.on_control_batch_read(header, read_end_txn_marker(batch, 0, header))
        read = 1
    elif txns.on_batch_read(header):
        read = header.records_count
    else:
        records = records_of(header, batch, max_message_bytes)
        read, full = omap.index_records(
            records, header.records_count, header.base_offset, start, end
        )
        if full:
            return read, True
    if header.last_offset >= start:
        omap.update_latest_offset(min(header.last_offset, end - 1))
    return read, False
