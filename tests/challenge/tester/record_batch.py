"""v2 record batches (magic 2) as the tester builds, encodes and compares them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import crc32c

from tests.challenge.tester.constants import RECORD_TIMESTAMP
from tests.challenge.tester.encoder import (
    enc_int8,
    enc_int16,
    enc_int32,
    enc_int64,
    enc_uint32,
    enc_varint,
)


@dataclass(frozen=True)
class Record:
    """One record inside a v2 record batch.

    ``key``/``value`` of ``None`` encode as length -1.  ``headers`` of
    ``None`` encodes a header count of -1 (what the tester's partition-log
    generator writes); ``()`` encodes 0 (what its Produce builder sends).
    """

    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[bytes | None, bytes | None], ...] | None = None
    attributes: int = 0
    timestamp_delta: int = 0
    offset_delta: int = 0


@dataclass(frozen=True)
class RecordBatch:
    """A v2 record batch; ``crc``/``batch_length``/``magic`` are as decoded."""

    base_offset: int
    partition_leader_epoch: int
    attributes: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: tuple[Record, ...] | None
    magic: int = 2
    crc: int | None = None
    batch_length: int | None = None


def _enc_varint_bytes(data: bytes | None) -> bytes:
    """A varint length (-1 for null) followed by the bytes."""
    return enc_varint(-1) if data is None else enc_varint(len(data)) + data


def encode_record(record: Record, offset_delta: int | None = None) -> bytes:
    """Encode a record (length-prefixed); the tester forces offset_delta to the index."""
    delta = record.offset_delta if offset_delta is None else offset_delta
    body = (
        enc_int8(record.attributes)
        + enc_varint(record.timestamp_delta)
        + enc_varint(delta)
        + _enc_varint_bytes(record.key)
        + _enc_varint_bytes(record.value)
    )
    if record.headers is None:
        body += enc_varint(-1)
    else:
        body += enc_varint(len(record.headers))
        for header_key, header_value in record.headers:
            body += _enc_varint_bytes(header_key) + _enc_varint_bytes(header_value)
    return enc_varint(len(body)) + body


def record_batch_properties(batch: RecordBatch) -> bytes:
    """The CRC-covered part of a batch (attributes .. records), as the tester builds it."""
    records = batch.records or ()
    out = (
        enc_int16(batch.attributes)
        + enc_int32(batch.last_offset_delta)
        + enc_int64(batch.first_timestamp)
        + enc_int64(batch.max_timestamp)
        + enc_int64(batch.producer_id)
        + enc_int16(batch.producer_epoch)
        + enc_int32(batch.base_sequence)
        + enc_int32(len(records))
    )
    for index, record in enumerate(records):
        out += encode_record(record, offset_delta=index)
    return out


def record_batch_crc(batch: RecordBatch) -> int:
    """CRC-32C (unsigned) the tester computes for ``batch``."""
    return crc32c.crc32c(record_batch_properties(batch))


def encode_record_batch(batch: RecordBatch) -> bytes:
    """Encode a batch exactly like the tester's ``RecordBatch.Encode``.

    CRC and batch length are recomputed, magic is always 2 and each record's
    offset delta is its index, whatever the fields say.
    """
    properties = record_batch_properties(batch)
    return (
        enc_int64(batch.base_offset)
        + enc_int32(len(properties) + 4 + 1 + 4)
        + enc_int32(batch.partition_leader_epoch)
        + enc_int8(2)
        + enc_uint32(crc32c.crc32c(properties))
        + properties
    )


def encode_record_batches(batches: Iterable[RecordBatch]) -> bytes:
    """Concatenate encoded batches (a log segment or a RECORDS field body)."""
    return b"".join(encode_record_batch(b) for b in batches)


def tester_log_batch(base_offset: int, message: str) -> RecordBatch:
    """A batch as the tester's partition-log generator writes it (one per message)."""
    return RecordBatch(
        base_offset=base_offset,
        partition_leader_epoch=0,
        attributes=0,
        last_offset_delta=0,
        first_timestamp=RECORD_TIMESTAMP,
        max_timestamp=RECORD_TIMESTAMP,
        producer_id=0,
        producer_epoch=0,
        base_sequence=0,
        records=(Record(value=message.encode("utf-8"), key=None, headers=None),),
    )


def produce_batch(messages: Sequence[str]) -> RecordBatch:
    """The single batch the tester's Produce builder sends for one partition."""
    return RecordBatch(
        base_offset=0,
        partition_leader_epoch=0,
        attributes=0,
        last_offset_delta=len(messages) - 1,
        first_timestamp=RECORD_TIMESTAMP,
        max_timestamp=RECORD_TIMESTAMP,
        producer_id=0,
        producer_epoch=0,
        base_sequence=0,
        records=tuple(
            Record(value=m.encode("utf-8"), key=None, headers=(), offset_delta=i)
            for i, m in enumerate(messages)
        ),
    )


def signed32(value: int) -> int:
    """Show an unsigned 32-bit value as the tester logs it (int32)."""
    return value - 2**32 if value >= 2**31 else value
