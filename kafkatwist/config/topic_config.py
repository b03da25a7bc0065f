"""Topic configs: Kafka's names, types, defaults, validators and broker synonyms.

One row per topic config, as Kafka 4.0's C{LogConfig} / C{TopicConfig}
define them: its type and default, the validator topic overrides must pass
(INVALID_CONFIG with Kafka's messages), the broker configs it falls back to
when a topic has no override (C{ServerTopicConfigSynonyms}, with the unit
scale of C{log.retention.hours} and the like), and the L{LogConfig} field it
feeds (None for the settings a partition log does not apply).
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from kafkatwist.config.values import (
    LONG_MAX,
    TYPE_BOOLEAN,
    TYPE_DOUBLE,
    TYPE_INT,
    TYPE_LIST,
    TYPE_LONG,
    TYPE_STRING,
    Validator,
    at_least,
    between,
    gzip_level,
    one_of,
    value_error,
)
from kafkatwist.errors import ErrorCode, KafkaError

__all__ = [
    "TOPIC_CONFIGS",
    "BrokerSynonym",
    "ConfigDef",
    "is_list",
    "validate",
    "validate_values",
]

_MS_PER_MINUTE = 60_000
_MS_PER_HOUR = 60 * _MS_PER_MINUTE


@frozen
class BrokerSynonym:
    """A broker config a topic config falls back to, and how many ms one of its units is."""

    name: str
    scale: int = 1


@frozen
class ConfigDef:
    """One topic config."""

    name: str
    type: int
    default: str
    #: The broker configs this topic config falls back to, the first present wins.
    synonyms: tuple[BrokerSynonym, ...] = ()
    documentation: str = ""
    #: What a topic override (CreateTopics, AlterConfigs) must pass.
    validator: Validator | None = None
    #: The L{kafkatwist.config.log_config.LogConfig} field it feeds, if a log applies it.
    log_field: str | None = None
    #: What a partition log and C{server.properties} accept, when looser than
    #: L{validator} (Kafka 3.x's bounds, which tests with tiny segments use).
    storage_validator: Validator | None = None
    #: Kafka's C{logRetentionTimeMillis}: any negative value means unlimited (-1).
    negative_is_unlimited: bool = False

    @property
    def synonym_names(self) -> list[str]:
        """The names of L{synonyms}, first first."""
        return [s.name for s in self.synonyms]


def _same(name: str) -> tuple[BrokerSynonym, ...]:
    return (BrokerSynonym(name),)


def _ms(
    ms: str, *, minutes: str | None = None, hours: str | None = None
) -> tuple[BrokerSynonym, ...]:
    """A millisecond broker key and its coarser-unit synonyms, in precedence order."""
    out = [BrokerSynonym(ms)]
    if minutes is not None:
        out.append(BrokerSynonym(minutes, _MS_PER_MINUTE))
    if hours is not None:
        out.append(BrokerSynonym(hours, _MS_PER_HOUR))
    return tuple(out)


_COMPRESSION = one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
_LMAX = str(LONG_MAX)

# fmt: off
TOPIC_CONFIGS: dict[str, ConfigDef] = {
    d.name: d
    for d in (
        ConfigDef("cleanup.policy", TYPE_LIST, "delete", _same("log.cleanup.policy"),
                  "The retention policy to use on log segments.",
                  one_of("compact", "delete"), "cleanup_policy"),
        ConfigDef("compression.type", TYPE_STRING, "producer", _same("compression.type"),
                  "The final compression type for a given topic.",
                  _COMPRESSION, "compression_type"),
        ConfigDef("compression.gzip.level", TYPE_INT, "-1", _same("compression.gzip.level"),
                  "The compression level to use if compression.type is set to gzip.",
                  gzip_level),
        ConfigDef("compression.lz4.level", TYPE_INT, "9", _same("compression.lz4.level"),
                  "The compression level to use if compression.type is set to lz4.",
                  between(1, 17)),
        ConfigDef("compression.zstd.level", TYPE_INT, "3", _same("compression.zstd.level"),
                  "The compression level to use if compression.type is set to zstd.",
                  between(-131072, 22)),
        ConfigDef("delete.retention.ms", TYPE_LONG, "86400000",
                  _same("log.cleaner.delete.retention.ms"),
                  "The amount of time to retain tombstone markers for log compacted topics.",
                  at_least(0), "delete_retention_ms"),
        ConfigDef("file.delete.delay.ms", TYPE_LONG, "60000", _same("log.segment.delete.delay.ms"),
                  "The time to wait before deleting a file from the filesystem.",
                  at_least(0), "file_delete_delay_ms"),
        ConfigDef("flush.messages", TYPE_LONG, _LMAX, _same("log.flush.interval.messages"),
                  "The number of messages written to a log partition before an fsync.",
                  at_least(1), "flush_messages"),
        # Kafka's logFlushIntervalMs: log.flush.interval.ms, else the scheduler interval.
        ConfigDef("flush.ms", TYPE_LONG, _LMAX,
                  (BrokerSynonym("log.flush.interval.ms"),
                   BrokerSynonym("log.flush.scheduler.interval.ms")),
                  "The time in ms between fsyncs of a log partition.",
                  at_least(0), "flush_ms"),
        ConfigDef("follower.replication.throttled.replicas", TYPE_LIST, "", (),
                  "Replicas throttled on the follower side."),
        ConfigDef("index.interval.bytes", TYPE_INT, "4096", _same("log.index.interval.bytes"),
                  "How frequently Kafka adds an index entry to its offset index.",
                  at_least(0), "index_interval_bytes"),
        ConfigDef("leader.replication.throttled.replicas", TYPE_LIST, "", (),
                  "Replicas throttled on the leader side."),
        ConfigDef("local.retention.bytes", TYPE_LONG, "-2", _same("log.local.retention.bytes"),
                  "The maximum size of local log segments (tiered storage).",
                  at_least(-2)),
        ConfigDef("local.retention.ms", TYPE_LONG, "-2", _same("log.local.retention.ms"),
                  "The time to retain local log segments (tiered storage).",
                  at_least(-2)),
        ConfigDef("max.compaction.lag.ms", TYPE_LONG, _LMAX,
                  _same("log.cleaner.max.compaction.lag.ms"),
                  "The maximum time a message will remain ineligible for compaction.",
                  at_least(1), "max_compaction_lag_ms"),
        ConfigDef("max.message.bytes", TYPE_INT, "1048588", _same("message.max.bytes"),
                  "The largest record batch size allowed by Kafka (after compression).",
                  at_least(0), "max_message_bytes"),
        # Kafka 4.0 (KIP-1030) lowered this default from Long.MAX_VALUE to one hour.
        ConfigDef("message.timestamp.after.max.ms", TYPE_LONG, "3600000",
                  _same("log.message.timestamp.after.max.ms"),
                  "The allowed time a message timestamp may be ahead of the broker's.",
                  at_least(0), "message_timestamp_after_max_ms"),
        ConfigDef("message.timestamp.before.max.ms", TYPE_LONG, _LMAX,
                  _same("log.message.timestamp.before.max.ms"),
                  "The allowed time a message timestamp may be behind the broker's.",
                  at_least(0), "message_timestamp_before_max_ms"),
        ConfigDef("message.timestamp.type", TYPE_STRING, "CreateTime",
                  _same("log.message.timestamp.type"),
                  "Whether the timestamp in the message is create time or log append time.",
                  one_of("CreateTime", "LogAppendTime"), "message_timestamp_type"),
        # Kafka 3.x (removed in 4.0 with Fetch v0-3, which kafkatwist still serves).
        ConfigDef("message.downconversion.enable", TYPE_BOOLEAN, "true",
                  _same("log.message.downconversion.enable"),
                  "Whether the broker may down-convert messages for old consumers (Fetch "
                  "v0-v3); when false they get UNSUPPORTED_VERSION.",
                  None, "message_downconversion_enable"),
        ConfigDef("min.cleanable.dirty.ratio", TYPE_DOUBLE, "0.5",
                  _same("log.cleaner.min.cleanable.ratio"),
                  "How frequently the log compactor will attempt to clean the log.",
                  between(0, 1), "min_cleanable_dirty_ratio"),
        ConfigDef("min.compaction.lag.ms", TYPE_LONG, "0",
                  _same("log.cleaner.min.compaction.lag.ms"),
                  "The minimum time a message will remain uncompacted in the log.",
                  at_least(0), "min_compaction_lag_ms"),
        ConfigDef("min.insync.replicas", TYPE_INT, "1", _same("min.insync.replicas"),
                  "The minimum number of replicas that must acknowledge a write with acks=all.",
                  at_least(1)),
        ConfigDef("preallocate", TYPE_BOOLEAN, "false",
                  _same("log.preallocate"),
                  "True if we should preallocate the file on disk when creating a new log "
                  "segment."),
        ConfigDef("remote.log.copy.disable", TYPE_BOOLEAN, "false", (),
                  "Disables copying of segments to tiered storage."),
        ConfigDef("remote.log.delete.on.disable", TYPE_BOOLEAN, "false", (),
                  "Delete remote segments when tiered storage is disabled."),
        ConfigDef("remote.storage.enable", TYPE_BOOLEAN, "false", (),
                  "To enable tiered storage for a topic."),
        ConfigDef("retention.bytes", TYPE_LONG, "-1", _same("log.retention.bytes"),
                  "The maximum size a partition can grow to before old segments are discarded.",
                  None, "retention_bytes"),
        ConfigDef("retention.ms", TYPE_LONG, "604800000",
                  _ms("log.retention.ms", minutes="log.retention.minutes",
                      hours="log.retention.hours"),
                  "The maximum time a log is retained before old segments are discarded.",
                  at_least(-1), "retention_ms", negative_is_unlimited=True),
        # Kafka 4.0 refuses segments below 1 MiB; 3.x accepted down to 14 bytes.
        ConfigDef("segment.bytes", TYPE_INT, "1073741824", _same("log.segment.bytes"),
                  "The segment file size for the log.",
                  at_least(1048576), "segment_bytes", storage_validator=at_least(14)),
        ConfigDef("segment.index.bytes", TYPE_INT, "10485760", _same("log.index.size.max.bytes"),
                  "The size of the index that maps offsets to file positions.",
                  at_least(4), "segment_index_bytes"),
        ConfigDef("segment.jitter.ms", TYPE_LONG, "0",
                  _ms("log.roll.jitter.ms", hours="log.roll.jitter.hours"),
                  "The maximum random jitter subtracted from the scheduled segment roll time.",
                  at_least(0)),
        ConfigDef("segment.ms", TYPE_LONG, "604800000", _ms("log.roll.ms", hours="log.roll.hours"),
                  "The period of time after which Kafka will force the log to roll.",
                  at_least(1), "segment_ms"),
        ConfigDef("unclean.leader.election.enable", TYPE_BOOLEAN, "false",
                  _same("unclean.leader.election.enable"),
                  "Whether to enable replicas not in the ISR set to be elected as leader."),
    )
}
# fmt: on

#: Each broker key that is a synonym of a topic config: (topic config, its synonym entry).
SYNONYM_OF: dict[str, tuple[ConfigDef, BrokerSynonym]] = {
    s.name: (d, s) for d in TOPIC_CONFIGS.values() for s in d.synonyms
}


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


def validate_values(effective_configs: Mapping[str, str]) -> None:
    """
    Raise INVALID_CONFIG for combinations Kafka's C{LogConfig.validate} refuses.

    @param effective_configs: every topic config's value (override or default),
        already valid one by one.
    """
    try:
        min_lag = int(effective_configs.get("min.compaction.lag.ms", "0"))
        max_lag = int(effective_configs.get("max.compaction.lag.ms", _LMAX))
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
