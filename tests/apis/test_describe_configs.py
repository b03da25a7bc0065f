"""DescribeConfigs on the file engine: values, sources, synonyms, errors, versions."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import describe_configs
from kafkatwist.broker import Broker
from kafkatwist.config import broker_configs, topic_config
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.describe_configs import (
    DescribeConfigsRequest,
    DescribeConfigsResource,
    DescribeConfigsResponse,
    DescribeConfigsResult,
)
from kafkatwist.storage.kraft import RESOURCE_BROKER
from kafkatwist.wire import schema
from tests.brokers import call, make_broker

TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS = 2, 4, 8, 16
TOPIC_SRC, DYN_BROKER, DYN_DEFAULT, STATIC, DEFAULT, LOGGER_SRC = 1, 2, 3, 4, 5, 6

# Entries of a real Kafka broker's DescribeConfigs v4 response for broker "1"
# (kafka-ui against Apache Kafka 3.x; pgmabv99/av_openacr
# kafka_samples/kui/169_108.1-108.2_0005_DescribeConfigsRspV4kui.sh), each
# ending with its empty tagged-field section.
GOLDEN_RESPONSE_PREFIX = bytes.fromhex("0000000002000000040231")
GOLDEN_ENTRIES = {
    # log.cleaner.min.compaction.lag.ms="0": dynamic, DEFAULT_CONFIG, LONG.
    "log.cleaner.min.compaction.lag.ms": bytes.fromhex(
        "22" + b"log.cleaner.min.compaction.lag.ms".hex() + "0230" + "00" + "05" + "00" + "01"
        "05" + "00" + "00"
    ),
    # offsets.topic.num.partitions="50": read-only, DEFAULT_CONFIG, INT.
    "offsets.topic.num.partitions": bytes.fromhex(
        "1d" + b"offsets.topic.num.partitions".hex() + "033530" + "01" + "05" + "00" + "01"
        "03" + "00" + "00"
    ),
    # super.users (not a KafkaConfig key) set statically: sensitive, null, UNKNOWN type.
    "super.users": bytes.fromhex(
        "0c" + b"super.users".hex() + "00" + "01" + "04" + "01" + "01" + "00" + "00" + "00"
    ),
    # message.max.bytes=10485760 in server.properties: dynamic, STATIC_BROKER_CONFIG, INT.
    "message.max.bytes": bytes.fromhex(
        "12" + b"message.max.bytes".hex() + "09" + b"10485760".hex() + "00" + "04" + "00" + "01"
        "03" + "00" + "00"
    ),
    # socket.request.max.bytes=104857600 in server.properties: read-only, STATIC, INT.
    "socket.request.max.bytes": bytes.fromhex(
        "19" + b"socket.request.max.bytes".hex() + "0a" + b"104857600".hex() + "01" + "04" + "00"
        "01" + "03" + "00" + "00"
    ),
}


def describe(
    broker: Broker,
    resources: list[tuple[int, str, list[str] | None]],
    version: int = 4,
    *,
    synonyms: bool = True,
    docs: bool = False,
) -> DescribeConfigsResponse:
    """Run DescribeConfigs and return its response."""
    request = DescribeConfigsRequest(
        resources=tuple(
            DescribeConfigsResource(t, n, None if k is None else tuple(k)) for t, n, k in resources
        ),
        include_synonyms=synonyms if version >= 1 else False,
        include_documentation=docs if version >= 3 else False,
    )
    response: DescribeConfigsResponse = SynchronousTestCase().successResultOf(
        call(broker, describe_configs.SPEC, request, version)
    )
    return response


def by_name(result: Any) -> dict[str, Any]:
    return {c.name: c for c in result.configs}


def synonyms(entry: Any) -> list[tuple[str, str | None, int]]:
    return [(s.name, s.value, s.source) for s in entry.synonyms]


class TopicTests(SynchronousTestCase):
    """TOPIC resources."""

    def broker(self, props: dict[str, str] | None = None, **topic_configs: str) -> Any:
        config = BrokerConfig.from_properties(props) if props else None
        broker = make_broker(config=config)
        self.successResultOf(
            broker.controller.create_topic(
                "t", 1, configs={k.replace("_", "."): v for k, v in topic_configs.items()}
            )
        )
        return broker

    def test_every_topic_config_with_kafka_defaults(self) -> None:
        """A topic without overrides lists every topic config at its default (DEFAULT_CONFIG)."""
        result = describe(self.broker(), [(TOPIC, "t", None)]).results[0]
        self.assertEqual(result.error_code, 0)
        entries = by_name(result)
        self.assertEqual(set(entries), set(topic_config.TOPIC_CONFIGS))
        for name, d in topic_config.TOPIC_CONFIGS.items():
            self.assertEqual(
                (entries[name].value, entries[name].config_source), (d.default, DEFAULT)
            )
            self.assertFalse(entries[name].read_only)
            self.assertFalse(entries[name].is_sensitive)
        self.assertEqual(entries["message.timestamp.after.max.ms"].value, "3600000")
        self.assertEqual(
            synonyms(entries["cleanup.policy"]), [("log.cleanup.policy", "delete", DEFAULT)]
        )
        # Synonyms start at the primary broker key: log.roll.ms has no default.
        self.assertEqual(synonyms(entries["segment.ms"]), [])
        self.assertEqual(synonyms(entries["flush.ms"]), [])
        self.assertEqual(synonyms(entries["remote.storage.enable"]), [])

    def test_override_is_dynamic_topic_config_with_broker_synonym(self) -> None:
        """An override shows as DYNAMIC_TOPIC_CONFIG, followed by the broker synonym."""
        entries = by_name(
            describe(self.broker(max_message_bytes="2000"), [(TOPIC, "t", None)]).results[0]
        )
        entry = entries["max.message.bytes"]
        self.assertEqual((entry.value, entry.config_source), ("2000", TOPIC_SRC))
        self.assertEqual(
            synonyms(entry),
            [("max.message.bytes", "2000", TOPIC_SRC), ("message.max.bytes", "1048588", DEFAULT)],
        )

    def test_server_properties_value_is_static_broker_config(self) -> None:
        """A server.properties synonym gives the value, with source STATIC_BROKER_CONFIG."""
        broker = self.broker({"message.max.bytes": "5000", "log.cleanup.policy": "compact, delete"})
        entries = by_name(describe(broker, [(TOPIC, "t", None)]).results[0])
        entry = entries["max.message.bytes"]
        self.assertEqual((entry.value, entry.config_source), ("5000", STATIC))
        self.assertEqual(
            synonyms(entry),
            [("message.max.bytes", "5000", STATIC), ("message.max.bytes", "1048588", DEFAULT)],
        )
        self.assertEqual(entries["cleanup.policy"].value, "compact,delete")

    def test_unit_synonyms(self) -> None:
        """log.retention.hours converts to milliseconds but, as in Kafka, lists no synonym."""
        entries = by_name(
            describe(
                self.broker({"log.retention.hours": "5", "log.roll.ms": "1000"}),
                [(TOPIC, "t", None)],
            ).results[0]
        )
        retention = entries["retention.ms"]
        self.assertEqual((retention.value, retention.config_source), ("18000000", DEFAULT))
        self.assertEqual(synonyms(retention), [])
        roll = entries["segment.ms"]
        self.assertEqual((roll.value, roll.config_source), ("1000", STATIC))
        self.assertEqual(
            synonyms(roll), [("log.roll.ms", "1000", STATIC), ("log.roll.hours", "168", DEFAULT)]
        )

    def test_negative_retention_hours_mean_unlimited(self) -> None:
        """A negative log.retention.hours gives retention.ms -1, as KafkaConfig computes it."""
        entries = by_name(
            describe(self.broker({"log.retention.hours": "-1"}), [(TOPIC, "t", None)]).results[0]
        )
        self.assertEqual(entries["retention.ms"].value, "-1")

    def test_dynamic_layers_in_precedence_order(self) -> None:
        """Per-broker, then cluster-default dynamic configs, then static, then default."""
        broker = self.broker({"log.segment.bytes": "3000000"})
        controller = broker.controller
        self.successResultOf(
            controller.set_configs(RESOURCE_BROKER, "", {"log.segment.bytes": "2000000"})
        )
        self.successResultOf(
            controller.set_configs(RESOURCE_BROKER, "1", {"log.segment.bytes": "1500000"})
        )
        entry = by_name(describe(broker, [(TOPIC, "t", ["segment.bytes"])]).results[0])[
            "segment.bytes"
        ]
        self.assertEqual((entry.value, entry.config_source), ("1500000", DYN_BROKER))
        self.assertEqual(
            synonyms(entry),
            [
                ("log.segment.bytes", "1500000", DYN_BROKER),
                ("log.segment.bytes", "2000000", DYN_DEFAULT),
                ("log.segment.bytes", "3000000", STATIC),
                ("log.segment.bytes", "1073741824", DEFAULT),
            ],
        )

    def test_configuration_keys_filter(self) -> None:
        """Listed keys only (unknown ones are absent); an empty list means all, as in Kafka."""
        broker = self.broker()
        only = describe(broker, [(TOPIC, "t", ["retention.ms", "no.such.config"])]).results[0]
        self.assertEqual([c.name for c in only.configs], ["retention.ms"])
        everything = describe(broker, [(TOPIC, "t", [])]).results[0]
        self.assertEqual(len(everything.configs), len(topic_config.TOPIC_CONFIGS))

    def test_include_synonyms_false(self) -> None:
        """Without include_synonyms the source is still given, the synonym list is empty."""
        entry = by_name(
            describe(self.broker(retention_ms="5"), [(TOPIC, "t", None)], synonyms=False).results[0]
        )["retention.ms"]
        self.assertEqual((entry.config_source, entry.synonyms), (TOPIC_SRC, ()))

    def test_types_and_documentation(self) -> None:
        """v3+ reports each config's type, and its documentation when asked."""
        entries = by_name(describe(self.broker(), [(TOPIC, "t", None)], 3, docs=True).results[0])
        self.assertEqual(entries["retention.ms"].config_type, 5)
        self.assertEqual(entries["cleanup.policy"].config_type, 7)
        self.assertEqual(entries["min.cleanable.dirty.ratio"].config_type, 6)
        self.assertEqual(entries["preallocate"].config_type, 1)
        self.assertTrue(entries["retention.ms"].documentation)
        undocumented = by_name(describe(self.broker(), [(TOPIC, "t", None)], 3).results[0])
        self.assertIsNone(undocumented["retention.ms"].documentation)

    def test_unknown_topic(self) -> None:
        """A missing topic is UNKNOWN_TOPIC_OR_PARTITION without a message."""
        result = describe(self.broker(), [(TOPIC, "nope", None)]).results[0]
        self.assertEqual(
            (result.error_code, result.error_message, result.configs, result.resource_name),
            (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None, (), "nope"),
        )

    def test_illegal_topic_name(self) -> None:
        """An illegal name is INVALID_TOPIC_EXCEPTION with Topic.validate's message."""
        result = describe(self.broker(), [(TOPIC, "bad name", None)]).results[0]
        self.assertEqual(result.error_code, ErrorCode.INVALID_TOPIC_EXCEPTION)
        self.assertIn("illegal", result.error_message)
        self.assertEqual(
            describe(self.broker(), [(TOPIC, "", None)]).results[0].error_code,
            ErrorCode.INVALID_TOPIC_EXCEPTION,
        )

    def test_v0_is_default(self) -> None:
        """v0 answers is_default instead of a source, and encodes."""
        response = describe(self.broker(retention_ms="5"), [(TOPIC, "t", None)], 0)
        entries = by_name(response.results[0])
        self.assertFalse(entries["retention.ms"].is_default)
        self.assertTrue(entries["segment.ms"].is_default)
        self.assertEqual(entries["retention.ms"].config_source, -1)
        decoded = schema.decode(DescribeConfigsResponse, 0, schema.encode_bytes(response, 0))
        self.assertEqual(decoded, response)


class BrokerTests(SynchronousTestCase):
    """BROKER and BROKER_LOGGER resources."""

    def test_node_resource_lists_the_catalogue(self) -> None:
        """This node's resource lists Kafka's broker configs with read_only, types and defaults."""
        entries = by_name(describe(make_broker(), [(BROKER, "1", None)]).results[0])
        self.assertTrue(set(broker_configs.BROKER_CONFIGS) <= set(entries))
        self.assertEqual(
            (
                entries["num.partitions"].value,
                entries["num.partitions"].read_only,
                entries["num.partitions"].config_source,
                entries["num.partitions"].config_type,
            ),
            ("1", True, DEFAULT, 3),
        )
        self.assertFalse(entries["message.max.bytes"].read_only)
        self.assertIsNone(entries["log.retention.ms"].value)
        self.assertEqual(
            synonyms(entries["log.retention.hours"]), [("log.retention.hours", "168", DEFAULT)]
        )
        self.assertTrue(entries["password.encoder.secret"].is_sensitive)
        # kafkatwist's own defaults show as the values in use.
        self.assertEqual(entries["node.id"].value, "1")
        self.assertEqual(entries["log.dirs"].value, ",".join(BrokerConfig().log_dirs))

    def test_every_topic_synonym_is_catalogued(self) -> None:
        """Each topic config's broker synonyms are broker configs with the topic config's type."""
        for d in topic_config.TOPIC_CONFIGS.values():
            for syn in d.synonym_names:
                self.assertIn(syn, broker_configs.BROKER_CONFIGS)
            if d.synonyms:
                primary = broker_configs.BROKER_CONFIGS[d.synonym_names[0]]
                self.assertEqual(primary.type, d.type)
                self.assertFalse(primary.read_only)

    def test_golden_entries_from_a_real_broker(self) -> None:
        """Entries encode byte for byte as a real Kafka broker sent them."""
        broker = make_broker(
            config=BrokerConfig.from_properties(
                {
                    "message.max.bytes": "10485760",
                    "socket.request.max.bytes": "104857600",
                    "super.users": "User:admin",
                }
            )
        )
        response = describe(broker, [(BROKER, "1", None)], 4, synonyms=False)
        encoded = schema.encode_bytes(response, 4)
        self.assertTrue(encoded.startswith(GOLDEN_RESPONSE_PREFIX))
        entries = by_name(response.results[0])
        for name, golden in GOLDEN_ENTRIES.items():
            self.assertEqual(_encode_entry(entries[name]), golden, name)

    def test_delegation_token_keys_are_passwords(self) -> None:
        """Kafka's PASSWORD keys that kafkatwist does not catalogue are still hidden."""
        secrets = {
            "delegation.token.secret.key": "s3cr3t",
            "delegation.token.master.key": "s3cr3t",
            "password.encoder.old.secret": "s3cr3t",
        }
        broker = make_broker(config=BrokerConfig.from_properties(secrets))
        entries = by_name(describe(broker, [(BROKER, "1", None)]).results[0])
        for name in secrets:
            self.assertEqual((entries[name].value, entries[name].is_sensitive), (None, True), name)

    def test_unknown_static_key_is_sensitive(self) -> None:
        """A server.properties key Kafka does not define is sensitive, null, of unknown type."""
        broker = make_broker(config=BrokerConfig.from_properties({"my.plugin.secret": "s3cr3t"}))
        entry = by_name(describe(broker, [(BROKER, "1", None)]).results[0])["my.plugin.secret"]
        self.assertEqual(
            (
                entry.value,
                entry.is_sensitive,
                entry.config_type,
                entry.config_source,
                entry.read_only,
            ),
            (None, True, 0, STATIC, True),
        )
        self.assertEqual(synonyms(entry), [("my.plugin.secret", None, STATIC)])

    def test_cluster_default_resource(self) -> None:
        """The empty name lists only the dynamic cluster defaults."""
        broker = make_broker()
        self.assertEqual(describe(broker, [(BROKER, "", None)]).results[0].configs, ())
        self.successResultOf(
            broker.controller.set_configs(RESOURCE_BROKER, "", {"log.retention.ms": "1000"})
        )
        self.successResultOf(
            broker.controller.set_configs(RESOURCE_BROKER, "1", {"log.retention.ms": "5"})
        )
        entries = describe(broker, [(BROKER, "", None)]).results[0].configs
        self.assertEqual(
            [(c.name, c.value, c.config_source) for c in entries],
            [("log.retention.ms", "1000", DYN_DEFAULT)],
        )
        self.assertEqual(synonyms(entries[0]), [("log.retention.ms", "1000", DYN_DEFAULT)])
        node = by_name(describe(broker, [(BROKER, "1", ["log.retention.ms"])]).results[0])
        self.assertEqual(
            synonyms(node["log.retention.ms"]),
            [
                ("log.retention.ms", "5", DYN_BROKER),
                ("log.retention.ms", "1000", DYN_DEFAULT),
                ("log.retention.hours", "168", DEFAULT),
            ],
        )

    def test_other_broker_ids(self) -> None:
        """Another node id, or a name that is no number, is INVALID_REQUEST."""
        results = describe(make_broker(), [(BROKER, "2", None), (BROKER, "x", None)]).results
        self.assertEqual(
            [(r.error_code, r.error_message) for r in results],
            [
                (
                    ErrorCode.INVALID_REQUEST,
                    "Unexpected broker id, expected 1 or empty string, but received 2",
                ),
                (ErrorCode.INVALID_REQUEST, "Broker id must be an integer, but it is: x"),
            ],
        )

    def test_broker_logger(self) -> None:
        """BROKER_LOGGER lists the root logger; an empty or foreign id is INVALID_REQUEST."""
        results = describe(
            make_broker(),
            [(BROKER_LOGGER, "1", None), (BROKER_LOGGER, "", None), (BROKER_LOGGER, "3", None)],
        ).results
        self.assertEqual(
            [(c.name, c.value, c.config_source, c.read_only) for c in results[0].configs],
            [("root", "INFO", LOGGER_SRC, False)],
        )
        self.assertEqual(
            [(r.error_code, r.error_message) for r in results[1:]],
            [
                (ErrorCode.INVALID_REQUEST, "Broker id must not be empty"),
                (ErrorCode.INVALID_REQUEST, "Unexpected broker id, expected 1 but received 3"),
            ],
        )

    def test_unsupported_and_unknown_resource_types(self) -> None:
        """An unknown client metrics subscription has no configs; an unknown type fails all."""
        result = describe(make_broker(), [(CLIENT_METRICS, "m", None)]).results[0]
        self.assertEqual((result.error_code, result.configs), (ErrorCode.NONE, ()))
        request = DescribeConfigsRequest(resources=(DescribeConfigsResource(99, "x", None),))
        failure = self.failureResultOf(
            call(make_broker(), describe_configs.SPEC, request, 4), KafkaError
        )
        self.assertEqual(failure.value.code, ErrorCode.INVALID_REQUEST)
        response = describe_configs.error_response(request, 4, ErrorCode.INVALID_REQUEST)
        self.assertEqual(response.results[0].error_code, ErrorCode.INVALID_REQUEST)


class VersionTests(SynchronousTestCase):
    """Every version encodes and decodes back."""

    def test_every_version(self) -> None:
        """Each version's response round-trips through the codec."""
        broker = make_broker(config=BrokerConfig.from_properties({"message.max.bytes": "5000"}))
        self.successResultOf(broker.controller.create_topic("t", 1, configs={"retention.ms": "5"}))
        for version in range(0, 5):
            response = describe(
                broker,
                [(TOPIC, "t", None), (BROKER, "1", None), (TOPIC, "missing", None)],
                version,
                docs=True,
            )
            encoded = schema.encode_bytes(response, version)
            self.assertEqual(
                schema.decode(DescribeConfigsResponse, version, encoded), response, version
            )
            request = DescribeConfigsRequest(
                resources=(DescribeConfigsResource(TOPIC, "t", ("retention.ms",)),),
                include_synonyms=version >= 1,
                include_documentation=version >= 3,
            )
            self.assertEqual(
                schema.decode(
                    DescribeConfigsRequest, version, schema.encode_bytes(request, version)
                ),
                request,
            )


def _encode_entry(entry: Any) -> bytes:
    """One DescribeConfigsResourceResult as v4 encodes it (inside its response)."""
    response = DescribeConfigsResponse(
        results=(DescribeConfigsResult(resource_type=4, resource_name="1", configs=(entry,)),)
    )
    encoded = schema.encode_bytes(response, 4)
    # throttle (4) + results count (1) + error (2) + message (1) + type (1) + name (2) + count (1)
    return encoded[12:-2]
