"""What handlers share to authorize like Kafka's C{KafkaApis}.

KIP-430's C{authorized_operations} bit fields, the operations each
resource type supports (Kafka's C{AclEntry.supportedOperations}), and the
common checks: a cluster-level operation, and a set of names filtered to
those the principal may act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

import attrs

from kafkatwist.apis._spec import RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.security.acl import CLUSTER_NAME, AclOperation, ResourceType

#: Kafka's default messages of the authorization errors (C{Errors}), which
#: C{new ApiError(error)} carries.
AUTHORIZATION_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: "Topic authorization failed.",
    ErrorCode.GROUP_AUTHORIZATION_FAILED: "Group authorization failed.",
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: "Cluster authorization failed.",
    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "Transactional Id authorization failed.",
    ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED: "Delegation Token authorization failed.",
}

#: What C{authorized_operations} holds when the client did not ask (KIP-430: C{Integer.MIN_VALUE}).
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

_OP = AclOperation
_T = TypeVar("_T")

#: Kafka's C{AclEntry.supportedOperations}, by resource type.
SUPPORTED_OPERATIONS: dict[ResourceType, tuple[AclOperation, ...]] = {
    ResourceType.TOPIC: (
        _OP.READ,
        _OP.WRITE,
        _OP.CREATE,
        _OP.DESCRIBE,
        _OP.DELETE,
        _OP.ALTER,
        _OP.DESCRIBE_CONFIGS,
        _OP.ALTER_CONFIGS,
    ),
    ResourceType.GROUP: (
        _OP.READ,
        _OP.DESCRIBE,
        _OP.DELETE,
        _OP.DESCRIBE_CONFIGS,
        _OP.ALTER_CONFIGS,
    ),
    ResourceType.CLUSTER: (
        _OP.CREATE,
        _OP.CLUSTER_ACTION,
        _OP.DESCRIBE_CONFIGS,
        _OP.ALTER_CONFIGS,
        _OP.IDEMPOTENT_WRITE,
        _OP.ALTER,
        _OP.DESCRIBE,
    ),
    ResourceType.TRANSACTIONAL_ID: (_OP.DESCRIBE, _OP.WRITE, _OP.TWO_PHASE_COMMIT),
    ResourceType.DELEGATION_TOKEN: (_OP.DESCRIBE,),
    ResourceType.USER: (_OP.CREATE_TOKENS, _OP.DESCRIBE_TOKENS),
}


def authorized_operations(ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
    """
    KIP-430's bit field: bit C{op.value} set for each supported operation allowed on the resource.

    Kafka's C{AuthHelper.authorizedOperations}; the caller returns
    L{AUTHORIZED_OPERATIONS_OMITTED} instead when the request did not ask.
    """
    bits = 0
    for operation in SUPPORTED_OPERATIONS[resource_type]:
        if ctx.authorize(operation, resource_type, name):
            bits |= 1 << operation.value
    return bits


def cluster_authorized_operations(ctx: RequestContext, asked: bool) -> int:
    """
    A response's KIP-430 C{cluster_authorized_operations}, as Kafka's
    C{handleTopicMetadataRequest} and C{AuthHelper.computeDescribeClusterResponse}:
    L{AUTHORIZED_OPERATIONS_OMITTED} unless C{asked}, 0 without DESCRIBE on
    the cluster, else the cluster operations allowed.
    """
    if not asked:
        return AUTHORIZED_OPERATIONS_OMITTED
    if not authorize_cluster(ctx, AclOperation.DESCRIBE):
        return 0
    return authorized_operations(ctx, ResourceType.CLUSTER, CLUSTER_NAME)


def authorize_cluster(ctx: RequestContext, operation: AclOperation) -> bool:
    """Whether the principal may do C{operation} on the cluster (C{kafka-cluster})."""
    return ctx.authorize(operation, ResourceType.CLUSTER, CLUSTER_NAME)


def require_cluster(ctx: RequestContext, operation: AclOperation) -> None:
    """
    Refuse the request unless the principal may do C{operation} on the cluster.

    @raise KafkaError: CLUSTER_AUTHORIZATION_FAILED (the API's error
        response then carries it, as Kafka's C{AuthHelper.authorizeClusterOperation}).
    """
    require(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME)


def filter_authorized(
    ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, names: Iterable[str]
) -> set[str]:
    """
    The names among C{names} the principal may do C{operation} on
    (Kafka's C{AuthHelper.filterByAuthorized}); each distinct name is checked once.
    """
    return {name for name in set(names) if ctx.authorize(operation, resource_type, name)}


def filter_authorized_or_cluster(
    ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, names: Iterable[str]
) -> set[str]:
    """
    The names among C{names} the principal may do C{operation} on: all of
    them when it may do C{operation} on the cluster (Kafka's C{hasClusterAuth}
    in C{ControllerApis.createTopics} and C{deleteTopics}), else each one checked.
    """
    if authorize_cluster(ctx, operation):
        return set(names)
    return filter_authorized(ctx, operation, resource_type, names)


def denied_names(
    ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, names: Iterable[str]
) -> frozenset[str]:
    """
    The names among C{names} the principal may not do C{operation} on.

    The complement of L{filter_authorized}, for the data-path handlers
    (Produce, Fetch): without an authorizer it is empty and C{names} (best a
    generator) is never iterated, so nothing runs per topic.
    """
    if ctx.broker.authorizer is None:
        return frozenset()
    return frozenset(
        name for name in set(names) if not ctx.authorize(operation, resource_type, name)
    )


def partition_by_authorized(
    ctx: RequestContext,
    operation: AclOperation,
    resource_type: ResourceType,
    items: Iterable[_T],
    name_of: Callable[[_T], str],
) -> tuple[list[_T], list[_T]]:
    """
    The items the principal may do C{operation} on, and the others, each in
    their order (Kafka's C{AuthHelper.partitionSeqByAuthorized}); each
    distinct name is checked once.
    """
    items = list(items)
    allowed = filter_authorized(ctx, operation, resource_type, map(name_of, items))
    return [i for i in items if name_of(i) in allowed], [
        i for i in items if name_of(i) not in allowed
    ]


#: The code of a refused operation, by resource type (Kafka's C{*AuthorizationException}s).
REFUSALS: dict[ResourceType, ErrorCode] = {
    ResourceType.TOPIC: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    ResourceType.GROUP: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    ResourceType.CLUSTER: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    ResourceType.TRANSACTIONAL_ID: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    ResourceType.DELEGATION_TOKEN: ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED,
}


def require(
    ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str
) -> None:
    """
    Refuse the request unless the principal may do C{operation} on the resource.

    @raise KafkaError: the resource type's refusal (L{REFUSALS}), which the
        dispatcher turns into the API's error response, as Kafka's handlers
        answer C{request.getErrorResponse(Errors.X_AUTHORIZATION_FAILED.exception)}.
    """
    if not ctx.authorize(operation, resource_type, name):
        raise KafkaError(REFUSALS[resource_type])


def topic_filter(ctx: RequestContext, operation: AclOperation) -> Callable[[str], bool] | None:
    """
    Whether the principal may do C{operation} on a topic, as a function that
    outlives the request (it holds the broker, principal and host, not the
    context, and asks the broker's authorizer of the moment); None when the
    broker has no authorizer now (every topic is allowed).
    """
    broker = ctx.broker
    if broker.authorizer is None:
        return None
    principal, host = ctx.session.principal, ctx.session.client_host

    def allowed(topic: str) -> bool:
        authorizer = broker.authorizer
        return authorizer is None or authorizer.authorize(
            principal, host, operation, ResourceType.TOPIC, topic
        )

    return allowed


class _Described(Protocol):
    """A described resource of a response (an attrs struct): its code and KIP-430 field."""

    @property
    def error_code(self) -> int: ...

    @property
    def authorized_operations(self) -> int: ...


_D = TypeVar("_D", bound=_Described)


def describe_authorized(
    ctx: RequestContext,
    resource_type: ResourceType,
    names: Iterable[str],
    refused: Callable[[str], _D],
    describe: Callable[[str], _D],
    include_operations: bool,
) -> list[_D]:
    """
    Kafka's describe handlers (DescribeGroups, ConsumerGroupDescribe): the
    names without DESCRIBE answered C{refused(name)} first, then
    C{describe(name)} of the others, each described without error carrying
    its KIP-430 operations when C{include_operations}.
    """
    allowed, denied = partition_by_authorized(
        ctx, AclOperation.DESCRIBE, resource_type, names, lambda n: n
    )
    answers = [refused(name) for name in denied]
    for name in allowed:
        answer = describe(name)
        if include_operations and answer.error_code == ErrorCode.NONE:
            bits = authorized_operations(ctx, resource_type, name)
            answer = attrs.evolve(answer, authorized_operations=bits)  # type: ignore[misc]
        answers.append(answer)
    return answers
