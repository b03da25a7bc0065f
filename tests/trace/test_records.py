"""Tests for the trace's records summaries (L{kafkatwist.trace.records}), on client batches."""

from __future__ import annotations

from kafka.record.legacy_records import LegacyRecordBatchBuilder
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.trace.records import summarize_records
from kafkatwist.wire.batch import CONTROL_FLAG_MASK, TRANSACTIONAL_FLAG_MASK
from kafkatwist.wire.compression import GZIP, LZ4
from tests.client_batches import client_batch, with_header


def rebased(batch: bytes, base_offset: int) -> bytes:
    """C{batch} with its baseOffset (outside the CRC) set, as the log assigns it."""
    return base_offset.to_bytes(8, "big", signed=True) + batch[8:]


def legacy_message_set(count: int) -> bytes:
    """A magic 1 message set of C{count} messages, built by kafka-python."""
    builder = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 20)
    for i in range(count):
        builder.append(i, timestamp=1_700_000_000_000, key=None, value=b"v%d" % i)
    return bytes(builder.build())


class SummaryTests(SynchronousTestCase):
    def test_null(self) -> None:
        """A null records field is null."""
        self.assertIsNone(summarize_records(None))

    def test_empty(self) -> None:
        """Empty records: size 0, nothing counted."""
        summary = summarize_records(b"")
        assert summary is not None
        self.assertEqual(
            (summary["sizeInBytes"], summary["batches"], summary["records"]), (0, 0, 0)
        )
        self.assertIsNone(summary["baseOffset"])
        self.assertIsNone(summary["compression"])

    def test_batches_counted_from_their_headers(self) -> None:
        """Several batches: sizes, counts and the offset range add up; codecs listed once each."""
        first = rebased(client_batch(count=3), 100)
        second = rebased(client_batch(count=40, codec=GZIP), 103)
        third = rebased(client_batch(count=40, codec=LZ4), 143)
        summary = summarize_records(first + second + third)
        self.assertEqual(
            summary,
            {
                "sizeInBytes": len(first) + len(second) + len(third),
                "batches": 3,
                "records": 83,
                "baseOffset": 100,
                "lastOffset": 182,
                "compression": "none,gzip,lz4",
                "producerId": -1,
                "producerEpoch": -1,
                "baseSequence": -1,
                "producers": 0,
                "transactional": 0,
                "control": 0,
            },
        )

    def test_producer_and_flags(self) -> None:
        """The first batch's producer id, epoch and sequence; transactional and control counted."""
        data = client_batch(5, 2, producer_id=42, epoch=3, is_transactional=True)
        marker = with_header(
            client_batch(producer_id=43, epoch=1, count=1),
            attributes=CONTROL_FLAG_MASK | TRANSACTIONAL_FLAG_MASK,
        )
        summary = summarize_records(data + marker)
        assert summary is not None
        self.assertEqual(
            [summary[k] for k in ("producerId", "producerEpoch", "baseSequence", "producers")],
            [42, 3, 5, 2],
        )
        self.assertEqual((summary["transactional"], summary["control"]), (2, 1))

    def test_partial_tail(self) -> None:
        """Bytes after the last whole batch (a Fetch cut at max_bytes) are counted as partial."""
        batch = client_batch(count=2)
        summary = summarize_records(batch + batch[:30])
        assert summary is not None
        self.assertEqual((summary["batches"], summary["partialBytes"]), (1, 30))

    def test_several_buffers(self) -> None:
        """A field of several buffers (a Fetch from two segments) is summarised as one."""
        summary = summarize_records([client_batch(count=2), memoryview(client_batch(count=5))])
        assert summary is not None
        self.assertEqual((summary["batches"], summary["records"]), (2, 7))

    def test_legacy_message_set(self) -> None:
        """A magic 1 message set counts its messages as legacy, with no v2 batches."""
        summary = summarize_records(legacy_message_set(3))
        assert summary is not None
        self.assertEqual((summary["batches"], summary["legacyMessages"]), (0, 3))
        self.assertNotIn("partialBytes", summary)

    def test_garbage_is_partial(self) -> None:
        """Bytes that are no batch at all are reported as partial, never an error."""
        summary = summarize_records(b"\xff" * 100)
        assert summary is not None
        self.assertEqual((summary["batches"], summary["partialBytes"]), (0, 100))
