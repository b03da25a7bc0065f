"""Up-conversion of produced magic 0/1 message sets to one magic 2 batch (Produce v0-v2).

Kafka 3.9's broker stores every message in the v2 format (message format
3.0) and converts what old producers send, as its ``UnifiedLog``
``analyzeAndValidateRecords`` and ``LogValidator``
(``convertAndAssignOffsetsNonCompressed`` for plain messages,
``validateMessagesAndAssignOffsetsCompressed`` for wrappers) do:

- each shallow message (a plain message or a compressed wrapper) larger
  than ``max.message.bytes`` is MESSAGE_TOO_LARGE; its CRC-32 must match
  (CORRUPT_MESSAGE, "Record is corrupt ...");
- a message that sets the LogAppendTime bit is INVALID_TIMESTAMP ("Producer
  should not set timestamp type to LogAppendTime");
- a wrapper's value is decompressed (gzip, snappy, lz4; magic 0's lz4 with
  its broken header checksum) within the same bound as a v2 batch's
  records (L{decompressed_limit}), and its inner messages are checked: CRC
  (CORRUPT_MESSAGE), the wrapper's magic (INVALID_RECORD), no nested
  compression (INVALID_RECORD), at least one (INVALID_RECORD); a null value
  is INVALID_RECORD; zstd and unknown codecs are UNSUPPORTED_COMPRESSION_TYPE
  (zstd needs Produce v7);
- every message, in order, becomes one record of a single new batch: key and
  value kept, no headers, the message's timestamp (magic 0 has none:
  C{NO_TIMESTAMP}, -1), no producer id; inner offsets (absolute for magic 0,
  relative for magic 1) are dropped, since the log assigns offsets;
- the batch is compressed with the topic's codec (Kafka's
  ``BrokerCompressionType.targetCompression``): the producer's, that is the
  codec of the last wrapper (none if there is none), when
  ``compression.type`` is ``producer``.

The caller then validates the batch like any other (its size against
``max.message.bytes``, keys on compacted topics, timestamps), and the log
stamps LogAppendTime topics. This is the old-client path, where Python per
message is accepted.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from typing import Final

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.compression import LZ4, NONE, ZSTD
from kafkatwist.wire.inflate import TooLarge, inflate
from kafkatwist.wire.legacy import (
    CODEC_MASK,
    LOG_OVERHEAD,
    MAGIC_V0,
    LegacyMessage,
    fix_lz4_header,
    read_message_set,
)
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.recompress import target_codec
from kafkatwist.wire.record import NewRecord, build_batch
from kafkatwist.wire.record_checks import decompressed_limit

#: The highest codec a magic 0/1 wrapper may use (lz4).
_MAX_LEGACY_CODEC: Final = LZ4


def is_legacy(buf: Buffer) -> bool:
    """Whether C{buf} starts with a magic 0 or 1 message (byte 16, where a batch has its magic)."""
    view = memoryview(buf).cast("B")
    return len(view) > LOG_OVERHEAD + 4 and view[LOG_OVERHEAD + 4] in (0, 1)


def has_wrapper(buf: Buffer) -> bool:
    """Whether a message of the set C{buf} is compressed (read from the message headers only)."""
    view = memoryview(buf).cast("B")
    pos, end = 0, len(view)
    while pos + LOG_OVERHEAD + 6 <= end:
        if view[pos + LOG_OVERHEAD + 5] & CODEC_MASK:
            return True
        size = int.from_bytes(view[pos + 8 : pos + LOG_OVERHEAD], "big", signed=True)
        if size < 0:
            return True  # let the conversion (in a worker) refuse it
        pos += LOG_OVERHEAD + size
    return False


def _inner(wrapper: LegacyMessage, limit: int) -> tuple[list[LegacyMessage], int]:
    """The messages of a wrapper, and the bytes they took decompressed."""
    codec = wrapper.codec
    if codec == ZSTD or codec > _MAX_LEGACY_CODEC:
        raise RecordsError(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            f"compression type id {codec} is not allowed in a message of magic {wrapper.magic}",
        )
    if wrapper.value is None:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"Found invalid compressed record set with null value (magic = {wrapper.magic})",
        )
    data = wrapper.value
    if codec == LZ4 and wrapper.magic == MAGIC_V0:
        data = fix_lz4_header(data)
    try:
        inflated = inflate(codec, data, limit)
    except TooLarge:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            f"the compressed messages decompress to more than {limit} bytes, the limit "
            "for one message set",
        ) from None
    inner = [m for _, m in read_message_set(inflated)]
    if not inner:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            "Found invalid compressed record set with no inner records",
        )
    for m in inner:
        if m.magic != wrapper.magic:
            raise RecordsError(
                ErrorCode.INVALID_RECORD,
                f"Record's magic {m.magic} does not match outer magic {wrapper.magic}",
            )
        if m.codec != NONE:
            raise RecordsError(
                ErrorCode.INVALID_RECORD,
                "Compressed outer record should not have an inner record with a compression "
                "attribute set",
            )
    return inner, len(inflated)


def up_convert(buf: Buffer, *, compression_type: str, max_message_bytes: int) -> bytes:
    """
    The magic 0/1 message set C{buf} as one magic 2 batch at base offset 0.

    @param compression_type: The topic's ``compression.type``.
    @param max_message_bytes: The topic's ``max.message.bytes``: the bound of
        each shallow message, and (times 32, at least 1 MiB) of all that the
        wrappers decompress to.
    @raise RecordsError: As the module docstring says.
    """
    view = memoryview(buf).cast("B")
    if not len(view):
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            "Produce requests must have at least one record batch per partition",
        )
    messages = read_message_set(view)
    limit = decompressed_limit(max_message_bytes)
    records: list[NewRecord] = []
    source = NONE
    _check_sizes(view, messages, max_message_bytes)
    for _, m in messages:
        if m.log_append_time:
            raise RecordsError(
                ErrorCode.INVALID_TIMESTAMP,
                f"Invalid timestamp type in message at offset {m.offset}. Producer should not "
                "set timestamp type to LogAppendTime.",
            )
        if m.codec == NONE:
            records.append(NewRecord(m.key, m.value, (), m.timestamp))
            continue
        inner, used = _inner(m, limit)
        limit -= used
        source = m.codec
        records.extend(NewRecord(i.key, i.value, (), i.timestamp) for i in inner)
    first = records[0].timestamp
    return build_batch(
        records,
        base_timestamp=first if first is not None else -1,
        compression=target_codec(compression_type, source),
    )


def _check_sizes(
    view: memoryview, messages: list[tuple[int, LegacyMessage]], max_message_bytes: int
) -> None:
    """MESSAGE_TOO_LARGE for a shallow message above C{max.message.bytes} (Kafka's batch check)."""
    ends = [pos for pos, _ in messages[1:]] + [len(view)]
    for (pos, _), end in zip(messages, ends, strict=True):
        if end - pos > max_message_bytes:
            raise RecordsError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"the message size is {end - pos} bytes which exceeds the maximum configured "
                f"value of {max_message_bytes}",
            )


__all__ = ["has_wrapper", "is_legacy", "up_convert"]
