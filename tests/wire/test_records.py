"""Tests for kafkatwist.wire.records: RecordBatch v2 against real broker bytes."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import attrs
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire import compression
from kafkatwist.wire.batch import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CREATE_TIME,
    LOG_APPEND_TIME,
    LOG_OVERHEAD,
    BatchHeader,
    batch_crc,
    iter_batches,
    parse_batch_header,
    scan_batches,
)
from kafkatwist.wire.crc32c import IMPLEMENTATION, crc32c, crc32c_py
from kafkatwist.wire.primitives import encode_varint
from kafkatwist.wire.record import NewRecord, RecordInput, build_batch, decode_batch_records
from kafkatwist.wire.validator import assign_offsets, validate_produce_records

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SHARED_LOGS = Path("/work/shared/fixtures/kraft-combined-logs")
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


def simple_batch(count: int = 3, **kwargs: object) -> bytes:
    """Build a small uncompressed batch of C{count} records."""
    records = [(b"k%d" % i, b"value-%d" % i) for i in range(count)]
    kwargs.setdefault("base_timestamp", 1_700_000_000_000)
    return build_batch(records, **kwargs)  # type: ignore[arg-type]


def joined(pieces: list[bytes | memoryview]) -> bytes:
    """Concatenate write pieces, as the log writer would."""
    return b"".join(bytes(p) for p in pieces)


class BatchHeaderTests(SynchronousTestCase):
    """Parsing the 61-byte header and its derived properties."""

    def test_layout_constants(self) -> None:
        """The header is 61 bytes and the log overhead 12, as in Kafka."""
        self.assertEqual(BATCH_HEADER_SIZE, 61)
        self.assertEqual(LOG_OVERHEAD, 12)
        self.assertEqual(ATTRIBUTES_OFFSET, 21)

    def test_real_producer_batch(self) -> None:
        """Every header field of a real broker's batch parses to its known value."""
        header = parse_batch_header(FOO)
        self.assertEqual(
            header,
            BatchHeader(
                base_offset=0,
                batch_length=68,
                partition_leader_epoch=0,
                magic=2,
                crc=0x98EC18D3,
                attributes=0,
                last_offset_delta=0,
                base_timestamp=1726045973899,
                max_timestamp=1726045973899,
                producer_id=0,
                producer_epoch=0,
                base_sequence=0,
                records_count=1,
            ),
        )
        self.assertEqual(header.size, len(FOO))
        self.assertEqual(header.last_offset, 0)
        self.assertEqual(header.next_offset, 1)
        self.assertEqual(header.compression, 0)
        self.assertEqual(header.timestamp_type, CREATE_TIME)
        self.assertFalse(header.is_transactional)
        self.assertFalse(header.is_control)
        self.assertFalse(header.has_delete_horizon)
        self.assertTrue(header.has_producer_id)

    def test_real_metadata_batches(self) -> None:
        """The controller's two batches parse with their offsets, counts and epochs."""
        first = parse_batch_header(METADATA, 0)
        second = parse_batch_header(METADATA, 145)
        self.assertEqual(
            (first.base_offset, first.last_offset, first.next_offset, first.size),
            (1, 4, 5, 145),
        )
        self.assertEqual((first.records_count, first.partition_leader_epoch), (4, 1))
        self.assertEqual(
            (second.base_offset, second.last_offset, second.size, second.records_count),
            (34, 35, 166, 2),
        )
        self.assertEqual(first.crc, 0x9E9240F0)
        self.assertFalse(first.has_producer_id)
        self.assertEqual(first.producer_epoch, -1)

    def test_attribute_bits(self) -> None:
        """Each attribute bit maps to its own property."""
        base = parse_batch_header(FOO)
        values = {
            0x03: ("compression", 3),
            0x08: ("timestamp_type", LOG_APPEND_TIME),
            0x10: ("is_transactional", True),
            0x20: ("is_control", True),
            0x40: ("has_delete_horizon", True),
        }
        for bits, (name, expected) in values.items():
            header = BatchHeader(**{**_fields(base), "attributes": bits})
            self.assertEqual(getattr(header, name), expected, name)

    def test_short_buffer(self) -> None:
        """A buffer shorter than a header gives CORRUPT_MESSAGE, not struct.error."""
        error = self.assertRaises(RecordsError, parse_batch_header, FOO[:60])
        self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE)


def _fields(header: BatchHeader) -> dict[str, int]:
    return attrs.asdict(header)


class CrcTests(SynchronousTestCase):
    """CRC-32C computation and checking."""

    def test_real_batches_have_valid_crc(self) -> None:
        """The CRC stored by a real broker equals the CRC we compute."""
        self.assertEqual(batch_crc(FOO), parse_batch_header(FOO).crc)
        for pos in METADATA_POSITIONS:
            self.assertEqual(batch_crc(METADATA, pos), parse_batch_header(METADATA, pos).crc)

    def test_check_value(self) -> None:
        """Both implementations give the standard CRC-32C check value for '123456789'."""
        self.assertEqual(crc32c(b"123456789"), 0xE3069283)
        self.assertEqual(crc32c_py(b"123456789"), 0xE3069283)

    def test_python_fallback_matches_c(self) -> None:
        """The pure-Python fallback equals the C implementation, also when continued."""
        self.assertEqual(IMPLEMENTATION, "c")
        rng = random.Random(1234)
        for size in (0, 1, 7, 8, 61, 255, 4096):
            data = rng.randbytes(size)
            self.assertEqual(crc32c_py(data), crc32c(data), size)
            split = size // 3
            self.assertEqual(
                crc32c_py(data[split:], crc32c_py(data[:split])),
                crc32c(data[split:], crc32c(data[:split])),
            )
        self.assertEqual(crc32c_py(memoryview(METADATA)[21:145]), 0x9E9240F0)

    def test_every_covered_byte_is_checked(self) -> None:
        """Flipping any byte from attributes to the end gives CORRUPT_MESSAGE."""
        for index in range(ATTRIBUTES_OFFSET, len(FOO)):
            corrupt = bytearray(FOO)
            corrupt[index] ^= 0x01
            error = self.assertRaises(
                RecordsError,
                validate_produce_records,
                bytes(corrupt),
                max_batch_bytes=MAX,
            )
            self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE, index)

    def test_stored_crc_mismatch(self) -> None:
        """A wrong stored CRC is detected by validation, decoding and CRC-checked scans."""
        corrupt = patch(FOO, ">I", 17, 0xDEADBEEF, fix_crc=False)
        error = self.assertRaises(
            RecordsError, validate_produce_records, corrupt, max_batch_bytes=MAX
        )
        self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE)
        error = self.assertRaises(RecordsError, decode_batch_records, corrupt)
        self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE)
        self.assertEqual(scan_batches(corrupt, check_crc=True), ([], 0))
        self.assertEqual(len(scan_batches(corrupt)[0]), 1)

    def test_prefix_is_not_covered(self) -> None:
        """Base offset, length and leader epoch are outside the CRC."""
        changed = patch(FOO, ">q", 0, 99, fix_crc=False)
        changed = patch(changed, ">i", 12, 42, fix_crc=False)
        self.assertEqual(batch_crc(changed), parse_batch_header(FOO).crc)


class IterationTests(SynchronousTestCase):
    """Walking concatenated batches, as in a segment or a Fetch response."""

    def test_iter_real_segment(self) -> None:
        """Iterating the metadata segment yields both batches at their positions."""
        found = list(iter_batches(METADATA))
        self.assertEqual([pos for pos, _ in found], METADATA_POSITIONS)
        self.assertEqual([h.base_offset for _, h in found], [1, 34])

    def test_iter_from_start(self) -> None:
        """Iteration can start at a given position."""
        found = list(iter_batches(METADATA, 145))
        self.assertEqual([pos for pos, _ in found], [145])

    def test_every_truncation_is_a_clean_tail(self) -> None:
        """Cut anywhere, iteration yields the whole batches before the cut and stops."""
        for cut in range(len(METADATA) + 1):
            found = [pos for pos, _ in iter_batches(METADATA[:cut])]
            expected = [p for p in METADATA_POSITIONS if p + _size_at(METADATA, p) <= cut]
            self.assertEqual(found, expected, cut)

    def test_scan_reports_valid_end(self) -> None:
        """scan_batches reports where the complete batches end, for every cut."""
        for cut in range(len(METADATA) + 1):
            for check_crc in (False, True):
                batches, valid_end = scan_batches(METADATA[:cut], check_crc=check_crc)
                expected = 0 if cut < 145 else 145 if cut < 311 else 311
                self.assertEqual(valid_end, expected, cut)
                self.assertEqual(len(batches), [0, 145, 311].index(expected))

    def test_scan_stops_at_zero_filled_tail(self) -> None:
        """A zero-filled (preallocated) tail ends the valid data without an error."""
        batches, valid_end = scan_batches(METADATA + bytes(4096))
        self.assertEqual((len(batches), valid_end), (2, 311))

    def test_scan_stops_at_corrupt_batch(self) -> None:
        """A CRC-checked scan stops before the first corrupt batch."""
        corrupt = bytearray(METADATA)
        corrupt[200] ^= 0xFF
        self.assertEqual(scan_batches(bytes(corrupt), check_crc=True)[1], 145)
        self.assertEqual(scan_batches(bytes(corrupt))[1], 311)

    def test_iter_raises_on_impossible_length(self) -> None:
        """A length below any batch's minimum is corrupt, not an incomplete tail."""
        bad = patch(FOO, ">i", 8, 13, fix_crc=False)
        error = self.assertRaises(RecordsError, list, iter_batches(bad))
        self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE)

    def test_iter_raises_on_bad_magic(self) -> None:
        """An unknown magic byte is corrupt."""
        bad = patch(FOO, ">b", 16, 7, fix_crc=False)
        error = self.assertRaises(RecordsError, list, iter_batches(bad))
        self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE)

    def test_accepts_memoryview_and_bytearray(self) -> None:
        """Any bytes-like buffer can be walked."""
        for buf in (bytearray(METADATA), memoryview(METADATA)):
            self.assertEqual(len(list(iter_batches(buf))), 2)


def _size_at(buf: bytes, pos: int) -> int:
    return struct.unpack_from(">i", buf, pos + 8)[0] + LOG_OVERHEAD


def assertRecordsError(
    case: SynchronousTestCase, code: ErrorCode, buf: bytes, **kwargs: object
) -> RecordsError:
    """Assert that validating C{buf} raises RecordsError with C{code}."""
    kwargs.setdefault("max_batch_bytes", MAX)
    error = case.assertRaises(RecordsError, validate_produce_records, buf, **kwargs)
    case.assertEqual(error.code, code, error.message)
    return error


class ValidateProduceTests(SynchronousTestCase):
    """Produce-side validation, per batch."""

    def test_real_client_batch_is_valid(self) -> None:
        """A batch written by a real idempotent producer passes."""
        batches = validate_produce_records(FOO, max_batch_bytes=MAX)
        self.assertEqual(batches, [(0, parse_batch_header(FOO))])

    def test_built_batch_is_valid(self) -> None:
        """A batch from build_batch passes too, with the api_version given."""
        batch = simple_batch(5, compression=compression.ZSTD)
        self.assertEqual(
            len(validate_produce_records(batch, max_batch_bytes=MAX, api_version=9)), 1
        )

    def test_empty_records(self) -> None:
        """An empty records field is INVALID_RECORD, as Kafka's ProduceRequest says."""
        assertRecordsError(self, ErrorCode.INVALID_RECORD, b"")

    def test_every_truncation(self) -> None:
        """Any cut of a batch gives CORRUPT_MESSAGE, never another exception."""
        for batch in (FOO, simple_batch(4, compression=compression.LZ4)):
            for cut in range(1, len(batch)):
                assertRecordsError(self, ErrorCode.CORRUPT_MESSAGE, batch[:cut])

    def test_trailing_partial_batch(self) -> None:
        """Bytes that end inside a second batch are CORRUPT_MESSAGE."""
        assertRecordsError(self, ErrorCode.CORRUPT_MESSAGE, FOO + FOO[:30])

    def test_random_mutations_only_raise_records_error(self) -> None:
        """Randomly damaged batches either validate or raise RecordsError."""
        rng = random.Random(99)
        source = simple_batch(3)
        for _ in range(3000):
            damaged = bytearray(source)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            if rng.random() < 0.5:
                struct.pack_into(">I", damaged, 17, crc32c(bytes(damaged[21:])))
            try:
                validate_produce_records(bytes(damaged), max_batch_bytes=MAX)
            except RecordsError:
                pass
            try:
                decode_batch_records(bytes(damaged), check_crc=False)
            except RecordsError:
                pass

    def test_legacy_magic(self) -> None:
        """Magic 0 and 1 are INVALID_RECORD: Kafka 4 takes only magic 2 from producers."""
        for magic in (0, 1):
            assertRecordsError(self, ErrorCode.INVALID_RECORD, patch(FOO, ">b", 16, magic))

    def test_unknown_magic(self) -> None:
        """Magic above 2 or negative is CORRUPT_MESSAGE."""
        for magic in (3, -1):
            assertRecordsError(self, ErrorCode.CORRUPT_MESSAGE, patch(FOO, ">b", 16, magic))

    def test_bad_lengths(self) -> None:
        """Lengths below the v2 header size are CORRUPT_MESSAGE."""
        for length in (-1, 0, 13, 14, 48):
            assertRecordsError(self, ErrorCode.CORRUPT_MESSAGE, patch(FOO, ">i", 8, length))

    def test_more_than_one_batch(self) -> None:
        """Two batches are INVALID_RECORD unless multiple batches are allowed."""
        assertRecordsError(self, ErrorCode.INVALID_RECORD, FOO + FOO)
        batches = validate_produce_records(
            FOO + FOO, max_batch_bytes=MAX, allow_multiple_batches=True
        )
        self.assertEqual([pos for pos, _ in batches], [0, 80])

    def test_message_too_large(self) -> None:
        """A batch larger than max_batch_bytes (log overhead included) is MESSAGE_TOO_LARGE."""
        assertRecordsError(self, ErrorCode.MESSAGE_TOO_LARGE, FOO, max_batch_bytes=79)
        self.assertEqual(len(validate_produce_records(FOO, max_batch_bytes=80)), 1)

    def test_non_zero_base_offset(self) -> None:
        """A client batch must have base offset 0."""
        assertRecordsError(self, ErrorCode.INVALID_RECORD, patch(FOO, ">q", 0, 5))

    def test_count_and_delta_mismatch(self) -> None:
        """recordsCount must equal lastOffsetDelta + 1 and be positive."""
        batch = simple_batch(3)
        assertRecordsError(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 57, 2))
        assertRecordsError(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 57, -1))
        assertRecordsError(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 57, 0))
        assertRecordsError(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 23, -1))
        assertRecordsError(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 23, 5))

    def test_control_batch(self) -> None:
        """Clients may not write control batches."""
        assertRecordsError(self, ErrorCode.INVALID_RECORD, simple_batch(1, is_control=True))

    def test_producer_id_without_sequence(self) -> None:
        """A producer id with a negative base sequence is INVALID_RECORD."""
        batch = simple_batch(2, producer_id=7, producer_epoch=0, base_sequence=-1)
        assertRecordsError(self, ErrorCode.INVALID_RECORD, batch)

    def test_unknown_codec(self) -> None:
        """Codec ids 5 to 7 are UNSUPPORTED_COMPRESSION_TYPE."""
        for codec in (5, 6, 7):
            bad = patch(FOO, ">h", 21, codec)
            assertRecordsError(self, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, bad)

    def test_zstd_needs_produce_v7(self) -> None:
        """zstd batches in Produce requests before v7 are UNSUPPORTED_COMPRESSION_TYPE."""
        batch = simple_batch(2, compression=compression.ZSTD)
        assertRecordsError(self, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, batch, api_version=6)
        self.assertEqual(
            len(validate_produce_records(batch, max_batch_bytes=MAX, api_version=7)), 1
        )


class AssignOffsetsTests(SynchronousTestCase):
    """Offset assignment by prefix rewrite."""

    def test_prefix_rewritten_and_crc_still_valid(self) -> None:
        """The new bytes carry the new base offset and epoch and keep a valid CRC."""
        batches = validate_produce_records(FOO, max_batch_bytes=MAX)
        result = assign_offsets(FOO, batches, 42, leader_epoch=7)
        written = joined(result.pieces)
        header = parse_batch_header(written)
        self.assertEqual(len(written), len(FOO))
        self.assertEqual((header.base_offset, header.partition_leader_epoch), (42, 7))
        self.assertEqual(header.crc, parse_batch_header(FOO).crc)
        self.assertEqual(batch_crc(written), header.crc)
        self.assertEqual(written[16:], FOO[16:])
        self.assertEqual(decode_batch_records(written)[0].offset, 42)
        self.assertEqual(
            (result.base_offset, result.last_offset, result.next_offset, result.size),
            (42, 42, 43, 80),
        )
        self.assertEqual(result.log_append_time_ms, -1)

    def test_body_is_not_copied(self) -> None:
        """Each batch body is a memoryview into the request buffer."""
        request = bytes(FOO)
        result = assign_offsets(
            request,
            validate_produce_records(request, max_batch_bytes=MAX),
            0,
            leader_epoch=0,
        )
        self.assertEqual(len(result.pieces), 2)
        self.assertEqual(len(result.pieces[0]), 16)
        body = result.pieces[1]
        assert isinstance(body, memoryview)
        self.assertIs(body.obj, request)

    def test_consecutive_batches(self) -> None:
        """Several batches get consecutive offset ranges and the max timestamp's batch."""
        first = simple_batch(3, base_timestamp=1000)
        second = simple_batch(2, base_timestamp=5000)
        third = simple_batch(4, base_timestamp=2000)
        buf = first + second + third
        batches = validate_produce_records(buf, max_batch_bytes=MAX, allow_multiple_batches=True)
        result = assign_offsets(buf, batches, 100, leader_epoch=3)
        written = joined(result.pieces)
        found = [(h.base_offset, h.last_offset) for _, h in iter_batches(written)]
        self.assertEqual(found, [(100, 102), (103, 104), (105, 108)])
        self.assertEqual(result.next_offset, 109)
        self.assertEqual((result.max_timestamp, result.offset_of_max_timestamp), (5000, 104))
        self.assertEqual(scan_batches(written, check_crc=True)[1], len(buf))

    def test_log_append_time(self) -> None:
        """LogAppendTime sets the attribute bit and maxTimestamp and recomputes the CRC."""
        batch = simple_batch(3, base_timestamp=1000)
        batches = validate_produce_records(batch, max_batch_bytes=MAX)
        result = assign_offsets(batch, batches, 10, leader_epoch=1, log_append_time_ms=9999)
        written = joined(result.pieces)
        header = parse_batch_header(written)
        self.assertEqual(header.timestamp_type, LOG_APPEND_TIME)
        self.assertEqual((header.base_timestamp, header.max_timestamp), (1000, 9999))
        self.assertEqual(batch_crc(written), header.crc)
        self.assertNotEqual(header.crc, batches[0][1].crc)
        self.assertEqual(written[BATCH_HEADER_SIZE:], batch[BATCH_HEADER_SIZE:])
        self.assertEqual({r.timestamp for r in decode_batch_records(written)}, {9999})
        self.assertEqual((result.max_timestamp, result.offset_of_max_timestamp), (9999, 12))
        self.assertEqual(result.log_append_time_ms, 9999)
        body = result.pieces[1]
        assert isinstance(body, memoryview)
        self.assertIs(body.obj, batch)

    def test_log_append_time_on_real_batch(self) -> None:
        """A real broker batch restamped with LogAppendTime still validates."""
        result = assign_offsets(
            FOO,
            validate_produce_records(FOO, max_batch_bytes=MAX),
            0,
            leader_epoch=0,
            log_append_time_ms=1,
        )
        written = joined(result.pieces)
        self.assertEqual(scan_batches(written, check_crc=True)[1], len(FOO))

    def test_no_batches(self) -> None:
        """Nothing to assign leaves the next offset unchanged."""
        result = assign_offsets(b"", [], 5, leader_epoch=0)
        self.assertEqual((result.pieces, result.next_offset, result.max_timestamp), ([], 5, -1))


class RecordDecodingTests(SynchronousTestCase):
    """Record-level decoding of whole batches."""

    def test_real_producer_record(self) -> None:
        """The real producer's record decodes to its key, value and timestamp."""
        [record] = decode_batch_records(FOO)
        self.assertEqual((record.key, record.value, record.headers), (None, b"Hello World!", ()))
        self.assertEqual((record.offset, record.offset_delta), (0, 0))
        self.assertEqual((record.timestamp, record.timestamp_delta), (1726045973899, 0))
        self.assertEqual(record.attributes, 0)

    def test_real_metadata_records(self) -> None:
        """The controller's records decode to KRaft metadata record values."""
        first = decode_batch_records(memoryview(METADATA)[0:145])
        self.assertEqual([r.offset for r in first], [1, 2, 3, 4])
        self.assertEqual({r.key for r in first}, {None})
        self.assertEqual(first[0].value, b"\x01\x17\x00\x01\x00\x12\x12Bootstrap records")
        # FeatureLevelRecord (api key 12): metadata.version = 20.
        self.assertEqual(first[1].value, b"\x01\x0c\x00\x11metadata.version\x00\x14\x00")
        second = decode_batch_records(METADATA[145:])
        self.assertEqual([r.offset for r in second], [34, 35])
        # TopicRecord (api key 2) for topic "foo".
        self.assertEqual((second[0].value or b"")[:7], b"\x01\x02\x00\x04foo")
        self.assertEqual((second[1].value or b"")[:2], b"\x01\x03")

    def test_log_append_time_records(self) -> None:
        """Records of a LogAppendTime batch take the batch's maxTimestamp."""
        batch = simple_batch(2, base_timestamp=10, timestamp_type=LOG_APPEND_TIME)
        batch = patch(batch, ">q", 35, 777)
        self.assertEqual([r.timestamp for r in decode_batch_records(batch)], [777, 777])

    def test_malformed_records(self) -> None:
        """Records that do not match the declared sizes are CORRUPT_MESSAGE."""
        batch = simple_batch(3)
        cases = [
            patch(batch, ">i", 57, 4),  # one record more than present
            patch(batch, ">i", 57, 2),  # bytes left over
            patch(batch, ">i", 57, -1),
            patch(batch, ">b", 61, 0x7E),  # record length 63 runs past the end
            patch(batch, ">b", 61, 0x7F),  # record length -64
            patch(batch, ">b", 61, 0x00),  # zero-length record
            batch[:-1] + b"\x03",  # header count becomes -2
            patch(batch, ">b", 16, 1),  # magic 1
            patch(batch, ">i", 8, 500),  # batch longer than the buffer
        ]
        for bad in cases:
            error = self.assertRaises(RecordsError, decode_batch_records, bad, check_crc=False)
            self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE, error.message)

    def test_null_header_key(self) -> None:
        """A header with a null key is CORRUPT_MESSAGE."""
        batch = build_batch([NewRecord(b"k", b"v", (("h", b"x"),))], base_timestamp=0)
        index = batch.index(b"\x02h")
        bad = batch[:index] + b"\x01" + batch[index + 2 :]
        # Fix the record length (one byte shorter) so only the header key is wrong.
        bad = bad[:61] + bytes([bad[61] - 2]) + bad[62:]
        bad = patch(bad, ">i", 8, len(bad) - 12)
        error = self.assertRaises(RecordsError, decode_batch_records, bad)
        self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE)

    def test_compressed_real_batch_content(self) -> None:
        """A compressed batch decodes to the same records as its uncompressed twin."""
        values = [NewRecord(None, b"Hello World!" * n, (("h", None),), 50 + n) for n in range(20)]
        plain = decode_batch_records(build_batch(values, base_timestamp=50))
        for codec in (1, 2, 3, 4):
            batch = build_batch(values, base_timestamp=50, compression=codec)
            self.assertEqual(parse_batch_header(batch).compression, codec)
            self.assertEqual(decode_batch_records(batch), plain)

    def test_corrupt_compressed_body(self) -> None:
        """A compressed body that does not decompress is CORRUPT_MESSAGE."""
        for codec in (1, 2, 3, 4):
            batch = simple_batch(2, compression=codec)
            bad = batch[:61] + b"\x00garbage!" * 3
            bad = patch(bad, ">i", 8, len(bad) - 12)
            error = self.assertRaises(RecordsError, decode_batch_records, bad)
            self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE, codec)


class VarintTests(SynchronousTestCase):
    """Malformed varints inside records (the coding itself is tested with primitives)."""

    def test_bad_varints(self) -> None:
        """Truncated, over-long and overflowing varints in a record are CORRUPT_MESSAGE."""
        header = build_batch([(None, b"x")], base_timestamp=0)[:BATCH_HEADER_SIZE]
        bodies = [
            b"",  # no record length at all
            b"\x80",  # truncated record length
            b"\xff\xff\xff\xff\xff\x01",  # a six-byte record length
            b"\xff\xff\xff\xff\x1f",  # a 35-bit record length
        ]
        for bad_varlong in (b"\xff" * 10 + b"\x01", b"\xff" * 9 + b"\x03"):
            # An eleven-byte and a 65-bit timestamp delta, after the attributes.
            record = b"\x00" + bad_varlong
            bodies.append(encode_varint(len(record)) + record)
        for body in bodies:
            batch = patch(header + body, ">i", 8, len(header + body) - LOG_OVERHEAD)
            error = self.assertRaises(RecordsError, decode_batch_records, batch)
            self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE, body)


class BuildBatchTests(SynchronousTestCase):
    """Encoding batches, checked against real broker bytes."""

    def test_rebuilds_real_producer_batch(self) -> None:
        """build_batch reproduces the real broker's producer batch byte for byte."""
        built = build_batch(
            [(None, b"Hello World!")],
            base_timestamp=1726045973899,
            producer_id=0,
            producer_epoch=0,
            base_sequence=0,
            partition_leader_epoch=0,
        )
        self.assertEqual(built, FOO)

    def test_rebuilds_real_metadata_batches(self) -> None:
        """build_batch reproduces both of the controller's batches byte for byte."""
        for pos in METADATA_POSITIONS:
            original = METADATA[pos : pos + _size_at(METADATA, pos)]
            header = parse_batch_header(original)
            built = build_batch(
                [(r.key, r.value, r.headers) for r in decode_batch_records(original)],
                base_offset=header.base_offset,
                base_timestamp=header.base_timestamp,
                partition_leader_epoch=header.partition_leader_epoch,
            )
            self.assertEqual(built, original)

    def test_round_trip(self) -> None:
        """Header fields and records survive build, parse and decode."""
        records: list[RecordInput] = [
            NewRecord(b"key", b"value", (("a", b"1"), ("b", None)), 1010),
            NewRecord(None, None, (), None),
            (b"", b""),
            (b"x", b"y" * 300, (("\u00e9", b""),)),
        ]
        batch = build_batch(
            records,
            base_offset=77,
            base_timestamp=1000,
            producer_id=12,
            producer_epoch=3,
            base_sequence=40,
            partition_leader_epoch=5,
            is_transactional=True,
        )
        header = parse_batch_header(batch)
        self.assertEqual(header.size, len(batch))
        self.assertEqual(header.crc, batch_crc(batch))
        self.assertEqual(
            (header.base_offset, header.last_offset_delta, header.records_count),
            (77, 3, 4),
        )
        self.assertEqual((header.base_timestamp, header.max_timestamp), (1000, 1010))
        self.assertEqual(
            (header.producer_id, header.producer_epoch, header.base_sequence),
            (12, 3, 40),
        )
        self.assertEqual(header.partition_leader_epoch, 5)
        self.assertTrue(header.is_transactional)
        self.assertFalse(header.is_control)
        decoded = decode_batch_records(batch)
        self.assertEqual(
            [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in decoded],
            [
                (77, 1010, b"key", b"value", (("a", b"1"), ("b", None))),
                (78, 1000, None, None, ()),
                (79, 1000, b"", b"", ()),
                (80, 1000, b"x", b"y" * 300, (("\u00e9", b""),)),
            ],
        )

    def test_control_flag(self) -> None:
        """is_control sets attribute bit 5."""
        header = parse_batch_header(simple_batch(1, is_control=True))
        self.assertTrue(header.is_control)

    def test_refuses_bad_input(self) -> None:
        """No records, an unknown codec or an out-of-range field are refused."""
        self.assertRaises(ValueError, build_batch, [], base_timestamp=0)
        self.assertRaises(ValueError, simple_batch, 1, producer_epoch=2**15)
        error = self.assertRaises(RecordsError, simple_batch, 1, compression=5)
        self.assertEqual(error.code, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)


class SharedFixtureTests(SynchronousTestCase):
    """The whole real segments, when the shared fixtures are present."""

    def test_whole_segments(self) -> None:
        """Every batch of each real segment is complete, CRC-valid and decodable."""
        segments = {
            "foo-0": FOO,
            "__cluster_metadata-0": METADATA,
        }
        for directory, copied in segments.items():
            path = SHARED_LOGS / directory / "00000000000000000000.log"
            data = path.read_bytes() if path.exists() else copied
            self.assertEqual(data, copied, directory)
            batches, valid_end = scan_batches(data, check_crc=True)
            self.assertEqual(valid_end, len(data))
            offsets: list[int] = []
            for pos, header in batches:
                records = decode_batch_records(memoryview(data)[pos : pos + header.size])
                self.assertEqual(len(records), header.records_count)
                offsets.extend(r.offset for r in records)
            self.assertEqual(offsets, sorted(offsets))
        self.assertEqual(len(scan_batches(METADATA)[0]), 2)
