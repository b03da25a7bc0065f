"""ACL matrices with authenticated principals: SASL users and certificate subjects, real clients.

The broker authorizes with Kafka's StandardAuthorizer (C{authorizer.class.name},
C{super.users=User:admin}); every ACL is created by the admin, a super user
logged in with SASL PLAIN, through confluent-kafka's AdminClient (CreateAcls).
The clients are confluent-kafka's: C{alice} over SASL_PLAINTEXT, and over an
mTLS listener the principals that C{ssl.principal.mapping.rules} makes of
client certificates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from confluent_kafka.cimpl import NewTopic

from tests.integration import confluent_clients as cc
from tests.integration.harness import RunningBroker, in_thread, run_java, start_broker, stop_broker
from tests.integration.test_acls_clients import EVERY_ACL, STANDARD
from tests.integration.test_authz_data_clients import REPORTS
from tests.integration.test_tls_clients import ssl_client
from tests.security.certs import Pki, pem_stores

JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_admin="admin-secret" user_alice="alice-secret";'
)

ADMIN = cc.client_security("SASL_PLAINTEXT", sasl=("PLAIN", "admin", "admin-secret"))
ALICE = cc.client_security("SASL_PLAINTEXT", sasl=("PLAIN", "alice", "alice-secret"))

#: Topics whose names are near C{app-} but outside the prefix, and one inside it.
NEAR_MISSES = ("ap", "app", "APP-x", "app_x", "other")
TOPICS = ("app-orders", "app-secret", *NEAR_MISSES)


def allow(
    operation: AclOperation,
    resource_type: ResourceType,
    name: str,
    principal: str = "User:alice",
    pattern: ResourcePatternType = ResourcePatternType.LITERAL,
    permission: AclPermissionType = AclPermissionType.ALLOW,
) -> AclBinding:
    """One ACL binding from any host (ALLOW unless C{permission} says otherwise)."""
    return AclBinding(resource_type, name, pattern, principal, "*", operation, permission)


#: READ on every topic starting with "app-" and on the group "readers": a consumer's ACLs.
READ_APP = (
    allow(AclOperation.READ, ResourceType.TOPIC, "app-", pattern=ResourcePatternType.PREFIXED),
    allow(AclOperation.READ, ResourceType.GROUP, "readers"),
)
#: DENY of READ on "app-secret" to everyone: beats alice's prefixed ALLOW (and binds not admin).
DENY_SECRET = allow(
    AclOperation.READ,
    ResourceType.TOPIC,
    "app-secret",
    principal="User:*",
    permission=AclPermissionType.DENY,
)


def properties(pki: Pki) -> dict[str, str]:
    """SASL_PLAINTEXT (PLAIN users admin, alice) and mTLS listeners, the StandardAuthorizer."""
    return {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": STANDARD,
        "super.users": "User:admin",
        "num.partitions": "1",
        "listener.name.ssl.ssl.client.auth": "required",
        # CN=alice,OU=eng,O=Acme,C=US is User:alice.eng; CN=bob (DEFAULT) is User:CN=bob.
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+),OU=([^,]+),.*$/$1.$2/,DEFAULT",
        **pem_stores(pki),
    }


def admin_client(bootstrap: str, config: dict[str, Any]) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, **config})


def create_acls(bootstrap: str, *acls: AclBinding) -> None:
    """The admin's CreateAcls; every binding must be created."""
    client = admin_client(bootstrap, ADMIN)
    futures = client.create_acls(list(acls), request_timeout=20)
    for acl in acls:
        futures[acl].result(timeout=30)


def describe_acls(bootstrap: str) -> set[AclBinding]:
    """Every ACL, as the admin's DescribeAcls lists them."""
    client = admin_client(bootstrap, ADMIN)
    return set(client.describe_acls(EVERY_ACL, request_timeout=20).result(timeout=30))


def create_topics(bootstrap: str, config: dict[str, Any], *names: str) -> dict[str, int]:
    """CreateTopics with C{config}'s principal: each topic's error code (0: created)."""
    client = admin_client(bootstrap, config)
    new = [NewTopic(name, 1, 1) for name in names]
    return cc.outcomes(client, client.create_topics(new, operation_timeout=10), timeout=20)


def produce_error(bootstrap: str, config: dict[str, Any], topic: str) -> int:
    """Produce one record with C{config}'s principal: the delivery's error code (0: delivered)."""
    extra = {**config, "message.timeout.ms": 10000}
    [(error, _, _)] = cc.produce(bootstrap, topic, [{"value": b"x"}], extra)
    return 0 if error is None else error.code()


def read(bootstrap: str, config: dict[str, Any], topic: str) -> list[bytes] | int:
    """Read C{topic}'s two first records with C{config}'s principal, or the error code met."""
    try:
        got = cc.consume(bootstrap, [(topic, 0, 0)], 2, extra={**config, "group.id": "readers"})
    except KafkaException as e:
        return int(e.args[0].code())
    return [cc.value_of(m) for m in got]


def commit(bootstrap: str, config: dict[str, Any], group: str, topic: str) -> int:
    """OffsetCommit of offset 1 of C{topic} for C{group} (an admin client's): the error code."""
    client = admin_client(bootstrap, config)
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 1)])
    [future] = client.alter_consumer_group_offsets([request], request_timeout=10).values()
    try:
        future.result(timeout=20)
    except KafkaException as e:
        return int(e.args[0].code())
    return 0


def described(bootstrap: str, config: dict[str, Any], topic: str) -> int:
    """The error code Metadata gives C{config}'s principal for C{topic}, asked by name."""
    metadata = admin_client(bootstrap, config).list_topics(topic, timeout=10)
    error = metadata.topics[topic].error
    return 0 if error is None else int(error.code())


def visible(bootstrap: str, config: dict[str, Any]) -> set[str]:
    """The topics Metadata (all topics) lists to C{config}'s principal."""
    return set(admin_client(bootstrap, config).list_topics(timeout=10).topics)


def matrix(bootstrap: str) -> dict[str, Any]:
    """What alice may do with READ on the C{app-} prefix and the group, next to the admin."""
    denied = KafkaError.TOPIC_AUTHORIZATION_FAILED
    return {
        "read app-orders": read(bootstrap, ALICE, "app-orders"),
        "commit readers": commit(bootstrap, ALICE, "readers", "app-orders"),
        "commit others": commit(bootstrap, ALICE, "others", "app-orders"),
        "produce app-orders": produce_error(bootstrap, ALICE, "app-orders") == denied,
        "create app-new": create_topics(bootstrap, ALICE, "app-new")["app-new"] == denied,
        "read app-secret": read(bootstrap, ALICE, "app-secret"),
        "near misses": {name: described(bootstrap, ALICE, name) for name in NEAR_MISSES},
        "visible": visible(bootstrap, ALICE),
        "admin reads app-secret": read(bootstrap, ADMIN, "app-secret"),
        "admin produces app-orders": produce_error(bootstrap, ADMIN, "app-orders"),
    }


#: The matrix, before and after a restart: only what READ on "app-" (not the DENY) allows.
EXPECTED = {
    "read app-orders": [b"v0", b"v1"],
    "commit readers": 0,
    "commit others": KafkaError.GROUP_AUTHORIZATION_FAILED,
    "produce app-orders": True,
    "create app-new": True,
    "read app-secret": KafkaError.TOPIC_AUTHORIZATION_FAILED,
    "near misses": dict.fromkeys(NEAR_MISSES, KafkaError.TOPIC_AUTHORIZATION_FAILED),
    "visible": {"app-orders", "app-secret"},
    "admin reads app-secret": [b"v0", b"v1"],
    "admin produces app-orders": 0,
}


async def populated(tmp_path: Path, pki: Pki) -> RunningBroker:
    """A broker where the admin made L{TOPICS} (two records each) and created the ACLs."""
    running = await start_broker(str(tmp_path / "logs"), properties(pki))
    codes = await in_thread(create_topics, running.bootstrap, ADMIN, *TOPICS)
    assert codes == dict.fromkeys(TOPICS, 0)
    for topic in TOPICS:
        messages: list[dict[str, Any]] = [{"value": b"v0"}, {"value": b"v1"}]
        await in_thread(cc.produce, running.bootstrap, topic, messages, ADMIN)
    await in_thread(create_acls, running.bootstrap, *READ_APP, DENY_SECRET)
    return running


@pytest_twisted.ensureDeferred
async def test_read_prefix_matrix_survives_restart(tmp_path: Path, pki: Pki) -> None:
    """
    A SASL user with READ on the PREFIXED C{app-} consumes there only (not from C{ap}, C{app},
    C{APP-x}, C{app_x}), commits only for its group, cannot produce or create; a DENY beats its
    ALLOW; the super user does anything; all of it the same after a restart on the same logs.
    """
    running = await populated(tmp_path, pki)
    try:
        acls = await in_thread(describe_acls, running.bootstrap)
        assert acls == {*READ_APP, DENY_SECRET}
        assert await in_thread(matrix, running.bootstrap, timeout=120) == EXPECTED
    finally:
        await stop_broker(running)
    running = await start_broker(running.log_dir, properties(pki))
    try:
        assert await in_thread(describe_acls, running.bootstrap) == acls
        after = await in_thread(matrix, running.bootstrap, timeout=120)
        assert after == EXPECTED
        assert "app-new" not in running.broker.metadata.image.topics
    finally:
        await stop_broker(running)


@pytest_twisted.ensureDeferred
async def test_certificate_principal_acls(tmp_path: Path, pki: Pki) -> None:
    """
    Over mTLS the principal is the mapped certificate subject (User:alice.eng): ACLs on it
    let it write, and another certificate (User:CN=bob) is refused.
    """
    running = await start_broker(str(tmp_path / "logs"), properties(pki))
    try:
        user = "User:alice.eng"
        write = allow(AclOperation.WRITE, ResourceType.TOPIC, "certs", principal=user)
        group = allow(AclOperation.READ, ResourceType.GROUP, "readers", principal=user)
        codes = await in_thread(create_topics, running.bootstrap, ADMIN, "certs")
        assert codes == {"certs": 0}
        await in_thread(create_acls, running.bootstrap, write, group)
        tls = running.bootstrap_of("SSL")
        alice, bob = ssl_client(pki, "alice"), ssl_client(pki, "bob")
        assert await in_thread(produce_error, tls, alice, "certs") == 0
        denied = await in_thread(produce_error, tls, bob, "certs")
        assert denied == KafkaError.TOPIC_AUTHORIZATION_FAILED
        # WRITE does not imply READ: alice.eng cannot read back what it wrote.
        refused = await in_thread(read, tls, alice, "certs")
        assert refused == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert running.broker.logs.get("certs", 0).log_end_offset == 1  # type: ignore[union-attr]
    finally:
        await stop_broker(running)


@pytest_twisted.ensureDeferred
async def test_java_client_matrix(tmp_path: Path, pki: Pki) -> None:
    """
    kafka-clients 4.3 logged in as alice (SASL PLAIN) against the same ACLs: it reads C{app-orders}
    only, and gets TopicAuthorizationException for the DENY, the near misses and producing
    (ClusterAuthorizationException when idempotent).
    """
    running = await populated(tmp_path, pki)
    try:
        settings = [
            "security.protocol=SASL_PLAINTEXT",
            "sasl.mechanism=PLAIN",
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
            'username="alice" password="alice-secret";',
        ]
        commands = ["consume:app-orders:2", "consume:app-secret:1", "consume:app:1"]
        commands += ["consume:app_x:1", "produce:app-orders:plain", "produce:app-orders", "list"]
        args = [running.bootstrap, *settings, *commands]
        lines = await run_java("AuthzClients", args, str(tmp_path / "classes"))
    finally:
        await stop_broker(running)
    reported = [line for line in lines if line.split(" ")[0] in REPORTS]
    assert reported == [
        "CONSUME app-orders 2",
        "CONSUME app-secret TopicAuthorizationException",
        "CONSUME app TopicAuthorizationException",
        "CONSUME app_x TopicAuthorizationException",
        "PRODUCE app-orders TopicAuthorizationException",
        # Idempotent (the default): InitProducerId needs WRITE on some topic (KIP-679).
        "PRODUCE app-orders ClusterAuthorizationException",
        "TOPICS app-orders,app-secret",
        "DONE",
    ]
