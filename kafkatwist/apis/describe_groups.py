"""DescribeGroups (api key 15): v0-v6.

Behavior:
* state, protocol type, members (member id, group instance id, client id,
  client host as ``/address``); the chosen protocol and each member's
  metadata and assignment bytes only when the group is Stable, as Kafka;
* a group that does not exist is described as Dead with no error before v6;
  from v6 (KIP-1043) as Dead with GROUP_ID_NOT_FOUND and the message
  "Group <id> not found." (Kafka's C{GroupMetadataManager.describeGroups});
  a KIP-848 consumer group is not a classic group: Dead, and from v6
  GROUP_ID_NOT_FOUND "Group <id> is not a classic group.";
* authorization (Kafka's C{KafkaApis.handleDescribeGroupsRequest}):
  DESCRIBE on each group, else GROUP_AUTHORIZATION_FAILED for it (state,
  protocol type and protocol empty, no members); the refused groups come
  first, then the described ones, as Kafka answers;
* authorized operations (KIP-430: the group operations the principal may
  do; every supported one without an authorizer) when asked, for each
  group described without error, else Kafka's "not requested" value.

Version notes:
* v1+: throttle time; v3+: authorized operations; v4+: group instance id;
  v5+: flexible; v6+: GROUP_ID_NOT_FOUND and ``error_message``.
"""

from __future__ import annotations

from kafkatwist.apis._authz import describe_authorized
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_groups import (
    DescribedGroup,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
)
from kafkatwist.security.acl import ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: DescribeGroupsRequest) -> DescribeGroupsResponse:
    coordinator = coordinator_of(ctx)
    include = request.include_authorized_operations and ctx.api_version >= 3
    groups = describe_authorized(
        ctx,
        ResourceType.GROUP,
        request.groups,
        lambda g: DescribedGroup(error_code=int(ErrorCode.GROUP_AUTHORIZATION_FAILED), group_id=g),
        lambda g: coordinator.admin.describe_group(g, ctx.api_version),
        include,
    )
    return DescribeGroupsResponse(groups=tuple(groups))


def error_response(
    request: DescribeGroupsRequest, version: int, code: ErrorCode
) -> DescribeGroupsResponse:
    return DescribeGroupsResponse(
        groups=tuple(DescribedGroup(error_code=int(code), group_id=g) for g in request.groups)
    )


SPEC = ApiSpec(
    api_key=15,
    versions=VersionRange(0, 6),
    request=DescribeGroupsRequest,
    response=DescribeGroupsResponse,
    handle=handle,
    error_response=error_response,
)
