"""
Group-level configs (KIP-848 config resource type GROUP = 32), as Kafka 4.x's C{GroupConfig}.

A group's overrides are ConfigRecords of resource type 32 named by the group
id in C{__cluster_metadata}, as Kafka stores them; a key a group does not
override takes the broker's value of its synonym C{group.<key>} (the rows of
L{kafkatwist.config.group_broker_configs}), else Kafka's default.

Validation follows C{GroupConfig.validate}: unknown names, then each value's
type and range (C{ConfigDef.parse}), then the broker's bounds
(C{group.consumer.min.session.timeout.ms}...), then a session timeout above
its heartbeat interval, all on the group's overrides merged over the broker
values; every refusal is C{INVALID_CONFIG} with Kafka's message.
DescribeConfigs entries follow C{ConfigHelper.createGroupConfigEntry}: the
override (source C{GROUP_CONFIG}, 8), then the synonyms of the broker key.
The effective values the coordinator uses are clamped into the broker's
bounds, as C{GroupConfig.evaluate} does.

The keys are Kafka 4.2/4.3's: C{consumer.*}, C{share.*} and C{streams.*}
(the later C{*.assignment.interval.ms}, C{*.assignor.offload.enable}, ...
and the dead-letter-queue keys are not included).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from attrs import frozen

from kafkatwist.config.layers import DEFAULT_CONFIG, ConfigLayers, Entry, Synonym, override_entry
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.config.values import (
    TYPE_BOOLEAN,
    TYPE_INT,
    TYPE_STRING,
    Validator,
    at_least,
    canonical,
    one_of,
    split_list,
    value_error,
)
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.interfaces import IMetadataStore

#: Kafka's ConfigResource.Type.GROUP.
RESOURCE_GROUP = 32
#: Kafka's DescribeConfigs ConfigSource.GROUP_CONFIG.
GROUP_CONFIG = 8

_DURATION = re.compile(r"-?P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?", re.IGNORECASE)


def _auto_offset_reset(value: str) -> str | None:
    """C{ShareGroupAutoOffsetResetStrategy.Validator}: earliest, latest, by_duration:<ISO>."""
    lowered = value.lower()
    if lowered in ("earliest", "latest"):
        return None
    if lowered.startswith("by_duration:"):
        duration = value[len("by_duration:") :]
        if duration.startswith("-"):
            return "Negative duration is not allowed."
        if _DURATION.fullmatch(duration) and duration.upper() not in ("P", "PT"):
            return None
        return "Unable to parse duration string."
    return "Valid values are: earliest, latest, by_duration:PnDTnHnMn.nS."


@frozen
class GroupConfigDef:
    """One group-level config."""

    name: str
    type: int
    #: C{GroupConfig}'s default, for a key with no broker synonym.
    default: str
    validator: Validator | None
    documentation: str
    #: The broker key whose value is this key's default (C{group.<name>}), if any.
    broker: str | None = None
    #: The broker keys bounding an override, if any.
    low: str | None = None
    high: str | None = None


def _bounded(proto: str, key: str, default: int, validator: Validator, doc: str) -> GroupConfigDef:
    """A key with a broker synonym and broker min/max bounds (C{group.<proto>.min.<key>})."""
    return GroupConfigDef(
        f"{proto}.{key}",
        TYPE_INT,
        str(default),
        validator,
        doc,
        broker=f"group.{proto}.{key}",
        low=f"group.{proto}.min.{key}",
        high=f"group.{proto}.max.{key}",
    )


_ONE = at_least(1)

#: Kafka's C{GroupConfig.CONFIG}, in its definition order.
GROUP_CONFIGS: dict[str, GroupConfigDef] = {
    d.name: d
    for d in (
        _bounded("consumer", "session.timeout.ms", 45000, _ONE,
                 "The timeout to detect client failures when using the consumer group protocol."),
        _bounded("consumer", "heartbeat.interval.ms", 5000, _ONE,
                 "The heartbeat interval given to the members of a consumer group."),
        _bounded("share", "session.timeout.ms", 45000, _ONE,
                 "The timeout to detect client failures when using the share group protocol."),
        _bounded("share", "heartbeat.interval.ms", 5000, _ONE,
                 "The heartbeat interval given to the members of a share group."),
        _bounded("share", "record.lock.duration.ms", 30000, at_least(1000),
                 "The record acquisition lock duration in milliseconds for share groups."),
        _bounded("share", "delivery.count.limit", 5, at_least(2),
                 "The maximum number of delivery attempts of a share group record."),
        _bounded("share", "partition.max.record.locks", 2000, at_least(100),
                 "Share-group record lock limit per share-partition."),
        GroupConfigDef("share.auto.offset.reset", TYPE_STRING, "latest", _auto_offset_reset,
                       "The strategy to initialize the share-partition start offset."),
        GroupConfigDef("share.isolation.level", TYPE_STRING, "read_uncommitted",
                       one_of("read_committed", "read_uncommitted"),
                       "Controls how to read records written transactionally."),
        GroupConfigDef("share.renew.acknowledge.enable", TYPE_BOOLEAN, "true", None,
                       "Whether the renew acknowledge type is enabled for the share group."),
        _bounded("streams", "session.timeout.ms", 45000, _ONE,
                 "The timeout to detect client failures when using the streams group protocol."),
        _bounded("streams", "heartbeat.interval.ms", 5000, _ONE,
                 "The heartbeat interval given to the members."),
        GroupConfigDef("streams.num.standby.replicas", TYPE_INT, "0", at_least(0),
                       "The number of standby replicas for each task.",
                       broker="group.streams.num.standby.replicas",
                       high="group.streams.max.standby.replicas"),
        GroupConfigDef("streams.initial.rebalance.delay.ms", TYPE_INT, "3000", at_least(0),
                       "The amount of time the group coordinator will wait for more streams "
                       "clients to join a new group before performing the first rebalance.",
                       broker="group.streams.initial.rebalance.delay.ms"),
    )
}  # fmt: skip

#: The order C{GroupConfig.validateValues} checks the bounds in.
_BOUNDS_ORDER = (
    "consumer.heartbeat.interval.ms",
    "consumer.session.timeout.ms",
    "share.heartbeat.interval.ms",
    "share.session.timeout.ms",
    "share.record.lock.duration.ms",
    "share.delivery.count.limit",
    "share.partition.max.record.locks",
    "streams.heartbeat.interval.ms",
    "streams.session.timeout.ms",
    "streams.num.standby.replicas",
)
_SESSION_OVER_HEARTBEAT = tuple(
    (f"{proto}.session.timeout.ms", f"{proto}.heartbeat.interval.ms")
    for proto in ("consumer", "share", "streams")
)


def _invalid(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_CONFIG, message)


def defaults(layers: ConfigLayers) -> dict[str, str]:
    """Every group config's value for a group without overrides (broker value, else default)."""
    return {
        d.name: (layers.broker_value(d.broker) or d.default) if d.broker else d.default
        for d in GROUP_CONFIGS.values()
    }


def validate(overrides: Mapping[str, str], layers: ConfigLayers) -> None:
    """
    Kafka's C{GroupConfig.validate} of a group's complete new set of overrides.

    Raises L{KafkaError} C{INVALID_CONFIG} with Kafka's message.
    """
    for name in overrides:
        if name not in GROUP_CONFIGS:
            raise _invalid(f"Unknown group config name: {name}")
    combined = defaults(layers) | dict(overrides)
    for d in GROUP_CONFIGS.values():
        message = value_error(d.type, d.validator, d.name, combined[d.name])
        if message is not None:
            raise _invalid(message)
    for name in _BOUNDS_ORDER:
        d = GROUP_CONFIGS[name]
        value = int(combined[name])
        if d.low is not None and value < layers.broker_typed(d.low, int):
            raise _invalid(f"{name} must be greater than or equal to {d.low}")
        if d.high is not None and value > layers.broker_typed(d.high, int):
            raise _invalid(f"{name} must be less than or equal to {d.high}")
    for session, heartbeat in _SESSION_OVER_HEARTBEAT:
        if int(combined[session]) <= int(combined[heartbeat]):
            raise _invalid(f"{session} must be greater than {heartbeat}")


def effective(overrides: Mapping[str, str], layers: ConfigLayers) -> dict[str, str]:
    """
    The values a group's coordinator applies: overrides over the broker values,
    a bounded override clamped into the broker's current bounds
    (C{GroupConfig.evaluate}: the bounds may have moved since it was set).
    """
    values = defaults(layers)
    for name, raw in overrides.items():
        d = GROUP_CONFIGS.get(name)
        if d is None or value_error(d.type, d.validator, name, raw) is not None:
            continue
        if d.type == TYPE_INT:
            value = int(raw)
            if d.low is not None:
                value = max(value, layers.broker_typed(d.low, int))
            if d.high is not None:
                value = min(value, layers.broker_typed(d.high, int))
            raw = str(value)
        values[name] = raw
    return values


def describe(
    overrides: Mapping[str, str],
    layers: ConfigLayers,
    names: Collection[str] | None,
    include_synonyms: bool,
    include_docs: bool,
) -> list[Entry]:
    """C{ConfigHelper.createGroupConfigEntry} for each (selected) group config, by name."""
    values = defaults(layers) | {k: v for k, v in overrides.items() if k in GROUP_CONFIGS}
    entries = []
    for name in sorted(GROUP_CONFIGS):
        if names and name not in names:
            continue
        d = GROUP_CONFIGS[name]
        value = canonical(d.type, values[name])
        if d.broker is not None:
            found = layers.synonyms(d.broker, [d.broker], False)
        else:
            found = [Synonym(name, canonical(d.type, d.default), DEFAULT_CONFIG)]
        if name in overrides:
            found = [Synonym(name, value, GROUP_CONFIG), *found]
        entries.append(
            override_entry(
                name, value, found, d.type, d.documentation, include_synonyms, include_docs
            )
        )
    return entries


@frozen
class ConsumerGroupSettings:
    """The broker's C{group.consumer.*} values (Kafka's C{GroupCoordinatorConfig})."""

    session_timeout_ms: int
    min_session_timeout_ms: int
    max_session_timeout_ms: int
    heartbeat_interval_ms: int
    min_heartbeat_interval_ms: int
    max_heartbeat_interval_ms: int
    max_size: int
    #: C{group.consumer.assignors}: names, the default first.
    assignors: tuple[str, ...]
    #: C{group.consumer.migration.policy}, lower case.
    migration_policy: str
    regex_refresh_interval_ms: int

    @classmethod
    def from_layers(cls, layers: ConfigLayers) -> ConsumerGroupSettings:
        """The current values (static, else Kafka's defaults)."""

        def number(key: str) -> int:
            return layers.broker_typed(f"group.consumer.{key}", int)

        return cls(
            session_timeout_ms=number("session.timeout.ms"),
            min_session_timeout_ms=number("min.session.timeout.ms"),
            max_session_timeout_ms=number("max.session.timeout.ms"),
            heartbeat_interval_ms=number("heartbeat.interval.ms"),
            min_heartbeat_interval_ms=number("min.heartbeat.interval.ms"),
            max_heartbeat_interval_ms=number("max.heartbeat.interval.ms"),
            max_size=number("max.size"),
            assignors=tuple(split_list(layers.broker_value("group.consumer.assignors") or "")),
            migration_policy=(
                layers.broker_value("group.consumer.migration.policy") or "bidirectional"
            ).lower(),
            regex_refresh_interval_ms=number("regex.refresh.interval.ms"),
        )


@frozen
class GroupConfigReader:
    """
    What the consumer group coordinator reads of the group configs: the
    effective C{consumer.session.timeout.ms} and C{consumer.heartbeat.interval.ms}
    of a group (its override within the broker's bounds, else the broker's
    C{group.consumer.*} value), and the broker's consumer group settings.
    Always the current values: the overrides are read from the metadata image.
    """

    _metadata: IMetadataStore
    _configs: ConfigResolver

    def overrides(self, group_id: str) -> dict[str, str]:
        """The group's stored overrides (resource type 32)."""
        return dict(self._metadata.image.configs.get((RESOURCE_GROUP, group_id), {}))

    def values(self, group_id: str) -> dict[str, str]:
        """Every group config's effective value for C{group_id}."""
        return effective(self.overrides(group_id), self._configs.layers())

    def consumer_session_timeout_ms(self, group_id: str) -> int:
        """The session timeout of C{group_id}'s consumer group members."""
        return int(self.values(group_id)["consumer.session.timeout.ms"])

    def consumer_heartbeat_interval_ms(self, group_id: str) -> int:
        """The heartbeat interval given to C{group_id}'s consumer group members."""
        return int(self.values(group_id)["consumer.heartbeat.interval.ms"])

    def consumer_settings(self) -> ConsumerGroupSettings:
        """The broker's C{group.consumer.*} settings."""
        return ConsumerGroupSettings.from_layers(self._configs.layers())
