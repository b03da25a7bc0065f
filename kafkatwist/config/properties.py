"""BrokerConfig: the broker-level settings services read, typed and validated.

Names, defaults and validation come from the broker table
(L{kafkatwist.config.broker_configs}: Kafka's C{KafkaConfig}); its C{feeds}
column names the field each key sets. C{from_properties} validates every
key of the table that C{server.properties} sets (the topic-level server
defaults such as C{log.retention.hours} too, although their values reach
the logs through L{kafkatwist.config.resolver}) and parses the keys that
feed a field. This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from attrs import field, frozen

from kafkatwist.config.broker_configs import BROKER_CONFIGS, BrokerConfigDef, is_kafka_key
from kafkatwist.config.cleaner_config import CLEANER_KEYS, check_cleaner_properties
from kafkatwist.config.group_broker_configs import check_group_properties
from kafkatwist.config.kafka_keys import is_sasl_key
from kafkatwist.config.listeners import (
    MAP_KEY,
    Listener,
    check_protocols,
    effective_protocol_map,
    endpoint_string,
    parse_listeners,
    parse_security_protocol_map,
)
from kafkatwist.config.ssl_broker_configs import SSL_USED_KEYS
from kafkatwist.config.storage_config import STORAGE_KEYS
from kafkatwist.config.topic_config import SYNONYM_OF
from kafkatwist.config.trace_config import TRACE_KEYS
from kafkatwist.config.values import (
    LONG_MAX,
    TYPE_LIST,
    ConfigError,
    T,
    check,
    parse_as,
    parse_value,
    split_list,
)
from kafkatwist.security.authorizer import parse_super_users

__all__ = [
    "LONG_MAX",
    "BrokerConfig",
    "ConfigError",
    "Listener",
    "parse_listeners",
    "parse_security_protocol_map",
]


# --- the keys that feed BrokerConfig -----------------------------------------

#: Keys whose value is read under another name: kafkatwist's old spelling of
#: Kafka's C{offset.metadata.max.bytes}.
_ALIASES = {"offsets.metadata.max.bytes": "offset.metadata.max.bytes"}

#: Fields parsed by hand below, not by type (listeners, ids, directories).
_SPECIAL_FIELDS = frozenset(
    {
        "listeners",
        "advertised_listeners",
        "controller_listener_names",
        "listener_security_protocol_map",
        "node_id",
        "log_dirs",
    }
)

#: The keys Kafka's StandardAuthorizer reads itself (C{configure}), not KafkaConfig.
AUTHORIZER_KEYS = frozenset({"super.users", "allow.everyone.if.no.acl.found"})

#: Keys something reads: those feeding a BrokerConfig field, the server
#: defaults of the topic configs a partition log applies (LogConfig fields),
#: and the log cleaner's (read through the config layers).
USED_KEYS = frozenset(
    {d.name for d in BROKER_CONFIGS.values() if d.feeds is not None}
    | AUTHORIZER_KEYS
    | {name for name, (topic, _) in SYNONYM_OF.items() if topic.log_field is not None}
    | set(_ALIASES)
    | CLEANER_KEYS
    | SSL_USED_KEYS
    | TRACE_KEYS
    | STORAGE_KEYS
)


def _synonym_groups() -> list[frozenset[str]]:
    """Keys that set the same value: a field's keys, and unit synonyms (C{log.retention.*})."""
    by_field: dict[str, set[str]] = {}
    for d in BROKER_CONFIGS.values():
        if d.feeds is not None:
            by_field.setdefault(d.feeds, set()).add(d.name)
    by_field["offset_metadata_max_bytes"].update(_ALIASES)
    groups = [frozenset(keys) for keys in by_field.values() if len(keys) > 1]
    for topic, _ in SYNONYM_OF.values():
        if any(s.scale != 1 for s in topic.synonyms):
            groups.append(frozenset(topic.synonym_names))
    return groups


#: When overrides set one key of a group, the file's other members are
#: dropped, so the override really wins.
_SYNONYMS = tuple(dict.fromkeys(_synonym_groups()))


def _check(d: BrokerConfigDef, raw: str) -> None:
    """Raise ConfigError unless C{raw} is a value C{server.properties} may give C{d}."""
    fault = check(d.type, d.static_validator or d.validator, raw)
    if fault is not None:
        raise ConfigError(d.name, raw, fault[1])
    if d.type == TYPE_LIST:
        items = split_list(raw)
        if len(set(items)) != len(items):
            raise ConfigError(d.name, raw, "duplicate list entry")


def _strings(key: str, raw: str) -> tuple[str, ...]:
    """A non-empty list of distinct, non-empty names (directories, listener names)."""
    items = tuple(split_list(raw))
    if not items:
        raise ConfigError(key, raw, "at least one value is required")
    if any(not item for item in items):
        raise ConfigError(key, raw, "empty list entry")
    if len(set(items)) != len(items):
        raise ConfigError(key, raw, "duplicate list entry")
    return items


def _default(key: str, kind: type[T]) -> T:
    """Kafka's default of a key, parsed."""
    d = BROKER_CONFIGS[key]
    assert d.default is not None, key
    return parse_as(d.type, d.default, kind)


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


_DEFAULT_LISTENERS = parse_listeners(BROKER_CONFIGS["listeners"].default or "")
_DEFAULT_PROTOCOL_MAP = parse_security_protocol_map(BROKER_CONFIGS[MAP_KEY].default or "")
_ANY_HOSTS = ("", "0.0.0.0", "::")


@frozen
class BrokerConfig:
    """
    The broker's settings that services read, typed and validated, with Kafka's names.

    Build one with L{BrokerConfig.from_properties}; constructing it directly
    (in tests) skips validation. Durations are ints of milliseconds, sizes are
    ints of bytes, as in Kafka. Defaults are Kafka's (from the broker table)
    unless noted.
    """

    listeners: tuple[Listener, ...] = _DEFAULT_LISTENERS
    controller_listener_names: tuple[str, ...] = ()
    # Listener name -> security protocol (the effective map: listeners.effective_protocol_map).
    listener_security_protocol_map: Mapping[str, str] = field(
        default=_DEFAULT_PROTOCOL_MAP, converter=_frozen_mapping, hash=False
    )
    # Defaults to C{listeners} without the controller listeners, as in Kafka.
    advertised_listeners: tuple[Listener, ...] = field()
    # kafkatwist's own default (Kafka has none).
    log_dirs: tuple[str, ...] = ("/tmp/kraft-combined-logs",)
    # kafkatwist's own default (Kafka's is -1: unset).
    node_id: int = 1
    num_partitions: int = _default("num.partitions", int)
    # The read pool's size (kafkatwist.storage.read_pool).
    num_io_threads: int = _default("num.io.threads", int)
    default_replication_factor: int = _default("default.replication.factor", int)
    auto_create_topics_enable: bool = _default("auto.create.topics.enable", bool)
    delete_topic_enable: bool = _default("delete.topic.enable", bool)
    socket_request_max_bytes: int = _default("socket.request.max.bytes", int)
    # Negative: never close idle connections (Kafka's Selector).
    connections_max_idle_ms: int = _default("connections.max.idle.ms", int)
    # kafkatwist's own default (Kafka's is -1: unbounded); 0 or less is unbounded.
    queued_max_request_bytes: int = 268435456
    log_retention_check_interval_ms: int = _default("log.retention.check.interval.ms", int)
    # kafkatwist's own default (Kafka 4.0's is 2).
    num_recovery_threads_per_data_dir: int = 1
    # The group coordinator's settings (GroupConfig is built from these).
    offsets_topic_num_partitions: int = _default("offsets.topic.num.partitions", int)
    offsets_topic_segment_bytes: int = _default("offsets.topic.segment.bytes", int)
    offsets_retention_minutes: int = _default("offsets.retention.minutes", int)
    offsets_retention_check_interval_ms: int = _default("offsets.retention.check.interval.ms", int)
    offset_metadata_max_bytes: int = _default("offset.metadata.max.bytes", int)
    group_min_session_timeout_ms: int = _default("group.min.session.timeout.ms", int)
    group_max_session_timeout_ms: int = _default("group.max.session.timeout.ms", int)
    group_initial_rebalance_delay_ms: int = _default("group.initial.rebalance.delay.ms", int)
    group_max_size: int = _default("group.max.size", int)
    # The consumer group protocol (KIP-848): bounds checked by check_group_properties.
    group_consumer_session_timeout_ms: int = _default("group.consumer.session.timeout.ms", int)
    group_consumer_heartbeat_interval_ms: int = _default(
        "group.consumer.heartbeat.interval.ms", int
    )
    group_consumer_max_size: int = _default("group.consumer.max.size", int)
    group_consumer_assignors: tuple[str, ...] = field(default=("uniform", "range"), converter=tuple)
    group_consumer_migration_policy: str = _default("group.consumer.migration.policy", str)
    # The transaction coordinator's settings (kafkatwist.transactions.config.TransactionConfig).
    transaction_state_log_num_partitions: int = _default(
        "transaction.state.log.num.partitions", int
    )
    transaction_state_log_segment_bytes: int = _default("transaction.state.log.segment.bytes", int)
    transaction_max_timeout_ms: int = _default("transaction.max.timeout.ms", int)
    transactional_id_expiration_ms: int = _default("transactional.id.expiration.ms", int)
    transaction_abort_timed_out_cleanup_interval_ms: int = _default(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms", int
    )
    transaction_remove_expired_cleanup_interval_ms: int = _default(
        "transaction.remove.expired.transaction.cleanup.interval.ms", int
    )
    # The KRaft metadata log (kafkatwist.storage.kraft_files.MetadataLogConfig).
    metadata_log_segment_bytes: int = _default("metadata.log.segment.bytes", int)
    metadata_log_segment_ms: int = _default("metadata.log.segment.ms", int)
    metadata_max_retention_bytes: int = _default("metadata.max.retention.bytes", int)
    metadata_max_retention_ms: int = _default("metadata.max.retention.ms", int)
    metadata_log_max_record_bytes_between_snapshots: int = _default(
        "metadata.log.max.record.bytes.between.snapshots", int
    )
    metadata_log_max_snapshot_interval_ms: int = _default(
        "metadata.log.max.snapshot.interval.ms", int
    )
    # Producer-id expiration (kafkatwist.producers.expiration); dynamic: read the resolver.
    producer_id_expiration_ms: int = _default("producer.id.expiration.ms", int)
    producer_id_expiration_check_interval_ms: int = _default(
        "producer.id.expiration.check.interval.ms", int
    )
    # The fetch session cache (kafkatwist.fetchsessions.cache); 0 disables sessions.
    max_incremental_fetch_session_cache_slots: int = _default(
        "max.incremental.fetch.session.cache.slots", int
    )
    # Client quota sensors (kafkatwist.quotas.rate.QuotaWindow).
    quota_window_num: int = _default("quota.window.num", int)
    quota_window_size_seconds: int = _default("quota.window.size.seconds", int)
    # The largest PushTelemetry payload (kafkatwist.telemetry).
    telemetry_max_bytes: int = _default("telemetry.max.bytes", int)
    # The Prometheus and /healthz listener (kafkatwist.metrics); empty: none.
    metrics_listener: str = _default("kafkatwist.metrics.listener", str)
    # KIP-392's replica selector (kafkatwist.apis._read_replica); empty: none.
    replica_selector_class: str = ""
    # The authorizer (kafkatwist.security.authorizer): none when the class name is empty.
    authorizer_class_name: str = _default("authorizer.class.name", str)
    # The authorizer's own keys, outside Kafka's broker config table (DescribeConfigs
    # shows them as keys of unknown type, as Kafka does): checked only with an authorizer.
    super_users: frozenset[str] = frozenset()
    allow_everyone_if_no_acl_found: bool = False
    # The merged raw properties (file plus overrides): the resolver's static layer.
    properties: Mapping[str, str] = field(
        factory=dict, converter=_frozen_mapping, hash=False, repr=False
    )

    @advertised_listeners.default
    def _advertised_listeners_default(self) -> tuple[Listener, ...]:
        return self.broker_listeners()

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
        for key, raw in merged.items():
            d = BROKER_CONFIGS.get(_ALIASES.get(key, key))
            if d is not None and d.feeds not in _SPECIAL_FIELDS:
                _check(d, raw)
        check_cleaner_properties(merged)
        check_group_properties(merged)
        kwargs: dict[str, object] = {}
        for key, raw in sorted(merged.items(), key=lambda item: item[0] in _ALIASES):
            d = BROKER_CONFIGS.get(_ALIASES.get(key, key))
            if d is not None and d.feeds is not None and d.feeds not in _SPECIAL_FIELDS:
                kwargs.setdefault(d.feeds, parse_value(d.type, raw))
        return cls(**_special_fields(merged), **kwargs, properties=merged)  # type: ignore[arg-type]

    def has_advertised_listeners(self) -> bool:
        """Whether C{advertised.listeners} was set (else clients learn where they connected)."""
        return "advertised.listeners" in self.properties

    @property
    def unused_keys(self) -> tuple[str, ...]:
        """Keys in C{properties} that Kafka defines but kafkatwist ignores, sorted."""
        return tuple(
            sorted(
                k
                for k in self.properties
                if k not in USED_KEYS and is_kafka_key(k) and not is_sasl_key(k)
            )
        )

    @property
    def unknown_keys(self) -> tuple[str, ...]:
        """Keys in C{properties} that neither Kafka nor kafkatwist knows (typos?), sorted."""
        return tuple(
            sorted(k for k in self.properties if k not in USED_KEYS and not is_kafka_key(k))
        )

    def broker_listeners(self) -> tuple[Listener, ...]:
        """The listeners for clients: C{listeners} without the controller listeners."""
        names = self.controller_listener_names
        return tuple(listener for listener in self.listeners if listener.name not in names)

    def security_protocol(self, listener_name: str) -> str:
        """
        The security protocol of a listener (C{listener.security.protocol.map}).

        @raise KeyError: for a name the map lacks (L{from_properties} refuses those).
        """
        return self.listener_security_protocol_map[listener_name.upper()]

    def serving_listener(self) -> Listener:
        """The listener clients connect to: the first that is not a controller listener."""
        return self.broker_listeners()[0]

    def listen_endpoint(self) -> str:
        """
        A Twisted server endpoint string for the first non-controller listener.

        An empty host listens on every IPv4 interface
        (C{tcp:9092:interface=0.0.0.0}); an IPv6 host uses C{tcp6} with the
        colons escaped (C{tcp6:9092:interface=\\:\\:}).
        """
        return endpoint_string(self.serving_listener())

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


def _special_fields(merged: Mapping[str, str]) -> dict[str, object]:
    """The listener, node id and log dir fields, which need more than a type."""
    out: dict[str, object] = {}
    listeners = (
        parse_listeners(merged["listeners"]) if "listeners" in merged else _DEFAULT_LISTENERS
    )
    names: tuple[str, ...] = ()
    if "controller.listener.names" in merged:
        raw = merged["controller.listener.names"]
        names = tuple(name.upper() for name in _strings("controller.listener.names", raw))
    if not [listener for listener in listeners if listener.name not in names]:
        raise ConfigError(
            "listeners",
            merged.get("listeners"),
            "no listener besides the controller listeners to serve clients on",
        )
    protocols = effective_protocol_map(merged, listeners, names)
    check_protocols("listeners", merged.get("listeners"), listeners, protocols)
    out["listeners"] = listeners
    out["controller_listener_names"] = names
    out["listener_security_protocol_map"] = protocols
    if "advertised.listeners" in merged:
        raw = merged["advertised.listeners"]
        advertised = parse_listeners(raw, "advertised.listeners")
        check_protocols("advertised.listeners", raw, advertised, protocols)
        if any(listener.host == "0.0.0.0" for listener in advertised):
            raise ConfigError(
                "advertised.listeners",
                raw,
                "cannot advertise the non-routable meta-address 0.0.0.0",
            )
        out["advertised_listeners"] = advertised
    for key in ("node.id", "broker.id"):
        if key in merged:
            _check(BROKER_CONFIGS[key], merged[key])
    if "node.id" in merged:
        out["node_id"] = int(merged["node.id"].strip())
    if "broker.id" in merged:
        broker_id = int(merged["broker.id"].strip())
        if out.get("node_id", broker_id) != broker_id:
            raise ConfigError(
                "broker.id", merged["broker.id"], f"differs from node.id ({out['node_id']})"
            )
        out["node_id"] = broker_id
    for key in ("log.dirs", "log.dir"):
        if key in merged:
            out["log_dirs"] = _strings(key, merged[key])
            break
    out.update(_authorizer_fields(merged))
    return out


def _authorizer_fields(merged: Mapping[str, str]) -> dict[str, object]:
    """
    C{super.users} and C{allow.everyone.if.no.acl.found}, read as Kafka's
    C{StandardAuthorizer.configure} reads them, when an authorizer is
    configured (else Kafka never looks at them): super users split at
    semicolons, each C{Type:name}; the default result ALLOW only for C{true}
    (any case, trimmed).
    """
    if not merged.get("authorizer.class.name", "").strip():
        return {}
    raw = merged.get("super.users", "")
    try:
        users = parse_super_users(raw)
    except ValueError as e:
        raise ConfigError("super.users", raw, str(e)) from None
    allow = merged.get("allow.everyone.if.no.acl.found", "").strip().lower() == "true"
    return {"super_users": users, "allow_everyone_if_no_acl_found": allow}
