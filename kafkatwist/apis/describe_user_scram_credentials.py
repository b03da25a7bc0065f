"""DescribeUserScramCredentials (api key 50): v0 (KIP-554).

Behavior (Kafka's C{KafkaApis.handleDescribeUserScramCredentialsRequest}
and C{ScramImage.describe}, answered from the metadata image): DESCRIBE on
the CLUSTER is required (else CLUSTER_AUTHORIZATION_FAILED at the top and
for every user asked about); no users (null or empty) describes every user
with credentials; each user is answered once, with the mechanism and
iterations of each of its credentials, RESOURCE_NOT_FOUND when it has
none, DUPLICATE_RESOURCE when the request names it twice. Salts and keys
are never returned.
"""

from __future__ import annotations

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_user_scram_credentials import (
    CredentialInfo,
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResult,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange

#: Kafka's C{ScramImage} messages.
DUPLICATE_USER = "Cannot describe SCRAM credentials for the same user twice in a single request: "
NO_SUCH_USER = "Attempt to describe a user credential that does not exist: "


async def handle(
    ctx: RequestContext, request: DescribeUserScramCredentialsRequest
) -> DescribeUserScramCredentialsResponse:
    require_cluster(ctx, AclOperation.DESCRIBE)
    credentials = ctx.broker.metadata.image.scram_credentials
    duplicated: dict[str, bool] = {}
    if not request.users:
        duplicated = dict.fromkeys((user for user, _ in credentials), False)
    else:
        for user in request.users:
            duplicated[user.name] = user.name in duplicated
    results = []
    for name, twice in duplicated.items():
        if twice:
            results.append(
                DescribeUserScramCredentialsResult(
                    user=name,
                    error_code=int(ErrorCode.DUPLICATE_RESOURCE),
                    error_message=DUPLICATE_USER + name,
                    credential_infos=(),
                )
            )
            continue
        infos = tuple(
            CredentialInfo(mechanism=mechanism, iterations=record.iterations)
            for (user, mechanism), record in sorted(credentials.items(), key=lambda kv: kv[0][1])
            if user == name
        )
        results.append(
            DescribeUserScramCredentialsResult(
                user=name,
                error_code=0 if infos else int(ErrorCode.RESOURCE_NOT_FOUND),
                error_message=None if infos else NO_SUCH_USER + name,
                credential_infos=infos,
            )
        )
    return DescribeUserScramCredentialsResponse(
        error_code=0, error_message=None, results=tuple(results)
    )


def error_response(
    request: DescribeUserScramCredentialsRequest, version: int, code: ErrorCode
) -> DescribeUserScramCredentialsResponse:
    """
    The error at the top and once per user asked about, with no user name
    (Kafka's C{DescribeUserScramCredentialsRequest.getErrorResponse}).
    """
    message = AUTHORIZATION_MESSAGES.get(code)
    return DescribeUserScramCredentialsResponse(
        error_code=int(code),
        error_message=message,
        results=tuple(
            DescribeUserScramCredentialsResult(
                user="", error_code=int(code), error_message=message, credential_infos=()
            )
            for _ in request.users or ()
        ),
    )


SPEC = ApiSpec(
    api_key=50,
    versions=VersionRange(0, 0),
    request=DescribeUserScramCredentialsRequest,
    response=DescribeUserScramCredentialsResponse,
    handle=handle,
    error_response=error_response,
)
