"""The start-up checks of the group protocols' timeouts (Kafka's GroupCoordinatorConfig)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.values import ConfigError


class GroupBoundsTests(SynchronousTestCase):
    """C{group.consumer/share.*} session timeouts and heartbeat intervals within their bounds."""

    def refused(self, props: dict[str, str]) -> ConfigError:
        with self.assertRaises(ConfigError) as caught:
            BrokerConfig.from_properties(props)
        error: ConfigError = caught.exception
        return error

    def test_defaults_pass(self) -> None:
        """Kafka's defaults (45 s within 45-60 s, 5 s within 5-15 s) start."""
        config = BrokerConfig.from_properties({})
        self.assertEqual(config.group_consumer_session_timeout_ms, 45000)

    def test_session_below_min(self) -> None:
        """A session timeout below its minimum is refused with Kafka's message."""
        e = self.refused({"group.consumer.session.timeout.ms": "30000"})
        self.assertEqual(e.key, "group.consumer.session.timeout.ms")
        self.assertEqual(
            e.reason,
            "group.consumer.session.timeout.ms must be greater than or equal to "
            "group.consumer.min.session.timeout.ms",
        )

    def test_heartbeat_above_max(self) -> None:
        """A heartbeat interval above its maximum is refused."""
        e = self.refused({"group.consumer.heartbeat.interval.ms": "20000"})
        self.assertEqual(
            e.reason,
            "group.consumer.heartbeat.interval.ms must be less than or equal to "
            "group.consumer.max.heartbeat.interval.ms",
        )

    def test_bounds_ordered(self) -> None:
        """A maximum below its minimum is refused first (Kafka's order of checks)."""
        e = self.refused({"group.consumer.max.session.timeout.ms": "40000"})
        self.assertEqual(e.key, "group.consumer.max.session.timeout.ms")

    def test_heartbeat_below_session(self) -> None:
        """The heartbeat interval must stay below the session timeout."""
        e = self.refused(
            {
                "group.consumer.min.session.timeout.ms": "3000",
                "group.consumer.session.timeout.ms": "4000",
                "group.consumer.min.heartbeat.interval.ms": "1000",
                "group.consumer.heartbeat.interval.ms": "5000",
            }
        )
        self.assertEqual(
            e.reason,
            "group.consumer.heartbeat.interval.ms must be less than "
            "group.consumer.session.timeout.ms",
        )

    def test_lowered_bounds_allow_short_timeouts(self) -> None:
        """Lowering the minimums admits a short session timeout and heartbeat interval."""
        config = BrokerConfig.from_properties(
            {
                "group.consumer.min.session.timeout.ms": "6000",
                "group.consumer.session.timeout.ms": "6000",
                "group.consumer.min.heartbeat.interval.ms": "1000",
                "group.consumer.heartbeat.interval.ms": "1000",
            }
        )
        self.assertEqual(config.group_consumer_heartbeat_interval_ms, 1000)

    def test_share_group_checked_too(self) -> None:
        """The share group keys are checked the same way."""
        e = self.refused({"group.share.session.timeout.ms": "70000"})
        self.assertEqual(e.key, "group.share.session.timeout.ms")
