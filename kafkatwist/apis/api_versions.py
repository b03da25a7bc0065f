"""ApiVersions (api key 18): v0-v4.

Behavior:
* the list of keys and version ranges is computed from the registry
  (L{kafkatwist.apis.REGISTRY}), so it always lists exactly what is handled
  (each spec's C{advertised} range: Produce lists v0-2, which it refuses, as
  Kafka 4.x does for librdkafka, KAFKA-18659);
* an unsupported request version is answered by the dispatcher with a v0 body
  carrying UNSUPPORTED_VERSION and the same list (KIP-511);
* v3+: the client's software name and version are kept for the client
  telemetry subscriptions' ``match`` (L{kafkatwist.telemetry});
* v3+: the features (L{kafkatwist.features}): the supported level ranges
  (``metadata.version`` 7-30, ``kraft.version`` 0-1, ``transaction.version``
  0-2, ``group.version`` 0-1; features supported at level 0 only are left
  out, as Kafka's C{BrokerFeatures}), the finalized levels above 0 (a new
  cluster's: 30, 1, 2 and 1, which make Kafka 4.x clients use transaction
  version 2 and the KIP-848 protocol) and their epoch, the metadata log's
  newest offset (Kafka's C{FinalizedFeatures} epoch is its image's offset).
  As Kafka 4.x, a v3 answer leaves out supported features whose lowest
  level is 0 (older clients refuse them); the finalized levels are sent at v3 too.

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
from kafkatwist.features import FeatureRegistry
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


def with_features(
    response: ApiVersionsResponse, version: int, features: FeatureRegistry
) -> ApiVersionsResponse:
    """C{response} with the supported and finalized features (ApiVersions v3+)."""
    supported = tuple(
        SupportedFeatureKey(name=name, min_version=low, max_version=high)
        for name, (low, high) in features.supported().items()
        if version >= 4 or low > 0
    )
    finalized = tuple(
        FinalizedFeatureKey(name=name, max_version_level=level, min_version_level=level)
        for name, level in features.finalized().items()
    )
    return attrs.evolve(
        response,
        supported_features=supported,
        finalized_features_epoch=features.epoch,
        finalized_features=finalized,
    )


async def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    response = build_response(ctx.apis.values())
    if ctx.api_version < 3:
        return response
    # Client telemetry subscriptions may match on the client software (KIP-714).
    ctx.broker.telemetry.note_software(
        ctx.peer, request.client_software_name, request.client_software_version
    )
    return with_features(response, ctx.api_version, ctx.broker.features)


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
