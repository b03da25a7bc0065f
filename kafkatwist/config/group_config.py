"""GroupConfig: the group coordinator's settings, under Kafka's C{group.*} and C{offsets.*} keys.

Kafka's C{GroupCoordinatorConfig}: the values the classic group protocol and
the offsets store apply, taken once from the broker's static configuration.
"""

from __future__ import annotations

from attrs import frozen

from kafkatwist.config.properties import BrokerConfig

#: Kafka's C{classicGroupNewMemberJoinTimeoutMs} (5 minutes, not a config
#: key): how long a new member's parked JoinGroup may wait before the
#: member is dropped.
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000


@frozen
class GroupConfig:
    """
    The group coordinator's settings, with Kafka's names.

    Built from the broker's configuration by L{from_broker_config}: each
    value is parsed, validated and defaulted once, by the broker config
    table (L{kafkatwist.config.broker_configs}). Durations are ints of
    milliseconds (C{offsets_retention_minutes} stays in minutes, as its
    Kafka name says).
    """

    #: C{group.initial.rebalance.delay.ms}.
    group_initial_rebalance_delay_ms: int
    #: C{group.min.session.timeout.ms}.
    group_min_session_timeout_ms: int
    #: C{group.max.session.timeout.ms}.
    group_max_session_timeout_ms: int
    #: C{group.max.size}.
    group_max_size: int
    #: C{offsets.topic.num.partitions}.
    offsets_topic_num_partitions: int
    #: C{offsets.retention.minutes}.
    offsets_retention_minutes: int
    #: C{offsets.retention.check.interval.ms}.
    offsets_retention_check_interval_ms: int
    #: C{offset.metadata.max.bytes}.
    offset_metadata_max_bytes: int
    #: See L{NEW_MEMBER_JOIN_TIMEOUT_MS}.
    group_new_member_join_timeout_ms: int = NEW_MEMBER_JOIN_TIMEOUT_MS
    #: C{offsets.topic.segment.bytes}: the ``segment.bytes`` ``__consumer_offsets`` is created with.
    offsets_topic_segment_bytes: int = 104857600
    #: C{group.consumer.session.timeout.ms} (KIP-848 consumer groups).
    consumer_session_timeout_ms: int = 45000
    #: C{group.consumer.heartbeat.interval.ms}.
    consumer_heartbeat_interval_ms: int = 5000
    #: C{group.consumer.max.size}.
    consumer_max_size: int = 2147483647
    #: C{group.consumer.assignors}: the first is the default.
    consumer_assignors: tuple[str, ...] = ("uniform", "range")
    #: C{group.consumer.migration.policy}.
    consumer_migration_policy: str = "bidirectional"

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
            offset_metadata_max_bytes=config.offset_metadata_max_bytes,
            offsets_topic_segment_bytes=config.offsets_topic_segment_bytes,
            consumer_session_timeout_ms=config.group_consumer_session_timeout_ms,
            consumer_heartbeat_interval_ms=config.group_consumer_heartbeat_interval_ms,
            consumer_max_size=config.group_consumer_max_size,
            consumer_assignors=config.group_consumer_assignors,
            consumer_migration_policy=config.group_consumer_migration_policy.lower(),
        )
