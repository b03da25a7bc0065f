"""Golden tests of the trace's JSON rendering (L{kafkatwist.trace.render}) on captured client bytes.

The bytes come from tests/fixtures: requests a client sent and responses a
real Kafka broker answered, captured by CodeCrafters' kafka-tester; never
from kafkatwist's own encoder.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import kafka.protocol
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist import messages
from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.messages.create_topics import CreateTopicsRequest
from kafkatwist.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
from kafkatwist.messages.fetch import FetchRequest, FetchResponse
from kafkatwist.messages.metadata import (
    MetadataResponse,
    MetadataResponsePartition,
    MetadataResponseTopic,
)
from kafkatwist.messages.produce import ProduceRequest, TopicProduceData
from kafkatwist.messages.update_features import UpdateFeaturesRequest
from kafkatwist.trace.names import kafka_name
from kafkatwist.trace.render import render
from kafkatwist.wire import schema
from kafkatwist.wire.header import decode_request_header, decode_response_header
from kafkatwist.wire.primitives import Reader
from tests.support import load_hex

#: The fixture's topic id (kafka-tester's), as Kafka's Uuid.toString() prints it.
TOPIC_ID = "AAAAAAAAQACAAAAAAAAAhg"


def decoded_request(name: str, cls: type, version: int) -> object:
    """The body of the framed request fixture C{name}, decoded."""
    reader = Reader(load_hex(name)[4:])
    decode_request_header(reader, 2)
    return schema.decode(cls, version, reader)


def decoded_response(name: str, cls: type, version: int, header_version: int) -> object:
    """The body of the framed response fixture C{name}, decoded."""
    reader = Reader(load_hex(name)[4:])
    decode_response_header(reader, header_version)
    return schema.decode(cls, version, reader)


def snake(name: str) -> str:
    """The generator's snake_case of a schema name (tools/generate_messages.py)."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


class GoldenTests(SynchronousTestCase):
    def test_produce_request(self) -> None:
        """A Produce v11 request: Kafka's names, the records summarised from the batch header."""
        body = render(decoded_request("produce_v11_request", ProduceRequest, 11), 11)
        self.assertEqual(
            body,
            {
                "TransactionalId": None,
                "Acks": -1,
                "TimeoutMs": 30000,
                "TopicData": [
                    {
                        "Name": "orange",
                        "PartitionData": [
                            {
                                "Index": 720,
                                "Records": {
                                    "sizeInBytes": 73,
                                    "batches": 1,
                                    "records": 1,
                                    "baseOffset": 0,
                                    "lastOffset": 0,
                                    "compression": "none",
                                    "producerId": 0,
                                    "producerEpoch": 0,
                                    "baseSequence": 0,
                                    "producers": 1,
                                    "transactional": 0,
                                    "control": 0,
                                },
                            }
                        ],
                    }
                ],
            },
        )

    def test_fetch_request(self) -> None:
        """A Fetch v16 request: topic ids as Kafka prints a Uuid, nested structs, arrays."""
        body = render(decoded_request("fetch_v16_request", FetchRequest, 16), 16)
        self.assertEqual(
            body,
            {
                "ClusterId": None,
                "ReplicaState": {"ReplicaId": -1, "ReplicaEpoch": -1},
                "MaxWaitMs": 500,
                "MinBytes": 1,
                "MaxBytes": 52428800,
                "IsolationLevel": 0,
                "SessionId": 0,
                "SessionEpoch": 0,
                "Topics": [
                    {
                        "TopicId": TOPIC_ID,
                        "Partitions": [
                            {
                                "Partition": 0,
                                "CurrentLeaderEpoch": -1,
                                "FetchOffset": 0,
                                "LastFetchedEpoch": -1,
                                "LogStartOffset": -1,
                                "PartitionMaxBytes": 1048576,
                            }
                        ],
                    }
                ],
                "ForgottenTopicsData": [],
                "RackId": "",
            },
        )

    def test_fetch_response(self) -> None:
        """A Fetch v16 response from a real broker: tagged fields shown, records summarised."""
        body: Any = render(decoded_response("fetch_v16_response", FetchResponse, 16, 1), 16)
        self.assertEqual(
            (body["ThrottleTimeMs"], body["ErrorCode"], body["SessionId"]), (0, 0, 260689356)
        )
        [topic] = body["Responses"]
        self.assertEqual(topic["TopicId"], TOPIC_ID)
        [partition] = topic["Partitions"]
        records = partition.pop("Records")
        self.assertEqual(
            partition,
            {
                "PartitionIndex": 0,
                "ErrorCode": 0,
                "HighWatermark": 1,
                "LastStableOffset": 1,
                "LogStartOffset": 0,
                "DivergingEpoch": {"Epoch": -1, "EndOffset": -1},
                "CurrentLeader": {"LeaderId": -1, "LeaderEpoch": -1},
                "SnapshotId": {"EndOffset": -1, "Epoch": -1},
                "AbortedTransactions": None,
                "PreferredReadReplica": -1,
            },
        )
        self.assertEqual(
            (records["sizeInBytes"], records["batches"], records["records"]), (94, 1, 1)
        )
        self.assertEqual(body["NodeEndpoints"], [])

    def test_api_versions_request(self) -> None:
        """An ApiVersions v4 request (flexible): its two strings."""
        body = render(decoded_request("api_versions_v4_request", ApiVersionsRequest, 4), 4)
        self.assertEqual(body, {"ClientSoftwareName": "kafka-cli", "ClientSoftwareVersion": "0.1"})

    def test_api_versions_response_tagged_fields(self) -> None:
        """A real broker's ApiVersions v4 response: its tagged fields 0, 1 and 2 are shown."""
        response = decoded_response("api_versions_v4_response", ApiVersionsResponse, 4, 0)
        body = render(response, 4)
        self.assertEqual(len(body.pop("ApiKeys")), 61)  # type: ignore[arg-type]
        self.assertEqual(
            body,
            {
                "ErrorCode": 0,
                "ThrottleTimeMs": 0,
                "SupportedFeatures": [
                    {"Name": "group.version", "MinVersion": 0, "MaxVersion": 1},
                    {"Name": "kraft.version", "MinVersion": 0, "MaxVersion": 1},
                    {"Name": "metadata.version", "MinVersion": 1, "MaxVersion": 22},
                ],
                "FinalizedFeaturesEpoch": 14,
                "FinalizedFeatures": [
                    {"Name": "metadata.version", "MaxVersionLevel": 20, "MinVersionLevel": 20}
                ],
                "ZkMigrationReady": False,
            },
        )

    def test_describe_topic_partitions_request(self) -> None:
        """A DescribeTopicPartitions v0 request: a null nullable struct is null."""
        request = decoded_request(
            "describe_topic_partitions_v0_request", DescribeTopicPartitionsRequest, 0
        )
        self.assertEqual(
            render(request, 0),
            {"Topics": [{"Name": "bar"}], "ResponsePartitionLimit": 1, "Cursor": None},
        )

    def test_fields_absent_at_the_version_are_left_out(self) -> None:
        """Produce v12's topics have a Name, v13's a TopicId; v2 has no TransactionalId."""
        topic = TopicProduceData(name="a", topic_id=uuid.UUID(int=7))
        request = ProduceRequest(acks=1, timeout_ms=5, topic_data=(topic,))
        self.assertEqual(render(request, 12)["TopicData"], [{"Name": "a", "PartitionData": []}])
        self.assertEqual(
            render(request, 13)["TopicData"],
            [{"TopicId": "AAAAAAAAAAAAAAAAAAAABw", "PartitionData": []}],
        )
        self.assertEqual(list(render(request, 2)), ["Acks", "TimeoutMs", "TopicData"])

    def test_linear_in_a_large_metadata_response(self) -> None:
        """A Metadata response of 10,000 topics is one JSON object with every topic."""
        topics = tuple(
            MetadataResponseTopic(
                name=f"t{i}",
                partitions=(MetadataResponsePartition(partition_index=0, leader_id=1),),
            )
            for i in range(10_000)
        )
        body = render(MetadataResponse(topics=topics), 12)
        line = json.dumps(body)
        self.assertEqual(len(body["Topics"]), 10_000)  # type: ignore[arg-type]
        self.assertIn('"Name": "t9999"', line)
        self.assertIn('"PartitionIndex": 0', line)


class NameTests(SynchronousTestCase):
    def test_schema_spellings(self) -> None:
        """The three lower camelCase names of Kafka's schemas are kept as the schemas spell them."""
        self.assertEqual(
            list(render(CreateTopicsRequest(), 4)), ["Topics", "timeoutMs", "validateOnly"]
        )
        self.assertEqual(
            list(render(UpdateFeaturesRequest(), 1)),
            ["timeoutMs", "FeatureUpdates", "ValidateOnly"],
        )

    def test_every_name_gives_the_attribute_back(self) -> None:
        """For every field of every model, the generator's snake_case of its name is it."""
        checked = 0
        for module_name in messages.MODULES:
            module = importlib.import_module(f"kafkatwist.messages.{module_name}")
            for class_name in module.__all__:
                cls = getattr(module, class_name)
                for a, _spec in schema.field_specs(cls):
                    name = kafka_name(cls.__name__, a.name)
                    self.assertEqual(snake(name), a.name.rstrip("_"), (class_name, name))
                    self.assertNotIn("_", name)
                    checked += 1
        self.assertGreater(checked, 1000)


KAFKA_PYTHON_SCHEMAS = Path(kafka.protocol.__file__).parent / "schemas" / "resources"


def kafka_schema(path: Path) -> dict[str, Any]:
    """One of Kafka's JSON message schemas (whole-line // comments stripped)."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("//")]
    loaded: dict[str, Any] = json.loads("\n".join(lines))
    return loaded


class KafkaSchemaNameTests(SynchronousTestCase):
    """Our names against Kafka's own JSON schemas, as kafka-python ships them (not our copy)."""

    def compare(self, cls: type, fields: list[dict[str, Any]], common: dict[str, Any]) -> int:
        """Check every field of C{cls} that Kafka's C{fields} name; how many were checked."""
        ours = {a.name: spec for a, spec in schema.field_specs(cls)}
        checked = 0
        for f in fields:
            attribute = snake(f["name"])
            spec = ours.get(attribute) or ours.get(attribute + "_")
            if spec is None:
                continue
            self.assertEqual(kafka_name(cls.__name__, spec.name or attribute), f["name"])
            checked += 1
            nested = f.get("fields")
            element = f["type"].removeprefix("[]")
            if nested is None and element in common:
                nested = common[element]["fields"]
            if nested is not None and spec.struct is not None:
                checked += self.compare(spec.struct, nested, common)
        return checked

    def test_kafka_python_schemas(self) -> None:
        """Every field of every request and response kafka-python has gets Kafka's name."""
        ours: dict[str, type] = {}
        for module_name in messages.MODULES:
            module = importlib.import_module(f"kafkatwist.messages.{module_name}")
            for class_name in module.__all__:
                cls = getattr(module, class_name)
                if "__kafka__" in vars(cls):
                    ours[schema.message_info(cls).name] = cls
        checked = messages_seen = 0
        for path in sorted(KAFKA_PYTHON_SCHEMAS.glob("*.json")):
            kafka = kafka_schema(path)
            cls = ours.get(kafka["name"])
            if cls is None or kafka.get("type") not in ("request", "response"):
                continue
            common = {c["name"]: c for c in kafka.get("commonStructs", [])}
            checked += self.compare(cls, kafka["fields"], common)
            messages_seen += 1
        self.assertGreater(messages_seen, 80)
        self.assertGreater(checked, 800)
