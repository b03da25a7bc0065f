"""AlterUserScramCredentials (api key 51): v0 (KIP-554).

Behavior (Kafka's C{ControllerApis.handleAlterUserScramCredentials} and
C{ScramControlManager.alterCredentials}): ALTER on the CLUSTER is required
(else every user named gets CLUSTER_AUTHORIZATION_FAILED). Each user is
answered once: a user named twice in the request (deletions and
upsertions together) gets DUPLICATE_RESOURCE; an empty name
UNACCEPTABLE_CREDENTIAL; an unknown mechanism UNSUPPORTED_SASL_MECHANISM;
fewer iterations than the mechanism's minimum (4096) or more than 16384
UNACCEPTABLE_CREDENTIAL; deleting a credential that does not exist
RESOURCE_NOT_FOUND. The valid changes are written together to the metadata
log as UserScramCredentialRecord (the stored and server keys computed from
the salted password: the password itself is never seen) and
RemoveUserScramCredentialRecord, so they survive a restart and apply to the
next SCRAM login.
"""

from __future__ import annotations

from collections.abc import Mapping

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages import metadata_records as mr
from kafkatwist.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResult,
    ScramCredentialDeletion,
    ScramCredentialUpsertion,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.security.scram import MAX_ITERATIONS, MECHANISMS_BY_TYPE
from kafkatwist.wire.versions import VersionRange

_Error = tuple[ErrorCode, str]
DUPLICATE = (
    ErrorCode.DUPLICATE_RESOURCE,
    "A user credential cannot be altered twice in the same request",
)


def _check_name_and_mechanism(name: str, mechanism: int) -> _Error | None:
    """Kafka's C{validateScramUsernameAndMechanism}."""
    if not name:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    if mechanism not in MECHANISMS_BY_TYPE:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    return None


def _check_deletion(
    deletion: ScramCredentialDeletion, existing: Mapping[tuple[str, int], object]
) -> _Error | None:
    error = _check_name_and_mechanism(deletion.name, deletion.mechanism)
    if error is None and (deletion.name, deletion.mechanism) not in existing:
        error = (
            ErrorCode.RESOURCE_NOT_FOUND,
            "Attempt to delete a user credential that does not exist",
        )
    return error


def _check_upsertion(upsertion: ScramCredentialUpsertion) -> _Error | None:
    error = _check_name_and_mechanism(upsertion.name, upsertion.mechanism)
    if error is not None:
        return error
    if upsertion.iterations < MECHANISMS_BY_TYPE[upsertion.mechanism].min_iterations:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"
    if upsertion.iterations > MAX_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"
    return None


def _record(upsertion: ScramCredentialUpsertion) -> mr.UserScramCredentialRecord:
    """Kafka's C{ScramControlManager.finishUpsertion}: keys from the salted password."""
    mechanism = MECHANISMS_BY_TYPE[upsertion.mechanism]
    salted = bytes(upsertion.salted_password)
    return mr.UserScramCredentialRecord(
        name=upsertion.name,
        mechanism=upsertion.mechanism,
        salt=bytes(upsertion.salt),
        stored_key=mechanism.stored_key(mechanism.client_key(salted)),
        server_key=mechanism.server_key(salted),
        iterations=upsertion.iterations,
    )


def plan(
    request: AlterUserScramCredentialsRequest, existing: Mapping[tuple[str, int], object]
) -> tuple[list[object], list[AlterUserScramCredentialsResult]]:
    """The records to write and each user's result (Kafka's C{alterCredentials})."""
    deletions: dict[str, ScramCredentialDeletion] = {}
    upsertions: dict[str, ScramCredentialUpsertion] = {}
    errors: dict[str, _Error] = {}
    for deletion in request.deletions:
        if deletion.name in errors:
            continue
        if deletions.pop(deletion.name, None) is not None:
            errors[deletion.name] = DUPLICATE
        elif (error := _check_deletion(deletion, existing)) is not None:
            errors[deletion.name] = error
        else:
            deletions[deletion.name] = deletion
    for upsertion in request.upsertions:
        if upsertion.name in errors:
            continue
        earlier = deletions.pop(upsertion.name, None), upsertions.pop(upsertion.name, None)
        if earlier != (None, None):
            errors[upsertion.name] = DUPLICATE
        elif (error := _check_upsertion(upsertion)) is not None:
            errors[upsertion.name] = error
        else:
            upsertions[upsertion.name] = upsertion
    records: list[object] = [
        mr.RemoveUserScramCredentialRecord(name=d.name, mechanism=d.mechanism)
        for d in deletions.values()
    ]
    records += [_record(u) for u in upsertions.values()]
    results = [_result(name, None) for name in (*deletions, *upsertions)]
    results += [_result(name, error) for name, error in errors.items()]
    return records, results


def _result(user: str, error: _Error | None) -> AlterUserScramCredentialsResult:
    return AlterUserScramCredentialsResult(
        user=user,
        error_code=0 if error is None else int(error[0]),
        error_message=None if error is None else error[1],
    )


async def handle(
    ctx: RequestContext, request: AlterUserScramCredentialsRequest
) -> AlterUserScramCredentialsResponse:
    require_cluster(ctx, AclOperation.ALTER)
    metadata = ctx.broker.metadata
    records, results = plan(request, metadata.image.scram_credentials)
    if records:
        await metadata.append(records)
    return AlterUserScramCredentialsResponse(results=tuple(results))


def error_response(
    request: AlterUserScramCredentialsRequest, version: int, code: ErrorCode
) -> AlterUserScramCredentialsResponse:
    """
    Every user named, sorted, gets the error
    (Kafka's C{AlterUserScramCredentialsRequest.getErrorResponse}).
    """
    users = {d.name for d in request.deletions} | {u.name for u in request.upsertions}
    message = AUTHORIZATION_MESSAGES.get(code)
    return AlterUserScramCredentialsResponse(
        results=tuple(
            AlterUserScramCredentialsResult(user=user, error_code=int(code), error_message=message)
            for user in sorted(users)
        )
    )


SPEC = ApiSpec(
    api_key=51,
    versions=VersionRange(0, 0),
    request=AlterUserScramCredentialsRequest,
    response=AlterUserScramCredentialsResponse,
    handle=handle,
    error_response=error_response,
)
