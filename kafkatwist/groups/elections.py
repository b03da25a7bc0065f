"""Loading and dropping the groups of one ``__consumer_offsets`` partition.

Kafka's C{GroupCoordinatorService.onElection} / C{onResignation} through
its C{CoordinatorRuntime}: an election loads the partition's groups and
offsets from its log (COORDINATOR_LOAD_IN_PROGRESS meanwhile), a resignation
drops them at once: parked JoinGroup and SyncGroup answers get
NOT_COORDINATOR, every timer of those groups is cancelled, and writes still
under way answer NOT_COORDINATOR when they end
(L{kafkatwist.groups.offsets_topic.OffsetsTopic}). The groups of other
partitions are not touched.

A load is replayed into a table of its own and installed when it ends, so
that a resignation during the load leaves nothing behind. A load that fails
(a storage error) is retried after L{RELOAD_DELAY_MS} (then twice as long
each time) while the partition is still led here; its groups answer
COORDINATOR_LOAD_IN_PROGRESS meanwhile.
"""

from __future__ import annotations

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.errors import ErrorCode
from kafkatwist.groups.consumer.coordinator import ConsumerGroupCoordinator
from kafkatwist.groups.leadership import Election
from kafkatwist.groups.loader import GroupLoader
from kafkatwist.groups.offsets import OffsetStore
from kafkatwist.groups.offsets_topic import OffsetsTopic
from kafkatwist.groups.rebalance import Outbox, Rebalancer, join_error, sync_error
from kafkatwist.groups.records import partition_for
from kafkatwist.groups.state import ClassicGroup, GroupState, GroupTable, cancel

#: How long after a failed load it is tried again; twice as long after each failure, up to
#: L{MAX_RELOAD_DELAY_MS}.
RELOAD_DELAY_MS = 1000
MAX_RELOAD_DELAY_MS = 30_000


@define(eq=False)
class PartitionElections:
    """The group coordinator's L{kafkatwist.cluster.interfaces.ILeadershipListener} half."""

    _table: GroupTable
    _topic: OffsetsTopic
    _rebalancer: Rebalancer
    _outbox: Outbox
    _consumer: ConsumerGroupCoordinator
    _offsets: OffsetStore
    #: Fired once no partition led here is loading.
    _idle: list[Deferred[None]] = field(factory=list)
    _log = Logger()

    def on_election(self, topic: str, partition: int, leader_epoch: int) -> None:
        """Load the partition's groups and offsets (a new epoch of a led one reloads it)."""
        if topic != self._topic.name:
            return
        leadership = self._table.leadership
        if partition in leadership.elections:
            self.on_resignation(topic, partition)
        current = self._topic.current()
        count = len(current.partitions) if current is not None else 0
        self._load(leadership.elect(partition, leader_epoch, count))

    def on_resignation(self, topic: str, partition: int) -> None:
        """Drop the partition's groups: parked answers get NOT_COORDINATOR, timers stop."""
        if topic != self._topic.name:
            return
        election = self._table.leadership.resign(partition)
        if election is None:
            return
        count = election.topic_partitions
        table = self._table
        classic = [g for g in table.groups if partition_for(g, count) == partition]
        consumer = [g for g in table.consumer_groups if partition_for(g, count) == partition]
        with self._outbox.batch():
            for group_id in classic:
                self._drop_classic(table.groups.pop(group_id))
        for group_id in consumer:
            del table.consumer_groups[group_id]
            self._consumer.forget(group_id)
        self._log.info(
            "Resigned {topic}-{partition}: dropped {groups} groups",
            topic=topic,
            partition=partition,
            groups=len(set(classic) | set(consumer)),
        )
        self._maybe_idle()

    def when_loaded(self) -> Deferred[None]:
        """Fires once no partition led here is loading (at once if none is)."""
        d: Deferred[None] = Deferred()
        self._idle.append(d)
        self._maybe_idle()
        return d

    # -- loading ------------------------------------------------------------------

    def _load(self, election: Election) -> None:
        staging = GroupTable()
        loading = GroupLoader(staging, self._topic).load_partition(election.partition)
        loading.addCallbacks(
            self._loaded,
            self._load_failed,
            callbackArgs=(election, staging),
            errbackArgs=(election,),
        )

    def _loaded(self, records: int, election: Election, staging: GroupTable) -> None:
        if not self._table.leadership.is_current(election):
            return  # resigned while loading
        now = self._rebalancer.now()
        table = self._table
        for group_id, group in staging.groups.items():
            old = table.groups.get(group_id)
            if old is not None:
                with self._outbox.batch():
                    self._drop_classic(old)
            table.groups[group_id] = group
            for member in group.members.values():
                self._rebalancer.reschedule_heartbeat(group, member)
            if group.state_timestamp_ms < 0:
                group.state_timestamp_ms = now
        for group_id, consumer_group in staging.consumer_groups.items():
            if group_id in table.consumer_groups:
                self._consumer.forget(group_id)
            table.consumer_groups[group_id] = consumer_group
        self._consumer.watch_loaded(staging.consumer_groups.values())
        election.loaded = True
        # Kafka logs each load; an empty partition's only at debug level (50 of them at start).
        (self._log.info if records else self._log.debug)(
            "Loaded {groups} groups from {records} records of {topic}-{partition} (epoch {epoch})",
            groups=len(staging.groups.keys() | staging.consumer_groups.keys()),
            records=records,
            topic=self._topic.name,
            partition=election.partition,
            epoch=election.leader_epoch,
        )
        self._offsets.schedule_expiry()
        self._maybe_idle()

    def _load_failed(self, f: Failure, election: Election) -> None:
        if not self._table.leadership.is_current(election):
            return
        delay = min(RELOAD_DELAY_MS << election.failures, MAX_RELOAD_DELAY_MS)
        election.failures += 1
        self._log.failure(
            "Loading {topic}-{partition} failed; trying again in {delay} ms",
            f,
            topic=self._topic.name,
            partition=election.partition,
            delay=delay,
        )
        self._rebalancer.later(delay, self._reload, election)

    def _reload(self, election: Election) -> None:
        if self._table.leadership.is_current(election):
            self._load(election)

    def _drop_classic(self, group: ClassicGroup) -> None:
        """Kafka's C{onUnloaded} for a classic group: Dead, answers NOT_COORDINATOR, no timers."""
        self._rebalancer.cancel_timers(group)
        group.transition(GroupState.DEAD, self._rebalancer.now())
        for member in group.members.values():
            cancel(member.timer)
            member.timer = None
            self._rebalancer.respond_join(member, join_error(ErrorCode.NOT_COORDINATOR))
            self._rebalancer.respond_sync(member, sync_error(ErrorCode.NOT_COORDINATOR))

    def _maybe_idle(self) -> None:
        if self._idle and not any(not e.loaded for e in self._table.leadership.elections.values()):
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)
