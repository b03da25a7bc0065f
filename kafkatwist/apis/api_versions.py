"""ApiVersions (api key 18): v0-v4.

Behavior:
* the list of keys and version ranges is computed from the registry
  (L{kafkatwist.apis.REGISTRY}), so it always lists exactly what is handled;
* an unsupported request version is answered by the dispatcher with a v0 body
  carrying UNSUPPORTED_VERSION and the same list (KIP-511);
* v3+: the client's software name and version are accepted and ignored.

Version notes:
* v1+: throttle_time_ms; v3+: flexible, with finalized features as tagged fields
  (this broker sends none, as they are optional).
"""

from __future__ import annotations

from collections.abc import Iterable

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.api_versions import ApiVersion, ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.wire.versions import VersionRange


def build_response(
    specs: Iterable[ApiSpec], code: ErrorCode = ErrorCode.NONE
) -> ApiVersionsResponse:
    """The ApiVersions answer for the given registry."""
    keys = tuple(
        ApiVersion(api_key=s.api_key, min_version=s.versions.lowest, max_version=s.versions.highest)
        for s in sorted(specs, key=lambda s: s.api_key)
    )
    return ApiVersionsResponse(error_code=int(code), api_keys=keys)


async def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    return build_response(ctx.apis.values())


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
)
