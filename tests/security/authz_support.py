"""What the authorization tests share: ACLs, and requests made as a principal.

A request reaches the broker in one of two ways: L{call_as} runs the API's
handler directly (a L{KafkaError} turned into the API's error response, as the
dispatcher does), and L{send} goes through the real L{Dispatcher} as bytes, the
response decoded again at the version asked. Either way the connection's
L{Session} names the principal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

from kafkatwist.apis import REGISTRY
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.broker import Broker
from kafkatwist.errors import KafkaError
from kafkatwist.security.acl import (
    CLUSTER_NAME,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.authorizer import StandardAuthorizer
from kafkatwist.security.principal import ANONYMOUS, KafkaPrincipal
from kafkatwist.security.session import Session
from kafkatwist.transport.dispatch import Dispatcher, Reply
from kafkatwist.wire import schema
from tests.brokers import context
from tests.support import decode_reply, request_frame

#: The principal the tests act as.
ALICE = KafkaPrincipal("User", "alice")
#: The client address of the tests' connections.
CLIENT_HOST = "127.0.0.1"
#: Super users for tests whose state is set up by the test support's own
#: requests (made as User:ANONYMOUS), so setting up is never refused.
SETUP_SUPER_USERS = (str(ANONYMOUS),)
#: Kafka's C{Integer.MIN_VALUE}: KIP-430 operations not asked for.
OMITTED = -(2**31)
OP = AclOperation
RT = ResourceType

_Response = TypeVar("_Response")


def acl(
    resource_type: ResourceType,
    name: str,
    operation: AclOperation,
    *,
    pattern: PatternType = PatternType.LITERAL,
    deny: bool = False,
    principal: str = str(ALICE),
) -> AclBinding:
    """An ACL for C{principal} from any host: ALLOW, or DENY when C{deny}."""
    permission = AclPermissionType.DENY if deny else AclPermissionType.ALLOW
    return AclBinding(resource_type, name, pattern, principal, "*", operation, permission)


def on_cluster(operation: AclOperation, **kwargs: Any) -> AclBinding:
    """An ACL on the cluster resource (C{kafka-cluster}); C{kwargs} as L{acl}'s."""
    return acl(ResourceType.CLUSTER, CLUSTER_NAME, operation, **kwargs)


def authorize(
    broker: Broker, *acls: AclBinding, super_users: Iterable[str] = ()
) -> StandardAuthorizer:
    """
    Give C{broker} a StandardAuthorizer holding C{acls} (and nothing else),
    denying when no ACL is found.
    """
    authorizer = StandardAuthorizer(super_users=super_users, acls=acls)
    broker.authorizer = authorizer
    return authorizer


def ops(*operations: AclOperation) -> int:
    """A KIP-430 bit field."""
    return sum(1 << op.value for op in operations)


def call_as(
    broker: Broker,
    spec: ApiSpec,
    request: Any,
    version: int,
    principal: KafkaPrincipal = ALICE,
) -> Deferred[Any]:
    """
    Run C{spec}'s handler for a connection authenticated as C{principal}, a
    KafkaError turned into the API's error response as the dispatcher does.
    """
    ctx = context(broker, spec, version)
    ctx.session = Session(principal=principal, client_host=CLIENT_HOST)

    async def handled() -> Any:
        try:
            return await spec.handle(ctx, request)
        except KafkaError as e:
            return spec.error_response(request, version, e.code)

    return Deferred.fromCoroutine(handled())


def send(
    broker: Broker,
    request: Any,
    response_cls: type[_Response],
    version: int,
    principal: KafkaPrincipal = ALICE,
    client_host: str = CLIENT_HOST,
) -> Deferred[_Response]:
    """
    Send C{request} at C{version} as C{principal} from C{client_host} through
    the dispatcher: a Deferred firing with the decoded response.
    """
    api_key = schema.message_info(type(request)).api_key
    assert api_key is not None
    frame = request_frame(api_key, version, 17, request, framed=False)
    session = Session(principal=principal, client_host=client_host)
    sent: Deferred[Reply] = Dispatcher(REGISTRY, broker).dispatch(
        frame, peer=f"{client_host}:5555", local_host="127.0.0.1", session=session
    )

    def decoded(reply: Reply) -> _Response:
        correlation_id, response = decode_reply(reply, response_cls, version)
        assert correlation_id == 17
        return response

    return sent.addCallback(decoded)
