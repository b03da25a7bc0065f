"""Authorization tests of the data APIs: ACLs, and a handler called as a principal."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from kafkatwist.apis._spec import ApiSpec
from kafkatwist.broker import Broker
from kafkatwist.security.acl import (
    CLUSTER_NAME,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.authorizer import StandardAuthorizer
from kafkatwist.security.principal import KafkaPrincipal
from kafkatwist.security.session import Session
from tests.brokers import context

#: The principal the tests act as.
ALICE = KafkaPrincipal("User", "alice")
#: Kafka's C{Integer.MIN_VALUE}: KIP-430 operations not asked for.
OMITTED = -(2**31)


def acl(
    operation: AclOperation,
    resource_type: ResourceType = ResourceType.TOPIC,
    name: str = "t",
    *,
    pattern: PatternType = PatternType.LITERAL,
    deny: bool = False,
    principal: str = "User:alice",
) -> AclBinding:
    """One ACL entry for C{principal} from any host."""
    return AclBinding(
        resource_type=resource_type,
        resource_name=name,
        pattern_type=pattern,
        principal=principal,
        host="*",
        operation=operation,
        permission=AclPermissionType.DENY if deny else AclPermissionType.ALLOW,
    )


def cluster_acl(operation: AclOperation, *, deny: bool = False) -> AclBinding:
    """One ACL entry on the cluster resource for alice."""
    return acl(operation, ResourceType.CLUSTER, CLUSTER_NAME, deny=deny)


def authorize(broker: Broker, *acls: AclBinding) -> StandardAuthorizer:
    """Give C{broker} an authorizer holding C{acls} (and nothing else)."""
    authorizer = StandardAuthorizer(acls=acls)
    broker.authorizer = authorizer
    return authorizer


def call_as(
    broker: Broker,
    spec: ApiSpec,
    request: Any,
    version: int,
    principal: KafkaPrincipal = ALICE,
) -> Deferred[Any]:
    """Run a handler for a request of a connection authenticated as C{principal}."""
    ctx = context(broker, spec, version)
    ctx.session = Session(principal=principal, client_host="127.0.0.1")

    async def handled() -> Any:
        return await spec.handle(ctx, request)

    return Deferred.fromCoroutine(handled())


def ops(*operations: AclOperation) -> int:
    """A KIP-430 bit field."""
    return sum(1 << op.value for op in operations)
