"""SyncGroup (api key 14): v0-v5.

Behavior:
* the leader's assignments are stored as a GroupMetadata record in
  ``__consumer_offsets``, then handed to every member's parked SyncGroup
  (members the leader left out get an empty assignment) and the group
  becomes Stable; followers wait for that;
* in a Stable group the member's current assignment is returned at once;
* errors: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION,
  INCONSISTENT_GROUP_PROTOCOL (v5 protocol type/name differ),
  REBALANCE_IN_PROGRESS (a new rebalance began), COORDINATOR_LOAD_IN_PROGRESS.

Version notes:
* v3+: group instance id; v4+: flexible; v5+: protocol type and name.

Authorization (Kafka's C{KafkaApis.handleSyncGroupRequest}): READ on the
group, else GROUP_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

from kafkatwist.apis._authz import require
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.sync_group import SyncGroupRequest, SyncGroupResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: SyncGroupRequest) -> SyncGroupResponse:
    version = ctx.api_version
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    coordinator = coordinator_of(ctx)
    return await coordinator.membership.sync_group(
        request.group_id,
        request.generation_id,
        request.member_id,
        request.group_instance_id if version >= 3 else None,
        request.protocol_type if version >= 5 else None,
        request.protocol_name if version >= 5 else None,
        [(a.member_id, a.assignment) for a in request.assignments],
    )


def error_response(request: SyncGroupRequest, version: int, code: ErrorCode) -> SyncGroupResponse:
    return SyncGroupResponse(error_code=int(code))


SPEC = ApiSpec(
    api_key=14,
    versions=VersionRange(0, 5),
    request=SyncGroupRequest,
    response=SyncGroupResponse,
    handle=handle,
    error_response=error_response,
)
