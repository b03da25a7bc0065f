"""Batches of very many tiny records, as a hostile client could send (ListOffsets tests).

A tiny record is 7 bytes (null key and value, no headers), so a batch of a
million of them decompresses to 7 MB but compresses to a few KB, within
what produce accepts. Every record but the last has timestamp delta and
offset delta 0 (Kafka checks neither against the record's index), so a
batch of any size is built by repeating one record: no Python per record.
"""

from __future__ import annotations

from kafkatwist.wire.batch import TIMESTAMP_TYPE_MASK, encode_batch_header
from kafkatwist.wire.compression import compress
from kafkatwist.wire.primitives import encode_varint, encode_varlong

T0 = 1_700_000_000_000


def tiny_record(timestamp_delta: int = 0, offset_delta: int = 0) -> bytes:
    """A record with a null key and value and no headers."""
    body = b"\x00" + encode_varlong(timestamp_delta) + encode_varint(offset_delta) + b"\x01\x01\x00"
    return encode_varint(len(body)) + body


def tiny_records(count: int, late: int = 1) -> bytes:
    """C{count} tiny records at delta 0 but the last: offset delta C{count}-1, C{late} ms later."""
    return tiny_record() * (count - 1) + tiny_record(late, count - 1)


def tiny_batch(
    count: int,
    *,
    codec: int = 0,
    base_timestamp: int = T0,
    late: int = 1,
    max_timestamp: int | None = None,
    body: bytes | None = None,
    log_append_time: bool = False,
) -> bytes:
    """
    One v2 batch of L{tiny_records}, compressed with C{codec}.

    @param max_timestamp: What the header claims (default: the true one).
    @param body: The records section to use instead (before compression).
    """
    records = compress(codec, tiny_records(count, late) if body is None else body)
    header = encode_batch_header(
        records,
        base_offset=0,
        partition_leader_epoch=0,
        attributes=codec | (TIMESTAMP_TYPE_MASK if log_append_time else 0),
        last_offset_delta=count - 1,
        base_timestamp=base_timestamp,
        max_timestamp=base_timestamp + late if max_timestamp is None else max_timestamp,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        records_count=count,
    )
    return header + records
