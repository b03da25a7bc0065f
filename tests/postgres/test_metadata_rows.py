"""Decoding metadata_log rows (no database): what a damaged or newer row gives."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages import metadata_records as mr
from kafkatwist.postgres.metadata import decode_row
from kafkatwist.storage.kraft import FRAME_VERSION, encode_metadata_record
from kafkatwist.wire.primitives import Writer
from kafkatwist.wire.record import build_batch


def batch_of(values: list[bytes], base: int = 10) -> bytes:
    """A metadata batch of record values at C{base}."""
    return build_batch([(None, v, ()) for v in values], base_offset=base, base_timestamp=0)


def unknown_record() -> bytes:
    """A record value of an API key no broker knows (as a newer Kafka might write)."""
    w = Writer()
    w.uvarint(FRAME_VERSION)
    w.uvarint(999)
    w.uvarint(0)
    return w.getvalue()


class DecodeRowTests(SynchronousTestCase):
    """decode_row gives the records it can and a problem for the rest."""

    def test_records_and_offsets(self) -> None:
        """A row's records decode in order; its next offset follows its last offset."""
        records = [mr.ConfigRecord(4, "", "a", "1"), mr.ProducerIdsRecord(1, -1, 1000)]
        row = decode_row(10, 11, 3, batch_of([encode_metadata_record(r) for r in records]))
        self.assertEqual((row.base_offset, row.next_offset, row.epoch), (10, 12, 3))
        self.assertEqual(list(row.records), records)
        self.assertEqual(row.problems, ())

    def test_unknown_record_types_are_left_out(self) -> None:
        """A record of an unknown type is left out without a problem (Kafka ignores it too)."""
        known = mr.ConfigRecord(4, "", "a", "1")
        row = decode_row(0, 1, 1, batch_of([unknown_record(), encode_metadata_record(known)], 0))
        self.assertEqual(list(row.records), [known])
        self.assertEqual(row.problems, ())

    def test_corrupt_batch_is_a_problem(self) -> None:
        """A batch failing its CRC gives no records and one problem."""
        data = bytearray(batch_of([encode_metadata_record(mr.ConfigRecord(4, "", "a", "1"))]))
        data[-1] ^= 0xFF
        row = decode_row(10, 10, 1, bytes(data))
        self.assertEqual(row.records, ())
        self.assertEqual(len(row.problems), 1)
        self.assertIn("undecodable batch at 10", row.problems[0])

    def test_undecodable_record_is_a_problem(self) -> None:
        """A record whose body does not parse is skipped; the others of the batch stay."""
        good = mr.ConfigRecord(4, "", "a", "1")
        truncated = encode_metadata_record(good)[:5]
        row = decode_row(0, 1, 1, batch_of([truncated, encode_metadata_record(good)], 0))
        self.assertEqual(list(row.records), [good])
        self.assertEqual(len(row.problems), 1)
