"""IncrementalAlterConfigs (api key 44): v0-v1.

Behavior:
* each config carries an operation: SET (0), DELETE (1), APPEND (2) and
  SUBTRACT (3); APPEND and SUBTRACT apply to LIST configs only (a topic's
  ``cleanup.policy``, ``*.replication.throttled.replicas``; a broker's
  list keys), starting from the current value or else the config's default;
  APPEND skips values already present, SUBTRACT removes them;
* preprocessing as Kafka's broker: a resource listed twice gets
  INVALID_REQUEST "Each resource must appear at most once." (every copy);
  a key listed twice "Error due to duplicate config keys"; a null value for
  anything but DELETE "Null value not supported for : <keys>";
* TOPIC: APPEND/SUBTRACT on a non-list key is INVALID_CONFIG "Can't APPEND
  to key x because its type is not LIST."; then the topic's whole new set
  of overrides is checked as AlterConfigs checks it (empty name
  INVALID_REQUEST, illegal name INVALID_TOPIC_EXCEPTION, bad config
  INVALID_CONFIG, and only then a missing topic UNKNOWN_TOPIC_OR_PARTITION);
  only changed keys are written;
* BROKER: the name must be empty or this node id; an unknown operation is
  INVALID_REQUEST; the resulting dynamic set is validated as Kafka's
  ``DynamicBrokerConfig.validate`` does (see L{kafkatwist.config.dynamic});
* BROKER_LOGGER: SET and DELETE of logger levels with Kafka's checks
  (``RuntimeLoggerManager``); kafkatwist has one logger, ``root``, whose
  level is kept in memory only (not persisted, as in Kafka) and does not
  filter Twisted's log output;
* ``validate_only`` runs every check and changes nothing;
* accepted changes are written as ConfigRecords to ``__cluster_metadata``
  and applied at once to the open partition logs;
* other resource types are INVALID_REQUEST "Unknown resource type <n>".

Version notes:
* v1+: flexible.
"""

from __future__ import annotations

from kafkatwist.apis._configs import (
    DUPLICATE_RESOURCE,
    LOG_LEVELS,
    OK,
    OP_APPEND,
    OP_DELETE,
    OP_NAMES,
    OP_SET,
    OP_SUBTRACT,
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_TOPIC,
    Outcome,
    alter_broker,
    alter_topic,
    broker_loggers,
    check_broker_name,
    current_configs,
    duplicated,
    error_responses,
    java_split,
    preprocess,
)
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.broker import ROOT_LOGGER
from kafkatwist.config.broker_configs import BROKER_CONFIGS
from kafkatwist.config.topic_config import TOPIC_CONFIGS, is_list
from kafkatwist.config.values import TYPE_LIST
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.incremental_alter_configs import (
    AlterableConfig,
    AlterConfigsResource,
    AlterConfigsResourceResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)
from kafkatwist.wire.versions import VersionRange


async def handle(
    ctx: RequestContext, request: IncrementalAlterConfigsRequest
) -> IncrementalAlterConfigsResponse:
    dupes = duplicated(request.resources)
    responses = []
    for resource in request.resources:
        key = (resource.resource_type, resource.resource_name)
        if key in dupes:
            outcome: Outcome = DUPLICATE_RESOURCE
        else:
            outcome = preprocess(
                resource, lambda c: c.config_operation == OP_DELETE
            ) or await _alter(ctx, resource, request.validate_only)
        responses.append(
            AlterConfigsResourceResponse(
                error_code=outcome[0],
                error_message=outcome[1],
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
            )
        )
    return IncrementalAlterConfigsResponse(responses=tuple(responses))


async def _alter(
    ctx: RequestContext, resource: AlterConfigsResource, validate_only: bool
) -> Outcome:
    rtype = resource.resource_type
    name = resource.resource_name
    try:
        if rtype == RESOURCE_TOPIC:
            new = _topic_ops(current_configs(ctx, RESOURCE_TOPIC, name), resource.configs)
            return await alter_topic(ctx, name, new, validate_only)
        if rtype == RESOURCE_BROKER:
            check_broker_name(ctx, name)
            new = _broker_ops(current_configs(ctx, RESOURCE_BROKER, name), resource.configs)
            return await alter_broker(
                ctx, name, new, [c.name for c in resource.configs], validate_only
            )
        if rtype == RESOURCE_BROKER_LOGGER:
            return _alter_loggers(ctx, resource, validate_only)
    except KafkaError as e:
        return int(e.code), e.message
    return int(ErrorCode.INVALID_REQUEST), f"Unknown resource type {rtype}"


def _check_op(config: AlterableConfig) -> None:
    if config.config_operation not in OP_NAMES:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, f"Unknown operations type {config.config_operation}"
        )


def _topic_ops(current: dict[str, str], configs: tuple[AlterableConfig, ...]) -> dict[str, str]:
    """Apply the operations to a topic's overrides (ConfigurationControlManager)."""
    new = dict(current)
    for c in configs:
        _check_op(c)
        op = c.config_operation
        if op == OP_SET:
            new[c.name] = c.value or ""
        elif op == OP_DELETE:
            new.pop(c.name, None)
        else:
            if not is_list(c.name):
                raise KafkaError(
                    ErrorCode.INVALID_CONFIG,
                    f"Can't {OP_NAMES[op]} to key {c.name} because its type is not LIST.",
                )
            base = new.get(c.name)
            if base is None:
                base = TOPIC_CONFIGS[c.name].default
            parts = [p for p in base.split(",") if p]
            for value in java_split(c.value or ""):
                if op == OP_APPEND:
                    if value not in parts:
                        parts.append(value)
                elif value in parts:
                    parts.remove(value)
            new[c.name] = ",".join(parts)
    return new


def _broker_ops(current: dict[str, str], configs: tuple[AlterableConfig, ...]) -> dict[str, str]:
    """Apply the operations to a BROKER resource's dynamic configs (prepareIncrementalConfigs)."""
    new = dict(current)
    for c in configs:
        _check_op(c)
        op = c.config_operation
        if op == OP_SET:
            new[c.name] = c.value or ""
        elif op == OP_DELETE:
            new.pop(c.name, None)
        else:
            d = BROKER_CONFIGS.get(c.name)
            verb = "append" if op == OP_APPEND else "subtract"
            if d is None:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown config name: {c.name}")
            if d.type != TYPE_LIST:
                raise KafkaError(
                    ErrorCode.INVALID_CONFIG,
                    f"Config value {verb} is not allowed for config key: {c.name}",
                )
            old = new.get(c.name, d.default or "")
            values = java_split(c.value or "")
            if op == OP_APPEND:
                old_list = java_split(old) if old else []
                new[c.name] = ",".join(old_list + [v for v in values if v not in old_list])
            else:
                remaining = java_split(old)
                for v in values:
                    if v in remaining:
                        remaining.remove(v)
                new[c.name] = ",".join(remaining)
    return new


def _alter_loggers(
    ctx: RequestContext, resource: AlterConfigsResource, validate_only: bool
) -> Outcome:
    """Kafka's C{RuntimeLoggerManager.applyChangesForResource}."""
    node = ctx.broker.node_id
    try:
        requested = int(resource.resource_name)
    except ValueError:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST,
            f"Node id must be an integer, but it is: {resource.resource_name}",
        ) from None
    if requested != node:
        # Kafka's message names its own id twice.
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, f"Unexpected node id. Expected {node}, but received {node}"
        )
    levels = broker_loggers(ctx)
    for c in resource.configs:
        op = c.config_operation
        if op in (OP_SET, OP_DELETE) and c.name not in levels:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Logger {c.name} does not exist!")
        if op == OP_SET and c.value not in LOG_LEVELS:
            raise KafkaError(
                ErrorCode.INVALID_CONFIG,
                f"Cannot set the log level of {c.name} to {c.value} as it is not a supported "
                f"log level. Valid log levels are {', '.join(LOG_LEVELS)}",
            )
        if op == OP_DELETE and c.name == ROOT_LOGGER:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Removing the log level of the {ROOT_LOGGER} logger is not allowed",
            )
        if op in (OP_APPEND, OP_SUBTRACT):
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"{OP_NAMES[op]} operation is not allowed for the BROKER_LOGGER resource",
            )
        if op not in OP_NAMES:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Unknown operation type {op} is not allowed for the BROKER_LOGGER resource",
            )
    if not validate_only:
        for c in resource.configs:
            if c.config_operation == OP_SET:
                levels[c.name] = c.value or "INFO"
            else:
                levels[c.name] = levels[ROOT_LOGGER]
    return OK


error_response = error_responses(IncrementalAlterConfigsResponse, AlterConfigsResourceResponse)


SPEC = ApiSpec(
    api_key=44,
    versions=VersionRange(0, 1),
    request=IncrementalAlterConfigsRequest,
    response=IncrementalAlterConfigsResponse,
    handle=handle,
    error_response=error_response,
)
