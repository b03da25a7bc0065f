"""CreateTopics, DeleteTopics and CreatePartitions authorize as Kafka's C{ControllerApis}."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.messages.create_partitions import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreatePartitionsTopic,
)
from kafkatwist.messages.create_topics import (
    CreatableTopic,
    CreatableTopicResult,
    CreateTopicsRequest,
    CreateTopicsResponse,
)
from kafkatwist.messages.delete_topics import (
    DeletableTopicResult,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DeleteTopicState,
)
from kafkatwist.security.acl import AclOperation, PatternType, ResourceType
from kafkatwist.security.principal import ANONYMOUS
from kafkatwist.wire.primitives import ZERO_UUID
from tests.brokers import make_broker
from tests.security.authz_support import ALICE, acl, authorize, on_cluster, send

TAF = ErrorCode.TOPIC_AUTHORIZATION_FAILED
TOPIC = ResourceType.TOPIC
OP = AclOperation


class CreateTopicsAuthorizationTests(SynchronousTestCase):
    """CREATE on the cluster or on the topic; DESCRIBE_CONFIGS to see the new topic's configs."""

    def setUp(self) -> None:
        self.broker = make_broker()

    def create(self, *names: str, version: int = 7) -> dict[str, CreatableTopicResult]:
        broker = self.broker
        request = CreateTopicsRequest(
            topics=tuple(
                CreatableTopic(name=n, num_partitions=2, replication_factor=1) for n in names
            ),
            timeout_ms=1000,
        )
        response = self.successResultOf(send(broker, request, CreateTopicsResponse, version))
        return {t.name: t for t in response.topics}

    def test_refused_without_create(self) -> None:
        """Without any ACL the topic is TOPIC_AUTHORIZATION_FAILED and is not created."""
        authorize(self.broker)
        result = self.create("t")["t"]
        self.assertEqual((result.error_code, result.error_message), (TAF, "Authorization failed."))
        self.assertNotIn("t", self.broker.metadata.image.topics)

    def test_describe_is_not_create(self) -> None:
        """DESCRIBE and WRITE on the topic do not allow creating it."""
        authorize(self.broker, acl(TOPIC, "t", OP.DESCRIBE), acl(TOPIC, "t", OP.WRITE))
        self.assertEqual(self.create("t")["t"].error_code, TAF)

    def test_create_on_cluster_hides_configs(self) -> None:
        """CREATE on the cluster creates any topic; its configs are hidden."""
        authorize(self.broker, on_cluster(OP.CREATE))
        result = self.create("t")["t"]
        self.assertEqual(result.error_code, 0)
        self.assertIn("t", self.broker.metadata.image.topics)
        self.assertEqual(result.topic_id, self.broker.metadata.image.topics["t"].topic_id)
        self.assertEqual(
            (
                result.topic_config_error_code,
                result.num_partitions,
                result.replication_factor,
                result.configs,
            ),
            (TAF, -1, -1, ()),
        )

    def test_describe_configs_shows_configs(self) -> None:
        """With DESCRIBE_CONFIGS on the topic its partitions and configs are returned."""
        authorize(self.broker, acl(TOPIC, "t", OP.CREATE), acl(TOPIC, "t", OP.DESCRIBE_CONFIGS))
        result = self.create("t")["t"]
        self.assertEqual((result.error_code, result.topic_config_error_code), (0, 0))
        self.assertEqual((result.num_partitions, result.replication_factor), (2, 1))
        self.assertIn("retention.ms", [c.name for c in result.configs or ()])

    def test_alter_configs_implies_describe_configs(self) -> None:
        """ALTER_CONFIGS on the topic implies DESCRIBE_CONFIGS: the configs are returned."""
        authorize(self.broker, acl(TOPIC, "t", OP.CREATE), acl(TOPIC, "t", OP.ALTER_CONFIGS))
        self.assertEqual(self.create("t")["t"].topic_config_error_code, 0)

    def test_prefixed_create(self) -> None:
        """CREATE on the prefix C{app-} creates only topics named with it."""
        authorize(self.broker, acl(TOPIC, "app-", OP.CREATE, pattern=PatternType.PREFIXED))
        results = self.create("app-orders", "billing", "app")
        self.assertEqual(
            {n: r.error_code for n, r in results.items()},
            {"app-orders": 0, "billing": TAF, "app": TAF},
        )
        self.assertEqual(set(self.broker.metadata.image.topics), {"app-orders"})

    def test_deny_create_on_topic(self) -> None:
        """A DENY of CREATE on the topic beats an ALLOW on the prefix."""
        authorize(
            self.broker,
            acl(TOPIC, "app-", OP.CREATE, pattern=PatternType.PREFIXED),
            acl(TOPIC, "app-secret", OP.CREATE, deny=True),
        )
        results = self.create("app-secret", "app-open")
        self.assertEqual(results["app-secret"].error_code, TAF)
        self.assertEqual(results["app-open"].error_code, 0)

    def test_cluster_create_wins(self) -> None:
        """With CREATE on the cluster Kafka checks no topic ACL: a topic DENY does not apply."""
        authorize(self.broker, on_cluster(OP.CREATE), acl(TOPIC, "t", OP.CREATE, deny=True))
        self.assertEqual(self.create("t")["t"].error_code, 0)

    def test_existing_topic(self) -> None:
        """An authorized principal learns that the topic exists (TOPIC_ALREADY_EXISTS)."""
        authorize(self.broker, on_cluster(OP.CREATE))
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.assertEqual(self.create("t")["t"].error_code, ErrorCode.TOPIC_ALREADY_EXISTS)

    def test_metadata_topic_prohibited(self) -> None:
        """C{__cluster_metadata} is INVALID_REQUEST for anyone, before any authorization."""
        authorize(self.broker)
        result = self.create("__cluster_metadata")["__cluster_metadata"]
        self.assertEqual(
            (result.error_code, result.error_message),
            (
                ErrorCode.INVALID_REQUEST,
                "Creation of internal topic __cluster_metadata is prohibited.",
            ),
        )

    def test_duplicates_before_authorization(self) -> None:
        """A name listed twice is INVALID_REQUEST, authorized or not."""
        authorize(self.broker)
        self.assertEqual(self.create("t", "t")["t"].error_code, ErrorCode.INVALID_REQUEST)

    def test_old_version(self) -> None:
        """v0 (no configs in the answer) refuses the same way."""
        authorize(self.broker)
        self.assertEqual(self.create("t", version=0)["t"].error_code, TAF)

    def test_super_user(self) -> None:
        """A super user creates and sees everything."""
        authorize(self.broker, super_users=[str(ALICE)])
        result = self.create("t")["t"]
        self.assertEqual((result.error_code, result.topic_config_error_code), (0, 0))

    def test_other_principal(self) -> None:
        """ACLs of another principal do not apply."""
        authorize(self.broker, on_cluster(OP.CREATE, principal="User:bob"))
        self.assertEqual(self.create("t")["t"].error_code, TAF)


class DeleteTopicsAuthorizationTests(SynchronousTestCase):
    """DELETE on the cluster or topic; DESCRIBE decides what a refusal reveals."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.topic_id = self.successResultOf(self.broker.controller.create_topic("t", 1)).topic_id

    def delete(
        self, names: tuple[str, ...] = (), ids: tuple[uuid.UUID, ...] = (), version: int = 6
    ) -> list[DeletableTopicResult]:
        if version >= 6:
            states = tuple(DeleteTopicState(name=n) for n in names) + tuple(
                DeleteTopicState(name=None, topic_id=i) for i in ids
            )
            request = DeleteTopicsRequest(topics=states, timeout_ms=1000)
        else:
            request = DeleteTopicsRequest(topic_names=names, timeout_ms=1000)
        response = self.successResultOf(send(self.broker, request, DeleteTopicsResponse, version))
        return list(response.responses)

    def outcome(self, result: DeletableTopicResult) -> tuple[str | None, uuid.UUID, int]:
        return result.name, result.topic_id, result.error_code

    def test_refused_without_acls(self) -> None:
        """Without ACLs a name is TOPIC_AUTHORIZATION_FAILED (v5+ with a message), not deleted."""
        authorize(self.broker)
        (result,) = self.delete(("t",), version=1)
        self.assertEqual(result.error_code, TAF)
        (result,) = self.delete(("t",), version=6)
        self.assertEqual(
            (result.error_code, result.error_message), (TAF, "Topic authorization failed.")
        )
        self.assertIn("t", self.broker.metadata.image.topics)

    def test_missing_topic_not_revealed(self) -> None:
        """A missing topic the principal may not describe is TOPIC_AUTHORIZATION_FAILED too."""
        authorize(self.broker)
        (result,) = self.delete(("gone",))
        self.assertEqual(self.outcome(result), ("gone", ZERO_UUID, TAF))

    def test_describe_only(self) -> None:
        """With DESCRIBE only, an existing topic is refused and a missing one is unknown."""
        authorize(self.broker, acl(TOPIC, "*", OP.DESCRIBE))
        results = {r.name: r.error_code for r in self.delete(("t", "gone"))}
        self.assertEqual(results, {"t": TAF, "gone": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION})

    def test_delete_on_topic(self) -> None:
        """DELETE on the topic (which implies DESCRIBE) deletes it."""
        authorize(self.broker, acl(TOPIC, "t", OP.DELETE))
        (result,) = self.delete(("t",))
        self.assertEqual(self.outcome(result), ("t", self.topic_id, 0))
        self.assertNotIn("t", self.broker.metadata.image.topics)

    def test_delete_on_cluster(self) -> None:
        """DELETE on the cluster deletes any topic."""
        authorize(self.broker, on_cluster(OP.DELETE))
        (result,) = self.delete(("t",), version=3)
        self.assertEqual(result.error_code, 0)
        self.assertNotIn("t", self.broker.metadata.image.topics)

    def test_id_without_describe(self) -> None:
        """An id of a topic the principal may not describe is refused without its name."""
        authorize(self.broker)
        (result,) = self.delete(ids=(self.topic_id,))
        self.assertEqual(self.outcome(result), (None, self.topic_id, TAF))
        self.assertIn("t", self.broker.metadata.image.topics)

    def test_id_with_describe(self) -> None:
        """An id of a topic the principal may describe but not delete is refused with its name."""
        authorize(self.broker, acl(TOPIC, "t", OP.DESCRIBE))
        (result,) = self.delete(ids=(self.topic_id,))
        self.assertEqual(self.outcome(result), ("t", self.topic_id, TAF))

    def test_id_with_delete(self) -> None:
        """An id of a topic the principal may delete deletes it."""
        authorize(self.broker, acl(TOPIC, "t", OP.DELETE))
        (result,) = self.delete(ids=(self.topic_id,))
        self.assertEqual(self.outcome(result), ("t", self.topic_id, 0))
        self.assertNotIn("t", self.broker.metadata.image.topics)

    def test_unknown_id(self) -> None:
        """An unknown id is UNKNOWN_TOPIC_ID, whatever the ACLs."""
        authorize(self.broker)
        other = uuid.uuid4()
        (result,) = self.delete(ids=(other,))
        self.assertEqual(self.outcome(result), (None, other, ErrorCode.UNKNOWN_TOPIC_ID))

    def test_deny_delete(self) -> None:
        """A DENY of DELETE on the topic beats an ALLOW of ALL on every topic."""
        authorize(self.broker, acl(TOPIC, "*", OP.ALL), acl(TOPIC, "t", OP.DELETE, deny=True))
        (result,) = self.delete(("t",))
        self.assertEqual(result.error_code, TAF)

    def test_anonymous(self) -> None:
        """ACLs for C{User:ANONYMOUS} let a PLAINTEXT client delete; alice's do not."""
        authorize(self.broker, acl(TOPIC, "t", OP.DELETE, principal="User:ANONYMOUS"))
        (result,) = self.delete(("t",))
        self.assertEqual(result.error_code, TAF)
        request = DeleteTopicsRequest(topic_names=("t",), timeout_ms=1000)
        response = self.successResultOf(
            send(self.broker, request, DeleteTopicsResponse, 5, principal=ANONYMOUS)
        )
        self.assertEqual([r.error_code for r in response.responses], [0])


class CreatePartitionsAuthorizationTests(SynchronousTestCase):
    """ALTER on each topic."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def grow(self, *names: str) -> dict[str, tuple[int, str | None]]:
        request = CreatePartitionsRequest(
            topics=tuple(CreatePartitionsTopic(name=n, count=3, assignments=None) for n in names),
            timeout_ms=1000,
            validate_only=False,
        )
        response = self.successResultOf(send(self.broker, request, CreatePartitionsResponse, 3))
        return {r.name: (r.error_code, r.error_message) for r in response.results}

    def test_refused_without_alter(self) -> None:
        """Without ALTER the topic is TOPIC_AUTHORIZATION_FAILED (no message), existing or not."""
        authorize(self.broker, acl(TOPIC, "*", OP.DESCRIBE))
        self.assertEqual(self.grow("t", "gone"), {"t": (TAF, None), "gone": (TAF, None)})
        self.assertEqual(len(self.broker.metadata.image.topics["t"].partitions), 1)

    def test_alter_on_topic(self) -> None:
        """ALTER on the topic adds the partitions; a missing topic is then unknown."""
        authorize(self.broker, acl(TOPIC, "*", OP.ALTER))
        results = self.grow("t", "gone")
        self.assertEqual(results["t"], (0, None))
        self.assertEqual(results["gone"][0], ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(len(self.broker.metadata.image.topics["t"].partitions), 3)

    def test_cluster_alter_is_not_enough(self) -> None:
        """Kafka checks the topic only: ALTER on the cluster does not allow it."""
        authorize(self.broker, on_cluster(OP.ALTER))
        self.assertEqual(self.grow("t"), {"t": (TAF, None)})
