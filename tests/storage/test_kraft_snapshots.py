"""The KRaft metadata log: undecodable records skipped, segments rolled, snapshots and retention."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import uuid
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage import kraft_files as files
from kafkatwist.storage.kraft import (
    METADATA_DIR,
    RESOURCE_BROKER,
    RESOURCE_TOPIC,
    KRaftMetadataStore,
    MetadataImage,
    encode_metadata_record,
)
from kafkatwist.storage.kraft_files import MetadataLogConfig, SnapshotId
from kafkatwist.wire.batch import CRC_OFFSET, batch_crc, iter_batches
from kafkatwist.wire.record import build_batch, decode_batch_records

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kraft-combined-logs"
DAY_MS = 86_400_000


def topic_id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, name)


def topic(name: str, n: int = 1) -> list[object]:
    """A TopicRecord and its C{n} PartitionRecords."""
    tid = topic_id(name)
    parts = [
        mr.PartitionRecord(
            partition_id=p, topic_id=tid, replicas=(1,), isr=(1,), leader=1, leader_epoch=0
        )
        for p in range(n)
    ]
    return [mr.TopicRecord(name=name, topic_id=tid), *parts]


def values_batch(values: list[bytes], base_offset: int) -> bytes:
    return build_batch(
        [(None, v) for v in values],
        base_offset=base_offset,
        base_timestamp=1,
        partition_leader_epoch=1,
    )


def records_batch(records: list[object], base_offset: int) -> bytes:
    return values_batch([encode_metadata_record(r) for r in records], base_offset)


def summary(image: MetadataImage) -> tuple[object, ...]:
    """What a snapshot must preserve of an image."""
    return (
        {n: (t.topic_id, t.configs, t.partitions) for n, t in image.topics.items()},
        image.features,
        image.configs,
        image.next_producer_id,
    )


class StoreTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.log_dir = tempfile.mkdtemp(prefix="kraft-snapshots-")
        self.addCleanup(shutil.rmtree, self.log_dir, ignore_errors=True)
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    @property
    def directory(self) -> str:
        return os.path.join(self.log_dir, METADATA_DIR)

    def store(self, **config: int) -> KRaftMetadataStore:
        store = KRaftMetadataStore(
            self.log_dir, clock=self.clock, config=MetadataLogConfig(**config)
        )
        self.successResultOf(store.load())
        return store

    def write_segment(self, data: bytes, base: int = 0) -> None:
        os.makedirs(self.directory, exist_ok=True)
        Path(self.directory, f"{base:020d}.log").write_bytes(data)

    def names(self, suffix: str) -> list[str]:
        return sorted(n for n in os.listdir(self.directory) if n.endswith(suffix))


class UndecodableRecordTests(StoreTestCase):
    def test_bad_records_skipped_rest_of_batch_kept(self) -> None:
        """Undecodable records are skipped one by one; the good records of the same batch apply."""
        garbage = [
            b"\x01\x02\xff\xff",  # a TopicRecord cut short
            b"\x07\x02\x00",  # an unknown frame version
            b"\x01\x03\x01" + b"\xff" * 3,  # a PartitionRecord of garbage
            b"",  # nothing at all
        ]
        good = [encode_metadata_record(r) for r in topic("c")]
        self.write_segment(
            records_batch(topic("a"), 0)
            + values_batch(garbage + good, 2)
            + records_batch(topic("b"), 8)
        )
        store = self.store()
        self.assertEqual(sorted(store.image.topics), ["a", "b", "c"])
        self.assertEqual(len(store.problems), 4, store.problems)
        self.assertTrue(all("skipped the undecodable record" in p for p in store.problems))
        self.assertEqual(store.next_offset, 10)
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_crc_failing_batch_in_the_middle_is_skipped(self) -> None:
        """A batch failing its CRC is skipped; the batches after it still apply."""
        bad = bytearray(records_batch(topic("x"), 2))
        bad[-1] ^= 0xFF
        self.write_segment(records_batch(topic("a"), 0) + bytes(bad) + records_batch(topic("b"), 4))
        store = self.store()
        self.assertEqual(sorted(store.image.topics), ["a", "b"])
        self.assertEqual(len(store.problems), 1)
        self.assertIn("CRC", store.problems[0])

    def test_malformed_record_bytes_skip_one_batch(self) -> None:
        """A valid-CRC batch whose record bytes do not parse is skipped; the rest loads."""
        bad = bytearray(records_batch(topic("x"), 2))
        bad[61] = 0x7E
        struct.pack_into(">I", bad, CRC_OFFSET, batch_crc(bad))
        self.write_segment(records_batch(topic("a"), 0) + bytes(bad) + records_batch(topic("b"), 4))
        store = self.store()
        self.assertEqual(sorted(store.image.topics), ["a", "b"])
        self.assertEqual(len(store.problems), 1)


class SnapshotTests(StoreTestCase):
    def populate(self, store: KRaftMetadataStore) -> None:
        self.successResultOf(store.append(topic("a", 3)))
        self.successResultOf(store.append(topic("b", 2)))
        self.successResultOf(
            store.append(
                [
                    mr.FeatureLevelRecord(name="metadata.version", feature_level=20),
                    mr.ConfigRecord(RESOURCE_TOPIC, "a", "retention.ms", "5"),
                    mr.ConfigRecord(RESOURCE_BROKER, "", "log.cleaner.threads", "2"),
                    mr.ProducerIdsRecord(broker_id=1, next_producer_id=5000),
                    mr.PartitionChangeRecord(partition_id=1, topic_id=topic_id("a"), leader=2),
                ]
            )
        )

    def test_snapshot_file_format(self) -> None:
        """A snapshot is <end offset>-<epoch>.checkpoint: header batch, records, footer batch."""
        store = self.store()
        self.populate(store)
        snapshot = self.successResultOf(store.snapshot())
        self.assertEqual(snapshot, SnapshotId(store.next_offset, 1))
        assert snapshot is not None
        self.assertEqual(
            self.names(".checkpoint"), [f"{store.next_offset:020d}-0000000001.checkpoint"]
        )
        data = Path(self.directory, snapshot.file_name).read_bytes()
        batches = list(iter_batches(data))
        first, last = batches[0][1], batches[-1][1]
        self.assertTrue(first.is_control and last.is_control)
        [head] = decode_batch_records(data[: first.size])
        [foot] = decode_batch_records(data[batches[-1][0] :])
        self.assertEqual(head.key, b"\x00\x00\x00\x03")
        self.assertEqual(foot.key, b"\x00\x00\x00\x04")
        # int16 version 0, then SnapshotHeaderRecord v0: version, last contained timestamp, no tags.
        self.assertEqual(head.value, struct.pack(">hhq", 0, 0, 1_700_000_000_000) + b"\x00")
        self.assertEqual(foot.value, b"\x00\x00\x00\x00\x00")
        self.assertEqual(files.snapshot_timestamp(data), 1_700_000_000_000)

    def test_load_from_snapshot_then_log(self) -> None:
        """A new store loads the snapshot plus what the log holds after it: the same image."""
        store = self.store()
        self.populate(store)
        self.successResultOf(store.snapshot())
        self.successResultOf(store.append(topic("after")))
        expected = summary(store.image)
        again = self.store()
        self.assertEqual(summary(again.image), expected)
        self.assertEqual(again.loaded_snapshot, store.loaded_snapshot)
        self.assertEqual(again.next_offset, store.next_offset)
        self.assertEqual(again.problems, [])

    def test_snapshot_is_used_without_the_log(self) -> None:
        """With the segments it covers gone, the snapshot alone rebuilds the image."""
        store = self.store()
        self.populate(store)
        self.successResultOf(store.snapshot())
        expected = summary(store.image)
        for name in self.names(".log"):
            os.unlink(os.path.join(self.directory, name))
        again = self.store()
        self.assertEqual(summary(again.image), expected)
        self.successResultOf(again.append(topic("next")))
        self.assertEqual(self.names(".log"), [f"{store.next_offset:020d}.log"])
        self.assertIn("next", self.store().image.topics)

    def test_partial_and_invalid_snapshots_are_not_loaded(self) -> None:
        """A .checkpoint.part is deleted; a torn .checkpoint is ignored and the log replayed."""
        store = self.store()
        self.populate(store)
        snapshot = self.successResultOf(store.snapshot())
        assert snapshot is not None
        path = Path(self.directory, snapshot.file_name)
        Path(self.directory, "00000000000000000099-0000000001.checkpoint.part").write_bytes(b"x")
        path.write_bytes(path.read_bytes()[:-10])
        again = self.store()
        self.assertEqual(summary(again.image), summary(store.image))
        self.assertIsNone(again.loaded_snapshot)
        self.assertEqual(self.names(".part"), [])
        self.assertEqual(len(again.problems), 2)

    def test_snapshot_after_max_bytes(self) -> None:
        """An append that brings the bytes since the last snapshot to the limit snapshots."""
        store = self.store(max_bytes_between_snapshots=500)
        self.successResultOf(store.append(topic("a")))
        self.assertEqual(self.names(".checkpoint"), [])
        for i in range(5):
            self.successResultOf(store.append(topic(f"t{i}", 3)))
        self.assertNotEqual(self.names(".checkpoint"), [])

    def test_snapshot_after_interval(self) -> None:
        """Once the snapshot interval passed on the clock, the next append snapshots."""
        store = self.store(max_snapshot_interval_ms=60_000)
        self.successResultOf(store.append(topic("a")))
        self.assertEqual(self.names(".checkpoint"), [])
        self.clock.advance(61)
        self.successResultOf(store.append(topic("b")))
        self.assertEqual(self.names(".checkpoint"), [f"{4:020d}-0000000001.checkpoint"])

    def test_kafka_fixture_round_trip(self) -> None:
        """Kafka's own log dir loads, snapshots and reloads from the snapshot to the same image."""
        if not SHARED.exists():
            self.skipTest("no shared Kafka fixture")
        shutil.copytree(SHARED, self.log_dir, dirs_exist_ok=True)
        segment = Path(self.directory, "00000000000000000000.log")
        before = segment.read_bytes()
        store = self.store()
        self.assertIn("foo", store.image.topics)
        self.successResultOf(store.snapshot())
        self.assertEqual(segment.read_bytes(), before)
        os.unlink(segment)
        again = self.store()
        self.assertEqual(summary(again.image), summary(store.image))


class RollAndRetentionTests(StoreTestCase):
    def test_roll_by_segment_bytes(self) -> None:
        """A batch that would take the active segment past segment.bytes starts a new segment."""
        store = self.store(segment_bytes=400)
        for i in range(6):
            self.successResultOf(store.append(topic(f"t{i}", 2)))
        names = self.names(".log")
        self.assertGreater(len(names), 1)
        for name in names[:-1]:
            self.assertLessEqual(os.path.getsize(os.path.join(self.directory, name)), 400)
        self.assertEqual(len(self.store().image.topics), 6)

    def test_roll_by_segment_ms(self) -> None:
        """The first append after segment.ms on the clock goes to a new segment at its offset."""
        store = self.store(segment_ms=DAY_MS)
        self.successResultOf(store.append(topic("a")))
        self.clock.advance(DAY_MS / 1000)
        self.successResultOf(store.append(topic("b")))
        self.assertEqual(self.names(".log"), [f"{0:020d}.log", f"{2:020d}.log"])

    def test_tester_segment_is_never_rewritten(self) -> None:
        """A segment written before start is appended to, never rewritten, at default settings."""
        first = records_batch(topic("a"), 0)
        self.write_segment(first)
        store = self.store()
        self.successResultOf(store.append(topic("b")))
        data = Path(self.directory, f"{0:020d}.log").read_bytes()
        self.assertEqual(data[: len(first)], first)

    def test_retention_deletes_covered_segments_and_old_snapshots(self) -> None:
        """Past metadata.max.retention.ms, old snapshots and the segments they cover go."""
        config = {
            "segment_bytes": 300,
            "retention_ms": DAY_MS,
            "max_snapshot_interval_ms": 10 * DAY_MS,
        }
        store = self.store(**config)
        for i in range(4):
            self.successResultOf(store.append(topic(f"t{i}", 2)))
        first = self.successResultOf(store.snapshot())
        self.clock.advance(2 * DAY_MS / 1000)
        for i in range(4, 8):
            self.successResultOf(store.append(topic(f"t{i}", 2)))
        segments_before = self.names(".log")
        second = self.successResultOf(store.snapshot())
        assert first is not None and second is not None
        self.assertEqual(self.names(".checkpoint"), [second.file_name])
        remaining = self.names(".log")
        self.assertLess(len(remaining), len(segments_before))
        # The segments holding only records from before the advance are gone.
        bases = [int(n[:20]) for n in remaining]
        self.assertTrue(all(b > first.end_offset for b in bases[1:]), bases)
        self.assertEqual(len(self.store(**config).image.topics), 8)

    def test_retention_keeps_everything_within_limits(self) -> None:
        """Within metadata.max.retention.*, snapshots add files and delete nothing."""
        store = self.store(segment_bytes=300)
        for i in range(4):
            self.successResultOf(store.append(topic(f"t{i}", 2)))
        self.successResultOf(store.snapshot())
        segments = self.names(".log")
        self.successResultOf(store.append(topic("x")))
        self.successResultOf(store.snapshot())
        self.assertEqual(len(self.names(".checkpoint")), 2)
        self.assertEqual(self.names(".log")[: len(segments)], segments)

    def test_retention_by_bytes(self) -> None:
        """Past metadata.max.retention.bytes, the oldest snapshot and covered segments go."""
        store = self.store(segment_bytes=300, retention_bytes=1)
        for i in range(4):
            self.successResultOf(store.append(topic(f"t{i}", 2)))
        self.successResultOf(store.snapshot())
        self.successResultOf(store.append(topic("x")))
        second = self.successResultOf(store.snapshot())
        assert second is not None
        self.assertEqual(self.names(".checkpoint"), [second.file_name])
        self.assertEqual(len(self.store(retention_bytes=1).image.topics), 5)
