"""The ACL APIs with real clients: confluent-kafka's, kafka-python's and the Java admin clients.

PLAINTEXT clients are C{User:ANONYMOUS}: with C{super.users=User:ANONYMOUS}
they may manage ACLs; without, CreateAcls needs ALTER on the cluster.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
)
from kafka.admin import ResourceType as KPResourceType
from kafka.errors import ClusterAuthorizationFailedError

from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_java,
    running_broker,
)

STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SUPER_ANONYMOUS = {"authorizer.class.name": STANDARD, "super.users": "User:ANONYMOUS"}

READ_ORDERS = AclBinding(
    ResourceType.TOPIC,
    "orders-",
    ResourcePatternType.PREFIXED,
    "User:alice",
    "*",
    AclOperation.READ,
    AclPermissionType.ALLOW,
)
DENY_WRITE = AclBinding(
    ResourceType.TOPIC,
    "orders-eu",
    ResourcePatternType.LITERAL,
    "User:alice",
    "10.0.0.1",
    AclOperation.WRITE,
    AclPermissionType.DENY,
)
GROUP_READ = AclBinding(
    ResourceType.GROUP,
    "app",
    ResourcePatternType.LITERAL,
    "User:*",
    "*",
    AclOperation.READ,
    AclPermissionType.ALLOW,
)


def acls_on(
    rtype: ResourceType = ResourceType.ANY,
    name: str | None = None,
    pattern: ResourcePatternType = ResourcePatternType.ANY,
) -> AclBindingFilter:
    """A filter on the resource only (librdkafka takes None for "any"; its stubs say str)."""
    anything: Any = None
    return AclBindingFilter(
        rtype,
        name or anything,
        pattern,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


EVERY_ACL = acls_on()


#: kafka-python's filter matching every ACL.
EVERY_KP_ACL = ACLFilter(
    principal=None,
    host=None,
    operation=ACLOperation.ANY,
    permission_type=ACLPermissionType.ANY,
    resource_pattern=ResourcePatternFilter(KPResourceType.ANY, None, ACLResourcePatternType.ANY),
)


def _admin(running: RunningBroker) -> AdminClient:
    return AdminClient({"bootstrap.servers": running.bootstrap})


def _create(running: RunningBroker, *acls: AclBinding) -> list[Any]:
    """create_acls; each binding's result (None) or the exception it raised."""
    admin = _admin(running)  # kept alive until the futures complete
    futures = admin.create_acls(list(acls), request_timeout=20)
    outcomes: list[Any] = []
    for acl in acls:
        try:
            outcomes.append(futures[acl].result(timeout=30))
        except KafkaException as e:
            outcomes.append(e.args[0])
    return outcomes


def _describe(running: RunningBroker, acl_filter: AclBindingFilter = EVERY_ACL) -> set[AclBinding]:
    admin = _admin(running)
    return set(admin.describe_acls(acl_filter, request_timeout=20).result(timeout=30))


def _delete(running: RunningBroker, *filters: AclBindingFilter) -> list[set[AclBinding]]:
    admin = _admin(running)
    futures = admin.delete_acls(list(filters), request_timeout=20)
    return [set(futures[f].result(timeout=30)) for f in filters]


@pytest_twisted.ensureDeferred
async def test_confluent_admin_manages_acls_across_a_restart(tmp_path: Any) -> None:
    """librdkafka creates, describes (MATCH filter too) and deletes ACLs; they survive a restart."""
    log_dir = str(tmp_path / "logs")
    async with running_broker(log_dir, SUPER_ANONYMOUS) as running:
        created = await in_thread(_create, running, READ_ORDERS, DENY_WRITE, GROUP_READ)
        assert created == [None, None, None]
        assert await in_thread(_describe, running) == {READ_ORDERS, DENY_WRITE, GROUP_READ}
        match = acls_on(ResourceType.TOPIC, "orders-eu", ResourcePatternType.MATCH)
        assert await in_thread(_describe, running, match) == {READ_ORDERS, DENY_WRITE}
    async with running_broker(log_dir, SUPER_ANONYMOUS) as running:
        assert await in_thread(_describe, running) == {READ_ORDERS, DENY_WRITE, GROUP_READ}
        authorizer = running.broker.authorizer
        assert authorizer is not None
        assert len(authorizer.acls()) == 3
        groups = acls_on(ResourceType.GROUP)
        assert await in_thread(_delete, running, groups) == [{GROUP_READ}]
        assert await in_thread(_describe, running) == {READ_ORDERS, DENY_WRITE}


@pytest_twisted.ensureDeferred
async def test_confluent_admin_without_cluster_alter(tmp_path: Any) -> None:
    """ANONYMOUS without ALTER on the cluster: CLUSTER_AUTHORIZATION_FAILED from CreateAcls."""
    props = {"authorizer.class.name": STANDARD, "super.users": "User:admin"}
    async with running_broker(str(tmp_path / "logs"), props) as running:
        (error,) = await in_thread(_create, running, READ_ORDERS)
        assert isinstance(error, KafkaError)
        assert error.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
        # librdkafka drops DescribeAcls' error code (rd_kafka_DescribeAclsResponse_parse
        # returns NO_ERROR whatever the code): an empty listing, as against Kafka.
        assert await in_thread(_describe, running) == set()
        with pytest.raises(ClusterAuthorizationFailedError):
            await in_thread(_kafka_python_describe, running)
        assert running.broker.metadata.image.acls == {}


@pytest_twisted.ensureDeferred
async def test_confluent_admin_without_authorizer(tmp_path: Any) -> None:
    """No authorizer.class.name: the ACL APIs answer SECURITY_DISABLED."""
    async with running_broker(str(tmp_path / "logs")) as running:
        (error,) = await in_thread(_create, running, READ_ORDERS)
        assert isinstance(error, KafkaError)
        assert error.code() == KafkaError.SECURITY_DISABLED


def _kafka_python_describe(running: RunningBroker) -> Any:
    admin = KafkaAdminClient(bootstrap_servers=running.bootstrap, request_timeout_ms=20000)
    try:
        return admin.describe_acls(EVERY_KP_ACL)
    finally:
        admin.close()


def _kafka_python_round_trip(running: RunningBroker) -> dict[str, Any]:
    admin = KafkaAdminClient(bootstrap_servers=running.bootstrap, request_timeout_ms=20000)
    try:
        acl = ACL(
            principal="User:bob",
            host="*",
            operation=ACLOperation.WRITE,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                KPResourceType.TOPIC, "logs-", ACLResourcePatternType.PREFIXED
            ),
        )
        created = admin.create_acls([acl])
        acl_filter = EVERY_KP_ACL
        described, describe_error = admin.describe_acls(acl_filter)
        deleted = admin.delete_acls([acl_filter])
        after, _ = admin.describe_acls(acl_filter)
        return {
            "created": created,
            "described": described,
            "describe_error": describe_error,
            "deleted": deleted,
            "after": after,
        }
    finally:
        admin.close()


@pytest_twisted.ensureDeferred
async def test_kafka_python_admin_manages_acls(tmp_path: Any) -> None:
    """kafka-python's KafkaAdminClient creates, describes and deletes a prefixed ACL."""
    async with running_broker(str(tmp_path / "logs"), SUPER_ANONYMOUS) as running:
        out = await in_thread(_kafka_python_round_trip, running)
    assert len(out["created"]["succeeded"]) == 1 and out["created"]["failed"] == []
    (described,) = out["described"]
    assert (described.principal, described.operation, described.permission_type) == (
        "User:bob",
        ACLOperation.WRITE,
        ACLPermissionType.ALLOW,
    )
    assert described.resource_pattern.resource_name == "logs-"
    assert described.resource_pattern.pattern_type == ACLResourcePatternType.PREFIXED
    ((_, matched, error),) = out["deleted"]
    assert [m.resource_pattern.resource_name for m in matched] == ["logs-"]
    assert error.errno == 0
    assert out["after"] == []


@pytest_twisted.ensureDeferred
async def test_java_admin_manages_acls(tmp_path: Any) -> None:
    """kafka-clients 4.3's Admin (what kafka-acls.sh uses) creates, matches, refuses and deletes."""
    classes = str(tmp_path / "classes")
    async with running_broker(str(tmp_path / "logs"), SUPER_ANONYMOUS) as running:
        lines = await run_java("AclAdmin", [running.bootstrap, "manage"], classes, timeout=90)
    group = "ACL GROUP LITERAL app User:bob * ALL DENY"
    orders = "ACL TOPIC LITERAL orders User:alice * READ ALLOW"
    pay = "ACL TOPIC PREFIXED pay- User:* * WRITE ALLOW"
    assert lines == [
        group,
        orders,
        pay,
        "END",
        pay,
        "END",
        "ERROR InvalidRequestException The only valid name for the CLUSTER resource is "
        "kafka-cluster",
        "DELETED 2",
        group,
        "END",
    ]
    async with running_broker(
        str(tmp_path / "denied"), {"authorizer.class.name": STANDARD}
    ) as running:
        lines = await run_java("AclAdmin", [running.bootstrap, "denied"], classes, timeout=90)
    assert lines == [
        "ERROR ClusterAuthorizationException",
        "ERROR ClusterAuthorizationException",
    ]
