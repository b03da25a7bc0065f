"""The quota window configs: broker configs DescribeConfigs shows, and what the sensors use."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.values import ConfigError
from kafkatwist.quotas.rate import QuotaWindow
from tests.apis.test_describe_configs import BROKER, DEFAULT, STATIC, by_name, describe
from tests.brokers import make_broker

INT = 3


class QuotaWindowConfigTests(SynchronousTestCase):
    """C{quota.window.num} and C{quota.window.size.seconds} (Kafka's QuotaConfig)."""

    def test_described_with_kafka_defaults(self) -> None:
        """Both are read-only INT broker configs with Kafka's defaults, 11 and 1."""
        entries = by_name(describe(make_broker(), [(BROKER, "1", None)]).results[0])
        for name, value in (("quota.window.num", "11"), ("quota.window.size.seconds", "1")):
            entry = entries[name]
            self.assertEqual(
                (entry.value, entry.read_only, entry.config_source, entry.config_type),
                (value, True, DEFAULT, INT),
            )
        self.assertEqual(make_broker().quotas.window, QuotaWindow(samples=11, window_ms=1000))

    def test_set_in_server_properties(self) -> None:
        """Values from server.properties are static configs and size the sensors' windows."""
        config = BrokerConfig.from_properties(
            {"quota.window.num": "5", "quota.window.size.seconds": "2"}
        )
        broker = make_broker(config=config)
        entries = by_name(describe(broker, [(BROKER, "1", None)]).results[0])
        self.assertEqual(
            (entries["quota.window.num"].value, entries["quota.window.num"].config_source),
            ("5", STATIC),
        )
        self.assertEqual(broker.quotas.window, QuotaWindow(samples=5, window_ms=2000))

    def test_at_least_one(self) -> None:
        """0 windows is refused at start, as Kafka's atLeast(1)."""
        with self.assertRaises(ConfigError) as raised:
            BrokerConfig.from_properties({"quota.window.num": "0"})
        self.assertIn("quota.window.num", str(raised.exception))
