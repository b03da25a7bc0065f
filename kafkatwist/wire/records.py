"""RecordBatch v2 (magic 2): batch headers, Produce validation, offset assignment, records.

Reference: https://kafka.apache.org/documentation/#recordbatch and, in Kafka's
``clients`` module, ``org.apache.kafka.common.record.DefaultRecordBatch`` and
``DefaultRecord``.  The validation rules follow Kafka 4.0's
``ProduceRequest.validateRecords``, ``UnifiedLog.analyzeAndValidateRecords``
and ``LogValidator.validateBatch``.

Two speeds live here:

- The Produce/Fetch path (L{parse_batch_header}, L{iter_batches},
  L{scan_batches}, L{validate_produce_records}, L{assign_offsets}) works per
  batch, never per record: one precompiled C{struct.Struct} unpack of the
  61-byte header, one C CRC-32C call over the batch, and C{memoryview} slices
  instead of copies of the batch body.
- Record-level code (L{decode_batch_records}, L{build_batch}, with the
  varints of L{kafkatwist.wire.primitives}) is for the KRaft metadata log,
  C{__consumer_offsets}, compaction and tests.

Batch layout (big-endian; the CRC covers C{attributes} to the end of the
batch, so the first 16 bytes can be rewritten without recomputing it)::

    offset  size  field
         0     8  baseOffset
         8     4  batchLength          (bytes after this field)
        12     4  partitionLeaderEpoch
        16     1  magic                (2)
        17     4  crc                  (uint32, CRC-32C)
        21     2  attributes
        23     4  lastOffsetDelta
        27     8  baseTimestamp
        35     8  maxTimestamp
        43     8  producerId
        51     2  producerEpoch
        53     4  baseSequence
        57     4  recordsCount
        61        records...

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Final

from attrs import frozen

from kafkatwist.errors import ErrorCode, ProtocolViolation
from kafkatwist.errors import RecordsError as RecordsError  # re-exported: its old home
from kafkatwist.wire.compression import MAX_CODEC, ZSTD, compress, decompress
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.primitives import Buffer, Reader, encode_varint, encode_varlong

BASE_OFFSET_OFFSET: Final = 0
LENGTH_OFFSET: Final = 8
PARTITION_LEADER_EPOCH_OFFSET: Final = 12
MAGIC_OFFSET: Final = 16
CRC_OFFSET: Final = 17
ATTRIBUTES_OFFSET: Final = 21
LAST_OFFSET_DELTA_OFFSET: Final = 23
BASE_TIMESTAMP_OFFSET: Final = 27
MAX_TIMESTAMP_OFFSET: Final = 35
PRODUCER_ID_OFFSET: Final = 43
PRODUCER_EPOCH_OFFSET: Final = 51
BASE_SEQUENCE_OFFSET: Final = 53
RECORDS_COUNT_OFFSET: Final = 57
RECORDS_OFFSET: Final = 61

BATCH_HEADER_SIZE: Final = 61
#: baseOffset + batchLength: the bytes of a batch not counted in batchLength.
LOG_OVERHEAD: Final = 12
HEADER_SIZE_UP_TO_MAGIC: Final = 17
#: The smallest batchLength a v2 batch can have (a header and no records).
MIN_BATCH_LENGTH: Final = BATCH_HEADER_SIZE - LOG_OVERHEAD
#: Kafka's LegacyRecord.RECORD_OVERHEAD_V0: below this a length is corrupt
#: whatever the magic.
_MIN_ANY_BATCH_LENGTH: Final = 14

MAGIC_V2: Final = 2
NO_TIMESTAMP: Final = -1
NO_PRODUCER_ID: Final = -1
NO_PRODUCER_EPOCH: Final = -1
NO_SEQUENCE: Final = -1
NO_PARTITION_LEADER_EPOCH: Final = -1

COMPRESSION_CODEC_MASK: Final = 0x07
TIMESTAMP_TYPE_MASK: Final = 0x08
TRANSACTIONAL_FLAG_MASK: Final = 0x10
CONTROL_FLAG_MASK: Final = 0x20
DELETE_HORIZON_FLAG_MASK: Final = 0x40

CREATE_TIME: Final = 0
LOG_APPEND_TIME: Final = 1

#: Produce v7 is the first version allowed to carry zstd batches (KIP-110).
_ZSTD_MIN_PRODUCE_VERSION: Final = 7

_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_PREFIX: Final = struct.Struct(">qii")
_CRC_COVERED_HEADER: Final = struct.Struct(">hiqqqhii")
_MAGIC_AND_CRC: Final = struct.Struct(">bI")
_INT32: Final = struct.Struct(">i")

assert _HEADER.size == BATCH_HEADER_SIZE
assert _PREFIX.size + _MAGIC_AND_CRC.size + _CRC_COVERED_HEADER.size == BATCH_HEADER_SIZE


@frozen
class BatchHeader:
    """The 61-byte header of a v2 record batch, field for field."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def last_offset(self) -> int:
        """The offset of the batch's last record (Kafka's C{lastOffset()})."""
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        """The offset that follows this batch."""
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size(self) -> int:
        """The whole batch in bytes, C{LOG_OVERHEAD} included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def compression(self) -> int:
        """The codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd."""
        return self.attributes & COMPRESSION_CODEC_MASK

    @property
    def timestamp_type(self) -> int:
        """L{CREATE_TIME} (0) or L{LOG_APPEND_TIME} (1)."""
        return 1 if self.attributes & TIMESTAMP_TYPE_MASK else 0

    @property
    def is_transactional(self) -> bool:
        """Whether the batch belongs to a transaction."""
        return bool(self.attributes & TRANSACTIONAL_FLAG_MASK)

    @property
    def is_control(self) -> bool:
        """Whether the batch holds control records (transaction markers etc.)."""
        return bool(self.attributes & CONTROL_FLAG_MASK)

    @property
    def has_delete_horizon(self) -> bool:
        """Whether C{base_timestamp} is the compaction delete horizon."""
        return bool(self.attributes & DELETE_HORIZON_FLAG_MASK)

    @property
    def has_producer_id(self) -> bool:
        """Whether the batch was written by an idempotent or transactional producer."""
        return self.producer_id > NO_PRODUCER_ID


def _view(buf: Buffer) -> memoryview:
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def parse_batch_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """
    Unpack the batch header at C{pos}, without checking magic, length or CRC.

    @raise RecordsError: C{CORRUPT_MESSAGE} if fewer than 61 bytes remain.
    """
    try:
        return BatchHeader(*_HEADER.unpack_from(buf, pos))
    except struct.error:
        raise RecordsError(
            ErrorCode.CORRUPT_MESSAGE,
            f"need {BATCH_HEADER_SIZE} bytes for a batch header at position {pos}",
        ) from None


def batch_crc(buf: Buffer, pos: int = 0, size: int | None = None) -> int:
    """
    Compute the CRC-32C of the batch at C{pos} (attributes to end of batch).

    @param size: The batch size including C{LOG_OVERHEAD}; read from the
        header when omitted.
    """
    mv = _view(buf)
    if size is None:
        (length,) = _INT32.unpack_from(mv, pos + LENGTH_OFFSET)
        size = length + LOG_OVERHEAD
    return crc32c(mv[pos + ATTRIBUTES_OFFSET : pos + size])


def _read_batch(mv: memoryview, pos: int, end: int) -> BatchHeader | None:
    """
    Return the header of the complete batch at C{pos}, or None at an incomplete tail.

    The checks and their order follow Kafka's C{ByteBufferLogInputStream}.

    @raise RecordsError: C{CORRUPT_MESSAGE} for an impossible length or magic;
        C{INVALID_RECORD} for a legacy (magic 0 or 1) batch, which Kafka 4
        refuses from producers.
    """
    remaining = end - pos
    if remaining < LOG_OVERHEAD:
        return None
    (length,) = _INT32.unpack_from(mv, pos + LENGTH_OFFSET)
    if length < _MIN_ANY_BATCH_LENGTH:
        raise RecordsError(
            ErrorCode.CORRUPT_MESSAGE,
            f"record batch length {length} at position {pos} is below the minimum "
            f"record overhead ({_MIN_ANY_BATCH_LENGTH})",
        )
    if remaining < HEADER_SIZE_UP_TO_MAGIC:
        return None
    magic = mv[pos + MAGIC_OFFSET]
    if magic != MAGIC_V2:
        if magic in (0, 1):
            raise RecordsError(
                ErrorCode.INVALID_RECORD,
                f"record batch at position {pos} has magic {magic}; only magic 2 "
                "record batches are supported",
            )
        raise RecordsError(
            ErrorCode.CORRUPT_MESSAGE,
            f"invalid magic {magic if magic < 128 else magic - 256} at position {pos}",
        )
    if length < MIN_BATCH_LENGTH:
        raise RecordsError(
            ErrorCode.CORRUPT_MESSAGE,
            f"record batch length {length} at position {pos} is smaller than a "
            f"v2 batch header ({MIN_BATCH_LENGTH})",
        )
    if remaining < length + LOG_OVERHEAD:
        return None
    return BatchHeader(*_HEADER.unpack_from(mv, pos))


def iter_batches(buf: Buffer, start: int = 0) -> Iterator[tuple[int, BatchHeader]]:
    """
    Yield C{(position, header)} for each complete batch in C{buf} from C{start}.

    Iteration stops quietly at an incomplete tail, as a Fetch response cut by
    C{max_bytes} or a torn log segment may end in part of a batch.  CRCs are
    not checked (see L{scan_batches}).

    @raise RecordsError: For a batch whose length or magic cannot be valid.
    """
    mv = _view(buf)
    end = len(mv)
    pos = start
    while True:
        header = _read_batch(mv, pos, end)
        if header is None:
            return
        yield pos, header
        pos += header.batch_length + LOG_OVERHEAD


def scan_batches(
    buf: Buffer, start: int = 0, *, check_crc: bool = False
) -> tuple[list[tuple[int, BatchHeader]], int]:
    """
    Find the valid batches of a log segment and where the valid data ends.

    Never raises for bad data: the scan stops at the first incomplete,
    impossible or (with C{check_crc}) CRC-failing batch, which is where log
    recovery truncates a torn tail.

    @return: C{(batches, valid_end)}: the C{(position, header)} pairs and the
        position just past the last valid batch (C{start} if there is none).
    """
    mv = _view(buf)
    end = len(mv)
    pos = start
    batches: list[tuple[int, BatchHeader]] = []
    while True:
        try:
            header = _read_batch(mv, pos, end)
        except RecordsError:
            break
        if header is None:
            break
        size = header.batch_length + LOG_OVERHEAD
        if check_crc and crc32c(mv[pos + ATTRIBUTES_OFFSET : pos + size]) != header.crc:
            break
        batches.append((pos, header))
        pos += size
    return batches, pos


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

    Nothing here looks at individual records, so Kafka's per-record checks
    (timestamps against C{message.timestamp.*.max.ms}, keys on compacted
    topics, inner offsets of compressed batches) are not made.

    @param api_version: The Produce request version, for the zstd rule.
    @return: The C{(position, header)} of every batch, in order.
    @raise RecordsError: On the first violation found.
    """
    mv = _view(buf)
    end = len(mv)
    if end == 0:
        raise RecordsError(
            ErrorCode.INVALID_RECORD,
            "Produce requests must have at least one record batch per partition",
        )
    batches: list[tuple[int, BatchHeader]] = []
    pos = 0
    while pos < end:
        header = _read_batch(mv, pos, end)
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

    Unlike Kafka, which recomputes a CreateTime batch's C{maxTimestamp} from
    its records, the header's C{maxTimestamp} is trusted.

    @param batches: From L{validate_produce_records} on the same C{buf}.
    @param base_offset: The log end offset: the first offset to assign.
    @param leader_epoch: The partition leader epoch to stamp.
    """
    mv = _view(buf)
    pieces: list[bytes | memoryview] = []
    offset = base_offset
    max_timestamp = NO_TIMESTAMP
    offset_of_max = -1
    size = 0
    pack_prefix = _PREFIX.pack
    for pos, header in batches:
        length = header.batch_length
        batch_end = pos + length + LOG_OVERHEAD
        last = offset + header.last_offset_delta
        if log_append_time_ms is None:
            pieces.append(pack_prefix(offset, length, leader_epoch))
            pieces.append(mv[pos + MAGIC_OFFSET : batch_end])
            timestamp = header.max_timestamp
        else:
            covered = _CRC_COVERED_HEADER.pack(
                header.attributes | TIMESTAMP_TYPE_MASK,
                header.last_offset_delta,
                header.base_timestamp,
                log_append_time_ms,
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.records_count,
            )
            crc = crc32c(mv[pos + RECORDS_OFFSET : batch_end], crc32c(covered))
            pieces.append(
                pack_prefix(offset, length, leader_epoch)
                + _MAGIC_AND_CRC.pack(MAGIC_V2, crc)
                + covered
            )
            pieces.append(mv[pos + RECORDS_OFFSET : batch_end])
            timestamp = log_append_time_ms
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


# Record level: off the hot path.

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
    mv = _view(batch)
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
        covered = _CRC_COVERED_HEADER.pack(
            attributes,
            len(records) - 1,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            len(records),
        )
        prefix = _PREFIX.pack(base_offset, MIN_BATCH_LENGTH + len(body), partition_leader_epoch)
    except struct.error as e:
        raise ValueError(f"batch header field out of range: {e}") from None
    crc = crc32c(body, crc32c(covered))
    return b"".join((prefix, _MAGIC_AND_CRC.pack(MAGIC_V2, crc), covered, body))
