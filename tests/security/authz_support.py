"""Calling handlers as a principal, with ACLs: what the authorization tests share."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from kafkatwist.apis._spec import ApiSpec
from kafkatwist.broker import Broker
from kafkatwist.errors import KafkaError
from kafkatwist.security.acl import (
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

ALICE = KafkaPrincipal("User", "alice")
OP = AclOperation
RT = ResourceType


def allow(
    resource_type: ResourceType,
    name: str,
    operation: AclOperation,
    *,
    prefixed: bool = False,
    principal: str = "User:alice",
    permission: AclPermissionType = AclPermissionType.ALLOW,
) -> AclBinding:
    """An ALLOW ACL (or another permission) for alice from any host."""
    pattern = PatternType.PREFIXED if prefixed else PatternType.LITERAL
    return AclBinding(resource_type, name, pattern, principal, "*", operation, permission)


def deny(resource_type: ResourceType, name: str, operation: AclOperation) -> AclBinding:
    """A DENY ACL for alice from any host."""
    return allow(resource_type, name, operation, permission=AclPermissionType.DENY)


def authorize(broker: Broker, *acls: AclBinding) -> None:
    """
    Give the broker a StandardAuthorizer with C{acls}; User:ANONYMOUS (the
    test support's requests) is a super user, so setting up state is not refused.
    """
    broker.authorizer = StandardAuthorizer(super_users=["User:ANONYMOUS"], acls=acls)


def call_as(
    broker: Broker,
    spec: ApiSpec,
    request: Any,
    version: int,
    principal: KafkaPrincipal = ALICE,
) -> Deferred[Any]:
    """
    Run a handler for C{principal}, a KafkaError turned into the API's error
    response as the dispatcher does.
    """
    ctx = context(broker, spec, version)
    ctx.session = Session(principal=principal, client_host="127.0.0.1")

    async def handled() -> Any:
        try:
            return await spec.handle(ctx, request)
        except KafkaError as e:
            return spec.error_response(request, version, e.code)

    return Deferred.fromCoroutine(handled())
