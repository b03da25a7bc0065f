"""Tests for kafkatwist.wire.record: decoding and building records, on real broker bytes."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.batch import (
    BATCH_HEADER_SIZE,
    LOG_APPEND_TIME,
    LOG_OVERHEAD,
    batch_crc,
    parse_batch_header,
    scan_batches,
)
from kafkatwist.wire.primitives import encode_varint
from kafkatwist.wire.record import NewRecord, RecordInput, build_batch, decode_batch_records

from .support import (
    FOO,
    METADATA,
    METADATA_POSITIONS,
    patch,
    simple_batch,
    size_at,
)

#: The real Kafka 4.0 log dir; the copies in tests/fixtures stand in when it is absent.
SHARED_LOGS = Path("/work/shared/fixtures/kraft-combined-logs")


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
            original = METADATA[pos : pos + size_at(METADATA, pos)]
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
