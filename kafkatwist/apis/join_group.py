"""JoinGroup (api key 11): v0-v9.

Behavior (Kafka's classic group protocol, see L{kafkatwist.groups.membership}):
* the answer is parked until the join phase completes: when every known
  member has rejoined, or after the rebalance timeout (members that did not
  rejoin are removed), or, for the first rebalance of an empty group, after
  ``group.initial.rebalance.delay.ms`` (extended while members keep coming,
  up to the rebalance timeout);
* the leader gets every member with its metadata for the chosen protocol
  (the most voted among those all members support); generations start at 1;
* errors: INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT (outside
  ``group.min/max.session.timeout.ms``), UNKNOWN_MEMBER_ID,
  INCONSISTENT_GROUP_PROTOCOL, GROUP_MAX_SIZE_REACHED (``group.max.size``),
  FENCED_INSTANCE_ID, COORDINATOR_LOAD_IN_PROGRESS;
* the id of a non-empty KIP-848 consumer group: the member joins that group
  (L{kafkatwist.groups.consumer.classic_members}, as Kafka's
  C{classicGroupJoinToConsumerGroup}); SyncGroup, Heartbeat and LeaveGroup
  follow it there. An empty consumer group is replaced by a classic group.

Version notes:
* v0: no rebalance timeout (the session timeout is used); v4+: a join
  without member id gets MEMBER_ID_REQUIRED and a member id (KIP-394);
  v5+: static membership (KIP-345); v6+: flexible; v7+: protocol type in the
  response, nullable protocol name; v8+: reason (KIP-800; Kafka only logs it,
  and it is not read here); v9+: skip assignment for a static leader
  rejoining a stable group.

Authorization (Kafka's C{KafkaApis.handleJoinGroupRequest}): READ on the
group, else GROUP_AUTHORIZATION_FAILED (Kafka's error response: generation
-1, no leader, the empty member id).
"""

from __future__ import annotations

import attrs

from kafkatwist.apis._authz import require
from kafkatwist.apis._groups import client_host, coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.join_request import JoinRequest
from kafkatwist.messages.join_group import JoinGroupRequest, JoinGroupResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


def _for_version(response: JoinGroupResponse, version: int) -> JoinGroupResponse:
    if version < 7 and response.protocol_name is None:
        return attrs.evolve(response, protocol_name="")
    return response


async def handle(ctx: RequestContext, request: JoinGroupRequest) -> JoinGroupResponse:
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    coordinator = coordinator_of(ctx)
    version = ctx.api_version
    rebalance_timeout = request.rebalance_timeout_ms if version >= 1 else request.session_timeout_ms
    join = JoinRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=request.group_instance_id if version >= 5 else None,
        client_id=ctx.header.client_id or "",
        client_host=client_host(ctx),
        session_timeout_ms=request.session_timeout_ms,
        rebalance_timeout_ms=rebalance_timeout,
        protocol_type=request.protocol_type,
        protocols=tuple((p.name, p.metadata) for p in request.protocols),
        require_known_member_id=version >= 4,
        supports_skip_assignment=version >= 9,
    )
    response = await coordinator.membership.join_group(join)
    return _for_version(response, version)


def error_response(request: JoinGroupRequest, version: int, code: ErrorCode) -> JoinGroupResponse:
    return _for_version(
        JoinGroupResponse(
            error_code=int(code),
            generation_id=-1,
            protocol_name=None,
            leader="",
            member_id="",
        ),
        version,
    )


SPEC = ApiSpec(
    api_key=11,
    versions=VersionRange(0, 9),
    request=JoinGroupRequest,
    response=JoinGroupResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "JoinGroupRequest.reason": "KIP-800: Kafka only writes it in its log lines",
    },
)
