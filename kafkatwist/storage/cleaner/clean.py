"""One cleaning pass over one log (Kafka's ``Cleaner.clean`` / ``doClean``).

L{clean_log} is the entry point the cleaner manager calls:

1. the cleanable range (L{cleanable_offsets}, Kafka's
   C{LogCleanerManager.cleanableOffsets}): from the first dirty offset to the
   first uncleanable one, the lowest of the last stable offset, the active
   segment's base offset and the base of the first segment whose largest
   timestamp is within ``min.compaction.lag.ms`` of now;
2. the offset map over that range (C{buildOffsetMap}), in a worker thread:
   aborted transactional batches are skipped; when the map is full the pass
   ends at the last offset mapped;
3. every segment below that end (the already clean ones too) is cleaned, in
   groups that fit ``segment.bytes`` and ``segment.index.bytes`` and 2^31
   offsets (C{groupSegmentsBySize}), each group into one ``.cleaned``
   segment in a worker thread (L{kafkatwist.storage.cleaner.batches}),
   then swapped in on the reactor thread
   (L{kafkatwist.storage.partition_log.PartitionLog.replace_segments}).

The new cleaner checkpoint is C{CleanStats.first_dirty_offset_after}. A pass
whose segments the log lost meanwhile (retention, DeleteRecords) stops with
C{aborted=True} and the checkpoint unchanged; a log closed, deleted or gone
offline fails the Deferred with C{KAFKA_STORAGE_ERROR}. Either way the
unswapped ``.cleaned`` files are removed; a crash leaves nothing that the
loader's swap recovery does not finish or roll back.

One difference from Kafka: the map takes no record at or past the first
uncleanable offset (Kafka maps the whole last dirty segment, so a record of a
still-open transaction past the LSO could shadow an earlier committed one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Final

from attrs import define, frozen
from twisted.internet.defer import Deferred, ensureDeferred

from kafkatwist.clock import RunBlocking
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.cleaner.batches import (
    DEFAULT_IO_BUFFER_BYTES,
    FilterContext,
    Throttle,
    filter_batch,
    index_batch,
    open_for_cleaning,
    read_batches,
)
from kafkatwist.storage.cleaner.offset_map import (
    DEFAULT_KERNELS,
    DEFAULT_LOAD_FACTOR,
    Kernels,
    OffsetMap,
)
from kafkatwist.storage.cleaner.txn import (
    CleanedTransactionMetadata,
    last_records_of_active_producers,
)
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.results import SegmentInfo
from kafkatwist.storage.segment import Segment
from kafkatwist.storage.swap import CleanedSegment, CleaningAbortedError, check_still_held
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.wire.primitives import Buffer

#: Kafka's ``delete.retention.ms`` default (one day).
DEFAULT_DELETE_RETENTION_MS: Final = 86_400_000
_INT32_MAX: Final = 2**31 - 1


@frozen
class CleanStats:
    """
    What one pass did (Kafka's C{CleanerStats}, and the new checkpoint).

    @ivar bytes_read: The size of the segments cleaned (before).
    @ivar bytes_written: The size of the segments that replaced them (after).
    @ivar map_bytes_read: The bytes read to build the offset map.
    @ivar first_dirty_offset_after: The new ``cleaner-offset-checkpoint`` entry.
    @ivar map_full: Whether the offset map filled up before the first uncleanable offset.
    @ivar aborted: Whether the log lost segments meanwhile and the pass stopped.
    """

    partition: str
    bytes_read: int
    bytes_written: int
    records_read: int
    records_kept: int
    first_dirty_offset_after: int
    seconds: float
    aborted: bool
    map_bytes_read: int = 0
    map_records_read: int = 0
    map_full: bool = False
    segments_cleaned: int = 0
    first_uncleanable_offset: int = -1


def cleanable_segments(log: PartitionLog) -> list[SegmentInfo]:
    """
    The log's inactive segments, oldest first, for the manager's dirty ratio and lag bounds.

    Each with its base offset, the next segment's base, its size and its
    largest timestamp (Kafka's C{largestTimestamp}: the file's mtime when it
    holds no timestamp, so this may C{stat} the file).
    """
    segments = log.segments
    return [
        SegmentInfo(s.base_offset, segments[i + 1].base_offset, s.size, s.largest_timestamp())
        for i, s in enumerate(segments[:-1])
    ]


def cleanable_offsets(
    log: PartitionLog, first_dirty_offset: int, now_ms: int, min_compaction_lag_ms: int = 0
) -> tuple[int, int]:
    """
    Kafka's C{cleanableOffsets}: C{(first dirty, first uncleanable)} offsets.

    A checkpoint below the log start or past the log end restarts at the log start.
    """
    start = log.log_start_offset
    if first_dirty_offset < start or first_dirty_offset > log.log_end_offset:
        first_dirty_offset = start
    segments = log.segments
    bounds = [log.last_stable_offset, segments[-1].base_offset]
    lag = max(min_compaction_lag_ms, 0)
    if lag > 0:
        for i, segment in enumerate(segments[:-1]):
            if segments[i + 1].base_offset > first_dirty_offset:
                if segment.largest_timestamp() > now_ms - lag:
                    bounds.append(segment.base_offset)
                    break
    return first_dirty_offset, max(first_dirty_offset, min(bounds))


def group_segments(
    segments: Sequence[Segment], max_size: int, max_index_size: int, first_uncleanable: int
) -> list[list[Segment]]:
    """Kafka's C{groupSegmentsBySize}: consecutive segments that fit one segment's limits."""
    groups: list[list[Segment]] = []
    i = 0
    while i < len(segments):
        group = [segments[i]]
        size, oi, ti = _sizes(segments[i])
        i += 1
        while i < len(segments):
            s = segments[i]
            s_size, s_oi, s_ti = _sizes(s)
            last = (
                segments[i + 1].base_offset - 1 if i + 1 < len(segments) else first_uncleanable - 1
            )
            if not (
                size + s_size <= max_size
                and oi + s_oi <= max_index_size
                and ti + s_ti <= max_index_size
                and (s_size == 0 or last - group[0].base_offset <= _INT32_MAX)
            ):
                break
            group.append(s)
            size, oi, ti = size + s_size, oi + s_oi, ti + s_ti
            i += 1
        groups.append(group)
    return groups


def _sizes(segment: Segment) -> tuple[int, int, int]:
    return segment.size, segment.offset_index.entries * 8, segment.time_index.entries * 12


@frozen
class _Dirty:
    """A segment to map: its file, size, where to start, and the next segment's base."""

    log_path: str
    size: int
    position: int
    next_base: int


@define
class _MapResult:
    records_read: int = 0
    bytes_read: int = 0
    full: bool = False


def _build_offset_map(
    omap: OffsetMap,
    dirty: Sequence[_Dirty],
    start: int,
    end: int,
    txns: CleanedTransactionMetadata,
    throttle: Throttle | None,
    buffer_bytes: int,
    max_message_bytes: int,
) -> _MapResult:
    """Kafka's C{buildOffsetMap} (worker thread)."""
    result = _MapResult()
    for seg in dirty:
        fd = open_for_cleaning(seg.log_path)
        try:
            for header, batch in read_batches(fd, seg.size, seg.position, buffer_bytes, throttle):
                if header.base_offset >= end:
                    break
                result.bytes_read += header.size
                read, full = index_batch(omap, txns, header, batch, start, end, max_message_bytes)
                result.records_read += read
                if full:
                    result.full = True
                    return result
        finally:
            os.close(fd)
        omap.update_latest_offset(min(seg.next_base, end) - 1)
    return result


@frozen
class _Source:
    """An old segment of a group: its file, size and the aborted transactions it overlaps."""

    log_path: str
    size: int
    aborted: list[AbortedTxn]


def _clean_group(
    create: Callable[[], CleanedSegment],
    sources: Sequence[_Source],
    ctx: FilterContext,
    throttle: Throttle | None,
    buffer_bytes: int,
) -> tuple[CleanedSegment, int, int]:
    """Clean a group into a new segment (worker thread); return it, records read and kept."""
    read = kept = 0
    cleaned = create()
    try:
        for source in sources:
            ctx.transactions.add_aborted_transactions(source.aborted)
            fd = open_for_cleaning(source.log_path)
            try:
                pending: list[Buffer] = []
                batches: list[tuple[int, int, int]] = []
                pending_bytes = 0
                for header, batch in read_batches(fd, source.size, 0, buffer_bytes, throttle):
                    out = filter_batch(header, batch, ctx)
                    read += out.records_read
                    kept += out.records_kept
                    size = len(out.data)
                    if size:
                        pending.append(out.data)
                        batches.append((header.last_offset, out.max_timestamp, size))
                        pending_bytes += size
                    if pending_bytes >= buffer_bytes:
                        _flush(cleaned, pending, batches, throttle)
                        pending_bytes = 0
                _flush(cleaned, pending, batches, throttle)
            finally:
                os.close(fd)
        try:
            mtime = os.stat(sources[-1].log_path).st_mtime
        except FileNotFoundError:
            raise CleaningAbortedError(f"{sources[-1].log_path} was deleted") from None
        cleaned.finish(ctx.transactions.take_cleaned_index(), mtime)
    except BaseException:
        cleaned.discard()
        raise
    return cleaned, read, kept


def _flush(
    cleaned: CleanedSegment,
    pending: list[Buffer],
    batches: list[tuple[int, int, int]],
    throttle: Throttle | None,
) -> None:
    if pending:
        data = b"".join(pending)
        cleaned.append(data, batches)
        if throttle is not None:
            throttle(len(data))
    pending.clear()
    batches.clear()


def clean_log(
    log: PartitionLog,
    *,
    first_dirty_offset: int,
    now_ms: int,
    offset_map_bytes: int,
    run_blocking: RunBlocking,
    throttle: Callable[[int], None] | None = None,
    delete_retention_ms: int = DEFAULT_DELETE_RETENTION_MS,
    min_compaction_lag_ms: int = 0,
    load_factor: float = DEFAULT_LOAD_FACTOR,
    io_buffer_bytes: int = DEFAULT_IO_BUFFER_BYTES,
    kernels: Kernels = DEFAULT_KERNELS,
) -> Deferred[CleanStats]:
    """
    Clean C{log} once (see the module docstring); call on the reactor thread.

    @param first_dirty_offset: The log's ``cleaner-offset-checkpoint`` entry
        (its log start offset if it has none).
    @param now_ms: The time of the pass (delete horizons and the compaction lag).
    @param offset_map_bytes: The offset map's budget (the dedupe buffer's share).
    @param throttle: Told, in the worker thread, of every chunk of bytes read
        or written; it may block to throttle the I/O.
    @param delete_retention_ms: The topic's ``delete.retention.ms``.
    @param min_compaction_lag_ms: The topic's ``min.compaction.lag.ms``.
    @param load_factor: ``log.cleaner.io.buffer.load.factor``.
    @param io_buffer_bytes: The read (and write) chunk size, ``log.cleaner.io.buffer.size``.
    @param kernels: The offset map's kernels (tests pass the pure-Python ones).
    """
    return ensureDeferred(
        _clean(
            log,
            first_dirty_offset,
            now_ms,
            offset_map_bytes,
            run_blocking,
            throttle,
            delete_retention_ms,
            min_compaction_lag_ms,
            load_factor,
            io_buffer_bytes,
            kernels,
        )
    )


def _check_open(log: PartitionLog) -> None:
    if log.is_offline or log.is_closed:
        raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{log.name} was closed or went offline")


async def _clean(
    log: PartitionLog,
    first_dirty_offset: int,
    now_ms: int,
    offset_map_bytes: int,
    run_blocking: RunBlocking,
    throttle: Throttle | None,
    delete_retention_ms: int,
    min_lag_ms: int,
    load_factor: float,
    buffer_bytes: int,
    kernels: Kernels,
) -> CleanStats:
    began = time.monotonic()
    _check_open(log)
    config = log.config
    first_dirty, uncleanable = cleanable_offsets(log, first_dirty_offset, now_ms, min_lag_ms)

    def stats(aborted: bool, after: int, segments: int = 0) -> CleanStats:
        return CleanStats(
            log.name, bytes_read, written, records_read, records_kept, after,
            time.monotonic() - began, aborted, mapped.bytes_read, mapped.records_read,
            mapped.full, segments, uncleanable,
        )  # fmt: skip

    bytes_read = written = records_read = records_kept = 0
    mapped = _MapResult()
    if uncleanable <= first_dirty:
        return stats(False, first_dirty)
    segments = log.segments
    dirty: list[_Dirty] = []
    for i, segment in enumerate(segments[:-1]):
        next_base = segments[i + 1].base_offset
        if segment.base_offset < uncleanable and next_base > first_dirty:
            position = segment.offset_index.lookup(first_dirty)[1] if not dirty else 0
            dirty.append(_Dirty(segment.log_path, segment.size, position, next_base))
    omap = OffsetMap(offset_map_bytes, load_factor, kernels)
    map_txns = CleanedTransactionMetadata()
    map_txns.add_aborted_transactions(log.aborted_transactions(first_dirty, uncleanable))
    build = partial(
        _build_offset_map, omap, dirty, first_dirty, uncleanable, map_txns, throttle,
        buffer_bytes, config.max_message_bytes,
    )  # fmt: skip
    try:
        mapped = await run_blocking(build)
    except CleaningAbortedError:
        _check_open(log)
        return stats(True, first_dirty_offset)
    end = omap.latest_offset + 1
    _check_open(log)
    ctx = FilterContext(
        omap, CleanedTransactionMetadata(), last_records_of_active_producers(log.producer_state),
        uncleanable, now_ms, delete_retention_ms, config.max_message_bytes,
    )  # fmt: skip
    to_clean = [s for s in log.segments[:-1] if s.base_offset < end]
    groups = group_segments(to_clean, config.segment_bytes, config.segment_index_bytes, uncleanable)
    cleaned_count = 0
    for group in groups:
        _check_open(log)
        try:
            check_still_held(log.segments, group)
        except CleaningAbortedError:
            return stats(True, first_dirty_offset)
        held = log.segments
        sources = []
        for segment in group:
            at = next(i for i, s in enumerate(held) if s is segment)
            upper = held[at + 1].base_offset
            aborted = log.aborted_transactions(segment.base_offset, upper)
            sources.append(_Source(segment.log_path, segment.size, aborted))
        create = partial(CleanedSegment.create, log.directory, group[0].base_offset, config, now_ms)
        job = partial(_clean_group, create, sources, ctx, throttle, buffer_bytes)
        try:
            cleaned, read, kept = await run_blocking(job)
        except CleaningAbortedError:
            _check_open(log)
            return stats(True, first_dirty_offset)
        try:
            log.replace_segments(cleaned, group)
        except CleaningAbortedError:
            await run_blocking(cleaned.discard)
            _check_open(log)
            return stats(True, first_dirty_offset)
        except BaseException:
            await run_blocking(cleaned.discard)
            raise
        bytes_read += sum(s.size for s in sources)
        written += cleaned.bytes_written
        records_read += read
        records_kept += kept
        cleaned_count += len(group)
    return stats(False, end, cleaned_count)
