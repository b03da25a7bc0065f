"""ListGroups (api key 16): v0-v5.

Behavior:
* every group this coordinator holds, including groups used only to store
  offsets (state Empty, empty protocol type);
* ``states_filter`` and ``types_filter`` compare case-insensitively; a group is
  of type ``classic`` or ``consumer`` (KIP-848, protocol type ``consumer``);
* COORDINATOR_LOAD_IN_PROGRESS while the coordinator loads;
* authorization (Kafka's C{KafkaApis.handleListGroupsRequest}): a principal
  with DESCRIBE on the cluster sees every group, any other only the groups
  it may DESCRIBE.

Version notes:
* v1+: throttle time; v3+: flexible; v4+: states filter and group state;
  v5+: types filter and group type.
"""

from __future__ import annotations

from kafkatwist.apis._authz import authorize_cluster, filter_authorized
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.list_groups import ListedGroup, ListGroupsRequest, ListGroupsResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: ListGroupsRequest) -> ListGroupsResponse:
    coordinator = coordinator_of(ctx)
    if coordinator.loading:
        return ListGroupsResponse(error_code=int(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
    version = ctx.api_version
    listed = coordinator.admin.list_groups(
        request.states_filter if version >= 4 else (),
        request.types_filter if version >= 5 else (),
    )
    if not authorize_cluster(ctx, AclOperation.DESCRIBE):
        visible = filter_authorized(
            ctx, AclOperation.DESCRIBE, ResourceType.GROUP, (g for g, *_ in listed)
        )
        listed = [entry for entry in listed if entry[0] in visible]
    return ListGroupsResponse(
        groups=tuple(
            ListedGroup(group_id=g, protocol_type=pt, group_state=state, group_type=gt)
            for g, pt, state, gt in listed
        )
    )


SPEC = ApiSpec(
    api_key=16,
    versions=VersionRange(0, 5),
    request=ListGroupsRequest,
    response=ListGroupsResponse,
    handle=handle,
)
