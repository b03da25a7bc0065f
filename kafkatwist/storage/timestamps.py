"""Offset look-ups by timestamp for ListOffsets (Kafka's ``fetchOffsetByTimestamp``).

Kafka spreads this over ``UnifiedLog.fetchOffsetByTimestamp`` (the special
timestamps), ``LocalLog`` (which segment) and ``LogSegment.findOffsetByTimestamp``
(where in it); here the three levels sit together. A search uses the
segments' largest timestamps, then a segment's time index, its offset index
and batch headers; records are decoded only inside the one batch that
qualifies (never for LogAppendTime batches, whose records all carry the
batch's timestamp).

Partition-level state (the log start offset, the high watermark, the leader
epochs) is passed in by L{kafkatwist.storage.partition_log.PartitionLog}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from kafkatwist.errors import ErrorCode, KafkaError, RecordsError
from kafkatwist.storage.epochs import LeaderEpochCache
from kafkatwist.storage.index import NO_TIMESTAMP
from kafkatwist.storage.local_log import LocalLog
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.storage.segment import Segment
from kafkatwist.wire.batch import LOG_APPEND_TIME
from kafkatwist.wire.record import Record, decode_batch_records

#: ListOffsets' special timestamps (Kafka's C{ListOffsetsRequest}).
LATEST_TIMESTAMP: Final = -1
EARLIEST_TIMESTAMP: Final = -2
MAX_TIMESTAMP: Final = -3
EARLIEST_LOCAL_TIMESTAMP: Final = -4


def offset_for_timestamp(
    local: LocalLog,
    timestamp: int,
    epochs: LeaderEpochCache,
    log_start_offset: int,
    high_watermark: int,
) -> OffsetAndTimestamp | None:
    """
    The first record with a timestamp >= C{timestamp} in [log start, high watermark).

    The special values work too: -2 (earliest) and -4 (earliest local) give
    the log start offset, -1 (latest) the high watermark, -3 the first
    record with the largest timestamp.

    @return: C{None} when no record qualifies.
    @raise KafkaError: C{CORRUPT_MESSAGE} if a stored batch does not decode.
    """
    if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
        epoch = epochs.epoch_for_offset(log_start_offset)
        return OffsetAndTimestamp(log_start_offset, NO_TIMESTAMP, -1 if epoch is None else epoch)
    if timestamp == LATEST_TIMESTAMP:
        latest = epochs.latest_epoch
        return OffsetAndTimestamp(high_watermark, NO_TIMESTAMP, -1 if latest is None else latest)
    segments = local.segments_from(log_start_offset)
    if timestamp == MAX_TIMESTAMP:
        return _max_timestamp(segments, log_start_offset, high_watermark)
    if timestamp < 0:
        return None
    for segment in segments:
        if segment.max_timestamp < timestamp:
            continue
        found = _find_in_segment(segment, timestamp, log_start_offset)
        if found is not None:
            return found if found.offset < high_watermark else None
    return None


def _max_timestamp(
    segments: Sequence[Segment], log_start_offset: int, high_watermark: int
) -> OffsetAndTimestamp | None:
    """
    The first record with the largest timestamp in [log start, high watermark).

    @param segments: The segments from the one holding C{log_start_offset} on.
    """
    best = None
    for segment in segments:
        if segment.size and (best is None or segment.max_timestamp > best.max_timestamp):
            best = segment
    if best is None:
        return None
    found = _max_in_segment(best)
    if found is None or found.offset < log_start_offset or found.offset >= high_watermark:
        return None
    return found


def _find_in_segment(
    segment: Segment, timestamp: int, starting_offset: int
) -> OffsetAndTimestamp | None:
    """
    Kafka's ``LogSegment.findOffsetByTimestamp``.

    The first record with timestamp >= C{timestamp} and offset >=
    C{starting_offset}, through the time index, then the offset index, then
    batch headers.
    """
    _, indexed_offset = segment.time_index.lookup(timestamp)
    _, pos = segment.offset_index.lookup(max(indexed_offset, starting_offset))
    for position, header in segment.iter_headers(pos):
        if header.max_timestamp < timestamp or header.last_offset < starting_offset:
            continue
        epoch = header.partition_leader_epoch
        if header.timestamp_type == LOG_APPEND_TIME:
            return OffsetAndTimestamp(
                max(header.base_offset, starting_offset), header.max_timestamp, epoch
            )
        for record in _decode(segment.read_batch(position, header.size)):
            if record.timestamp >= timestamp and record.offset >= starting_offset:
                return OffsetAndTimestamp(record.offset, record.timestamp, epoch)
    return None


def _max_in_segment(segment: Segment) -> OffsetAndTimestamp | None:
    """The first record carrying C{segment}'s largest timestamp (``MAX_TIMESTAMP``)."""
    if segment.max_timestamp == NO_TIMESTAMP:
        return None
    _, pos = segment.offset_index.lookup(segment.offset_of_max_timestamp)
    for position, header in segment.iter_headers(pos):
        if header.max_timestamp != segment.max_timestamp:
            continue
        epoch = header.partition_leader_epoch
        if header.timestamp_type == LOG_APPEND_TIME:
            return OffsetAndTimestamp(header.base_offset, header.max_timestamp, epoch)
        for record in _decode(segment.read_batch(position, header.size)):
            if record.timestamp == segment.max_timestamp:
                return OffsetAndTimestamp(record.offset, record.timestamp, epoch)
    return None


def _decode(batch: bytes) -> list[Record]:
    try:
        return list(decode_batch_records(batch, check_crc=False))
    except RecordsError as e:
        raise KafkaError(
            ErrorCode.CORRUPT_MESSAGE, f"cannot decode stored batch: {e.message}"
        ) from None
