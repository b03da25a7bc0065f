"""GroupConfig: the group coordinator's settings, under Kafka's C{group.*} and C{offsets.*} keys.

Kafka's C{GroupCoordinatorConfig}: the values the classic group protocol and
the offsets store apply, taken once from the broker's static configuration.
"""

from __future__ import annotations

from attrs import frozen

from kafkatwist.config.properties import BrokerConfig

#: Kafka's C{offsets.metadata.max.bytes} default.
DEFAULT_OFFSET_METADATA_MAX_BYTES = 4096
#: Kafka's C{group.classic.new.member.join.timeout} (5 minutes): how long a
#: new member's parked JoinGroup may wait before the member is dropped.
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000


@frozen
class GroupConfig:
    """
    The group coordinator's settings, with Kafka's names and defaults.

    Durations are ints of milliseconds (C{offsets_retention_minutes} stays
    in minutes, as its Kafka name says).
    """

    #: C{group.initial.rebalance.delay.ms}.
    group_initial_rebalance_delay_ms: int = 3000
    #: C{group.min.session.timeout.ms}.
    group_min_session_timeout_ms: int = 6000
    #: C{group.max.session.timeout.ms}.
    group_max_session_timeout_ms: int = 1800000
    #: C{group.max.size}.
    group_max_size: int = 2147483647
    #: C{group.classic.new.member.join.timeout.ms}.
    group_new_member_join_timeout_ms: int = NEW_MEMBER_JOIN_TIMEOUT_MS
    #: C{offsets.topic.num.partitions}.
    offsets_topic_num_partitions: int = 50
    #: C{offsets.retention.minutes}.
    offsets_retention_minutes: int = 10080
    #: C{offsets.retention.check.interval.ms}.
    offsets_retention_check_interval_ms: int = 600000
    #: C{offsets.metadata.max.bytes}.
    offsets_metadata_max_bytes: int = DEFAULT_OFFSET_METADATA_MAX_BYTES

    @property
    def offsets_retention_ms(self) -> int:
        """C{offsets.retention.minutes} in milliseconds."""
        return self.offsets_retention_minutes * 60_000

    @classmethod
    def from_broker_config(cls, config: BrokerConfig) -> GroupConfig:
        """The group settings of a broker's configuration."""
        return cls(
            group_initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            group_min_session_timeout_ms=config.group_min_session_timeout_ms,
            group_max_session_timeout_ms=config.group_max_session_timeout_ms,
            group_max_size=config.group_max_size,
            offsets_topic_num_partitions=config.offsets_topic_num_partitions,
            offsets_retention_minutes=config.offsets_retention_minutes,
            offsets_retention_check_interval_ms=config.offsets_retention_check_interval_ms,
            # Not a typed BrokerConfig field yet: read from the raw properties.
            offsets_metadata_max_bytes=int(
                config.properties.get(
                    "offsets.metadata.max.bytes", str(DEFAULT_OFFSET_METADATA_MAX_BYTES)
                )
            ),
        )
