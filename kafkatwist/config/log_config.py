"""LogConfig: the storage settings of one topic under Kafka's topic config names.

Kafka's C{LogConfig}: the per-topic values a partition log applies. Which
topic config feeds which field, its type, default and bounds come from the
topic table (L{kafkatwist.config.topic_config.TOPIC_CONFIGS}, the C{log_field}
column); the config resolver (L{kafkatwist.config.resolver}) builds one per
topic from the override, dynamic, static and default layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from attrs import frozen

from kafkatwist.config.topic_config import TOPIC_CONFIGS, ConfigDef
from kafkatwist.config.values import LONG_MAX, T, parse_as, value_error
from kafkatwist.errors import ErrorCode, KafkaError

__all__ = ["LONG_MAX", "LogConfig"]

_LOG_APPEND_TIME = "LogAppendTime"

#: LogConfig field -> the topic config feeding it.
_FIELDS: dict[str, ConfigDef] = {
    d.log_field: d for d in TOPIC_CONFIGS.values() if d.log_field is not None
}


def _parse(d: ConfigDef, value: str) -> object:
    """A value of C{d} as its field holds it; LIST values as a canonical comma list."""
    message = value_error(d.type, d.storage_validator or d.validator, d.name, value)
    if message is not None:
        raise KafkaError(ErrorCode.INVALID_CONFIG, message)
    return parse_as(d.type, value, object)


def _default(name: str, kind: type[T]) -> T:
    """The table's default of a topic config, as its field holds it."""
    return parse_as(TOPIC_CONFIGS[name].type, TOPIC_CONFIGS[name].default, kind)


def _text(value: object) -> str:
    """A field's value as Kafka writes it (booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@frozen
class LogConfig:
    """
    The storage settings of one topic, under Kafka's topic config names (snake_cased).

    Defaults are Kafka 4.0's, from the topic table. C{-1} means unlimited for
    C{retention_ms} and C{retention_bytes}; C{LONG_MAX} disables the flush
    policies (Kafka's default: rely on the page cache, fsync on roll and
    close). Kafka 4.0 refuses C{segment.bytes} below 1 MiB in a topic
    override; a log accepts down to 14 bytes, as older Kafka did, which
    tests use.
    """

    segment_bytes: int = _default("segment.bytes", int)
    segment_ms: int = _default("segment.ms", int)
    segment_index_bytes: int = _default("segment.index.bytes", int)
    index_interval_bytes: int = _default("index.interval.bytes", int)
    retention_ms: int = _default("retention.ms", int)
    retention_bytes: int = _default("retention.bytes", int)
    flush_messages: int = _default("flush.messages", int)
    flush_ms: int = _default("flush.ms", int)
    message_timestamp_type: str = _default("message.timestamp.type", str)
    message_timestamp_before_max_ms: int = _default("message.timestamp.before.max.ms", int)
    message_timestamp_after_max_ms: int = _default("message.timestamp.after.max.ms", int)
    max_message_bytes: int = _default("max.message.bytes", int)
    cleanup_policy: str = _default("cleanup.policy", str)
    file_delete_delay_ms: int = _default("file.delete.delay.ms", int)
    compression_type: str = _default("compression.type", str)
    delete_retention_ms: int = _default("delete.retention.ms", int)
    min_compaction_lag_ms: int = _default("min.compaction.lag.ms", int)
    max_compaction_lag_ms: int = _default("max.compaction.lag.ms", int)
    min_cleanable_dirty_ratio: float = _default("min.cleanable.dirty.ratio", float)
    message_downconversion_enable: bool = _default("message.downconversion.enable", bool)

    @classmethod
    def from_topic_configs(cls, defaults: LogConfig, overrides: Mapping[str, str]) -> LogConfig:
        """
        C{defaults} with topic config values applied (``segment.bytes``, ``retention.ms``, ...).

        Names that are not storage settings are ignored.

        @raise KafkaError: C{INVALID_CONFIG} for a value Kafka would refuse.
        """
        # Each field's own type, by construction of _FIELDS.
        changes: dict[str, Any] = {}
        for attribute, d in _FIELDS.items():
            value = overrides.get(d.name)
            if value is not None:
                changes[attribute] = _parse(d, value)
        return attrs.evolve(defaults, **changes)

    def to_topic_configs(self) -> dict[str, str]:
        """These settings under Kafka's topic config names, as strings."""
        return {d.name: _text(getattr(self, attribute)) for attribute, d in _FIELDS.items()}

    @property
    def log_append_time(self) -> bool:
        """Whether the broker stamps batches with LogAppendTime."""
        return self.message_timestamp_type == _LOG_APPEND_TIME

    @property
    def deletes(self) -> bool:
        """Whether ``cleanup.policy`` includes ``delete`` (time and size retention apply)."""
        return "delete" in self.cleanup_policy.split(",")

    @property
    def compacts(self) -> bool:
        """Whether ``cleanup.policy`` includes ``compact`` (the log cleaner cleans it)."""
        return "compact" in self.cleanup_policy.split(",")
