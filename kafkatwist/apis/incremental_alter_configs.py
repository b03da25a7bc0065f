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
* GROUP (resource type 32, KIP-848): SET and DELETE of the group-level
  configs; APPEND/SUBTRACT are INVALID_CONFIG (no group config is a LIST);
  the resulting overrides are checked as AlterConfigs checks them (empty
  name INVALID_REQUEST, Kafka's ``GroupConfig.validate``: INVALID_CONFIG);
* CLIENT_METRICS (KIP-714): the subscription's whole new set is checked
  as Kafka's C{ClientMetricsConfigs.validate} (L{kafkatwist.telemetry.validate}:
  an empty name, an unknown key or an interval outside 100-3600000 is
  INVALID_REQUEST, a malformed ``match`` INVALID_CONFIG); APPEND/SUBTRACT
  apply to ``metrics`` and ``match``; deleting every key removes the subscription;
* ALTER_CONFIGS is needed on the topic (else TOPIC_AUTHORIZATION_FAILED), on
  the group (GROUP_AUTHORIZATION_FAILED) or, for BROKER, BROKER_LOGGER and
  CLIENT_METRICS resources, on the cluster (CLUSTER_AUTHORIZATION_FAILED),
  each with Kafka's default message but the logger refusal, which has none
  (C{ConfigAdminManager.preprocess}, C{ControllerApis.authorizeAlterResource});
  it is checked after the preprocessing, and a BROKER resource's name and
  values are validated first, as Kafka's broker does before forwarding;
* ``validate_only`` runs every check and changes nothing;
* accepted changes are written as ConfigRecords to ``__cluster_metadata``
  and applied at once to the open partition logs;
* other resource types are INVALID_REQUEST "Unknown resource type <n>".

Version notes:
* v1+: flexible.
"""

from __future__ import annotations

from collections.abc import Callable

from kafkatwist import telemetry
from kafkatwist.apis._configs import (
    LOG_LEVELS,
    OK,
    OP_APPEND,
    OP_DELETE,
    OP_NAMES,
    OP_SET,
    OP_SUBTRACT,
    RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_GROUP,
    RESOURCE_TOPIC,
    Outcome,
    alter_broker,
    alter_each,
    alter_group,
    alter_topic,
    broker_loggers,
    changes,
    check_broker_name,
    config_denied,
    current_configs,
    java_split,
    persist,
    preprocess,
    resource_errors,
    resource_results,
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
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange


async def handle(
    ctx: RequestContext, request: IncrementalAlterConfigsRequest
) -> IncrementalAlterConfigsResponse:
    outcomes = await alter_each(
        request.resources, lambda resource: _alter(ctx, resource, request.validate_only)
    )
    return IncrementalAlterConfigsResponse(
        responses=resource_results(AlterConfigsResourceResponse, outcomes)
    )


async def _alter(
    ctx: RequestContext, resource: AlterConfigsResource, validate_only: bool
) -> Outcome:
    refused = preprocess(resource.configs, lambda c: c.config_operation == OP_DELETE)
    if refused is not None:
        return refused
    rtype = resource.resource_type
    name = resource.resource_name
    if rtype != RESOURCE_BROKER:
        denied = config_denied(ctx, AclOperation.ALTER_CONFIGS, rtype, name)
        if denied is not None:
            # Kafka's broker refuses loggers itself, with no message.
            return denied if rtype != RESOURCE_BROKER_LOGGER else (denied[0], None)
    try:
        if rtype == RESOURCE_TOPIC:
            new = _apply(
                current_configs(ctx, RESOURCE_TOPIC, name), resource.configs, _topic_list_op
            )
            return await alter_topic(ctx, name, new, validate_only)
        if rtype == RESOURCE_BROKER:
            check_broker_name(ctx, name)
            new = _apply(
                current_configs(ctx, RESOURCE_BROKER, name), resource.configs, _broker_list_op
            )
            return await alter_broker(
                ctx, name, new, [c.name for c in resource.configs], validate_only
            )
        if rtype == RESOURCE_BROKER_LOGGER:
            return _alter_loggers(ctx, resource, validate_only)
        if rtype == RESOURCE_GROUP:
            new = _apply(current_configs(ctx, RESOURCE_GROUP, name), resource.configs, _not_list)
            return await alter_group(ctx, name, new, validate_only)
        if rtype == RESOURCE_CLIENT_METRICS:
            current = current_configs(ctx, RESOURCE_CLIENT_METRICS, name)
            new = _apply(current, resource.configs, _client_metrics_list_op)
            telemetry.validate(name, new)
            if not validate_only:
                await persist(ctx, RESOURCE_CLIENT_METRICS, name, changes(current, new))
            return OK
    except KafkaError as e:
        return int(e.code), e.message
    return int(ErrorCode.INVALID_REQUEST), f"Unknown resource type {rtype}"


def _check_op(config: AlterableConfig) -> None:
    if config.config_operation not in OP_NAMES:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, f"Unknown operations type {config.config_operation}"
        )


def _apply(
    current: dict[str, str],
    configs: tuple[AlterableConfig, ...],
    list_op: Callable[[dict[str, str], AlterableConfig], None],
) -> dict[str, str]:
    """
    Apply the operations in order to a resource's dynamic configs; a new dict.

    SET and DELETE are the same for every resource; C{list_op} applies an
    APPEND or SUBTRACT (Kafka's C{ConfigurationControlManager} for topics,
    C{prepareIncrementalConfigs} for brokers).
    """
    new = dict(current)
    for c in configs:
        _check_op(c)
        if c.config_operation == OP_SET:
            new[c.name] = c.value or ""
        elif c.config_operation == OP_DELETE:
            new.pop(c.name, None)
        else:
            list_op(new, c)
    return new


def _topic_list_op(new: dict[str, str], c: AlterableConfig) -> None:
    """APPEND or SUBTRACT on a topic's LIST config, from its override or default."""
    op = c.config_operation
    if not is_list(c.name):
        raise KafkaError(
            ErrorCode.INVALID_CONFIG,
            f"Can't {OP_NAMES[op]} to key {c.name} because its type is not LIST.",
        )
    base = new.get(c.name)
    if base is None:
        base = TOPIC_CONFIGS[c.name].default
    new[c.name] = _append_or_subtract(op, [p for p in base.split(",") if p], c.value)


def _append_or_subtract(op: int, parts: list[str], value: str | None) -> str:
    """C{parts} with the listed values appended (once each) or removed, joined again."""
    for item in java_split(value or ""):
        if op == OP_APPEND:
            if item not in parts:
                parts.append(item)
        elif item in parts:
            parts.remove(item)
    return ",".join(parts)


def _not_list(new: dict[str, str], c: AlterableConfig) -> None:
    """APPEND or SUBTRACT on a GROUP config: none is a LIST (Kafka's controller message)."""
    raise KafkaError(
        ErrorCode.INVALID_CONFIG,
        f"Can't {OP_NAMES[c.config_operation]} to key {c.name} because its type is not LIST.",
    )


def _client_metrics_list_op(new: dict[str, str], c: AlterableConfig) -> None:
    """APPEND or SUBTRACT on a client metrics subscription's ``metrics`` or ``match``."""
    op = c.config_operation
    if c.name not in (telemetry.METRICS, telemetry.MATCH):
        raise KafkaError(
            ErrorCode.INVALID_CONFIG,
            f"Can't {OP_NAMES[op]} to key {c.name} because its type is not LIST.",
        )
    parts = [p for p in java_split(new.get(c.name, "")) if p]
    new[c.name] = _append_or_subtract(op, parts, c.value)


def _broker_list_op(new: dict[str, str], c: AlterableConfig) -> None:
    """APPEND or SUBTRACT on a broker's LIST config, from its dynamic value or default."""
    op = c.config_operation
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


def error_response(
    request: IncrementalAlterConfigsRequest, version: int, code: ErrorCode
) -> IncrementalAlterConfigsResponse:
    """Every resource answers C{code}."""
    return IncrementalAlterConfigsResponse(
        responses=resource_errors(AlterConfigsResourceResponse, request.resources, code)
    )


SPEC = ApiSpec(
    api_key=44,
    versions=VersionRange(0, 1),
    request=IncrementalAlterConfigsRequest,
    response=IncrementalAlterConfigsResponse,
    handle=handle,
    error_response=error_response,
)
