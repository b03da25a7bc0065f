"""Tests for kafkatwist.wire.validator: Produce validation and offset assignment."""

from __future__ import annotations

import random
import struct

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire import compression
from kafkatwist.wire.batch import (
    BATCH_HEADER_SIZE,
    LOG_APPEND_TIME,
    batch_crc,
    iter_batches,
    parse_batch_header,
    scan_batches,
)
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.record import decode_batch_records
from kafkatwist.wire.validator import assign_offsets, validate_produce_records

from .support import (
    FOO,
    MAX,
    assert_records_error,
    patch,
    simple_batch,
)


def joined(pieces: list[bytes | memoryview]) -> bytes:
    """Concatenate write pieces, as the log writer would."""
    return b"".join(bytes(p) for p in pieces)


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
        assert_records_error(self, ErrorCode.INVALID_RECORD, b"")

    def test_every_truncation(self) -> None:
        """Any cut of a batch gives CORRUPT_MESSAGE, never another exception."""
        for batch in (FOO, simple_batch(4, compression=compression.LZ4)):
            for cut in range(1, len(batch)):
                assert_records_error(self, ErrorCode.CORRUPT_MESSAGE, batch[:cut])

    def test_trailing_partial_batch(self) -> None:
        """Bytes that end inside a second batch are CORRUPT_MESSAGE."""
        assert_records_error(self, ErrorCode.CORRUPT_MESSAGE, FOO + FOO[:30])

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
            assert_records_error(self, ErrorCode.INVALID_RECORD, patch(FOO, ">b", 16, magic))

    def test_unknown_magic(self) -> None:
        """Magic above 2 or negative is CORRUPT_MESSAGE."""
        for magic in (3, -1):
            assert_records_error(self, ErrorCode.CORRUPT_MESSAGE, patch(FOO, ">b", 16, magic))

    def test_bad_lengths(self) -> None:
        """Lengths below the v2 header size are CORRUPT_MESSAGE."""
        for length in (-1, 0, 13, 14, 48):
            assert_records_error(self, ErrorCode.CORRUPT_MESSAGE, patch(FOO, ">i", 8, length))

    def test_more_than_one_batch(self) -> None:
        """Two batches are INVALID_RECORD unless multiple batches are allowed."""
        assert_records_error(self, ErrorCode.INVALID_RECORD, FOO + FOO)
        batches = validate_produce_records(
            FOO + FOO, max_batch_bytes=MAX, allow_multiple_batches=True
        )
        self.assertEqual([pos for pos, _ in batches], [0, 80])

    def test_message_too_large(self) -> None:
        """A batch larger than max_batch_bytes (log overhead included) is MESSAGE_TOO_LARGE."""
        assert_records_error(self, ErrorCode.MESSAGE_TOO_LARGE, FOO, max_batch_bytes=79)
        self.assertEqual(len(validate_produce_records(FOO, max_batch_bytes=80)), 1)

    def test_non_zero_base_offset(self) -> None:
        """A client batch must have base offset 0."""
        assert_records_error(self, ErrorCode.INVALID_RECORD, patch(FOO, ">q", 0, 5))

    def test_count_and_delta_mismatch(self) -> None:
        """recordsCount must equal lastOffsetDelta + 1 and be positive."""
        batch = simple_batch(3)
        assert_records_error(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 57, 2))
        assert_records_error(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 57, -1))
        assert_records_error(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 57, 0))
        assert_records_error(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 23, -1))
        assert_records_error(self, ErrorCode.INVALID_RECORD, patch(batch, ">i", 23, 5))

    def test_control_batch(self) -> None:
        """Clients may not write control batches."""
        assert_records_error(self, ErrorCode.INVALID_RECORD, simple_batch(1, is_control=True))

    def test_producer_id_without_sequence(self) -> None:
        """A producer id with a negative base sequence is INVALID_RECORD."""
        batch = simple_batch(2, producer_id=7, producer_epoch=0, base_sequence=-1)
        assert_records_error(self, ErrorCode.INVALID_RECORD, batch)

    def test_unknown_codec(self) -> None:
        """Codec ids 5 to 7 are UNSUPPORTED_COMPRESSION_TYPE."""
        for codec in (5, 6, 7):
            bad = patch(FOO, ">h", 21, codec)
            assert_records_error(self, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, bad)

    def test_zstd_needs_produce_v7(self) -> None:
        """zstd batches in Produce requests before v7 are UNSUPPORTED_COMPRESSION_TYPE."""
        batch = simple_batch(2, compression=compression.ZSTD)
        assert_records_error(self, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, batch, api_version=6)
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
