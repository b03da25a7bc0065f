"""Batches that a careless or hostile client may send: valid CRC, bad records.

Each is a whole v2 batch with a correct CRC-32C (so only record validation
can refuse it), built from hand-encoded records or from kafka-python's
builder (L{tests.client_batches.client_batch}). L{CASES} names each with
the error code Kafka answers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import zstandard

from kafkatwist.errors import ErrorCode
from kafkatwist.wire.batch import RECORDS_OFFSET, encode_batch_header, parse_batch_header
from kafkatwist.wire.compression import compress
from kafkatwist.wire.primitives import encode_varint
from tests.client_batches import T0, client_batch


def rebatch(
    batch: bytes,
    body: bytes,
    *,
    count: int | None = None,
    codec: int | None = None,
    attributes: int | None = None,
) -> bytes:
    """C{batch}'s header around the records section C{body}, with a new count and CRC."""
    h = parse_batch_header(batch)
    n = h.records_count if count is None else count
    attrs = h.attributes if attributes is None else attributes
    if codec is not None:
        attrs = (attrs & ~0x07) | codec
    return (
        encode_batch_header(
            body,
            base_offset=0,
            partition_leader_epoch=h.partition_leader_epoch,
            attributes=attrs,
            last_offset_delta=n - 1,
            base_timestamp=h.base_timestamp,
            max_timestamp=h.max_timestamp,
            producer_id=h.producer_id,
            producer_epoch=h.producer_epoch,
            base_sequence=h.base_sequence,
            records_count=n,
        )
        + body
    )


def field(data: bytes | None, length: int | None = None) -> bytes:
    """A length-prefixed field; C{length} overrides the length written."""
    if data is None:
        return encode_varint(-1 if length is None else length)
    return encode_varint(len(data) if length is None else length) + data


def record(
    key: bytes | None = b"k",
    value: bytes | None = b"v",
    *,
    key_length: int | None = None,
    value_length: int | None = None,
    headers: bytes = b"\x00",
    extra: bytes = b"",
    length_delta: int = 0,
    index: int = 0,
) -> bytes:
    """One hand-encoded record; the keyword arguments break it in one place each."""
    body = (
        b"\x00"
        + encode_varint(index)  # timestamp delta (zig-zag: the same encoding as a varint)
        + encode_varint(index)
        + field(key, key_length)
        + field(value, value_length)
        + headers
        + extra
    )
    return encode_varint(len(body) + length_delta) + body


def batch_of(*records: bytes, count: int | None = None, codec: int = 0) -> bytes:
    """A batch around hand-encoded records (compressed with C{codec})."""
    body = b"".join(records)
    if codec:
        body = compress(codec, body)
    template = client_batch()
    return rebatch(template, body, count=len(records) if count is None else count, codec=codec)


def three() -> bytes:
    """A valid batch of three records made by kafka-python."""
    return client_batch(count=3)


def recount(count: int) -> Callable[[], bytes]:
    """Three valid records declared as C{count}."""
    return lambda: rebatch(three(), three()[RECORDS_OFFSET:], count=count)


def garbage(codec: int) -> Callable[[], bytes]:
    """A batch of codec C{codec} whose payload is not that codec's data."""
    return lambda: rebatch(three(), bytes(range(7, 250)) * 3, codec=codec)


def zstd_bomb(size: int) -> bytes:
    """One zstd batch of one record whose value is C{size} zeros (a few KB on the wire)."""
    prefix = b"\x00\x00\x00" + field(b"k") + encode_varint(size)
    head = encode_varint(len(prefix) + size + 1) + prefix
    cctx = zstandard.ZstdCompressor(level=3)
    chunks = cctx.compressobj()
    out = [chunks.compress(head)]
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        out.append(chunks.compress(zeros))
    out.append(chunks.compress(bytes(size & ((1 << 20) - 1)) + b"\x00"))
    out.append(chunks.flush())
    return rebatch(client_batch(), b"".join(out), count=1, codec=4)


def gzip_bomb(size: int) -> bytes:
    """One gzip batch of one record whose value is C{size} zeros (about size / 1000 bytes)."""
    prefix = b"\x00\x00\x00" + field(b"k") + encode_varint(size)
    head = encode_varint(len(prefix) + size + 1) + prefix
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(head)]
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        out.append(z.compress(zeros))
    out.append(z.compress(bytes(size & ((1 << 20) - 1)) + b"\x00"))
    out.append(z.flush())
    return rebatch(client_batch(), b"".join(out), count=1, codec=1)


#: name: (how to build the batch, the error code Kafka answers).
CASES: dict[str, tuple[Callable[[], bytes], ErrorCode]] = {
    "count_more": (recount(4), ErrorCode.INVALID_RECORD),
    "count_fewer": (recount(2), ErrorCode.INVALID_RECORD),
    "count_2_31": (recount(2**31 - 1), ErrorCode.INVALID_RECORD),
    "bad_length_varint": (lambda: batch_of(b"\xff\xff\xff\xff\xff\x01"), ErrorCode.INVALID_RECORD),
    "length_past_batch": (
        lambda: batch_of(record(length_delta=5)),
        ErrorCode.INVALID_RECORD,
    ),
    "length_short": (lambda: batch_of(record(length_delta=-1)), ErrorCode.INVALID_RECORD),
    "key_length_minus_5": (
        lambda: batch_of(record(None, key_length=-5)),
        ErrorCode.INVALID_RECORD,
    ),
    "value_past_record": (
        lambda: batch_of(record(value_length=50)),
        ErrorCode.INVALID_RECORD,
    ),
    "header_count_too_big": (
        lambda: batch_of(record(headers=encode_varint(1000))),
        ErrorCode.INVALID_RECORD,
    ),
    "header_count_negative": (
        lambda: batch_of(record(headers=encode_varint(-2))),
        ErrorCode.INVALID_RECORD,
    ),
    "header_key_not_utf8": (
        lambda: batch_of(record(headers=b"\x02" + field(b"\xff\xfe") + field(b"x"))),
        ErrorCode.INVALID_RECORD,
    ),
    "bytes_inside_record": (
        lambda: batch_of(record(extra=b"\x00\x00")),
        ErrorCode.INVALID_RECORD,
    ),
    "bytes_after_records": (
        lambda: rebatch(three(), three()[RECORDS_OFFSET:] + b"\x00"),
        ErrorCode.INVALID_RECORD,
    ),
    "garbage_gzip": (garbage(1), ErrorCode.CORRUPT_MESSAGE),
    "garbage_snappy": (garbage(2), ErrorCode.CORRUPT_MESSAGE),
    "garbage_lz4": (garbage(3), ErrorCode.CORRUPT_MESSAGE),
    "garbage_zstd": (garbage(4), ErrorCode.CORRUPT_MESSAGE),
    "truncated_zstd": (
        lambda: rebatch(three(), compress(4, three()[RECORDS_OFFSET:])[:-3], codec=4),
        ErrorCode.CORRUPT_MESSAGE,
    ),
    "compressed_count_more": (
        lambda: batch_of(record(), record(index=1), count=3, codec=4),
        ErrorCode.INVALID_RECORD,
    ),
    "zstd_bomb_64MiB": (lambda: zstd_bomb(64 << 20), ErrorCode.INVALID_RECORD),
    "control_batch": (
        lambda: rebatch(three(), three()[RECORDS_OFFSET:], attributes=0x20),
        ErrorCode.INVALID_RECORD,
    ),
}

__all__ = ["CASES", "T0", "batch_of", "gzip_bomb", "rebatch", "record", "zstd_bomb"]
