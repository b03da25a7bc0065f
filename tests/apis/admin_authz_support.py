"""Shared by the admin APIs' authorization tests: ACLs, and requests sent as a principal.

Requests go through the real L{Dispatcher} as bytes, with the connection's
L{Session} naming the principal, so a handler's refusal reaches the client
exactly as the dispatcher answers it (an API's C{error_response} for a
C{KafkaError}), and each response is decoded again at the version asked.
"""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet.defer import Deferred

from kafkatwist.apis import REGISTRY
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
from kafkatwist.transport.dispatch import Dispatcher, Reply
from kafkatwist.wire import schema
from tests.support import decode_reply, request_frame

#: The principal the tests' requests come from.
ALICE = KafkaPrincipal("User", "alice")
#: The client address of those requests.
CLIENT_HOST = "127.0.0.1"

_Response = TypeVar("_Response")


def acl(
    resource_type: ResourceType,
    name: str,
    operation: AclOperation,
    *,
    pattern: PatternType = PatternType.LITERAL,
    permission: AclPermissionType = AclPermissionType.ALLOW,
    principal: str = str(ALICE),
) -> AclBinding:
    """An ACL for C{principal} from any host (ALLOW unless told)."""
    return AclBinding(resource_type, name, pattern, principal, "*", operation, permission)


def on_cluster(operation: AclOperation, **kwargs: Any) -> AclBinding:
    """An ACL on the cluster resource (C{kafka-cluster})."""
    return acl(ResourceType.CLUSTER, CLUSTER_NAME, operation, **kwargs)


def secure(broker: Broker, *acls: AclBinding) -> Broker:
    """Give C{broker} an authorizer holding C{acls} (no super users, deny when no ACL)."""
    broker.authorizer = StandardAuthorizer(acls=acls)
    return broker


def send(
    broker: Broker,
    request: Any,
    response_cls: type[_Response],
    version: int,
    principal: KafkaPrincipal = ALICE,
) -> Deferred[_Response]:
    """
    Send C{request} at C{version} as C{principal} through the dispatcher:
    a Deferred firing with the decoded response.
    """
    api_key = schema.message_info(type(request)).api_key
    assert api_key is not None
    frame = request_frame(api_key, version, 17, request, framed=False)
    session = Session(principal=principal, client_host=CLIENT_HOST)
    sent: Deferred[Reply] = Dispatcher(REGISTRY, broker).dispatch(
        frame, peer=f"{CLIENT_HOST}:5555", local_host="127.0.0.1", session=session
    )

    def decoded(reply: Reply) -> _Response:
        correlation_id, response = decode_reply(reply, response_cls, version)
        assert correlation_id == 17
        return response

    return sent.addCallback(decoded)
