"""Metadata, CreateTopics, DeleteTopics and CreatePartitions handler tests."""

from __future__ import annotations

import uuid

from kafka.protocol.metadata.metadata import MetadataRequest as ClientMetadataRequest
from kafka.protocol.metadata.metadata import MetadataResponse as ClientMetadataResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import create_partitions, create_topics, delete_topics, metadata
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.create_partitions import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreatePartitionsTopic,
    CreatePartitionsTopicResult,
)
from kafkatwist.messages.create_topics import (
    CreatableTopic,
    CreatableTopicConfig,
    CreatableTopicResult,
    CreateTopicsRequest,
    CreateTopicsResponse,
)
from kafkatwist.messages.delete_topics import DeleteTopicsRequest, DeleteTopicState
from kafkatwist.messages.metadata import MetadataRequest, MetadataRequestTopic, MetadataResponse
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.wire import schema
from tests.brokers import call, make_broker, metadata_of
from tests.offsets_support import client_roundtrip


class MetadataTests(SynchronousTestCase):
    """Brokers, topic lists and auto-creation."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 2))

    def metadata(
        self,
        topics: tuple[MetadataRequestTopic, ...] | None,
        version: int = 12,
        auto: bool = True,
    ) -> MetadataResponse:
        request = MetadataRequest(topics=topics, allow_auto_topic_creation=auto)
        response: MetadataResponse = self.successResultOf(
            call(self.broker, metadata.SPEC, request, version)
        )
        return response

    def named(self, *names: str) -> tuple[MetadataRequestTopic, ...]:
        return tuple(MetadataRequestTopic(name=n) for n in names)

    def test_brokers_and_cluster(self) -> None:
        """The broker list is this broker at its advertised address, and it is the controller."""
        response = self.metadata(None)
        (b,) = response.brokers
        self.assertEqual((b.node_id, b.host, b.port), (1, "127.0.0.1", 9092))
        self.assertEqual((response.controller_id, response.cluster_id), (1, "test-cluster"))

    def test_null_lists_all_empty_lists_none(self) -> None:
        """A null list returns every topic; an empty list (v1+) returns none; v0 empty means all."""
        self.assertEqual([t.name for t in self.metadata(None).topics], ["t"])
        self.assertEqual(self.metadata(()).topics, ())
        self.assertEqual([t.name for t in self.metadata((), version=0).topics], ["t"])

    def test_partitions(self) -> None:
        """Each partition reports leader, epoch, replicas and ISR; the topic its id."""
        (t,) = self.metadata(self.named("t")).topics
        self.assertEqual(t.topic_id, self.broker.metadata.image.topics["t"].topic_id)
        self.assertEqual(
            [(p.partition_index, p.leader_id, p.replica_nodes, p.isr_nodes) for p in t.partitions],
            [(0, 1, (1,), (1,)), (1, 1, (1,), (1,))],
        )

    def test_auto_create(self) -> None:
        """A missing topic is created with num.partitions when both switches allow it."""
        (t,) = self.metadata(self.named("new-topic")).topics
        self.assertEqual((t.error_code, len(t.partitions)), (0, 1))
        self.assertIn("new-topic", self.broker.metadata.image.topics)

    def test_metadata_log_is_never_auto_created(self) -> None:
        """
        A Metadata asking for __cluster_metadata does not create it as a topic: its partition
        directory would be the metadata log's own (then Produce or DeleteTopics could reach it).
        """
        (t,) = self.metadata(self.named("__cluster_metadata")).topics
        self.assertEqual((t.error_code, t.partitions), (ErrorCode.INVALID_REQUEST, ()))
        self.assertNotIn("__cluster_metadata", self.broker.metadata.image.topics)
        with self.assertRaises(KafkaError) as raised:
            self.broker.controller.create_topic("__cluster_metadata")
        self.assertEqual(raised.exception.code, ErrorCode.INVALID_REQUEST)

    def test_no_auto_create(self) -> None:
        """With allow_auto_topic_creation false a missing topic is UNKNOWN_TOPIC_OR_PARTITION."""
        (t,) = self.metadata(self.named("other"), auto=False).topics
        self.assertEqual(t.error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        self.assertNotIn("other", self.broker.metadata.image.topics)

    def test_invalid_name(self) -> None:
        """
        Invalid names (characters, '.', '..', length) get INVALID_TOPIC_EXCEPTION and are not
        created.
        """
        for name in ("bad name", ".", "..", "x" * 250):
            (t,) = self.metadata(self.named(name)).topics
            self.assertEqual(t.error_code, ErrorCode.INVALID_TOPIC_EXCEPTION, name)

    def test_by_topic_id(self) -> None:
        """v10+ topics named by id; an unknown id gets UNKNOWN_TOPIC_ID."""
        tid = self.broker.metadata.image.topics["t"].topic_id
        (t,) = self.metadata((MetadataRequestTopic(topic_id=tid, name=None),)).topics
        self.assertEqual(t.name, "t")
        (u,) = self.metadata((MetadataRequestTopic(topic_id=uuid.UUID(int=3), name=None),)).topics
        self.assertEqual(u.error_code, ErrorCode.UNKNOWN_TOPIC_ID)

    def test_by_topic_id_with_empty_name(self) -> None:
        """The Java client 4.3 (regex subscriptions) names a topic by id with an empty name."""
        tid = self.broker.metadata.image.topics["t"].topic_id
        (t,) = self.metadata((MetadataRequestTopic(topic_id=tid, name=""),)).topics
        self.assertEqual((t.error_code, t.name, t.topic_id), (0, "t", tid))

    def test_v13_kafka_python(self) -> None:
        """kafka-python's v13 request is answered; its decoder reads the top-level error code."""
        T = ClientMetadataRequest.MetadataRequestTopic
        tid = self.broker.metadata.image.topics["t"].topic_id
        request = ClientMetadataRequest(
            topics=[T(topic_id=None, name="t"), T(topic_id=tid, name=None)],
            allow_auto_topic_creation=False,
            include_topic_authorized_operations=False,
        )
        response = client_roundtrip(
            self, self.broker, metadata.SPEC, request, ClientMetadataResponse, 13
        )
        self.assertEqual(response.error_code, 0)
        self.assertEqual([(t.error_code, t.name) for t in response.topics], [(0, "t"), (0, "t")])
        self.assertEqual([b.node_id for b in response.brokers], [1])

    def test_error_response_top_level_from_v13(self) -> None:
        """An error answer carries its code at the top from v13, and in each topic always."""
        request = MetadataRequest(topics=self.named("t"))
        for version in (12, 13):
            response = metadata.SPEC.error_response(
                request, version, ErrorCode.CLUSTER_AUTHORIZATION_FAILED
            )
            decoded = ClientMetadataResponse.decode(
                schema.encode_bytes(response, version), version=version
            )
            self.assertEqual(
                [t.error_code for t in decoded.topics], [ErrorCode.CLUSTER_AUTHORIZATION_FAILED]
            )
            if version >= 13:
                self.assertEqual(decoded.error_code, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)


class CreateTopicsTests(SynchronousTestCase):
    """CreateTopics."""

    def setUp(self) -> None:
        self.broker = make_broker()

    def create(
        self, *topics: CreatableTopic, validate_only: bool = False, version: int = 7
    ) -> tuple[CreatableTopicResult, ...]:
        request = CreateTopicsRequest(topics=topics, timeout_ms=1000, validate_only=validate_only)
        response: CreateTopicsResponse = self.successResultOf(
            call(self.broker, create_topics.SPEC, request, version)
        )
        return response.topics

    def test_create_and_persist(self) -> None:
        """
        A created topic is in the image, answered with its id and configs, and survives a reload.
        """
        cfg = (CreatableTopicConfig(name="retention.ms", value="1000"),)
        (r,) = self.create(
            CreatableTopic(name="a", num_partitions=3, replication_factor=1, configs=cfg)
        )
        self.assertEqual((r.error_code, r.num_partitions, r.replication_factor), (0, 3, 1))
        self.assertEqual(r.topic_id, self.broker.metadata.image.topics["a"].topic_id)
        assert r.configs is not None
        entry = {c.name: c for c in r.configs}["retention.ms"]
        self.assertEqual((entry.value, entry.config_source), ("1000", 1))
        reloaded = self.successResultOf(KRaftMetadataStore(metadata_of(self.broker).log_dir).load())
        self.assertEqual(len(reloaded.topics["a"].partitions), 3)
        self.assertEqual(reloaded.topics["a"].configs, {"retention.ms": "1000"})

    def test_errors(self) -> None:
        """Existing, invalid, replicated, duplicated and misconfigured topics get Kafka's codes."""
        self.create(CreatableTopic(name="a", num_partitions=1, replication_factor=1))
        results = self.create(
            CreatableTopic(name="a", num_partitions=1, replication_factor=1),
            CreatableTopic(name="b c", num_partitions=1, replication_factor=1),
            CreatableTopic(name="rf", num_partitions=1, replication_factor=3),
            CreatableTopic(name="dup", num_partitions=1, replication_factor=1),
            CreatableTopic(name="dup", num_partitions=1, replication_factor=1),
            CreatableTopic(
                name="cfg",
                num_partitions=1,
                replication_factor=1,
                configs=(CreatableTopicConfig(name="no.such.config", value="1"),),
            ),
            CreatableTopic(name="zero", num_partitions=0, replication_factor=1),
        )
        self.assertEqual(
            [r.error_code for r in results],
            [
                ErrorCode.TOPIC_ALREADY_EXISTS,
                ErrorCode.INVALID_TOPIC_EXCEPTION,
                ErrorCode.INVALID_REPLICATION_FACTOR,
                ErrorCode.INVALID_REQUEST,
                ErrorCode.INVALID_REQUEST,
                ErrorCode.INVALID_CONFIG,
                ErrorCode.INVALID_PARTITIONS,
            ],
        )

    def test_validate_only(self) -> None:
        """validate_only answers as a creation would but creates nothing."""
        (r,) = self.create(
            CreatableTopic(name="v", num_partitions=-1, replication_factor=-1), validate_only=True
        )
        self.assertEqual((r.error_code, r.num_partitions), (0, 1))
        self.assertNotIn("v", self.broker.metadata.image.topics)


class DeleteAndPartitionsTests(SynchronousTestCase):
    """DeleteTopics and CreatePartitions."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def test_delete_by_name_and_id(self) -> None:
        """Topics are deleted by name (v0-5) and by id (v6); unknown ones get Kafka's codes."""
        tid = self.broker.metadata.image.topics["t"].topic_id
        r = self.successResultOf(
            call(
                self.broker,
                delete_topics.SPEC,
                DeleteTopicsRequest(topics=(DeleteTopicState(name=None, topic_id=tid),)),
                6,
            )
        )
        self.assertEqual(r.responses[0].error_code, 0)
        self.assertEqual(r.responses[0].name, "t")
        self.assertNotIn("t", self.broker.metadata.image.topics)
        self.assertIsNone(self.broker.logs.get("t", 0))
        again = self.successResultOf(
            call(self.broker, delete_topics.SPEC, DeleteTopicsRequest(topic_names=("t",)), 5)
        )
        self.assertEqual(again.responses[0].error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        by_id = self.successResultOf(
            call(
                self.broker,
                delete_topics.SPEC,
                DeleteTopicsRequest(topics=(DeleteTopicState(name=None, topic_id=tid),)),
                6,
            )
        )
        self.assertEqual(by_id.responses[0].error_code, ErrorCode.UNKNOWN_TOPIC_ID)

    def test_deletion_disabled_refuses_the_whole_request(self) -> None:
        """
        delete.topic.enable=false fails the request up front (Kafka's
        ControllerApis.deleteTopics): INVALID_REQUEST below v3, TOPIC_DELETION_DISABLED
        from v3, for every topic, even unknown ones.
        """
        broker = make_broker(config=BrokerConfig.from_properties({"delete.topic.enable": "false"}))
        self.successResultOf(broker.controller.create_topic("t", 1))
        for version, code in (
            (2, ErrorCode.INVALID_REQUEST),
            (5, ErrorCode.TOPIC_DELETION_DISABLED),
        ):
            request = DeleteTopicsRequest(topic_names=("t", "missing"))
            failure = self.failureResultOf(
                call(broker, delete_topics.SPEC, request, version), KafkaError
            )
            self.assertEqual(failure.value.code, code)
            response = delete_topics.SPEC.error_response(request, version, failure.value.code)
            self.assertEqual(
                [(r.name, r.error_code) for r in response.responses],
                [("t", code), ("missing", code)],
            )
        self.assertIn("t", broker.metadata.image.topics)

    def test_create_partitions(self) -> None:
        """Partitions are added; a count that is no increase is INVALID_PARTITIONS."""

        def grow(count: int, name: str = "t") -> CreatePartitionsTopicResult:
            request = CreatePartitionsRequest(
                topics=(CreatePartitionsTopic(name=name, count=count, assignments=None),),
                timeout_ms=1000,
            )
            response: CreatePartitionsResponse = self.successResultOf(
                call(self.broker, create_partitions.SPEC, request, 3)
            )
            return response.results[0]

        self.assertEqual(grow(3).error_code, 0)
        self.assertEqual(sorted(self.broker.metadata.image.topics["t"].partitions), [0, 1, 2])
        self.assertEqual(grow(2).error_code, ErrorCode.INVALID_PARTITIONS)
        self.assertEqual(grow(3).error_code, ErrorCode.INVALID_PARTITIONS)
        self.assertEqual(grow(5, "nope").error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


class OffsetsTopicAutoCreateTests(SynchronousTestCase):
    """Metadata naming __consumer_offsets creates it the coordinator's way."""

    def test_metadata_creates_offsets_topic_with_its_partitions(self) -> None:
        """
        __consumer_offsets gets offsets.topic.num.partitions and compaction, not num.partitions.
        """
        from kafkatwist.config.properties import BrokerConfig

        broker = make_broker(
            config=BrokerConfig.from_properties({"offsets.topic.num.partitions": "7"})
        )
        request = MetadataRequest(
            topics=(MetadataRequestTopic(name="__consumer_offsets"),),
            allow_auto_topic_creation=True,
        )
        (t,) = self.successResultOf(call(broker, metadata.SPEC, request, 12)).topics
        self.assertEqual((t.error_code, len(t.partitions), t.is_internal), (0, 7, True))
        configs = broker.metadata.image.topics["__consumer_offsets"].configs
        self.assertEqual(configs["cleanup.policy"], "compact")
