"""LeaveGroup (api key 13): v0-v5.

Behavior:
* the members are removed at once and the rest of the group rebalances
  without waiting for a session timeout; parked JoinGroup/SyncGroup answers
  of a removed member get UNKNOWN_MEMBER_ID;
* a member named only by its group instance id (empty member id) is the
  admin removal of that static member;
* per-member errors: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID; unknown group:
  UNKNOWN_MEMBER_ID at the top level.

Version notes:
* v0-v2: one member id, its error is the top-level error; v3+: batched
  ``members`` with per-member results; v4+: flexible; v5+: reason (KIP-800;
  Kafka only logs it, and it is not read here).

Authorization (Kafka's C{KafkaApis.handleLeaveGroupRequest}): READ on the
group, else GROUP_AUTHORIZATION_FAILED at the top level.
"""

from __future__ import annotations

from kafkatwist.apis._authz import require
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse, MemberResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: LeaveGroupRequest) -> LeaveGroupResponse:
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    coordinator = coordinator_of(ctx)
    if ctx.api_version < 3:
        code, results = coordinator.membership.leave_group(
            request.group_id, [(request.member_id, None)]
        )
        if code == ErrorCode.NONE and results:
            code = results[0]
        return LeaveGroupResponse(error_code=int(code))
    identities = [(m.member_id, m.group_instance_id) for m in request.members]
    code, results = coordinator.membership.leave_group(request.group_id, identities)
    if code != ErrorCode.NONE:
        return LeaveGroupResponse(error_code=int(code))
    return LeaveGroupResponse(
        members=tuple(
            MemberResponse(member_id=m, group_instance_id=i, error_code=int(e))
            for (m, i), e in zip(identities, results, strict=True)
        )
    )


SPEC = ApiSpec(
    api_key=13,
    versions=VersionRange(0, 5),
    request=LeaveGroupRequest,
    response=LeaveGroupResponse,
    handle=handle,
    unused_fields={
        "MemberIdentity.reason": "KIP-800: Kafka only writes it in its log lines",
    },
)
