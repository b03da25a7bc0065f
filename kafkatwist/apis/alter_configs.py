"""AlterConfigs (api key 33): v0-v2.

Behavior:
* the legacy, non-incremental API: the configs given become the resource's
  whole set of dynamic configs; keys not given are deleted (Kafka's
  ``legacyAlterConfigResource``);
* preprocessing as Kafka's broker: a resource listed twice gets
  INVALID_REQUEST "Each resource must appear at most once." (every copy);
  a key listed twice "Error due to duplicate config keys"; a null value
  "Null value not supported for : <keys>"; BROKER_LOGGER and unknown types
  "Unknown resource type <n>" (all INVALID_REQUEST);
* TOPIC: an empty name is INVALID_REQUEST, an illegal one
  INVALID_TOPIC_EXCEPTION, an unknown or malformed config INVALID_CONFIG
  (``Unknown topic config name: x``, ``Invalid value v for configuration
  x: ...``, min/max compaction lag conflict, tiered storage), and only then
  a missing topic UNKNOWN_TOPIC_OR_PARTITION "The topic 't' does not exist.";
* BROKER: the name must be empty (cluster default) or this node id; only
  keys Kafka updates dynamically are accepted (others: INVALID_REQUEST
  "Cannot update these configs dynamically: Set(...)"); values are checked
  against Kafka's types and ranges; listener settings are refused because
  this broker cannot re-bind at run time;
* GROUP (resource type 32, KIP-848): an empty name is INVALID_REQUEST
  "Default group resources are not allowed."; the group-level configs
  (``consumer.session.timeout.ms``...) are checked as Kafka's
  ``GroupConfig.validate`` (INVALID_CONFIG: unknown name, bad value, outside
  the broker's ``group.*.min/max.*`` bounds, session not above heartbeat);
  the group need not exist (L{kafkatwist.config.group_overrides});
* ALTER_CONFIGS is needed on the topic (else TOPIC_AUTHORIZATION_FAILED), on
  the group (GROUP_AUTHORIZATION_FAILED) or, for BROKER and CLIENT_METRICS
  resources, on the cluster (CLUSTER_AUTHORIZATION_FAILED), each with
  Kafka's default message; as in Kafka (C{ControllerApis.authorizeAlterResource})
  it is checked after the broker's preprocessing, so a BROKER resource's
  name and values are validated first;
* ``validate_only`` runs every check and writes nothing;
* accepted changes are written as ConfigRecords to ``__cluster_metadata``
  and applied at once to the topic's open partition logs (for a BROKER
  resource, to every topic whose effective value changes).

Version notes:
* v1: throttle time only; v2+: flexible.
"""

from __future__ import annotations

from kafkatwist.apis._configs import (
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_GROUP,
    RESOURCE_TOPIC,
    Outcome,
    alter_broker,
    alter_each,
    alter_group,
    alter_topic,
    config_denied,
    preprocess,
    resource_errors,
    resource_results,
)
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_configs import (
    AlterConfigsRequest,
    AlterConfigsResource,
    AlterConfigsResourceResponse,
    AlterConfigsResponse,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: AlterConfigsRequest) -> AlterConfigsResponse:
    outcomes = await alter_each(
        request.resources, lambda resource: _alter(ctx, resource, request.validate_only)
    )
    return AlterConfigsResponse(responses=resource_results(AlterConfigsResourceResponse, outcomes))


async def _alter(
    ctx: RequestContext, resource: AlterConfigsResource, validate_only: bool
) -> Outcome:
    refused = preprocess(resource.configs)
    if refused is not None:
        return refused
    rtype = resource.resource_type
    name = resource.resource_name
    if rtype not in (RESOURCE_BROKER, RESOURCE_BROKER_LOGGER):
        denied = config_denied(ctx, AclOperation.ALTER_CONFIGS, rtype, name)
        if denied is not None:
            return denied
    new = {c.name: c.value for c in resource.configs if c.value is not None}
    if rtype == RESOURCE_TOPIC:
        return await alter_topic(ctx, name, new, validate_only)
    if rtype == RESOURCE_BROKER:
        return await alter_broker(ctx, name, new, list(new), validate_only)
    if rtype == RESOURCE_GROUP:
        return await alter_group(ctx, name, new, validate_only)
    return int(ErrorCode.INVALID_REQUEST), f"Unknown resource type {rtype}"


def error_response(
    request: AlterConfigsRequest, version: int, code: ErrorCode
) -> AlterConfigsResponse:
    """Every resource answers C{code}."""
    return AlterConfigsResponse(
        responses=resource_errors(AlterConfigsResourceResponse, request.resources, code)
    )


SPEC = ApiSpec(
    api_key=33,
    versions=VersionRange(0, 2),
    request=AlterConfigsRequest,
    response=AlterConfigsResponse,
    handle=handle,
    error_response=error_response,
)
