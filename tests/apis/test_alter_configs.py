"""AlterConfigs on the file engine: replacement, validation, persistence, live logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import alter_configs, produce
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_configs import (
    AlterableConfig,
    AlterConfigsRequest,
    AlterConfigsResource,
    AlterConfigsResponse,
)
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.storage.kraft import RESOURCE_BROKER, KRaftMetadataStore
from kafkatwist.wire import schema
from kafkatwist.wire.record import build_batch
from tests.brokers import call, log_of, make_broker, metadata_of

TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8


def alter(
    broker: Any,
    resources: Sequence[tuple[int, str, Mapping[str, str | None]]],
    *,
    validate_only: bool = False,
    version: int = 2,
) -> list[tuple[int, str | None]]:
    """Run AlterConfigs; the (error code, message) of each resource."""
    request = AlterConfigsRequest(
        resources=tuple(
            AlterConfigsResource(t, n, tuple(AlterableConfig(k, v) for k, v in c.items()))
            for t, n, c in resources
        ),
        validate_only=validate_only,
    )
    response = SynchronousTestCase().successResultOf(
        call(broker, alter_configs.SPEC, request, version)
    )
    return [(r.error_code, r.error_message) for r in response.responses]


def produce_batch(broker: Any, topic: str, value_size: int) -> int:
    """Produce one batch with a value of C{value_size} bytes; the partition's error code."""
    batch = build_batch([(None, b"x" * value_size)], base_timestamp=1_700_000_000_000)
    request = ProduceRequest(
        acks=1,
        timeout_ms=1000,
        topic_data=(
            TopicProduceData(name=topic, partition_data=(PartitionProduceData(0, batch),)),
        ),
    )
    response = SynchronousTestCase().successResultOf(call(broker, produce.SPEC, request, 9))
    return int(response.responses[0].partition_responses[0].error_code)


class TopicTests(SynchronousTestCase):
    """TOPIC resources."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(
            self.broker.controller.create_topic(
                "t", 2, configs={"retention.ms": "1000", "max.message.bytes": "5000"}
            )
        )

    def configs(self) -> dict[str, str]:
        return dict(self.broker.metadata.image.topics["t"].configs)

    def test_replaces_the_whole_set(self) -> None:
        """The configs given become the topic's overrides; the others are deleted."""
        self.assertEqual(
            alter(self.broker, [(TOPIC, "t", {"cleanup.policy": "compact"})]), [(0, None)]
        )
        self.assertEqual(self.configs(), {"cleanup.policy": "compact"})

    def test_persisted_as_config_records(self) -> None:
        """A new metadata store on the same directory replays the ConfigRecords."""
        alter(self.broker, [(TOPIC, "t", {"retention.ms": "2000", "segment.ms": "60000"})])
        reloaded = KRaftMetadataStore(metadata_of(self.broker).log_dir)
        self.successResultOf(reloaded.load())
        self.assertEqual(
            reloaded.image.topics["t"].configs, {"retention.ms": "2000", "segment.ms": "60000"}
        )

    def test_validate_only(self) -> None:
        """validate_only checks and changes nothing."""
        before = metadata_of(self.broker).next_offset
        result = alter(self.broker, [(TOPIC, "t", {"retention.ms": "1"})], validate_only=True)
        self.assertEqual(result, [(0, None)])
        self.assertEqual(self.configs(), {"retention.ms": "1000", "max.message.bytes": "5000"})
        self.assertEqual(metadata_of(self.broker).next_offset, before)

    def test_same_configs_write_nothing(self) -> None:
        """Giving the current set again writes no record."""
        before = metadata_of(self.broker).next_offset
        alter(self.broker, [(TOPIC, "t", {"retention.ms": "1000", "max.message.bytes": "5000"})])
        self.assertEqual(metadata_of(self.broker).next_offset, before)

    def test_applied_to_open_logs(self) -> None:
        """A smaller max.message.bytes makes the next larger batch MESSAGE_TOO_LARGE."""
        self.assertEqual(produce_batch(self.broker, "t", 3000), 0)
        alter(self.broker, [(TOPIC, "t", {"max.message.bytes": "1000"})])
        self.assertEqual(log_of(self.broker, "t", 1).config.max_message_bytes, 1000)
        self.assertEqual(produce_batch(self.broker, "t", 3000), ErrorCode.MESSAGE_TOO_LARGE)
        alter(self.broker, [(TOPIC, "t", {})])
        self.assertEqual(produce_batch(self.broker, "t", 3000), 0)

    def test_unknown_topic(self) -> None:
        """A missing topic is UNKNOWN_TOPIC_OR_PARTITION with the controller's message."""
        self.assertEqual(
            alter(self.broker, [(TOPIC, "nope", {"retention.ms": "1"})]),
            [(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The topic 'nope' does not exist.")],
        )

    def test_invalid_configs(self) -> None:
        """Unknown names, bad values and conflicts are INVALID_CONFIG, checked before existence."""
        cases = {
            "no.such.config": ("1", "Unknown topic config name: no.such.config"),
            "retention.ms": (
                "abc",
                "Invalid value abc for configuration retention.ms: Not a number of type LONG",
            ),
            "segment.bytes": (
                "100",
                "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576",
            ),
            "cleanup.policy": (
                "keep",
                "Invalid value keep for configuration cleanup.policy: "
                "String must be one of: compact, delete",
            ),
            "remote.storage.enable": (
                "true",
                "Tiered Storage functionality is disabled in the "
                "broker. Topic cannot be configured with remote log storage.",
            ),
        }
        for name, (value, message) in cases.items():
            for topic in ("t", "nope"):
                self.assertEqual(
                    alter(self.broker, [(TOPIC, topic, {name: value})]),
                    [(ErrorCode.INVALID_CONFIG, message)],
                    name,
                )
        self.assertEqual(
            alter(
                self.broker,
                [(TOPIC, "t", {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})],
            ),
            [
                (
                    ErrorCode.INVALID_CONFIG,
                    "conflict topic config setting min.compaction.lag.ms (10) "
                    "> max.compaction.lag.ms (5)",
                )
            ],
        )
        self.assertEqual(self.configs(), {"retention.ms": "1000", "max.message.bytes": "5000"})

    def test_topic_names(self) -> None:
        """The empty (default) topic is INVALID_REQUEST; an illegal name INVALID_TOPIC_EXCEPTION."""
        result = alter(self.broker, [(TOPIC, "", {}), (TOPIC, "a/b", {})])
        self.assertEqual(
            result[0], (ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
        )
        self.assertEqual(result[1][0], ErrorCode.INVALID_TOPIC_EXCEPTION)

    def test_preprocessing_errors(self) -> None:
        """Null values, repeated keys and repeated resources are INVALID_REQUEST."""
        self.assertEqual(
            alter(self.broker, [(TOPIC, "t", {"retention.ms": None, "segment.ms": None})]),
            [
                (
                    ErrorCode.INVALID_REQUEST,
                    "Null value not supported for : retention.ms, segment.ms",
                )
            ],
        )
        request = AlterConfigsRequest(
            resources=(
                AlterConfigsResource(TOPIC, "t", (AlterableConfig("retention.ms", "1"),) * 2),
                AlterConfigsResource(TOPIC, "u", ()),
                AlterConfigsResource(BROKER, "1", ()),
                AlterConfigsResource(TOPIC, "u", ()),
            )
        )
        response = self.successResultOf(call(self.broker, alter_configs.SPEC, request, 1))
        self.assertEqual(
            [(r.resource_name, r.error_code, r.error_message) for r in response.responses],
            [
                ("t", ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys"),
                ("u", ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."),
                ("1", 0, None),
                ("u", ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."),
            ],
        )

    def test_other_resource_types(self) -> None:
        """BROKER_LOGGER and unknown types are refused, as legacy AlterConfigs does."""
        self.assertEqual(
            alter(self.broker, [(BROKER_LOGGER, "1", {"root": "DEBUG"}), (7, "x", {})]),
            [
                (ErrorCode.INVALID_REQUEST, "Unknown resource type 8"),
                (ErrorCode.INVALID_REQUEST, "Unknown resource type 7"),
            ],
        )


class BrokerTests(SynchronousTestCase):
    """BROKER resources."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def dynamic(self, name: str) -> dict[str, str]:
        return dict(self.broker.metadata.image.configs.get((RESOURCE_BROKER, name), {}))

    def test_cluster_default_applies_to_logs(self) -> None:
        """A cluster-wide message.max.bytes reaches open and new logs, and is persisted."""
        self.assertEqual(
            alter(self.broker, [(BROKER, "", {"message.max.bytes": "2000"})]), [(0, None)]
        )
        self.assertEqual(self.dynamic(""), {"message.max.bytes": "2000"})
        self.assertEqual(produce_batch(self.broker, "t", 3000), ErrorCode.MESSAGE_TOO_LARGE)
        self.successResultOf(self.broker.controller.create_topic("u", 1))
        self.assertEqual(log_of(self.broker, "u", 0).config.max_message_bytes, 2000)
        reloaded = KRaftMetadataStore(metadata_of(self.broker).log_dir)
        self.successResultOf(reloaded.load())
        self.assertEqual(
            reloaded.image.configs[(RESOURCE_BROKER, "")], {"message.max.bytes": "2000"}
        )
        # The legacy API replaces the set: nothing given, everything deleted.
        self.assertEqual(alter(self.broker, [(BROKER, "", {})]), [(0, None)])
        self.assertEqual(self.dynamic(""), {})
        self.assertEqual(produce_batch(self.broker, "t", 3000), 0)

    def test_per_broker_resource(self) -> None:
        """This node's id is accepted; custom keys are kept as Kafka keeps them."""
        self.assertEqual(
            alter(self.broker, [(BROKER, "1", {"log.retention.ms": "5000", "my.custom": "x"})]),
            [(0, None)],
        )
        self.assertEqual(self.dynamic("1"), {"log.retention.ms": "5000", "my.custom": "x"})

    def test_refusals(self) -> None:
        """Static keys, per-broker keys at cluster level, bad values and other ids are refused."""
        cases = [
            (
                "",
                {"num.partitions": "3", "log.dirs": "/x"},
                "Cannot update these configs dynamically: Set(log.dirs, num.partitions)",
            ),
            (
                "1",
                {"listeners": "PLAINTEXT://:1234"},
                "Cannot update these configs dynamically: Set(listeners)",
            ),
            (
                "",
                {"listener.name.internal.ssl.keystore.location": "/k"},
                "Cannot update these configs at default cluster level, broker id must be "
                "specified: Set(listener.name.internal.ssl.keystore.location)",
            ),
            (
                "",
                {"message.max.bytes": "big"},
                "Invalid value big for configuration message.max.bytes: Not a number of type INT",
            ),
            (
                "",
                {"log.segment.bytes": "10"},
                "Invalid value 10 for configuration log.segment.bytes: "
                "Value must be at least 1048576",
            ),
            ("2", {}, "Unexpected broker id, expected 1, but received 2"),
            ("b", {}, "Node id must be an integer, but it is: b"),
        ]
        for name, configs, message in cases:
            self.assertEqual(
                alter(self.broker, [(BROKER, name, configs)]),
                [(ErrorCode.INVALID_REQUEST, message)],
                message,
            )
        self.assertEqual(self.broker.metadata.image.configs, {})

    def test_validate_only(self) -> None:
        """validate_only writes nothing for a broker either."""
        alter(self.broker, [(BROKER, "", {"message.max.bytes": "2000"})], validate_only=True)
        self.assertEqual(self.dynamic(""), {})


class VersionTests(SynchronousTestCase):
    """Every version encodes and decodes back."""

    def test_every_version(self) -> None:
        """Requests and responses round-trip at v0-v2."""
        broker = make_broker()
        self.successResultOf(broker.controller.create_topic("t", 1))
        request = AlterConfigsRequest(
            resources=(
                AlterConfigsResource(TOPIC, "t", (AlterableConfig("retention.ms", "10"),)),
                AlterConfigsResource(TOPIC, "missing", ()),
            ),
            validate_only=True,
        )
        for version in range(0, 3):
            decoded = schema.decode(
                AlterConfigsRequest, version, schema.encode_bytes(request, version)
            )
            self.assertEqual(decoded, request)
            response = self.successResultOf(call(broker, alter_configs.SPEC, decoded, version))
            encoded = schema.encode_bytes(response, version)
            self.assertEqual(schema.decode(AlterConfigsResponse, version, encoded), response)
            self.assertEqual(
                [r.error_code for r in response.responses],
                [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
            )
        error = alter_configs.error_response(request, 0, ErrorCode.UNKNOWN_SERVER_ERROR)
        self.assertEqual(
            [r.error_code for r in error.responses], [ErrorCode.UNKNOWN_SERVER_ERROR] * 2
        )
