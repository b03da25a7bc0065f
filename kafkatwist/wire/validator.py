"""Checks on produced record batches and log offset assignment (Kafka's ``LogValidator``).

The validation rules follow Kafka 4.0's ``ProduceRequest.validateRecords``,
``UnifiedLog.analyzeAndValidateRecords`` and ``LogValidator.validateBatch``;
L{assign_offsets} is ``LogValidator.assignOffsetsNonCompressed`` without
the per-record pass, which is L{kafkatwist.wire.record_checks}.  Both are on
the Produce path and work per batch (the batch layout:
L{kafkatwist.wire.batch}).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import struct
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
from kafkatwist.wire.primitives import Buffer

#: Produce v7 is the first version allowed to carry zstd batches (KIP-110).
_ZSTD_MIN_PRODUCE_VERSION: Final = 7
#: A batch's attributes and maxTimestamp, read from its attributes on.
_ATTRIBUTES_AND_MAX_TIMESTAMP: Final = struct.Struct(">h12xq")


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

    Nothing here looks at individual records:
    L{kafkatwist.wire.record_checks.check_records} does, next.

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

    A CreateTime batch is stored with its header's C{maxTimestamp} and
    timestamp type: when they differ from its bytes (L{check_records} found
    the true largest record timestamp, as Kafka's C{setMaxTimestamp}), the
    header is re-encoded in the same way.

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
    unpack_stored = _ATTRIBUTES_AND_MAX_TIMESTAMP.unpack_from
    for pos, header in batches:
        length = header.batch_length
        batch_end = pos + length + LOG_OVERHEAD
        last = offset + header.last_offset_delta
        if log_append_time_ms is None:
            attributes, timestamp = header.attributes, header.max_timestamp
        else:
            attributes, timestamp = header.attributes | TIMESTAMP_TYPE_MASK, log_append_time_ms
        if log_append_time_ms is None and unpack_stored(mv, pos + ATTRIBUTES_OFFSET) == (
            attributes,
            timestamp,
        ):
            pieces.append(pack_prefix(offset, length, leader_epoch))
            pieces.append(mv[pos + MAGIC_OFFSET : batch_end])
        else:
            records = mv[pos + RECORDS_OFFSET : batch_end]
            pieces.append(
                encode_batch_header(
                    records,
                    base_offset=offset,
                    partition_leader_epoch=leader_epoch,
                    attributes=attributes,
                    last_offset_delta=header.last_offset_delta,
                    base_timestamp=header.base_timestamp,
                    max_timestamp=timestamp,
                    producer_id=header.producer_id,
                    producer_epoch=header.producer_epoch,
                    base_sequence=header.base_sequence,
                    records_count=header.records_count,
                )
            )
            pieces.append(records)
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
