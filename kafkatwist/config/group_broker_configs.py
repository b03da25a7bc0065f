"""The broker keys of the group protocols (KIP-848 consumer, KIP-932 share, KIP-1071 streams).

Kafka's C{GroupCoordinatorConfig} and C{ShareGroupConfig}: the broker-wide
values of the group-level configs (L{kafkatwist.config.group_overrides})
and the bounds a group's override must stay within. All read-only, as in
Kafka. L{kafkatwist.config.broker_configs} adds these rows to its table, so
DescribeConfigs shows them and C{server.properties} may set them.
"""

from __future__ import annotations

from collections.abc import Mapping

from kafkatwist.config.values import (
    INT_MAX,
    TYPE_INT,
    TYPE_LIST,
    TYPE_STRING,
    ConfigError,
    Validator,
    at_least,
    between,
)

#: Kafka's C{ConsumerGroupMigrationPolicy} values.
MIGRATION_POLICIES = ("disabled", "downgrade", "upgrade", "bidirectional")

_POSITIVE = at_least(1)


def _policy(value: str) -> str | None:
    """C{ConsumerGroupMigrationPolicy}'s validator: one of the policies, any case."""
    if value.lower() in MIGRATION_POLICIES:
        return None
    return f"String must be one of (case insensitive): {', '.join(MIGRATION_POLICIES).upper()}"


def _rows(
    prefix: str, what: str, session: int, heartbeat: int
) -> list[tuple[str, int, str, str, Validator | None]]:
    """A protocol's session timeout and heartbeat interval, with their bounds."""
    rows: list[tuple[str, int, str, str, Validator | None]] = []
    for key, value, low, high, doc in (
        ("session.timeout.ms", session, session, 60000, f"The session timeout of {what}."),
        (
            "heartbeat.interval.ms",
            heartbeat,
            heartbeat,
            15000,
            f"The heartbeat interval of {what}.",
        ),
    ):
        rows.append((f"{prefix}.{key}", TYPE_INT, str(value), doc, _POSITIVE))
        rows.append(
            (f"{prefix}.min.{key}", TYPE_INT, str(low), f"The minimum {doc[4:]}", _POSITIVE)
        )
        rows.append(
            (f"{prefix}.max.{key}", TYPE_INT, str(high), f"The maximum {doc[4:]}", _POSITIVE)
        )
    return rows


#: (name, type, default, documentation, validator), read-only broker keys.
GROUP_BROKER_ROWS: tuple[tuple[str, int, str, str, Validator | None], ...] = (
    *_rows("group.consumer", "consumer group members", 45000, 5000),
    (
        "group.consumer.max.size",
        TYPE_INT,
        str(INT_MAX),
        "The maximum number of members of a consumer group.",
        _POSITIVE,
    ),
    (
        "group.consumer.assignors",
        TYPE_LIST,
        "uniform,range",
        "The server-side assignors, the default first.",
        None,
    ),
    (
        "group.consumer.migration.policy",
        TYPE_STRING,
        "bidirectional",
        "Whether non-empty classic and consumer groups convert into each other.",
        _policy,
    ),
    (
        "group.consumer.regex.refresh.interval.ms",
        TYPE_INT,
        "600000",
        "How often the topics matching the groups' regexes are refreshed.",
        _POSITIVE,
    ),
    *_rows("group.share", "share group members", 45000, 5000),
    (
        "group.share.record.lock.duration.ms",
        TYPE_INT,
        "30000",
        "The record acquisition lock duration of share groups.",
        between(1000, 3600000),
    ),
    (
        "group.share.min.record.lock.duration.ms",
        TYPE_INT,
        "15000",
        "The minimum record lock duration of a share group.",
        between(1000, 30000),
    ),
    (
        "group.share.max.record.lock.duration.ms",
        TYPE_INT,
        "60000",
        "The maximum record lock duration of a share group.",
        between(30000, 3600000),
    ),
    (
        "group.share.delivery.count.limit",
        TYPE_INT,
        "5",
        "The maximum number of delivery attempts of a share group record.",
        between(2, 10),
    ),
    (
        "group.share.min.delivery.count.limit",
        TYPE_INT,
        "2",
        "The minimum delivery count limit of a share group.",
        between(2, 5),
    ),
    (
        "group.share.max.delivery.count.limit",
        TYPE_INT,
        "10",
        "The maximum delivery count limit of a share group.",
        between(5, 25),
    ),
    (
        "group.share.partition.max.record.locks",
        TYPE_INT,
        "2000",
        "The record lock limit of a share-partition.",
        between(100, 10000),
    ),
    (
        "group.share.min.partition.max.record.locks",
        TYPE_INT,
        "100",
        "The minimum record lock limit of a share-partition.",
        between(100, 10000),
    ),
    (
        "group.share.max.partition.max.record.locks",
        TYPE_INT,
        "10000",
        "The maximum record lock limit of a share-partition.",
        between(100, 10000),
    ),
    *_rows("group.streams", "streams group members", 45000, 5000),
    (
        "group.streams.num.standby.replicas",
        TYPE_INT,
        "0",
        "The number of standby replicas of each streams task.",
        at_least(0),
    ),
    (
        "group.streams.max.standby.replicas",
        TYPE_INT,
        "2",
        "The maximum number of standby replicas a streams group may ask for.",
        at_least(0),
    ),
    (
        "group.streams.initial.rebalance.delay.ms",
        TYPE_INT,
        "3000",
        "How long a new streams group waits before its first assignment.",
        at_least(0),
    ),
)

#: The L{kafkatwist.config.properties.BrokerConfig} fields the consumer group keys feed.
GROUP_BROKER_FEEDS = {
    "group.consumer.session.timeout.ms": "group_consumer_session_timeout_ms",
    "group.consumer.heartbeat.interval.ms": "group_consumer_heartbeat_interval_ms",
    "group.consumer.max.size": "group_consumer_max_size",
    "group.consumer.assignors": "group_consumer_assignors",
    "group.consumer.migration.policy": "group_consumer_migration_policy",
}


def _require_bounds(properties: Mapping[str, str], prefix: str) -> None:
    """C{GroupCoordinatorConfig}'s start-up checks of one protocol's timeouts, in its order."""
    defaults = {row[0]: row[2] for row in GROUP_BROKER_ROWS}

    def key(name: str) -> str:
        return f"{prefix}.{name}"

    def value(name: str) -> int:
        return int(properties.get(key(name), defaults[key(name)]).strip())

    checks = (
        ("max.heartbeat.interval.ms", ">=", "min.heartbeat.interval.ms"),
        ("heartbeat.interval.ms", ">=", "min.heartbeat.interval.ms"),
        ("heartbeat.interval.ms", "<=", "max.heartbeat.interval.ms"),
        ("max.session.timeout.ms", ">=", "min.session.timeout.ms"),
        ("session.timeout.ms", ">=", "min.session.timeout.ms"),
        ("session.timeout.ms", "<=", "max.session.timeout.ms"),
        ("heartbeat.interval.ms", "<", "session.timeout.ms"),
    )
    words = {">=": "greater than or equal to", "<=": "less than or equal to", "<": "less than"}
    for left, op, right in checks:
        a, b = value(left), value(right)
        ok = a >= b if op == ">=" else a <= b if op == "<=" else a < b
        if not ok:
            raise ConfigError(key(left), str(a), f"{key(left)} must be {words[op]} {key(right)}")


def check_group_properties(properties: Mapping[str, str]) -> None:
    """
    Kafka's C{GroupCoordinatorConfig} start-up checks of C{server.properties}:
    each protocol's session timeout and heartbeat interval within their
    min/max bounds, the bounds ordered, the heartbeat interval below the
    session timeout (consumer then share groups, as Kafka checks them).

    @raise ConfigError: naming the first key out of bounds, with Kafka's message.
    """
    for prefix in ("group.consumer", "group.share"):
        _require_bounds(properties, prefix)
