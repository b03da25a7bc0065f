"""RecordBatch v2 (magic 2): batch headers, walking batches, CRCs (``DefaultRecordBatch``).

Reference: https://kafka.apache.org/documentation/#recordbatch and, in Kafka's
``clients`` module, ``org.apache.kafka.common.record.DefaultRecordBatch`` and
``ByteBufferLogInputStream``.  Validation of produced batches and offset
assignment live in L{kafkatwist.wire.validator} (Kafka's ``LogValidator``);
the records inside a batch in L{kafkatwist.wire.record} (``DefaultRecord``).

Everything here works per batch, never per record: one precompiled
C{struct.Struct} unpack of the 61-byte header, one C CRC-32C call over the
batch, and C{memoryview} slices instead of copies of the batch body.

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
from collections.abc import Iterator
from typing import Final

from attrs import frozen

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.primitives import Buffer

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

#: Kafka's C{ControlRecordType}: the type in a control record's key.
CONTROL_TYPE_ABORT: Final = 0
CONTROL_TYPE_COMMIT: Final = 1

_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
#: baseOffset, batchLength, partitionLeaderEpoch: the 16 bytes before the
#: magic, outside the CRC (offset assignment rewrites them).
PREFIX: Final = struct.Struct(">qii")
_CRC_COVERED_HEADER: Final = struct.Struct(">hiqqqhii")
_MAGIC_AND_CRC: Final = struct.Struct(">bI")
_INT32: Final = struct.Struct(">i")

assert _HEADER.size == BATCH_HEADER_SIZE
assert PREFIX.size + _MAGIC_AND_CRC.size + _CRC_COVERED_HEADER.size == BATCH_HEADER_SIZE


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


def byte_view(buf: Buffer) -> memoryview:
    """C{buf} as a flat memoryview of unsigned bytes, without copying it."""
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
    mv = byte_view(buf)
    if size is None:
        (length,) = _INT32.unpack_from(mv, pos + LENGTH_OFFSET)
        size = length + LOG_OVERHEAD
    return crc32c(mv[pos + ATTRIBUTES_OFFSET : pos + size])


def read_batch_header(mv: memoryview, pos: int, end: int) -> BatchHeader | None:
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
    mv = byte_view(buf)
    end = len(mv)
    pos = start
    while True:
        header = read_batch_header(mv, pos, end)
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
    mv = byte_view(buf)
    end = len(mv)
    pos = start
    batches: list[tuple[int, BatchHeader]] = []
    while True:
        try:
            header = read_batch_header(mv, pos, end)
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


def encode_batch_header(
    body: Buffer,
    *,
    base_offset: int,
    partition_leader_epoch: int,
    attributes: int,
    last_offset_delta: int,
    base_timestamp: int,
    max_timestamp: int,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    records_count: int,
) -> bytes:
    """
    Encode the 61-byte header of a batch whose records section is C{body}.

    C{batchLength} follows from C{len(body)}, and the CRC-32C is computed
    over the header's covered fields and then continued over C{body}, which
    is read but not copied.

    @raise struct.error: For a field out of its range.
    """
    covered = _CRC_COVERED_HEADER.pack(
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        records_count,
    )
    crc = crc32c(body, crc32c(covered))
    return (
        PREFIX.pack(base_offset, MIN_BATCH_LENGTH + len(body), partition_leader_epoch)
        + _MAGIC_AND_CRC.pack(MAGIC_V2, crc)
        + covered
    )


# -- transaction markers (control batches) ------------------------------------

#: A control record's key (Kafka's C{ControlRecordType.recordKey}): version, type.
_CONTROL_KEY: Final = struct.Struct(">hh")
#: An end transaction marker's value (Kafka's C{EndTransactionMarker}): version,
#: coordinator epoch.
_END_TXN_VALUE: Final = struct.Struct(">hi")
#: The one record of a marker batch, after its length varint: attributes 0,
#: timestampDelta 0, offsetDelta 0, keyLength 4, (key), valueLength 6,
#: (value), headers 0; every varint (zigzag) fits one byte.
_MARKER_RECORD_LENGTH: Final = 16


@frozen
class EndTxnMarker:
    """The end transaction marker a control batch carries (Kafka's C{EndTransactionMarker})."""

    commit: bool
    coordinator_epoch: int


def build_end_txn_marker(
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    commit: bool,
    timestamp: int,
    partition_leader_epoch: int = 0,
) -> bytes:
    """
    A commit or abort marker: one control batch at base offset 0, as Kafka writes it.

    The bytes of Kafka's C{MemoryRecords.writeEndTransactionalMarker}: magic
    2, no compression, CreateTime, the transactional and control bits, no
    sequence, C{timestamp} as both batch timestamps, and one record whose
    key is the control record key (version 0, type 0 abort / 1 commit) and
    whose value is the marker (version 0, coordinator epoch). The log
    assigns the real offset when it appends the batch.
    """
    control_type = CONTROL_TYPE_COMMIT if commit else CONTROL_TYPE_ABORT
    key = _CONTROL_KEY.pack(0, control_type)
    value = _END_TXN_VALUE.pack(0, coordinator_epoch)
    # Varints are zigzag: 16 -> 0x20, 0 -> 0x00, 4 -> 0x08, 6 -> 0x0c.
    record = bytes((2 * _MARKER_RECORD_LENGTH, 0, 0, 0, 2 * len(key))) + key
    record += bytes((2 * len(value),)) + value + b"\x00"
    header = encode_batch_header(
        record,
        base_offset=0,
        partition_leader_epoch=partition_leader_epoch,
        attributes=TRANSACTIONAL_FLAG_MASK | CONTROL_FLAG_MASK,
        last_offset_delta=0,
        base_timestamp=timestamp,
        max_timestamp=timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=NO_SEQUENCE,
        records_count=1,
    )
    return header + record


def _read_varint(mv: memoryview, pos: int, end: int) -> tuple[int, int]:
    """A zigzag varint at C{pos}: C{(value, next position)}; C{ValueError} past C{end}."""
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated varint")
        byte = mv[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def read_end_txn_marker(buf: Buffer, pos: int, header: BatchHeader) -> EndTxnMarker | None:
    """
    The marker of the control batch at C{pos}, read from its first record's key and value.

    Per batch, never per record: a marker batch holds one record. C{None}
    for a control batch that is not a commit or abort marker (an empty,
    compressed or unreadable one, or another control type), which the
    producer state then ignores as Kafka ignores an empty control batch.
    """
    if not header.is_control or header.records_count < 1 or header.compression:
        return None
    mv = byte_view(buf)
    end = min(len(mv), pos + header.size)
    try:
        at = pos + RECORDS_OFFSET
        _, at = _read_varint(mv, at, end)  # record length
        at += 1  # attributes
        _, at = _read_varint(mv, at, end)  # timestampDelta
        _, at = _read_varint(mv, at, end)  # offsetDelta
        key_length, at = _read_varint(mv, at, end)
        if key_length < _CONTROL_KEY.size or at + key_length > end:
            return None
        _, control_type = _CONTROL_KEY.unpack_from(mv, at)
        at += key_length
        value_length, at = _read_varint(mv, at, end)
        if value_length < _END_TXN_VALUE.size or at + value_length > end:
            return None
        version, coordinator_epoch = _END_TXN_VALUE.unpack_from(mv, at)
    except ValueError:
        return None
    if control_type not in (CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT) or version < 0:
        return None
    return EndTxnMarker(control_type == CONTROL_TYPE_COMMIT, coordinator_epoch)
