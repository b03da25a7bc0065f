"""Offset look-ups by timestamp for ListOffsets (Kafka's ``fetchOffsetByTimestamp``).

Kafka spreads this over ``UnifiedLog.fetchOffsetByTimestamp`` (the special
timestamps), ``LocalLog`` (which segment) and ``LogSegment.findOffsetByTimestamp``
(where in it); here the three levels sit together. A search uses the
segments' largest timestamps, then a segment's time index, its offset index
and batch headers; records are looked at only inside a batch that
qualifies (never for LogAppendTime batches, whose records all carry the
batch's timestamp), by L{kafkatwist.wire.walk.find_timestamp}, which reads
each record's timestamp and offset deltas without decoding it.

A compressed batch is decompressed with the bounded L{inflate}, within the
limit produce enforces (L{decompressed_limit} of ``max.message.bytes``).
A batch whose records take more than L{INLINE_DECOMPRESSED_BYTES} (the
reactor thread's share, as for produce) is not searched here: the look-up
answers a L{RecordSearch}, and L{finish} runs it with C{run_blocking} and
goes on with the search from the next batch if the batch has no answer.

Partition-level state (the log start offset, the high watermark, the leader
epochs) is passed in by L{kafkatwist.storage.partition_log.PartitionLog}.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from attrs import frozen
from twisted.internet.defer import Deferred

from kafkatwist.clock import RunBlocking
from kafkatwist.errors import ErrorCode, KafkaError, RecordsError
from kafkatwist.storage.epochs import LeaderEpochCache
from kafkatwist.storage.index import NO_TIMESTAMP
from kafkatwist.storage.local_log import LocalLog
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.wire.batch import (
    COMPRESSION_CODEC_MASK,
    LOG_APPEND_TIME,
    RECORDS_OFFSET,
    BatchHeader,
)
from kafkatwist.wire.inflate import TooLarge, inflate
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.record_checks import INLINE_DECOMPRESSED_BYTES, decompressed_limit
from kafkatwist.wire.walk import find_timestamp

#: ListOffsets' special timestamps (Kafka's C{ListOffsetsRequest}).
LATEST_TIMESTAMP: Final = -1
EARLIEST_TIMESTAMP: Final = -2
MAX_TIMESTAMP: Final = -3
EARLIEST_LOCAL_TIMESTAMP: Final = -4

_MAX_DELTA: Final = 1 << 31


@frozen
class RecordSearch:
    """
    The records of one batch to search (in a worker thread), and how to go on.

    @ivar batch: The whole stored batch.
    @ivar exact: Look for C{target} itself (C{MAX_TIMESTAMP}), not the first
        timestamp >= C{target}.
    @ivar min_offset: Skip the records below this offset.
    @ivar bounds: The look-up this search is a step of.
    """

    batch: bytes
    header: BatchHeader
    target: int
    exact: bool
    min_offset: int
    bounds: _Bounds

    def run(self) -> OffsetAndTimestamp | None:
        """
        The first qualifying record of the batch, or C{None} (safe in a worker thread).

        @raise KafkaError: C{CORRUPT_MESSAGE} if the batch does not decompress
            within the limit or its records cannot be read.
        """
        return self._search(self._records(self.bounds.limit))

    def inline(self) -> OffsetAndTimestamp | None | RecordSearch:
        """L{run} if the records take at most L{INLINE_DECOMPRESSED_BYTES}, else C{self}."""
        if self.bounds.limit <= INLINE_DECOMPRESSED_BYTES:
            return self.run()
        if not self.header.attributes & COMPRESSION_CODEC_MASK:
            fits = len(self.batch) - RECORDS_OFFSET <= INLINE_DECOMPRESSED_BYTES
            return self.run() if fits else self
        try:
            data = self._records(INLINE_DECOMPRESSED_BYTES, inline=True)
        except TooLarge:
            return self
        return self._search(data)

    def resume(self) -> Lookup:
        """Go on with the look-up after this batch (on the reactor thread)."""
        after = self.header.last_offset + 1
        if self.exact:
            return _max_timestamp(self.bounds, after)
        return _find(self.bounds, self.target, after)

    def _records(self, limit: int, inline: bool = False) -> Buffer:
        """The (decompressed) records section: a view into C{batch} when uncompressed."""
        body = memoryview(self.batch)[RECORDS_OFFSET:]
        codec = self.header.attributes & COMPRESSION_CODEC_MASK
        if not codec:
            return body
        try:
            return inflate(codec, body, limit)
        except TooLarge:
            if inline:
                raise
            raise _corrupt(f"its records decompress to more than {limit} bytes") from None
        except RecordsError as e:
            raise _corrupt(e.message or str(e)) from None

    def _search(self, data: Buffer) -> OffsetAndTimestamp | None:
        header = self.header
        min_delta = min(max(self.min_offset - header.base_offset, 0), _MAX_DELTA)
        try:
            found = find_timestamp(
                data,
                header.records_count,
                header.base_timestamp,
                self.target,
                self.exact,
                min_delta,
            )
        except ValueError as e:
            raise _corrupt(str(e)) from None
        if found is None:
            return None
        delta, timestamp = found
        offset = header.base_offset + delta
        return OffsetAndTimestamp(offset, timestamp, header.partition_leader_epoch)


@frozen
class _Bounds:
    """What the steps of one look-up share."""

    local: LocalLog
    log_start_offset: int
    high_watermark: int
    #: The most bytes a batch's records may decompress to.
    limit: int

    def answer(self, found: OffsetAndTimestamp) -> OffsetAndTimestamp | None:
        """C{found}, unless it lies outside [log start offset, high watermark)."""
        if found.offset < self.log_start_offset or found.offset >= self.high_watermark:
            return None
        return found


#: What a look-up answers: the result, or a batch to search off the reactor.
Lookup: TypeAlias = "OffsetAndTimestamp | None | RecordSearch"


def _corrupt(why: str) -> KafkaError:
    return KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot decode stored batch: {why}")


def offset_for_timestamp(
    local: LocalLog,
    timestamp: int,
    epochs: LeaderEpochCache,
    log_start_offset: int,
    high_watermark: int,
    max_message_bytes: int,
) -> Lookup:
    """
    The first record with a timestamp >= C{timestamp} in [log start, high watermark).

    The special values work too: -2 (earliest) and -4 (earliest local) give
    the log start offset, -1 (latest) the high watermark, -3 the first
    record with the largest timestamp.

    @param max_message_bytes: The log's C{max.message.bytes}, which bounds
        what a compressed batch may decompress to (L{decompressed_limit}).
    @return: C{None} when no record qualifies; a L{RecordSearch} when a
        batch is too large to search on the reactor thread (see L{finish}).
    @raise KafkaError: C{CORRUPT_MESSAGE} if a stored batch does not decode.
    """
    if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
        epoch = epochs.epoch_for_offset(log_start_offset)
        return OffsetAndTimestamp(log_start_offset, NO_TIMESTAMP, -1 if epoch is None else epoch)
    if timestamp == LATEST_TIMESTAMP:
        latest = epochs.latest_epoch
        return OffsetAndTimestamp(high_watermark, NO_TIMESTAMP, -1 if latest is None else latest)
    bounds = _Bounds(local, log_start_offset, high_watermark, decompressed_limit(max_message_bytes))
    if timestamp == MAX_TIMESTAMP:
        return _max_timestamp(bounds, 0)
    if timestamp < 0:
        return None
    return _find(bounds, timestamp, log_start_offset)


def finish(
    lookup: Lookup, run_blocking: RunBlocking
) -> OffsetAndTimestamp | None | Deferred[OffsetAndTimestamp | None]:
    """Complete a L{Lookup}: run a L{RecordSearch} with C{run_blocking}, then go on if needed."""
    if not isinstance(lookup, RecordSearch):
        return lookup
    return run_blocking(lookup.run).addCallback(_searched, lookup, run_blocking)


def _searched(
    found: OffsetAndTimestamp | None, search: RecordSearch, run_blocking: RunBlocking
) -> OffsetAndTimestamp | None | Deferred[OffsetAndTimestamp | None]:
    if found is not None:
        return search.bounds.answer(found)
    try:
        lookup = search.resume()
    except OSError as e:  # the log was closed while the batch was searched
        raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"reading the log failed: {e}") from None
    return finish(lookup, run_blocking)


def _find(bounds: _Bounds, timestamp: int, start: int) -> Lookup:
    """
    Kafka's ``LogSegment.findOffsetByTimestamp`` over the segments from C{start} on.

    The first record with timestamp >= C{timestamp} and offset >= C{start},
    through each segment's time index, then its offset index, then batch
    headers.
    """
    for segment in bounds.local.segments_from(start):
        if segment.max_timestamp < timestamp:
            continue
        _, indexed_offset = segment.time_index.lookup(timestamp)
        _, pos = segment.offset_index.lookup(max(indexed_offset, start))
        for position, header in segment.iter_headers(pos):
            if header.max_timestamp < timestamp or header.last_offset < start:
                continue
            if header.timestamp_type == LOG_APPEND_TIME:
                found: OffsetAndTimestamp | None = OffsetAndTimestamp(
                    max(header.base_offset, start),
                    header.max_timestamp,
                    header.partition_leader_epoch,
                )
            else:
                batch = segment.read_batch(position, header.size)
                step = RecordSearch(batch, header, timestamp, False, start, bounds).inline()
                if isinstance(step, RecordSearch):
                    return step
                found = step
            if found is not None:
                return found if found.offset < bounds.high_watermark else None
    return None


def _max_timestamp(bounds: _Bounds, start: int) -> Lookup:
    """
    The first record with the largest timestamp in [log start, high watermark).

    Only the segment with the largest timestamp is searched, from its batch
    holding that timestamp, and from C{start} on.
    """
    best = None
    for segment in bounds.local.segments_from(bounds.log_start_offset):
        if segment.size and (best is None or segment.max_timestamp > best.max_timestamp):
            best = segment
    if best is None or best.max_timestamp == NO_TIMESTAMP:
        return None
    _, pos = best.offset_index.lookup(max(best.offset_of_max_timestamp, start))
    for position, header in best.iter_headers(pos):
        if header.max_timestamp != best.max_timestamp or header.last_offset < start:
            continue
        if header.timestamp_type == LOG_APPEND_TIME:
            return bounds.answer(
                OffsetAndTimestamp(
                    header.base_offset, header.max_timestamp, header.partition_leader_epoch
                )
            )
        batch = best.read_batch(position, header.size)
        step = RecordSearch(batch, header, best.max_timestamp, True, start, bounds).inline()
        if step is not None:
            return step if isinstance(step, RecordSearch) else bounds.answer(step)
    return None
