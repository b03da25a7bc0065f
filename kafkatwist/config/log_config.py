"""LogConfig: the storage settings of one topic under Kafka's topic config names.

Kafka's C{LogConfig}: the per-topic values a partition log applies, parsed
from topic overrides (C{from_topic_configs}) or from the broker's
C{server.properties} defaults (C{from_broker_properties}).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
from attrs import frozen

from kafkatwist.errors import ErrorCode, KafkaError

LONG_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
_LOG_APPEND_TIME = "LogAppendTime"
_CREATE_TIME = "CreateTime"


def _int_between(name: str, value: str, low: int, high: int = LONG_MAX) -> int:
    try:
        number = int(value.strip())
    except (ValueError, AttributeError):
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"{name}: {value!r} is not an integer") from None
    if not low <= number <= high:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"{name}: {number} is outside [{low}, {high}]")
    return number


def _timestamp_type(name: str, value: str) -> str:
    if value not in (_CREATE_TIME, _LOG_APPEND_TIME):
        raise KafkaError(
            ErrorCode.INVALID_CONFIG, f"{name}: {value!r} is not CreateTime or LogAppendTime"
        )
    return value


def _cleanup_policy(name: str, value: str) -> str:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or any(p not in ("delete", "compact") for p in parts):
        raise KafkaError(
            ErrorCode.INVALID_CONFIG, f"{name}: {value!r} is not a list of delete/compact"
        )
    return ",".join(parts)


#: Kafka topic config name -> (LogConfig attribute, parser).
_TOPIC_CONFIGS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "segment.bytes": ("segment_bytes", lambda n, v: _int_between(n, v, 14, INT32_MAX)),
    "segment.ms": ("segment_ms", lambda n, v: _int_between(n, v, 1)),
    "segment.index.bytes": ("segment_index_bytes", lambda n, v: _int_between(n, v, 4, INT32_MAX)),
    "index.interval.bytes": ("index_interval_bytes", lambda n, v: _int_between(n, v, 0, INT32_MAX)),
    "retention.ms": ("retention_ms", lambda n, v: _int_between(n, v, -1)),
    "retention.bytes": ("retention_bytes", lambda n, v: _int_between(n, v, -(2**63))),
    "flush.messages": ("flush_messages", lambda n, v: _int_between(n, v, 1)),
    "flush.ms": ("flush_ms", lambda n, v: _int_between(n, v, 0)),
    "message.timestamp.type": ("message_timestamp_type", _timestamp_type),
    "max.message.bytes": ("max_message_bytes", lambda n, v: _int_between(n, v, 0, INT32_MAX)),
    "cleanup.policy": ("cleanup_policy", _cleanup_policy),
    "file.delete.delay.ms": ("file_delete_delay_ms", lambda n, v: _int_between(n, v, 0)),
}

#: Broker property -> topic config name, for the properties that map one to one.
_BROKER_PROPERTIES = {
    "log.segment.bytes": "segment.bytes",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.retention.bytes": "retention.bytes",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "log.message.timestamp.type": "message.timestamp.type",
    "message.max.bytes": "max.message.bytes",
    "log.cleanup.policy": "cleanup.policy",
    "log.segment.delete.delay.ms": "file.delete.delay.ms",
}


@frozen
class LogConfig:
    """
    The storage settings of one topic, under Kafka's topic config names (snake_cased).

    Defaults are Kafka 4.0's. C{-1} means unlimited for C{retention_ms} and
    C{retention_bytes}; C{LONG_MAX} disables the flush policies (Kafka's
    default: rely on the page cache, fsync on roll and close). Kafka 4.0
    refuses C{segment.bytes} below 1 MiB; this class accepts down to 14
    bytes, as older Kafka did, which tests use.
    """

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    segment_index_bytes: int = 10485760
    index_interval_bytes: int = 4096
    retention_ms: int = 604800000
    retention_bytes: int = -1
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    message_timestamp_type: str = _CREATE_TIME
    max_message_bytes: int = 1048588
    cleanup_policy: str = "delete"
    file_delete_delay_ms: int = 60000

    @classmethod
    def from_topic_configs(cls, defaults: LogConfig, overrides: Mapping[str, str]) -> LogConfig:
        """
        C{defaults} with the topic's overrides applied (``segment.bytes``, ``retention.ms``, ...).

        Names that are not storage settings are ignored.

        @raise KafkaError: C{INVALID_CONFIG} for a value Kafka would refuse.
        """
        changes = {}
        for name, value in overrides.items():
            known = _TOPIC_CONFIGS.get(name)
            if known is not None and value is not None:
                attribute, parse = known
                changes[attribute] = parse(name, value)
        return _evolve(defaults, changes)

    @classmethod
    def from_broker_properties(cls, properties: Mapping[str, str]) -> LogConfig:
        """
        The broker-wide defaults from ``server.properties`` names (``log.segment.bytes``, ...).

        ``log.roll.ms`` wins over ``log.roll.hours``, and ``log.retention.ms``
        over ``.minutes`` over ``.hours``, as in Kafka.
        """
        topic: dict[str, str] = {}
        for prop, name in _BROKER_PROPERTIES.items():
            if prop in properties:
                topic[name] = properties[prop]
        if "log.roll.ms" in properties:
            topic["segment.ms"] = properties["log.roll.ms"]
        elif "log.roll.hours" in properties:
            hours = _int_between("log.roll.hours", properties["log.roll.hours"], 1)
            topic["segment.ms"] = str(hours * 3600000)
        for prop, factor in (
            ("log.retention.ms", 1),
            ("log.retention.minutes", 60000),
            ("log.retention.hours", 3600000),
        ):
            if prop in properties:
                value = _int_between(prop, properties[prop], -(2**63))
                topic["retention.ms"] = str(-1 if value < 0 else value * factor)
                break
        return cls.from_topic_configs(cls(), topic)

    def to_topic_configs(self) -> dict[str, str]:
        """These settings under Kafka's topic config names, as strings (for DescribeConfigs)."""
        return {
            name: str(getattr(self, attribute)) for name, (attribute, _) in _TOPIC_CONFIGS.items()
        }

    @property
    def log_append_time(self) -> bool:
        """Whether the broker stamps batches with LogAppendTime."""
        return self.message_timestamp_type == _LOG_APPEND_TIME

    @property
    def deletes(self) -> bool:
        """Whether ``cleanup.policy`` includes ``delete`` (time and size retention apply)."""
        return "delete" in self.cleanup_policy.split(",")


def _evolve(config: LogConfig, changes: Mapping[str, Any]) -> LogConfig:
    return attrs.evolve(config, **changes)
