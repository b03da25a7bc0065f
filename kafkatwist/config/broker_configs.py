"""The broker config table: every broker key kafkatwist knows, as Kafka 4.0 defines it.

One row per key (Kafka's C{KafkaConfig.configDef}): its type and default
as DescribeConfigs prints them, its validator (C{ConfigDef}'s messages),
whether it can change at run time and at which level
(C{DynamicBrokerConfig.ALL_DYNAMIC_CONFIGS}: None is read-only,
L{CLUSTER_WIDE} or L{PER_BROKER}), its documentation, and the
L{kafkatwist.config.properties.BrokerConfig} field it feeds. The server
defaults of topic configs (C{log.retention.ms}...) are built from the topic
table (L{kafkatwist.config.topic_config}), which holds their unit synonyms.
The table covers the keys kafkatwist reads, the broker synonyms of every
topic config and the Kafka keys a C{server.properties} commonly holds;
L{is_kafka_key} knows the rest of Kafka's names, which kafkatwist ignores.

Dynamic validation, synonyms and sensitivity: L{kafkatwist.config.dynamic}.
"""

from __future__ import annotations

from attrs import frozen

from kafkatwist.cluster.replica_selector import REPLICA_SELECTORS
from kafkatwist.config import topic_config
from kafkatwist.config.group_broker_configs import GROUP_BROKER_FEEDS, GROUP_BROKER_ROWS
from kafkatwist.config.kafka_keys import KAFKA_PREFIXES, MORE_KAFKA_KEYS
from kafkatwist.config.metrics_config import (
    METRICS_LISTENER,
    METRICS_LISTENER_DOC,
    validate_metrics_listener,
)
from kafkatwist.config.ssl_broker_configs import RECONFIGURABLE, SSL_BROKER_ROWS
from kafkatwist.config.storage_config import STORAGE_BROKER_ROWS
from kafkatwist.config.trace_config import TRACE_BROKER_ROWS
from kafkatwist.config.values import (
    INT_MAX,
    LONG_MAX,
    TYPE_BOOLEAN,
    TYPE_CLASS,
    TYPE_DOUBLE,
    TYPE_INT,
    TYPE_LIST,
    TYPE_LONG,
    TYPE_PASSWORD,
    TYPE_SHORT,
    TYPE_STRING,
    Validator,
    any_value,
    at_least,
    one_of,
)
from kafkatwist.security.authorizer import AUTHORIZER_CLASS_NAMES

__all__ = ["BROKER_CONFIGS", "CLUSTER_WIDE", "PER_BROKER", "BrokerConfigDef", "is_kafka_key"]

#: Kafka's dynamic update modes; None (read-only) for the rest.
CLUSTER_WIDE, PER_BROKER = "cluster-wide", "per-broker"


@frozen
class BrokerConfigDef:
    """One broker config."""

    name: str
    type: int
    #: Kafka's default as DescribeConfigs prints it; None when Kafka has none.
    default: str | None
    #: None (read-only), L{CLUSTER_WIDE} or L{PER_BROKER}.
    mode: str | None
    documentation: str = ""
    validator: Validator | None = None
    #: The L{kafkatwist.config.properties.BrokerConfig} field it feeds, if any.
    feeds: str | None = None
    #: What C{server.properties} may hold, when looser than L{validator}.
    static_validator: Validator | None = None

    @property
    def read_only(self) -> bool:
        return self.mode is None


def _topic(name: str, topic_name: str, *, no_default: bool = False) -> BrokerConfigDef:
    """
    A broker config that is the server default of a topic config: same type,
    default and validation, updatable cluster-wide (C{DynamicLogConfig}).

    @param no_default: Kafka gives the broker key no default (a unit synonym
        such as C{log.retention.hours} provides it).
    """
    d = topic_config.TOPIC_CONFIGS[topic_name]
    return BrokerConfigDef(
        name,
        d.type,
        None if no_default else d.default,
        CLUSTER_WIDE,
        f"The server default for the topic config {topic_name}: {d.documentation}",
        d.validator,
        static_validator=any_value if d.negative_is_unlimited else d.storage_validator,
    )


def _authorizer_class(value: str) -> str | None:
    """The authorizers kafkatwist has: none, or Kafka's StandardAuthorizer."""
    if not value or value in AUTHORIZER_CLASS_NAMES:
        return None
    return f"Class {value} cannot be found"


_R = None  # read-only
_C = CLUSTER_WIDE
_P = PER_BROKER

_PROTOCOL_MAP = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"

# fmt: off
BROKER_CONFIGS: dict[str, BrokerConfigDef] = {
    d.name: d
    for d in (
        # --- server basics and KRaft --------------------------------------
        BrokerConfigDef("node.id", TYPE_INT, "-1", _R, "The node ID of this server in KRaft mode.",
                        feeds="node_id", static_validator=at_least(0)),
        BrokerConfigDef("broker.id", TYPE_INT, "-1", _R,
                        "The broker id (an alias of node.id in KRaft mode).",
                        feeds="node_id", static_validator=at_least(0)),
        BrokerConfigDef("process.roles", TYPE_LIST, "", _R,
                        "The roles this process plays: broker, controller or both.",
                        static_validator=one_of("broker", "controller")),
        BrokerConfigDef("controller.listener.names", TYPE_STRING, None, _R,
                        "The names of the listeners used by the controller.",
                        feeds="controller_listener_names"),
        BrokerConfigDef("controller.quorum.voters", TYPE_LIST, "", _R,
                        "The static controller quorum voters."),
        BrokerConfigDef("controller.quorum.bootstrap.servers", TYPE_LIST, "", _R,
                        "The controller endpoints used to discover the quorum."),
        BrokerConfigDef("controller.quorum.request.timeout.ms", TYPE_INT, "2000", _R,
                        "How long a quorum request may wait for a response."),
        BrokerConfigDef("controller.socket.timeout.ms", TYPE_INT, "30000", _R,
                        "The socket timeout for controller-to-broker channels."),
        BrokerConfigDef("metadata.log.dir", TYPE_STRING, None, _R,
                        "Where the KRaft metadata log is kept."),
        BrokerConfigDef("metadata.log.segment.bytes", TYPE_INT, "1073741824", _R,
                        "The segment size of the metadata log.", at_least(12),
                        feeds="metadata_log_segment_bytes"),
        BrokerConfigDef("metadata.log.segment.ms", TYPE_LONG, "604800000", _R,
                        "How long before the metadata log rolls a new segment.", at_least(1),
                        feeds="metadata_log_segment_ms"),
        BrokerConfigDef("metadata.max.retention.bytes", TYPE_LONG, "104857600", _R,
                        "The metadata log and snapshot bytes kept before old data is deleted.",
                        feeds="metadata_max_retention_bytes"),
        BrokerConfigDef("metadata.max.retention.ms", TYPE_LONG, "604800000", _R,
                        "How long metadata snapshots and the segments they cover are kept.",
                        feeds="metadata_max_retention_ms"),
        BrokerConfigDef("metadata.log.max.record.bytes.between.snapshots", TYPE_LONG,
                        "20971520", _R,
                        "The metadata log bytes written before a new snapshot.", at_least(1),
                        feeds="metadata_log_max_record_bytes_between_snapshots"),
        BrokerConfigDef("metadata.log.max.snapshot.interval.ms", TYPE_LONG, "3600000", _R,
                        "The longest time between metadata snapshots when records were "
                        "written (0 disables).", at_least(0),
                        feeds="metadata_log_max_snapshot_interval_ms"),
        BrokerConfigDef("broker.rack", TYPE_STRING, None, _R, "The rack of the broker."),
        BrokerConfigDef("replica.selector.class", TYPE_STRING, None, _R,
                        "The replica a consumer is sent to fetch from (KIP-392; PostgreSQL).",
                        one_of(*REPLICA_SELECTORS), feeds="replica_selector_class"),
        BrokerConfigDef("broker.heartbeat.interval.ms", TYPE_INT, "2000", _R,
                        "The interval between broker heartbeats to the controller."),
        BrokerConfigDef("broker.session.timeout.ms", TYPE_INT, "9000", _R,
                        "How long a broker lease lasts without heartbeats."),
        BrokerConfigDef("initial.broker.registration.timeout.ms", TYPE_INT, "60000", _R,
                        "How long to wait for the initial broker registration."),
        BrokerConfigDef("server.max.startup.time.ms", TYPE_LONG, str(LONG_MAX), _R,
                        "How long the broker may take to catch up with the metadata at start-up."),
        BrokerConfigDef("unstable.api.versions.enable", TYPE_BOOLEAN, "false", _R,
                        "Whether unreleased API versions are advertised."),
        BrokerConfigDef("unstable.feature.versions.enable", TYPE_BOOLEAN, "false", _R,
                        "Whether unreleased feature versions may be used."),
        # --- listeners and sockets ------------------------------------------
        BrokerConfigDef("listeners", TYPE_STRING, "PLAINTEXT://:9092", _P,
                        "The listeners the broker accepts connections on.", feeds="listeners"),
        BrokerConfigDef("advertised.listeners", TYPE_STRING, None, _P,
                        "The listeners published to clients, if different from listeners.",
                        feeds="advertised_listeners"),
        BrokerConfigDef("listener.security.protocol.map", TYPE_STRING, _PROTOCOL_MAP, _P,
                        "Maps listener names to security protocols.",
                        feeds="listener_security_protocol_map"),
        BrokerConfigDef("inter.broker.listener.name", TYPE_STRING, None, _R,
                        "The listener brokers use to talk to each other."),
        BrokerConfigDef("security.inter.broker.protocol", TYPE_STRING, "PLAINTEXT", _R,
                        "The security protocol brokers use to talk to each other.",
                        one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")),
        BrokerConfigDef("early.start.listeners", TYPE_STRING, None, _R,
                        "Listeners started before the authorizer has finished initialising."),
        BrokerConfigDef("socket.request.max.bytes", TYPE_INT, "104857600", _R,
                        "The largest request a socket accepts.", at_least(1),
                        feeds="socket_request_max_bytes"),
        BrokerConfigDef("socket.send.buffer.bytes", TYPE_INT, "102400", _R,
                        "The SO_SNDBUF of server sockets."),
        BrokerConfigDef("socket.receive.buffer.bytes", TYPE_INT, "102400", _R,
                        "The SO_RCVBUF of server sockets."),
        BrokerConfigDef("socket.listen.backlog.size", TYPE_INT, "50", _R,
                        "The maximum number of pending connections on a socket.", at_least(1)),
        BrokerConfigDef("connections.max.idle.ms", TYPE_LONG, "600000", _R,
                        "Idle connections timeout: the server socket processor threads close "
                        "the connections that idle more than this",
                        feeds="connections_max_idle_ms"),
        BrokerConfigDef("connections.max.reauth.ms", TYPE_LONG, "0", _R,
                        "The maximum lifetime of an authenticated session."),
        BrokerConfigDef("connection.failed.authentication.delay.ms", TYPE_INT, "100", _R,
                        "How long to delay closing a connection after a failed authentication."),
        BrokerConfigDef("max.connections", TYPE_INT, str(INT_MAX), _C,
                        "The maximum number of connections the broker accepts.", at_least(0)),
        BrokerConfigDef("max.connections.per.ip", TYPE_INT, str(INT_MAX), _C,
                        "The maximum number of connections from one address.", at_least(0)),
        BrokerConfigDef("max.connections.per.ip.overrides", TYPE_STRING, "", _C,
                        "Per-address overrides of max.connections.per.ip."),
        BrokerConfigDef("max.connection.creation.rate", TYPE_INT, str(INT_MAX), _C,
                        "The maximum rate of new connections per second.", at_least(0)),
        BrokerConfigDef("queued.max.requests", TYPE_INT, "500", _R,
                        "The number of queued requests before the network threads stop reading.",
                        at_least(1)),
        # Kafka's default is -1 (unbounded); kafkatwist's is 256 MiB
        # (BrokerConfig.queued_max_request_bytes, shown by DescribeConfigs).
        BrokerConfigDef("queued.max.request.bytes", TYPE_LONG, "-1", _R,
                        "The number of queued bytes before no more requests are read: the "
                        "bytes of requests read but not yet answered, across all connections; "
                        "0 or less is unbounded. kafkatwist's default is 268435456 (256 MiB), "
                        "not Kafka's -1, so that clients pipelining requests cannot make the "
                        "broker buffer without bound. Bytes are counted as they are read, and "
                        "one connection in the middle of a request may finish it, so a request "
                        "larger than what is left is still served and the bytes held stay "
                        "under this value plus one request (socket.request.max.bytes).",
                        feeds="queued_max_request_bytes"),
        BrokerConfigDef("request.timeout.ms", TYPE_INT, "30000", _R,
                        "How long the broker waits for a response to its own requests."),
        BrokerConfigDef("socket.connection.setup.timeout.ms", TYPE_LONG, "10000", _R,
                        "How long the broker waits for an outgoing connection to be set up."),
        BrokerConfigDef("socket.connection.setup.timeout.max.ms", TYPE_LONG, "30000", _R,
                        "The maximum of the exponential connection set-up back-off."),
        # --- threads -------------------------------------------------------
        BrokerConfigDef("num.network.threads", TYPE_INT, "3", _C,
                        "The number of threads receiving requests and sending responses.",
                        at_least(1)),
        BrokerConfigDef("num.io.threads", TYPE_INT, "8", _C,
                        "The number of threads processing requests. In kafkatwist: the size of "
                        "the pool that serves reads of data not in the page cache (requests "
                        "are handled on the reactor thread); read at start.", at_least(1),
                        feeds="num_io_threads"),
        BrokerConfigDef("background.threads", TYPE_INT, "10", _C,
                        "The number of threads for background tasks.", at_least(1)),
        BrokerConfigDef("num.replica.fetchers", TYPE_INT, "1", _C,
                        "The number of fetcher threads per source broker.", at_least(1)),
        BrokerConfigDef("num.replica.alter.log.dirs.threads", TYPE_INT, None, _R,
                        "The number of threads moving replicas between log directories."),
        # Kafka 4.0 (KIP-1030) raised this default from 1 to 2.
        BrokerConfigDef("num.recovery.threads.per.data.dir", TYPE_INT, "2", _C,
                        "Threads per log directory for recovery and for flushing at shutdown.",
                        at_least(1), feeds="num_recovery_threads_per_data_dir"),
        # --- topics --------------------------------------------------------
        BrokerConfigDef("num.partitions", TYPE_INT, "1", _R,
                        "The default number of partitions of a new topic.", at_least(1),
                        feeds="num_partitions"),
        BrokerConfigDef("default.replication.factor", TYPE_INT, "1", _R,
                        "The default replication factor of a new topic.",
                        feeds="default_replication_factor", static_validator=at_least(1)),
        BrokerConfigDef("auto.create.topics.enable", TYPE_BOOLEAN, "true", _R,
                        "Whether Metadata requests may create topics.",
                        feeds="auto_create_topics_enable"),
        BrokerConfigDef("delete.topic.enable", TYPE_BOOLEAN, "true", _R,
                        "Whether topics may be deleted.", feeds="delete_topic_enable"),
        BrokerConfigDef("auto.leader.rebalance.enable", TYPE_BOOLEAN, "true", _R,
                        "Whether preferred leaders are restored automatically."),
        BrokerConfigDef("leader.imbalance.check.interval.seconds", TYPE_LONG, "300", _R,
                        "How often the leader balance is checked."),
        BrokerConfigDef("leader.imbalance.per.broker.percentage", TYPE_INT, "10", _R,
                        "The leader imbalance allowed per broker, in percent."),
        BrokerConfigDef("create.topic.policy.class.name", TYPE_CLASS, None, _R,
                        "The create topic policy class."),
        BrokerConfigDef("alter.config.policy.class.name", TYPE_CLASS, None, _R,
                        "The alter configs policy class."),
        # --- logs: the server defaults of topic configs ---------------------
        BrokerConfigDef("log.dir", TYPE_STRING, "/tmp/kafka-logs", _R,
                        "The log directory (used when log.dirs is not set).", feeds="log_dirs"),
        BrokerConfigDef("log.dirs", TYPE_STRING, None, _R, "The comma-separated log directories.",
                        feeds="log_dirs"),
        _topic("log.segment.bytes", "segment.bytes"),
        _topic("log.roll.ms", "segment.ms", no_default=True),
        BrokerConfigDef("log.roll.hours", TYPE_INT, "168", _R,
                        "The maximum time before a new log segment is rolled, in hours.",
                        at_least(1)),
        _topic("log.roll.jitter.ms", "segment.jitter.ms", no_default=True),
        BrokerConfigDef("log.roll.jitter.hours", TYPE_INT, "0", _R,
                        "The maximum jitter subtracted from the roll time, in hours.",
                        at_least(0)),
        _topic("log.retention.ms", "retention.ms", no_default=True),
        BrokerConfigDef("log.retention.minutes", TYPE_INT, None, _R,
                        "How long a log is kept before it is deleted, in minutes."),
        BrokerConfigDef("log.retention.hours", TYPE_INT, "168", _R,
                        "How long a log is kept before it is deleted, in hours."),
        _topic("log.retention.bytes", "retention.bytes"),
        BrokerConfigDef("log.retention.check.interval.ms", TYPE_LONG, "300000", _R,
                        "How often log segments are checked for deletion.", at_least(1),
                        feeds="log_retention_check_interval_ms"),
        _topic("log.flush.interval.messages", "flush.messages"),
        _topic("log.flush.interval.ms", "flush.ms", no_default=True),
        BrokerConfigDef("log.flush.scheduler.interval.ms", TYPE_LONG, str(LONG_MAX), _R,
                        "How often the log flusher checks whether a log needs flushing."),
        BrokerConfigDef("log.flush.offset.checkpoint.interval.ms", TYPE_INT, "60000", _R,
                        "How often the recovery point is persisted.", at_least(0)),
        BrokerConfigDef("log.flush.start.offset.checkpoint.interval.ms", TYPE_INT, "60000", _R,
                        "How often the log start offsets are persisted.", at_least(0)),
        _topic("log.index.interval.bytes", "index.interval.bytes"),
        _topic("log.index.size.max.bytes", "segment.index.bytes"),
        _topic("log.cleanup.policy", "cleanup.policy"),
        _topic("log.segment.delete.delay.ms", "file.delete.delay.ms"),
        _topic("log.preallocate", "preallocate"),
        _topic("log.message.timestamp.type", "message.timestamp.type"),
        _topic("log.message.downconversion.enable", "message.downconversion.enable"),
        _topic("log.message.timestamp.before.max.ms", "message.timestamp.before.max.ms"),
        _topic("log.message.timestamp.after.max.ms", "message.timestamp.after.max.ms"),
        _topic("log.local.retention.ms", "local.retention.ms"),
        _topic("log.local.retention.bytes", "local.retention.bytes"),
        _topic("message.max.bytes", "max.message.bytes"),
        _topic("compression.type", "compression.type"),
        _topic("compression.gzip.level", "compression.gzip.level"),
        _topic("compression.lz4.level", "compression.lz4.level"),
        _topic("compression.zstd.level", "compression.zstd.level"),
        _topic("min.insync.replicas", "min.insync.replicas"),
        _topic("unclean.leader.election.enable", "unclean.leader.election.enable"),
        _topic("log.cleaner.delete.retention.ms", "delete.retention.ms"),
        _topic("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"),
        _topic("log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms"),
        _topic("log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio"),
        BrokerConfigDef("log.cleaner.enable", TYPE_BOOLEAN, "true", _R,
                        "Whether the log cleaner runs."),
        BrokerConfigDef("log.cleaner.threads", TYPE_INT, "1", _C,
                        "The number of log cleaner threads.", at_least(0)),
        BrokerConfigDef("log.cleaner.backoff.ms", TYPE_LONG, "15000", _C,
                        "How long the cleaner sleeps when there is nothing to clean.",
                        at_least(0)),
        BrokerConfigDef("log.cleaner.dedupe.buffer.size", TYPE_LONG, "134217728", _C,
                        "The memory used for log deduplication across all cleaner threads."),
        BrokerConfigDef("log.cleaner.io.buffer.size", TYPE_INT, "524288", _C,
                        "The memory used for cleaner I/O buffers.", at_least(0)),
        BrokerConfigDef("log.cleaner.io.buffer.load.factor", TYPE_DOUBLE, "0.9", _C,
                        "The load factor of the deduplication buffer."),
        BrokerConfigDef("log.cleaner.io.max.bytes.per.second", TYPE_DOUBLE,
                        "1.7976931348623157E308", _C,
                        "The I/O throttle of the log cleaner."),
        BrokerConfigDef("log.dir.failure.timeout.ms", TYPE_LONG, "30000", _R,
                        "How long a failed log directory may stay unreported before shutting down.",
                        at_least(1)),
        # --- replication ---------------------------------------------------
        BrokerConfigDef("replica.fetch.max.bytes", TYPE_INT, "1048576", _R,
                        "The bytes fetched per partition by replica fetchers.", at_least(0)),
        BrokerConfigDef("replica.fetch.wait.max.ms", TYPE_INT, "500", _R,
                        "The maximum wait of a replica fetch request."),
        BrokerConfigDef("replica.lag.time.max.ms", TYPE_LONG, "30000", _R,
                        "How long a follower may lag before it leaves the ISR."),
        BrokerConfigDef("replica.socket.timeout.ms", TYPE_INT, "30000", _R,
                        "The socket timeout of replica fetch requests."),
        BrokerConfigDef("fetch.max.bytes", TYPE_INT, "57671680", _R,
                        "The most bytes a Fetch response may hold.", at_least(1024)),
        BrokerConfigDef("fetch.purgatory.purge.interval.requests", TYPE_INT, "1000", _R,
                        "The purge interval of the fetch request purgatory."),
        BrokerConfigDef("producer.purgatory.purge.interval.requests", TYPE_INT, "1000", _R,
                        "The purge interval of the produce request purgatory."),
        BrokerConfigDef("max.incremental.fetch.session.cache.slots", TYPE_INT, "1000", _R,
                        "The maximum number of incremental fetch sessions.", at_least(0),
                        feeds="max_incremental_fetch_session_cache_slots"),
        # --- group coordinator ---------------------------------------------
        BrokerConfigDef("offsets.topic.num.partitions", TYPE_INT, "50", _R,
                        "The number of partitions of the offsets topic.", at_least(1),
                        feeds="offsets_topic_num_partitions"),
        BrokerConfigDef("offsets.topic.replication.factor", TYPE_SHORT, "3", _R,
                        "The replication factor of the offsets topic.", at_least(1)),
        BrokerConfigDef("offsets.topic.segment.bytes", TYPE_INT, "104857600", _R,
                        "The segment size of the offsets topic.", at_least(1),
                        feeds="offsets_topic_segment_bytes"),
        BrokerConfigDef("offsets.topic.compression.codec", TYPE_INT, "0", _R,
                        "The compression codec of the offsets topic."),
        BrokerConfigDef("offsets.load.buffer.size", TYPE_INT, "5242880", _R,
                        "The batch size for reading the offsets topic into the cache.",
                        at_least(1)),
        BrokerConfigDef("offsets.retention.minutes", TYPE_INT, "10080", _R,
                        "How long committed offsets of an empty group are kept.", at_least(1),
                        feeds="offsets_retention_minutes"),
        BrokerConfigDef("offsets.retention.check.interval.ms", TYPE_LONG, "600000", _R,
                        "How often stale offsets are looked for.", at_least(1),
                        feeds="offsets_retention_check_interval_ms"),
        BrokerConfigDef("offsets.commit.timeout.ms", TYPE_INT, "5000", _R,
                        "How long an offset commit waits for replication.", at_least(1)),
        BrokerConfigDef("offset.metadata.max.bytes", TYPE_INT, "4096", _R,
                        "The maximum size of the metadata of an offset commit.",
                        feeds="offset_metadata_max_bytes"),
        BrokerConfigDef("group.min.session.timeout.ms", TYPE_INT, "6000", _R,
                        "The minimum session timeout of a classic group member.",
                        feeds="group_min_session_timeout_ms", static_validator=at_least(0)),
        BrokerConfigDef("group.max.session.timeout.ms", TYPE_INT, "1800000", _R,
                        "The maximum session timeout of a classic group member.",
                        feeds="group_max_session_timeout_ms", static_validator=at_least(0)),
        BrokerConfigDef("group.initial.rebalance.delay.ms", TYPE_INT, "3000", _R,
                        "How long the coordinator waits for members before the first rebalance.",
                        feeds="group_initial_rebalance_delay_ms", static_validator=at_least(0)),
        BrokerConfigDef("group.max.size", TYPE_INT, str(INT_MAX), _R,
                        "The maximum number of members of a classic group.", at_least(1),
                        feeds="group_max_size"),
        BrokerConfigDef("group.coordinator.rebalance.protocols", TYPE_LIST, "classic,consumer", _R,
                        "The rebalance protocols the group coordinator supports."),
        # group.consumer.*, group.share.*, group.streams.*: read-only.
        *(BrokerConfigDef(n, t, d, _R, doc, v, feeds=GROUP_BROKER_FEEDS.get(n))
          for n, t, d, doc, v in GROUP_BROKER_ROWS),
        # --- transactions --------------------------------------------------
        BrokerConfigDef("transaction.state.log.num.partitions", TYPE_INT, "50", _R,
                        "The number of partitions of the transaction state topic.", at_least(1),
                        feeds="transaction_state_log_num_partitions"),
        BrokerConfigDef("transaction.state.log.replication.factor", TYPE_SHORT, "3", _R,
                        "The replication factor of the transaction state topic.", at_least(1)),
        BrokerConfigDef("transaction.state.log.min.isr", TYPE_INT, "2", _R,
                        "The min.insync.replicas of the transaction state topic.", at_least(1)),
        BrokerConfigDef("transaction.state.log.segment.bytes", TYPE_INT, "104857600", _R,
                        "The segment size of the transaction state topic.", at_least(1),
                        feeds="transaction_state_log_segment_bytes"),
        BrokerConfigDef("transaction.state.log.load.buffer.size", TYPE_INT, "5242880", _R,
                        "The batch size for reading the transaction state topic at load.",
                        at_least(1)),
        BrokerConfigDef("transaction.max.timeout.ms", TYPE_INT, "900000", _R,
                        "The longest transaction timeout a producer may ask for.", at_least(1),
                        feeds="transaction_max_timeout_ms"),
        BrokerConfigDef("transactional.id.expiration.ms", TYPE_INT, "604800000", _R,
                        "How long an idle transactional id is kept.", at_least(1),
                        feeds="transactional_id_expiration_ms"),
        BrokerConfigDef("transaction.abort.timed.out.transaction.cleanup.interval.ms", TYPE_INT,
                        "10000", _R, "How often timed-out transactions are looked for.",
                        at_least(1), feeds="transaction_abort_timed_out_cleanup_interval_ms"),
        BrokerConfigDef("transaction.remove.expired.transaction.cleanup.interval.ms", TYPE_INT,
                        "3600000", _R, "How often expired transactional ids are looked for.",
                        at_least(1), feeds="transaction_remove_expired_cleanup_interval_ms"),
        BrokerConfigDef("transaction.partition.verification.enable", TYPE_BOOLEAN, "true", _C,
                        "Whether partitions are verified before transactional writes."),
        BrokerConfigDef("producer.id.expiration.ms", TYPE_INT, "86400000", _C,
                        "How long an idle producer id's state is kept.", at_least(1),
                        feeds="producer_id_expiration_ms"),
        BrokerConfigDef("producer.id.expiration.check.interval.ms", TYPE_INT, "600000", _R,
                        "How often expired producer ids are removed.", at_least(1),
                        feeds="producer_id_expiration_check_interval_ms"),
        # --- security and plug-ins -----------------------------------------
        BrokerConfigDef("authorizer.class.name", TYPE_STRING, "", _R, "The authorizer class.",
                        _authorizer_class, feeds="authorizer_class_name"),
        BrokerConfigDef("principal.builder.class", TYPE_CLASS,
                        "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder",
                        _R, "The class that builds principals from authenticated sessions."),
        BrokerConfigDef("client.quota.callback.class", TYPE_CLASS, None, _R,
                        "The client quota callback class."),
        BrokerConfigDef("quota.window.num", TYPE_INT, "11", _R, "The number of samples kept for "
                        "client quotas.", at_least(1), feeds="quota_window_num"),
        BrokerConfigDef("quota.window.size.seconds", TYPE_INT, "1", _R, "The time span of "
                        "each client quota sample.", at_least(1),
                        feeds="quota_window_size_seconds"),
        BrokerConfigDef("telemetry.max.bytes", TYPE_INT, "1048576", _R, "The largest "
                        "metrics payload a client may push (KIP-714).", at_least(1),
                        feeds="telemetry_max_bytes"),
        BrokerConfigDef("security.providers", TYPE_STRING, None, _R,
                        "Security provider creator classes."),
        BrokerConfigDef("sasl.enabled.mechanisms", TYPE_LIST, "GSSAPI", _P,
                        "The SASL mechanisms the broker enables."),
        BrokerConfigDef("sasl.mechanism.inter.broker.protocol", TYPE_STRING, "GSSAPI", _P,
                        "The SASL mechanism brokers use to talk to each other."),
        BrokerConfigDef("password.encoder.secret", TYPE_PASSWORD, None, _R,
                        "The secret that encodes dynamically configured passwords."),
        *(BrokerConfigDef(n, t, d, _P if n in RECONFIGURABLE else _R, doc, v)
          for n, t, d, doc, v in SSL_BROKER_ROWS),
        # --- kafkatwist's own: the protocol trace ----------------------------
        *(BrokerConfigDef(n, t, d, _R, doc, v) for n, t, d, doc, v in TRACE_BROKER_ROWS),
        *(BrokerConfigDef(n, t, d, _R, doc, v) for n, t, d, doc, v in STORAGE_BROKER_ROWS),
        BrokerConfigDef("metric.reporters", TYPE_LIST,
                        "org.apache.kafka.common.metrics.JmxReporter", _C,
                        "The metrics reporter classes."),
        # --- kafkatwist's own -------------------------------------------------
        BrokerConfigDef(METRICS_LISTENER, TYPE_STRING, "", _R, METRICS_LISTENER_DOC,
                        validate_metrics_listener, feeds="metrics_listener"),
    )
}
# fmt: on


def is_kafka_key(key: str) -> bool:
    """Whether Kafka defines broker config C{key} (kafkatwist may still ignore it)."""
    return key in BROKER_CONFIGS or key in MORE_KAFKA_KEYS or key.startswith(KAFKA_PREFIXES)
