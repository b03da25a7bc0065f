"""What AlterConfigs and IncrementalAlterConfigs share: checks, persistence, live application.

Kafka splits a config change in two: the broker "preprocesses" the request
(``ConfigAdminManager.preprocess``: resources listed twice, keys listed
twice, null values, BROKER resources and BROKER_LOGGER levels) and the
controller validates and persists the rest (``ConfigurationControlManager``
with ``ControllerConfigurationValidator``: topic names, topic config names
and values, then whether the topic exists). kafkatwist is both, in that
order, so the same request gets the same error codes and messages.
Authorization (L{config_denied}) comes where Kafka's controller checks it:
after the preprocessing, before the controller's validation.

A change is persisted as ConfigRecords in ``__cluster_metadata``; then the
config resolver pushes the new settings to the open partition logs
(L{ConfigResolver.push_log_config}, L{ConfigResolver.push_all_log_configs}).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, REFUSALS
from kafkatwist.apis._spec import RequestContext
from kafkatwist.apis._topics import validate_topic_name
from kafkatwist.config import group_overrides, topic_config
from kafkatwist.config.dynamic import validate_dynamic
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.security.acl import CLUSTER_NAME, AclOperation, ResourceType

#: Kafka's ConfigResource.Type ids.
RESOURCE_TOPIC, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER = 2, 4, 8
RESOURCE_CLIENT_METRICS, RESOURCE_GROUP = 16, 32
RESOURCE_TYPE_NAMES = {
    RESOURCE_TOPIC: "TOPIC",
    RESOURCE_BROKER: "BROKER",
    RESOURCE_BROKER_LOGGER: "BROKER_LOGGER",
    RESOURCE_CLIENT_METRICS: "CLIENT_METRICS",
    RESOURCE_GROUP: "GROUP",
}

#: The ACL resource type that authorizes each config resource type, refused
#: with its L{REFUSALS} code (Kafka's C{ConfigHelper.handleDescribeConfigsRequest},
#: C{ControllerApis.authorizeAlterResource}): BROKER, BROKER_LOGGER and
#: CLIENT_METRICS resources are authorized on the cluster.
_AUTHORIZED_BY: dict[int, ResourceType] = {
    RESOURCE_TOPIC: ResourceType.TOPIC,
    RESOURCE_GROUP: ResourceType.GROUP,
    RESOURCE_BROKER: ResourceType.CLUSTER,
    RESOURCE_BROKER_LOGGER: ResourceType.CLUSTER,
    RESOURCE_CLIENT_METRICS: ResourceType.CLUSTER,
}

#: IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType).
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3
OP_NAMES = {OP_SET: "SET", OP_DELETE: "DELETE", OP_APPEND: "APPEND", OP_SUBTRACT: "SUBTRACT"}

#: log4j levels Kafka accepts for BROKER_LOGGER (``LogLevelConfig.VALID_LOG_LEVELS``), sorted.
LOG_LEVELS = ("DEBUG", "ERROR", "FATAL", "INFO", "TRACE", "WARN")

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_R = TypeVar("_R", bound="ConfigResource")
_C = TypeVar("_C", bound="ConfigEntry")

#: (error code, message) of one resource; (0, None) for success.
Outcome = tuple[int, str | None]
OK: Outcome = (0, None)
DUPLICATE_RESOURCE: Outcome = (
    int(ErrorCode.INVALID_REQUEST),
    "Each resource must appear at most once.",
)


class ConfigEntry(Protocol):
    """A config of an AlterConfigs or IncrementalAlterConfigs resource."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str | None: ...


class ConfigResource(Protocol):
    """A resource of a config request (or response): its type and name."""

    @property
    def resource_type(self) -> int: ...

    @property
    def resource_name(self) -> str: ...


class _ResourceResult(Protocol[_T_co]):
    """An AlterConfigs or IncrementalAlterConfigs response struct for one resource."""

    def __call__(
        self, *, error_code: int, error_message: str | None, resource_type: int, resource_name: str
    ) -> _T_co: ...


def duplicated(resources: Sequence[ConfigResource]) -> set[tuple[int, str]]:
    """The (type, name) pairs listed more than once."""
    counts = Counter((r.resource_type, r.resource_name) for r in resources)
    return {key for key, n in counts.items() if n > 1}


async def alter_each(
    resources: Sequence[_R], alter: Callable[[_R], Awaitable[Outcome]]
) -> list[tuple[_R, Outcome]]:
    """
    The outcome of every resource, in order: C{alter} for each one listed once.

    A resource listed twice is refused, every copy, before anything changes.
    """
    dupes = duplicated(resources)
    outcomes = []
    for resource in resources:
        if (resource.resource_type, resource.resource_name) in dupes:
            outcomes.append((resource, DUPLICATE_RESOURCE))
        else:
            outcomes.append((resource, await alter(resource)))
    return outcomes


def resource_results(
    result: _ResourceResult[_T], outcomes: Iterable[tuple[ConfigResource, Outcome]]
) -> tuple[_T, ...]:
    """The response structs of the resources, each with its outcome."""
    return tuple(
        result(
            error_code=code,
            error_message=message,
            resource_type=resource.resource_type,
            resource_name=resource.resource_name,
        )
        for resource, (code, message) in outcomes
    )


def resource_errors(
    result: _ResourceResult[_T], resources: Iterable[ConfigResource], code: ErrorCode
) -> tuple[_T, ...]:
    """Every resource answers C{code} (the requests' C{error_response})."""
    outcome = (int(code), None)
    return resource_results(result, [(resource, outcome) for resource in resources])


def preprocess(
    configs: Sequence[_C], null_allowed: Callable[[_C], bool] = lambda c: False
) -> Outcome | None:
    """
    Kafka's per-resource preprocessing checks, or None when they pass.

    @param null_allowed: whether a config entry may have a null value.
    """
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        return int(ErrorCode.INVALID_REQUEST), "Error due to duplicate config keys"
    nulls = [c.name for c in configs if c.value is None and not null_allowed(c)]
    if nulls:
        return int(ErrorCode.INVALID_REQUEST), "Null value not supported for : " + ", ".join(nulls)
    return None


def config_denied(
    ctx: RequestContext, operation: AclOperation, resource_type: int, name: str
) -> Outcome | None:
    """
    The refusal of C{operation} (DESCRIBE_CONFIGS, ALTER_CONFIGS) on a config
    resource: TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED or
    CLUSTER_AUTHORIZATION_FAILED with Kafka's default message; None when
    allowed, or for a type that is no config resource (refused elsewhere).
    """
    acl_type = _AUTHORIZED_BY.get(resource_type)
    if acl_type is None:
        return None
    if ctx.authorize(
        operation, acl_type, CLUSTER_NAME if acl_type == ResourceType.CLUSTER else name
    ):
        return None
    code = REFUSALS[acl_type]
    return int(code), AUTHORIZATION_MESSAGES[code]


def check_broker_name(ctx: RequestContext, name: str) -> None:
    """C{ConfigAdminManager.validateResourceNameIsCurrentNodeId} for a non-empty name."""
    if not name:
        return
    try:
        node = int(name)
    except ValueError:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, f"Node id must be an integer, but it is: {name}"
        ) from None
    if node != ctx.broker.node_id:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST,
            f"Unexpected broker id, expected {ctx.broker.node_id}, but received {name}",
        )


def check_topic_resource(ctx: RequestContext, name: str, new_configs: Mapping[str, str]) -> None:
    """
    The controller's checks of a topic's complete new set of overrides.

    Name first (an empty name is the refused "default topic"), then the
    configs (INVALID_CONFIG), then existence (UNKNOWN_TOPIC_OR_PARTITION).
    """
    if not name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    reason = validate_topic_name(name)
    if reason is not None:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
    topic_config.validate(new_configs)
    topic_config.validate_values(ctx.broker.configs.layers().topic_values(new_configs))
    if name not in ctx.broker.metadata.image.topics:
        raise KafkaError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist."
        )


def current_configs(ctx: RequestContext, resource_type: int, name: str) -> dict[str, str]:
    """The dynamic configs a TOPIC, BROKER or GROUP resource has now."""
    image = ctx.broker.metadata.image
    if resource_type == RESOURCE_TOPIC:
        topic = image.topics.get(name)
        return dict(topic.configs) if topic is not None else {}
    return dict(image.configs.get((resource_type, name), {}))


def changes(
    current: Mapping[str, str], new: Mapping[str, str], *, always: Sequence[str] = ()
) -> dict[str, str | None]:
    """
    The ConfigRecords that turn C{current} into C{new}: changed keys and deletions.

    @param always: keys written even when unchanged (Kafka rewrites BROKER
        keys to make brokers reload them, KAFKA-14136).
    """
    out: dict[str, str | None] = {}
    for key, value in new.items():
        if current.get(key) != value or key in always:
            out[key] = value
    for key in current:
        if key not in new:
            out[key] = None
    return out


async def persist(
    ctx: RequestContext, resource_type: int, name: str, records: Mapping[str, str | None]
) -> None:
    """Write the ConfigRecords, then apply the new configs to the open logs."""
    if not records:
        return
    broker = ctx.broker
    await broker.controller.set_configs(resource_type, name, records)
    if resource_type == RESOURCE_TOPIC:
        broker.configs.push_log_config(broker.logs, name)
    else:
        broker.configs.push_all_log_configs(broker.logs)


async def alter_broker(
    ctx: RequestContext,
    name: str,
    new: Mapping[str, str],
    written: Sequence[str],
    validate_only: bool,
) -> Outcome:
    """
    Validate, authorize and persist a BROKER resource's complete new set of dynamic configs.

    As Kafka, the broker validates the change before the controller checks
    ALTER_CONFIGS on the cluster.
    """
    try:
        check_broker_name(ctx, name)
        validate_dynamic(new, per_broker=bool(name))
        reload_tls = await prepare_tls(ctx, name, new, written)
    except KafkaError as e:
        return int(e.code), e.message
    denied = config_denied(ctx, AclOperation.ALTER_CONFIGS, RESOURCE_BROKER, name)
    if denied is not None:
        return denied
    if not validate_only:
        records = changes(current_configs(ctx, RESOURCE_BROKER, name), new, always=written)
        await persist(ctx, RESOURCE_BROKER, name, records)
        reload_tls()
    return OK


async def prepare_tls(
    ctx: RequestContext, name: str, new: Mapping[str, str], written: Sequence[str]
) -> Callable[[], None]:
    """
    Load the SSL stores this broker's new dynamic configs name (Kafka validates them first).

    @return: what makes the SSL listeners use them once the configs are written.
    @raise KafkaError: INVALID_REQUEST when a store does not load or does not match.
    """
    tls = ctx.broker.tls
    if tls is None or not name:
        return lambda: None
    try:
        return await tls.prepare(ctx.broker.configs.layers().cluster_default, new, written)
    except ValueError as e:
        raise KafkaError(ErrorCode.INVALID_REQUEST, str(e)) from None


async def alter_topic(
    ctx: RequestContext, name: str, new: Mapping[str, str], validate_only: bool
) -> Outcome:
    """Validate and persist a topic's complete new set of overrides."""
    try:
        check_topic_resource(ctx, name, new)
    except KafkaError as e:
        return int(e.code), e.message
    if not validate_only:
        await persist(
            ctx, RESOURCE_TOPIC, name, changes(current_configs(ctx, RESOURCE_TOPIC, name), new)
        )
    return OK


async def alter_group(
    ctx: RequestContext, name: str, new: Mapping[str, str], validate_only: bool
) -> Outcome:
    """
    Validate and persist a GROUP resource's complete new set of overrides.

    Kafka's C{ControllerConfigurationValidator}: an empty name is
    INVALID_REQUEST, then C{GroupConfig.validate} (INVALID_CONFIG). The group
    need not exist. Only changed keys are written, as ConfigRecords of
    resource type 32.
    """
    try:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Default group resources are not allowed.")
        group_overrides.validate(new, ctx.broker.configs.layers())
    except KafkaError as e:
        return int(e.code), e.message
    if not validate_only:
        records = changes(current_configs(ctx, RESOURCE_GROUP, name), new)
        if records:
            await ctx.broker.controller.set_configs(RESOURCE_GROUP, name, records)
    return OK


def broker_loggers(ctx: RequestContext) -> dict[str, str]:
    """
    The broker's logger levels, as BROKER_LOGGER resources show them.

    kafkatwist logs through Twisted, not log4j: it has one logger, C{root},
    at INFO. Levels set through IncrementalAlterConfigs are kept in memory
    (like Kafka's, they do not survive a restart) and reported back; they do
    not filter Twisted's log output.
    """
    levels: dict[str, str] = ctx.broker.broker_loggers.levels
    return levels


def java_split(value: str) -> list[str]:
    """C{String.split(",")}: trailing empty strings dropped, a lone empty string kept."""
    parts = value.split(",")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if parts == [""] and value != "":
        return []
    return parts
