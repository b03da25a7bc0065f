"""DeleteGroups (api key 42): v0-v2.

Behavior:
* an Empty group is deleted with its offsets: tombstones for each offset and
  for the group metadata go to ``__consumer_offsets``; pending transactional
  offsets (TxnOffsetCommit of a transaction still open) do not keep it: a
  tombstone goes for each partition that only has pending offsets, and the
  pending offsets are dropped, so the transaction's commit does not bring
  them back (Kafka 4.x's C{OffsetMetadataManager.deleteAllOffsets});
* NON_EMPTY_GROUP for a group with members, GROUP_ID_NOT_FOUND for an
  unknown group, COORDINATOR_LOAD_IN_PROGRESS while loading;
* authorization (Kafka's C{KafkaApis.handleDeleteGroupsRequest}): DELETE on
  each group (each named once), else GROUP_AUTHORIZATION_FAILED for it; the
  refused groups are answered after the others, as Kafka does.

Version notes:
* v1+: same as v0; v2+: flexible.
"""

from __future__ import annotations

from kafkatwist.apis._authz import partition_by_authorized
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.delete_groups import (
    DeletableGroupResult,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    coordinator = coordinator_of(ctx)
    allowed, refused = partition_by_authorized(
        ctx,
        AclOperation.DELETE,
        ResourceType.GROUP,
        dict.fromkeys(request.groups_names),
        lambda g: g,
    )
    results = await coordinator.admin.delete_groups(allowed)
    results += [(g, ErrorCode.GROUP_AUTHORIZATION_FAILED) for g in refused]
    return DeleteGroupsResponse(
        results=tuple(DeletableGroupResult(group_id=g, error_code=int(e)) for g, e in results)
    )


def error_response(
    request: DeleteGroupsRequest, version: int, code: ErrorCode
) -> DeleteGroupsResponse:
    return DeleteGroupsResponse(
        results=tuple(
            DeletableGroupResult(group_id=g, error_code=int(code)) for g in request.groups_names
        )
    )


SPEC = ApiSpec(
    api_key=42,
    versions=VersionRange(0, 2),
    request=DeleteGroupsRequest,
    response=DeleteGroupsResponse,
    handle=handle,
    error_response=error_response,
)
