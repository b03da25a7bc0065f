"""confluent-kafka's AdminClient against a loopback kafkatwist broker.

CreateTopics (configs, validate_only, per-topic errors), CreatePartitions,
DeleteTopics, DescribeTopics/DescribeCluster and Metadata, including topic
auto-creation by a producer.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from confluent_kafka import KafkaError, KafkaException, TopicCollection

# confluent_kafka.admin does not re-export these (mypy's no_implicit_reexport).
from confluent_kafka.admin._acl import AclOperation
from confluent_kafka.admin._cluster import DescribeClusterResult
from confluent_kafka.admin._topic import TopicDescription
from confluent_kafka.cimpl import NewPartitions, NewTopic

from tests.integration.confluent_clients import (
    admin,
    consume,
    create,
    outcomes,
    produce,
    topic_partitions,
)
from tests.integration.harness import RunningBroker, in_thread


@pytest_twisted.ensureDeferred
async def test_create_topics_with_configs_then_list(broker: RunningBroker, topic_name: str) -> None:
    """CreateTopics with configs succeeds; Metadata lists the topic, led by this broker."""
    configs = {
        "cleanup.policy": "compact",
        "retention.ms": "3600000",
        "max.message.bytes": "200000",
    }
    codes = await in_thread(create, broker.bootstrap, NewTopic(topic_name, 3, 1, config=configs))
    assert codes == {topic_name: 0}
    parts = await in_thread(topic_partitions, broker.bootstrap, topic_name)
    assert parts is not None and sorted(parts) == [0, 1, 2]
    assert {(p.leader, tuple(p.replicas), tuple(p.isrs)) for p in parts.values()} == {
        (1, (1,), (1,))
    }
    assert broker.broker.metadata.image.topics[topic_name].configs == configs


@pytest_twisted.ensureDeferred
async def test_create_topics_validate_only_creates_nothing(
    broker: RunningBroker, topic_name: str
) -> None:
    """validate_only=True answers success for a valid topic but does not create it."""
    codes = await in_thread(
        create, broker.bootstrap, NewTopic(topic_name, 2, 1), validate_only=True
    )
    assert codes == {topic_name: 0}
    assert await in_thread(topic_partitions, broker.bootstrap, topic_name) is None
    assert topic_name not in broker.broker.metadata.image.topics


@pytest_twisted.ensureDeferred
async def test_create_topics_errors(broker: RunningBroker, topic_name: str) -> None:
    """Existing names, replication factor 2 and bad configs get Kafka's error codes per topic."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    codes = await in_thread(
        create,
        broker.bootstrap,
        NewTopic(topic_name, 1, 1),
        NewTopic(topic_name + "-rf2", 1, 2),
        NewTopic(topic_name + "-badconf", 1, 1, config={"cleanup.policy": "sometimes"}),
        NewTopic(topic_name + "-unknownconf", 1, 1, config={"no.such.config": "1"}),
    )
    assert codes == {
        topic_name: KafkaError.TOPIC_ALREADY_EXISTS,
        topic_name + "-rf2": KafkaError.INVALID_REPLICATION_FACTOR,
        topic_name + "-badconf": KafkaError.INVALID_CONFIG,
        topic_name + "-unknownconf": KafkaError.INVALID_CONFIG,
    }
    assert sorted(t for t in broker.broker.metadata.image.topics if t.startswith(topic_name)) == [
        topic_name
    ]


@pytest_twisted.ensureDeferred
async def test_create_partitions(broker: RunningBroker, topic_name: str) -> None:
    """create_partitions adds usable partitions; refuses a decrease and unknown topics."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}

    def grow() -> dict[str, int]:
        client = admin(broker.bootstrap)
        return outcomes(client, client.create_partitions([NewPartitions(topic_name, 4)]))

    def shrink_and_unknown() -> dict[str, int]:
        client = admin(broker.bootstrap)
        return outcomes(
            client,
            client.create_partitions(
                [NewPartitions(topic_name, 2), NewPartitions(topic_name + "-missing", 2)]
            ),
        )

    assert await in_thread(grow) == {topic_name: 0}
    parts = await in_thread(topic_partitions, broker.bootstrap, topic_name)
    assert parts is not None and sorted(parts) == [0, 1, 2, 3]
    assert await in_thread(shrink_and_unknown) == {
        topic_name: KafkaError.INVALID_PARTITIONS,
        topic_name + "-missing": KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    reports = await in_thread(
        produce, broker.bootstrap, topic_name, [{"value": b"new", "partition": 3}], acks="all"
    )
    assert reports == [(None, 3, 0)]


@pytest_twisted.ensureDeferred
async def test_delete_topics_and_recreate(broker: RunningBroker, topic_name: str) -> None:
    """delete_topics removes a topic and its data; one created again with its name is empty."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    await in_thread(produce, broker.bootstrap, topic_name, [{"value": b"old"}] * 3, acks="all")

    def delete(*names: str) -> dict[str, int]:
        client = admin(broker.bootstrap)
        return outcomes(client, client.delete_topics(list(names), operation_timeout=10))

    assert await in_thread(delete, topic_name, topic_name + "-missing") == {
        topic_name: 0,
        topic_name + "-missing": KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    assert await in_thread(topic_partitions, broker.bootstrap, topic_name) is None
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 1, 1)) == {topic_name: 0}
    reports = await in_thread(
        produce, broker.bootstrap, topic_name, [{"value": b"new"}], acks="all"
    )
    assert reports == [(None, 0, 0)]
    got = await in_thread(consume, broker.bootstrap, [(topic_name, 0, 0)], 1)
    assert [m.value() for m in got] == [b"new"]


@pytest.mark.broker_properties({"num.partitions": "3"})
@pytest_twisted.ensureDeferred
async def test_producer_auto_creates_topic(broker: RunningBroker, topic_name: str) -> None:
    """Producing to a missing topic creates it through Metadata with num.partitions."""
    reports = await in_thread(
        produce, broker.bootstrap, topic_name, [{"value": b"hello", "partition": 2}], acks="all"
    )
    assert reports == [(None, 2, 0)]
    parts = await in_thread(topic_partitions, broker.bootstrap, topic_name)
    assert parts is not None and sorted(parts) == [0, 1, 2]


@pytest.mark.broker_properties({"auto.create.topics.enable": "false"})
@pytest_twisted.ensureDeferred
async def test_no_auto_creation_when_disabled(broker: RunningBroker, topic_name: str) -> None:
    """auto.create.topics.enable=false: producing to a missing topic creates nothing."""
    reports = await in_thread(
        produce,
        broker.bootstrap,
        topic_name,
        [{"value": b"hello"}],
        acks="all",
        extra={"message.timeout.ms": 2000},
    )
    [(err, _, _)] = reports
    assert err is not None and err.code() in (
        KafkaError._MSG_TIMED_OUT,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    )
    assert topic_name not in broker.broker.metadata.image.topics


@pytest_twisted.ensureDeferred
async def test_describe_topics_and_cluster(broker: RunningBroker, topic_name: str) -> None:
    """describe_topics reports id, partitions and operations; describe_cluster this broker."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 2, 1)) == {topic_name: 0}

    def describe() -> tuple[TopicDescription, DescribeClusterResult, int]:
        client = admin(broker.bootstrap)
        futures = client.describe_topics(
            TopicCollection([topic_name, topic_name + "-missing"]),
            request_timeout=10,
            include_authorized_operations=True,
        )
        found = futures[topic_name].result(10)
        try:
            futures[topic_name + "-missing"].result(10)
            missing = 0
        except KafkaException as e:
            missing = e.args[0].code()
        cluster = client.describe_cluster(request_timeout=10).result(10)
        return found, cluster, missing

    found, cluster, missing = await in_thread(describe)
    image_topic = broker.broker.metadata.image.topics[topic_name]
    assert (found.name, found.is_internal) == (topic_name, False)
    # (librdkafka prints ids in standard base64, Kafka in URL-safe base64: compare bits.)
    tid = found.topic_id
    mask = 2**64 - 1
    # confluent-kafka's stub for Uuid leaves out these two methods.
    msb = tid.get_most_significant_bits() & mask  # type: ignore[attr-defined]
    lsb = tid.get_least_significant_bits() & mask  # type: ignore[attr-defined]
    assert (msb << 64) | lsb == image_topic.topic_id.int
    assert [(p.id, p.leader.id, [r.id for r in p.replicas]) for p in found.partitions] == [
        (0, 1, [1]),
        (1, 1, [1]),
    ]
    assert AclOperation.WRITE in found.authorized_operations
    assert missing == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert cluster.cluster_id == broker.broker.cluster_id
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(1, "127.0.0.1", broker.port)]
