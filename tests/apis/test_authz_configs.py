"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs authorize each resource as Kafka."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis._configs import (
    OP_SET,
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_GROUP,
    RESOURCE_TOPIC,
)
from kafkatwist.errors import ErrorCode
from kafkatwist.messages import alter_configs as legacy
from kafkatwist.messages import incremental_alter_configs as incremental
from kafkatwist.messages.describe_configs import (
    DescribeConfigsRequest,
    DescribeConfigsResource,
    DescribeConfigsResponse,
)
from kafkatwist.security.acl import AclOperation, PatternType, ResourceType
from tests.brokers import make_broker
from tests.security.authz_support import acl, authorize, on_cluster, send

OP = AclOperation
TAF = ErrorCode.TOPIC_AUTHORIZATION_FAILED
GAF = ErrorCode.GROUP_AUTHORIZATION_FAILED
CAF = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
#: Kafka's default messages (C{Errors}), which C{new ApiError(error)} carries.
MESSAGES = {
    TAF: "Topic authorization failed.",
    GAF: "Group authorization failed.",
    CAF: "Cluster authorization failed.",
}
#: One resource of each type (the broker's node id is 1).
RESOURCES = (
    (RESOURCE_TOPIC, "t"),
    (RESOURCE_BROKER, "1"),
    (RESOURCE_BROKER_LOGGER, "1"),
    (RESOURCE_GROUP, "g"),
    (RESOURCE_CLIENT_METRICS, "sub"),
)
RETENTION = "retention.ms"


class DescribeConfigsAuthorizationTests(SynchronousTestCase):
    """DESCRIBE_CONFIGS on the topic, the group, or the cluster for the broker's resources."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def describe(
        self, *resources: tuple[int, str], version: int = 4
    ) -> list[tuple[int, str, int, str | None, int]]:
        """(type, name, error code, message, number of configs) of each result, in order."""
        request = DescribeConfigsRequest(
            resources=tuple(
                DescribeConfigsResource(resource_type=t, resource_name=n, configuration_keys=None)
                for t, n in resources
            ),
            include_synonyms=False,
            include_documentation=False,
        )
        response = self.successResultOf(
            send(self.broker, request, DescribeConfigsResponse, version)
        )
        return [
            (r.resource_type, r.resource_name, r.error_code, r.error_message, len(r.configs))
            for r in response.results
        ]

    def test_refused_without_acls(self) -> None:
        """Each resource type is refused with its own code and Kafka's message, with no configs."""
        authorize(self.broker)
        codes = [TAF, CAF, CAF, GAF, CAF]
        self.assertEqual(
            self.describe(*RESOURCES),
            [(t, n, c, MESSAGES[c], 0) for (t, n), c in zip(RESOURCES, codes, strict=True)],
        )

    def test_allowed(self) -> None:
        """DESCRIBE_CONFIGS on the topic, the group and the cluster allows every resource."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", OP.DESCRIBE_CONFIGS),
            acl(ResourceType.GROUP, "g", OP.DESCRIBE_CONFIGS),
            on_cluster(OP.DESCRIBE_CONFIGS),
        )
        results = self.describe(*RESOURCES)
        self.assertEqual([r[2] for r in results], [0] * 5)
        self.assertGreater(results[0][4], 0)
        self.assertGreater(results[1][4], 0)

    def test_refused_listed_last(self) -> None:
        """As Kafka, the allowed resources are answered first, then the refused ones."""
        authorize(self.broker, on_cluster(OP.DESCRIBE_CONFIGS))
        results = self.describe((RESOURCE_TOPIC, "t"), (RESOURCE_BROKER, "1"))
        self.assertEqual(
            [(r[0], r[2]) for r in results], [(RESOURCE_BROKER, 0), (RESOURCE_TOPIC, TAF)]
        )

    def test_missing_topic_not_revealed(self) -> None:
        """A missing topic the principal may not describe is TOPIC_AUTHORIZATION_FAILED."""
        authorize(self.broker, acl(ResourceType.TOPIC, "t", OP.DESCRIBE_CONFIGS))
        results = self.describe((RESOURCE_TOPIC, "gone"), (RESOURCE_TOPIC, "t"))
        self.assertEqual([(r[1], r[2]) for r in results], [("t", 0), ("gone", TAF)])

    def test_implied_by_alter_configs(self) -> None:
        """ALTER_CONFIGS implies DESCRIBE_CONFIGS; DESCRIBE alone does not."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", OP.ALTER_CONFIGS),
            acl(ResourceType.GROUP, "g", OP.DESCRIBE),
        )
        results = self.describe((RESOURCE_TOPIC, "t"), (RESOURCE_GROUP, "g"))
        self.assertEqual([r[2] for r in results], [0, GAF])

    def test_prefixed_topics(self) -> None:
        """DESCRIBE_CONFIGS on a prefix allows exactly the topics named with it."""
        self.successResultOf(self.broker.controller.create_topic("app-1", 1))
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "app-", OP.DESCRIBE_CONFIGS, pattern=PatternType.PREFIXED),
        )
        results = self.describe((RESOURCE_TOPIC, "app-1"), (RESOURCE_TOPIC, "t"))
        self.assertEqual([(r[1], r[2]) for r in results], [("app-1", 0), ("t", TAF)])

    def test_v0(self) -> None:
        """v0 refuses with the same codes and messages."""
        authorize(self.broker)
        results = self.describe((RESOURCE_TOPIC, "t"), (RESOURCE_BROKER, "1"), version=0)
        self.assertEqual(
            [(r[2], r[3]) for r in results], [(TAF, MESSAGES[TAF]), (CAF, MESSAGES[CAF])]
        )


class AlterConfigsAuthorizationTests(SynchronousTestCase):
    """ALTER_CONFIGS on the topic, the group, or the cluster for BROKER (legacy AlterConfigs)."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def alter(self, resource_type: int, name: str, key: str, value: str) -> tuple[int, str | None]:
        request = legacy.AlterConfigsRequest(
            resources=(
                legacy.AlterConfigsResource(
                    resource_type=resource_type,
                    resource_name=name,
                    configs=(legacy.AlterableConfig(name=key, value=value),),
                ),
            ),
            validate_only=False,
        )
        response = self.successResultOf(send(self.broker, request, legacy.AlterConfigsResponse, 2))
        (result,) = response.responses
        return result.error_code, result.error_message

    def test_topic(self) -> None:
        """Without ALTER_CONFIGS on the topic its configs stay; with it they change."""
        authorize(self.broker, acl(ResourceType.TOPIC, "t", OP.DESCRIBE_CONFIGS))
        self.assertEqual(self.alter(RESOURCE_TOPIC, "t", RETENTION, "1000"), (TAF, MESSAGES[TAF]))
        self.assertNotIn(RETENTION, self.broker.metadata.image.topics["t"].configs)
        authorize(self.broker, acl(ResourceType.TOPIC, "t", OP.ALTER_CONFIGS))
        self.assertEqual(self.alter(RESOURCE_TOPIC, "t", RETENTION, "1000"), (0, None))
        self.assertEqual(self.broker.metadata.image.topics["t"].configs[RETENTION], "1000")

    def test_missing_topic_not_revealed(self) -> None:
        """A missing topic is TOPIC_AUTHORIZATION_FAILED without ALTER_CONFIGS, else unknown."""
        authorize(self.broker)
        self.assertEqual(self.alter(RESOURCE_TOPIC, "gone", RETENTION, "1")[0], TAF)
        authorize(self.broker, acl(ResourceType.TOPIC, "*", OP.ALTER_CONFIGS))
        self.assertEqual(
            self.alter(RESOURCE_TOPIC, "gone", RETENTION, "1")[0],
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        )

    def test_broker(self) -> None:
        """A BROKER resource needs ALTER_CONFIGS on the cluster, not on a topic."""
        authorize(self.broker, acl(ResourceType.TOPIC, "*", OP.ALTER_CONFIGS))
        self.assertEqual(
            self.alter(RESOURCE_BROKER, "", "log.cleaner.threads", "2"), (CAF, MESSAGES[CAF])
        )
        authorize(self.broker, on_cluster(OP.ALTER_CONFIGS))
        self.assertEqual(self.alter(RESOURCE_BROKER, "", "log.cleaner.threads", "2"), (0, None))

    def test_broker_validated_first(self) -> None:
        """As Kafka's broker, a BROKER resource's name is checked before it is authorized."""
        authorize(self.broker)
        code, message = self.alter(RESOURCE_BROKER, "7", "log.cleaner.threads", "2")
        self.assertEqual(code, ErrorCode.INVALID_REQUEST)
        self.assertIn("Unexpected broker id", message or "")

    def test_group(self) -> None:
        """A GROUP resource needs ALTER_CONFIGS on the group."""
        authorize(self.broker, on_cluster(OP.ALTER_CONFIGS))
        key = "consumer.session.timeout.ms"
        self.assertEqual(self.alter(RESOURCE_GROUP, "g", key, "50000"), (GAF, MESSAGES[GAF]))
        authorize(self.broker, acl(ResourceType.GROUP, "g", OP.ALTER_CONFIGS))
        self.assertEqual(self.alter(RESOURCE_GROUP, "g", key, "50000"), (0, None))


class IncrementalAlterConfigsAuthorizationTests(SynchronousTestCase):
    """ALTER_CONFIGS per resource; loggers and client metrics on the cluster."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def alter(self, resource_type: int, name: str, key: str, value: str) -> tuple[int, str | None]:
        request = incremental.IncrementalAlterConfigsRequest(
            resources=(
                incremental.AlterConfigsResource(
                    resource_type=resource_type,
                    resource_name=name,
                    configs=(
                        incremental.AlterableConfig(name=key, config_operation=OP_SET, value=value),
                    ),
                ),
            ),
            validate_only=False,
        )
        response = self.successResultOf(
            send(self.broker, request, incremental.IncrementalAlterConfigsResponse, 1)
        )
        (result,) = response.responses
        return result.error_code, result.error_message

    def test_refused(self) -> None:
        """Without ACLs each resource type is refused with its code; loggers with no message."""
        authorize(self.broker)
        self.assertEqual(self.alter(RESOURCE_TOPIC, "t", RETENTION, "5"), (TAF, MESSAGES[TAF]))
        self.assertEqual(
            self.alter(RESOURCE_BROKER, "1", "log.cleaner.threads", "2"), (CAF, MESSAGES[CAF])
        )
        self.assertEqual(self.alter(RESOURCE_BROKER_LOGGER, "1", "root", "DEBUG"), (CAF, None))
        self.assertEqual(
            self.alter(RESOURCE_GROUP, "g", "consumer.session.timeout.ms", "50000"),
            (GAF, MESSAGES[GAF]),
        )
        self.assertEqual(
            self.alter(RESOURCE_CLIENT_METRICS, "sub", "interval.ms", "1000"),
            (CAF, MESSAGES[CAF]),
        )
        self.assertEqual(self.broker.broker_loggers.levels["root"], "INFO")
        self.assertNotIn(RETENTION, self.broker.metadata.image.topics["t"].configs)

    def test_allowed(self) -> None:
        """ALTER_CONFIGS on the cluster, topic and group lets every change through."""
        authorize(
            self.broker,
            on_cluster(OP.ALTER_CONFIGS),
            acl(ResourceType.TOPIC, "t", OP.ALTER_CONFIGS),
            acl(ResourceType.GROUP, "g", OP.ALTER_CONFIGS),
        )
        self.assertEqual(self.alter(RESOURCE_TOPIC, "t", RETENTION, "5"), (0, None))
        self.assertEqual(self.alter(RESOURCE_BROKER_LOGGER, "1", "root", "DEBUG"), (0, None))
        self.assertEqual(
            self.alter(RESOURCE_GROUP, "g", "consumer.session.timeout.ms", "50000"), (0, None)
        )
        self.assertEqual(self.broker.broker_loggers.levels["root"], "DEBUG")
        self.assertEqual(self.broker.metadata.image.topics["t"].configs[RETENTION], "5")

    def test_cluster_alter_configs_is_not_topic(self) -> None:
        """ALTER_CONFIGS on the cluster does not cover topics (Kafka checks the topic only)."""
        authorize(self.broker, on_cluster(OP.ALTER_CONFIGS))
        self.assertEqual(self.alter(RESOURCE_TOPIC, "t", RETENTION, "5")[0], TAF)

    def test_broker_name_checked_first(self) -> None:
        """A BROKER resource naming another node is INVALID_REQUEST before authorization."""
        authorize(self.broker)
        code, _ = self.alter(RESOURCE_BROKER, "7", "log.cleaner.threads", "2")
        self.assertEqual(code, ErrorCode.INVALID_REQUEST)
