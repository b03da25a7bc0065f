"""DescribeClientQuotas (api key 48): v0-v1.

Behavior (Kafka's C{ClientQuotasImage.describe}, which the broker answers
from its metadata image): every entity with quotas that passes the filter
(L{kafkatwist.quotas.entities.QuotaFilter}: EXACT, DEFAULT and SPECIFIED
components, C{strict}), with all its quota values; entities in the order
they were first given a quota, each entity's types sorted (C{client-id}
before C{user}), values by key. A bad filter answers the error
(INVALID_REQUEST, UNSUPPORTED_VERSION for an unknown entity type) with
Kafka's message and null entries.

Authorization: DESCRIBE_CONFIGS on the cluster (Kafka's
C{KafkaApis.handleDescribeClientQuotasRequest}); without it the top-level
CLUSTER_AUTHORIZATION_FAILED and null entries.

Version notes:
* v1 is v0 made flexible.
"""

from __future__ import annotations

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.describe_client_quotas import (
    DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
    EntityData,
    EntryData,
    ValueData,
)
from kafkatwist.quotas.entities import QuotaFilter
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange


async def handle(
    ctx: RequestContext, request: DescribeClientQuotasRequest
) -> DescribeClientQuotasResponse:
    require_cluster(ctx, AclOperation.DESCRIBE_CONFIGS)
    try:
        quota_filter = QuotaFilter.parse(
            ((c.entity_type, c.match_type, c.match) for c in request.components),
            request.strict,
        )
    except KafkaError as e:
        return DescribeClientQuotasResponse(
            error_code=int(e.code), error_message=e.message, entries=None
        )
    entries = tuple(
        EntryData(
            entity=tuple(EntityData(entity_type=t, entity_name=n) for t, n in entity),
            values=tuple(ValueData(key=k, value=v) for k, v in sorted(values.items())),
        )
        for entity, values in ctx.broker.metadata.image.client_quotas.items()
        if quota_filter.matches(entity)
    )
    return DescribeClientQuotasResponse(error_code=0, error_message=None, entries=entries)


def error_response(
    request: DescribeClientQuotasRequest, version: int, code: ErrorCode
) -> DescribeClientQuotasResponse:
    return DescribeClientQuotasResponse(error_code=int(code), error_message=None, entries=None)


SPEC = ApiSpec(
    api_key=48,
    versions=VersionRange(0, 1),
    request=DescribeClientQuotasRequest,
    response=DescribeClientQuotasResponse,
    handle=handle,
    error_response=error_response,
)
