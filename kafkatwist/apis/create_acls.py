"""CreateAcls (api key 30): v0-v3.

Behavior (Kafka's C{AclApis.handleCreateAcls} and C{AclControlManager},
L{kafkatwist.security.acl_control}): the principal needs ALTER on the
cluster (else every result is CLUSTER_AUTHORIZATION_FAILED); without an
authorizer (C{authorizer.class.name} unset) every result is
SECURITY_DISABLED. Each ACL is checked on its own (INVALID_REQUEST with
Kafka's message: the CLUSTER resource's name, an empty name, UNKNOWN types,
operation ANY, a principal that is not C{Type:name}); a valid new one is
written to the metadata log as an AccessControlEntryRecord with a fresh id,
an existing one succeeds and writes nothing. A resource type ANY, a pattern
type MATCH or ANY, or a permission ANY fails the whole request with
UNKNOWN_SERVER_ERROR, as Kafka (which cannot build such an C{AclBinding}).
Code 0 (UNKNOWN) in any type fails the whole request with INVALID_REQUEST
(L{kafkatwist.apis._acls}).

Version notes:
* v1 adds C{resource_pattern_type} (v0 ACLs are LITERAL);
* v2 is v1 made flexible; v3 is v2 (KIP-373's USER resource type).
"""

from __future__ import annotations

from kafkatwist.apis._acls import NO_AUTHORIZER, unknown_elements
from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.create_acls import (
    AclCreationResult,
    CreateAclsRequest,
    CreateAclsResponse,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.security.acl_control import acl_of_codes, check_constructible
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: CreateAclsRequest) -> CreateAclsResponse:
    unknown = unknown_elements(
        "CreatableAcls contain unknown elements",
        *(
            code
            for c in request.creations
            for code in (c.resource_type, c.resource_pattern_type, c.operation, c.permission_type)
        ),
    )
    if unknown is not None:
        return _every(request, AclCreationResult(int(ErrorCode.INVALID_REQUEST), unknown))
    require_cluster(ctx, AclOperation.ALTER)
    if ctx.broker.authorizer is None:
        return _every(request, AclCreationResult(int(ErrorCode.SECURITY_DISABLED), NO_AUTHORIZER))
    acls = [
        acl_of_codes(
            c.resource_type,
            c.resource_name,
            c.resource_pattern_type,
            c.principal,
            c.host,
            c.operation,
            c.permission_type,
        )
        for c in request.creations
    ]
    for acl in acls:
        check_constructible(acl)
    results = await ctx.broker.controller.create_acls(acls)
    return CreateAclsResponse(
        results=tuple(
            AclCreationResult(error_code=0, error_message=None)
            if error is None
            else AclCreationResult(error_code=int(error.code), error_message=error.message)
            for error in results
        )
    )


def _every(request: CreateAclsRequest, result: AclCreationResult) -> CreateAclsResponse:
    return CreateAclsResponse(results=(result,) * len(request.creations))


def error_response(request: CreateAclsRequest, version: int, code: ErrorCode) -> CreateAclsResponse:
    """Every creation gets the error (Kafka's C{CreateAclsRequest.getErrorResponse})."""
    return _every(request, AclCreationResult(error_code=int(code), error_message=None))


SPEC = ApiSpec(
    api_key=30,
    versions=VersionRange(0, 3),
    request=CreateAclsRequest,
    response=CreateAclsResponse,
    handle=handle,
    error_response=error_response,
)
