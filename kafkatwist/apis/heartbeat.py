"""Heartbeat (api key 12): v0-v4.

Behavior:
* moves the member's session deadline (nothing else is allocated or
  scheduled); a member whose deadline passes is removed and the others
  rebalance;
* REBALANCE_IN_PROGRESS while the group prepares a rebalance (the member
  must rejoin), UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION;
* while the coordinator loads, the answer is NONE, as Kafka's (so members
  are not sent back to rejoin).

Version notes:
* v3+: group instance id; v4+: flexible.

Authorization (Kafka's C{KafkaApis.handleHeartbeatRequest}): READ on the
group, else GROUP_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from kafkatwist.apis._authz import require
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.messages.heartbeat import HeartbeatRequest, HeartbeatResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: HeartbeatRequest) -> HeartbeatResponse:
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    code = coordinator_of(ctx).membership.heartbeat(
        request.group_id,
        request.generation_id,
        request.member_id,
        request.group_instance_id if ctx.api_version >= 3 else None,
    )
    return HeartbeatResponse(error_code=int(code))


SPEC = ApiSpec(
    api_key=12,
    versions=VersionRange(0, 4),
    request=HeartbeatRequest,
    response=HeartbeatResponse,
    handle=handle,
)
