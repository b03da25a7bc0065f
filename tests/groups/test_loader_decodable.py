"""Replaying __consumer_offsets skips what it cannot decode and keeps every other group."""

from __future__ import annotations

import struct
from typing import cast

from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.groups import records as rec
from kafkatwist.wire.batch import CRC_OFFSET, batch_crc, parse_batch_header
from kafkatwist.wire.record import build_batch
from tests.brokers import log_of, metadata_of
from tests.groups.support import GroupBroker
from tests.storage.support import fired

#: A valid batch whose records are garbage for the __consumer_offsets schemas:
#: an OffsetCommit key with a negative string length, a GroupMetadata key with
#: a truncated value, an OffsetCommit value of one byte, an unknown key version.
SCHEMA_GARBAGE = build_batch(
    [
        (b"\x00\x01\xff\xf0garbage", b"\x00\x03\x01"),
        (rec.group_metadata_key("z"), b"\x00\x03\x00\x05ab"),
        (rec.offset_commit_key("z", "t", 0), b"\x07"),
        (b"\x00\x01\x00\x01", None),
    ],
    base_timestamp=1_700_000_000_000,
)


def malformed_records_batch() -> bytes:
    """A batch with a valid CRC whose record bytes do not parse (a record length past the end)."""
    batch = bytearray(build_batch([(b"k", b"v" * 20)], base_timestamp=1_700_000_000_000))
    batch[61] = 0x7E  # the first record's varint length: 63, far more than is there
    struct.pack_into(">I", batch, CRC_OFFSET, batch_crc(batch))
    return bytes(batch)


class UndecodableOffsetsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.gb = GroupBroker(offsets_topic_num_partitions=1)
        self.gb.topic("t", 1)

    def append_raw(self, batch: bytes) -> None:
        """Append C{batch} to __consumer_offsets-0 as it is (as a produce by __admin_client)."""
        log = log_of(self.gb.broker, rec.OFFSETS_TOPIC, 0)
        header = parse_batch_header(batch)
        fired(log.append(batch, [(0, header)], leader_epoch=0, now_ms=0))

    def restarted(self) -> GroupBroker:
        """A new coordinator over the same logs and metadata, loaded."""
        again = GroupBroker(
            logs=self.gb.broker.logs,
            log_dir=metadata_of(self.gb.broker).log_dir,
            offsets_topic_num_partitions=1,
        )
        self.successResultOf(again.coordinator.start())
        return again

    def check_skipped(self, batch: bytes, lines: int = 1) -> None:
        """Commit, append C{batch}, commit, restart: both commits load, C{lines} errors logged."""
        self.successResultOf(self.gb.commit("before", {("t", 0): 7}))
        self.append_raw(batch)
        self.successResultOf(self.gb.commit("after", {("t", 0): 9}))
        events: list[LogEvent] = []
        observer = cast(ILogObserver, events.append)  # a callable provider of the interface
        globalLogPublisher.addObserver(observer)
        try:
            again = self.restarted()
        finally:
            globalLogPublisher.removeObserver(observer)
        skipped = [
            formatEvent(e)
            for e in events
            if e.get("log_level") == LogLevel.error and "Skipped undecodable" in formatEvent(e)
        ]
        self.assertEqual(len(skipped), lines, skipped)
        self.assertIn("__consumer_offsets-0", skipped[0])
        self.assertFalse(again.coordinator.loading)
        self.assertEqual(again.committed("before", "t", [0]), {0: 7})
        self.assertEqual(again.committed("after", "t", [0]), {0: 9})
        errors = self.flushLoggedErrors()
        self.assertEqual(errors, [])

    def test_schema_garbage_records_are_skipped(self) -> None:
        """Records whose key or value is garbage for the schema are skipped; other groups load."""
        self.check_skipped(SCHEMA_GARBAGE, lines=4)

    def test_malformed_record_bytes_skip_the_batch(self) -> None:
        """A batch whose record bytes do not parse is skipped; the batches around it load."""
        self.check_skipped(malformed_records_batch())

    def test_bad_compressed_payload_skips_the_batch(self) -> None:
        """A gzip batch whose payload is not gzip is skipped; the batches around it load."""
        batch = bytearray(build_batch([(b"k", b"v")], base_timestamp=1, compression=1))
        batch[61:] = b"\x00" * (len(batch) - 61)
        struct.pack_into(">I", batch, CRC_OFFSET, batch_crc(batch))
        self.check_skipped(bytes(batch))
