"""
Group configs (KIP-848 config resource type GROUP = 32): DescribeConfigs,
IncrementalAlterConfigs and AlterConfigs, persistence in the metadata log,
and the coordinator's accessor.

Expected messages and sources are Kafka's (C{GroupConfig.validate},
C{ControllerConfigurationValidator}, C{ConfigHelper.createGroupConfigEntry}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import alter_configs, describe_configs
from kafkatwist.config.group_overrides import ConsumerGroupSettings
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_configs import (
    AlterableConfig,
    AlterConfigsRequest,
    AlterConfigsResource,
)
from kafkatwist.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResource
from kafkatwist.storage.kraft import KRaftMetadataStore
from tests.apis.test_incremental_alter_configs import APPEND, DELETE, SET, alter
from tests.brokers import call, make_broker, metadata_of

GROUP = 32
STATIC, DEFAULT, GROUP_SOURCE = 4, 5, 8
INVALID_CONFIG = int(ErrorCode.INVALID_CONFIG)
INVALID_REQUEST = int(ErrorCode.INVALID_REQUEST)

KEYS = {
    "consumer.session.timeout.ms",
    "consumer.heartbeat.interval.ms",
    "share.session.timeout.ms",
    "share.heartbeat.interval.ms",
    "share.record.lock.duration.ms",
    "share.delivery.count.limit",
    "share.partition.max.record.locks",
    "share.auto.offset.reset",
    "share.isolation.level",
    "share.renew.acknowledge.enable",
    "streams.session.timeout.ms",
    "streams.heartbeat.interval.ms",
    "streams.num.standby.replicas",
    "streams.initial.rebalance.delay.ms",
}


def describe(broker: Any, name: str, keys: Sequence[str] = (), version: int = 4) -> Any:
    """DescribeConfigs of one GROUP resource, with synonyms and documentation."""
    request = DescribeConfigsRequest(
        resources=(DescribeConfigsResource(GROUP, name, tuple(keys)),),
        include_synonyms=True,
        include_documentation=True,
    )
    response = SynchronousTestCase().successResultOf(
        call(broker, describe_configs.SPEC, request, version)
    )
    return response.results[0]


def entries(broker: Any, name: str) -> dict[str, Any]:
    """The GROUP resource's entries by name."""
    return {c.name: c for c in describe(broker, name).configs}


def synonyms(entry: Any) -> list[tuple[str, str | None, int]]:
    """An entry's synonyms as (name, value, source)."""
    return [(s.name, s.value, s.source) for s in entry.synonyms]


def legacy_alter(broker: Any, name: str, configs: Mapping[str, str]) -> tuple[int, str | None]:
    """AlterConfigs (the whole set) of one GROUP resource."""
    request = AlterConfigsRequest(
        resources=(
            AlterConfigsResource(
                GROUP, name, tuple(AlterableConfig(k, v) for k, v in configs.items())
            ),
        ),
        validate_only=False,
    )
    response = SynchronousTestCase().successResultOf(call(broker, alter_configs.SPEC, request, 2))
    (result,) = response.responses
    return result.error_code, result.error_message


class DescribeTests(SynchronousTestCase):
    def test_every_key_with_broker_defaults(self) -> None:
        """A group without overrides lists Kafka's group keys at the broker's group.* values."""
        found = entries(make_broker(), "no-such-group")
        self.assertEqual(set(found), KEYS)
        session = found["consumer.session.timeout.ms"]
        self.assertEqual(session.value, "45000")
        self.assertEqual(session.config_source, DEFAULT)
        self.assertFalse(session.read_only)
        self.assertEqual(session.config_type, 3)
        self.assertEqual(
            synonyms(session), [("group.consumer.session.timeout.ms", "45000", DEFAULT)]
        )
        self.assertTrue(session.documentation)
        reset = found["share.auto.offset.reset"]
        self.assertEqual((reset.value, reset.config_type), ("latest", 2))
        self.assertEqual(synonyms(reset), [("share.auto.offset.reset", "latest", DEFAULT)])
        self.assertEqual(found["share.renew.acknowledge.enable"].value, "true")
        self.assertEqual(found["streams.num.standby.replicas"].value, "0")

    def test_static_broker_value(self) -> None:
        """A server.properties group.consumer.* value is the group default, STATIC_BROKER_CONFIG."""
        config = BrokerConfig.from_properties({"group.consumer.session.timeout.ms": "50000"})
        session = entries(make_broker(config=config), "g")["consumer.session.timeout.ms"]
        self.assertEqual((session.value, session.config_source), ("50000", STATIC))
        self.assertEqual(
            synonyms(session),
            [
                ("group.consumer.session.timeout.ms", "50000", STATIC),
                ("group.consumer.session.timeout.ms", "45000", DEFAULT),
            ],
        )

    def test_override_is_group_config(self) -> None:
        """A group's override comes first, source GROUP_CONFIG (8)."""
        broker = make_broker()
        self.assertEqual(
            alter(broker, [(GROUP, "g", [("consumer.session.timeout.ms", SET, "50000")])]),
            [(0, None)],
        )
        session = entries(broker, "g")["consumer.session.timeout.ms"]
        self.assertEqual((session.value, session.config_source), ("50000", GROUP_SOURCE))
        self.assertEqual(
            synonyms(session),
            [
                ("consumer.session.timeout.ms", "50000", GROUP_SOURCE),
                ("group.consumer.session.timeout.ms", "45000", DEFAULT),
            ],
        )
        self.assertEqual(entries(broker, "other")["consumer.session.timeout.ms"].value, "45000")

    def test_selected_keys_and_v0(self) -> None:
        """configuration_keys selects; v0 reports is_default instead of a source."""
        result = describe(make_broker(), "g", ["consumer.heartbeat.interval.ms"], version=0)
        (entry,) = result.configs
        self.assertEqual(
            (entry.name, entry.value, entry.is_default),
            ("consumer.heartbeat.interval.ms", "5000", True),
        )

    def test_empty_name(self) -> None:
        """An empty group name is INVALID_REQUEST, as Kafka's ConfigHelper says it."""
        result = describe(make_broker(), "")
        self.assertEqual(
            (result.error_code, result.error_message),
            (INVALID_REQUEST, "Group name must not be empty"),
        )

    def test_broker_keys_listed(self) -> None:
        """The broker resource lists the group.consumer.* bounds, read-only."""
        request = DescribeConfigsRequest(
            resources=(
                DescribeConfigsResource(
                    4,
                    "1",
                    (
                        "group.consumer.min.session.timeout.ms",
                        "group.consumer.assignors",
                        "group.consumer.max.heartbeat.interval.ms",
                    ),
                ),
            ),
        )
        response = self.successResultOf(call(make_broker(), describe_configs.SPEC, request, 4))
        found = {c.name: (c.value, c.read_only) for c in response.results[0].configs}
        self.assertEqual(
            found,
            {
                "group.consumer.min.session.timeout.ms": ("45000", True),
                "group.consumer.max.heartbeat.interval.ms": ("15000", True),
                "group.consumer.assignors": ("uniform,range", True),
            },
        )


class AlterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()

    def stored(self, name: str = "g") -> dict[str, str]:
        """The GROUP resource's ConfigRecords, as the metadata image holds them."""
        return dict(metadata_of(self.broker).image.configs.get((GROUP, name), {}))

    def refused(
        self, ops: list[tuple[str, int, str | None]], name: str = "g"
    ) -> tuple[int, str | None]:
        (outcome,) = alter(self.broker, [(GROUP, name, ops)])
        return outcome

    def test_set_and_delete(self) -> None:
        """SET writes the override, DELETE removes it; a group need not exist."""
        self.assertEqual(self.refused([("consumer.heartbeat.interval.ms", SET, "6000")]), (0, None))
        self.assertEqual(self.stored(), {"consumer.heartbeat.interval.ms": "6000"})
        self.assertEqual(
            self.refused([("consumer.heartbeat.interval.ms", DELETE, None)]), (0, None)
        )
        self.assertEqual(self.stored(), {})

    def test_bounds(self) -> None:
        """Values outside the broker's min/max bounds are INVALID_CONFIG, with Kafka's messages."""
        cases = [
            ("consumer.session.timeout.ms", "30000", "greater", "group.consumer.min.session"),
            ("consumer.session.timeout.ms", "70000", "less", "group.consumer.max.session"),
            ("consumer.heartbeat.interval.ms", "1000", "greater", "group.consumer.min.heartbeat"),
            ("consumer.heartbeat.interval.ms", "16000", "less", "group.consumer.max.heartbeat"),
            ("share.delivery.count.limit", "11", "less", "group.share.max.delivery"),
            ("streams.num.standby.replicas", "3", "less", "group.streams.max.standby"),
        ]
        bounds = {
            "group.consumer.min.session": "group.consumer.min.session.timeout.ms",
            "group.consumer.max.session": "group.consumer.max.session.timeout.ms",
            "group.consumer.min.heartbeat": "group.consumer.min.heartbeat.interval.ms",
            "group.consumer.max.heartbeat": "group.consumer.max.heartbeat.interval.ms",
            "group.share.max.delivery": "group.share.max.delivery.count.limit",
            "group.streams.max.standby": "group.streams.max.standby.replicas",
        }
        for key, value, way, bound in cases:
            message = f"{key} must be {way} than or equal to {bounds[bound]}"
            self.assertEqual(self.refused([(key, SET, value)]), (INVALID_CONFIG, message))
        self.assertEqual(self.stored(), {})

    def test_malformed_and_unknown(self) -> None:
        """Unknown names, unparsable values and ConfigDef ranges are INVALID_CONFIG."""
        self.assertEqual(
            self.refused([("consumer.foo", SET, "1")]),
            (INVALID_CONFIG, "Unknown group config name: consumer.foo"),
        )
        self.assertEqual(
            self.refused([("consumer.session.timeout.ms", SET, "abc")]),
            (
                INVALID_CONFIG,
                "Invalid value abc for configuration consumer.session.timeout.ms: "
                "Not a number of type INT",
            ),
        )
        self.assertEqual(
            self.refused([("share.isolation.level", SET, "dirty")]),
            (
                INVALID_CONFIG,
                "Invalid value dirty for configuration share.isolation.level: "
                "String must be one of: read_committed, read_uncommitted",
            ),
        )
        self.assertEqual(
            self.refused([("streams.num.standby.replicas", SET, "-1")]),
            (
                INVALID_CONFIG,
                "Invalid value -1 for configuration streams.num.standby.replicas: "
                "Value must be at least 0",
            ),
        )
        self.assertEqual(
            self.refused([("share.auto.offset.reset", SET, "by_duration:PT1H")]), (0, None)
        )
        self.assertEqual(
            self.refused([("share.auto.offset.reset", SET, "sometimes")])[0], INVALID_CONFIG
        )

    def test_session_above_heartbeat(self) -> None:
        """With overlapping broker bounds, a session timeout not above the heartbeat is refused."""
        config = BrokerConfig.from_properties({"group.consumer.min.session.timeout.ms": "5000"})
        self.broker = make_broker(config=config)
        self.assertEqual(
            self.refused(
                [
                    ("consumer.session.timeout.ms", SET, "6000"),
                    ("consumer.heartbeat.interval.ms", SET, "6000"),
                ]
            ),
            (
                INVALID_CONFIG,
                "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms",
            ),
        )
        self.assertEqual(self.refused([("consumer.session.timeout.ms", SET, "6000")]), (0, None))

    def test_empty_name_and_list_operations(self) -> None:
        """An empty name is INVALID_REQUEST; APPEND on a group config is INVALID_CONFIG."""
        self.assertEqual(
            self.refused([("consumer.session.timeout.ms", SET, "50000")], name=""),
            (INVALID_REQUEST, "Default group resources are not allowed."),
        )
        self.assertEqual(
            self.refused([("consumer.session.timeout.ms", APPEND, "50000")]),
            (
                INVALID_CONFIG,
                "Can't APPEND to key consumer.session.timeout.ms because its type is not LIST.",
            ),
        )

    def test_validate_only(self) -> None:
        """validate_only checks and writes nothing."""
        (outcome,) = alter(
            self.broker,
            [(GROUP, "g", [("consumer.session.timeout.ms", SET, "50000")])],
            validate_only=True,
        )
        self.assertEqual(outcome, (0, None))
        self.assertEqual(self.stored(), {})

    def test_legacy_alter_configs_replaces_the_set(self) -> None:
        """AlterConfigs accepts GROUP (as Kafka's controller does) and replaces the whole set."""
        self.assertEqual(
            legacy_alter(
                self.broker,
                "g",
                {"consumer.session.timeout.ms": "50000", "share.isolation.level": "read_committed"},
            ),
            (0, None),
        )
        self.assertEqual(
            legacy_alter(self.broker, "g", {"share.isolation.level": "read_committed"}), (0, None)
        )
        self.assertEqual(self.stored(), {"share.isolation.level": "read_committed"})
        self.assertEqual(
            legacy_alter(self.broker, "g", {"consumer.session.timeout.ms": "1"})[0], INVALID_CONFIG
        )

    def test_persisted_and_replayed(self) -> None:
        """The overrides are ConfigRecords of resource type 32: a reloaded store sees them."""
        alter(self.broker, [(GROUP, "g", [("consumer.session.timeout.ms", SET, "50000")])])
        reloaded = KRaftMetadataStore(metadata_of(self.broker).log_dir)
        self.successResultOf(reloaded.load())
        self.assertEqual(
            reloaded.image.configs[(GROUP, "g")], {"consumer.session.timeout.ms": "50000"}
        )


class AccessorTests(SynchronousTestCase):
    def test_defaults_and_overrides(self) -> None:
        """The coordinator reads a group's timeouts, else the broker's group.consumer.* values."""
        broker = make_broker()
        reader = broker.group_configs
        self.assertEqual(
            (reader.consumer_session_timeout_ms("g"), reader.consumer_heartbeat_interval_ms("g")),
            (45000, 5000),
        )
        alter(
            broker,
            [
                (
                    GROUP,
                    "g",
                    [
                        ("consumer.session.timeout.ms", SET, "55000"),
                        ("consumer.heartbeat.interval.ms", SET, "7000"),
                    ],
                )
            ],
        )
        self.assertEqual(
            (reader.consumer_session_timeout_ms("g"), reader.consumer_heartbeat_interval_ms("g")),
            (55000, 7000),
        )
        self.assertEqual(reader.consumer_session_timeout_ms("h"), 45000)

    def test_restart_and_clamping(self) -> None:
        """After a restart the override is still there, clamped into the new broker bounds."""
        broker = make_broker()
        alter(broker, [(GROUP, "g", [("consumer.session.timeout.ms", SET, "55000")])])
        log_dir = metadata_of(broker).log_dir
        config = BrokerConfig.from_properties(
            {
                "group.consumer.max.session.timeout.ms": "50000",
                "group.consumer.heartbeat.interval.ms": "6000",
            }
        )
        again = make_broker(log_dir=log_dir, config=config)
        self.assertEqual(again.group_configs.consumer_session_timeout_ms("g"), 50000)
        self.assertEqual(again.group_configs.consumer_heartbeat_interval_ms("g"), 6000)
        self.assertEqual(entries(again, "g")["consumer.session.timeout.ms"].value, "55000")

    def test_consumer_settings(self) -> None:
        """The broker's group.consumer.* settings, with Kafka's defaults."""
        settings = make_broker().group_configs.consumer_settings()
        self.assertEqual(
            settings,
            ConsumerGroupSettings(
                session_timeout_ms=45000,
                min_session_timeout_ms=45000,
                max_session_timeout_ms=60000,
                heartbeat_interval_ms=5000,
                min_heartbeat_interval_ms=5000,
                max_heartbeat_interval_ms=15000,
                max_size=2**31 - 1,
                assignors=("uniform", "range"),
                migration_policy="bidirectional",
                regex_refresh_interval_ms=600000,
            ),
        )
