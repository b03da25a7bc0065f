"""Topic configs: Kafka's names, types, defaults and broker synonyms.

Mirrors ``LogConfig`` / ``TopicConfig`` in Kafka 4.0: each topic config has a
type, a default, and the broker config it falls back to (its synonym), which
DescribeConfigs reports. Validation gives INVALID_CONFIG with Kafka-style
messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from kafkatwist.errors import ErrorCode, KafkaError

LONG_MAX = 9223372036854775807
INT_MAX = 2147483647

# Kafka's ConfigDef types, as DescribeConfigs v3+ reports them (ConfigType).
TYPE_BOOLEAN, TYPE_STRING, TYPE_INT, TYPE_SHORT, TYPE_LONG, TYPE_DOUBLE, TYPE_LIST = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)


@frozen
class ConfigDef:
    """One topic config."""

    name: str
    type: int
    default: str
    #: The broker config this topic config falls back to (first synonym first).
    synonyms: tuple[str, ...] = ()
    documentation: str = ""
    validator: Callable[[str], str | None] | None = None
    #: Read-only at topic level (DescribeConfigs' ``read_only``).
    read_only: bool = False


def _in(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"String must be one of: {', '.join(choices)}"

    return check


def _at_least(low: float) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if float(value) >= low else f"Value must be at least {_fmt(low)}"

    return check


def _between(low: float, high: float) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        v = float(value)
        return (
            None
            if low <= v <= high
            else f"Value must be no less than {_fmt(low)} and no more than {_fmt(high)}"
        )

    return check


def _gzip_level(value: str) -> str | None:
    level = int(value)
    if level > 9 or (level < 1 and level != -1):
        return "Value must be between 1 and 9 or equal to -1"
    return None


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


# LIST validators check each item (Kafka's ValidList).
_CLEANUP = _in("compact", "delete")
_COMPRESSION = _in("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
_TIMESTAMP_TYPE = _in("CreateTime", "LogAppendTime")

TOPIC_CONFIGS: dict[str, ConfigDef] = {
    d.name: d
    for d in (
        ConfigDef(
            "cleanup.policy",
            TYPE_LIST,
            "delete",
            ("log.cleanup.policy",),
            "The retention policy to use on log segments.",
            _CLEANUP,
        ),
        ConfigDef(
            "compression.type",
            TYPE_STRING,
            "producer",
            ("compression.type",),
            "The final compression type for a given topic.",
            _COMPRESSION,
        ),
        ConfigDef(
            "compression.gzip.level",
            TYPE_INT,
            "-1",
            ("compression.gzip.level",),
            "The compression level to use if compression.type is set to gzip.",
            _gzip_level,
        ),
        ConfigDef(
            "compression.lz4.level",
            TYPE_INT,
            "9",
            ("compression.lz4.level",),
            "The compression level to use if compression.type is set to lz4.",
            _between(1, 17),
        ),
        ConfigDef(
            "compression.zstd.level",
            TYPE_INT,
            "3",
            ("compression.zstd.level",),
            "The compression level to use if compression.type is set to zstd.",
            _between(-131072, 22),
        ),
        ConfigDef(
            "delete.retention.ms",
            TYPE_LONG,
            "86400000",
            ("log.cleaner.delete.retention.ms",),
            "The amount of time to retain tombstone markers for log compacted topics.",
            _at_least(0),
        ),
        ConfigDef(
            "file.delete.delay.ms",
            TYPE_LONG,
            "60000",
            ("log.segment.delete.delay.ms",),
            "The time to wait before deleting a file from the filesystem.",
            _at_least(0),
        ),
        ConfigDef(
            "flush.messages",
            TYPE_LONG,
            str(LONG_MAX),
            ("log.flush.interval.messages",),
            "The number of messages written to a log partition before an fsync.",
            _at_least(1),
        ),
        ConfigDef(
            "flush.ms",
            TYPE_LONG,
            str(LONG_MAX),
            ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
            "The time in ms between fsyncs of a log partition.",
            _at_least(0),
        ),
        ConfigDef(
            "follower.replication.throttled.replicas",
            TYPE_LIST,
            "",
            (),
            "Replicas throttled on the follower side.",
        ),
        ConfigDef(
            "index.interval.bytes",
            TYPE_INT,
            "4096",
            ("log.index.interval.bytes",),
            "How frequently Kafka adds an index entry to its offset index.",
            _at_least(0),
        ),
        ConfigDef(
            "leader.replication.throttled.replicas",
            TYPE_LIST,
            "",
            (),
            "Replicas throttled on the leader side.",
        ),
        ConfigDef(
            "local.retention.bytes",
            TYPE_LONG,
            "-2",
            ("log.local.retention.bytes",),
            "The maximum size of local log segments (tiered storage).",
            _at_least(-2),
        ),
        ConfigDef(
            "local.retention.ms",
            TYPE_LONG,
            "-2",
            ("log.local.retention.ms",),
            "The time to retain local log segments (tiered storage).",
            _at_least(-2),
        ),
        ConfigDef(
            "max.compaction.lag.ms",
            TYPE_LONG,
            str(LONG_MAX),
            ("log.cleaner.max.compaction.lag.ms",),
            "The maximum time a message will remain ineligible for compaction.",
            _at_least(1),
        ),
        ConfigDef(
            "max.message.bytes",
            TYPE_INT,
            "1048588",
            ("message.max.bytes",),
            "The largest record batch size allowed by Kafka (after compression).",
            _at_least(0),
        ),
        # Kafka 4.0 (KIP-1030) lowered this default from Long.MAX_VALUE to one hour.
        ConfigDef(
            "message.timestamp.after.max.ms",
            TYPE_LONG,
            "3600000",
            ("log.message.timestamp.after.max.ms",),
            "The allowed time a message timestamp may be ahead of the broker's.",
            _at_least(0),
        ),
        ConfigDef(
            "message.timestamp.before.max.ms",
            TYPE_LONG,
            str(LONG_MAX),
            ("log.message.timestamp.before.max.ms",),
            "The allowed time a message timestamp may be behind the broker's.",
            _at_least(0),
        ),
        ConfigDef(
            "message.timestamp.type",
            TYPE_STRING,
            "CreateTime",
            ("log.message.timestamp.type",),
            "Whether the timestamp in the message is create time or log append time.",
            _TIMESTAMP_TYPE,
        ),
        ConfigDef(
            "min.cleanable.dirty.ratio",
            TYPE_DOUBLE,
            "0.5",
            ("log.cleaner.min.cleanable.ratio",),
            "How frequently the log compactor will attempt to clean the log.",
            _between(0, 1),
        ),
        ConfigDef(
            "min.compaction.lag.ms",
            TYPE_LONG,
            "0",
            ("log.cleaner.min.compaction.lag.ms",),
            "The minimum time a message will remain uncompacted in the log.",
            _at_least(0),
        ),
        ConfigDef(
            "min.insync.replicas",
            TYPE_INT,
            "1",
            ("min.insync.replicas",),
            "The minimum number of replicas that must acknowledge a write with acks=all.",
            _at_least(1),
        ),
        ConfigDef(
            "preallocate",
            TYPE_BOOLEAN,
            "false",
            ("log.preallocate",),
            "True if we should preallocate the file on disk when creating a new log segment.",
        ),
        ConfigDef(
            "remote.log.copy.disable",
            TYPE_BOOLEAN,
            "false",
            (),
            "Disables copying of segments to tiered storage.",
        ),
        ConfigDef(
            "remote.log.delete.on.disable",
            TYPE_BOOLEAN,
            "false",
            (),
            "Delete remote segments when tiered storage is disabled.",
        ),
        ConfigDef(
            "remote.storage.enable",
            TYPE_BOOLEAN,
            "false",
            (),
            "To enable tiered storage for a topic.",
        ),
        ConfigDef(
            "retention.bytes",
            TYPE_LONG,
            "-1",
            ("log.retention.bytes",),
            "The maximum size a partition can grow to before old segments are discarded.",
        ),
        ConfigDef(
            "retention.ms",
            TYPE_LONG,
            "604800000",
            ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
            "The maximum time a log is retained before old segments are discarded.",
            _at_least(-1),
        ),
        ConfigDef(
            "segment.bytes",
            TYPE_INT,
            "1073741824",
            ("log.segment.bytes",),
            "The segment file size for the log.",
            _at_least(1048576),
        ),
        ConfigDef(
            "segment.index.bytes",
            TYPE_INT,
            "10485760",
            ("log.index.size.max.bytes",),
            "The size of the index that maps offsets to file positions.",
            _at_least(4),
        ),
        ConfigDef(
            "segment.jitter.ms",
            TYPE_LONG,
            "0",
            ("log.roll.jitter.ms", "log.roll.jitter.hours"),
            "The maximum random jitter subtracted from the scheduled segment roll time.",
            _at_least(0),
        ),
        ConfigDef(
            "segment.ms",
            TYPE_LONG,
            "604800000",
            ("log.roll.ms", "log.roll.hours"),
            "The period of time after which Kafka will force the log to roll.",
            _at_least(1),
        ),
        ConfigDef(
            "unclean.leader.election.enable",
            TYPE_BOOLEAN,
            "false",
            ("unclean.leader.election.enable",),
            "Whether to enable replicas not in the ISR set to be elected as leader.",
        ),
    )
}

#: Broker configs whose values are given in other units than the topic config's.
_UNIT_SCALE = {
    "log.retention.minutes": 60_000,
    "log.retention.hours": 3_600_000,
    "log.roll.hours": 3_600_000,
    "log.roll.jitter.hours": 3_600_000,
}


_INTEGER = re.compile(r"[+-]?[0-9]+")
_TYPE_NAMES = {TYPE_INT: "INT", TYPE_SHORT: "SHORT", TYPE_LONG: "LONG", TYPE_DOUBLE: "DOUBLE"}
_LIMITS = {TYPE_INT: INT_MAX, TYPE_SHORT: 32767, TYPE_LONG: LONG_MAX}


def parse_value(type_: int, value: str) -> Any:
    """
    Parse a config value as Kafka's C{ConfigDef.parseType} does.

    @raise ValueError: with Kafka's reason ("Not a number of type INT", ...).
    """
    v = value.strip()
    if type_ == TYPE_BOOLEAN:
        if v.lower() not in ("true", "false"):
            raise ValueError("Expected value to be either true or false")
        return v.lower() == "true"
    if type_ in _LIMITS:
        limit = _LIMITS[type_]
        if not _INTEGER.fullmatch(v) or not -limit - 1 <= int(v) <= limit:
            raise ValueError(f"Not a number of type {_TYPE_NAMES[type_]}")
        return int(v)
    if type_ == TYPE_DOUBLE:
        try:
            return float(v)
        except ValueError:
            raise ValueError("Not a number of type DOUBLE") from None
    if type_ == TYPE_LIST:
        return split_list(v)
    return v


def _parse(d: ConfigDef, value: str) -> Any:
    return parse_value(d.type, value)


def split_list(value: str) -> list[str]:
    """A LIST value's items, as Kafka's ConfigDef parses them (trimmed, empty string: none)."""
    if not value.strip():
        return []
    return [item.strip() for item in value.split(",")]


def java_double(v: float) -> str:
    """C{Double.toString} for the values configs hold (0.5, 1.0, 1.7976931348623157E308)."""
    text = repr(float(v))
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}E{int(exponent)}"
    return text


def canonical(type_: int, value: str) -> str:
    """
    A valid value as Kafka prints it back (C{ConfigDef.convertToString} of the parsed value).

    Values that do not parse are returned as they are.
    """
    try:
        parsed = parse_value(type_, value)
    except ValueError:
        return value
    if type_ == TYPE_BOOLEAN:
        return "true" if parsed else "false"
    if type_ in _LIMITS:
        return str(parsed)
    if type_ == TYPE_DOUBLE:
        return java_double(parsed)
    if type_ == TYPE_LIST:
        return ",".join(parsed)
    return str(parsed)


def validate(configs: Mapping[str, str | None]) -> None:
    """Raise INVALID_CONFIG for an unknown topic config or a malformed value."""
    for name, value in configs.items():
        d = TOPIC_CONFIGS.get(name)
        if d is None:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
        if value is None:
            continue
        message = value_error(d.type, d.validator, name, value)
        if message is not None:
            raise KafkaError(ErrorCode.INVALID_CONFIG, message)


def value_error(
    type_: int, validator: Callable[[str], str | None] | None, name: str, value: str
) -> str | None:
    """
    Kafka's C{ConfigException} message for a value that does not parse or
    validate ("Invalid value v for configuration name: reason"), or None.

    A LIST's validator checks each item and the message names the item.
    """
    try:
        parsed = parse_value(type_, value)
    except ValueError as e:
        return f"Invalid value {value} for configuration {name}: {e}"
    if validator is None:
        return None
    items = parsed if type_ == TYPE_LIST else [value.strip()]
    for item in items:
        reason = validator(item)
        if reason is not None:
            return f"Invalid value {item} for configuration {name}: {reason}"
    return None


def validate_values(effective_configs: Mapping[str, str]) -> None:
    """
    Raise INVALID_CONFIG for combinations Kafka's C{LogConfig.validate} refuses.

    @param effective_configs: every topic config's value (override or default),
        already valid one by one.
    """
    try:
        min_lag = int(effective_configs.get("min.compaction.lag.ms", "0"))
        max_lag = int(effective_configs.get("max.compaction.lag.ms", str(LONG_MAX)))
    except ValueError:  # a malformed server default; the overrides were checked
        min_lag, max_lag = 0, LONG_MAX
    if min_lag > max_lag:
        raise KafkaError(
            ErrorCode.INVALID_CONFIG,
            f"conflict topic config setting min.compaction.lag.ms ({min_lag}) > "
            f"max.compaction.lag.ms ({max_lag})",
        )
    if effective_configs.get("remote.storage.enable", "false").strip().lower() == "true":
        # This broker has no tiered storage (remote.log.storage.system.enable=false).
        raise KafkaError(
            ErrorCode.INVALID_CONFIG,
            "Tiered Storage functionality is disabled in the broker. "
            "Topic cannot be configured with remote log storage.",
        )


def is_list(name: str) -> bool:
    """Whether C{name} is a topic config of type LIST (APPEND/SUBTRACT apply to it)."""
    d = TOPIC_CONFIGS.get(name)
    return d is not None and d.type == TYPE_LIST


def broker_default(d: ConfigDef, broker_properties: Mapping[str, str]) -> tuple[str, str | None]:
    """
    The value a topic without an override gets, and the broker key it came from.

    @return: (value, synonym name) where the name is None for Kafka's default.
    """
    for syn in d.synonyms:
        if syn in broker_properties:
            raw = broker_properties[syn].strip()
            scale = _UNIT_SCALE.get(syn)
            if scale is not None:
                try:
                    return str(int(raw) * scale), syn
                except ValueError:
                    return raw, syn
            return raw, syn
    return d.default, None


def effective(overrides: Mapping[str, str], broker_properties: Mapping[str, str]) -> dict[str, str]:
    """Every topic config's value: the topic's override, else the broker's, else Kafka's."""
    out = {}
    for name, d in TOPIC_CONFIGS.items():
        if name in overrides:
            out[name] = overrides[name]
        else:
            out[name] = broker_default(d, broker_properties)[0]
    return out
