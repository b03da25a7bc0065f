"""Group, offset and transaction authorization as real clients see it (PLAINTEXT: User:ANONYMOUS).

The broker's authorizer is set directly (a StandardAuthorizer holding the
test's ACLs); data is produced before it is set, so that these tests do not
depend on the data APIs' own authorization.
"""

from __future__ import annotations

import time
from typing import Any

import pytest_twisted
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin does not re-export it (mypy's no_implicit_reexport).
from confluent_kafka.cimpl import NewTopic

from kafkatwist.security.acl import AclOperation, PatternType, ResourceType
from tests.integration.confluent_clients import create, value_of
from tests.integration.harness import RunningBroker, in_thread, run_java
from tests.security.authz_support import acl, authorize

ANONYMOUS = "User:ANONYMOUS"
OP = AclOperation
RT = ResourceType


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        producer.produce(topic, value=b"v%d" % i, partition=0)
    assert producer.flush(10) == 0


def consumer(bootstrap: str, group: str, **extra: Any) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **extra,
        }
    )


def first_error(c: Consumer, topics: list[str], timeout: float = 20) -> int:
    """Subscribe and poll until the consumer reports an error: its code."""
    c.subscribe(topics)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = c.poll(0.2)
            error = None if msg is None else msg.error()
            if error is not None:
                code: int = error.code()
                return code
        raise AssertionError("no error reported")
    finally:
        c.close()


def read(c: Consumer, topics: list[str], count: int, timeout: float = 20) -> list[bytes]:
    """Subscribe, read C{count} values and commit them."""
    c.subscribe(topics)
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, got
        msg = c.poll(0.2)
        if msg is None or msg.error() is not None:
            continue
        got.append(value_of(msg))
        c.commit(message=msg, asynchronous=False)
    return got


async def topics(running: RunningBroker, *names: str) -> None:
    new = [NewTopic(n, 1, 1) for n in names]
    assert await in_thread(create, running.bootstrap, *new) == dict.fromkeys(names, 0)
    for name in names:
        await in_thread(produce, running.bootstrap, name, 3)


@pytest_twisted.ensureDeferred
async def test_consumer_without_read_on_group(broker: RunningBroker) -> None:
    """A consumer whose principal may only DESCRIBE its group gets GROUP_AUTHORIZATION_FAILED."""
    await topics(broker, "orders")
    authorize(
        broker.broker,
        acl(RT.TOPIC, "orders", OP.READ, principal=ANONYMOUS),
        acl(RT.GROUP, "g", OP.DESCRIBE, principal=ANONYMOUS),
    )
    code = await in_thread(first_error, consumer(broker.bootstrap, "g"), ["orders"])
    assert code == KafkaError.GROUP_AUTHORIZATION_FAILED


@pytest_twisted.ensureDeferred
async def test_transactional_producer_without_write_on_its_id(broker: RunningBroker) -> None:
    """init_transactions without WRITE on the id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED."""

    def init(transactional_id: str) -> int:
        producer = Producer(
            {"bootstrap.servers": broker.bootstrap, "transactional.id": transactional_id}
        )
        try:
            producer.init_transactions(20)
        except KafkaException as e:
            code: int = e.args[0].code()
            return code
        return 0

    authorize(
        broker.broker,
        acl(RT.TRANSACTIONAL_ID, "tx", OP.DESCRIBE, principal=ANONYMOUS),
        acl(RT.TRANSACTIONAL_ID, "ok", OP.WRITE, principal=ANONYMOUS),
    )
    assert await in_thread(init, "tx") == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert await in_thread(init, "ok") == 0


@pytest_twisted.ensureDeferred
async def test_prefix_principal_consumes_its_topics_only(broker: RunningBroker) -> None:
    """READ on topic prefix app- and group prefix app-: app-* is consumed, nothing else is."""
    await topics(broker, "app-orders", "other")
    authorize(
        broker.broker,
        acl(RT.TOPIC, "app-", OP.READ, pattern=PatternType.PREFIXED, principal=ANONYMOUS),
        acl(RT.GROUP, "app-", OP.READ, pattern=PatternType.PREFIXED, principal=ANONYMOUS),
    )
    c = consumer(broker.bootstrap, "app-g")
    try:
        assert await in_thread(read, c, ["app-orders"], 3) == [b"v0", b"v1", b"v2"]

        def commit_other() -> list[Any]:
            result: list[Any] = c.commit(
                offsets=[TopicPartition("other", 0, 1)], asynchronous=False
            )
            return result

        try:
            answer = await in_thread(commit_other)
            codes = [tp.error.code() for tp in answer]
        except KafkaException as e:
            codes = [e.args[0].code()]
        assert codes == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    finally:
        await in_thread(c.close)
    group = broker.broker.groups.offsets.fetch_offsets("app-g", [("app-orders", (0,))])
    assert [(t, [(p, om.offset if om else -1) for p, om in parts]) for t, parts in group[1]] == [
        ("app-orders", [(0, 3)])
    ]
    other_group = consumer(broker.bootstrap, "other-g")
    code = await in_thread(first_error, other_group, ["app-orders"])
    assert code == KafkaError.GROUP_AUTHORIZATION_FAILED


@pytest_twisted.ensureDeferred
async def test_consumer_protocol_names_and_regex(broker: RunningBroker) -> None:
    """KIP-848: a subscribed name without DESCRIBE is refused; a regex gets app-* only."""
    await topics(broker, "app-a", "app-b", "other")
    authorize(
        broker.broker,
        acl(RT.TOPIC, "app-", OP.READ, pattern=PatternType.PREFIXED, principal=ANONYMOUS),
        acl(RT.GROUP, "app-", OP.READ, pattern=PatternType.PREFIXED, principal=ANONYMOUS),
    )
    named = consumer(broker.bootstrap, "app-named", **{"group.protocol": "consumer"})
    code = await in_thread(first_error, named, ["other"])
    assert code == KafkaError.TOPIC_AUTHORIZATION_FAILED
    regex = consumer(broker.bootstrap, "app-regex", **{"group.protocol": "consumer"})
    try:

        def assigned_topics() -> set[str]:
            regex.subscribe(["^.*"])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                regex.poll(0.2)
                names = {tp.topic for tp in regex.assignment()}
                if names:
                    return names
            raise AssertionError("nothing assigned")

        assert await in_thread(assigned_topics) == {"app-a", "app-b"}
    finally:
        await in_thread(regex.close)


@pytest_twisted.ensureDeferred
async def test_list_groups_filtered(broker: RunningBroker) -> None:
    """ListGroups shows only the groups the principal may DESCRIBE (all with cluster DESCRIBE)."""
    await topics(broker, "app-t")
    for group in ("app-1", "app-2", "secret"):
        await in_thread(read, consumer(broker.bootstrap, group), ["app-t"], 1)

    def listed() -> list[str]:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        result = admin.list_consumer_groups().result(timeout=10)
        return sorted(g.group_id for g in result.valid)

    authorize(
        broker.broker,
        acl(RT.GROUP, "app-", OP.DESCRIBE, pattern=PatternType.PREFIXED, principal=ANONYMOUS),
    )
    assert await in_thread(listed) == ["app-1", "app-2"]
    authorize(broker.broker, acl(RT.CLUSTER, "kafka-cluster", OP.DESCRIBE, principal=ANONYMOUS))
    assert await in_thread(listed) == ["app-1", "app-2", "secret"]


@pytest_twisted.ensureDeferred
async def test_java_consumers(broker: RunningBroker, tmp_path: Any) -> None:
    """The Java client: no READ on the group, or a subscribed topic it may not DESCRIBE, fail."""
    await topics(broker, "app-t", "other")
    authorize(
        broker.broker,
        acl(RT.TOPIC, "app-", OP.READ, pattern=PatternType.PREFIXED, principal=ANONYMOUS),
        acl(RT.GROUP, "app-", OP.READ, pattern=PatternType.PREFIXED, principal=ANONYMOUS),
    )
    classes = str(tmp_path)

    async def run(group: str, protocol: str, topic: str) -> list[str]:
        args = [broker.bootstrap, group, protocol, topic, "3"]
        return await run_java("AuthzConsumer", args, classes)

    assert await run("app-classic", "classic", "app-t") == ["RECORDS 3"]
    assert await run("app-848", "consumer", "app-t") == ["RECORDS 3"]
    assert await run("other-g", "classic", "app-t") == ["ERROR GroupAuthorizationException"]
    assert await run("other-g", "consumer", "app-t") == ["ERROR GroupAuthorizationException"]
    assert await run("app-848b", "consumer", "other") == ["ERROR TopicAuthorizationException"]
