"""Metadata and DescribeTopicPartitions authorize as Kafka: DESCRIBE, auto-creation, KIP-430."""

from __future__ import annotations

import uuid

import attrs
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import describe_topic_partitions as dtp
from kafkatwist.apis import metadata
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_topic_partitions import (
    Cursor,
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
    TopicRequest,
)
from kafkatwist.messages.metadata import MetadataRequest, MetadataRequestTopic, MetadataResponse
from kafkatwist.security.acl import AclOperation, PatternType, ResourceType
from kafkatwist.wire import schema
from kafkatwist.wire.primitives import ZERO_UUID
from tests.brokers import make_broker
from tests.security.authz_support import OMITTED, acl, authorize, call_as, on_cluster, ops

D = AclOperation.DESCRIBE
DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED
#: Every topic operation (Kafka's AclEntry.supportedOperations(TOPIC)).
ALL_TOPIC_OPS = 3576


class MetadataAuthorizationTests(SynchronousTestCase):
    """Topics C{t}, C{app.orders} and C{app.secret}; alice asks."""

    def setUp(self) -> None:
        config = attrs.evolve(BrokerConfig(), auto_create_topics_enable=True)
        self.broker = make_broker(config=config)
        for name in ("t", "app.orders", "app.secret"):
            self.successResultOf(self.broker.controller.create_topic(name, 1))

    def metadata(
        self,
        *names: str | None,
        version: int = 12,
        topic_ops: bool = False,
        cluster_ops: bool = False,
    ) -> MetadataResponse:
        """Metadata for C{names} (C{None} alone: every topic), auto-creation allowed."""
        topics = None if names == (None,) else tuple(MetadataRequestTopic(name=n) for n in names)
        request = MetadataRequest(
            topics=topics,
            allow_auto_topic_creation=True,
            include_topic_authorized_operations=topic_ops,
            include_cluster_authorized_operations=cluster_ops,
        )
        response: MetadataResponse = self.successResultOf(
            call_as(self.broker, metadata.SPEC, request, version)
        )
        schema.encode_bytes(response, version)
        return response

    def codes(self, response: MetadataResponse) -> dict[str | None, int]:
        return {t.name: t.error_code for t in response.topics}

    def test_all_topics_only_describable(self) -> None:
        """Listing every topic leaves out those the principal may not describe."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "app.", AclOperation.READ, pattern=PatternType.PREFIXED),
            acl(ResourceType.TOPIC, "app.secret", D, deny=True),
        )
        self.assertEqual(self.codes(self.metadata(None)), {"app.orders": 0})
        self.assertEqual(self.codes(self.metadata(version=0)), {"app.orders": 0})

    def test_named_topic_denied(self) -> None:
        """A named topic without DESCRIBE is TOPIC_AUTHORIZATION_FAILED, with no id."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.orders", D))
        response = self.metadata("t", "app.orders")
        self.assertEqual(self.codes(response), {"t": DENIED, "app.orders": 0})
        (denied,) = [t for t in response.topics if t.name == "t"]
        self.assertEqual((denied.topic_id, denied.partitions), (ZERO_UUID, ()))

    def test_missing_topic_not_disclosed(self) -> None:
        """A missing topic without DESCRIBE is refused, not created and not called unknown."""
        authorize(self.broker, on_cluster(AclOperation.CREATE))
        self.assertEqual(self.codes(self.metadata("ghost")), {"ghost": DENIED})
        self.assertNotIn("ghost", self.broker.metadata.image.topics)

    def test_topic_ids(self) -> None:
        """By id: a denied topic answers its id and no name; an unknown id UNKNOWN_TOPIC_ID."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.orders", D))
        image = self.broker.metadata.image
        t_id, orders_id, gone = (
            image.topics["t"].topic_id,
            image.topics["app.orders"].topic_id,
            uuid.uuid4(),
        )
        request = MetadataRequest(
            topics=tuple(
                MetadataRequestTopic(topic_id=i, name=None) for i in (t_id, orders_id, gone)
            )
        )
        response: MetadataResponse = self.successResultOf(
            call_as(self.broker, metadata.SPEC, request, 12)
        )
        answers = {t.topic_id: (t.error_code, t.name) for t in response.topics}
        self.assertEqual(
            answers,
            {
                t_id: (DENIED, None),
                orders_id: (0, "app.orders"),
                gone: (ErrorCode.UNKNOWN_TOPIC_ID, None),
            },
        )

    def test_auto_create_needs_create(self) -> None:
        """DESCRIBE without CREATE: a missing topic is TOPIC_AUTHORIZATION_FAILED, not created."""
        authorize(self.broker, acl(ResourceType.TOPIC, "new", D))
        self.assertEqual(self.codes(self.metadata("new")), {"new": DENIED})
        self.assertNotIn("new", self.broker.metadata.image.topics)

    def test_auto_create_with_topic_create(self) -> None:
        """CREATE (with DESCRIBE) on a topic prefix lets Metadata create a topic of it."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "new", D, pattern=PatternType.PREFIXED),
            acl(ResourceType.TOPIC, "new", AclOperation.CREATE, pattern=PatternType.PREFIXED),
        )
        self.assertEqual(self.codes(self.metadata("new-1")), {"new-1": 0})
        self.assertIn("new-1", self.broker.metadata.image.topics)

    def test_auto_create_with_cluster_create(self) -> None:
        """CREATE on the cluster creates any topic the principal may describe."""
        authorize(self.broker, acl(ResourceType.TOPIC, "*", D), on_cluster(AclOperation.CREATE))
        self.assertEqual(self.codes(self.metadata("made")), {"made": 0})

    def test_no_auto_create_unknown(self) -> None:
        """Without auto-creation a describable missing topic is UNKNOWN_TOPIC_OR_PARTITION."""
        authorize(self.broker, acl(ResourceType.TOPIC, "*", D))
        request = MetadataRequest(
            topics=(MetadataRequestTopic(name="nope"),), allow_auto_topic_creation=False
        )
        response = self.successResultOf(call_as(self.broker, metadata.SPEC, request, 12))
        self.assertEqual(self.codes(response), {"nope": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION})

    def test_topic_authorized_operations(self) -> None:
        """Asked for, a topic carries the operations allowed (READ implies DESCRIBE)."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", AclOperation.READ),
            acl(ResourceType.TOPIC, "t", AclOperation.WRITE, deny=True),
        )
        response = self.metadata("t", "app.orders", topic_ops=True)
        found = {t.name: t.topic_authorized_operations for t in response.topics}
        self.assertEqual(found, {"t": ops(AclOperation.READ, D), "app.orders": OMITTED})
        plain = self.metadata("t")
        self.assertEqual(plain.topics[0].topic_authorized_operations, OMITTED)

    def test_cluster_authorized_operations(self) -> None:
        """v8-v10: the cluster's operations, 0 without DESCRIBE on it, unset when not asked."""
        authorize(self.broker, on_cluster(D), on_cluster(AclOperation.ALTER_CONFIGS))
        asked = self.metadata(None, version=10, cluster_ops=True)
        self.assertEqual(
            asked.cluster_authorized_operations,
            ops(D, AclOperation.ALTER_CONFIGS, AclOperation.DESCRIBE_CONFIGS),
        )
        self.assertEqual(self.metadata(None, version=10).cluster_authorized_operations, OMITTED)
        authorize(self.broker, on_cluster(AclOperation.ALTER_CONFIGS))
        none = self.metadata(None, version=10, cluster_ops=True)
        self.assertEqual(none.cluster_authorized_operations, 0)

    def test_no_authorizer_every_operation(self) -> None:
        """Without an authorizer every topic operation is reported, as Kafka does."""
        response = self.metadata("t", topic_ops=True)
        self.assertEqual(response.topics[0].topic_authorized_operations, ALL_TOPIC_OPS)


class DescribeTopicPartitionsAuthorizationTests(SynchronousTestCase):
    """Topics C{a}, C{b} and C{c}; alice may describe C{a} and C{c}."""

    def setUp(self) -> None:
        self.broker = make_broker()
        for name in ("a", "b", "c"):
            self.successResultOf(self.broker.controller.create_topic(name, 1))
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "a", AclOperation.READ),
            acl(ResourceType.TOPIC, "c", D),
        )

    def describe(self, *names: str) -> DescribeTopicPartitionsResponse:
        request = DescribeTopicPartitionsRequest(
            topics=tuple(TopicRequest(name=n) for n in names), response_partition_limit=100
        )
        response: DescribeTopicPartitionsResponse = self.successResultOf(
            call_as(self.broker, dtp.SPEC, request, 0)
        )
        schema.encode_bytes(response, 0)
        return response

    def test_cursor_does_not_reveal_existence(self) -> None:
        """
        Listing every topic from a cursor answers the same whether the cursor's topic exists
        or not (Kafka checks the cursor against the request's list only): a principal may not
        probe for a topic it cannot describe, here C{b} against the absent C{bb}.
        """
        answers = []
        for start in ("b", "bb"):
            request = DescribeTopicPartitionsRequest(
                topics=(), response_partition_limit=100, cursor=Cursor(topic_name=start)
            )
            response: DescribeTopicPartitionsResponse = self.successResultOf(
                call_as(self.broker, dtp.SPEC, request, 0)
            )
            answers.append([(t.name, t.error_code) for t in response.topics])
        self.assertEqual(answers, [[("c", 0)], [("c", 0)]])

    def test_all_topics_omit_denied(self) -> None:
        """Describing every topic leaves out the one the principal may not describe."""
        self.assertEqual([t.name for t in self.describe().topics], ["a", "c"])

    def test_named_denied_answered_last(self) -> None:
        """A named denied topic is TOPIC_AUTHORIZATION_FAILED with the null id, after the others."""
        topics = self.describe("b", "c", "zz").topics
        self.assertEqual(
            [(t.name, t.error_code, t.topic_id) for t in topics],
            [
                ("c", 0, self.broker.metadata.image.topics["c"].topic_id),
                ("b", DENIED, ZERO_UUID),
                ("zz", DENIED, ZERO_UUID),
            ],
        )

    def test_authorized_operations(self) -> None:
        """Each described topic carries its KIP-430 operations; the denied one the default."""
        found = {t.name: t.topic_authorized_operations for t in self.describe("a", "b", "c").topics}
        self.assertEqual(found, {"a": ops(AclOperation.READ, D), "b": OMITTED, "c": ops(D)})
