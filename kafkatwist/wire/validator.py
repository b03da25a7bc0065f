"""Checks on produced record batches and log offset assignment (Kafka's ``LogValidator``).

The validation rules follow Kafka 4.0's ``ProduceRequest.validateRecords``,
``UnifiedLog.analyzeAndValidateRecords`` and ``LogValidator.validateBatch``;
L{assign_offsets} is ``LogValidator.assignOffsetsNonCompressed`` without
the per-record pass.  Both are on the Produce path and work per batch
(the batch layout: L{kafkatwist.wire.batch}).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from attrs import frozen

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.batch import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_CODEC_MASK,
    CONTROL_FLAG_MASK,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    NO_PRODUCER_ID,
    NO_TIMESTAMP,
    PREFIX,
    RECORDS_OFFSET,
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    byte_view,
    encode_batch_header,
    read_batch_header,
)
from kafkatwist.wire.compression import MAX_CODEC, ZSTD
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.inflate import TooLarge, inflate
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.walk import MAX_RECORD_ERRORS, walk_records

#: Produce v7 is the first version allowed to carry zstd batches (KIP-110).
_ZSTD_MIN_PRODUCE_VERSION: Final = 7


def validate_produce_records(
    buf: Buffer,
    *,
    max_batch_bytes: int,
    allow_multiple_batches: bool = False,
    api_version: int | None = None,
) -> list[tuple[int, BatchHeader]]:
    """
    Check the C{records} of one partition of a Produce request, per batch only.

    The checks, in Kafka 4.0's order, and the codes they raise:

      - no bytes at all: C{INVALID_RECORD} (Kafka: "must have at least one
        record batch");
      - a length below the minimum, a magic outside 0..2, or bytes that end
        inside a batch: C{CORRUPT_MESSAGE} (Kafka instead silently drops a
        partial trailing batch, and answers C{INVALID_RECORD} when nothing
        but a partial batch was sent: we refuse rather than drop bytes);
      - magic 0 or 1: C{INVALID_RECORD} (Kafka 4 accepts Produce v3+ only,
        which must carry magic 2);
      - more than one batch, unless C{allow_multiple_batches}:
        C{INVALID_RECORD} (Produce v3+ allows exactly one per partition);
      - zstd in a Produce request older than v7: C{UNSUPPORTED_COMPRESSION_TYPE};
      - a base offset other than 0: C{INVALID_RECORD};
      - a batch larger than C{max_batch_bytes} (size including
        C{LOG_OVERHEAD}, compared like C{max.message.bytes}):
        C{MESSAGE_TOO_LARGE};
      - a CRC mismatch: C{CORRUPT_MESSAGE};
      - a codec id above 4: C{UNSUPPORTED_COMPRESSION_TYPE};
      - C{lastOffsetDelta < 0}, C{recordsCount <= 0}, or
        C{recordsCount != lastOffsetDelta + 1}: C{INVALID_RECORD};
      - a control batch: C{INVALID_RECORD} (clients may not write them);
      - a producer id without a base sequence: C{INVALID_RECORD}.

    Nothing here looks at individual records: L{check_records} does, next.

    @param api_version: The Produce request version, for the zstd rule.
    @return: The C{(position, header)} of every batch, in order.
    @raise RecordsError: On the first violation found.
    """
    mv = byte_view(buf)
    end = len(mv)
    if end == 0:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            "Produce requests must have at least one record batch per partition",
        )
    batches: list[tuple[int, BatchHeader]] = []
    pos = 0
    while pos < end:
        header = read_batch_header(mv, pos, end)
        if header is None:
            raise RecordsError(
                ErrorCode.CORRUPT_MESSAGE,
                f"records end inside a record batch at position {pos} ({end - pos} bytes left)",
            )
        batches.append((pos, header))
        pos += header.batch_length + LOG_OVERHEAD
    if len(batches) > 1 and not allow_multiple_batches:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            "Produce requests are only allowed to contain exactly one record batch per partition",
        )
    for pos, header in batches:
        _validate_client_batch(mv, pos, header, max_batch_bytes, api_version)
    return batches


def _validate_client_batch(
    mv: memoryview,
    pos: int,
    header: BatchHeader,
    max_batch_bytes: int,
    api_version: int | None,
) -> None:
    codec = header.attributes & COMPRESSION_CODEC_MASK
    if codec == ZSTD and api_version is not None and api_version < _ZSTD_MIN_PRODUCE_VERSION:
        raise RecordsError(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            f"Produce requests with version {api_version} are not allowed to "
            "use ZStandard compression",
        )
    if header.base_offset != 0:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"the baseOffset of the record batch should be 0, but it is {header.base_offset}",
        )
    size = header.batch_length + LOG_OVERHEAD
    if size > max_batch_bytes:
        raise RecordsError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"the record batch size is {size} bytes which exceeds the maximum "
            f"configured value of {max_batch_bytes}",
        )
    actual = crc32c(mv[pos + ATTRIBUTES_OFFSET : pos + size])
    if actual != header.crc:
        raise RecordsError(
            ErrorCode.CORRUPT_MESSAGE,
            f"record is corrupt (stored crc = {header.crc}, computed crc = {actual})",
        )
    if codec > MAX_CODEC:
        raise RecordsError(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            f"unknown compression type id {codec}",
        )
    delta = header.last_offset_delta
    count = header.records_count
    if delta < 0:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"batch has an invalid offset range: lastOffsetDelta {delta}",
        )
    if count <= 0:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"invalid reported count for record batch: {count}",
        )
    if count != delta + 1:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"inconsistent batch offset range [0, {delta}] and count of records {count}",
        )
    if header.attributes & CONTROL_FLAG_MASK:
        raise RecordsError(
            ErrorCode.INVALID_RECORD, "clients are not allowed to write control records"
        )
    if header.producer_id > NO_PRODUCER_ID and header.base_sequence < 0:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"invalid sequence number {header.base_sequence} in record batch with "
            f"producerId {header.producer_id}",
        )


#: A batch may decompress to at most this many times C{max.message.bytes}.
DECOMPRESSED_RATIO: Final = 32
#: ... and to at least this many bytes whatever C{max.message.bytes} is.
MIN_DECOMPRESSED_LIMIT: Final = 1 << 20
#: Decompressed bytes a batch may take on the reactor thread: one that
#: needs more is checked again in a worker thread (L{check_records}).
INLINE_DECOMPRESSED_BYTES: Final = 1 << 20


class RecordErrors(RecordsError):
    """
    C{INVALID_RECORD} for individual records: KIP-467's C{record_errors}.

    @ivar record_errors: C{(batch_index, message)} of each refused record
        (at most L{MAX_RECORD_ERRORS}).
    """

    def __init__(self, record_errors: list[tuple[int, str]], total: int) -> None:
        shown = ", ".join(
            f"RecordError(batchIndex={i}, message='{m}')" for i, m in record_errors[:3]
        )
        super().__init__(
            ErrorCode.INVALID_RECORD,
            f"One or more records have been rejected due to {total} record errors in total, "
            f"and only showing the first three errors at most: [{shown}]",
        )
        self.record_errors = record_errors


def decompressed_limit(max_message_bytes: int) -> int:
    """
    The most bytes the records of one compressed batch may decompress to.

    C{max(32 * max.message.bytes, 1 MiB)} (32 MiB by default): a batch is at
    most C{max.message.bytes} on the wire, so this allows a compression
    ratio of 32 for the largest batches and more for smaller ones, while
    bounding the memory and CPU time that validating one batch can take.
    """
    return max(DECOMPRESSED_RATIO * max_message_bytes, MIN_DECOMPRESSED_LIMIT)


def check_records(
    buf: Buffer,
    batches: Sequence[tuple[int, BatchHeader]],
    *,
    max_message_bytes: int,
    keys_required: bool = False,
    partition: str = "",
    inline: bool = False,
) -> list[int]:
    """
    Walk the records of validated batches (Kafka's C{LogValidator} record pass).

    Compressed batches are decompressed with L{inflate}, bounded by
    L{decompressed_limit}; the records are checked by L{walk_records}.

    @param batches: From L{validate_produce_records} on C{buf}.
    @param keys_required: Whether every record needs a key (a compacted
        topic): keyless ones are refused with their C{record_errors}.
    @param partition: The topic-partition, for the keyless-record message.
    @param inline: Decompress no more than L{INLINE_DECOMPRESSED_BYTES} per
        batch (the reactor thread's share).
    @return: The indexes (in C{batches}) of the batches that need more than
        that: check them again with C{inline=False} in a worker thread.
    @raise RecordsError: C{INVALID_RECORD} for malformed records, a count
        that disagrees with them, or records decompressing past the limit;
        C{CORRUPT_MESSAGE} for data that does not decompress.
    """
    mv = byte_view(buf)
    later: list[int] = []
    for index, (pos, header) in enumerate(batches):
        body = mv[pos + RECORDS_OFFSET : pos + header.batch_length + LOG_OVERHEAD]
        codec = header.attributes & COMPRESSION_CODEC_MASK
        data: Buffer = body
        if codec:
            limit = decompressed_limit(max_message_bytes)
            if inline and limit > INLINE_DECOMPRESSED_BYTES:
                try:
                    data = inflate(codec, body, INLINE_DECOMPRESSED_BYTES)
                except TooLarge:
                    later.append(index)
                    continue
            else:
                data = inflate(codec, body, limit)
        verdict = walk_records(data, header.records_count, keys_required, MAX_RECORD_ERRORS)
        if isinstance(verdict, str):
            raise RecordsError(ErrorCode.INVALID_RECORD, verdict)
        if verdict:
            message = (
                f"Compacted topic cannot accept message without key in topic partition {partition}."
            )
            total = len(verdict)
            raise RecordErrors([(i, message) for i in verdict], total)
    return later


@frozen
class AssignedOffsets:
    """
    The result of L{assign_offsets}: what to write, and what was assigned.

    @ivar pieces: Bytes to write to the log, in order, whose concatenation is
        the rewritten batches.  The large pieces are C{memoryview}s into the
        request buffer, which must stay alive (and unmodified) until written.
    @ivar max_timestamp: The largest batch C{maxTimestamp} written (C{-1}
        if none).
    @ivar offset_of_max_timestamp: The last offset of the batch holding
        C{max_timestamp} (Kafka's "shallow" offset, as used by the time
        index), or C{-1}.
    @ivar log_append_time_ms: The LogAppendTime stamped, or C{-1} for
        CreateTime (the Produce response's C{log_append_time_ms}).
    """

    pieces: list[bytes | memoryview]
    base_offset: int
    last_offset: int
    next_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    size: int
    log_append_time_ms: int


def assign_offsets(
    buf: Buffer,
    batches: Sequence[tuple[int, BatchHeader]],
    base_offset: int,
    *,
    leader_epoch: int,
    log_append_time_ms: int | None = None,
) -> AssignedOffsets:
    """
    Give validated batches their log offsets without copying or re-encoding them.

    Each batch becomes a new 16-byte prefix (base offset, batch length,
    partition leader epoch: fields outside the CRC) and a C{memoryview} of
    the rest of the batch.  With C{log_append_time_ms}, as Kafka's
    C{DefaultRecordBatch.setMaxTimestamp} does, the timestamp-type bit is
    set, C{maxTimestamp} becomes the append time (C{baseTimestamp} is left
    alone) and the CRC is recomputed; the new 61-byte header is then a
    separate piece and the body is still not copied, because the CRC is
    continued over the body from the new header's bytes.

    Unlike Kafka, which recomputes a CreateTime batch's C{maxTimestamp} from
    its records, the header's C{maxTimestamp} is trusted.

    @param batches: From L{validate_produce_records} on the same C{buf}.
    @param base_offset: The log end offset: the first offset to assign.
    @param leader_epoch: The partition leader epoch to stamp.
    """
    mv = byte_view(buf)
    pieces: list[bytes | memoryview] = []
    offset = base_offset
    max_timestamp = NO_TIMESTAMP
    offset_of_max = -1
    size = 0
    pack_prefix = PREFIX.pack
    for pos, header in batches:
        length = header.batch_length
        batch_end = pos + length + LOG_OVERHEAD
        last = offset + header.last_offset_delta
        if log_append_time_ms is None:
            pieces.append(pack_prefix(offset, length, leader_epoch))
            pieces.append(mv[pos + MAGIC_OFFSET : batch_end])
            timestamp = header.max_timestamp
        else:
            records = mv[pos + RECORDS_OFFSET : batch_end]
            pieces.append(
                encode_batch_header(
                    records,
                    base_offset=offset,
                    partition_leader_epoch=leader_epoch,
                    attributes=header.attributes | TIMESTAMP_TYPE_MASK,
                    last_offset_delta=header.last_offset_delta,
                    base_timestamp=header.base_timestamp,
                    max_timestamp=log_append_time_ms,
                    producer_id=header.producer_id,
                    producer_epoch=header.producer_epoch,
                    base_sequence=header.base_sequence,
                    records_count=header.records_count,
                )
            )
            pieces.append(records)
            timestamp = log_append_time_ms
        if timestamp > max_timestamp:
            max_timestamp = timestamp
            offset_of_max = last
        size += length + LOG_OVERHEAD
        offset = last + 1
    if log_append_time_ms is not None and batches:
        offset_of_max = offset - 1
    return AssignedOffsets(
        pieces=pieces,
        base_offset=base_offset,
        last_offset=offset - 1,
        next_offset=offset,
        max_timestamp=max_timestamp,
        offset_of_max_timestamp=offset_of_max,
        size=size,
        log_append_time_ms=NO_TIMESTAMP if log_append_time_ms is None else log_append_time_ms,
    )
