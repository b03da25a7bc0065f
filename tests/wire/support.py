"""Shared fixtures and helpers for the wire tests: record batches, schema round trips, writes."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.batch import (
    ATTRIBUTES_OFFSET,
    CREATE_TIME,
    LOG_OVERHEAD,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
)
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.primitives import Reader, Writer
from kafkatwist.wire.record import build_batch
from kafkatwist.wire.schema import decode, encode_bytes
from kafkatwist.wire.validator import validate_produce_records

# Record batches: tests for the batch, validator and record modules.

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MAX = 1024 * 1024


def load_hex(name: str) -> bytes:
    """Read a commented hex fixture from tests/fixtures."""
    lines = (FIXTURES / name).read_text().splitlines()
    return bytes.fromhex(" ".join(line for line in lines if not line.startswith("#")))


#: One batch from a real producer, as the broker stored it (base offset 0).
FOO = load_hex("records_foo_0.hex")
#: Two batches written by a real KRaft controller.
METADATA = load_hex("records_cluster_metadata_0.hex")
METADATA_POSITIONS = [0, 145]


def patch(batch: bytes, fmt: str, offset: int, value: int, *, fix_crc: bool = True) -> bytes:
    """Overwrite one header field of a single batch, then (by default) fix its CRC."""
    out = bytearray(batch)
    struct.pack_into(fmt, out, offset, value)
    if fix_crc:
        struct.pack_into(">I", out, 17, crc32c(bytes(out[ATTRIBUTES_OFFSET:])))
    return bytes(out)


def simple_batch(
    count: int = 3,
    *,
    base_timestamp: int = 1_700_000_000_000,
    compression: int = 0,
    timestamp_type: int = CREATE_TIME,
    is_control: bool = False,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
) -> bytes:
    """Build a small batch of C{count} records (the other arguments go to C{build_batch})."""
    records = [(b"k%d" % i, b"value-%d" % i) for i in range(count)]
    return build_batch(
        records,
        base_timestamp=base_timestamp,
        compression=compression,
        timestamp_type=timestamp_type,
        is_control=is_control,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def size_at(buf: bytes, pos: int) -> int:
    """The size of the batch at C{pos} in C{buf}, C{LOG_OVERHEAD} included."""
    length: int = struct.unpack_from(">i", buf, pos + 8)[0]
    return length + LOG_OVERHEAD


def assert_records_error(
    case: SynchronousTestCase,
    code: ErrorCode,
    buf: bytes,
    *,
    max_batch_bytes: int = MAX,
    api_version: int | None = None,
) -> RecordsError:
    """Assert that validating C{buf} raises RecordsError with C{code}."""
    error: RecordsError = case.assertRaises(
        RecordsError,
        validate_produce_records,
        buf,
        max_batch_bytes=max_batch_bytes,
        api_version=api_version,
    )
    case.assertEqual(error.code, code, error.message)
    return error


# Schema round trips.

#: A topic id for requests that name topics by id.
TOPIC_ID = uuid.UUID("00000000-0000-4000-8000-000000000086")


def round_trip(test: SynchronousTestCase, cls: type, version: int, obj: object) -> bytes:
    """Encode C{obj}, decode it back and re-encode: both must match; return the bytes."""
    data = encode_bytes(obj, version)
    r = Reader(data)
    back: object = decode(cls, version, r)
    test.assertEqual(r.remaining, 0)
    test.assertEqual(back, obj)
    test.assertEqual(encode_bytes(back, version), data)
    return data


# Primitives.


def written(fn_name: str, *args: object) -> bytes:
    """The bytes a L{Writer} produces for one C{Writer.<fn_name>(*args)} call."""
    w = Writer()
    getattr(w, fn_name)(*args)
    return w.getvalue()
