"""The record pass of produce validation (Kafka's ``LogValidator.validateRecord``).

L{check_records} walks the records of batches that
L{kafkatwist.wire.validator.validate_produce_records} accepted, as Kafka
4.0's C{LogValidator} does record by record: compressed batches are
decompressed with a bound (L{decompressed_limit}), the records are walked in
C (L{kafkatwist.wire.walk}), keys are required on compacted topics, and
CreateTime timestamps must lie within C{message.timestamp.before.max.ms} and
C{message.timestamp.after.max.ms} of the broker's time (KIP-937); refused
records are reported as Kafka's C{processRecordErrors} does (KIP-467). Each
CreateTime batch's C{maxTimestamp} becomes its largest record timestamp.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs
from attrs import frozen

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.batch import (
    COMPRESSION_CODEC_MASK,
    LOG_OVERHEAD,
    RECORDS_OFFSET,
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    byte_view,
)
from kafkatwist.wire.inflate import TooLarge, inflate
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.walk import (
    KEY_ERROR,
    MAX_RECORD_ERRORS,
    TIMESTAMP_RANGE_ERROR,
    RecordError,
    walk_records,
)

#: Java's C{Long.MAX_VALUE}: no bound on a timestamp's distance from now.
_LONG_MAX: Final = (1 << 63) - 1


#: A batch may decompress to at most this many times C{max.message.bytes}.
DECOMPRESSED_RATIO: Final = 32
#: ... and to at least this many bytes whatever C{max.message.bytes} is.
MIN_DECOMPRESSED_LIMIT: Final = 1 << 20
#: Decompressed bytes a batch may take on the reactor thread: one that
#: needs more is checked again in a worker thread (L{check_records}).
INLINE_DECOMPRESSED_BYTES: Final = 1 << 20


class RecordErrors(RecordsError):
    """
    Records refused one by one: KIP-467's C{record_errors}, as Kafka's C{processRecordErrors}.

    C{INVALID_TIMESTAMP} when a record's timestamp was refused, with Kafka's
    fixed message; else C{INVALID_RECORD}, whose message shows the first
    three errors.

    @ivar record_errors: C{(batch_index, message)} of each refused record
        (at most L{MAX_RECORD_ERRORS}).
    """

    def __init__(
        self,
        record_errors: list[tuple[int, str]],
        total: int,
        code: ErrorCode = ErrorCode.INVALID_RECORD,
    ) -> None:
        if code == ErrorCode.INVALID_TIMESTAMP:
            message = "One or more records have been rejected due to invalid timestamp"
        else:
            message = (
                f"One or more records have been rejected due to {total} record errors in total, "
                f"and only showing the first three errors at most: [{_shown(record_errors[:3])}]"
            )
        super().__init__(code, message)
        self.record_errors = record_errors

    def __str__(self) -> str:
        if self.code == ErrorCode.INVALID_TIMESTAMP:
            return f"{super().__str__()}, the first: [{_shown(self.record_errors[:1])}]"
        return super().__str__()


def _shown(record_errors: list[tuple[int, str]]) -> str:
    """Record errors as Kafka's C{RecordError.toString} shows them."""
    return ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in record_errors)


@frozen
class TimestampCheck:
    """
    How an append checks record timestamps (Kafka's C{validateTimestamp}).

    The default checks nothing but still gives CreateTime batches their
    true C{maxTimestamp}.

    @ivar log_append_time: The topic's C{message.timestamp.type} is
        LogAppendTime: no range check (the broker stamps the batches).
    @ivar now_ms: The broker's time.
    @ivar before_max_ms: C{message.timestamp.before.max.ms}.
    @ivar after_max_ms: C{message.timestamp.after.max.ms}.
    """

    log_append_time: bool = False
    now_ms: int = 0
    before_max_ms: int = _LONG_MAX
    after_max_ms: int = _LONG_MAX


@frozen
class CheckedRecords:
    """
    What L{check_records} found.

    @ivar batches: The batches, each CreateTime batch checked here with its
        header's C{maxTimestamp} set to its largest record timestamp and its
        LogAppendTime flag cleared (Kafka's C{setMaxTimestamp}), which
        L{assign_offsets} writes; the others as given.
    @ivar later: The indexes of the batches left for a worker thread.
    """

    batches: list[tuple[int, BatchHeader]]
    later: list[int]


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
    timestamps: TimestampCheck = TimestampCheck(),
) -> CheckedRecords:
    """
    Walk the records of validated batches (Kafka's C{LogValidator} record pass).

    Compressed batches are decompressed with L{inflate}, bounded by
    L{decompressed_limit}; the records are checked by L{walk_records}, in C,
    then each record's key and timestamp as Kafka's C{validateRecord} does.

    @param batches: From L{validate_produce_records} on C{buf}.
    @param keys_required: Whether every record needs a key (a compacted
        topic): keyless ones are refused with their C{record_errors}.
    @param partition: The topic-partition, for the keyless-record message.
    @param inline: Decompress no more than L{INLINE_DECOMPRESSED_BYTES} per
        batch (the reactor thread's share).
    @param timestamps: How timestamps are checked.
    @return: The batches with their true C{maxTimestamp}, and the indexes
        (in C{batches}) of the batches that need more than the reactor
        thread's share: check them again with C{inline=False} in a worker
        thread.
    @raise RecordsError: C{INVALID_RECORD} for malformed records, a count
        that disagrees with them, or records decompressing past the limit;
        C{CORRUPT_MESSAGE} for data that does not decompress.
    @raise RecordErrors: C{INVALID_TIMESTAMP} for a record timestamp out of
        range (or a LogAppendTime flag set by the producer),
        C{INVALID_RECORD} for keyless records on a compacted topic.
    """
    mv = byte_view(buf)
    later: list[int] = []
    checked: list[tuple[int, BatchHeader]] = []
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
                    checked.append((pos, header))
                    continue
            else:
                data = inflate(codec, body, limit)
        log_append_batch = bool(header.attributes & TIMESTAMP_TYPE_MASK)
        verdict = walk_records(
            data,
            header.records_count,
            keys_required,
            MAX_RECORD_ERRORS,
            header.base_timestamp,
            header.max_timestamp,
            log_append_batch,
            not timestamps.log_append_time,
            timestamps.now_ms,
            timestamps.before_max_ms,
            timestamps.after_max_ms,
        )
        if isinstance(verdict, str):
            raise RecordsError(ErrorCode.INVALID_RECORD, verdict)
        max_timestamp, key_errors, timestamp_errors, errors = verdict
        if key_errors or timestamp_errors:
            code = ErrorCode.INVALID_TIMESTAMP if timestamp_errors else ErrorCode.INVALID_RECORD
            messages = [(e[0], _record_error_message(e, partition, timestamps)) for e in errors]
            raise RecordErrors(messages, key_errors + timestamp_errors, code)
        if not timestamps.log_append_time and (
            log_append_batch or max_timestamp != header.max_timestamp
        ):
            header = attrs.evolve(
                header,
                attributes=header.attributes & ~TIMESTAMP_TYPE_MASK,
                max_timestamp=max_timestamp,
            )
        checked.append((pos, header))
    return CheckedRecords(checked, later)


def _wrap(value: int) -> int:
    """C{value} wrapped around 64 bits, as Java's C{long} arithmetic does."""
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


def _record_error_message(error: RecordError, partition: str, timestamps: TimestampCheck) -> str:
    """Kafka's message for one refused record (C{validateKey}, C{validateTimestamp})."""
    _, kind, timestamp, offset, key_size, value_size = error
    if kind == KEY_ERROR:
        return f"Compacted topic cannot accept message without key in topic partition {partition}."
    if kind == TIMESTAMP_RANGE_ERROR:
        low = _wrap(timestamps.now_ms - timestamps.before_max_ms)
        high = _wrap(timestamps.now_ms + timestamps.after_max_ms)
        return (
            f"Timestamp {timestamp} of message with offset {offset} is out of range. "
            f"The timestamp should be within [{low}, {high}]"
        )
    record = (
        f"DefaultRecord(offset={offset}, timestamp={timestamp}, key={key_size} bytes, "
        f"value={value_size} bytes)"
    )
    return (
        f"Invalid timestamp type in message {record}. Producer should not set timestamp "
        "type to LogAppendTime."
    )


def with_checked(
    batches: Sequence[tuple[int, BatchHeader]], checked: Sequence[tuple[int, BatchHeader]]
) -> list[tuple[int, BatchHeader]]:
    """C{batches} with the headers that a later L{check_records} gave some of them."""
    by_position = dict(checked)
    return [(pos, by_position.get(pos, header)) for pos, header in batches]


__all__ = [
    "DECOMPRESSED_RATIO",
    "INLINE_DECOMPRESSED_BYTES",
    "MIN_DECOMPRESSED_LIMIT",
    "CheckedRecords",
    "RecordErrors",
    "TimestampCheck",
    "check_records",
    "decompressed_limit",
    "with_checked",
]
