"""ListConfigResources (api key 74): v0-v1 (v0 was ListClientMetricsResources, KIP-714).

Behavior (Kafka's C{KafkaApis.handleListConfigResources}, KIP-1142):
* authorization: DESCRIBE_CONFIGS on the cluster; without it the top-level
  CLUSTER_AUTHORIZATION_FAILED;
* the resource types a version lists (C{ListConfigResourcesRequest.supportedResourceTypes}):
  v0 CLIENT_METRICS (16) only; v1 TOPIC (2), BROKER (4), BROKER_LOGGER (8),
  CLIENT_METRICS (16) and GROUP (32); an empty list means all of them, a
  type outside them is UNSUPPORTED_VERSION for the whole request;
* listed in Kafka's order: GROUP (the groups with dynamic configs, existing
  or not), CLIENT_METRICS (the client metrics subscriptions: resources with
  configs), BROKER_LOGGER and BROKER (each live broker's id), TOPIC (every
  topic, internal ones too).

Version notes:
* v1+: the requested resource types, and each resource's type.
"""

from __future__ import annotations

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._configs import (
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_GROUP,
    RESOURCE_TOPIC,
)
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.list_config_resources import (
    ConfigResource,
    ListConfigResourcesRequest,
    ListConfigResourcesResponse,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire.versions import VersionRange

V0_TYPES = (RESOURCE_CLIENT_METRICS,)
V1_TYPES = (
    RESOURCE_TOPIC,
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_GROUP,
)


def configured(image: MetadataImage, resource_type: int) -> list[str]:
    """The names of the resources of one type that have configs in the metadata log."""
    return sorted(
        name for (kind, name), configs in image.configs.items() if kind == resource_type and configs
    )


async def handle(
    ctx: RequestContext, request: ListConfigResourcesRequest
) -> ListConfigResourcesResponse:
    require_cluster(ctx, AclOperation.DESCRIBE_CONFIGS)
    supported = V0_TYPES if ctx.api_version == 0 else V1_TYPES
    wanted = set(request.resource_types or supported)
    if not wanted <= set(supported):
        return ListConfigResourcesResponse(error_code=int(ErrorCode.UNSUPPORTED_VERSION))
    broker = ctx.broker
    image = broker.metadata.image
    found: list[tuple[str, int]] = []
    if RESOURCE_GROUP in wanted:
        found += [(name, RESOURCE_GROUP) for name in configured(image, RESOURCE_GROUP)]
    if RESOURCE_CLIENT_METRICS in wanted:
        found += [
            (name, RESOURCE_CLIENT_METRICS) for name in configured(image, RESOURCE_CLIENT_METRICS)
        ]
    for kind in (RESOURCE_BROKER_LOGGER, RESOURCE_BROKER):
        if kind in wanted:
            found += [(str(b.node_id), kind) for b in broker.cluster.live_brokers()]
    if RESOURCE_TOPIC in wanted:
        found += [(name, RESOURCE_TOPIC) for name in image.topics]
    if ctx.api_version == 0:
        resources = tuple(ConfigResource(resource_name=name) for name, _ in found)
    else:
        resources = tuple(
            ConfigResource(resource_name=name, resource_type=kind) for name, kind in found
        )
    return ListConfigResourcesResponse(error_code=0, config_resources=resources)


SPEC = ApiSpec(
    api_key=74,
    versions=VersionRange(0, 1),
    request=ListConfigResourcesRequest,
    response=ListConfigResourcesResponse,
    handle=handle,
)

__all__ = ["SPEC", "configured"]
