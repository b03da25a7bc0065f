"""Tests for LogConfig: Kafka's defaults, topic overrides and broker properties."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LONG_MAX, LogConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import broker_layers
from kafkatwist.errors import ErrorCode, KafkaError


class ConfigTests(SynchronousTestCase):
    """LogConfig from Kafka's config names."""

    def test_defaults(self) -> None:
        """The defaults are Kafka's."""
        config = LogConfig()
        self.assertEqual(
            (config.segment_bytes, config.segment_ms, config.retention_ms, config.flush_messages),
            (1073741824, 604800000, 604800000, LONG_MAX),
        )

    def test_topic_overrides(self) -> None:
        """Topic configs override the defaults by Kafka name; other names are ignored."""
        config = LogConfig.from_topic_configs(
            LogConfig(),
            {
                "segment.bytes": "1048576",
                "retention.ms": "-1",
                "flush.messages": "1",
                "message.timestamp.type": "LogAppendTime",
                "cleanup.policy": "compact,delete",
                "min.insync.replicas": "2",
            },
        )
        self.assertEqual(config.segment_bytes, 1048576)
        self.assertEqual((config.retention_ms, config.flush_messages), (-1, 1))
        self.assertTrue(config.log_append_time)
        self.assertTrue(config.deletes)
        self.assertEqual(config.to_topic_configs()["segment.bytes"], "1048576")

    def test_invalid(self) -> None:
        """Values Kafka refuses raise INVALID_CONFIG."""
        for name, value in [
            ("segment.bytes", "abc"),
            ("segment.bytes", "5"),
            ("flush.messages", "0"),
            ("retention.ms", "-2"),
            ("message.timestamp.type", "Now"),
            ("cleanup.policy", "keep"),
        ]:
            error = self.assertRaises(
                KafkaError, LogConfig.from_topic_configs, LogConfig(), {name: value}
            )
            self.assertEqual(error.code, ErrorCode.INVALID_CONFIG)

    def test_broker_properties(self) -> None:
        """server.properties names map onto the defaults; ms beats hours."""

        def from_broker_properties(props: dict[str, str]) -> LogConfig:
            return broker_layers(BrokerConfig.from_properties(props), {}).log_config({})

        config = from_broker_properties(
            {"log.retention.hours": "1", "log.roll.hours": "2", "log.segment.bytes": "2000000"}
        )
        self.assertEqual(
            (config.retention_ms, config.segment_ms, config.segment_bytes),
            (3600000, 7200000, 2000000),
        )
        config = from_broker_properties({"log.retention.ms": "5", "log.retention.hours": "1"})
        self.assertEqual(config.retention_ms, 5)
