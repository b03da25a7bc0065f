"""IncrementalAlterConfigs on the file engine: operations, validation, persistence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import describe_configs, incremental_alter_configs
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResource
from kafkatwist.messages.incremental_alter_configs import (
    AlterableConfig,
    AlterConfigsResource,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)
from kafkatwist.storage.kraft import RESOURCE_BROKER, KRaftMetadataStore
from kafkatwist.wire import schema
from tests.apis.test_alter_configs import produce_batch
from tests.brokers import call, make_broker, metadata_of

TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

Op = tuple[str, int, "str | None"]
Resources = list[tuple[int, str, list[Op]]]


def alter(
    broker: Any,
    resources: Sequence[tuple[int, str, Sequence[Op]]],
    *,
    validate_only: bool = False,
    version: int = 1,
) -> list[tuple[int, str | None]]:
    """Run IncrementalAlterConfigs; the (error code, message) of each resource."""
    request = IncrementalAlterConfigsRequest(
        resources=tuple(
            AlterConfigsResource(t, n, tuple(AlterableConfig(k, op, v) for k, op, v in ops))
            for t, n, ops in resources
        ),
        validate_only=validate_only,
    )
    response = SynchronousTestCase().successResultOf(
        call(broker, incremental_alter_configs.SPEC, request, version)
    )
    return [(r.error_code, r.error_message) for r in response.responses]


def described(broker: Any, resource_type: int, name: str, key: str) -> Any:
    """One config entry as DescribeConfigs v4 reports it, with synonyms."""
    request = DescribeConfigsRequest(
        resources=(DescribeConfigsResource(resource_type, name, (key,)),), include_synonyms=True
    )
    response = SynchronousTestCase().successResultOf(
        call(broker, describe_configs.SPEC, request, 4)
    )
    (entry,) = response.results[0].configs
    return entry


class TopicTests(SynchronousTestCase):
    """TOPIC resources."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(
            self.broker.controller.create_topic("t", 2, configs={"retention.ms": "1000"})
        )

    def configs(self) -> dict[str, str]:
        return dict(self.broker.metadata.image.topics["t"].configs)

    def test_set_and_delete(self) -> None:
        """SET adds or replaces a key and DELETE removes one; other keys stay."""
        ok = alter(
            self.broker,
            [(TOPIC, "t", [("segment.ms", SET, "60000"), ("retention.ms", DELETE, None)])],
        )
        self.assertEqual(ok, [(0, None)])
        self.assertEqual(self.configs(), {"segment.ms": "60000"})
        self.assertEqual(
            alter(self.broker, [(TOPIC, "t", [("nothing.here", DELETE, None)])]), [(0, None)]
        )

    def test_only_changed_keys_are_written(self) -> None:
        """Setting a key to its current value writes no ConfigRecord."""
        before = metadata_of(self.broker).next_offset
        alter(self.broker, [(TOPIC, "t", [("retention.ms", SET, "1000")])])
        self.assertEqual(metadata_of(self.broker).next_offset, before)
        alter(
            self.broker,
            [(TOPIC, "t", [("retention.ms", SET, "2000"), ("segment.ms", DELETE, None)])],
        )
        self.assertEqual(metadata_of(self.broker).next_offset, before + 1)

    def test_append_and_subtract(self) -> None:
        """APPEND starts from the default and skips present values; SUBTRACT removes them."""
        alter(self.broker, [(TOPIC, "t", [("cleanup.policy", APPEND, "compact,delete")])])
        self.assertEqual(self.configs()["cleanup.policy"], "delete,compact")
        alter(self.broker, [(TOPIC, "t", [("cleanup.policy", SUBTRACT, "delete")])])
        self.assertEqual(self.configs()["cleanup.policy"], "compact")
        alter(
            self.broker,
            [(TOPIC, "t", [("leader.replication.throttled.replicas", APPEND, "0:1,1:1")])],
        )
        self.assertEqual(self.configs()["leader.replication.throttled.replicas"], "0:1,1:1")
        alter(
            self.broker,
            [(TOPIC, "t", [("leader.replication.throttled.replicas", SUBTRACT, "0:1,9:9")])],
        )
        self.assertEqual(self.configs()["leader.replication.throttled.replicas"], "1:1")

    def test_append_to_a_non_list(self) -> None:
        """APPEND and SUBTRACT on a non-LIST key are INVALID_CONFIG."""
        self.assertEqual(
            alter(self.broker, [(TOPIC, "t", [("retention.ms", APPEND, "5")])]),
            [
                (
                    ErrorCode.INVALID_CONFIG,
                    "Can't APPEND to key retention.ms because its type is not LIST.",
                )
            ],
        )
        self.assertEqual(
            alter(self.broker, [(TOPIC, "t", [("nope", SUBTRACT, "5")])]),
            [
                (
                    ErrorCode.INVALID_CONFIG,
                    "Can't SUBTRACT to key nope because its type is not LIST.",
                )
            ],
        )

    def test_errors(self) -> None:
        """Bad operations, nulls, repeated keys and resources, bad values and missing topics."""
        cases: list[tuple[Resources, tuple[int, str]]] = [
            (
                [(TOPIC, "t", [("retention.ms", 9, "1")])],
                (ErrorCode.INVALID_REQUEST, "Unknown operations type 9"),
            ),
            (
                [(TOPIC, "t", [("retention.ms", SET, None)])],
                (ErrorCode.INVALID_REQUEST, "Null value not supported for : retention.ms"),
            ),
            (
                [(TOPIC, "t", [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)])],
                (ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys"),
            ),
            (
                [(TOPIC, "t", [("retention.ms", SET, "-5")])],
                (
                    ErrorCode.INVALID_CONFIG,
                    "Invalid value -5 for configuration retention.ms: Value must be at least -1",
                ),
            ),
            (
                [(TOPIC, "t", [("bogus", SET, "1")])],
                (ErrorCode.INVALID_CONFIG, "Unknown topic config name: bogus"),
            ),
            (
                [(TOPIC, "nope", [("retention.ms", SET, "1")])],
                (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The topic 'nope' does not exist."),
            ),
            (
                [(TOPIC, "", [])],
                (ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed."),
            ),
            ([(64, "metrics", [])], (ErrorCode.INVALID_REQUEST, "Unknown resource type 64")),
        ]
        for resources, expected in cases:
            self.assertEqual(alter(self.broker, resources), [expected], resources)
        self.assertEqual(
            alter(self.broker, [(TOPIC, "t", []), (TOPIC, "t", [])]),
            [(ErrorCode.INVALID_REQUEST, "Each resource must appear at most once.")] * 2,
        )
        self.assertEqual(self.configs(), {"retention.ms": "1000"})

    def test_validate_only(self) -> None:
        """validate_only checks and changes nothing."""
        ok = alter(
            self.broker, [(TOPIC, "t", [("retention.ms", DELETE, None)])], validate_only=True
        )
        self.assertEqual(ok, [(0, None)])
        self.assertEqual(self.configs(), {"retention.ms": "1000"})

    def test_persisted_and_replayed(self) -> None:
        """A new metadata store on the same directory sees the changes."""
        alter(
            self.broker,
            [
                (TOPIC, "t", [("retention.ms", DELETE, None), ("max.message.bytes", SET, "999")]),
                (BROKER, "1", [("log.retention.ms", SET, "77")]),
            ],
        )
        reloaded = KRaftMetadataStore(metadata_of(self.broker).log_dir)
        self.successResultOf(reloaded.load())
        self.assertEqual(reloaded.image.topics["t"].configs, {"max.message.bytes": "999"})
        self.assertEqual(reloaded.image.configs[(RESOURCE_BROKER, "1")], {"log.retention.ms": "77"})

    def test_applied_to_open_logs(self) -> None:
        """A smaller max.message.bytes makes the next larger batch MESSAGE_TOO_LARGE."""
        self.assertEqual(produce_batch(self.broker, "t", 3000), 0)
        alter(self.broker, [(TOPIC, "t", [("max.message.bytes", SET, "1000")])])
        self.assertEqual(produce_batch(self.broker, "t", 3000), ErrorCode.MESSAGE_TOO_LARGE)
        alter(self.broker, [(TOPIC, "t", [("max.message.bytes", DELETE, None)])])
        self.assertEqual(produce_batch(self.broker, "t", 3000), 0)


class BrokerTests(SynchronousTestCase):
    """BROKER and BROKER_LOGGER resources."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def test_per_broker_config_reaches_topics(self) -> None:
        """A per-broker log config is the topics' DYNAMIC_BROKER_CONFIG value and reaches logs."""
        self.assertEqual(
            alter(self.broker, [(BROKER, "1", [("message.max.bytes", SET, "2000")])]), [(0, None)]
        )
        entry = described(self.broker, TOPIC, "t", "max.message.bytes")
        self.assertEqual((entry.value, entry.config_source), ("2000", 2))
        self.assertEqual(
            [(s.name, s.value, s.source) for s in entry.synonyms],
            [("message.max.bytes", "2000", 2), ("message.max.bytes", "1048588", 5)],
        )
        self.assertEqual(produce_batch(self.broker, "t", 3000), ErrorCode.MESSAGE_TOO_LARGE)
        alter(self.broker, [(BROKER, "1", [("message.max.bytes", DELETE, None)])])
        self.assertEqual(described(self.broker, TOPIC, "t", "max.message.bytes").config_source, 5)
        self.assertEqual(produce_batch(self.broker, "t", 3000), 0)

    def test_broker_keys_rewritten_even_when_unchanged(self) -> None:
        """BROKER keys are written again when unchanged, as Kafka does (KAFKA-14136)."""
        alter(self.broker, [(BROKER, "", [("log.retention.ms", SET, "5")])])
        before = metadata_of(self.broker).next_offset
        alter(self.broker, [(BROKER, "", [("log.retention.ms", SET, "5")])])
        self.assertEqual(metadata_of(self.broker).next_offset, before + 1)

    def test_list_operations(self) -> None:
        """APPEND and SUBTRACT work on broker LIST keys and are refused on others."""
        ok = alter(self.broker, [(BROKER, "", [("log.cleanup.policy", APPEND, "compact")])])
        self.assertEqual(ok, [(0, None)])
        configs = self.broker.metadata.image.configs[(RESOURCE_BROKER, "")]
        self.assertEqual(configs, {"log.cleanup.policy": "delete,compact"})
        alter(self.broker, [(BROKER, "", [("log.cleanup.policy", SUBTRACT, "delete")])])
        self.assertEqual(configs, {"log.cleanup.policy": "compact"})
        self.assertEqual(
            alter(self.broker, [(BROKER, "", [("message.max.bytes", APPEND, "5")])]),
            [
                (
                    ErrorCode.INVALID_CONFIG,
                    "Config value append is not allowed for config key: message.max.bytes",
                )
            ],
        )

    def test_refusals(self) -> None:
        """Static keys, unknown operations and other ids are INVALID_REQUEST."""
        cases = [
            ("1", [("num.io.threads", 7, "1")], "Unknown operations type 7"),
            (
                "1",
                [("log.dirs", SET, "/x")],
                "Cannot update these configs dynamically: Set(log.dirs)",
            ),
            ("9", [], "Unexpected broker id, expected 1, but received 9"),
        ]
        for name, ops, message in cases:
            self.assertEqual(
                alter(self.broker, [(BROKER, name, ops)]), [(ErrorCode.INVALID_REQUEST, message)]
            )

    def test_broker_logger(self) -> None:
        """Logger levels follow Kafka's checks and show in DescribeConfigs."""
        self.assertEqual(
            alter(self.broker, [(BROKER_LOGGER, "1", [("root", SET, "DEBUG")])]), [(0, None)]
        )
        self.assertEqual(described(self.broker, BROKER_LOGGER, "1", "root").value, "DEBUG")
        cases: list[tuple[str, list[Op], int, str]] = [
            (
                "1",
                [("kafka.server", SET, "INFO")],
                ErrorCode.INVALID_CONFIG,
                "Logger kafka.server does not exist!",
            ),
            (
                "1",
                [("root", SET, "LOUD")],
                ErrorCode.INVALID_CONFIG,
                "Cannot set the log level of root to LOUD as it is not a supported log level. "
                "Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN",
            ),
            (
                "1",
                [("root", DELETE, None)],
                ErrorCode.INVALID_REQUEST,
                "Removing the log level of the root logger is not allowed",
            ),
            (
                "1",
                [("root", APPEND, "INFO")],
                ErrorCode.INVALID_REQUEST,
                "APPEND operation is not allowed for the BROKER_LOGGER resource",
            ),
            (
                "1",
                [("root", 5, "INFO")],
                ErrorCode.INVALID_REQUEST,
                "Unknown operation type 5 is not allowed for the BROKER_LOGGER resource",
            ),
            ("x", [], ErrorCode.INVALID_REQUEST, "Node id must be an integer, but it is: x"),
            ("2", [], ErrorCode.INVALID_REQUEST, "Unexpected node id. Expected 1, but received 1"),
        ]
        for name, ops, code, message in cases:
            self.assertEqual(alter(self.broker, [(BROKER_LOGGER, name, ops)]), [(code, message)])
        alter(self.broker, [(BROKER_LOGGER, "1", [("root", SET, "WARN")])], validate_only=True)
        self.assertEqual(described(self.broker, BROKER_LOGGER, "1", "root").value, "DEBUG")


class VersionTests(SynchronousTestCase):
    """Every version encodes and decodes back."""

    def test_every_version(self) -> None:
        """Requests and responses round-trip at v0 and v1."""
        broker = make_broker()
        self.successResultOf(broker.controller.create_topic("t", 1))
        request = IncrementalAlterConfigsRequest(
            resources=(
                AlterConfigsResource(TOPIC, "t", (AlterableConfig("retention.ms", SET, "10"),)),
                AlterConfigsResource(
                    TOPIC, "missing", (AlterableConfig("retention.ms", DELETE, None),)
                ),
            ),
        )
        for version in (0, 1):
            decoded = schema.decode(
                IncrementalAlterConfigsRequest, version, schema.encode_bytes(request, version)
            )
            self.assertEqual(decoded, request)
            response = self.successResultOf(
                call(broker, incremental_alter_configs.SPEC, decoded, version)
            )
            encoded = schema.encode_bytes(response, version)
            self.assertEqual(
                schema.decode(IncrementalAlterConfigsResponse, version, encoded), response
            )
            self.assertEqual(
                [r.error_code for r in response.responses],
                [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
            )
        error = incremental_alter_configs.error_response(request, 1, ErrorCode.NOT_CONTROLLER)
        self.assertEqual([r.error_code for r in error.responses], [ErrorCode.NOT_CONTROLLER] * 2)
