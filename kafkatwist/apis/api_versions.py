"""ApiVersions (api key 18): v0-v4.

Behavior:
* the list of keys and version ranges is computed from the registry
  (L{kafkatwist.apis.REGISTRY}), so it always lists exactly what is handled
  (each spec's C{advertised} range: Produce lists v0-2, which it refuses, as
  Kafka 4.x does for librdkafka, KAFKA-18659);
* an unsupported request version is answered by the dispatcher with a v0 body
  carrying UNSUPPORTED_VERSION and the same list (KIP-511);
* v3+: the client's software name and version are accepted and ignored;
* v3+: the ``transaction.version`` feature (KIP-890): supported levels 0-2,
  finalized at the level the transaction coordinator serves
  (L{kafkatwist.broker.TRANSACTION_VERSION}, 2 as a new Kafka 4.x cluster),
  which makes Kafka 4.x clients use transaction version 2. As Kafka 4.x,
  a v3 answer leaves out supported features whose lowest level is 0 (older
  clients refuse them); the finalized level is sent at v3 too.

Version notes:
* v1+: throttle_time_ms; v3+: flexible, with the features as tagged fields.
* v3+: the client software name and version are not checked against
  Kafka's pattern (C{ApiVersionsRequest.isValid}, INVALID_REQUEST otherwise):
  Kafka keeps them for client metrics only, which this broker has not.
* ``zk_migration_ready`` (v3+, tagged) stays false: a KRaft controller's
  answer during a ZooKeeper migration, never a broker's.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    FinalizedFeatureKey,
    SupportedFeatureKey,
)
from kafkatwist.wire.versions import VersionRange


def build_response(
    specs: Iterable[ApiSpec], code: ErrorCode = ErrorCode.NONE
) -> ApiVersionsResponse:
    """The ApiVersions answer for the given registry."""
    keys = tuple(
        ApiVersion(
            api_key=s.api_key, min_version=s.advertised.lowest, max_version=s.advertised.highest
        )
        for s in sorted(specs, key=lambda s: s.api_key)
    )
    return ApiVersionsResponse(error_code=int(code), api_keys=keys)


#: The feature whose levels this broker supports and finalizes.
TRANSACTION_VERSION_FEATURE = "transaction.version"
#: The transaction versions this broker serves (Kafka's C{TransactionVersion}: TV_0 to TV_2).
TRANSACTION_VERSIONS = (0, 2)


def with_features(response: ApiVersionsResponse, version: int, level: int) -> ApiVersionsResponse:
    """C{response} with the ``transaction.version`` feature finalized at C{level}."""
    low, high = TRANSACTION_VERSIONS
    supported: tuple[SupportedFeatureKey, ...] = ()
    if version >= 4 or low > 0:
        supported = (
            SupportedFeatureKey(
                name=TRANSACTION_VERSION_FEATURE, min_version=low, max_version=high
            ),
        )
    finalized = (
        FinalizedFeatureKey(
            name=TRANSACTION_VERSION_FEATURE, max_version_level=level, min_version_level=level
        ),
    )
    return attrs.evolve(
        response,
        supported_features=supported,
        finalized_features_epoch=0,
        finalized_features=finalized,
    )


async def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    response = build_response(ctx.apis.values())
    if ctx.api_version < 3:
        return response
    level = ctx.broker.transactions.coordinator.transaction_version
    return with_features(response, ctx.api_version, level)


def error_response(
    request: ApiVersionsRequest, version: int, code: ErrorCode
) -> ApiVersionsResponse:
    """
    Kafka's C{ApiVersionsRequest.getErrorResponse}: the error, and no keys.

    With UNSUPPORTED_VERSION (KIP-511) the answer lists ApiVersions' own
    versions; the dispatcher answers an unsupported ApiVersions version
    itself, listing every key.
    """
    specs = (SPEC,) if code == ErrorCode.UNSUPPORTED_VERSION else ()
    return build_response(specs, code)


SPEC = ApiSpec(
    api_key=18,
    versions=VersionRange(0, 4),
    request=ApiVersionsRequest,
    response=ApiVersionsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "ApiVersionsRequest.client_software_name": "kept by Kafka for client metrics only",
        "ApiVersionsRequest.client_software_version": "kept by Kafka for client metrics only",
        "ApiVersionsResponse.zk_migration_ready": "a KRaft controller's field during a "
        "ZooKeeper migration; a broker leaves it false",
    },
)
