"""DescribeConfigs (api key 32): v0-v4.

Behavior:
* TOPIC resources list every topic config with its value: the topic's
  override (source TOPIC_CONFIG), else the broker synonym's value converted
  to the topic config's unit (``log.retention.hours`` → ``retention.ms``),
  else Kafka's default; an invalid name is INVALID_TOPIC_EXCEPTION, a
  missing topic UNKNOWN_TOPIC_OR_PARTITION (no message, as Kafka);
* a BROKER resource named by this node id lists Kafka's broker configs
  (L{kafkatwist.config.broker_configs}) plus every key set in ``server.properties``
  or dynamically; ``read_only`` is true for what Kafka cannot change at run
  time; keys Kafka does not know are sensitive and their value null, as
  Kafka reports them; the empty name (cluster default) lists only the
  dynamic cluster-wide defaults; another name is INVALID_REQUEST;
* BROKER_LOGGER lists kafkatwist's single logger, ``root``
  (DYNAMIC_BROKER_LOGGER_CONFIG), with Kafka's checks of the name;
* sources and synonyms are resolved as Kafka's ``ConfigHelper`` does
  (L{kafkatwist.config.layers}): per-broker dynamic, cluster-default
  dynamic, static, default, and a synonym list that starts at the primary
  synonym's name;
* ``configuration_keys`` null or empty means every key; unknown keys are
  simply absent;
* GROUP (resource type 32, KIP-848) lists the group-level configs
  (``consumer.session.timeout.ms``, ``share.*``, ``streams.*``) as Kafka's
  ``ConfigHelper.createGroupConfigEntry``: the group's override (source
  GROUP_CONFIG, 8) else the broker's ``group.<key>`` value, with that broker
  key's synonyms (STATIC_BROKER_CONFIG, DEFAULT_CONFIG); the group need not
  exist; an empty name is INVALID_REQUEST "Group name must not be empty";
* CLIENT_METRICS lists a subscription's configs (source CLIENT_METRICS_CONFIG,
  7), nothing for an unknown one; the empty name is INVALID_REQUEST;
  any other resource type fails the whole request with INVALID_REQUEST, as
  Kafka's ``ConfigHelper`` does.

Authorization (Kafka's C{ConfigHelper.handleDescribeConfigsRequest}):
DESCRIBE_CONFIGS on the topic, on the group, or for BROKER, BROKER_LOGGER
and CLIENT_METRICS resources on the cluster; a refused resource answers
TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED or
CLUSTER_AUTHORIZATION_FAILED with Kafka's default message and no configs,
after the allowed ones (Kafka lists them in that order).

Version notes:
* v0: ``is_default`` (true when the source is DEFAULT_CONFIG), no source or
  synonyms; v1+: ``config_source``, synonyms when ``include_synonyms``;
  v3+: ``config_type``, documentation when ``include_documentation``;
  v4+: flexible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafkatwist.apis._configs import (
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_GROUP,
    RESOURCE_TOPIC,
    RESOURCE_TYPE_NAMES,
    broker_loggers,
    config_denied,
)
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._topics import validate_topic_name
from kafkatwist.config import group_overrides
from kafkatwist.config.layers import DEFAULT_CONFIG, DYNAMIC_BROKER_LOGGER_CONFIG, Entry
from kafkatwist.config.values import TYPE_UNKNOWN
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.describe_configs import (
    DescribeConfigsRequest,
    DescribeConfigsResource,
    DescribeConfigsResourceResult,
    DescribeConfigsResponse,
    DescribeConfigsResult,
    DescribeConfigsSynonym,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange

#: Kafka's C{ConfigSource.CLIENT_METRICS_CONFIG}.
CLIENT_METRICS_CONFIG = 7


def _result(entry: Entry, version: int) -> DescribeConfigsResourceResult:
    """Shape one entry for a response version."""
    kwargs: dict[str, Any] = {
        "name": entry.name,
        "value": entry.value,
        "read_only": entry.read_only,
        "is_sensitive": entry.sensitive,
    }
    if version == 0:
        kwargs["is_default"] = entry.source == DEFAULT_CONFIG
    else:
        kwargs["config_source"] = entry.source
        kwargs["synonyms"] = tuple(
            DescribeConfigsSynonym(name=s.name, value=s.value, source=s.source)
            for s in entry.synonyms
        )
    if version >= 3:
        kwargs["config_type"] = entry.config_type
        kwargs["documentation"] = entry.documentation
    return DescribeConfigsResourceResult(**kwargs)


def _error(
    resource: DescribeConfigsResource, code: ErrorCode, message: str | None
) -> DescribeConfigsResult:
    return DescribeConfigsResult(
        error_code=int(code),
        error_message=message,
        resource_type=resource.resource_type,
        resource_name=resource.resource_name,
        configs=(),
    )


def _entries(
    ctx: RequestContext, resource: DescribeConfigsResource, request: DescribeConfigsRequest
) -> list[Entry]:
    """The entries of one resource; raises KafkaError for a refused resource."""
    broker = ctx.broker
    names = resource.configuration_keys
    synonyms = request.include_synonyms and ctx.api_version >= 1
    docs = request.include_documentation and ctx.api_version >= 3
    name = resource.resource_name
    if resource.resource_type == RESOURCE_TOPIC:
        reason = validate_topic_name(name)
        if reason is not None:
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
        topic = broker.metadata.image.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
        return broker.configs.layers().describe_topic(topic.configs, names, synonyms, docs)
    if resource.resource_type == RESOURCE_BROKER:
        if not name:
            return broker.configs.layers().describe_broker(False, names, synonyms, docs)
        if _node_id(name) != broker.node_id:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Unexpected broker id, expected {broker.node_id} or empty string, "
                f"but received {name}",
            )
        return broker.configs.layers().describe_broker(True, names, synonyms, docs)
    if resource.resource_type == RESOURCE_BROKER_LOGGER:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
        if _node_id(name) != broker.node_id:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Unexpected broker id, expected {broker.node_id} but received {name}",
            )
        return [
            Entry(
                name=logger,
                value=level,
                source=DYNAMIC_BROKER_LOGGER_CONFIG,
                read_only=False,
                sensitive=False,
                synonyms=(),
                config_type=TYPE_UNKNOWN,
                documentation=None,
            )
            for logger, level in sorted(broker_loggers(ctx).items())
            if not names or logger in names
        ]
    if resource.resource_type == RESOURCE_GROUP:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Group name must not be empty")
        overrides = broker.metadata.image.configs.get((RESOURCE_GROUP, name), {})
        layers = broker.configs.layers()
        return group_overrides.describe(overrides, layers, names, synonyms, docs)
    if resource.resource_type == RESOURCE_CLIENT_METRICS:
        return _client_metrics(ctx, name, names)
    type_name = RESOURCE_TYPE_NAMES[resource.resource_type]
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {type_name}")


def _client_metrics(ctx: RequestContext, name: str, names: Sequence[str] | None) -> list[Entry]:
    """A client metrics subscription's configs, as Kafka's C{ConfigHelper} lists them."""
    if not name:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, "Client metrics subscription name must not be empty"
        )
    configs = ctx.broker.metadata.image.configs.get((RESOURCE_CLIENT_METRICS, name), {})
    return [
        Entry(
            name=key,
            value=value,
            source=CLIENT_METRICS_CONFIG,
            read_only=False,
            sensitive=False,
            synonyms=(),
            config_type=TYPE_UNKNOWN,
            documentation=None,
        )
        for key, value in sorted(configs.items())
        if not names or key in names
    ]


def _node_id(name: str) -> int:
    try:
        return int(name)
    except ValueError:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, f"Broker id must be an integer, but it is: {name}"
        ) from None


async def handle(ctx: RequestContext, request: DescribeConfigsRequest) -> DescribeConfigsResponse:
    for resource in request.resources:
        if resource.resource_type not in RESOURCE_TYPE_NAMES:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Unexpected resource type UNKNOWN for resource {resource.resource_name}",
            )
    results = []
    refused = []
    for resource in request.resources:
        denied = config_denied(
            ctx, AclOperation.DESCRIBE_CONFIGS, resource.resource_type, resource.resource_name
        )
        if denied is not None:
            refused.append(_error(resource, ErrorCode(denied[0]), denied[1]))
            continue
        try:
            entries = _entries(ctx, resource, request)
        except KafkaError as e:
            results.append(_error(resource, e.code, e.message))
            continue
        results.append(
            DescribeConfigsResult(
                error_code=0,
                error_message=None,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
                configs=tuple(_result(entry, ctx.api_version) for entry in entries),
            )
        )
    return DescribeConfigsResponse(results=tuple(results + refused))


def error_response(
    request: DescribeConfigsRequest, version: int, code: ErrorCode
) -> DescribeConfigsResponse:
    return DescribeConfigsResponse(results=tuple(_error(r, code, None) for r in request.resources))


SPEC = ApiSpec(
    api_key=32,
    versions=VersionRange(0, 4),
    request=DescribeConfigsRequest,
    response=DescribeConfigsResponse,
    handle=handle,
    error_response=error_response,
)
