"""Real admin clients against a broker with ACLs: the admin APIs refuse and allow as Kafka.

(librdkafka's describe_cluster asks Metadata, not DescribeCluster, for the
cluster's authorized operations: the Java admin checks DescribeCluster here.)

PLAINTEXT clients are C{User:ANONYMOUS}; each test gives the running broker
a L{StandardAuthorizer} directly (no super users, nothing allowed without
an ACL), then drives confluent-kafka's AdminClient or kafka-python's
KafkaAdminClient, and checks the error each client reports and the broker's
state.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted
from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin does not re-export these (mypy's no_implicit_reexport).
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType as ClientResourceType
from confluent_kafka.cimpl import NewTopic

from kafkatwist.security.acl import (
    AclOperation,
    PatternType,
    ResourceType,
)
from tests.integration.confluent_clients import admin, create, outcomes
from tests.integration.harness import RunningBroker, in_thread, run_java
from tests.security.authz_support import acl, authorize, on_cluster

ANONYMOUS = "User:ANONYMOUS"
OP = AclOperation


def error_codes(futures: dict[Any, Any]) -> dict[str, int]:
    """Each future's error code (0 for success), keyed by the resource's name."""
    out = {}
    for key, future in futures.items():
        name = key if isinstance(key, str) else key.name
        try:
            future.result(10)
            out[name] = 0
        except KafkaException as e:
            out[name] = e.args[0].code()
    return out


@pytest_twisted.ensureDeferred
async def test_confluent_create_topics(broker: RunningBroker, topic_name: str) -> None:
    """Without CREATE no topic is made; CREATE on a prefix allows exactly that prefix."""
    authorize(broker.broker)
    codes = await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1))
    assert codes == {topic_name: KafkaError.TOPIC_AUTHORIZATION_FAILED}
    prefix = topic_name + "-app-"
    authorize(
        broker.broker,
        acl(
            ResourceType.TOPIC, prefix, OP.CREATE, pattern=PatternType.PREFIXED, principal=ANONYMOUS
        ),
    )
    codes = await in_thread(
        create,
        broker.bootstrap,
        NewTopic(prefix + "orders", 2, 1),
        NewTopic(topic_name + "-other", 1, 1),
        NewTopic(topic_name + "-app", 1, 1),
    )
    assert codes == {
        prefix + "orders": 0,
        topic_name + "-other": KafkaError.TOPIC_AUTHORIZATION_FAILED,
        topic_name + "-app": KafkaError.TOPIC_AUTHORIZATION_FAILED,
    }
    created = [t for t in broker.broker.metadata.image.topics if t.startswith(topic_name)]
    assert created == [prefix + "orders"]


@pytest_twisted.ensureDeferred
async def test_confluent_configs_refused(broker: RunningBroker, topic_name: str) -> None:
    """describe/alter/incremental_alter_configs are refused per resource, then allowed."""
    await broker.broker.controller.create_topic(topic_name, 1)
    authorize(broker.broker, acl(ResourceType.TOPIC, topic_name, OP.DESCRIBE, principal=ANONYMOUS))
    topic = ConfigResource(ClientResourceType.TOPIC, topic_name)
    node = ConfigResource(ClientResourceType.BROKER, "1")

    def refused() -> dict[str, dict[str, int]]:
        client = admin(broker.bootstrap)
        described = error_codes(client.describe_configs([topic], request_timeout=10))
        (broker_code,) = error_codes(client.describe_configs([node])).values()
        described["broker"] = broker_code
        altered = error_codes(
            client.alter_configs(
                [ConfigResource(ClientResourceType.TOPIC, topic_name, {"retention.ms": "1000"})]
            )
        )
        entry = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
        incremental = error_codes(
            client.incremental_alter_configs(
                [ConfigResource(ClientResourceType.TOPIC, topic_name, incremental_configs=[entry])]
            )
        )
        return {"describe": described, "alter": altered, "incremental": incremental}

    taf, caf = KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED
    assert await in_thread(refused) == {
        "describe": {topic_name: taf, "broker": caf},
        "alter": {topic_name: taf},
        "incremental": {topic_name: taf},
    }
    assert broker.broker.metadata.image.topics[topic_name].configs == {}

    authorize(
        broker.broker, acl(ResourceType.TOPIC, topic_name, OP.ALTER_CONFIGS, principal=ANONYMOUS)
    )

    def allowed() -> tuple[str, int]:
        client = admin(broker.bootstrap)
        entry = ConfigEntry("retention.ms", "2000", incremental_operation=AlterConfigOpType.SET)
        (future,) = client.incremental_alter_configs(
            [ConfigResource(ClientResourceType.TOPIC, topic_name, incremental_configs=[entry])]
        ).values()
        future.result(10)
        (described,) = client.describe_configs([topic]).values()
        return described.result(10)["retention.ms"].value, len(described.result(10))

    value, count = await in_thread(allowed)
    assert value == "2000" and count > 10
    assert broker.broker.metadata.image.topics[topic_name].configs == {"retention.ms": "2000"}


@pytest_twisted.ensureDeferred
async def test_confluent_delete_topics(broker: RunningBroker, topic_name: str) -> None:
    """Without DELETE the topic stays (TOPIC_AUTHORIZATION_FAILED); with it, it goes."""
    await broker.broker.controller.create_topic(topic_name, 1)

    def delete() -> dict[str, int]:
        client = admin(broker.bootstrap)
        return outcomes(client, client.delete_topics([topic_name], operation_timeout=10))

    authorize(broker.broker, acl(ResourceType.TOPIC, topic_name, OP.DESCRIBE, principal=ANONYMOUS))
    assert await in_thread(delete) == {topic_name: KafkaError.TOPIC_AUTHORIZATION_FAILED}
    assert topic_name in broker.broker.metadata.image.topics
    authorize(broker.broker, acl(ResourceType.TOPIC, topic_name, OP.DELETE, principal=ANONYMOUS))
    assert await in_thread(delete) == {topic_name: 0}
    assert topic_name not in broker.broker.metadata.image.topics


def kafka_python_flow(bootstrap: str, topic: str, prefix: str) -> dict[str, Any]:
    """kafka-python's KafkaAdminClient: what each call answers under the ACLs the test set."""
    from kafka.admin import ConfigResource as PyConfigResource
    from kafka.admin import ConfigResourceType, KafkaAdminClient
    from kafka.admin import NewTopic as PyNewTopic
    from kafka.errors import TopicAuthorizationFailedError

    client = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    out: dict[str, Any] = {}
    try:
        try:
            client.create_topics([PyNewTopic(topic + "-new", 1, 1)])
            out["create"] = "created"
        except TopicAuthorizationFailedError as e:
            out["create"] = type(e).__name__
        client.create_topics([PyNewTopic(prefix + "x", 1, 1)])
        try:
            client.delete_topics([topic])
            out["delete"] = "deleted"
        except TopicAuthorizationFailedError as e:
            out["delete"] = type(e).__name__
        resource = PyConfigResource(ConfigResourceType.TOPIC, topic)
        out["describe"] = client.describe_configs([resource], config_filter="all")
        altered = client.alter_configs(
            [PyConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": "5"})],
            # (it would check the keys with a DescribeConfigs, which is refused too)
            raise_on_unknown=False,
        )
        out["alter"] = altered["topic"][topic]
    finally:
        client.close()
    return out


@pytest_twisted.ensureDeferred
async def test_kafka_python_admin(broker: RunningBroker, topic_name: str) -> None:
    """kafka-python sees Kafka's errors: create and delete raise, configs come back refused."""
    await broker.broker.controller.create_topic(topic_name, 1)
    prefix = topic_name + "-mine-"
    authorize(
        broker.broker,
        acl(ResourceType.TOPIC, topic_name, OP.DESCRIBE, principal=ANONYMOUS),
        acl(
            ResourceType.TOPIC, prefix, OP.CREATE, pattern=PatternType.PREFIXED, principal=ANONYMOUS
        ),
    )
    out = await in_thread(kafka_python_flow, broker.bootstrap, topic_name, prefix, timeout=60)
    assert out["create"] == "TopicAuthorizationFailedError"
    assert out["delete"] == "TopicAuthorizationFailedError"
    assert out["describe"] == {"topic": {topic_name: {}}}
    assert "TopicAuthorizationFailed" in out["alter"], out["alter"]
    topics = broker.broker.metadata.image.topics
    assert sorted(t for t in topics if t.startswith(topic_name)) == [topic_name, prefix + "x"]
    assert topics[topic_name].configs == {}


@pytest_twisted.ensureDeferred
async def test_java_cluster_admin(broker: RunningBroker, topic_name: str, tmp_path: Any) -> None:
    """The Java admin 4.3: DescribeCluster's operations and the cluster-level APIs, per ACL."""
    await broker.broker.controller.create_topic(topic_name, 1)
    classes = str(tmp_path / "classes")
    authorize(broker.broker, acl(ResourceType.TOPIC, "*", OP.ALL, principal=ANONYMOUS))
    denied = await run_java("AuthzAdmin", [broker.bootstrap, topic_name, "denied"], classes)
    authorize(
        broker.broker,
        on_cluster(OP.DESCRIBE, principal=ANONYMOUS),
        on_cluster(OP.ALTER_CONFIGS, principal=ANONYMOUS),
    )
    partly = await run_java("AuthzAdmin", [broker.bootstrap, topic_name, "partly"], classes)
    authorize(broker.broker, on_cluster(OP.ALL, principal=ANONYMOUS))
    allowed = await run_java("AuthzAdmin", [broker.bootstrap, topic_name, "allowed"], classes)
    lines = [line.split() for line in denied + partly + allowed]
    assert [line for line in lines if line[0] == "DONE"] == [["DONE"]] * 3, lines
    ops = {label: shown for kind, label, shown in (ln for ln in lines if ln[0] == "OPS")}
    assert ops == {
        "denied": "NONE",
        "partly": "ALTER_CONFIGS,DESCRIBE,DESCRIBE_CONFIGS",
        "allowed": "ALTER,ALTER_CONFIGS,CLUSTER_ACTION,CREATE,DESCRIBE,DESCRIBE_CONFIGS,"
        "IDEMPOTENT_WRITE",
    }
    calls = {
        (label, api): result for kind, label, api, result in (ln for ln in lines if ln[0] == "CALL")
    }
    refused = "ClusterAuthorizationException"
    expected_denied = {
        "DescribeLogDirs": refused,
        "DescribeClientQuotas": refused,
        "AlterClientQuotas": refused,
        "DescribeQuorum": refused,
        "ElectLeaders": refused,
        "ListPartitionReassignments": refused,
        "AlterPartitionReassignments": refused,
        "UpdateFeatures": refused,
        "DescribeBrokerConfigs": refused,
        "ListConfigResources": refused,
        "DescribeFeatures": "OK",
    }
    assert {api: r for (label, api), r in calls.items() if label == "denied"} == expected_denied
    # DESCRIBE and ALTER_CONFIGS (which implies DESCRIBE_CONFIGS), but not ALTER.
    assert {api: r for (label, api), r in calls.items() if label == "partly"} == {
        **{api: "OK" for api in expected_denied},
        "ElectLeaders": refused,
        "AlterPartitionReassignments": refused,
        "UpdateFeatures": refused,
    }
    assert {api: r for (label, api), r in calls.items() if label == "allowed"} == {
        api: "OK" for api in expected_denied
    }
