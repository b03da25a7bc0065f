"""DeleteGroups (api key 42): v0-v2.

Behavior:
* an Empty group is deleted with its offsets: tombstones for each offset and
  for the group metadata go to ``__consumer_offsets``; pending transactional
  offsets (TxnOffsetCommit of a transaction still open) do not keep it: a
  tombstone goes for each partition that only has pending offsets, and the
  pending offsets are dropped, so the transaction's commit does not bring
  them back (Kafka 4.x's C{OffsetMetadataManager.deleteAllOffsets});
* NON_EMPTY_GROUP for a group with members, GROUP_ID_NOT_FOUND for an
  unknown group, COORDINATOR_LOAD_IN_PROGRESS while loading.

Version notes:
* v1+: same as v0; v2+: flexible.
"""

from __future__ import annotations

from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.delete_groups import (
    DeletableGroupResult,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
)
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    coordinator = coordinator_of(ctx)
    results = await coordinator.admin.delete_groups(list(request.groups_names))
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
