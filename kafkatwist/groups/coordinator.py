"""GroupCoordinator: the broker's group coordinator, built from its parts.

Kafka splits the group coordinator along the same seams: the service that
owns it (C{GroupCoordinatorService}), the classic group protocol
(C{GroupMetadataManager}: here L{GroupMembership} over the L{Rebalancer}),
the offsets (C{OffsetMetadataManager}: L{OffsetStore}), group
administration (L{GroupAdmin}), the transactional offsets
(L{TxnOffsetStore}) and the loader that replays
``__consumer_offsets`` (L{GroupLoader}).

Everything runs on the reactor thread; a group is a plain object, so one
group's rebalance never blocks another group nor produce/fetch. Offsets and
group metadata are records in ``__consumer_offsets`` in Kafka's format
(L{kafkatwist.groups.records}); a change is acknowledged after its append,
and C{start} replays the topic before serving (COORDINATOR_LOAD_IN_PROGRESS
meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import define
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime
from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.admin import GroupAdmin
from kafkatwist.groups.assignors import ASSIGNORS
from kafkatwist.groups.assignors.spec import Assignor
from kafkatwist.groups.consumer.classic_members import ClassicMembers
from kafkatwist.groups.consumer.coordinator import ConsumerGroupCoordinator
from kafkatwist.groups.consumer.timers import BrokerTimeouts, ConfiguredTimeouts, GroupOverrides
from kafkatwist.groups.loader import GroupLoader
from kafkatwist.groups.membership import GroupMembership
from kafkatwist.groups.offsets import OffsetStore
from kafkatwist.groups.offsets_topic import OffsetsTopic, TopicCreator, offsets_topic_configs
from kafkatwist.groups.rebalance import Outbox, Rebalancer, join_error, sync_error
from kafkatwist.groups.state import ClassicGroup, GroupTable, cancel
from kafkatwist.groups.txn_offsets import TxnOffsetStore
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.storage.kraft import TopicState
from kafkatwist.topics.partitions import Partitions


@define(eq=False)
class GroupCoordinator:
    """
    The group coordinator: its parts share one L{GroupTable}.

    The group APIs call its parts: L{membership} (JoinGroup, SyncGroup,
    Heartbeat, LeaveGroup), L{offsets} (OffsetCommit, OffsetFetch,
    OffsetDelete) and L{admin} (ListGroups, DescribeGroups, DeleteGroups).
    Build one with L{GroupCoordinator.create}.
    """

    _table: GroupTable
    _topic: OffsetsTopic
    _loader: GroupLoader
    _rebalancer: Rebalancer
    _outbox: Outbox
    membership: GroupMembership
    offsets: OffsetStore
    txn_offsets: TxnOffsetStore
    admin: GroupAdmin
    #: The consumer groups (KIP-848): ConsumerGroupHeartbeat, ConsumerGroupDescribe.
    consumer: ConsumerGroupCoordinator
    _log = Logger()

    @classmethod
    def create(
        cls,
        config: GroupConfig,
        clock: ReactorTime,
        metadata: IMetadataStore,
        controller: TopicCreator,
        partitions: Partitions,
        assignors: Mapping[str, Assignor] = ASSIGNORS,
        group_configs: GroupOverrides | None = None,
    ) -> GroupCoordinator:
        """
        A coordinator on C{clock}, writing ``__consumer_offsets`` through C{partitions}.

        @param clock: the reactor (any C{IReactorTime}).
        @param metadata: the metadata store, to find ``__consumer_offsets``.
        @param controller: creates ``__consumer_offsets`` on first use.
        @param assignors: the server-side assignors; those C{group.consumer.assignors}
            names are offered to consumer groups.
        @param group_configs: the group configs, whose session timeout and
            heartbeat interval overrides the consumer groups use.
        """
        table = GroupTable()
        topic = OffsetsTopic(
            config.offsets_topic_num_partitions,
            clock,
            metadata,
            controller,
            partitions,
            configs=offsets_topic_configs(config.offsets_topic_segment_bytes),
        )
        outbox = Outbox()
        rebalancer = Rebalancer(config, clock, topic, outbox)
        offsets = OffsetStore(config, clock, table, topic)
        broker_timeouts = BrokerTimeouts(
            config.consumer_session_timeout_ms, config.consumer_heartbeat_interval_ms
        )
        consumer = ConsumerGroupCoordinator(
            config,
            clock,
            table,
            topic,
            metadata,
            {n: assignors[n] for n in config.consumer_assignors if n in assignors},
            broker_timeouts
            if group_configs is None
            else ConfiguredTimeouts(group_configs, broker_timeouts),
            rebalancer,
            outbox,
            offsets.schedule_expiry,
        )
        classic_members = ClassicMembers(config, metadata, topic, consumer)
        return cls(
            table=table,
            topic=topic,
            loader=GroupLoader(table, topic),
            rebalancer=rebalancer,
            outbox=outbox,
            membership=GroupMembership(config, table, topic, rebalancer, outbox, classic_members),
            offsets=offsets,
            txn_offsets=TxnOffsetStore(clock, table, topic, offsets),
            admin=GroupAdmin(table, topic, rebalancer),
            consumer=consumer,
        )

    @property
    def groups(self) -> dict[str, ClassicGroup]:
        """The groups, by id."""
        return self._table.groups

    @property
    def loading(self) -> bool:
        """True while C{start} replays ``__consumer_offsets``."""
        return self._table.loading

    @loading.setter
    def loading(self, value: bool) -> None:
        self._table.loading = value

    def ensure_offsets_topic(self) -> Deferred[TopicState]:
        """The ``__consumer_offsets`` topic, created through the controller on first use."""
        return self._topic.ensure()

    def partition_for(self, group_id: str) -> int:
        """The ``__consumer_offsets`` partition of C{group_id}."""
        return self._topic.partition_of(group_id)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Replay ``__consumer_offsets``, then serve; COORDINATOR_LOAD_IN_PROGRESS meanwhile."""
        self._table.loading = True
        self.offsets.start()
        return self._loader.load().addCallback(self._loaded).addErrback(self._load_failed)

    def _loaded(self, records: int) -> None:
        """Watch the loaded members' heartbeats, then serve."""
        now = self._rebalancer.now()
        for group in self._table.groups.values():
            for member in group.members.values():
                self._rebalancer.reschedule_heartbeat(group, member)
            if group.state_timestamp_ms < 0:
                group.state_timestamp_ms = now
        self._log.info(
            "Loaded {groups} groups from {records} __consumer_offsets records",
            groups=len(self._table.groups),
            records=records,
        )
        self.consumer.watch_loaded()
        self._table.loading = False
        self.offsets.schedule_expiry()

    def _load_failed(self, f: Failure) -> Failure:
        self._table.loading = False
        self._log.failure("Loading __consumer_offsets failed", f)
        return f

    def stop(self) -> None:
        """Cancel every timer; parked answers get NOT_COORDINATOR."""
        self.offsets.stop()
        self.consumer.stop()
        with self._outbox.batch():
            for group in self._table.groups.values():
                self._rebalancer.cancel_timers(group)
                for member in group.members.values():
                    cancel(member.timer)
                    self._rebalancer.respond_join(member, join_error(ErrorCode.NOT_COORDINATOR))
                    self._rebalancer.respond_sync(member, sync_error(ErrorCode.NOT_COORDINATOR))
