"""The records inside a v2 record batch: decoding and building (Kafka's ``DefaultRecord``).

Reference: https://kafka.apache.org/documentation/#record and, in Kafka's
``clients`` module, ``org.apache.kafka.common.record.DefaultRecord``.

This is the record-level code, off the Produce/Fetch path: it runs Python
per record (with the varints of L{kafkatwist.wire.primitives}) and serves
the KRaft metadata log, C{__consumer_offsets}, recompression, timestamp
look-ups and tests.  The batch header around the records is
L{kafkatwist.wire.batch}.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from attrs import frozen

from kafkatwist.errors import ErrorCode, ProtocolViolation, RecordsError
from kafkatwist.wire.batch import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_CODEC_MASK,
    CONTROL_FLAG_MASK,
    CREATE_TIME,
    LOG_APPEND_TIME,
    LOG_OVERHEAD,
    MAGIC_V2,
    MIN_BATCH_LENGTH,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    NO_TIMESTAMP,
    RECORDS_OFFSET,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_FLAG_MASK,
    BatchHeader,
    byte_view,
    encode_batch_header,
    parse_batch_header,
)
from kafkatwist.wire.compression import MAX_CODEC, compress, decompress
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.primitives import Buffer, Reader, encode_varint, encode_varlong

RecordHeaders = tuple[tuple[str, bytes | None], ...]


@frozen
class Record:
    """One decoded record, with its absolute offset and timestamp."""

    attributes: int
    timestamp_delta: int
    offset_delta: int
    key: bytes | None
    value: bytes | None
    headers: RecordHeaders
    offset: int
    timestamp: int


def _corrupt(message: str) -> RecordsError:
    return RecordsError(ErrorCode.CORRUPT_MESSAGE, message)


def _read_bytes(r: Reader, limit: int) -> bytes | None:
    size = r.varint()
    if size < 0:
        return None
    if r.pos + size > limit:
        raise _corrupt("record field runs past the end of the record")
    return bytes(r.raw(size))


def _decode_records(data: bytes, header: BatchHeader) -> list[Record]:
    count = header.records_count
    if count < 0:
        raise _corrupt(f"found invalid record count {count}")
    r = Reader(data)
    try:
        records = [_decode_record(r, header) for _ in range(count)]
    except ProtocolViolation as e:  # a malformed varint
        raise _corrupt(str(e)) from None
    if r.remaining:
        raise _corrupt(
            f"incorrect declared batch size: {r.remaining} bytes remain after {count} records"
        )
    return records


def _decode_record(r: Reader, header: BatchHeader) -> Record:
    length = r.varint()
    record_end = r.pos + length
    if length < 1 or length > r.remaining:
        raise _corrupt(f"invalid record size {length}")
    attributes = r.int8()
    timestamp_delta = r.varlong()
    offset_delta = r.varint()
    key = _read_bytes(r, record_end)
    value = _read_bytes(r, record_end)
    header_count = r.varint()
    if header_count < 0:
        raise _corrupt(f"found invalid number of record headers {header_count}")
    headers = []
    for _ in range(header_count):
        name = _read_bytes(r, record_end)
        if name is None:
            raise _corrupt("invalid negative header key size")
        try:
            name_text = name.decode("utf-8")
        except UnicodeDecodeError:
            raise _corrupt("record header key is not UTF-8") from None
        headers.append((name_text, _read_bytes(r, record_end)))
    if r.pos != record_end:
        raise _corrupt(
            f"invalid record size: expected to read {length} bytes but read "
            f"{length - (record_end - r.pos)}"
        )
    log_append = header.attributes & TIMESTAMP_TYPE_MASK
    return Record(
        attributes=attributes,
        timestamp_delta=timestamp_delta,
        offset_delta=offset_delta,
        key=key,
        value=value,
        headers=tuple(headers),
        offset=header.base_offset + offset_delta,
        timestamp=header.max_timestamp if log_append else header.base_timestamp + timestamp_delta,
    )


def decode_batch_records(batch: Buffer, *, check_crc: bool = True) -> list[Record]:
    """
    Decode every record of one whole batch, decompressing as needed.

    For LogAppendTime batches each record's C{timestamp} is the batch's
    C{maxTimestamp}, as in Kafka's C{DefaultRecord}.

    @param batch: One batch, from its base offset to its end (extra bytes
        after it are ignored).
    @raise RecordsError: C{CORRUPT_MESSAGE} for a short buffer, bad magic,
        CRC mismatch or malformed records; C{UNSUPPORTED_COMPRESSION_TYPE}
        for an unknown codec.
    """
    mv = byte_view(batch)
    header = parse_batch_header(mv)
    if header.magic != MAGIC_V2:
        raise _corrupt(f"unsupported magic {header.magic}")
    size = header.batch_length + LOG_OVERHEAD
    if header.batch_length < MIN_BATCH_LENGTH or size > len(mv):
        raise _corrupt(f"batch length {header.batch_length} does not fit the {len(mv)} bytes given")
    if check_crc and crc32c(mv[ATTRIBUTES_OFFSET:size]) != header.crc:
        raise _corrupt(f"record is corrupt (stored crc = {header.crc})")
    body = mv[RECORDS_OFFSET:size]
    codec = header.attributes & COMPRESSION_CODEC_MASK
    data = decompress(codec, body) if codec else bytes(body)
    return _decode_records(data, header)


@frozen
class NewRecord:
    """
    A record to put in a batch built by L{build_batch}.

    @ivar timestamp: Absolute timestamp in milliseconds; None means the
        batch's C{base_timestamp}.
    """

    key: bytes | None
    value: bytes | None
    headers: RecordHeaders = ()
    timestamp: int | None = None


RecordInput = (
    NewRecord | tuple[bytes | None, bytes | None] | tuple[bytes | None, bytes | None, RecordHeaders]
)


def _encode_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out += b"\x01"  # zig-zag -1
    else:
        out += encode_varint(len(data))
        out += data


def _encode_record(offset_delta: int, record: NewRecord, base_timestamp: int) -> tuple[bytes, int]:
    timestamp = base_timestamp if record.timestamp is None else record.timestamp
    body = bytearray(b"\x00")  # record attributes: unused, always 0
    body += encode_varlong(timestamp - base_timestamp)
    body += encode_varint(offset_delta)
    _encode_bytes(body, record.key)
    _encode_bytes(body, record.value)
    body += encode_varint(len(record.headers))
    for name, header_value in record.headers:
        _encode_bytes(body, name.encode("utf-8"))
        _encode_bytes(body, header_value)
    return encode_varint(len(body)) + bytes(body), timestamp


def build_batch(
    records: Sequence[RecordInput],
    *,
    base_timestamp: int,
    base_offset: int = 0,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    partition_leader_epoch: int = 0,
    compression: int = 0,
    timestamp_type: int = CREATE_TIME,
    is_transactional: bool = False,
    is_control: bool = False,
) -> bytes:
    """
    Encode C{records} as one v2 batch with a correct CRC-32C.

    Records get offset deltas 0, 1, 2...; C{maxTimestamp} is the largest
    record timestamp.  Used to write KRaft metadata records and
    C{__consumer_offsets}, never on the Produce path.

    @param records: L{NewRecord}s, or C{(key, value)} / C{(key, value,
        headers)} tuples.
    @param compression: Codec id 0-4 (see L{kafkatwist.wire.compression}).
    @raise ValueError: For no records or values out of range.
    @raise RecordsError: C{UNSUPPORTED_COMPRESSION_TYPE} for an unknown codec.
    """
    if not records:
        raise ValueError("a record batch needs at least one record")
    if not 0 <= compression <= MAX_CODEC:
        raise RecordsError(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            f"unknown compression type id {compression}",
        )
    parts = []
    max_timestamp = NO_TIMESTAMP
    for offset_delta, item in enumerate(records):
        record = item if isinstance(item, NewRecord) else NewRecord(*item)
        encoded, timestamp = _encode_record(offset_delta, record, base_timestamp)
        parts.append(encoded)
        max_timestamp = max(max_timestamp, timestamp)
    body = b"".join(parts)
    if compression:
        body = compress(compression, body)
    attributes = (
        compression
        | (TIMESTAMP_TYPE_MASK if timestamp_type == LOG_APPEND_TIME else 0)
        | (TRANSACTIONAL_FLAG_MASK if is_transactional else 0)
        | (CONTROL_FLAG_MASK if is_control else 0)
    )
    try:
        header = encode_batch_header(
            body,
            base_offset=base_offset,
            partition_leader_epoch=partition_leader_epoch,
            attributes=attributes,
            last_offset_delta=len(records) - 1,
            base_timestamp=base_timestamp,
            max_timestamp=max_timestamp,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=base_sequence,
            records_count=len(records),
        )
    except struct.error as e:
        raise ValueError(f"batch header field out of range: {e}") from None
    return header + body
