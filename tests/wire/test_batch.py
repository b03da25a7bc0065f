"""Tests for kafkatwist.wire.batch: v2 batch headers, CRCs and walking batches, on real bytes."""

from __future__ import annotations

import random

import attrs
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
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
from kafkatwist.wire.record import decode_batch_records
from kafkatwist.wire.validator import validate_produce_records

from .support import (
    FOO,
    MAX,
    METADATA,
    METADATA_POSITIONS,
    patch,
    size_at,
)


def _fields(header: BatchHeader) -> dict[str, int]:
    return attrs.asdict(header)


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
            expected = [p for p in METADATA_POSITIONS if p + size_at(METADATA, p) <= cut]
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
