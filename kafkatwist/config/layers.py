"""The layers a config value comes from, and what DescribeConfigs reports of them.

Kafka resolves a broker config from four layers, highest first
(``DynamicBrokerConfig``): the per-broker dynamic configs
(DYNAMIC_BROKER_CONFIG, ConfigRecords of resource BROKER named by the node
id), the cluster-wide dynamic defaults (DYNAMIC_DEFAULT_BROKER_CONFIG,
resource BROKER with an empty name), ``server.properties``
(STATIC_BROKER_CONFIG) and Kafka's defaults (DEFAULT_CONFIG). A topic
config is the topic's override (TOPIC_CONFIG) or else the value of its
broker synonyms (``ServerTopicConfigSynonyms``), converted to the topic
config's unit.

The synonym lists follow ``ConfigHelper.configSynonyms``: for each layer in
order, each broker synonym present there; then everything before the first
entry named like the primary synonym is dropped. So a ``retention.ms``
without override lists ``log.retention.ms`` entries only: a value coming
from ``log.retention.hours`` alone leaves the list empty and the source
DEFAULT_CONFIG, exactly as Kafka reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from kafkatwist.config import broker_configs, topic_config
from kafkatwist.storage.kraft import RESOURCE_BROKER

#: DescribeConfigs' ConfigSource codes.
TOPIC_CONFIG = 1
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5
DYNAMIC_BROKER_LOGGER_CONFIG = 6

#: Broker configs in another unit than their topic config, and the factor.
_UNIT_SCALE = {
    "log.retention.minutes": 60_000,
    "log.retention.hours": 3_600_000,
    "log.roll.hours": 3_600_000,
    "log.roll.jitter.hours": 3_600_000,
}


@frozen
class Synonym:
    """One (name, value, source) of a DescribeConfigs synonym list."""

    name: str
    value: str | None
    source: int


@frozen
class Entry:
    """One described config, before it is shaped for a DescribeConfigs version."""

    name: str
    value: str | None
    source: int
    read_only: bool
    sensitive: bool
    synonyms: tuple[Synonym, ...]
    config_type: int
    documentation: str | None


@frozen
class ConfigLayers:
    """A snapshot of the four broker layers, for one request."""

    node_id: int
    per_broker: Mapping[str, str]
    cluster_default: Mapping[str, str]
    static: Mapping[str, str]
    #: kafkatwist's own defaults where they differ from Kafka's (node.id, log.dirs...).
    defaults: Mapping[str, str] = field(factory=dict)

    @classmethod
    def of(cls, broker: Any) -> ConfigLayers:
        """The layers of C{broker} now (its image's ConfigRecords and its properties)."""
        image = broker.metadata.image if broker.metadata is not None else None
        configs = image.configs if image is not None else {}
        props = getattr(broker.config, "properties", None) or {}
        return cls(
            node_id=broker.node_id,
            per_broker=dict(configs.get((RESOURCE_BROKER, str(broker.node_id)), {})),
            cluster_default=dict(configs.get((RESOURCE_BROKER, ""), {})),
            static={k: v.strip() for k, v in props.items()},
            defaults=_own_defaults(broker),
        )

    def default(self, name: str) -> str | None:
        """The value a broker key has when no layer sets it."""
        if name in self.defaults:
            return self.defaults[name]
        d = broker_configs.BROKER_CONFIGS.get(name)
        return d.default if d is not None else None

    # -- broker values ---------------------------------------------------------

    def layers(self) -> tuple[tuple[Mapping[str, str], int], ...]:
        return (
            (self.per_broker, DYNAMIC_BROKER_CONFIG),
            (self.cluster_default, DYNAMIC_DEFAULT_BROKER_CONFIG),
            (self.static, STATIC_BROKER_CONFIG),
        )

    def broker_value(self, name: str) -> str | None:
        """The value of a broker key: the highest layer that sets it, else Kafka's default."""
        for layer, _source in self.layers():
            if name in layer:
                return layer[name]
        return self.default(name)

    def synonyms(
        self, name: str, names: list[str], sensitive: bool, *, per_broker: bool = True
    ) -> list[Synonym]:
        """Kafka's C{ConfigHelper.configSynonyms(name, names, sensitive)}."""
        found: list[Synonym] = []
        layers = list(self.layers())
        if not per_broker:
            layers = [(self.cluster_default, DYNAMIC_DEFAULT_BROKER_CONFIG)]
        for layer, source in layers:
            for syn in names:
                if syn in layer:
                    found.append(Synonym(syn, None if sensitive else layer[syn], source))
        if per_broker:
            for syn in names:
                value = self.default(syn)
                if value is not None:
                    found.append(Synonym(syn, None if sensitive else value, DEFAULT_CONFIG))
        for i, s in enumerate(found):
            if s.name == name:
                return found[i:]
        return []

    # -- topics ----------------------------------------------------------------

    def topic_default(self, d: topic_config.ConfigDef, *, dynamic: bool = True) -> str:
        """
        The value of topic config C{d} for a topic without an override.

        @param dynamic: False to ignore the dynamic layers (the value the
            static configuration alone gives).
        """
        for syn in d.synonyms:
            value = self.broker_value(syn) if dynamic else self._static_value(syn)
            if value is None:
                continue
            scale = _UNIT_SCALE.get(syn)
            if scale is not None:
                try:
                    millis = int(value.strip()) * scale
                except ValueError:
                    return value
                if d.name == "retention.ms" and millis < 0:
                    millis = -1  # KafkaConfig.logRetentionTimeMillis
                return str(millis)
            if d.name == "retention.ms" and syn == "log.retention.ms":
                try:
                    if int(value.strip()) < 0:
                        return "-1"
                except ValueError:
                    pass
            return topic_config.canonical(d.type, value)
        return d.default

    def _static_value(self, name: str) -> str | None:
        if name in self.static:
            return self.static[name]
        return self.default(name)

    def topic_values(self, overrides: Mapping[str, str]) -> dict[str, str]:
        """Every topic config's effective value for a topic with C{overrides}."""
        out = {}
        for name, d in topic_config.TOPIC_CONFIGS.items():
            if name in overrides:
                out[name] = topic_config.canonical(d.type, overrides[name])
            else:
                out[name] = self.topic_default(d)
        return out

    def log_overrides(self, overrides: Mapping[str, str]) -> dict[str, str]:
        """
        What a partition log must apply on top of the static configuration.

        The topic's overrides, plus the topic configs whose value a dynamic
        broker config changes. Without dynamic broker configs this is
        C{overrides} itself.
        """
        out = dict(overrides)
        if self.per_broker or self.cluster_default:
            for name, d in topic_config.TOPIC_CONFIGS.items():
                if name in out:
                    continue
                value = self.topic_default(d)
                if value != self.topic_default(d, dynamic=False):
                    out[name] = value
        return out

    def describe_topic(
        self, overrides: Mapping[str, str], names: Any, include_synonyms: bool, include_docs: bool
    ) -> list[Entry]:
        """C{ConfigHelper.createTopicConfigEntry} for each (selected) topic config."""
        entries = []
        values = self.topic_values(overrides)
        for name in sorted(topic_config.TOPIC_CONFIGS):
            if names and name not in names:
                continue
            d = topic_config.TOPIC_CONFIGS[name]
            value = values[name]
            found: list[Synonym] = []
            if d.synonyms:
                primary = d.synonyms[0]
                found = self.synonyms(primary, broker_configs.broker_synonyms(primary), False)
            if name in overrides:
                found.insert(0, Synonym(name, value, TOPIC_CONFIG))
            entries.append(
                Entry(
                    name=name,
                    value=value,
                    source=found[0].source if found else DEFAULT_CONFIG,
                    read_only=False,
                    sensitive=False,
                    synonyms=tuple(found) if include_synonyms else (),
                    config_type=d.type,
                    documentation=d.documentation if include_docs else None,
                )
            )
        return entries

    # -- brokers ---------------------------------------------------------------

    def describe_broker(
        self, per_broker: bool, names: Any, include_synonyms: bool, include_docs: bool
    ) -> list[Entry]:
        """
        C{ConfigHelper.createBrokerConfigEntry} for each (selected) broker config.

        @param per_broker: True for this node's resource (every config),
            False for the cluster default resource (only the dynamic defaults).
        """
        if per_broker:
            keys = set(broker_configs.BROKER_CONFIGS)
            for layer, _source in self.layers():
                keys.update(layer)
        else:
            keys = set(self.cluster_default)
        entries = []
        for name in sorted(keys):
            if names and name not in names:
                continue
            ctype = broker_configs.config_type(name)
            sensitive = broker_configs.is_sensitive(name)
            raw = self.broker_value(name) if per_broker else self.cluster_default[name]
            value = (
                None
                if sensitive or raw is None
                else (topic_config.canonical(ctype, raw) if ctype else raw)
            )
            found = self.synonyms(
                name, broker_configs.broker_synonyms(name), sensitive, per_broker=per_broker
            )
            d = broker_configs.BROKER_CONFIGS.get(name)
            entries.append(
                Entry(
                    name=name,
                    value=value,
                    source=found[0].source if found else DEFAULT_CONFIG,
                    read_only=not broker_configs.is_dynamic(name),
                    sensitive=sensitive,
                    synonyms=tuple(found) if include_synonyms else (),
                    config_type=ctype or broker_configs.TYPE_UNKNOWN,
                    documentation=(d.documentation if d else None) if include_docs else None,
                )
            )
        return entries


#: Broker keys whose default in kafkatwist is not Kafka's, and the BrokerConfig
#: attribute that holds the value in use.
_OWN_DEFAULTS = (
    ("node.id", "node_id"),
    ("broker.id", "node_id"),
    ("log.dirs", "log_dirs"),
    ("num.recovery.threads.per.data.dir", "num_recovery_threads_per_data_dir"),
)


def _own_defaults(broker: Any) -> dict[str, str]:
    """The values kafkatwist uses for L{_OWN_DEFAULTS} keys that no properties set."""
    out = {}
    for key, attr in _OWN_DEFAULTS:
        value = getattr(broker.config, attr, None)
        if value is None:
            continue
        out[key] = ",".join(value) if isinstance(value, tuple) else str(value)
    if "node.id" in out or "broker.id" in out:
        out["node.id"] = out["broker.id"] = str(broker.node_id)
    return out
