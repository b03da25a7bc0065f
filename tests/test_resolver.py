"""Tests for kafkatwist.config.resolver: one value per config, wherever it is read."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import describe_configs
from kafkatwist.broker import Broker
from kafkatwist.config.log_config import LogConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.messages import metadata_records as mr
from kafkatwist.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResource
from kafkatwist.storage.kraft import RESOURCE_BROKER, RESOURCE_TOPIC
from tests.brokers import call, make_broker

TOPIC_SOURCE, DYNAMIC_DEFAULT, STATIC, DEFAULT = 1, 3, 4, 5


def described(test: SynchronousTestCase, broker: Broker, topic: str) -> dict[str, tuple[str, int]]:
    """DescribeConfigs' (value, source) of every config of C{topic}."""
    request = DescribeConfigsRequest(
        resources=(DescribeConfigsResource(RESOURCE_TOPIC, topic, None),),
        include_synonyms=False,
        include_documentation=False,
    )
    response = test.successResultOf(call(broker, describe_configs.SPEC, request, 4))
    return {c.name: (c.value, c.config_source) for c in response.results[0].configs}


class DescribeAndLogAgreeTests(SynchronousTestCase):
    """DescribeConfigs and the partition logs read the same resolved value."""

    def broker_with_topic(self, props: dict[str, str]) -> Broker:
        broker = make_broker(config=BrokerConfig.from_properties(props))
        self.successResultOf(broker.controller.create_topic("t", 1))
        return broker

    def open_log_config(self, broker: Broker) -> LogConfig:
        topic = broker.metadata.image.topics["t"]
        log = broker.partitions.partition_log(topic, 0)
        assert log is not None
        return log.config

    def test_flush_scheduler_interval(self) -> None:
        """log.flush.scheduler.interval.ms alone is flush.ms both in DescribeConfigs and the log."""
        broker = self.broker_with_topic({"log.flush.scheduler.interval.ms": "1000"})
        # Kafka's synonym list starts at log.flush.interval.ms, so the source is DEFAULT_CONFIG.
        self.assertEqual(described(self, broker, "t")["flush.ms"], ("1000", DEFAULT))
        self.assertEqual(broker.configs.log_config("t").flush_ms, 1000)
        self.assertEqual(self.open_log_config(broker).flush_ms, 1000)

    def test_flush_interval_beats_scheduler_interval(self) -> None:
        """log.flush.interval.ms, when set, is flush.ms everywhere."""
        broker = self.broker_with_topic(
            {"log.flush.scheduler.interval.ms": "1000", "log.flush.interval.ms": "7"}
        )
        self.assertEqual(described(self, broker, "t")["flush.ms"], ("7", STATIC))
        self.assertEqual(self.open_log_config(broker).flush_ms, 7)

    def test_dynamic_default_reaches_open_logs(self) -> None:
        """A dynamic cluster default is described and pushed to the topic's open logs."""
        broker = self.broker_with_topic({})
        self.open_log_config(broker)
        self.successResultOf(
            broker.controller.set_configs(
                RESOURCE_BROKER, "", {"log.retention.ms": "5000", "compression.type": "zstd"}
            )
        )
        broker.configs.push_all_log_configs(broker.logs)
        self.assertEqual(described(self, broker, "t")["retention.ms"], ("5000", DYNAMIC_DEFAULT))
        config = self.open_log_config(broker)
        self.assertEqual((config.retention_ms, config.compression_type), (5000, "zstd"))

    def test_topic_override_reaches_open_logs(self) -> None:
        """A topic override is described and pushed to the topic's open logs."""
        broker = self.broker_with_topic({"log.retention.hours": "1"})
        self.assertEqual(self.open_log_config(broker).retention_ms, 3600000)
        self.successResultOf(
            broker.controller.set_configs(RESOURCE_TOPIC, "t", {"retention.ms": "9"})
        )
        broker.configs.push_log_config(broker.logs, "t")
        self.assertEqual(described(self, broker, "t")["retention.ms"], ("9", TOPIC_SOURCE))
        self.assertEqual(self.open_log_config(broker).retention_ms, 9)

    def test_config_records_from_any_writer_reach_open_logs(self) -> None:
        """ConfigRecords appended to the metadata log by anyone (another broker) reach open logs."""
        broker = self.broker_with_topic({})
        self.successResultOf(
            broker.metadata.append([mr.ConfigRecord(RESOURCE_TOPIC, "t", "retention.ms", "77")])
        )
        self.assertEqual(self.open_log_config(broker).retention_ms, 77)
        self.successResultOf(
            broker.metadata.append(
                [mr.ConfigRecord(RESOURCE_BROKER, "", "log.segment.bytes", "123456")]
            )
        )
        self.assertEqual(self.open_log_config(broker).segment_bytes, 123456)

    def test_unusable_stored_override_falls_back(self) -> None:
        """A stored override a log cannot use gives the broker-wide settings, with a warning."""
        broker = self.broker_with_topic({"log.segment.bytes": "5000"})
        self.successResultOf(
            broker.controller.set_configs(RESOURCE_TOPIC, "t", {"segment.bytes": "x"})
        )
        self.assertEqual(broker.configs.log_config("t").segment_bytes, 5000)


class GroupKeysTests(SynchronousTestCase):
    """The group coordinator's keys are parsed once and never reported as unknown."""

    def test_offset_metadata_max_bytes(self) -> None:
        """offset.metadata.max.bytes (and the old offsets.* spelling) is typed and used."""
        for key in ("offset.metadata.max.bytes", "offsets.metadata.max.bytes"):
            with self.subTest(key=key):
                config = BrokerConfig.from_properties({key: "10"})
                self.assertEqual(config.offset_metadata_max_bytes, 10)
                self.assertEqual((config.unknown_keys, config.unused_keys), ((), ()))

    def test_every_used_key_feeds_a_field(self) -> None:
        """A key is only logged as used when BrokerConfig or LogConfig reads its value."""
        config = BrokerConfig.from_properties({"transaction.state.log.min.isr": "5"})
        self.assertEqual(config.unused_keys, ("transaction.state.log.min.isr",))
