"""ACLs on the data APIs with real clients over PLAINTEXT, where every client is User:ANONYMOUS.

The broker's authorizer is set on the running broker (the ACL APIs and
configs are not used here); each test checks what confluent-kafka,
kafka-python and the Java client 4.3 (which names topics by id) see: a
principal with READ on a prefix consumes but cannot produce, DENY beats
ALLOW, topics it may not describe are not listed, and Metadata does not
create a topic without CREATE.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka import errors as kafka_errors

from kafkatwist.security.acl import AclBinding, AclOperation, PatternType, ResourceType
from tests.integration.harness import RunningBroker, in_thread, run_java
from tests.security.authz_support import acl, authorize

ANONYMOUS = "User:ANONYMOUS"


#: READ on every topic starting with "app." (and on every group, for consumers).
READ_APP = (
    acl(
        ResourceType.TOPIC,
        "app.",
        AclOperation.READ,
        pattern=PatternType.PREFIXED,
        principal=ANONYMOUS,
    ),
    acl(ResourceType.GROUP, "*", AclOperation.READ, principal=ANONYMOUS),
)


def produce_plain(bootstrap: str, topic: str, count: int) -> None:
    """Produce C{count} records with confluent-kafka, every one acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        producer.produce(topic, b"v%d" % i)
    assert producer.flush(30) == 0


def produce_one(bootstrap: str, topic: str) -> Any:
    """Produce one record with confluent-kafka; the delivery report's error (None: delivered)."""
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10_000})
    producer.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(20)
    assert len(errors) == 1
    return errors[0]


def consume(bootstrap: str, topic: str, count: int) -> tuple[list[bytes], list[int]]:
    """Read partition 0 of C{topic} from the start: the values, and the error codes seen."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "readers", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values: list[bytes] = []
    errors: list[int] = []
    try:
        for _ in range(100):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                errors.append(error.code())
                break
            value = msg.value()
            assert value is not None
            values.append(value)
            if len(values) == count:
                break
    finally:
        consumer.close()
    return values, errors


def listed_topics(bootstrap: str) -> set[str]:
    """Every topic confluent-kafka's Metadata (all topics) lists."""
    producer = Producer({"bootstrap.servers": bootstrap})
    return set(producer.list_topics(timeout=10).topics)


async def setup_topics(broker: RunningBroker, *acls: AclBinding) -> None:
    """Topics C{app.t} (3 records), C{app.secret} (1 record) and C{other}, then the ACLs."""
    for name in ("app.t", "app.secret", "other"):
        await broker.broker.controller.create_topic(name, 1)
    await in_thread(produce_plain, broker.bootstrap, "app.t", 3)
    await in_thread(produce_plain, broker.bootstrap, "app.secret", 1)
    authorize(broker.broker, *acls)


@pytest_twisted.ensureDeferred
async def test_read_prefix_consumes_but_cannot_produce(broker: RunningBroker) -> None:
    """READ on C{app.}: confluent-kafka consumes C{app.t}; producing to it is refused."""
    await setup_topics(broker, *READ_APP)
    values, errors = await in_thread(consume, broker.bootstrap, "app.t", 3)
    assert (values, errors) == ([b"v0", b"v1", b"v2"], [])
    error = await in_thread(produce_one, broker.bootstrap, "app.t")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert broker.broker.logs.get("app.t", 0).log_end_offset == 3  # type: ignore[union-attr]


@pytest_twisted.ensureDeferred
async def test_deny_beats_allow(broker: RunningBroker) -> None:
    """A DENY of READ on C{app.secret} wins over the prefix's ALLOW: the consumer sees the error."""
    await setup_topics(
        broker,
        *READ_APP,
        acl(ResourceType.TOPIC, "app.secret", AclOperation.READ, deny=True, principal=ANONYMOUS),
    )
    values, errors = await in_thread(consume, broker.bootstrap, "app.secret", 1)
    assert values == []
    assert errors == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


@pytest_twisted.ensureDeferred
async def test_undescribable_topics_not_listed(broker: RunningBroker) -> None:
    """Listing topics shows only those the principal may describe (READ implies DESCRIBE)."""
    await setup_topics(
        broker,
        *READ_APP,
        acl(
            ResourceType.TOPIC, "app.secret", AclOperation.DESCRIBE, deny=True, principal=ANONYMOUS
        ),
    )
    assert await in_thread(listed_topics, broker.bootstrap) == {"app.t"}


def kafka_python_produce(bootstrap: str, topic: str) -> None:
    """Send one record with kafka-python and wait for it (raises the client's error)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=10_000, retries=0)
    try:
        producer.send(topic, b"x").get(timeout=20)
    finally:
        producer.close(timeout=5)


@pytest_twisted.ensureDeferred
async def test_kafka_python_produce_refused(broker: RunningBroker) -> None:
    """kafka-python producing to a topic it may only read raises TopicAuthorizationFailedError."""
    await setup_topics(broker, *READ_APP)
    with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
        await in_thread(kafka_python_produce, broker.bootstrap, "app.t")


@pytest_twisted.ensureDeferred
async def test_auto_creation_needs_create(broker: RunningBroker) -> None:
    """Metadata does not create C{app.new} without CREATE: kafka-python sees the auth error."""
    await setup_topics(
        broker,
        *READ_APP,
        acl(ResourceType.TOPIC, "app.new", AclOperation.WRITE, principal=ANONYMOUS),
    )
    with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
        await in_thread(kafka_python_produce, broker.bootstrap, "app.new")
    assert "app.new" not in broker.broker.metadata.image.topics
    # With CREATE on the topic, the same producer's Metadata creates it and the record lands.
    assert broker.broker.authorizer is not None
    broker.broker.authorizer.add(
        [acl(ResourceType.TOPIC, "app.new", AclOperation.CREATE, principal=ANONYMOUS)]
    )
    await in_thread(kafka_python_produce, broker.bootstrap, "app.new")
    assert "app.new" in broker.broker.metadata.image.topics


def kafka_python_consume(bootstrap: str, topic: str) -> list[bytes]:
    """Read C{topic} from the start with kafka-python (no group): the values."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    try:
        consumer.assign([KafkaTopicPartition(topic, 0)])
        return [record.value for record in consumer]
    finally:
        consumer.close()


@pytest_twisted.ensureDeferred
async def test_kafka_python_consumes_readable(broker: RunningBroker) -> None:
    """kafka-python reads a topic it has READ on, and gets the auth error for one it has not."""
    await setup_topics(
        broker,
        *READ_APP,
        acl(ResourceType.TOPIC, "other", AclOperation.DESCRIBE, principal=ANONYMOUS),
    )
    assert await in_thread(kafka_python_consume, broker.bootstrap, "app.t") == [b"v0", b"v1", b"v2"]
    with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
        await in_thread(kafka_python_consume, broker.bootstrap, "other")


@pytest_twisted.ensureDeferred
async def test_java_clients(broker: RunningBroker, tmp_path: Any) -> None:
    """
    kafka-clients 4.3 (topics by id: Produce v13, Fetch, Metadata) against the same ACLs.

    READ on C{app.}, DENY READ on C{app.secret}, no DESCRIBE on C{other}: the
    consumer reads C{app.t} and gets TopicAuthorizationException for
    C{app.secret}; a plain producer gets it for C{app.t}, and an idempotent one
    (the default) ClusterAuthorizationException, as it may not WRITE any topic
    and so gets no producer id (KIP-679); the admin lists the C{app.} topics only.
    """
    await setup_topics(
        broker,
        *READ_APP,
        acl(ResourceType.TOPIC, "app.secret", AclOperation.READ, deny=True, principal=ANONYMOUS),
    )
    lines = await run_java(
        "AuthzClients",
        [
            broker.bootstrap,
            "consume:app.t:3",
            "consume:app.secret:1",
            "produce:app.t:plain",
            "produce:app.t",
            "list",
        ],
        str(tmp_path / "classes"),
    )
    reported = [line for line in lines if line.split(" ")[0] in REPORTS]
    assert reported == [
        "CONSUME app.t 3",
        "CONSUME app.secret TopicAuthorizationException",
        "PRODUCE app.t TopicAuthorizationException",
        "PRODUCE app.t ClusterAuthorizationException",
        "TOPICS app.secret,app.t",
        "DONE",
    ]
    assert broker.broker.logs.get("app.t", 0).log_end_offset == 3  # type: ignore[union-attr]


#: The first words of AuthzClients.java's report lines (the client's own logging aside).
REPORTS = ("CONSUME", "PRODUCE", "TOPICS", "DONE")
