"""ConfigResolver: every config value from its layers, as typed objects for the services.

Kafka's C{DynamicBrokerConfig} and C{LogManager.updateTopicConfig} in one
place. A broker config comes from four layers, highest first: the
per-broker dynamic configs (ConfigRecords of resource BROKER named by the
node id), the cluster-wide dynamic defaults (resource BROKER with an empty
name), C{server.properties} (the static L{BrokerConfig}) and Kafka's
defaults. A topic config is the topic's override, else its broker
synonyms' value (L{kafkatwist.config.layers.ConfigLayers.topic_default}).

The dynamic layers and topic overrides are read from the metadata store
each time, so the answer is always the current one; when they change, the
resolver pushes each affected topic's new L{LogConfig} to the log manager.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen
from twisted.logger import Logger

from kafkatwist.config.layers import ConfigLayers
from kafkatwist.config.log_config import LogConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore
from kafkatwist.storage.kraft import RESOURCE_BROKER, RESOURCE_TOPIC

__all__ = ["ConfigResolver", "broker_layers"]


def broker_layers(
    static: BrokerConfig, dynamic: Mapping[tuple[int, str], Mapping[str, str]]
) -> ConfigLayers:
    """
    The layers of C{static} under the dynamic configs C{dynamic} (the
    metadata image's, by (resource type, resource name)).
    """
    node_id = str(static.node_id)
    return ConfigLayers(
        node_id=static.node_id,
        per_broker=dict(dynamic.get((RESOURCE_BROKER, node_id), {})),
        cluster_default=dict(dynamic.get((RESOURCE_BROKER, ""), {})),
        static={key: value.strip() for key, value in static.properties.items()},
        # kafkatwist's defaults where they are not Kafka's.
        defaults={
            "node.id": node_id,
            "broker.id": node_id,
            "log.dirs": ",".join(static.log_dirs),
            "num.recovery.threads.per.data.dir": str(static.num_recovery_threads_per_data_dir),
            "queued.max.request.bytes": str(static.queued_max_request_bytes),
        },
    )


@frozen
class ConfigResolver:
    """
    The broker's configuration: static settings, dynamic configs and topic overrides.

    @ivar static: the validated C{server.properties} (with command-line overrides).
    """

    static: BrokerConfig
    _metadata: IMetadataStore

    _log = Logger()

    def layers(self) -> ConfigLayers:
        """The four broker layers as they are now (for one request)."""
        return broker_layers(self.static, self._metadata.image.configs)

    def topic_values(self, topic: str) -> dict[str, str]:
        """Every topic config's effective value for C{topic} (DescribeConfigs' values)."""
        return self.layers().topic_values(self._metadata.topic_configs(topic))

    def log_config(self, topic: str) -> LogConfig:
        """
        The storage settings C{topic}'s partition logs apply.

        A stored override a log cannot use (written by another tool) is
        logged and the topic gets the broker-wide settings instead.
        """
        layers = self.layers()
        try:
            return layers.log_config(self._metadata.topic_configs(topic))
        except KafkaError as e:
            self._log.warn(
                "Invalid config for topic {topic}: {error}", topic=topic, error=e.message
            )
            return layers.log_config({})

    def push_log_config(self, logs: ILogManager, topic: str) -> None:
        """Give C{topic}'s open partition logs its current L{LogConfig} (after a change)."""
        logs.update_config(topic, self.log_config(topic))

    def records_applied(self, logs: ILogManager, records: Sequence[Any]) -> None:
        """
        Push the log configs the ConfigRecords among C{records} changed (a metadata subscriber).

        Whoever wrote them: with a shared metadata log, another broker's
        AlterConfigs reaches the logs this broker leads here.
        """
        topics: set[str] = set()
        for record in records:
            if not isinstance(record, mr.ConfigRecord):
                continue
            if record.resource_type == RESOURCE_TOPIC:
                topics.add(record.resource_name)
            elif record.resource_type == RESOURCE_BROKER and record.resource_name in (
                "",
                str(self.static.node_id),
            ):
                self.push_all_log_configs(logs)
                return
        for topic in sorted(topics & self._metadata.image.topics.keys()):
            self.push_log_config(logs, topic)

    def push_all_log_configs(self, logs: ILogManager) -> None:
        """Give every topic's open partition logs its current L{LogConfig} (broker change)."""
        for topic in list(self._metadata.image.topics):
            self.push_log_config(logs, topic)
