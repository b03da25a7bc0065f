"""Tests for MembershipConfig: the membership settings read with Kafka's names and defaults."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.postgres.membership import MembershipConfig


class MembershipConfigTests(SynchronousTestCase):
    """C{MembershipConfig.from_properties}."""

    def test_kafka_defaults(self) -> None:
        """Without the keys, Kafka's defaults: 2 s heartbeats, 9 s sessions, a check every 300 s."""
        config = MembershipConfig.from_properties({})
        self.assertEqual(config, MembershipConfig())
        self.assertEqual(
            (
                config.heartbeat_interval_ms,
                config.session_timeout_ms,
                config.registration_timeout_ms,
                config.rebalance_enable,
                config.rebalance_interval_ms,
                config.rack,
            ),
            (2000, 9000, 60000, True, 300000, None),
        )

    def test_properties(self) -> None:
        """The keys of server.properties set every field."""
        config = MembershipConfig.from_properties(
            {
                "broker.heartbeat.interval.ms": "250",
                "broker.session.timeout.ms": "1500",
                "initial.broker.registration.timeout.ms": "0",
                "auto.leader.rebalance.enable": "FALSE",
                "leader.imbalance.check.interval.seconds": "30",
                "broker.rack": "eu-1a",
            }
        )
        self.assertEqual(
            config,
            MembershipConfig(
                heartbeat_interval_ms=250,
                session_timeout_ms=1500,
                registration_timeout_ms=0,
                rebalance_enable=False,
                rebalance_interval_ms=30000,
                rack="eu-1a",
            ),
        )
