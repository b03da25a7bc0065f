"""Broker: the composition root, one typed field per service, and the one place they are built.

Every service is built once, by L{build_broker}, and receives its
collaborators through its constructor; handlers reach them as typed fields
of the L{Broker} (C{ctx.broker.controller}, C{ctx.broker.partitions}...).
L{kafkatwist.transport.service.BrokerService} loads the stores, calls
L{build_broker}, starts the services and listens; the handler tests build
their brokers through L{build_broker} too.
"""

from __future__ import annotations

import uuid
from functools import partial

from attrs import define, field

from kafkatwist.clock import ReactorTime, RunBlocking, now_ms
from kafkatwist.cluster.interfaces import ICluster, IFollowerLogs
from kafkatwist.cluster.local import LocalCluster
from kafkatwist.config.group_config import GroupConfig
from kafkatwist.config.group_overrides import GroupConfigReader
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.features import TRANSACTION_VERSION, FeatureRegistry
from kafkatwist.fetchsessions.cache import FetchSessionCache
from kafkatwist.fetchsessions.contexts import FetchSessions
from kafkatwist.groups.coordinator import GroupCoordinator
from kafkatwist.hooks import RequestHook
from kafkatwist.producers.ids import ProducerIdAllocator
from kafkatwist.quotas.manager import ClientQuotas
from kafkatwist.quotas.rate import QuotaWindow
from kafkatwist.security.authorizer import StandardAuthorizer
from kafkatwist.security.tls_reload import TlsReconfiguration
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore
from kafkatwist.telemetry import ClientMetricsManager
from kafkatwist.topics.controller import Controller
from kafkatwist.topics.partitions import Partitions
from kafkatwist.transactions.config import TransactionConfig
from kafkatwist.transactions.markers import MarkerDelivery
from kafkatwist.transactions.service import TransactionService

#: The one logger kafkatwist reports for BROKER_LOGGER resources.
ROOT_LOGGER = "root"


@define
class BrokerLoggers:
    """
    The broker's logger levels, as BROKER_LOGGER resources show them.

    kafkatwist logs through Twisted, not log4j: it has one logger, C{root},
    at INFO. Levels set through IncrementalAlterConfigs are kept here, in
    memory (like Kafka's, they do not survive a restart), and reported back;
    they do not filter Twisted's log output.
    """

    levels: dict[str, str] = field(factory=lambda: {ROOT_LOGGER: "INFO"})


@define
class Broker:
    """
    The broker's services, built by L{build_broker}.

    C{config} is the static configuration (C{server.properties}), C{configs}
    resolves every value through the dynamic layers and topic overrides.
    C{metadata} is the KRaft metadata store (its C{image} is read
    synchronously: it is in memory), C{logs} the partition log manager,
    C{fetch_sessions} the incremental fetch sessions (KIP-227),
    C{telemetry} the client metrics subscriptions and pushes (KIP-714),
    C{features} the finalized features (C{features.finalized_level("group.version")}),
    C{partitions} opens their logs and appends to them, C{controller} writes
    topic changes to the metadata log, C{groups} is the group coordinator,
    C{producer_ids} gives out producer ids, C{transactions} is the
    transaction coordinator (``__transaction_state``, markers), C{quotas}
    the client quota managers (produce and fetch byte rates, request time).

    C{authorizer} decides what each principal may do (ACLs), or is None
    when C{authorizer.class.name} is unset: then everything is allowed.
    C{tls} rebuilds the SSL listeners' contexts when their key stores are
    updated dynamically.

    @ivar advertised_host: The first listener's host to advertise, or None to
        use the address the client connected to; set once the listeners are
        bound (what a listener missing from C{advertised_listeners} advertises).
    @ivar advertised_port: The first listener's port to advertise; set once
        the listeners are bound.
    """

    config: BrokerConfig
    configs: ConfigResolver
    clock: ReactorTime
    metadata: IMetadataStore
    logs: ILogManager
    partitions: Partitions
    controller: Controller
    groups: GroupCoordinator
    producer_ids: ProducerIdAllocator
    transactions: TransactionService
    fetch_sessions: FetchSessions
    #: The group-level configs (resource type GROUP) as the consumer group coordinator reads them.
    group_configs: GroupConfigReader
    broker_loggers: BrokerLoggers
    features: FeatureRegistry
    telemetry: ClientMetricsManager
    quotas: ClientQuotas
    node_id: int
    #: The cluster's live brokers and this broker's leadership (L{kafkatwist.cluster}).
    cluster: ICluster
    cluster_id: str = ""
    #: The metadata log dir's ``directory.id`` (``meta.properties``), once formatted.
    metadata_directory_id: uuid.UUID | None = None
    advertised_host: str | None = None
    advertised_port: int = 9092
    #: What each listener advertises, by name: (host, or None for the client's address; port).
    advertised_listeners: dict[str, tuple[str | None, int]] = field(factory=dict)
    #: The SSL listeners whose stores dynamic configs may replace (None: no SSL listener).
    tls: TlsReconfiguration | None = None
    authorizer: StandardAuthorizer | None = None
    #: What sees every request (metrics, the trace, fault injection): L{kafkatwist.hooks}.
    hooks: list[RequestHook] = field(factory=list)
    #: The partitions this broker serves consumers as a follower (KIP-392); None: leaders only.
    followers: IFollowerLogs | None = None

    def now_ms(self) -> int:
        """The injected clock's time, in milliseconds."""
        return now_ms(self.clock)

    def address_for(self, listener: str, local_host: str | None) -> tuple[str, int]:
        """
        The (host, port) to advertise to a client of C{listener} connected through C{local_host}.

        Each listener advertises its own endpoint (Kafka answers a client with
        the listener it came in on); a listener not bound here falls back to
        L{advertised_host} and L{advertised_port}.
        """
        host, port = self.advertised_listeners.get(
            listener, (self.advertised_host, self.advertised_port)
        )
        if host:
            return host, port
        if local_host and local_host not in ("0.0.0.0", "::"):
            return local_host, port
        return "localhost", port


def build_broker(
    config: BrokerConfig,
    clock: ReactorTime,
    metadata: IMetadataStore,
    logs: ILogManager,
    configs: ConfigResolver,
    *,
    cluster_id: str = "",
    run_blocking: RunBlocking | None = None,
    cluster: ICluster | None = None,
    markers: MarkerDelivery | None = None,
) -> Broker:
    """
    Build every service of a broker over its stores, each given its collaborators.

    Nothing is loaded or started here: the caller loads C{metadata} and
    C{logs} and starts the group and transaction coordinators
    (L{BrokerService} does, in that order). The order below is the dependency order.

    @param configs: The config resolver; the log manager was given its
        C{log_config} too.
    @param run_blocking: Where produced batches too big to decompress on the
        reactor thread are checked (None: at once).
    @param markers: How the transaction coordinator's markers reach the
        partitions' leaders (None: written here, L{kafkatwist.transactions.markers.MarkerWriter}).
    @param cluster: The cluster (None: this broker alone, L{LocalCluster});
        the caller starts it after the coordinators.
    """
    node_id = config.node_id
    if cluster is None:
        cluster = LocalCluster(node_id, metadata, rack=config.properties.get("broker.rack") or None)
    # Config changes from any writer (another broker, with a shared metadata log) reach the logs.
    metadata.subscribe(partial(configs.records_applied, logs))
    features = FeatureRegistry(metadata, node_id)
    partitions = Partitions(
        metadata,
        logs,
        configs.log_config,
        clock,
        run_blocking,
    )
    controller = Controller(
        metadata,
        partitions,
        node_id,
        num_partitions=config.num_partitions,
        default_replication_factor=config.default_replication_factor,
        cluster=cluster,
    )
    producer_ids = ProducerIdAllocator(metadata, node_id)
    group_configs = GroupConfigReader(metadata, configs)
    groups = GroupCoordinator.create(
        GroupConfig.from_broker_config(config),
        clock,
        metadata,
        controller,
        partitions,
        group_configs=group_configs,
    )
    transactions = TransactionService.create(
        TransactionConfig.from_broker_config(config),
        clock,
        metadata,
        controller,
        partitions,
        producer_ids,
        lambda: features.finalized_level(TRANSACTION_VERSION),
        markers=markers,
        # A marker in __consumer_offsets ends the producer's pending offsets there.
        on_offsets_marker=groups.txn_offsets.complete,
    )
    fetch_sessions = FetchSessions(
        FetchSessionCache(clock, config.max_incremental_fetch_session_cache_slots),
        metadata,
        logs,
    )
    window = QuotaWindow(config.quota_window_num, config.quota_window_size_seconds * 1000)
    # The coordinators load the __consumer_offsets and __transaction_state partitions
    # this broker leads (groups first: completed transactions end pending offsets there).
    cluster.add_listener(groups)
    cluster.add_listener(transactions)
    return Broker(
        config=config,
        configs=configs,
        clock=clock,
        metadata=metadata,
        logs=logs,
        partitions=partitions,
        controller=controller,
        groups=groups,
        group_configs=group_configs,
        producer_ids=producer_ids,
        transactions=transactions,
        fetch_sessions=fetch_sessions,
        broker_loggers=BrokerLoggers(),
        features=features,
        telemetry=ClientMetricsManager(metadata, max_bytes=config.telemetry_max_bytes),
        quotas=ClientQuotas.create(metadata, window),
        node_id=node_id,
        cluster=cluster,
        cluster_id=cluster_id,
        authorizer=build_authorizer(config, metadata),
    )


def build_authorizer(config: BrokerConfig, metadata: IMetadataStore) -> StandardAuthorizer | None:
    """
    The authorizer C{authorizer.class.name} names (None when it is empty),
    configured with C{super.users} and C{allow.everyone.if.no.acl.found}
    (read by L{BrokerConfig.from_properties}). Its ACLs are the metadata image's.
    """
    if not config.authorizer_class_name:
        return None
    return StandardAuthorizer(
        config.super_users,
        allow_everyone_if_no_acl_found=config.allow_everyone_if_no_acl_found,
        source=metadata,
    )


__all__ = ["ROOT_LOGGER", "Broker", "BrokerLoggers", "build_authorizer", "build_broker"]
