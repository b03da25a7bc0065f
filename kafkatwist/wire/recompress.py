"""Broker-side recompression of produced batches for a topic's ``compression.type``.

Kafka's ``LogValidator`` re-encodes a batch only when the topic's
``compression.type`` names a codec (not ``producer``) other than the batch's
(``BrokerCompressionType.targetCompression``); ``uncompressed`` is a target
like the others. Recompression decodes the records and builds one new batch
with the target codec and a new CRC, keeping the producer id, epoch, base
sequence, the transactional flag, the partition leader epoch, every
record's timestamp, key, value and headers, and offset deltas 0..n-1.

This is the one place on the Produce path that works per record; a batch
already in the target codec (and every batch of a ``producer`` topic) is
passed through byte for byte.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire import compression
from kafkatwist.wire.batch import BatchHeader, byte_view, iter_batches, parse_batch_header
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.record import NewRecord, build_batch, decode_batch_records

#: Topic ``compression.type`` values and their codec ids.
CODEC_BY_NAME: Final = {
    "uncompressed": compression.NONE,
    "gzip": compression.GZIP,
    "snappy": compression.SNAPPY,
    "lz4": compression.LZ4,
    "zstd": compression.ZSTD,
}


def target_codec(compression_type: str, source_codec: int) -> int:
    """The codec a batch is stored with: the producer's, or the topic's."""
    if compression_type == "producer":
        return source_codec
    try:
        return CODEC_BY_NAME[compression_type]
    except KeyError:
        raise RecordsError(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            f"unknown compression.type {compression_type!r}",
        ) from None


def recompress_batch(batch: Buffer, codec: int) -> bytes:
    """
    Re-encode one whole batch with codec C{codec}.

    @raise RecordsError: CORRUPT_MESSAGE if the batch does not decode.
    """
    header = parse_batch_header(batch)
    records = decode_batch_records(batch)
    return build_batch(
        [NewRecord(r.key, r.value, r.headers, r.timestamp) for r in records],
        base_timestamp=header.base_timestamp,
        base_offset=header.base_offset,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        partition_leader_epoch=header.partition_leader_epoch,
        compression=codec,
        timestamp_type=header.timestamp_type,
        is_transactional=header.is_transactional,
    )


def convert_for_topic(
    buf: Buffer,
    batches: Sequence[tuple[int, BatchHeader]],
    compression_type: str,
    *,
    max_batch_bytes: int,
) -> tuple[bytes, list[tuple[int, BatchHeader]]] | None:
    """
    Recompress validated batches whose codec differs from the topic's.

    @param batches: From
        L{kafkatwist.wire.validator.validate_produce_records} on C{buf}.
    @return: None when every batch is stored as sent; otherwise the new
        buffer and its C{(position, header)} list.
    @raise RecordsError: CORRUPT_MESSAGE for undecodable records;
        MESSAGE_TOO_LARGE when a re-encoded batch exceeds C{max_batch_bytes}
        (Kafka's check after recompression).
    """
    if compression_type == "producer":
        return None
    targets = [target_codec(compression_type, h.compression) for _, h in batches]
    if all(t == h.compression for t, (_, h) in zip(targets, batches, strict=True)):
        return None
    view = byte_view(buf)
    parts: list[bytes] = []
    for target, (pos, header) in zip(targets, batches, strict=True):
        batch = view[pos : pos + header.size]
        parts.append(
            bytes(batch) if target == header.compression else recompress_batch(batch, target)
        )
    data = b"".join(parts)
    new_batches = list(iter_batches(data))
    for _, header in new_batches:
        if header.size > max_batch_bytes:
            raise RecordsError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"the record batch size is {header.size} bytes after recompression, which "
                f"exceeds the maximum configured value of {max_batch_bytes}",
            )
    return data, new_batches
