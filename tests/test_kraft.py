"""Tests for kafkatwist.storage.kraft: the KRaft metadata log and its image."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage.kraft import (
    METADATA_DIR,
    RESOURCE_TOPIC,
    KRaftMetadataStore,
    MetadataImage,
    decode_metadata_record,
    encode_metadata_record,
    ensure_meta_properties,
    kafka_to_uuid,
    uuid_to_kafka,
    write_partition_metadata,
)
from kafkatwist.wire.record import build_batch

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "kraft-combined-logs"

#: The topic in the real Kafka fixture, as its partition.metadata names it.
FOO_ID = uuid.UUID("bfd99e5e-3235-4552-81f8-d4af1741970c")
FOO_ID_TEXT = "v9meXjI1RVKB-NSvF0GXDA"


def load_hex(name: str) -> bytes:
    """A commented hex fixture from tests/fixtures."""
    text = (FIXTURES / name).read_text()
    return bytes.fromhex(" ".join(ln for ln in text.splitlines() if not ln.startswith("#")))


def metadata_dir_with(data: bytes, name: str = "00000000000000000000.log") -> str:
    """A log dir whose metadata segment holds C{data}."""
    log_dir = tempfile.mkdtemp(prefix="kraft-test-")
    os.makedirs(os.path.join(log_dir, METADATA_DIR))
    Path(log_dir, METADATA_DIR, name).write_bytes(data)
    return log_dir


class RecordFramingTests(SynchronousTestCase):
    """The frame of a metadata record value: frame version, key, version, data."""

    def test_topic_record_from_kafka(self) -> None:
        """A TopicRecord value written by Kafka decodes to its name and id."""
        # Source: the TopicRecord value in kraft-combined-logs/__cluster_metadata-0 (Kafka 3.8).
        value = bytes.fromhex("01020004666f6fbfd99e5e3235455281f8d4af1741970c00")
        self.assertEqual(decode_metadata_record(value), mr.TopicRecord(name="foo", topic_id=FOO_ID))

    def test_partition_record_from_kafka(self) -> None:
        """A PartitionRecord value written by Kafka decodes field by field."""
        # Source: the PartitionRecord value in kraft-combined-logs/__cluster_metadata-0 (Kafka 3.8).
        value = bytes.fromhex(
            "01030100000000bfd99e5e3235455281f8d4af1741970c020000000102000000010101000000"
            "010000000000000000020224973cbadd44cf874445a99619da3400"
        )
        record = decode_metadata_record(value)
        self.assertEqual(record.partition_id, 0)
        self.assertEqual(record.topic_id, FOO_ID)
        self.assertEqual(record.replicas, (1,))
        self.assertEqual(record.isr, (1,))
        self.assertEqual(record.leader, 1)
        self.assertEqual(record.leader_epoch, 0)
        self.assertEqual(record.partition_epoch, 0)
        self.assertEqual(record.directories, (uuid.UUID("0224973c-badd-44cf-8744-45a99619da34"),))
        self.assertEqual(encode_metadata_record(record, 1), value)

    def test_feature_level_record_from_kafka(self) -> None:
        """A FeatureLevelRecord value written by Kafka decodes and re-encodes identically."""
        # Source: the FeatureLevelRecord value in kraft-combined-logs/__cluster_metadata-0.
        value = bytes.fromhex("010c00116d657461646174612e76657273696f6e001400")
        record = decode_metadata_record(value)
        self.assertEqual(record, mr.FeatureLevelRecord(name="metadata.version", feature_level=20))
        self.assertEqual(encode_metadata_record(record, 0), value)

    def test_unknown_record_type_is_ignored(self) -> None:
        """A record with an API key this broker does not know decodes to None."""
        self.assertIsNone(decode_metadata_record(bytes.fromhex("01630000")))


class FixtureImageTests(SynchronousTestCase):
    """Loading metadata logs written by a real Kafka broker."""

    def test_fixture_segment(self) -> None:
        """The copied fixture segment yields topic foo with its partition and the feature level."""
        store = KRaftMetadataStore(metadata_dir_with(load_hex("records_cluster_metadata_0.hex")))
        image = self.successResultOf(store.load())
        self.assertEqual(list(image.topics), ["foo"])
        foo = image.topics["foo"]
        self.assertEqual(foo.topic_id, FOO_ID)
        self.assertIs(image.topics_by_id[FOO_ID], foo)
        self.assertEqual(sorted(foo.partitions), [0])
        p = foo.partitions[0]
        self.assertEqual((p.leader, p.leader_epoch, p.replicas, p.isr), (1, 0, (1,), (1,)))
        self.assertEqual(image.features, {"metadata.version": 20})
        self.assertEqual(store.problems, [])
        self.assertEqual(store.next_offset, 36)

    def test_shared_fixture_tree(self) -> None:
        """The whole real log dir in ../shared loads like the copied segment, when present."""
        source = SHARED if SHARED.exists() else None
        log_dir = tempfile.mkdtemp(prefix="kraft-test-")
        if source is not None:
            shutil.copytree(source, log_dir, dirs_exist_ok=True)
        else:
            os.makedirs(os.path.join(log_dir, METADATA_DIR))
            Path(log_dir, METADATA_DIR, "00000000000000000000.log").write_bytes(
                load_hex("records_cluster_metadata_0.hex")
            )
        image = self.successResultOf(KRaftMetadataStore(log_dir).load())
        self.assertEqual(image.topics["foo"].topic_id, FOO_ID)

    def test_uuid_text_form(self) -> None:
        """Kafka's base64 text form of the fixture topic id round-trips."""
        self.assertEqual(uuid_to_kafka(FOO_ID), FOO_ID_TEXT)
        self.assertEqual(kafka_to_uuid(FOO_ID_TEXT), FOO_ID)


def _batch(records: list[object], base_offset: int, epoch: int = 1) -> bytes:
    values = [encode_metadata_record(r) for r in records]
    return build_batch(
        [(None, v) for v in values],
        base_offset=base_offset,
        base_timestamp=1,
        partition_leader_epoch=epoch,
    )


class ImageTests(SynchronousTestCase):
    """Applying records to the image."""

    def setUp(self) -> None:
        self.tid = uuid.UUID(int=12345)
        self.topic = mr.TopicRecord(name="t", topic_id=self.tid)
        self.part = mr.PartitionRecord(
            partition_id=0,
            topic_id=self.tid,
            replicas=(1,),
            isr=(1,),
            leader=1,
            leader_epoch=0,
            partition_epoch=0,
        )

    def load(self, *batches: bytes) -> tuple[KRaftMetadataStore, MetadataImage]:
        store = KRaftMetadataStore(metadata_dir_with(b"".join(batches)))
        return store, self.successResultOf(store.load())

    def test_partition_change(self) -> None:
        """A PartitionChangeRecord changes only the fields it carries and bumps the epochs."""
        change = mr.PartitionChangeRecord(partition_id=0, topic_id=self.tid, isr=(1, 2), leader=2)
        _, image = self.load(_batch([self.topic, self.part], 0), _batch([change], 2))
        p = image.topics["t"].partitions[0]
        self.assertEqual((p.leader, p.leader_epoch, p.isr, p.replicas), (2, 1, (1, 2), (1,)))
        self.assertEqual(p.partition_epoch, 1)

    def test_remove_topic(self) -> None:
        """A RemoveTopicRecord removes the topic by id and name."""
        _, image = self.load(
            _batch([self.topic, self.part], 0), _batch([mr.RemoveTopicRecord(topic_id=self.tid)], 2)
        )
        self.assertEqual(image.topics, {})
        self.assertEqual(image.topics_by_id, {})

    def test_config_records(self) -> None:
        """ConfigRecords set and (with a null value) delete a topic's configs."""
        set_ = mr.ConfigRecord(
            resource_type=RESOURCE_TOPIC, resource_name="t", name="retention.ms", value="5"
        )
        other = mr.ConfigRecord(
            resource_type=RESOURCE_TOPIC, resource_name="t", name="segment.ms", value="9"
        )
        delete = mr.ConfigRecord(
            resource_type=RESOURCE_TOPIC, resource_name="t", name="segment.ms", value=None
        )
        _, image = self.load(_batch([self.topic, set_, other], 0), _batch([delete], 3))
        self.assertEqual(image.topics["t"].configs, {"retention.ms": "5"})

    def test_torn_tail_is_reported(self) -> None:
        """A torn last batch is reported and ignored; earlier batches apply."""
        second = _batch([mr.TopicRecord(name="u", topic_id=uuid.UUID(int=7))], 2)
        store, image = self.load(_batch([self.topic, self.part], 0), second[:-5])
        self.assertEqual(list(image.topics), ["t"])
        self.assertEqual(len(store.problems), 1)
        self.assertIn("torn or corrupt", store.problems[0])

    def test_corrupt_batch_is_reported(self) -> None:
        """A batch with a bad CRC is reported, not fatal, and not applied."""
        second = bytearray(_batch([mr.TopicRecord(name="u", topic_id=uuid.UUID(int=7))], 2))
        second[-1] ^= 0xFF
        store, image = self.load(_batch([self.topic, self.part], 0), bytes(second))
        self.assertNotIn("u", image.topics)
        self.assertEqual(len(store.problems), 1)

    def test_append_then_reload(self) -> None:
        """Records appended by the store are replayed by a new store over the same directory."""
        store, _ = self.load(_batch([self.topic, self.part], 0))
        clock = Clock()
        store.clock = clock
        new = mr.TopicRecord(name="new", topic_id=uuid.UUID(int=99))
        self.successResultOf(store.append([new]))
        self.assertIn("new", store.image.topics)
        again = KRaftMetadataStore(store.log_dir)
        image = self.successResultOf(again.load())
        self.assertEqual(sorted(image.topics), ["new", "t"])
        self.assertEqual(again.next_offset, 3)

    def test_missing_directory(self) -> None:
        """A log dir without a metadata log gives an empty image."""
        image = self.successResultOf(KRaftMetadataStore(tempfile.mkdtemp()).load())
        self.assertEqual(image.topics, {})


class FormatTests(SynchronousTestCase):
    """meta.properties and partition.metadata."""

    def test_meta_properties_created_once(self) -> None:
        """A missing meta.properties is written once; later calls return the same cluster id."""
        log_dir = tempfile.mkdtemp()
        first = ensure_meta_properties(log_dir, 3)
        self.assertEqual(ensure_meta_properties(log_dir, 3), first)
        text = Path(log_dir, "meta.properties").read_text()
        self.assertIn(f"cluster.id={first}", text)
        self.assertIn("node.id=3", text)
        self.assertIn("version=1", text)
        self.assertEqual(len(kafka_to_uuid(first).bytes), 16)

    def test_existing_meta_properties(self) -> None:
        """An existing meta.properties keeps its cluster id."""
        log_dir = tempfile.mkdtemp()
        Path(log_dir, "meta.properties").write_text(
            "version=1\ncluster.id=rwd2jqiwRaCycLq7mKVHXA\nnode.id=1\n"
        )
        self.assertEqual(ensure_meta_properties(log_dir, 1), "rwd2jqiwRaCycLq7mKVHXA")

    def test_partition_metadata_bytes(self) -> None:
        """partition.metadata is byte for byte what Kafka wrote for the fixture topic."""
        d = tempfile.mkdtemp()
        write_partition_metadata(d, FOO_ID)
        # Source: kraft-combined-logs/foo-0/partition.metadata, written by Kafka.
        self.assertEqual(
            Path(d, "partition.metadata").read_bytes(),
            b"version: 0\ntopic_id: v9meXjI1RVKB-NSvF0GXDA",
        )
