"""Self-checks: the tester port's log directory, server.properties, randomness and stage table."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests.challenge.recorded import REAL_KAFKA_LOGS

# A module import: pytest would try to collect a class named Test* imported here.
from tests.challenge.tester import tester_random
from tests.challenge.tester.constants import DIRECTORY_UUID, RANDOM_WORDS, TOPIC_UUID_PREFIX
from tests.challenge.tester.decoder import decode_log_segment
from tests.challenge.tester.encoder import uuid_to_base64
from tests.challenge.tester.kafka_files_generator import prepare_log_dir, write_server_properties
from tests.challenge.tester.metadata_records import parse_metadata_payload
from tests.challenge.tester.record_batch import Record, RecordBatch
from tests.challenge.tester.stages import STAGE_BY_SLUG, STAGES


def records_of(batch: RecordBatch) -> tuple[Record, ...]:
    """The records of C{batch}, which must not be null."""
    assert batch.records is not None, "null records"
    return batch.records


def value_of(record: Record) -> bytes:
    """The value of C{record}, which must not be null."""
    assert record.value is not None, "null value"
    return record.value


class LogDirectoryTests(SynchronousTestCase):
    """prepare_log_dir writes the tester's tree with valid batches."""

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root, True)
        self.log_dir = os.path.join(self.root, "kraft-combined-logs")

    def read(self, *parts: str) -> bytes:
        """The bytes of a file under the log directory."""
        with open(os.path.join(self.log_dir, *parts), "rb") as handle:
            return handle.read()

    def test_base_files(self) -> None:
        """With no topics only meta.properties and .kafka_cleanshutdown exist."""
        prepare_log_dir(self.log_dir, topics=())
        self.assertEqual(
            sorted(os.listdir(self.log_dir)),
            [".kafka_cleanshutdown", "meta.properties"],
        )
        meta = self.read("meta.properties").decode()
        self.assertIn("cluster.id=IAAAAAAAQACAAAAAAAAAAQ\n", meta)
        self.assertIn("directory.id=EAAAAAAAQACAAAAAAAAAAQ==\n", meta)
        self.assertTrue(meta.endswith("node.id=1\nversion=1\n"))
        self.assertEqual(self.read(".kafka_cleanshutdown"), b'{"version":0,"brokerEpoch":10}')

    def test_metadata_log(self) -> None:
        """
        The metadata log decodes with valid CRCs into FeatureLevel, Topic and Partition records.
        """
        layout = prepare_log_dir(self.log_dir, seed=7)
        batches = decode_log_segment(self.read("__cluster_metadata-0", "00000000000000000000.log"))
        self.assertEqual(len(batches), 1 + len(layout.topics))
        self.assertEqual([b.base_offset for b in batches][:2], [0, 1])
        first = parse_metadata_payload(value_of(records_of(batches[0])[0]))
        self.assertEqual(
            (first["type"], first["name"], first["feature_level"]),
            (12, "metadata.version", 20),
        )
        for topic, batch in zip(layout.topics, batches[1:], strict=True):
            payloads = [parse_metadata_payload(value_of(r)) for r in records_of(batch)]
            self.assertEqual(payloads[0]["type"], 2)
            self.assertEqual(
                (payloads[0]["name"], payloads[0]["topic_id"]), (topic.name, topic.uuid)
            )
            self.assertEqual(
                [p["partition_id"] for p in payloads[1:]],
                [p.partition_id for p in topic.partitions],
            )
            for payload in payloads[1:]:
                self.assertEqual(payload["topic_id"], topic.uuid)
                self.assertEqual(
                    (payload["leader"], payload["replicas"], payload["isr"]),
                    (1, [1], [1]),
                )
                self.assertEqual(payload["directories"], [DIRECTORY_UUID])
            self.assertEqual((batch.partition_leader_epoch, batch.producer_id), (1, -1))
        self.assertEqual(
            self.read("__cluster_metadata-0", "partition.metadata"),
            b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ",
        )

    def test_partition_logs(self) -> None:
        """Partition logs hold one valid batch per message, or are empty."""
        layout = prepare_log_dir(self.log_dir, seed=11)
        for topic in layout.topics:
            for partition in topic.partitions:
                directory = f"{topic.name}-{partition.partition_id}"
                data = self.read(directory, "00000000000000000000.log")
                batches = decode_log_segment(data)
                self.assertEqual(
                    [value_of(records_of(b)[0]).decode() for b in batches],
                    list(partition.messages),
                )
                self.assertEqual(
                    [b.base_offset for b in batches],
                    list(range(len(partition.messages))),
                )
                self.assertTrue(all(records_of(b)[0].headers is None for b in batches))
                self.assertEqual(
                    self.read(directory, "partition.metadata").decode(),
                    f"version: 0\ntopic_id: {uuid_to_base64(topic.uuid)}",
                )

    def test_same_shape_as_real_kafka(self) -> None:
        """Real Kafka's metadata and partition logs decode with the same parsers."""
        if not os.path.isdir(REAL_KAFKA_LOGS):
            raise self.skipTest("no real Kafka fixture in /work/shared")
        with open(
            os.path.join(REAL_KAFKA_LOGS, "__cluster_metadata-0", "00000000000000000000.log"),
            "rb",
        ) as handle:
            real = decode_log_segment(handle.read())
        real_payloads = [
            parse_metadata_payload(r.value) for b in real for r in records_of(b) if r.value
        ]
        real_types = {p["type"] for p in real_payloads}
        self.assertTrue({12, 2, 3} <= real_types)
        real_partition = next(p for p in real_payloads if p["type"] == 3)
        layout = prepare_log_dir(self.log_dir, seed=3)
        ours = decode_log_segment(self.read("__cluster_metadata-0", "00000000000000000000.log"))
        our_partition = parse_metadata_payload(value_of(records_of(ours[1])[1]))
        self.assertEqual(
            set(real_partition) - {"tagged_fields"},
            set(our_partition) - {"tagged_fields"},
        )
        self.assertEqual((real_partition["frame_version"], real_partition["version"]), (1, 1))
        real_topic = next(p for p in real_payloads if p["type"] == 2)
        self.assertEqual(real_topic["name"], "foo")
        with open(
            os.path.join(REAL_KAFKA_LOGS, "foo-0", "00000000000000000000.log"), "rb"
        ) as handle:
            foo = decode_log_segment(handle.read())
        self.assertEqual(records_of(foo[0])[0].value, b"Hello World!")
        self.assertTrue(layout.topics)

    def test_server_properties(self) -> None:
        """server.properties is the tester's text, ports and log dir substituted."""
        path = os.path.join(self.root, "server.properties")
        write_server_properties(path, "/tmp/kraft-combined-logs", 9092, 9093)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        self.assertEqual(
            text,
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n"
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\nlog.dirs=/tmp/kraft-combined-logs",
        )


class RandomnessTests(SynchronousTestCase):
    """Random helpers follow the tester's ranges and formats."""

    def test_topic_uuids(self) -> None:
        """Topic UUIDs share the tester's prefix and encode without '+' or '/'."""
        rand = tester_random.TesterRandom(5)
        for value in [rand.topic_uuid() for _ in range(50)] + rand.topic_uuids(3):
            self.assertTrue(value.startswith(TOPIC_UUID_PREFIX))
            self.assertNotIn("+", uuid_to_base64(value))
            self.assertNotIn("/", uuid_to_base64(value))

    def test_words(self) -> None:
        """RandomWords returns distinct fruit names; RandomString is six of them."""
        rand = tester_random.TesterRandom(9)
        words = rand.words(4)
        self.assertEqual(len(set(words)), 4)
        self.assertTrue(set(words) <= set(RANDOM_WORDS))
        self.assertEqual(len(rand.string().split(" ")), 6)

    def test_stage_table(self) -> None:
        """There are 25 stages with unique slugs and the old produce slugs as aliases."""
        self.assertEqual(len(STAGES), 25)
        self.assertEqual(len({s.slug for s in STAGES}), 25)
        self.assertIs(STAGE_BY_SLUG["ls8"], STAGE_BY_SLUG["ps7"])
