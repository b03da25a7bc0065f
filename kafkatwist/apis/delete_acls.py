"""DeleteAcls (api key 31): v0-v3.

Behavior (Kafka's C{AclApis.handleDeleteAcls} and C{AclControlManager},
L{kafkatwist.security.acl_control}): the principal needs ALTER on the
cluster (else every filter's result is CLUSTER_AUTHORIZATION_FAILED);
without an authorizer every result is SECURITY_DISABLED. Each filter
answers the ACLs it matches (L{kafkatwist.security.acl_filter}), even those
an earlier filter matched too; every matched ACL is removed from the
metadata log with one RemoveAccessControlEntryRecord. A filter with an
UNKNOWN type (an unknown code) answers INVALID_REQUEST, "Unknown
patternFilter." or "Unknown entryFilter."; code 0 (UNKNOWN) fails the
whole request with INVALID_REQUEST (L{kafkatwist.apis._acls}).

Version notes:
* v1 adds C{pattern_type_filter} (a v0 filter is LITERAL);
* v2 is v1 made flexible; v3 is v2 (KIP-373's USER resource type).
"""

from __future__ import annotations

from kafkatwist.apis._acls import NO_AUTHORIZER, acl_filter, unknown_elements
from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.delete_acls import (
    DeleteAclsFilterResult,
    DeleteAclsMatchingAcl,
    DeleteAclsRequest,
    DeleteAclsResponse,
)
from kafkatwist.security.acl import AclBinding, AclOperation
from kafkatwist.wire.versions import VersionRange


def _matching(acl: AclBinding) -> DeleteAclsMatchingAcl:
    return DeleteAclsMatchingAcl(
        error_code=0,
        error_message=None,
        resource_type=int(acl.resource_type),
        resource_name=acl.resource_name,
        pattern_type=int(acl.pattern_type),
        principal=acl.principal,
        host=acl.host,
        operation=int(acl.operation),
        permission_type=int(acl.permission),
    )


async def handle(ctx: RequestContext, request: DeleteAclsRequest) -> DeleteAclsResponse:
    unknown = unknown_elements(
        "Filters contain UNKNOWN elements",
        *(
            code
            for f in request.filters
            for code in (
                f.resource_type_filter,
                f.pattern_type_filter,
                f.operation,
                f.permission_type,
            )
        ),
    )
    if unknown is not None:
        return _every(request, DeleteAclsFilterResult(int(ErrorCode.INVALID_REQUEST), unknown))
    require_cluster(ctx, AclOperation.ALTER)
    if ctx.broker.authorizer is None:
        disabled = DeleteAclsFilterResult(int(ErrorCode.SECURITY_DISABLED), NO_AUTHORIZER)
        return _every(request, disabled)
    filters = [
        acl_filter(
            f.resource_type_filter,
            f.resource_name_filter,
            f.pattern_type_filter,
            f.principal_filter,
            f.host_filter,
            f.operation,
            f.permission_type,
        )
        for f in request.filters
    ]
    results = await ctx.broker.controller.delete_acls(filters)
    return DeleteAclsResponse(
        filter_results=tuple(
            DeleteAclsFilterResult(
                error_code=0,
                error_message=None,
                matching_acls=tuple(_matching(acl) for acl in result),
            )
            if isinstance(result, list)
            else DeleteAclsFilterResult(error_code=int(result.code), error_message=result.message)
            for result in results
        )
    )


def _every(request: DeleteAclsRequest, result: DeleteAclsFilterResult) -> DeleteAclsResponse:
    return DeleteAclsResponse(filter_results=(result,) * len(request.filters))


def error_response(request: DeleteAclsRequest, version: int, code: ErrorCode) -> DeleteAclsResponse:
    """Every filter gets the error (Kafka's C{DeleteAclsRequest.getErrorResponse})."""
    return _every(request, DeleteAclsFilterResult(error_code=int(code), error_message=None))


SPEC = ApiSpec(
    api_key=31,
    versions=VersionRange(0, 3),
    request=DeleteAclsRequest,
    response=DeleteAclsResponse,
    handle=handle,
    error_response=error_response,
)
