"""GroupCoordinator: the broker's group coordinator, built from its parts.

Kafka splits the group coordinator along the same seams: the service that
owns it (C{GroupCoordinatorService}), the classic group protocol
(C{GroupMetadataManager}: here L{GroupMembership} over the L{Rebalancer}),
the offsets (C{OffsetMetadataManager}: L{OffsetStore}), group
administration (L{GroupAdmin}), the transactional offsets
(L{TxnOffsetStore}) and the loader that replays
``__consumer_offsets`` (L{GroupLoader}), one partition per election
(L{PartitionElections}: Kafka's C{onElection} / C{onResignation}).

Everything runs on the reactor thread; a group is a plain object, so one
group's rebalance never blocks another group nor produce/fetch. Offsets and
group metadata are records in ``__consumer_offsets`` in Kafka's format
(L{kafkatwist.groups.records}); a change is acknowledged after its append.
The coordinator serves the groups of the partitions this broker leads
(NOT_COORDINATOR for the others), once each is loaded
(COORDINATOR_LOAD_IN_PROGRESS meanwhile): it is an
L{kafkatwist.cluster.interfaces.ILeadershipListener} of the broker's cluster.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import define
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kafkatwist.clock import ReactorTime
from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.admin import GroupAdmin
from kafkatwist.groups.assignors import ASSIGNORS
from kafkatwist.groups.assignors.spec import Assignor
from kafkatwist.groups.consumer.classic_members import ClassicMembers
from kafkatwist.groups.consumer.coordinator import ConsumerGroupCoordinator
from kafkatwist.groups.consumer.timers import BrokerTimeouts, ConfiguredTimeouts, GroupOverrides
from kafkatwist.groups.elections import PartitionElections
from kafkatwist.groups.leadership import Leadership
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
    _elections: PartitionElections
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
        table = GroupTable(leadership=Leadership(metadata))
        topic = OffsetsTopic(
            config.offsets_topic_num_partitions,
            clock,
            metadata,
            controller,
            partitions,
            configs=offsets_topic_configs(config.offsets_topic_segment_bytes),
            leadership=table.leadership,
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
            elections=PartitionElections(table, topic, rebalancer, outbox, consumer, offsets),
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
        """True while the coordinator starts or one of its partitions loads."""
        return self._table.loading

    @loading.setter
    def loading(self, value: bool) -> None:
        """Answer COORDINATOR_LOAD_IN_PROGRESS for every group (while starting)."""
        self._table.leadership.starting = value

    def error_for(self, group_id: str) -> ErrorCode | None:
        """NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS if C{group_id} is not served now."""
        return self._table.error(group_id)

    def ensure_offsets_topic(self) -> Deferred[TopicState]:
        """The ``__consumer_offsets`` topic, created through the controller on first use."""
        return self._topic.ensure()

    def partition_for(self, group_id: str) -> int:
        """The ``__consumer_offsets`` partition of C{group_id}."""
        return self._topic.partition_of(group_id)

    # -- leadership (ILeadershipListener) --------------------------------------------

    def on_election(self, topic: str, partition: int, leader_epoch: int) -> None:
        """This broker leads C{topic}-C{partition}: load its groups (``__consumer_offsets``)."""
        self._elections.on_election(topic, partition, leader_epoch)

    def on_resignation(self, topic: str, partition: int) -> None:
        """This broker no longer leads C{topic}-C{partition}: drop its groups."""
        self._elections.on_resignation(topic, partition)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """
        Serve once the partitions elected so far are loaded; COORDINATOR_LOAD_IN_PROGRESS meanwhile.

        The loads themselves follow the elections (the broker registers the
        coordinator with its cluster); a failed load is retried.
        """
        self.offsets.start()
        return self._elections.when_loaded().addCallback(self._started)

    def _started(self, _: None) -> None:
        self._log.info(
            "Serving {groups} groups of {partitions} __consumer_offsets partitions",
            groups=len(self._table.groups.keys() | self._table.consumer_groups.keys()),
            partitions=len(self._table.leadership.elections),
        )
        self._table.leadership.starting = False
        self.offsets.schedule_expiry()

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
