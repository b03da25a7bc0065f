"""Tests for L{BrokerConfig}: defaults, malformed values, overrides and the key catalogue."""

from __future__ import annotations

import operator

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.java_properties import parse_properties
from kafkatwist.config.log_config import LogConfig
from kafkatwist.config.properties import (
    LONG_MAX,
    BrokerConfig,
    ConfigError,
    Listener,
)
from kafkatwist.config.resolver import broker_layers

# The server.properties the CodeCrafters tester passes (comments trimmed).
CODECRAFTERS_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=/tmp/kraft-combined-logs
"""


def log_config(props: dict[str, str]) -> LogConfig:
    """The settings a topic without overrides gets under these validated properties."""
    return broker_layers(BrokerConfig.from_properties(props), {}).log_config({})


class BrokerConfigDefaultsTests(SynchronousTestCase):
    """Tests for the defaults of L{BrokerConfig.from_properties}."""

    def test_empty_file(self) -> None:
        """An empty file gives Kafka's defaults."""
        config = BrokerConfig.from_properties(parse_properties(""))
        self.assertEqual(config, BrokerConfig())
        self.assertEqual(config.listeners, (Listener("PLAINTEXT", "", 9092),))
        self.assertEqual(config.advertised_listeners, config.listeners)
        self.assertEqual(config.controller_listener_names, ())
        self.assertEqual(config.log_dirs, ("/tmp/kraft-combined-logs",))
        self.assertEqual(config.node_id, 1)
        self.assertEqual(config.num_partitions, 1)
        self.assertEqual(config.default_replication_factor, 1)
        self.assertIs(config.auto_create_topics_enable, True)
        self.assertIs(config.delete_topic_enable, True)
        self.assertEqual(config.socket_request_max_bytes, 104857600)
        self.assertEqual(config.log_retention_check_interval_ms, 300000)
        self.assertEqual(config.offsets_topic_num_partitions, 50)
        self.assertEqual(config.offsets_retention_minutes, 10080)
        self.assertEqual(config.offsets_retention_check_interval_ms, 600000)
        self.assertEqual(config.offset_metadata_max_bytes, 4096)
        self.assertEqual(config.group_min_session_timeout_ms, 6000)
        self.assertEqual(config.group_max_session_timeout_ms, 1800000)
        self.assertEqual(config.group_initial_rebalance_delay_ms, 3000)
        self.assertEqual(config.group_max_size, 2147483647)
        self.assertEqual(config.num_recovery_threads_per_data_dir, 1)
        # Settings no BrokerConfig field holds: the static layer resolves them.
        layers = broker_layers(config, {})
        self.assertEqual(layers.broker_value("process.roles"), "")
        self.assertEqual(layers.broker_value("security.inter.broker.protocol"), "PLAINTEXT")
        self.assertEqual(layers.broker_value("offsets.topic.replication.factor"), "3")
        self.assertEqual(layers.broker_value("transaction.state.log.num.partitions"), "50")
        self.assertEqual(layers.topic_values({})["min.insync.replicas"], "1")
        log = layers.log_config({})
        self.assertEqual(log.max_message_bytes, 1048588)
        self.assertEqual(log.segment_bytes, 1073741824)
        self.assertEqual(log.segment_ms, 168 * 3600 * 1000)
        self.assertEqual(log.retention_ms, 168 * 3600 * 1000)
        self.assertEqual(log.retention_bytes, -1)
        self.assertEqual(log.flush_messages, 9223372036854775807)
        self.assertEqual(log.flush_ms, LONG_MAX)
        self.assertEqual(log.index_interval_bytes, 4096)
        self.assertEqual(log.segment_index_bytes, 10485760)
        self.assertEqual(log.cleanup_policy, "delete")
        self.assertEqual(log.message_timestamp_type, "CreateTime")
        self.assertEqual(log.compression_type, "producer")
        self.assertEqual(dict(config.properties), {})

    def test_codecrafters_file(self) -> None:
        """The tester's file gives a PLAINTEXT listener on 9092 and the KRaft log dir."""
        config = BrokerConfig.from_properties(parse_properties(CODECRAFTERS_PROPERTIES))
        self.assertEqual(config.controller_listener_names, ("CONTROLLER",))
        self.assertEqual(
            broker_layers(config, {}).broker_value("process.roles"), "broker,controller"
        )
        self.assertEqual(config.advertised_listeners, (Listener("PLAINTEXT", "", 9092),))
        self.assertEqual(config.listen_endpoint(), "tcp:9092:interface=0.0.0.0")
        self.assertEqual(config.advertised_address(), (None, 9092))
        self.assertEqual(config.properties["controller.quorum.voters"], "1@localhost:9093")

    def test_values_are_trimmed(self) -> None:
        """Surrounding whitespace in values is ignored, as Kafka's ConfigDef trims."""
        config = BrokerConfig.from_properties(
            {"num.partitions": " 3 ", "delete.topic.enable": "FALSE  ", "log.dirs": " /a , /b "}
        )
        self.assertEqual(config.num_partitions, 3)
        self.assertIs(config.delete_topic_enable, False)
        self.assertEqual(config.log_dirs, ("/a", "/b"))

    def test_log_dir_fallback(self) -> None:
        """C{log.dir} is used when C{log.dirs} is absent, and C{log.dirs} wins when both are set."""
        self.assertEqual(BrokerConfig.from_properties({"log.dir": "/x"}).log_dirs, ("/x",))
        config = BrokerConfig.from_properties({"log.dir": "/x", "log.dirs": "/y,/z"})
        self.assertEqual(config.log_dirs, ("/y", "/z"))

    def test_broker_id_synonym(self) -> None:
        """C{broker.id} sets the node id; a conflicting C{node.id} raises ConfigError."""
        self.assertEqual(BrokerConfig.from_properties({"broker.id": "7"}).node_id, 7)
        self.assertEqual(
            BrokerConfig.from_properties({"broker.id": "7", "node.id": "7"}).node_id, 7
        )
        error = self.assertRaises(
            ConfigError, BrokerConfig.from_properties, {"broker.id": "7", "node.id": "8"}
        )
        self.assertEqual(error.key, "broker.id")

    def test_retention_precedence(self) -> None:
        """C{log.retention.ms} beats C{.minutes}, which beats C{.hours}."""

        def retention(props: dict[str, str]) -> int:
            return log_config(props).retention_ms

        self.assertEqual(retention({"log.retention.hours": "1"}), 3600000)
        self.assertEqual(
            retention({"log.retention.hours": "1", "log.retention.minutes": "2"}), 120000
        )
        self.assertEqual(
            retention(
                {
                    "log.retention.hours": "1",
                    "log.retention.minutes": "2",
                    "log.retention.ms": "5",
                }
            ),
            5,
        )

    def test_retention_unlimited(self) -> None:
        """Any negative retention time means unlimited, reported as -1."""
        self.assertEqual(log_config({"log.retention.ms": "-1"}).retention_ms, -1)
        self.assertEqual(log_config({"log.retention.hours": "-5"}).retention_ms, -1)
        self.assertEqual(log_config({"log.retention.ms": "-5"}).retention_ms, -1)

    def test_roll_precedence(self) -> None:
        """C{log.roll.ms} beats C{log.roll.hours}."""
        self.assertEqual(log_config({"log.roll.hours": "2"}).segment_ms, 7200000)
        self.assertEqual(log_config({"log.roll.hours": "2", "log.roll.ms": "9"}).segment_ms, 9)

    def test_typed_values(self) -> None:
        """Set values are parsed into their types."""
        config = BrokerConfig.from_properties(
            {
                "log.cleanup.policy": "compact,delete",
                "log.message.timestamp.type": "LogAppendTime",
                "compression.type": "zstd",
                "log.flush.interval.ms": "1000",
                "log.flush.interval.messages": "1",
                "auto.create.topics.enable": "false",
                "inter.broker.listener.name": "internal",
            }
        )
        log = broker_layers(config, {}).log_config({})
        self.assertEqual(log.cleanup_policy, "compact,delete")
        self.assertEqual(log.message_timestamp_type, "LogAppendTime")
        self.assertEqual(log.compression_type, "zstd")
        self.assertEqual(log.flush_ms, 1000)
        self.assertEqual(log.flush_messages, 1)
        self.assertIs(config.auto_create_topics_enable, False)
        self.assertEqual(
            broker_layers(config, {}).broker_value("inter.broker.listener.name"), "internal"
        )

    def test_config_is_frozen(self) -> None:
        """Neither the config nor its raw properties can be changed."""
        config = BrokerConfig.from_properties({"num.partitions": "2"})
        self.assertRaises(AttributeError, setattr, config, "num_partitions", 3)
        self.assertRaises(TypeError, operator.setitem, config.properties, "num.partitions", "3")


class BrokerConfigErrorTests(SynchronousTestCase):
    """Every malformed value raises a ConfigError naming its key."""

    BAD_VALUES = [
        ("num.partitions", "abc"),
        ("num.partitions", "0"),
        ("num.partitions", "1.5"),
        ("num.partitions", "1_000"),
        ("num.partitions", "2147483648"),
        ("node.id", "-1"),
        ("broker.id", "x"),
        ("default.replication.factor", "0"),
        ("auto.create.topics.enable", "yes"),
        ("delete.topic.enable", "1"),
        ("socket.request.max.bytes", "0"),
        ("message.max.bytes", "-1"),
        ("log.segment.bytes", "10"),
        ("log.roll.ms", "0"),
        ("log.roll.hours", "0"),
        ("log.retention.ms", "forever"),
        ("log.retention.minutes", "9999999999"),
        ("log.retention.hours", "x"),
        ("log.retention.bytes", "9223372036854775808"),
        ("log.retention.check.interval.ms", "0"),
        ("log.flush.interval.messages", "0"),
        ("log.flush.interval.ms", "-1"),
        ("log.flush.scheduler.interval.ms", "soon"),
        ("log.index.interval.bytes", "-1"),
        ("log.index.size.max.bytes", "3"),
        ("log.cleanup.policy", "shred"),
        ("log.cleanup.policy", "delete,,compact"),
        ("log.message.timestamp.type", "createtime"),
        ("compression.type", "brotli"),
        ("min.insync.replicas", "0"),
        ("offsets.topic.num.partitions", "0"),
        ("offsets.topic.replication.factor", "0"),
        ("offsets.retention.minutes", "0"),
        ("offsets.retention.check.interval.ms", "0"),
        ("group.min.session.timeout.ms", "-1"),
        ("group.max.session.timeout.ms", "x"),
        ("group.initial.rebalance.delay.ms", "-1"),
        ("group.max.size", "0"),
        ("transaction.state.log.num.partitions", "0"),
        ("num.recovery.threads.per.data.dir", "0"),
        ("process.roles", "broker,leader"),
        ("log.dirs", ""),
        ("log.dirs", "/a,/a"),
        ("log.dir", " "),
        ("listeners", "PLAINTEXT:9092"),
        ("advertised.listeners", "PLAINTEXT://0.0.0.0:9092"),
        ("advertised.listeners", "PLAINTEXT//host:9092"),
    ]

    def test_each_bad_value_names_its_key(self) -> None:
        """Each malformed value raises ConfigError whose key, value and message name it."""
        for key, value in self.BAD_VALUES:
            with self.subTest(key=key, value=value):
                error = self.assertRaises(ConfigError, BrokerConfig.from_properties, {key: value})
                self.assertEqual(error.key, key)
                self.assertEqual(error.value, value)
                self.assertIn(key, str(error))
                self.assertTrue(error.reason)

    def test_only_controller_listeners(self) -> None:
        """Listeners that are all controller listeners raise ConfigError on C{listeners}."""
        error = self.assertRaises(
            ConfigError,
            BrokerConfig.from_properties,
            {"listeners": "CONTROLLER://:9093", "controller.listener.names": "CONTROLLER"},
        )
        self.assertEqual(error.key, "listeners")

    def test_message_wording(self) -> None:
        """The message follows Kafka's C{Invalid value X for configuration Y: Z} wording."""
        error = ConfigError("num.partitions", "x", "expected an integer")
        self.assertEqual(
            str(error), "Invalid value 'x' for configuration num.partitions: expected an integer"
        )


class OverrideTests(SynchronousTestCase):
    """Tests for the C{overrides} argument of L{BrokerConfig.from_properties}."""

    def test_overrides_win(self) -> None:
        """An override replaces the file's value and shows in C{properties}."""
        config = BrokerConfig.from_properties(
            {"log.dirs": "/file", "num.partitions": "2"}, overrides={"log.dirs": "/cli"}
        )
        self.assertEqual(config.log_dirs, ("/cli",))
        self.assertEqual(config.num_partitions, 2)
        self.assertEqual(config.properties["log.dirs"], "/cli")

    def test_override_replaces_synonyms(self) -> None:
        """Overriding one key of a synonym group discards the file's other members."""
        config = BrokerConfig.from_properties(
            {"broker.id": "3", "log.dir": "/old", "log.retention.ms": "5"},
            overrides={"node.id": "4", "log.dirs": "/new", "log.retention.hours": "1"},
        )
        self.assertEqual(config.node_id, 4)
        self.assertEqual(config.log_dirs, ("/new",))
        self.assertEqual(broker_layers(config, {}).log_config({}).retention_ms, 3600000)
        self.assertNotIn("broker.id", config.properties)

    def test_bad_override_names_key(self) -> None:
        """A malformed override raises ConfigError naming its key."""
        error = self.assertRaises(
            ConfigError, BrokerConfig.from_properties, {}, overrides={"node.id": "one"}
        )
        self.assertEqual(error.key, "node.id")


class KeyCatalogueTests(SynchronousTestCase):
    """Tests for L{BrokerConfig.unused_keys} and L{BrokerConfig.unknown_keys}."""

    def test_classification(self) -> None:
        """Kafka keys kafkatwist ignores and keys nobody knows are listed apart, sorted."""
        config = BrokerConfig.from_properties(
            {
                "num.partitions": "1",
                "num.network.threads": "3",
                "controller.quorum.voters": "1@localhost:9093",
                "transaction.state.log.replication.factor": "1",
                "transaction.state.log.num.partitions": "5",
                "ssl.keymanager.algorithm": "SunX509",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT",
                "log.retention.hour": "1",
                "my.own.setting": "x",
            }
        )
        self.assertEqual(
            config.unused_keys,
            (
                "controller.quorum.voters",
                "num.network.threads",
                "ssl.keymanager.algorithm",
                "transaction.state.log.replication.factor",
            ),
        )
        self.assertEqual(config.unknown_keys, ("log.retention.hour", "my.own.setting"))

    def test_codecrafters_file_has_no_unknown_keys(self) -> None:
        """Every key of the tester's file is a Kafka key."""
        config = BrokerConfig.from_properties(parse_properties(CODECRAFTERS_PROPERTIES))
        self.assertEqual(config.unknown_keys, ())
        self.assertEqual(
            config.unused_keys,
            ("controller.quorum.voters", "process.roles"),
        )
