"""Field-by-field decoding with the tester's strict length checks, record batches included."""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable
from typing import TypeVar

import crc32c

from tests.challenge.tester.record_batch import Record, RecordBatch, signed32

T = TypeVar("T")


class DecodeError(AssertionError):
    """A response could not be decoded the way the tester decodes it."""


class Reader:
    """Bounds-checked cursor over a byte string."""

    def __init__(self, data: bytes, name: str = "") -> None:
        self.data = bytes(data)
        self.offset = 0
        self.name = name

    def remaining(self) -> int:
        """Bytes left unread."""
        return len(self.data) - self.offset

    def fail(self, what: str, message: str) -> DecodeError:
        """The error for C{what}, located at the current offset."""
        prefix = f"{self.name}." if self.name else ""
        return DecodeError(f"{prefix}{what} (at payload offset {self.offset}): {message}")

    def take(self, count: int, what: str) -> bytes:
        """Read ``count`` raw bytes."""
        if count < 0:
            raise self.fail(what, f"negative length {count}")
        if self.remaining() < count:
            raise self.fail(what, f"expected {count} bytes, only {self.remaining()} remain")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def _signed(self, size: int, what: str) -> int:
        """A signed big-endian integer of C{size} bytes."""
        return int.from_bytes(self.take(size, what), "big", signed=True)

    def int8(self, what: str) -> int:
        """INT8."""
        return self._signed(1, what)

    def int16(self, what: str) -> int:
        """INT16."""
        return self._signed(2, what)

    def int32(self, what: str) -> int:
        """INT32."""
        return self._signed(4, what)

    def uint32(self, what: str) -> int:
        """UINT32."""
        return int.from_bytes(self.take(4, what), "big")

    def int64(self, what: str) -> int:
        """INT64."""
        return self._signed(8, what)

    def uvarint(self, what: str) -> int:
        """Unsigned varint (max 10 bytes)."""
        result = 0
        shift = 0
        for _ in range(10):
            if self.remaining() < 1:
                raise self.fail(what, "unexpected end of data in varint")
            byte = self.data[self.offset]
            self.offset += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
        raise self.fail(what, "varint longer than 10 bytes")

    def varint(self, what: str) -> int:
        """Signed zig-zag varint."""
        raw = self.uvarint(what)
        return (raw >> 1) ^ -(raw & 1)

    def compact_array_length(self, what: str) -> int | None:
        """Element count of a COMPACT_ARRAY, ``None`` when null."""
        raw = self.uvarint(what + ".length")
        return None if raw == 0 else raw - 1

    def compact_string(self, what: str) -> str:
        """COMPACT_STRING (null rejected, as the tester does)."""
        raw = self.uvarint(what + ".length")
        if raw == 0:
            raise self.fail(what, "compact string length cannot be 0 (null)")
        return self.take(raw - 1, what).decode("utf-8", errors="replace")

    def compact_nullable_string(self, what: str) -> str | None:
        """COMPACT_NULLABLE_STRING."""
        raw = self.uvarint(what + ".length")
        if raw == 0:
            return None
        return self.take(raw - 1, what).decode("utf-8", errors="replace")

    def uuid(self, what: str) -> str:
        """UUID, in its canonical text form."""
        return str(_uuid.UUID(bytes=self.take(16, what)))

    def boolean(self, what: str) -> bool:
        """BOOLEAN, which must be 0 or 1."""
        value = self.take(1, what)[0]
        if value not in (0, 1):
            raise self.fail(what, f"boolean must be 0 or 1, got {value}")
        return value == 1

    def tag_buffer(self, what: str) -> list[tuple[int, bytes]]:
        """Tagged-field section; fields are skipped, like the tester does."""
        count = self.uvarint(what + ".TAG_BUFFER")
        fields = []
        for _ in range(count):
            tag = self.uvarint(what + ".TAG_BUFFER.tag")
            size = self.uvarint(what + ".TAG_BUFFER.size")
            fields.append((tag, self.take(size, what + ".TAG_BUFFER.data")))
        return fields

    def expect_end(self, what: str) -> None:
        """Fail if bytes remain after the last field."""
        if self.remaining():
            raise self.fail(
                what,
                f"{self.remaining()} unexpected bytes remain after decoding the response: "
                f"{self.data[self.offset : self.offset + 32].hex(' ')}",
            )


def read_compact_array(
    reader: Reader, what: str, decode_element: Callable[[Reader, str], T]
) -> list[T]:
    """A COMPACT_ARRAY (null read as empty), each element decoded by C{decode_element}."""
    count = reader.compact_array_length(what)
    return [decode_element(reader, f"{what}[{i}]") for i in range(count or 0)]


def decode_record(reader: Reader, what: str) -> Record:
    """Decode one record with the tester's sanity checks."""
    length = reader.varint(what + ".Length")
    if length <= 0:
        raise reader.fail(what + ".Length", f"record length must be positive, got {length}")
    start = reader.offset
    attributes = reader.int8(what + ".Attributes")
    timestamp_delta = reader.varint(what + ".TimestampDelta")
    offset_delta = reader.varint(what + ".OffsetDelta")

    def nullable_bytes(name: str) -> bytes | None:
        size = reader.varint(f"{what}.{name}Length")
        if size < -1:
            raise reader.fail(f"{what}.{name}Length", f"length must be >= -1, got {size}")
        return None if size == -1 else reader.take(size, f"{what}.{name}")

    key = nullable_bytes("Key")
    value = nullable_bytes("Value")
    header_count = reader.varint(what + ".HeadersLength")
    if header_count < -1:
        raise reader.fail(what + ".HeadersLength", f"must be >= -1, got {header_count}")
    headers: tuple[tuple[bytes | None, bytes | None], ...] | None = None
    if header_count >= 0:
        decoded = []
        for index in range(header_count):
            header_key = nullable_bytes(f"Headers[{index}].Key")
            header_value = nullable_bytes(f"Headers[{index}].Value")
            decoded.append((header_key, header_value))
        headers = tuple(decoded)
    consumed = reader.offset - start
    if consumed != length:
        raise reader.fail(
            what + ".Length",
            f"record length says {length}, record has {consumed} bytes",
        )
    return Record(
        value=value,
        key=key,
        headers=headers,
        attributes=attributes,
        timestamp_delta=timestamp_delta,
        offset_delta=offset_delta,
    )


def decode_record_batch(reader: Reader, what: str = "RecordBatch") -> RecordBatch:
    """Decode one v2 batch; checks length > 0, CRC-32C and batch length."""
    base_offset = reader.int64(what + ".BaseOffset")
    batch_length = reader.int32(what + ".BatchLength")
    if batch_length <= 0:
        raise reader.fail(what + ".BatchLength", f"must be positive, got {batch_length}")
    start = reader.offset
    partition_leader_epoch = reader.int32(what + ".PartitionLeaderEpoch")
    magic = reader.int8(what + ".Magic")
    crc = reader.uint32(what + ".CRC")
    crc_start = reader.offset
    attributes = reader.int16(what + ".Attributes")
    last_offset_delta = reader.int32(what + ".LastOffsetDelta")
    first_timestamp = reader.int64(what + ".FirstTimestamp")
    max_timestamp = reader.int64(what + ".MaxTimestamp")
    producer_id = reader.int64(what + ".ProducerId")
    producer_epoch = reader.int16(what + ".ProducerEpoch")
    base_sequence = reader.int32(what + ".BaseSequence")
    count = reader.int32(what + ".Records.Length")
    if count < -1:
        raise reader.fail(what + ".Records.Length", f"must be -1 or >= 0, got {count}")
    records: tuple[Record, ...] | None = None
    if count >= 0:
        records = tuple(decode_record(reader, f"{what}.Records[{i}]") for i in range(count))
    end = reader.offset
    computed = crc32c.crc32c(reader.data[crc_start:end])
    if computed != crc:
        raise reader.fail(
            what + ".CRC",
            f"expected CRC-32C {signed32(computed)} (computed over attributes..end), "
            f"got {signed32(crc)}",
        )
    if end - start != batch_length:
        raise reader.fail(
            what + ".BatchLength",
            f"batch length says {batch_length}, batch has {end - start} bytes",
        )
    return RecordBatch(
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        attributes=attributes,
        last_offset_delta=last_offset_delta,
        first_timestamp=first_timestamp,
        max_timestamp=max_timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        records=records,
        magic=magic,
        crc=crc,
        batch_length=batch_length,
    )


def decode_log_segment(data: bytes, name: str = "log") -> list[RecordBatch]:
    """Decode every batch of a segment file (used for the real Kafka fixture too)."""
    reader = Reader(data, name)
    batches: list[RecordBatch] = []
    while reader.remaining():
        batches.append(decode_record_batch(reader, f"RecordBatches[{len(batches)}]"))
    return batches


def decode_compact_records(reader: Reader, what: str) -> list[RecordBatch]:
    """A COMPACT_RECORDS field: uvarint(size + 1) then whole batches."""
    raw_size = reader.uvarint(what + ".Size")
    size = 0 if raw_size in (0, 1) else raw_size - 1
    if reader.remaining() < size:
        raise reader.fail(
            what + ".Size",
            f"record bytes decoded as {size}, only {reader.remaining()} remain",
        )
    start = reader.offset
    batches: list[RecordBatch] = []
    while reader.offset < start + size:
        batches.append(decode_record_batch(reader, f"{what}[{len(batches)}]"))
    if reader.offset != start + size:
        raise reader.fail(
            what + ".Size",
            f"batches took {reader.offset - start} bytes, size says {size}",
        )
    return batches
