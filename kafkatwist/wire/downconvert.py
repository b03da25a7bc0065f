"""Down-conversion of stored magic 2 batches to magic 0/1 message sets (Fetch v0-v3).

Kafka 3.9 answers Fetch v0-v1 with magic 0 and v2-v3 with magic 1
(``KafkaApis.handleFetchRequest``), converting as its ``RecordsUtil.downConvert``
and ``LazyDownConversionRecords`` do:

- control batches (transaction markers) are dropped: old clients cannot
  read them; headers are dropped (magic 0/1 have none); the records of
  aborted transactions stay, as Kafka's (old clients read uncommitted);
- an uncompressed batch becomes one message per record, at its absolute
  offset; a compressed one becomes one wrapper of its codec, whose inner
  messages carry absolute offsets (magic 0) or offsets relative to the
  first record converted (magic 1), and whose own offset is the last
  record's; snappy is written in xerial framing, lz4 as a frame without
  content size, with Kafka 0.8's broken header checksum for magic 0;
- magic 1 keeps timestamps and the timestamp type: a LogAppendTime batch
  sets the type bit and gives its messages (uncompressed) or its wrapper
  (compressed) the append time; magic 0 has no timestamps;
- a zstd batch cannot be expressed (magic 0/1 have no zstd): the caller
  answers UNSUPPORTED_COMPRESSION_TYPE, as Kafka does for Fetch below v10.

Unlike Kafka, records before the fetch offset in the first batch are left
out of compressed wrappers too (Kafka keeps them for the client to skip),
so a client that does not skip them sees no record twice.

L{fit} then bounds the result by the partition's byte limit: the messages
of the first batch whole (Kafka's "at least one full batch"), the rest up
to the limit, cutting the last message short as old brokers did (old
clients drop a partial message at the end).

This is the old-client path, where Python per record is accepted.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Sequence

import lz4.frame  # type: ignore[import-untyped]

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.batch import LOG_OVERHEAD, iter_batches
from kafkatwist.wire.compression import LZ4, NONE, ZSTD, compress
from kafkatwist.wire.legacy import (
    MAGIC_V0,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    break_lz4_header,
    encode_message,
)
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.record import Record, decode_batch_records


def fetch_magic(fetch_version: int) -> int | None:
    """The magic a Fetch version reads: 0 for v0-v1, 1 for v2-v3, None (v2, no conversion) above."""
    if fetch_version <= 1:
        return 0
    if fetch_version <= 3:
        return 1
    return None


def _compress(codec: int, magic: int, data: bytes) -> bytes:
    if codec != LZ4:
        return compress(codec, data)
    # Kafka's KafkaLZ4BlockInputStream takes no content size; 64 KiB independent blocks.
    frame: bytes = lz4.frame.compress(
        data, block_linked=False, content_checksum=False, store_size=False
    )
    return break_lz4_header(frame) if magic == MAGIC_V0 else frame


def _message(record: Record, magic: int, attributes: int, timestamp: int, base: int) -> bytes:
    """C{record} as a message at its offset less C{base}."""
    return encode_message(
        record.offset - base, magic, attributes, timestamp, record.key, record.value
    )


def _convert_batch(batch: memoryview, magic: int, first_offset: int) -> bytes:
    """The messages of one v2 batch (empty when no record is at or after C{first_offset})."""
    records = [r for r in decode_batch_records(batch, check_crc=False) if r.offset >= first_offset]
    if not records:
        return b""
    header = next(iter_batches(batch))[1]
    codec = header.compression
    log_append = header.timestamp_type == 1 and magic > MAGIC_V0
    attributes = TIMESTAMP_TYPE_MASK if log_append else 0
    if codec == NONE:
        timestamp = header.max_timestamp if log_append else None
        return b"".join(
            _message(r, magic, attributes, r.timestamp if timestamp is None else timestamp, 0)
            for r in records
        )
    # Magic 1's inner offsets are relative to the first message.
    base = records[0].offset if magic > MAGIC_V0 else 0
    inner = b"".join(_message(r, magic, attributes, r.timestamp, base) for r in records)
    newest = header.max_timestamp if log_append else max(r.timestamp for r in records)
    return encode_message(
        records[-1].offset,
        magic,
        codec | attributes,
        newest if magic > MAGIC_V0 else NO_TIMESTAMP,
        None,
        _compress(codec, magic, inner),
    )


def down_convert(chunks: Sequence[Buffer], magic: int, first_offset: int) -> list[bytes]:
    """
    The magic C{magic} messages of the v2 batches in C{chunks}, one bytes object per batch.

    @param first_offset: The fetch offset: records before it are left out.
    @raise RecordsError: C{UNSUPPORTED_COMPRESSION_TYPE} for a zstd batch;
        C{CORRUPT_MESSAGE} for records that do not decode.
    """
    converted: list[bytes] = []
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        for pos, header in iter_batches(view):
            if header.is_control:
                continue
            if header.compression == ZSTD:
                raise RecordsError(
                    ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                    f"zstd batch at offset {header.base_offset} cannot be converted "
                    f"to magic {magic}",
                )
            messages = _convert_batch(
                view[pos : pos + header.batch_length + LOG_OVERHEAD], magic, first_offset
            )
            if messages:
                converted.append(messages)
    return converted


def fit(converted: Sequence[bytes], limit: int) -> bytes:
    """
    The converted messages within the partition's byte limit.

    As Kafka's C{LazyDownConversionRecords}: the first batch's messages are
    sent whole (a consumer needs one whole batch to progress), then the
    rest up to C{limit}, the last message possibly cut short (old clients
    drop a partial message at the end, as old brokers sent them).
    """
    if not converted:
        return b""
    data = b"".join(converted)
    return data[: max(limit, len(converted[0]))]


__all__ = ["down_convert", "fetch_magic", "fit"]
