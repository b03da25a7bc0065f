"""DescribeAcls (api key 29): v0-v3.

Behavior (Kafka's C{AclApis.handleDescribeAcls}): the principal needs
DESCRIBE on the cluster (else the error is CLUSTER_AUTHORIZATION_FAILED);
without an authorizer the error is SECURITY_DISABLED, "No Authorizer is
configured on the broker". Otherwise the answer is every ACL the filter
matches (L{kafkatwist.security.acl_filter.AclBindingFilter}: ANY matches
all, a null name, principal or host matches all, pattern type MATCH finds
the literal, wildcard and prefixed ACLs that apply to the name), grouped by
resource pattern (sorted, where Kafka's order is a hash map's). Code 0
(UNKNOWN) in any filter type is INVALID_REQUEST (L{kafkatwist.apis._acls}).

Version notes:
* v1 adds C{pattern_type_filter} (a v0 filter is LITERAL, so it matches
  only LITERAL ACLs, as Kafka 3.x answered v0);
* v2 is v1 made flexible; v3 is v2 (KIP-373's USER resource type).
"""

from __future__ import annotations

from itertools import groupby

from kafkatwist.apis._acls import acl_filter, unknown_elements
from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_acls import (
    AclDescription,
    DescribeAclsRequest,
    DescribeAclsResource,
    DescribeAclsResponse,
)
from kafkatwist.security.acl import AclBinding, AclOperation
from kafkatwist.wire.versions import VersionRange


def _pattern(acl: AclBinding) -> tuple[int, str, int]:
    return (int(acl.resource_type), acl.resource_name, int(acl.pattern_type))


async def handle(ctx: RequestContext, request: DescribeAclsRequest) -> DescribeAclsResponse:
    unknown = unknown_elements(
        "DescribeAclsRequest contains UNKNOWN elements",
        request.resource_type_filter,
        request.pattern_type_filter,
        request.operation,
        request.permission_type,
    )
    if unknown is not None:
        return DescribeAclsResponse(
            error_code=int(ErrorCode.INVALID_REQUEST), error_message=unknown
        )
    require_cluster(ctx, AclOperation.DESCRIBE)
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return DescribeAclsResponse(
            error_code=int(ErrorCode.SECURITY_DISABLED),
            error_message="No Authorizer is configured on the broker",
        )
    wanted = acl_filter(
        request.resource_type_filter,
        request.resource_name_filter,
        request.pattern_type_filter,
        request.principal_filter,
        request.host_filter,
        request.operation,
        request.permission_type,
    )
    matched = sorted(
        (acl for acl in authorizer.acls() if wanted.matches(acl)),
        key=lambda a: (*_pattern(a), a.principal, a.host, int(a.operation), int(a.permission)),
    )
    return DescribeAclsResponse(
        error_code=0,
        error_message=None,
        resources=tuple(
            DescribeAclsResource(
                resource_type=resource_type,
                resource_name=name,
                pattern_type=pattern_type,
                acls=tuple(
                    AclDescription(
                        principal=a.principal,
                        host=a.host,
                        operation=int(a.operation),
                        permission_type=int(a.permission),
                    )
                    for a in acls
                ),
            )
            for (resource_type, name, pattern_type), acls in groupby(matched, key=_pattern)
        ),
    )


SPEC = ApiSpec(
    api_key=29,
    versions=VersionRange(0, 3),
    request=DescribeAclsRequest,
    response=DescribeAclsResponse,
    handle=handle,
)
