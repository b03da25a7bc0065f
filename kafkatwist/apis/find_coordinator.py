"""FindCoordinator (api key 10): v0-v6.

Behavior:
* a group's (key type 0) coordinator is the leader of its
  ``__consumer_offsets`` partition, a transactional id's (key type 1) the
  leader of its ``__transaction_state`` partition (Kafka's C{partitionFor}:
  the key's Java hash modulo the partitions), answered at its endpoint for
  the request's listener (this broker: the address the client connected
  through); a partition whose leader is not live is COORDINATOR_NOT_AVAILABLE
  (Kafka's C{KafkaApis.getCoordinator}), with Kafka's message before v4;
* a group lookup creates ``__consumer_offsets`` first if it does not exist
  yet, as Kafka does (COORDINATOR_NOT_AVAILABLE if that fails); a
  transaction lookup creates ``__transaction_state`` the same way, and
  answers COORDINATOR_LOAD_IN_PROGRESS while the transaction coordinator
  replays it;
* any other key type: INVALID_REQUEST;
* each key is authorized first (Kafka's C{KafkaApis.getCoordinator}):
  DESCRIBE on the GROUP (else GROUP_AUTHORIZATION_FAILED) or on the
  TRANSACTIONAL_ID (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED); a refused
  key gets no node, and no internal topic is created for it. Before v4 the
  refusal is the whole answer, with Kafka's message ("Group authorization
  failed."); from v4 each key answers its own code.

Version notes:
* v1+: key type, error message; v3+: flexible; v4+: batched
  ``coordinator_keys``, one result per key.
"""

from __future__ import annotations

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, REFUSALS
from kafkatwist.apis._cluster import Node, live_node
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.find_coordinator import (
    Coordinator,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.kraft import TopicState
from kafkatwist.wire.versions import VersionRange

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1
#: Kafka's C{CoordinatorNotAvailableException} message, which a v1-v3 error answer carries.
NOT_AVAILABLE_MESSAGE = "The coordinator is not available."


#: What each key type is authorized as (a refusal is the resource type's L{REFUSALS} code).
_AUTHORIZED_AS = {
    GROUP_KEY_TYPE: ResourceType.GROUP,
    TRANSACTION_KEY_TYPE: ResourceType.TRANSACTIONAL_ID,
}


def _keys(request: FindCoordinatorRequest, version: int) -> tuple[str, ...]:
    return tuple(request.coordinator_keys) if version >= 4 else (request.key,)


async def handle(ctx: RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse:
    version = ctx.api_version
    if request.key_type not in (GROUP_KEY_TYPE, TRANSACTION_KEY_TYPE):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown key type {request.key_type}")
    resource_type = _AUTHORIZED_AS[request.key_type]
    refusal = REFUSALS[resource_type]
    refused = {
        k
        for k in _keys(request, version)
        if not ctx.authorize(AclOperation.DESCRIBE, resource_type, k)
    }
    if version < 4 and refused:
        return error_response(request, version, refusal, AUTHORIZATION_MESSAGES[refusal])
    if version >= 4 and refused and refused.issuperset(request.coordinator_keys):
        return FindCoordinatorResponse(
            coordinators=tuple(_no_node(k, refusal, None) for k in request.coordinator_keys)
        )
    broker = ctx.broker
    code, message = ErrorCode.NONE, None
    topic: TopicState | None = None
    try:
        if request.key_type == GROUP_KEY_TYPE:
            topic = await broker.groups.ensure_offsets_topic()
        elif broker.transactions.loading:
            code = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        else:
            topic = await broker.transactions.coordinator.state_log.ensure()
    except KafkaError as e:
        code, message = e.code, e.message
    if topic is None:
        if version < 4:
            return error_response(request, version, code, message)
        return FindCoordinatorResponse(
            coordinators=tuple(
                _no_node(k, refusal, None) if k in refused else _no_node(k, code, message)
                for k in request.coordinator_keys
            )
        )
    return _answer(ctx, request, version, refused, refusal, topic)


def _partition_for(ctx: RequestContext, key_type: int, key: str) -> int:
    """The internal topic partition that holds C{key} (Kafka's C{partitionFor})."""
    broker = ctx.broker
    if key_type == GROUP_KEY_TYPE:
        return broker.groups.partition_for(key)
    return broker.transactions.coordinator.state_log.partition_for(key)


def _coordinator(ctx: RequestContext, key_type: int, key: str, topic: TopicState) -> Node | None:
    """The live leader of the key's partition, or None (Kafka's C{KafkaApis.getCoordinator})."""
    state = topic.partitions.get(_partition_for(ctx, key_type, key))
    return None if state is None else live_node(ctx, state.leader)


def _answer(
    ctx: RequestContext,
    request: FindCoordinatorRequest,
    version: int,
    refused: set[str],
    refusal: ErrorCode,
    topic: TopicState,
) -> FindCoordinatorResponse:
    """
    Each key's coordinator, but the refused ones (v4+: each with C{refusal}).

    A key whose partition has no live leader is COORDINATOR_NOT_AVAILABLE.
    """
    key_type = request.key_type
    if version < 4:
        node = _coordinator(ctx, key_type, request.key, topic)
        if node is None:
            return error_response(
                request, version, ErrorCode.COORDINATOR_NOT_AVAILABLE, NOT_AVAILABLE_MESSAGE
            )
        return FindCoordinatorResponse(
            error_code=0, error_message=None, node_id=node.node_id, host=node.host, port=node.port
        )
    coordinators = []
    for k in request.coordinator_keys:
        node = None if k in refused else _coordinator(ctx, key_type, k, topic)
        if node is not None:
            found = Coordinator(
                key=k, node_id=node.node_id, host=node.host, port=node.port, error_code=0
            )
        elif k in refused:
            found = _no_node(k, refusal, None)
        else:
            found = _no_node(k, ErrorCode.COORDINATOR_NOT_AVAILABLE, None)
        coordinators.append(found)
    return FindCoordinatorResponse(coordinators=tuple(coordinators))


def _no_node(key: str, code: ErrorCode, message: str | None) -> Coordinator:
    """A v4+ key answered C{code}, with Kafka's C{Node.noNode()}."""
    return Coordinator(
        key=key, node_id=-1, host="", port=-1, error_code=int(code), error_message=message
    )


def error_response(
    request: FindCoordinatorRequest, version: int, code: ErrorCode, message: str | None = None
) -> FindCoordinatorResponse:
    if version < 4:
        return FindCoordinatorResponse(
            error_code=int(code),
            # v0 has no error message: leave the field at its default.
            error_message=message if version >= 1 else "",
            node_id=-1,
            host="",
            port=-1,
        )
    return FindCoordinatorResponse(
        coordinators=tuple(_no_node(k, code, message) for k in _keys(request, version))
    )


SPEC = ApiSpec(
    api_key=10,
    versions=VersionRange(0, 6),
    request=FindCoordinatorRequest,
    response=FindCoordinatorResponse,
    handle=handle,
    error_response=error_response,
)
