"""Broker: the state every handler shares (config, clock, metadata, logs)."""

from __future__ import annotations

from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import KafkaError
from kafkatwist.producers.state import ProducerStateError, ProducerStateTable
from kafkatwist.storage.kraft import TopicState, write_partition_metadata
from kafkatwist.storage.results import AppendInfo
from kafkatwist.wire.recompress import convert_for_topic
from kafkatwist.wire.records import RecordsError


@define
class Broker:
    """
    The broker's collaborators, built by L{kafkatwist.transport.service.BrokerService}.

    C{metadata} is the KRaft metadata store (its C{image} is read
    synchronously: it is in memory), C{logs} the partition log manager.
    """

    config: Any
    #: An IReactorTime: the injected clock.
    clock: Any
    node_id: int = 1
    cluster_id: str = ""
    #: The advertised host, or None to use the address the client connected to.
    advertised_host: str | None = None
    advertised_port: int = 9092
    metadata: Any = None
    logs: Any = None
    #: Optional collaborators added by later subsystems (producer state, groups...).
    extras: dict[str, Any] = field(factory=dict)
    #: Producer state of partitions whose log keeps none itself (memory logs),
    #: by (topic id, partition): a re-created topic starts afresh.
    producer_states: dict[tuple[Any, int], ProducerStateTable] = field(factory=dict)

    _log = Logger()

    def now_ms(self) -> int:
        """The injected clock's time, in milliseconds."""
        return int(self.clock.seconds() * 1000)

    def partition_log(self, topic: TopicState, partition: int) -> Any:
        """
        The log of one partition the metadata knows, opened or created on demand.

        Like a Kafka broker that becomes leader of a partition from the
        metadata image, the log directory is created when it is first needed.
        """
        if partition not in topic.partitions:
            return None
        log = self.logs.get(topic.name, partition)
        if log is None:
            log = self.logs.create(topic.name, partition, self.log_config(topic))
            if log.directory:
                write_partition_metadata(log.directory, topic.topic_id)
        return log

    def log_config(self, topic: TopicState | None) -> LogConfig:
        """
        The storage settings of C{topic}'s partition logs: the broker defaults plus its overrides.

        Invalid overrides are logged and the broker defaults apply instead.
        """
        defaults = LogConfig.from_broker_properties(dict(self.config.properties))
        if topic is None:
            return defaults
        try:
            return LogConfig.from_topic_configs(defaults, self.log_overrides(topic))
        except KafkaError as e:
            self._log.warn("Invalid config for topic {topic}: {error}", topic=topic.name, error=e)
            return defaults

    def log_overrides(self, topic: TopicState) -> dict[str, str]:
        """
        The topic configs a partition log applies over the static configuration.

        The topic's overrides, plus the topic configs whose value a dynamic
        broker config (AlterConfigs on a BROKER resource) changes.
        """
        from kafkatwist.config.layers import ConfigLayers

        return ConfigLayers.of(self).log_overrides(topic.configs)

    def topic_configs_changed(self, name: str) -> None:
        """
        Apply a topic's new configs to its open partition logs.

        Called once the metadata image holds the change (the ConfigRecords
        are written): the log manager's C{update_config(topic, config)}
        gives each open log of the topic its new L{LogConfig}.
        """
        topic = self.metadata.image.topics.get(name)
        if topic is not None:
            self.logs.update_config(name, self.log_config(topic))

    def broker_configs_changed(self) -> None:
        """Apply changed dynamic broker configs to every topic's open logs."""
        for name in list(self.metadata.image.topics):
            self.topic_configs_changed(name)

    def producer_state(self, topic: TopicState, partition: int, log: Any) -> ProducerStateTable:
        """
        The producer state of a partition.

        A log that keeps its own (the file engine: loaded from snapshots and
        updated by the log per batch as it assigns offsets) exposes it as
        C{log.producer_state}; otherwise the broker keeps one.
        """
        state: ProducerStateTable | None = getattr(log, "producer_state", None)
        if state is None:
            key = (topic.topic_id, partition)
            state = self.producer_states.get(key)
            if state is None:
                state = self.producer_states[key] = ProducerStateTable()
        return state

    def append(
        self, topic: TopicState, partition: int, log: Any, records: Any, batches: Any
    ) -> Deferred[Any]:
        """
        Append validated batches to a partition log at its current leader epoch.

        Batches with a producer id are first checked against the producer
        state: a refusal fails with its KafkaError and appends nothing, and
        a duplicate of a retained batch appends nothing and answers with the
        original batch's offsets (Kafka's C{UnifiedLog.append}). Then batches
        are recompressed if the topic's C{compression.type} asks for it.
        """
        epoch = topic.partitions[partition].leader_epoch
        state = None
        if any(header.producer_id >= 0 for _, header in batches):
            state = self.producer_state(topic, partition, log)
            try:
                duplicate = state.check_append(
                    [header for _, header in batches],
                    next_offset=log.log_end_offset,
                    partition=f"{topic.name}-{partition}",
                )
            except ProducerStateError as e:
                return fail(KafkaError(e.code, e.message))
            if duplicate is not None:
                return succeed(
                    AppendInfo(
                        base_offset=duplicate.first_offset,
                        last_offset=duplicate.last_offset,
                        log_append_time_ms=duplicate.timestamp,
                        log_start_offset=log.log_start_offset,
                    )
                )
        compression = str(
            topic.configs.get("compression.type")
            or getattr(self.config, "compression_type", "producer")
        )
        if compression != "producer":
            try:
                converted = convert_for_topic(
                    records, batches, compression, max_batch_bytes=log.config.max_message_bytes
                )
            except RecordsError as e:
                return fail(KafkaError(e.code, e.message))
            if converted is not None:
                records, batches = converted
        d = log.append(records, batches, leader_epoch=max(epoch, 0), now_ms=self.now_ms())
        if state is not None and getattr(log, "producer_state", None) is None:
            headers = [header for _, header in batches]

            def record(info: Any) -> Any:
                state.on_batches_appended(headers, info.base_offset, info.log_append_time_ms)
                return info

            d.addCallback(record)
        return d

    def host_for(self, local_host: str | None) -> str:
        """The host to advertise to a client connected through C{local_host}."""
        if self.advertised_host:
            return self.advertised_host
        if local_host and local_host not in ("0.0.0.0", "::"):
            return local_host
        return "localhost"
