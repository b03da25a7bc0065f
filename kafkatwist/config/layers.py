"""ConfigLayers: one snapshot of the config layers, its values and what DescribeConfigs reports.

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

L{kafkatwist.config.resolver.ConfigResolver} builds the snapshots from the
metadata store and the static config.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from attrs import field, frozen

from kafkatwist.config import dynamic
from kafkatwist.config.broker_configs import BROKER_CONFIGS
from kafkatwist.config.log_config import LogConfig
from kafkatwist.config.topic_config import TOPIC_CONFIGS, ConfigDef
from kafkatwist.config.values import TYPE_UNKNOWN, T, canonical, parse_as, value_error

#: DescribeConfigs' ConfigSource codes.
TOPIC_CONFIG = 1
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5
DYNAMIC_BROKER_LOGGER_CONFIG = 6


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


def override_entry(
    name: str,
    value: str,
    found: list[Synonym],
    config_type: int,
    documentation: str,
    include_synonyms: bool,
    include_docs: bool,
) -> Entry:
    """
    The entry of a config a resource may override (a topic's, a group's).

    Writable and not sensitive; its source is that of the first of C{found},
    its synonyms from the override down (DEFAULT_CONFIG when none is set).
    """
    return Entry(
        name=name,
        value=value,
        source=found[0].source if found else DEFAULT_CONFIG,
        read_only=False,
        sensitive=False,
        synonyms=tuple(found) if include_synonyms else (),
        config_type=config_type,
        documentation=documentation if include_docs else None,
    )


@frozen
class ConfigLayers:
    """A snapshot of the four broker layers, for one request."""

    node_id: int
    per_broker: Mapping[str, str]
    cluster_default: Mapping[str, str]
    static: Mapping[str, str]
    #: kafkatwist's own defaults where they differ from Kafka's (node.id, log.dirs...).
    defaults: Mapping[str, str] = field(factory=dict)

    def default(self, name: str) -> str | None:
        """The value a broker key has when no layer sets it."""
        if name in self.defaults:
            return self.defaults[name]
        d = BROKER_CONFIGS.get(name)
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

    def broker_typed(self, name: str, kind: type[T]) -> T:
        """
        L{broker_value} parsed as the table's type for C{name}, as the Python type C{kind}.

        A malformed stored value falls back to Kafka's default.
        """
        d = BROKER_CONFIGS[name]
        raw = self.broker_value(name)
        if raw is None or value_error(d.type, d.validator, name, raw) is not None:
            raw = d.default or ""
        return parse_as(d.type, raw, kind)

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

    def topic_default(self, d: ConfigDef) -> str:
        """
        The value of topic config C{d} for a topic without an override.

        The first of its broker synonyms that a layer sets, in the topic
        config's unit (C{log.retention.hours} times 3600000), else Kafka's
        default.
        """
        for synonym in d.synonyms:
            value = self.broker_value(synonym.name)
            if value is None:
                continue
            if synonym.scale == 1 and not d.negative_is_unlimited:
                return canonical(d.type, value)
            try:
                number = int(value.strip()) * synonym.scale
            except ValueError:
                return value
            if d.negative_is_unlimited and number < 0:
                number = -1  # KafkaConfig.logRetentionTimeMillis
            return str(number)
        return d.default

    def topic_values(self, overrides: Mapping[str, str]) -> dict[str, str]:
        """Every topic config's effective value for a topic with C{overrides}."""
        out = {}
        for name, d in TOPIC_CONFIGS.items():
            if name in overrides:
                out[name] = canonical(d.type, overrides[name])
            else:
                out[name] = self.topic_default(d)
        return out

    def log_config(self, overrides: Mapping[str, str]) -> LogConfig:
        """
        The storage settings of a topic with C{overrides}: what its partition logs apply.

        @raise KafkaError: C{INVALID_CONFIG} for a value a log cannot use.
        """
        return LogConfig.from_topic_configs(LogConfig(), self.topic_values(overrides))

    def describe_topic(
        self,
        overrides: Mapping[str, str],
        names: Collection[str] | None,
        include_synonyms: bool,
        include_docs: bool,
    ) -> list[Entry]:
        """C{ConfigHelper.createTopicConfigEntry} for each (selected) topic config."""
        entries = []
        values = self.topic_values(overrides)
        for name in sorted(TOPIC_CONFIGS):
            if names and name not in names:
                continue
            d = TOPIC_CONFIGS[name]
            value = values[name]
            found: list[Synonym] = []
            if d.synonyms:
                primary = d.synonyms[0].name
                found = self.synonyms(primary, dynamic.broker_synonyms(primary), False)
            if name in overrides:
                found.insert(0, Synonym(name, value, TOPIC_CONFIG))
            entries.append(
                override_entry(
                    name, value, found, d.type, d.documentation, include_synonyms, include_docs
                )
            )
        return entries

    # -- brokers ---------------------------------------------------------------

    def describe_broker(
        self,
        per_broker: bool,
        names: Collection[str] | None,
        include_synonyms: bool,
        include_docs: bool,
    ) -> list[Entry]:
        """
        C{ConfigHelper.createBrokerConfigEntry} for each (selected) broker config.

        @param per_broker: True for this node's resource (every config),
            False for the cluster default resource (only the dynamic defaults).
        """
        if per_broker:
            keys = set(BROKER_CONFIGS)
            for layer, _source in self.layers():
                keys.update(layer)
        else:
            keys = set(self.cluster_default)
        entries = []
        for name in sorted(keys):
            if names and name not in names:
                continue
            ctype = dynamic.config_type(name)
            sensitive = dynamic.is_sensitive(name)
            raw = self.broker_value(name) if per_broker else self.cluster_default[name]
            value = None if sensitive or raw is None else (canonical(ctype, raw) if ctype else raw)
            found = self.synonyms(
                name, dynamic.broker_synonyms(name), sensitive, per_broker=per_broker
            )
            d = BROKER_CONFIGS.get(name)
            entries.append(
                Entry(
                    name=name,
                    value=value,
                    source=found[0].source if found else DEFAULT_CONFIG,
                    read_only=not dynamic.is_dynamic(name),
                    sensitive=sensitive,
                    synonyms=tuple(found) if include_synonyms else (),
                    config_type=ctype or TYPE_UNKNOWN,
                    documentation=(d.documentation if d else None) if include_docs else None,
                )
            )
        return entries
