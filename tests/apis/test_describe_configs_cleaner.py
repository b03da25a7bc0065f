"""The log cleaner's settings in DescribeConfigs, and as the cleaner reads them (CleanerConfig)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.values import ConfigError
from kafkatwist.storage.kraft import RESOURCE_BROKER
from tests.apis.test_describe_configs import (
    BROKER,
    DEFAULT,
    DYN_DEFAULT,
    STATIC,
    TOPIC,
    by_name,
    describe,
)
from tests.brokers import make_broker

#: Kafka 4.0's log.cleaner.* broker configs, with their defaults and whether they are read-only.
KAFKA_CLEANER_CONFIGS = {
    "log.cleaner.backoff.ms": ("15000", False),
    "log.cleaner.dedupe.buffer.size": ("134217728", False),
    "log.cleaner.delete.retention.ms": ("86400000", False),
    "log.cleaner.enable": ("true", True),
    "log.cleaner.io.buffer.load.factor": ("0.9", False),
    "log.cleaner.io.buffer.size": ("524288", False),
    "log.cleaner.io.max.bytes.per.second": ("1.7976931348623157E308", False),
    "log.cleaner.max.compaction.lag.ms": ("9223372036854775807", False),
    "log.cleaner.min.cleanable.ratio": ("0.5", False),
    "log.cleaner.min.compaction.lag.ms": ("0", False),
    "log.cleaner.threads": ("1", False),
}


class CleanerDescribeConfigsTests(SynchronousTestCase):
    """DescribeConfigs reports every log.cleaner.* setting with its source."""

    def test_defaults(self) -> None:
        """Every Kafka cleaner key is listed with Kafka's default, source and read-only flag."""
        entries = by_name(describe(make_broker(), [(BROKER, "1", None)]).results[0])
        got = {
            name: (entries[name].value, entries[name].read_only)
            for name in entries
            if name.startswith("log.cleaner.")
        }
        self.assertEqual(got, KAFKA_CLEANER_CONFIGS)
        self.assertEqual({entries[n].config_source for n in got}, {DEFAULT})

    def test_static_and_dynamic_sources(self) -> None:
        """server.properties values are STATIC; a cluster-wide update is DYNAMIC_DEFAULT."""
        config = BrokerConfig.from_properties(
            {"log.cleaner.threads": "2", "log.cleaner.backoff.ms": "500"}
        )
        broker = make_broker(config=config)
        self.successResultOf(
            broker.controller.set_configs(RESOURCE_BROKER, "", {"log.cleaner.backoff.ms": "250"})
        )
        entries = by_name(describe(broker, [(BROKER, "1", None)]).results[0])
        threads, backoff = entries["log.cleaner.threads"], entries["log.cleaner.backoff.ms"]
        self.assertEqual((threads.value, threads.config_source), ("2", STATIC))
        self.assertEqual((backoff.value, backoff.config_source), ("250", DYN_DEFAULT))
        # The cleaner reads the same layers at each round.
        settings = CleanerConfig.from_layers(broker.configs.layers())
        self.assertEqual((settings.threads, settings.backoff_ms), (2, 250))
        self.assertEqual(settings.dedupe_buffer_per_thread, 134217728 // 2)

    def test_topic_cleaner_configs(self) -> None:
        """A compacted topic's cleaner settings reach its LogConfig."""
        broker = make_broker()
        configs = {
            "cleanup.policy": "compact,delete",
            "min.cleanable.dirty.ratio": "0.01",
            "min.compaction.lag.ms": "1000",
            "max.compaction.lag.ms": "60000",
            "delete.retention.ms": "0",
        }
        self.successResultOf(broker.controller.create_topic("t", 1, configs=configs))
        entries = by_name(describe(broker, [(TOPIC, "t", list(configs))]).results[0])
        self.assertEqual({n: e.value for n, e in entries.items()}, configs)
        log = broker.configs.log_config("t")
        self.assertEqual(
            (
                log.compacts,
                log.deletes,
                log.min_cleanable_dirty_ratio,
                log.min_compaction_lag_ms,
                log.max_compaction_lag_ms,
                log.delete_retention_ms,
            ),
            (True, True, 0.01, 1000, 60000, 0),
        )

    def test_dedupe_buffer_per_thread_check(self) -> None:
        """Kafka refuses less than 1 MiB of dedupe buffer per cleaner thread at start-up."""
        with self.assertRaises(ConfigError) as raised:
            BrokerConfig.from_properties(
                {"log.cleaner.threads": "4", "log.cleaner.dedupe.buffer.size": str(4 << 20)}
            )
        self.assertIn("at least 1MB per cleaner thread", str(raised.exception))
        BrokerConfig.from_properties(
            {"log.cleaner.threads": "0", "log.cleaner.dedupe.buffer.size": "0"}
        )

    def test_offsets_topic_segment_bytes(self) -> None:
        """__consumer_offsets is created compacted, with offsets.topic.segment.bytes segments."""
        config = BrokerConfig.from_properties({"offsets.topic.segment.bytes": "1048576"})
        broker = make_broker(config=config)
        topic = self.successResultOf(broker.groups.ensure_offsets_topic())
        log_config = broker.configs.log_config(topic.name)
        self.assertEqual(
            (log_config.cleanup_policy, log_config.segment_bytes), ("compact", 1048576)
        )
