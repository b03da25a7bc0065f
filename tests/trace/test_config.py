"""Tests for the trace's keys (L{kafkatwist.config.trace_config}) and twistd's C{--trace}."""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.broker_configs import BROKER_CONFIGS
from kafkatwist.config.properties import BrokerConfig, ConfigError
from kafkatwist.config.trace_config import TRACE_KEYS, TraceConfig
from kafkatwist.transport.tap import Options


class TraceConfigTests(SynchronousTestCase):
    def test_off_by_default(self) -> None:
        """Without the keys: off, everything would be traced, to the Twisted log."""
        self.assertEqual(TraceConfig.from_properties({}), TraceConfig())
        self.assertFalse(TraceConfig().enable)

    def test_values(self) -> None:
        """Each key's value, lists split and API names lower-cased."""
        config = TraceConfig.from_properties(
            {
                "kafkatwist.trace.enable": "true",
                "kafkatwist.trace.apis": "Produce, FETCH,3",
                "kafkatwist.trace.client.ids": "rdkafka,app",
                "kafkatwist.trace.file": "/tmp/trace.jsonl",
                "kafkatwist.trace.max.line.bytes": "4096",
            }
        )
        self.assertEqual(
            config,
            TraceConfig(
                True,
                frozenset({"produce", "fetch", "3"}),
                frozenset({"rdkafka", "app"}),
                "/tmp/trace.jsonl",
                4096,
            ),
        )

    def test_in_the_broker_table(self) -> None:
        """The keys are broker configs (DescribeConfigs shows them), read-only, known."""
        for key in TRACE_KEYS:
            self.assertIsNotNone(BROKER_CONFIGS[key].documentation)
            self.assertTrue(BROKER_CONFIGS[key].read_only)
        config = BrokerConfig.from_properties({"kafkatwist.trace.enable": "true"})
        self.assertEqual((config.unknown_keys, config.unused_keys), ((), ()))

    def test_bad_values_refused(self) -> None:
        """A value that is no boolean, an API that is neither a name nor a key, a tiny cap."""
        for key, value in (
            ("kafkatwist.trace.enable", "yes"),
            ("kafkatwist.trace.apis", "Produce,Fetch-Request"),
            ("kafkatwist.trace.max.line.bytes", "100"),
        ):
            with self.assertRaises(ConfigError) as raised:
                BrokerConfig.from_properties({key: value})
            self.assertEqual(raised.exception.key, key)


class TraceOptionTests(SynchronousTestCase):
    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_trace_flag(self) -> None:
        """C{--trace} turns the trace on."""
        config = self.parse("--trace")["config"]
        self.assertTrue(TraceConfig.from_properties(config.properties).enable)

    def test_without_flag(self) -> None:
        """Without it, the trace stays off."""
        config = self.parse()["config"]
        self.assertFalse(TraceConfig.from_properties(config.properties).enable)

    def test_flag_takes_no_value(self) -> None:
        """C{--trace} is a switch: C{--trace=x} is a usage error."""
        self.assertRaises(usage.UsageError, self.parse, "--trace=x")
