"""Broker configuration: Java C{.properties} parsing and a typed, frozen C{BrokerConfig}.

Names, defaults and validation follow Kafka's broker configs
(https://kafka.apache.org/documentation/#brokerconfigs; C{KafkaConfig},
C{ServerLogConfigs} and C{LogConfig} in apache/kafka). This module is sans-io:
it imports nothing from Twisted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from attrs import field, frozen

__all__ = [
    "BrokerConfig",
    "ConfigError",
    "Listener",
    "parse_listeners",
    "parse_properties",
]

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
_INT_MIN = -(2**31)
_LONG_MIN = -(2**63)

_MS_PER_MINUTE = 60 * 1000
_MS_PER_HOUR = 60 * _MS_PER_MINUTE


class ConfigError(Exception):
    """A configuration value kafkatwist cannot use; the message names the key."""

    def __init__(self, key: str, value: str | None, reason: str) -> None:
        super().__init__(key, value, reason)
        self.key = key
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        # Kafka's ConfigException wording: "Invalid value X for configuration Y: Z".
        return f"Invalid value {self.value!r} for configuration {self.key}: {self.reason}"


# --- .properties -------------------------------------------------------------

_WHITESPACE = " \t\f"
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_properties(text: str) -> dict[str, str]:
    """
    Parse Java C{.properties} text the way C{java.util.Properties.load} does.

    Lines starting with C{#} or C{!} are comments. A key ends at the first
    unescaped C{=}, C{:} or whitespace; the separator may be surrounded by
    whitespace. A line ending in an odd number of backslashes continues on the
    next line, whose leading whitespace is dropped. C{\\t \\n \\r \\f \\uXXXX}
    are escapes, and a backslash before any other character stands for that
    character. Leading whitespace of a value is dropped; trailing whitespace is
    kept, as Java does (C{BrokerConfig} trims values when it reads them, as
    Kafka's C{ConfigDef} does). A later duplicate key wins.

    @raise ConfigError: on a malformed C{\\uXXXX} escape.
    """
    result: dict[str, str] = {}
    for line_number, logical in _logical_lines(text):
        key_raw, value_raw = _split_key_value(logical)
        key = _unescape(key_raw, key_raw, line_number)
        result[key] = _unescape(value_raw, key, line_number)
    return result


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Yield (first line number, logical line) pairs, joining continuations."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    index = 0
    while index < len(lines):
        start = index
        line = lines[index].lstrip(_WHITESPACE)
        index += 1
        if not line or line[0] in "#!":
            continue
        parts = []
        while _ends_with_continuation(line):
            parts.append(line[:-1])
            if index >= len(lines):
                line = ""
                break
            line = lines[index].lstrip(_WHITESPACE)
            index += 1
        parts.append(line)
        yield start + 1, "".join(parts)


def _ends_with_continuation(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    """Split a logical line into its raw (still escaped) key and value."""
    position = 0
    while position < len(line):
        char = line[position]
        if char == "\\":
            position += 2
        elif char in "=:" or char in _WHITESPACE:
            break
        else:
            position += 1
    key, rest = line[:position], line[position:]
    if rest[:1] in ("=", ":"):
        return key, rest[1:].lstrip(_WHITESPACE)
    # Whitespace ended the key: one "=" or ":" may still follow it.
    rest = rest.lstrip(_WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:]
    return key, rest.lstrip(_WHITESPACE)


def _unescape(raw: str, key: str, line_number: int) -> str:
    if "\\" not in raw:
        return raw
    out = []
    position = 0
    length = len(raw)
    while position < length:
        char = raw[position]
        position += 1
        if char != "\\":
            out.append(char)
            continue
        if position >= length:
            break
        escaped = raw[position]
        position += 1
        if escaped == "u":
            digits = raw[position : position + 4]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(key, raw, f"malformed \\uXXXX escape on line {line_number}")
            out.append(chr(int(digits, 16)))
            position += 4
        else:
            out.append(_SIMPLE_ESCAPES.get(escaped, escaped))
    return "".join(out)


# --- listeners ---------------------------------------------------------------


@frozen
class Listener:
    """One entry of C{listeners}: C{NAME://host:port}; an empty host means every interface."""

    name: str
    host: str
    port: int


# Kafka's EndPoint regex (core/src/main/scala/kafka/cluster/EndPoint.scala), matched in full.
_LISTENER_RE = re.compile(r"(.*)://\[?([0-9a-zA-Z\-%._:]*?)\]?:(-?[0-9]+)")


def parse_listeners(value: str, key: str = "listeners") -> tuple[Listener, ...]:
    """
    Parse a comma-separated listener list such as C{PLAINTEXT://:9092,CONTROLLER://:9093}.

    Names are upper-cased, as Kafka's C{ListenerName.normalised} does. IPv6
    hosts may be bracketed (C{PLAINTEXT://[::1]:9092}).

    @param key: the config key to name in errors.
    @raise ConfigError: for an empty list, a malformed entry, a port outside
        0-65535, or a repeated listener name.
    """
    items = [item.strip() for item in value.split(",")]
    if not any(items):
        raise ConfigError(key, value, "at least one listener is required")
    listeners = []
    for item in items:
        match = _LISTENER_RE.fullmatch(item)
        if match is None or not match.group(1):
            raise ConfigError(key, value, f"{item!r} is not of the form NAME://host:port")
        port = int(match.group(3))
        if not 0 <= port <= 65535:
            raise ConfigError(key, value, f"port {port} is not between 0 and 65535")
        listeners.append(Listener(match.group(1).upper(), match.group(2), port))
    names = [listener.name for listener in listeners]
    if len(set(names)) != len(names):
        raise ConfigError(key, value, "each listener must have a different name")
    return tuple(listeners)


# --- key catalogue -----------------------------------------------------------

# Keys BrokerConfig reads. Everything else in the file is reported once at start.
USED_KEYS = frozenset(
    {
        "listeners",
        "advertised.listeners",
        "controller.listener.names",
        "inter.broker.listener.name",
        "security.inter.broker.protocol",
        "log.dirs",
        "log.dir",
        "node.id",
        "broker.id",
        "process.roles",
        "num.partitions",
        "default.replication.factor",
        "auto.create.topics.enable",
        "delete.topic.enable",
        "socket.request.max.bytes",
        "message.max.bytes",
        "log.segment.bytes",
        "log.roll.ms",
        "log.roll.hours",
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
        "log.retention.bytes",
        "log.retention.check.interval.ms",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
        "log.flush.scheduler.interval.ms",
        "log.index.interval.bytes",
        "log.index.size.max.bytes",
        "log.cleanup.policy",
        "log.message.timestamp.type",
        "compression.type",
        "min.insync.replicas",
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
        "offsets.retention.minutes",
        "offsets.retention.check.interval.ms",
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "group.initial.rebalance.delay.ms",
        "group.max.size",
        "transaction.state.log.num.partitions",
        "num.recovery.threads.per.data.dir",
    }
)

# Kafka broker configs kafkatwist accepts and ignores (a single broker, plaintext only).
_KAFKA_KEYS = frozenset(
    {
        "advertised.host.name",
        "advertised.port",
        "alter.config.policy.class.name",
        "authorizer.class.name",
        "auto.include.jmx.reporter",
        "auto.leader.rebalance.enable",
        "background.threads",
        "broker.heartbeat.interval.ms",
        "broker.id.generation.enable",
        "broker.rack",
        "broker.session.timeout.ms",
        "client.quota.callback.class",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.zstd.level",
        "connection.failed.authentication.delay.ms",
        "connections.max.idle.ms",
        "connections.max.reauth.ms",
        "control.plane.listener.name",
        "controlled.shutdown.enable",
        "controlled.shutdown.max.retries",
        "controlled.shutdown.retry.backoff.ms",
        "create.topic.policy.class.name",
        "early.start.listeners",
        "eligible.leader.replicas.enable",
        "fetch.max.bytes",
        "fetch.purgatory.purge.interval.requests",
        "group.coordinator.rebalance.protocols",
        "host.name",
        "initial.broker.registration.timeout.ms",
        "inter.broker.protocol.version",
        "leader.imbalance.check.interval.seconds",
        "leader.imbalance.per.broker.percentage",
        "listener.security.protocol.map",
        "log.cleaner.enable",
        "log.delete.delay.ms",
        "log.dir.failure.timeout.ms",
        "log.flush.offset.checkpoint.interval.ms",
        "log.flush.start.offset.checkpoint.interval.ms",
        "log.local.retention.bytes",
        "log.local.retention.ms",
        "log.message.downconversion.enable",
        "log.message.format.version",
        "log.message.timestamp.after.max.ms",
        "log.message.timestamp.before.max.ms",
        "log.message.timestamp.difference.max.ms",
        "log.preallocate",
        "log.roll.jitter.hours",
        "log.roll.jitter.ms",
        "max.connection.creation.rate",
        "max.connections",
        "max.connections.per.ip",
        "max.connections.per.ip.overrides",
        "max.incremental.fetch.session.cache.slots",
        "num.io.threads",
        "num.network.threads",
        "num.replica.alter.log.dirs.threads",
        "num.replica.fetchers",
        "offset.metadata.max.bytes",
        "offsets.commit.required.acks",
        "offsets.commit.timeout.ms",
        "offsets.load.buffer.size",
        "offsets.topic.compression.codec",
        "offsets.topic.segment.bytes",
        "port",
        "principal.builder.class",
        "producer.id.expiration.check.interval.ms",
        "producer.id.expiration.ms",
        "producer.purgatory.purge.interval.requests",
        "queued.max.request.bytes",
        "queued.max.requests",
        "request.timeout.ms",
        "reserved.broker.max.id",
        "security.providers",
        "server.max.startup.time.ms",
        "socket.connection.setup.timeout.max.ms",
        "socket.connection.setup.timeout.ms",
        "socket.listen.backlog.size",
        "socket.receive.buffer.bytes",
        "socket.send.buffer.bytes",
        "unclean.leader.election.enable",
        "unstable.api.versions.enable",
        "unstable.feature.versions.enable",
        "zookeeper.connect",
    }
)

# Families of Kafka configs, matched by prefix.
_KAFKA_PREFIXES = (
    "controller.",
    "delegation.token.",
    "group.consumer.",
    "group.coordinator.",
    "group.share.",
    "kafka.metrics.",
    "listener.name.",
    "log.cleaner.",
    "metadata.",
    "metric.",
    "metrics.",
    "password.encoder.",
    "quota.",
    "remote.log.",
    "replica.",
    "sasl.",
    "share.",
    "ssl.",
    "transaction.",
    "zookeeper.",
)


def _is_kafka_key(key: str) -> bool:
    return key in _KAFKA_KEYS or key.startswith(_KAFKA_PREFIXES)


# Keys that set the same value. When overrides set one of a group, the file's
# other members of that group are dropped, so the override really wins.
_SYNONYMS = (
    ("node.id", "broker.id"),
    ("log.dirs", "log.dir"),
    ("log.roll.ms", "log.roll.hours"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    ("inter.broker.listener.name", "security.inter.broker.protocol"),
)


# --- value parsing -----------------------------------------------------------

_INTEGER_RE = re.compile(r"[+-]?[0-9]+")


class _Reader:
    """Typed, validated access to merged properties; every error names its key."""

    def __init__(self, props: Mapping[str, str]) -> None:
        self._props = props

    def has(self, key: str) -> bool:
        return key in self._props

    def string(self, key: str, default: str) -> str:
        return self._props[key].strip() if key in self._props else default

    def integer(
        self, key: str, default: int, *, at_least: int | None = None, long: bool = False
    ) -> int:
        value = self.optional_integer(key, at_least=at_least, long=long)
        return default if value is None else value

    def optional_integer(
        self, key: str, *, at_least: int | None = None, long: bool = False
    ) -> int | None:
        if key not in self._props:
            return None
        return self._parse_integer(key, at_least=at_least, long=long)

    def _parse_integer(self, key: str, *, at_least: int | None, long: bool) -> int:
        raw = self._props[key]
        text = raw.strip()
        if not _INTEGER_RE.fullmatch(text):
            raise ConfigError(key, raw, "expected an integer")
        value = int(text)
        low, high = (_LONG_MIN, LONG_MAX) if long else (_INT_MIN, INT_MAX)
        if not low <= value <= high:
            kind = "a 64-bit" if long else "a 32-bit"
            raise ConfigError(key, raw, f"expected {kind} integer")
        if at_least is not None and value < at_least:
            raise ConfigError(key, raw, f"value must be at least {at_least}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self._props:
            return default
        raw = self._props[key]
        text = raw.strip().lower()
        if text not in ("true", "false"):
            raise ConfigError(key, raw, "expected value to be either true or false")
        return text == "true"

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        if key not in self._props:
            return default
        raw = self._props[key]
        text = raw.strip()
        if text not in allowed:
            raise ConfigError(key, raw, f"expected one of {', '.join(allowed)}")
        return text

    def strings(
        self,
        key: str,
        default: tuple[str, ...],
        *,
        allowed: tuple[str, ...] | None = None,
        non_empty: bool = False,
    ) -> tuple[str, ...]:
        if key not in self._props:
            return default
        raw = self._props[key]
        items = tuple(item.strip() for item in raw.split(",")) if raw.strip() else ()
        if non_empty and not items:
            raise ConfigError(key, raw, "at least one value is required")
        if any(not item for item in items):
            raise ConfigError(key, raw, "empty list entry")
        if len(set(items)) != len(items):
            raise ConfigError(key, raw, "duplicate list entry")
        if allowed is not None:
            for item in items:
                if item not in allowed:
                    raise ConfigError(key, raw, f"{item!r} is not one of {', '.join(allowed)}")
        return items

    def listeners(self, key: str) -> tuple[Listener, ...] | None:
        if key not in self._props:
            return None
        return parse_listeners(self._props[key], key)


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


_DEFAULT_LISTENERS = (Listener("PLAINTEXT", "", 9092),)
_ANY_HOSTS = ("", "0.0.0.0", "::")


@frozen
class BrokerConfig:
    """
    The broker's settings, typed and validated, with Kafka's names and defaults.

    Build one with L{BrokerConfig.from_properties}; constructing it directly
    (in tests) skips validation. Durations are ints of milliseconds, sizes are
    ints of bytes, as in Kafka.
    """

    listeners: tuple[Listener, ...] = _DEFAULT_LISTENERS
    controller_listener_names: tuple[str, ...] = ()
    # Defaults to C{listeners} without the controller listeners, as in Kafka.
    advertised_listeners: tuple[Listener, ...] = field()
    inter_broker_listener_name: str = "PLAINTEXT"
    log_dirs: tuple[str, ...] = ("/tmp/kraft-combined-logs",)
    node_id: int = 1
    process_roles: tuple[str, ...] = ()
    num_partitions: int = 1
    default_replication_factor: int = 1
    auto_create_topics_enable: bool = True
    delete_topic_enable: bool = True
    socket_request_max_bytes: int = 104857600
    message_max_bytes: int = 1048588
    log_segment_bytes: int = 1073741824
    log_roll_ms: int = 168 * _MS_PER_HOUR
    # -1 means no time limit.
    log_retention_ms: int = 168 * _MS_PER_HOUR
    log_retention_bytes: int = -1
    log_retention_check_interval_ms: int = 300000
    log_flush_interval_messages: int = LONG_MAX
    # None: not set; Kafka then uses log_flush_scheduler_interval_ms.
    log_flush_interval_ms: int | None = None
    log_flush_scheduler_interval_ms: int = LONG_MAX
    log_index_interval_bytes: int = 4096
    log_index_size_max_bytes: int = 10485760
    log_cleanup_policy: tuple[str, ...] = ("delete",)
    log_message_timestamp_type: str = "CreateTime"
    compression_type: str = "producer"
    min_insync_replicas: int = 1
    offsets_topic_num_partitions: int = 50
    offsets_topic_replication_factor: int = 3
    offsets_retention_minutes: int = 10080
    offsets_retention_check_interval_ms: int = 600000
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1800000
    group_initial_rebalance_delay_ms: int = 3000
    group_max_size: int = INT_MAX
    transaction_state_log_num_partitions: int = 50
    num_recovery_threads_per_data_dir: int = 1
    # The merged raw properties (file plus overrides), for DescribeConfigs.
    properties: Mapping[str, str] = field(
        factory=dict, converter=_frozen_mapping, hash=False, repr=False
    )

    @advertised_listeners.default
    def _advertised_listeners_default(self) -> tuple[Listener, ...]:
        return self._broker_listeners()

    @classmethod
    def from_properties(
        cls,
        props: Mapping[str, str],
        *,
        overrides: Mapping[str, str] | None = None,
    ) -> BrokerConfig:
        """
        Build a validated config from parsed properties.

        @param overrides: properties that win over C{props} (command-line
            options). Setting one key of a synonym group (C{node.id} /
            C{broker.id}, C{log.dirs} / C{log.dir}, the C{log.retention.*}
            and C{log.roll.*} units) discards the file's other members.
        @raise ConfigError: naming the first key with an unusable value.
        """
        merged = dict(props)
        if overrides:
            for group in _SYNONYMS:
                if any(key in overrides for key in group):
                    for key in group:
                        merged.pop(key, None)
            merged.update(overrides)
        read = _Reader(merged)

        listeners = read.listeners("listeners") or _DEFAULT_LISTENERS
        controller_names = tuple(
            name.upper() for name in read.strings("controller.listener.names", ())
        )
        if not [listener for listener in listeners if listener.name not in controller_names]:
            raise ConfigError(
                "listeners",
                merged.get("listeners"),
                "no listener besides the controller listeners to serve clients on",
            )
        advertised = read.listeners("advertised.listeners")
        if advertised is None:
            advertised = tuple(
                listener for listener in listeners if listener.name not in controller_names
            )
        elif any(listener.host == "0.0.0.0" for listener in advertised):
            raise ConfigError(
                "advertised.listeners",
                merged["advertised.listeners"],
                "cannot advertise the non-routable meta-address 0.0.0.0",
            )

        node_id = read.integer("node.id", 1, at_least=0)
        if read.has("broker.id"):
            broker_id = read.integer("broker.id", 1, at_least=0)
            if read.has("node.id") and broker_id != node_id:
                raise ConfigError(
                    "broker.id", merged["broker.id"], f"differs from node.id ({node_id})"
                )
            node_id = broker_id

        log_dirs = read.strings("log.dirs", (), non_empty=True) or read.strings(
            "log.dir", ("/tmp/kraft-combined-logs",), non_empty=True
        )

        roll_ms = read.optional_integer("log.roll.ms", at_least=1, long=True)
        if roll_ms is None:
            roll_ms = read.integer("log.roll.hours", 168, at_least=1) * _MS_PER_HOUR

        retention_ms = read.optional_integer("log.retention.ms", long=True)
        if retention_ms is None:
            minutes = read.optional_integer("log.retention.minutes")
            if minutes is not None:
                retention_ms = minutes * _MS_PER_MINUTE
            else:
                retention_ms = read.integer("log.retention.hours", 168) * _MS_PER_HOUR
        if retention_ms < 0:
            # KafkaConfig.logRetentionTimeMillis: any negative value means unlimited.
            retention_ms = -1

        return cls(
            listeners=listeners,
            controller_listener_names=controller_names,
            advertised_listeners=advertised,
            inter_broker_listener_name=read.string(
                "inter.broker.listener.name",
                read.string("security.inter.broker.protocol", "PLAINTEXT"),
            ).upper(),
            log_dirs=log_dirs,
            node_id=node_id,
            process_roles=read.strings("process.roles", (), allowed=("broker", "controller")),
            num_partitions=read.integer("num.partitions", 1, at_least=1),
            default_replication_factor=read.integer("default.replication.factor", 1, at_least=1),
            auto_create_topics_enable=read.boolean("auto.create.topics.enable", True),
            delete_topic_enable=read.boolean("delete.topic.enable", True),
            socket_request_max_bytes=read.integer(
                "socket.request.max.bytes", 104857600, at_least=1
            ),
            message_max_bytes=read.integer("message.max.bytes", 1048588, at_least=0),
            # Kafka 3.x's lower bound (LegacyRecord.RECORD_OVERHEAD_V0); 4.x raised it to 1 MiB.
            log_segment_bytes=read.integer("log.segment.bytes", 1073741824, at_least=14),
            log_roll_ms=roll_ms,
            log_retention_ms=retention_ms,
            log_retention_bytes=read.integer("log.retention.bytes", -1, long=True),
            log_retention_check_interval_ms=read.integer(
                "log.retention.check.interval.ms", 300000, at_least=1, long=True
            ),
            log_flush_interval_messages=read.integer(
                "log.flush.interval.messages", LONG_MAX, at_least=1, long=True
            ),
            log_flush_interval_ms=read.optional_integer(
                "log.flush.interval.ms", at_least=0, long=True
            ),
            log_flush_scheduler_interval_ms=read.integer(
                "log.flush.scheduler.interval.ms", LONG_MAX, at_least=0, long=True
            ),
            log_index_interval_bytes=read.integer("log.index.interval.bytes", 4096, at_least=0),
            log_index_size_max_bytes=read.integer("log.index.size.max.bytes", 10485760, at_least=4),
            log_cleanup_policy=read.strings(
                "log.cleanup.policy", ("delete",), allowed=("compact", "delete")
            ),
            log_message_timestamp_type=read.choice(
                "log.message.timestamp.type", "CreateTime", ("CreateTime", "LogAppendTime")
            ),
            compression_type=read.choice(
                "compression.type",
                "producer",
                ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
            ),
            min_insync_replicas=read.integer("min.insync.replicas", 1, at_least=1),
            offsets_topic_num_partitions=read.integer(
                "offsets.topic.num.partitions", 50, at_least=1
            ),
            offsets_topic_replication_factor=read.integer(
                "offsets.topic.replication.factor", 3, at_least=1
            ),
            offsets_retention_minutes=read.integer("offsets.retention.minutes", 10080, at_least=1),
            offsets_retention_check_interval_ms=read.integer(
                "offsets.retention.check.interval.ms", 600000, at_least=1, long=True
            ),
            group_min_session_timeout_ms=read.integer(
                "group.min.session.timeout.ms", 6000, at_least=0
            ),
            group_max_session_timeout_ms=read.integer(
                "group.max.session.timeout.ms", 1800000, at_least=0
            ),
            group_initial_rebalance_delay_ms=read.integer(
                "group.initial.rebalance.delay.ms", 3000, at_least=0
            ),
            group_max_size=read.integer("group.max.size", INT_MAX, at_least=1),
            transaction_state_log_num_partitions=read.integer(
                "transaction.state.log.num.partitions", 50, at_least=1
            ),
            num_recovery_threads_per_data_dir=read.integer(
                "num.recovery.threads.per.data.dir", 1, at_least=1
            ),
            properties=merged,
        )

    @property
    def unused_keys(self) -> tuple[str, ...]:
        """Keys in C{properties} that Kafka defines but kafkatwist ignores, sorted."""
        return tuple(sorted(k for k in self.properties if k not in USED_KEYS and _is_kafka_key(k)))

    @property
    def unknown_keys(self) -> tuple[str, ...]:
        """Keys in C{properties} that neither Kafka nor kafkatwist knows (typos?), sorted."""
        return tuple(
            sorted(k for k in self.properties if k not in USED_KEYS and not _is_kafka_key(k))
        )

    def _broker_listeners(self) -> tuple[Listener, ...]:
        names = self.controller_listener_names
        return tuple(listener for listener in self.listeners if listener.name not in names)

    def serving_listener(self) -> Listener:
        """The listener clients connect to: the first that is not a controller listener."""
        return self._broker_listeners()[0]

    def listen_endpoint(self) -> str:
        """
        A Twisted server endpoint string for the first non-controller listener.

        An empty host listens on every IPv4 interface
        (C{tcp:9092:interface=0.0.0.0}); an IPv6 host uses C{tcp6} with the
        colons escaped (C{tcp6:9092:interface=\\:\\:}).
        """
        listener = self.serving_listener()
        host = listener.host or "0.0.0.0"
        kind = "tcp6" if ":" in host else "tcp"
        interface = host.replace("\\", "\\\\").replace(":", "\\:")
        return f"{kind}:{listener.port}:interface={interface}"

    def advertised_address(self) -> tuple[str | None, int]:
        """
        The (host, port) clients should be told to connect to.

        Uses the advertised listener named like the listener we serve on, else
        the first non-controller advertised listener. The host is C{None} when
        the listener names no routable host (empty, C{0.0.0.0} or C{::}): use
        the address the client connected to. The port is C{0} when it is only
        known once bound: use the bound port.
        """
        serving = self.serving_listener().name
        candidates = [
            listener
            for listener in self.advertised_listeners
            if listener.name not in self.controller_listener_names
        ]
        chosen = next((c for c in candidates if c.name == serving), None)
        if chosen is None:
            chosen = candidates[0] if candidates else self.serving_listener()
        host = None if chosen.host in _ANY_HOSTS else chosen.host
        return host, chosen.port
