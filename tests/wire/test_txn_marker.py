"""Tests for the transaction markers of kafkatwist.wire.batch, against an independent decoder."""

from __future__ import annotations

import struct

from kafka.record.default_records import ControlRecord, DefaultRecordBatch
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.wire.batch import (
    EndTxnMarker,
    build_end_txn_marker,
    parse_batch_header,
    read_end_txn_marker,
)
from kafkatwist.wire.record import decode_batch_records


def _expected(pid: int, epoch: int, coordinator_epoch: int, control_type: int, ts: int) -> bytes:
    """
    The marker batch spelled out field by field from Kafka's documented layout, CRC left 0.

    Kafka's MemoryRecords.writeEndTransactionalMarker: magic 2, attributes
    transactional (0x10) | control (0x20), no sequence, one record whose key
    is ControlRecordType (version 0, type) and value EndTransactionMarker
    (version 0, coordinator epoch).
    """
    record = (
        bytes([0x20, 0x00, 0x00, 0x00, 0x08])  # length 16, attrs, ts delta, offset delta, key len 4
        + struct.pack(">hh", 0, control_type)
        + bytes([0x0C])  # value length 6
        + struct.pack(">hi", 0, coordinator_epoch)
        + bytes([0x00])  # no headers
    )
    return (
        struct.pack(">qiibI", 0, 49 + len(record), 0, 2, 0)
        + struct.pack(">hiqqqhii", 0x30, 0, ts, ts, pid, epoch, -1, 1)
        + record
    )


class BuildEndTxnMarkerTests(SynchronousTestCase):
    """build_end_txn_marker writes the bytes Kafka writes for a commit or abort marker."""

    def test_golden_bytes(self) -> None:
        """Apart from the CRC, the bytes equal the documented layout, field by field."""
        built = build_end_txn_marker(7, 3, 5, True, 1_700_000_000_000)
        expected = _expected(7, 3, 5, 1, 1_700_000_000_000)
        self.assertEqual(len(built), 78)
        self.assertEqual(built[:17], expected[:17])
        self.assertEqual(built[21:], expected[21:])

    def test_kafka_python_decodes_a_commit(self) -> None:
        """kafka-python's decoder sees a valid transactional control batch with a commit record."""
        built = build_end_txn_marker(1000, 4, 12, True, 1_650_000_000_123, partition_leader_epoch=2)
        batch = DefaultRecordBatch(bytearray(built))
        self.assertTrue(batch.validate_crc())
        self.assertTrue(batch.is_control_batch)
        self.assertTrue(batch.is_transactional)
        self.assertEqual(batch.producer_id, 1000)
        self.assertEqual(batch.producer_epoch, 4)
        self.assertEqual(batch.base_sequence, -1)
        self.assertEqual(batch.compression_type, 0)
        self.assertEqual(batch.timestamp_type, 0)
        records = list(batch)
        self.assertEqual(len(records), 1)
        (record,) = records
        self.assertIsInstance(record, ControlRecord)
        self.assertTrue(record.commit)
        self.assertEqual(record.version, 0)
        self.assertEqual(record.timestamp, 1_650_000_000_123)
        self.assertEqual(record.value, struct.pack(">hi", 0, 12))

    def test_kafka_python_decodes_an_abort(self) -> None:
        """An abort marker carries control type 0 and the coordinator epoch in its value."""
        built = build_end_txn_marker(5, 0, 0, False, 0)
        batch = DefaultRecordBatch(bytearray(built))
        self.assertTrue(batch.validate_crc())
        (record,) = list(batch)
        self.assertTrue(record.abort)
        self.assertEqual(record.value, b"\x00\x00\x00\x00\x00\x00")

    def test_own_decoder_agrees(self) -> None:
        """kafkatwist's record decoder reads the same key and value back with a valid CRC."""
        built = build_end_txn_marker(9, 1, 3, False, 42)
        (record,) = decode_batch_records(built)
        self.assertEqual(record.key, b"\x00\x00\x00\x00")
        self.assertEqual(record.value, b"\x00\x00\x00\x00\x00\x03")


class ReadEndTxnMarkerTests(SynchronousTestCase):
    """read_end_txn_marker reads a control batch's marker from its header position."""

    def test_round_trip(self) -> None:
        """A built commit and abort read back with their coordinator epochs."""
        for commit in (True, False):
            built = b"junk" + build_end_txn_marker(9, 1, 77, commit, 42)
            header = parse_batch_header(built, 4)
            self.assertEqual(read_end_txn_marker(built, 4, header), EndTxnMarker(commit, 77))

    def test_data_batch_is_not_a_marker(self) -> None:
        """A batch without the control bit has no marker."""
        built = bytearray(build_end_txn_marker(9, 1, 77, True, 42))
        built[22] = 0x10  # attributes low byte: transactional only
        self.assertIsNone(read_end_txn_marker(built, 0, parse_batch_header(built)))

    def test_other_control_type(self) -> None:
        """A control record of another type (e.g. KRaft's LEADER_CHANGE, 2) is not a marker."""
        built = bytearray(build_end_txn_marker(9, 1, 77, True, 42))
        built[61 + 5 + 3] = 2
        self.assertIsNone(read_end_txn_marker(built, 0, parse_batch_header(built)))

    def test_truncated(self) -> None:
        """A batch cut short is not read past its end."""
        built = build_end_txn_marker(9, 1, 77, True, 42)
        header = parse_batch_header(built)
        self.assertIsNone(read_end_txn_marker(built[:66], 0, header))
