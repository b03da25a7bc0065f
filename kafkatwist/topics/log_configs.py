"""The storage settings each topic's logs apply, from the static and dynamic config layers.

TRANSITIONAL: this is the one call the broker makes for a topic's
L{LogConfig}. The config seam's C{ConfigResolver(static, metadata)}
(C{kafkatwist.config.resolver}) replaces it: swap L{log_config_source}'s
body for C{ConfigResolver(config, metadata)}, whose C{log_config(topic)}
has the same signature.
"""

from __future__ import annotations

from attrs import frozen
from twisted.logger import Logger

from kafkatwist.config.layers import ConfigLayers
from kafkatwist.config.log_config import LogConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import KafkaError
from kafkatwist.storage.interfaces import IMetadataStore


@frozen
class _LayerSource:
    """What L{ConfigLayers.of} reads: the static config, the metadata, the node id."""

    config: BrokerConfig
    metadata: IMetadataStore

    @property
    def node_id(self) -> int:
        return self.config.node_id


@frozen
class LayeredLogConfigs:
    """
    Each topic's L{LogConfig}: its overrides over the dynamic and static broker layers.

    Read afresh on every call (the metadata image may have changed), as
    Kafka's C{LogConfig} is rebuilt from the current layers.
    """

    _config: BrokerConfig
    _metadata: IMetadataStore
    _log = Logger()

    def defaults(self) -> LogConfig:
        """The static defaults (``server.properties``), before any dynamic config."""
        return LogConfig.from_broker_properties(self._config.properties)

    def log_overrides(self, topic: str) -> dict[str, str]:
        """
        What a topic's logs apply on top of the static configuration.

        The topic's overrides, plus the topic configs whose value a dynamic
        broker config (AlterConfigs on a BROKER resource) changes.
        """
        layers = ConfigLayers.of(_LayerSource(self._config, self._metadata))
        return layers.log_overrides(self._metadata.topic_configs(topic))

    def log_config(self, topic: str) -> LogConfig:
        """The L{LogConfig} of C{topic} (the static defaults if its overrides are invalid)."""
        defaults = self.defaults()
        try:
            return LogConfig.from_topic_configs(defaults, self.log_overrides(topic))
        except KafkaError as e:
            self._log.warn(
                "Invalid config for topic {topic}: {error}", topic=topic, error=e.message
            )
            return defaults


def log_config_source(config: BrokerConfig, metadata: IMetadataStore) -> LayeredLogConfigs:
    """THE one place the broker gets its topics' log configs from (see the module docstring)."""
    return LayeredLogConfigs(config, metadata)


__all__ = ["LayeredLogConfigs", "log_config_source"]
