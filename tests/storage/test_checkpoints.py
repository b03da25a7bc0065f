"""Tests for kafkatwist.storage.checkpoints: Kafka's small state files."""

from __future__ import annotations

import os
import struct

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.storage import checkpoints as cp
from kafkatwist.wire.crc32c import crc32c

from .support import temp_dir


class OffsetCheckpointTests(SynchronousTestCase):
    """recovery-point-offset-checkpoint and log-start-offset-checkpoint."""

    def test_exact_text(self) -> None:
        """The file is Kafka's text: version 0, the count, then 'topic partition offset' lines."""
        path = os.path.join(temp_dir(self), cp.RECOVERY_POINT_CHECKPOINT)
        cp.write_offset_checkpoint(path, {("foo", 1): 42, ("bar-x", 0): 7})
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"0\n2\nbar-x 0 7\nfoo 1 42\n")

    def test_round_trip(self) -> None:
        """What is written reads back, and no .tmp file is left."""
        directory = temp_dir(self)
        path = os.path.join(directory, cp.LOG_START_OFFSET_CHECKPOINT)
        entries = {("t", p): p * 100 for p in range(5)}
        cp.write_offset_checkpoint(path, entries)
        self.assertEqual(cp.read_offset_checkpoint(path), entries)
        self.assertEqual(os.listdir(directory), [cp.LOG_START_OFFSET_CHECKPOINT])

    def test_missing_is_empty(self) -> None:
        """A missing checkpoint reads as no entries."""
        self.assertEqual(cp.read_offset_checkpoint(os.path.join(temp_dir(self), "nope")), {})

    def test_malformed(self) -> None:
        """Wrong version, wrong count or bad lines raise CorruptCheckpointError."""
        path = os.path.join(temp_dir(self), "c")
        for text in ["1\n0\n", "0\n2\nfoo 0 1\n", "0\n1\nfoo 0\n", "0\n1\nfoo x 1\n", "", "0\n"]:
            with open(path, "w") as f:
                f.write(text)
            self.assertRaises(cp.CorruptCheckpointError, cp.read_offset_checkpoint, path)


class LeaderEpochCheckpointTests(SynchronousTestCase):
    """leader-epoch-checkpoint."""

    def test_exact_text_and_round_trip(self) -> None:
        """The file is '0', the count, then 'epoch startOffset' lines, and reads back."""
        path = os.path.join(temp_dir(self), cp.LEADER_EPOCH_CHECKPOINT)
        entries = [cp.EpochEntry(0, 0), cp.EpochEntry(3, 120)]
        cp.write_leader_epoch_checkpoint(path, entries)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"0\n2\n0 0\n3 120\n")
        self.assertEqual(cp.read_leader_epoch_checkpoint(path), entries)

    def test_kafka_written_file(self) -> None:
        """A file as a Kafka broker writes it for a fresh partition parses."""
        path = os.path.join(temp_dir(self), cp.LEADER_EPOCH_CHECKPOINT)
        with open(path, "w") as f:
            f.write("0\n1\n0 0\n")
        self.assertEqual(cp.read_leader_epoch_checkpoint(path), [cp.EpochEntry(0, 0)])

    def test_malformed(self) -> None:
        """A count that does not match the lines raises CorruptCheckpointError."""
        path = os.path.join(temp_dir(self), cp.LEADER_EPOCH_CHECKPOINT)
        with open(path, "w") as f:
            f.write("0\n2\n0 0\n")
        self.assertRaises(cp.CorruptCheckpointError, cp.read_leader_epoch_checkpoint, path)

    def test_not_utf8(self) -> None:
        """Bytes that are not UTF-8 raise CorruptCheckpointError (the log still opens)."""
        path = os.path.join(temp_dir(self), cp.LEADER_EPOCH_CHECKPOINT)
        with open(path, "wb") as f:
            f.write(b"0\n1\n\xff 0\n")
        self.assertRaises(cp.CorruptCheckpointError, cp.read_leader_epoch_checkpoint, path)


ENTRY = cp.ProducerSnapshotEntry(
    producer_id=1000,
    producer_epoch=3,
    last_sequence=41,
    last_offset=77,
    offset_delta=4,
    timestamp=1_700_000_000_123,
    coordinator_epoch=2,
    current_txn_first_offset=70,
)


class ProducerSnapshotTests(SynchronousTestCase):
    """The .snapshot format of Kafka's ProducerStateManager."""

    def test_layout(self) -> None:
        """Version 1, CRC-32C over the rest, int32 count, then 46-byte entries in schema order."""
        data = cp.encode_producer_snapshot([ENTRY])
        entry = struct.pack(">qhiqiqiq", 1000, 3, 41, 77, 4, 1_700_000_000_123, 2, 70)
        rest = struct.pack(">i", 1) + entry
        self.assertEqual(len(entry), 46)
        self.assertEqual(data, struct.pack(">hI", 1, crc32c(rest)) + rest)

    def test_empty_snapshot(self) -> None:
        """A snapshot with no producers is 10 bytes and decodes to nothing."""
        data = cp.encode_producer_snapshot([])
        self.assertEqual(len(data), 10)
        self.assertEqual(cp.decode_producer_snapshot(data), [])

    def test_file_round_trip(self) -> None:
        """Entries written to a .snapshot file read back equal."""
        path = os.path.join(temp_dir(self), cp.file_name(78, cp.SNAPSHOT_SUFFIX))
        entries = [ENTRY, cp.ProducerSnapshotEntry(5, 0, -1, -1, 0, -1)]
        cp.write_producer_snapshot(path, entries)
        self.assertTrue(path.endswith("00000000000000000078.snapshot"))
        self.assertEqual(cp.read_producer_snapshot(path), entries)

    def test_corruption_detected(self) -> None:
        """A flipped byte, a wrong version or a short file raise CorruptSnapshotError."""
        data = cp.encode_producer_snapshot([ENTRY])
        for i in range(len(data)):
            bad = bytearray(data)
            bad[i] ^= 0x40
            self.assertRaises(cp.CorruptSnapshotError, cp.decode_producer_snapshot, bytes(bad))
        self.assertRaises(cp.CorruptSnapshotError, cp.decode_producer_snapshot, data[:-1])
        self.assertRaises(cp.CorruptSnapshotError, cp.decode_producer_snapshot, b"\x00")


class CleanShutdownTests(SynchronousTestCase):
    """The .kafka_cleanshutdown marker."""

    def test_round_trip(self) -> None:
        """The marker is Kafka's JSON, its broker epoch reads back, and it can be removed."""
        directory = temp_dir(self)
        self.assertFalse(cp.has_clean_shutdown(directory))
        cp.write_clean_shutdown(directory, 17)
        with open(os.path.join(directory, ".kafka_cleanshutdown")) as f:
            self.assertEqual(f.read(), '{"version":0,"brokerEpoch":17}')
        self.assertEqual(cp.read_clean_shutdown(directory), 17)
        cp.remove_clean_shutdown(directory)
        cp.remove_clean_shutdown(directory)
        self.assertFalse(cp.has_clean_shutdown(directory))

    def test_empty_marker(self) -> None:
        """An empty marker (older Kafka) still counts as clean but has no epoch."""
        directory = temp_dir(self)
        open(os.path.join(directory, ".kafka_cleanshutdown"), "w").close()
        self.assertTrue(cp.has_clean_shutdown(directory))
        self.assertIsNone(cp.read_clean_shutdown(directory))


class FileNameTests(SynchronousTestCase):
    """Kafka's 20-digit file names."""

    def test_names(self) -> None:
        """Offsets are zero-padded to 20 digits and parsed back; other names give None."""
        self.assertEqual(cp.file_name(1234, ".log"), "00000000000000001234.log")
        self.assertEqual(cp.offset_from_file_name("00000000000000001234.timeindex"), 1234)
        self.assertIsNone(cp.offset_from_file_name("leader-epoch-checkpoint"))
        self.assertIsNone(cp.offset_from_file_name("00000000000000001234.log.deleted"))
