"""AlterClientQuotas (api key 49): v0-v1.

Behavior (Kafka's C{ControllerApis.handleAlterClientQuotas} and
C{ClientQuotaControlManager}, L{kafkatwist.quotas.control}): each entity is
checked and answered on its own; a valid one writes a ClientQuotaRecord per
changed key to the metadata log (so quotas survive a restart and apply to
the next request); C{remove} deletes a key; C{validate_only} checks and
writes nothing. As in Kafka's request parsing, an entity listing a type
twice keeps the last name. Each answer echoes the entity (its types
sorted), in the order the entities were first listed.

Authorization: ALTER_CONFIGS on the cluster (Kafka's
C{ControllerApis.handleAlterClientQuotas}); without it every entry answers
CLUSTER_AUTHORIZATION_FAILED "Cluster authorization failed.".

Version notes:
* v1 is v0 made flexible.
"""

from __future__ import annotations

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_client_quotas import (
    AlterClientQuotasRequest,
    AlterClientQuotasResponse,
    EntityData,
    EntryDataResponse,
)
from kafkatwist.quotas.control import QuotaAlteration
from kafkatwist.quotas.entities import Entity, entity_of
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange


def _entity_data(entity: Entity) -> tuple[EntityData, ...]:
    return tuple(EntityData(entity_type=t, entity_name=n) for t, n in entity)


async def handle(
    ctx: RequestContext, request: AlterClientQuotasRequest
) -> AlterClientQuotasResponse:
    require_cluster(ctx, AclOperation.ALTER_CONFIGS)
    alterations = [
        QuotaAlteration(
            entity_of((e.entity_type, e.entity_name) for e in entry.entity),
            [(op.key, None if op.remove else op.value) for op in entry.ops],
        )
        for entry in request.entries
    ]
    results = await ctx.broker.controller.alter_client_quotas(alterations, request.validate_only)
    return AlterClientQuotasResponse(
        entries=tuple(
            EntryDataResponse(
                error_code=0 if error is None else int(error.code),
                error_message=None if error is None else error.message,
                entity=_entity_data(entity),
            )
            for entity, error in results.items()
        )
    )


def error_response(
    request: AlterClientQuotasRequest, version: int, code: ErrorCode
) -> AlterClientQuotasResponse:
    """
    Every entry gets the error (Kafka's C{AlterClientQuotasRequest.getErrorResponse}),
    with Kafka's default message for an authorization error.
    """
    return AlterClientQuotasResponse(
        entries=tuple(
            EntryDataResponse(
                error_code=int(code),
                error_message=AUTHORIZATION_MESSAGES.get(code),
                entity=tuple(
                    EntityData(entity_type=e.entity_type, entity_name=e.entity_name)
                    for e in entry.entity
                ),
            )
            for entry in request.entries
        )
    )


SPEC = ApiSpec(
    api_key=49,
    versions=VersionRange(0, 1),
    request=AlterClientQuotasRequest,
    response=AlterClientQuotasResponse,
    handle=handle,
    error_response=error_response,
)
