"""ConsumerGroupHeartbeat: joining, reconciling, leaving and fencing (KIP-848).

Follows Kafka's C{GroupMetadataManager.consumerGroupHeartbeat} and
C{consumerGroupLeave}: a heartbeat validates the member (epochs, static
instance ids), updates its subscription, bumps the group epoch when the
membership or the subscribed topics change, computes a new target
assignment when the group epoch is past the assignment epoch, and
reconciles the member (L{kafkatwist.groups.consumer.reconcile}). The records
of a heartbeat are appended to ``__consumer_offsets`` before it is answered.
Each member has a session timer (the group's C{consumer.session.timeout.ms},
else the broker's C{group.consumer.session.timeout.ms}; a classic member's
own session timeout) and, while it must revoke partitions, a rebalance timer
(its rebalance timeout); either expiring fences it.

A consumer-protocol member joining a non-empty classic group converts it
(online upgrade, Kafka's C{convertToConsumerGroup}); fencing the last
consumer-protocol member of a group whose other members use the classic
protocol converts it back (online downgrade, C{convertToClassicGroup}),
then the classic group rebalances. C{group.consumer.migration.policy} says
which directions are allowed. The classic protocol's requests to a consumer
group are L{kafkatwist.groups.consumer.classic_members}.

The group state changes at once in memory; an append that fails answers the
mapped error but is not undone (Kafka reverts its timeline snapshot).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import attrs
from attrs import define, field
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime
from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups import records as rec
from kafkatwist.groups.assignors.spec import Assignor, PartitionAssignorError
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer import regex
from kafkatwist.groups.consumer.describe import describe_id
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.lookup import dynamic_member, known_member, static_member
from kafkatwist.groups.consumer.member import (
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroupMember,
    MemberState,
)
from kafkatwist.groups.consumer.migration import GroupMigration
from kafkatwist.groups.consumer.reconcile import Owned, reconcile
from kafkatwist.groups.consumer.target import compute_target
from kafkatwist.groups.consumer.timers import (
    EXPIRED,
    REBALANCE,
    SESSION,
    GroupTimeouts,
    MemberTimers,
)
from kafkatwist.groups.consumer.validation import (
    error,
    response_assignment,
    response_error,
    validate_request,
)
from kafkatwist.groups.offsets_topic import OffsetsTopic, append_error, log_append_failure
from kafkatwist.groups.rebalance import Outbox, Rebalancer
from kafkatwist.groups.state import GroupState, GroupTable
from kafkatwist.messages.consumer_group_describe import DescribedGroup
from kafkatwist.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)
from kafkatwist.storage.interfaces import IMetadataStore

Records = list[crec.Record]
T = TypeVar("T")


@define(eq=False)
class ConsumerGroupCoordinator:
    """The consumer groups of a L{GroupTable}: heartbeats, timers and their records."""

    _config: GroupConfig
    _clock: ReactorTime
    _table: GroupTable
    _topic: OffsetsTopic
    _metadata: IMetadataStore
    #: The server-side assignors by name (C{group.consumer.assignors} picks among them).
    assignors: Mapping[str, Assignor]
    _timeouts: GroupTimeouts
    _rebalancer: Rebalancer
    _outbox: Outbox
    #: Arms the offsets retention check, which also deletes empty consumer groups.
    _arm_expiry: Callable[[], None]
    timers: MemberTimers = field(init=False)
    #: Online upgrade and downgrade.
    migration: GroupMigration = field(init=False)
    _log = Logger()

    def __attrs_post_init__(self) -> None:
        self.timers = MemberTimers(self._clock, self._expired)
        self.migration = GroupMigration(
            self._config,
            self._table,
            self._metadata,
            self._rebalancer,
            self._outbox,
            self.timers,
            self.session_timeout_ms,
        )

    # -- the API ------------------------------------------------------------------------

    def heartbeat(
        self,
        request: ConsumerGroupHeartbeatRequest,
        client_id: str,
        client_host: str,
        api_version: int,
        describable: regex.TopicFilter | None = None,
    ) -> Deferred[ConsumerGroupHeartbeatResponse]:
        """Handle a ConsumerGroupHeartbeat (C{describable}: what a regex may match)."""
        if (refused := self._table.error(request.group_id)) is not None:
            return succeed(response_error(refused))
        records: Records = []
        try:
            validate_request(request, api_version, self.assignors)
            if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                response = self._leave(request, records)
            else:
                response = self._heartbeat(request, client_id, client_host, records, describable)
        except KafkaError as e:
            return succeed(response_error(e.code, e.message))
        return self._write(request.group_id, records, response)

    def _write(
        self, group_id: str, records: Records, response: ConsumerGroupHeartbeatResponse
    ) -> Deferred[ConsumerGroupHeartbeatResponse]:
        def failed(code: ErrorCode) -> ConsumerGroupHeartbeatResponse:
            return response_error(code)

        return self.write(group_id, records, response, failed)

    def write(
        self, group_id: str, records: Records, response: T, failed: Callable[[ErrorCode], T]
    ) -> Deferred[T]:
        """Append C{records}, then answer C{response} (C{failed(code)} if the append fails)."""
        if not records:
            return succeed(response)

        def not_written(f: Failure) -> T:
            log_append_failure(f, "Writing the consumer group records", group_id)
            return failed(append_error(f))

        return self._topic.append(group_id, records).addCallbacks(lambda _: response, not_written)

    # -- joining and heartbeating ----------------------------------------------------

    def _heartbeat(
        self,
        r: ConsumerGroupHeartbeatRequest,
        client_id: str,
        client_host: str,
        records: Records,
        describable: regex.TopicFilter | None,
    ) -> ConsumerGroupHeartbeatResponse:
        joining = r.member_epoch == 0
        group = self._group_for(r.group_id, joining, records)
        member_id = r.member_id or str(uuid.uuid4())
        if member_id not in group.members and len(group.members) >= self._config.consumer_max_size:
            raise error(
                ErrorCode.GROUP_MAX_SIZE_REACHED,
                f"The consumer group has reached its maximum capacity of "
                f"{self._config.consumer_max_size} members.",
            )
        owned: Owned = (
            None
            if r.topic_partitions is None
            else [(tp.topic_id, tp.partitions) for tp in r.topic_partitions]
        )
        if r.instance_id is None:
            member = dynamic_member(group, member_id, r.member_epoch, owned)
        else:
            member = static_member(
                group, member_id, r.instance_id, r.member_epoch, owned, records, self.timers
            )
        updated = attrs.evolve(
            member,
            instance_id=r.instance_id if r.instance_id is not None else member.instance_id,
            rack_id=r.rack_id if r.rack_id is not None else member.rack_id,
            rebalance_timeout_ms=r.rebalance_timeout_ms
            if r.rebalance_timeout_ms != -1
            else member.rebalance_timeout_ms,
            server_assignor=r.server_assignor
            if r.server_assignor is not None
            else member.server_assignor,
            subscribed_topic_names=tuple(sorted(r.subscribed_topic_names))
            if r.subscribed_topic_names is not None
            else member.subscribed_topic_names,
            subscribed_topic_regex=(r.subscribed_topic_regex or None)
            if r.subscribed_topic_regex is not None
            else member.subscribed_topic_regex,
            client_id=client_id,
            client_host=client_host,
            classic=None,
        )
        if describable is not None:
            group.see_regex_as(
                updated.subscribed_topic_regex, describable, bool(r.subscribed_topic_regex)
            )
        # Before the member is stored, so one whose heartbeat then fails still expires.
        self.timers.schedule(
            group.group_id,
            updated.member_id,
            SESSION,
            self._timeouts.consumer_session_timeout_ms(group.group_id),
        )
        final = self.update_member(group, member, updated, owned, records)
        full = (
            r.rebalance_timeout_ms != -1
            and (r.subscribed_topic_names is not None or r.subscribed_topic_regex is not None)
            and r.topic_partitions is not None
        )
        send = joining or full or final.assigned_partitions != member.assigned_partitions
        return ConsumerGroupHeartbeatResponse(
            member_id=final.member_id,
            member_epoch=final.member_epoch,
            heartbeat_interval_ms=self._timeouts.consumer_heartbeat_interval_ms(group.group_id),
            assignment=response_assignment(final.assigned_partitions) if send else None,
        )

    def update_member(
        self,
        group: ConsumerGroup,
        member: ConsumerGroupMember,
        updated: ConsumerGroupMember,
        owned: Owned,
        records: Records,
    ) -> ConsumerGroupMember:
        """
        Steps 1-3 of Kafka's heartbeat: store the member (bumping the group
        epoch when its subscription changed), compute a new target assignment
        when the group epoch moved past it, and reconcile the member.
        """
        bump = group.group_epoch == 0
        is_new = updated.member_id not in group.members
        if is_new or updated.subscription() != member.subscription():
            records.append(crec.member_subscription_record(group.group_id, updated))
            if (
                updated.subscribed_topic_names != member.subscribed_topic_names
                or updated.subscribed_topic_regex != member.subscribed_topic_regex
            ):
                bump = True
        group.update_member(updated)
        bump = self._refresh_subscription_metadata(group, records) or bump
        if bump:
            self._bump_epoch(group, records)
        if group.group_epoch > group.assignment_epoch:
            self._update_target(group, records)
        return self._reconcile(group, updated, owned, records)

    def _group_for(self, group_id: str, create: bool, records: Records) -> ConsumerGroup:
        """
        Kafka's C{getOrMaybeCreateConsumerGroup}: an empty classic group is
        replaced, a non-empty one converted when the migration policy allows.
        """
        group = self._table.consumer_groups.get(group_id)
        if group is not None:
            return group
        classic = self._table.groups.get(group_id)
        if not create:
            raise error(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
        self._arm_expiry()
        if classic is not None and (classic.members or classic.state != GroupState.EMPTY):
            if self.migration.may_upgrade(classic):
                return self.migration.upgrade(classic, records)
            raise error(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
        if classic is not None and classic.protocol_type is not None:
            # Kafka's maybeDeleteEmptyClassicGroup: the classic group's record goes.
            records.append((rec.group_metadata_key(group_id), None))
            classic.protocol_type = classic.protocol_name = classic.leader_id = None
            self._log.info(
                "[GroupId {g}] Converted the empty classic group to a consumer group.", g=group_id
            )
        group = self._table.consumer_groups[group_id] = ConsumerGroup(group_id)
        return group

    def _refresh_subscription_metadata(self, group: ConsumerGroup, records: Records) -> bool:
        """Kafka's C{updateSubscriptionMetadata}: the subscribed topics' ids and sizes."""
        image = self._metadata.image
        names = group.all_subscribed_names(image.topics, regex.resolve)
        shapes = {
            name: (image.topics[name].topic_id, len(image.topics[name].partitions))
            for name in names
            if name in image.topics
        }
        if shapes == group.subscription_metadata:
            return False
        group.subscription_metadata = shapes
        records.append(crec.subscription_metadata_record(group.group_id, shapes))
        return True

    def _bump_epoch(self, group: ConsumerGroup, records: Records) -> None:
        group.group_epoch += 1
        records.append(crec.epoch_record(group.group_id, group.group_epoch))

    def _subscribed_ids(
        self, group: ConsumerGroup, member: ConsumerGroupMember
    ) -> frozenset[uuid.UUID]:
        image = self._metadata.image
        names = group.subscribed_names(member, image.topics, regex.resolve)
        return frozenset(image.topics[n].topic_id for n in names if n in image.topics)

    def _update_target(self, group: ConsumerGroup, records: Records) -> None:
        """Kafka's C{updateTargetAssignment}: run the assignor for the group epoch."""
        name = group.preferred_assignor(self._config.consumer_assignors[0])
        assignor = self.assignors.get(name)
        if assignor is None:
            raise error(ErrorCode.UNSUPPORTED_ASSIGNOR, f"ServerAssignor {name} is not supported.")
        subscriptions = {mid: self._subscribed_ids(group, m) for mid, m in group.members.items()}
        try:
            target, new_records = compute_target(
                group.group_id,
                group.group_epoch,
                group.members,
                subscriptions,
                group.target_assignment,
                assignor,
                self._metadata.image,
            )
        except PartitionAssignorError as e:
            raise error(
                ErrorCode.UNKNOWN_SERVER_ERROR,
                f"Failed to compute a new target assignment for epoch {group.group_epoch}: {e}.",
            ) from None
        group.target_assignment = target
        group.assignment_epoch = group.group_epoch
        records.extend(new_records)

    def _reconcile(
        self, group: ConsumerGroup, member: ConsumerGroupMember, owned: Owned, records: Records
    ) -> ConsumerGroupMember:
        """Kafka's C{maybeReconcile}."""
        if member.is_reconciled_to(group.assignment_epoch):
            return member
        new = reconcile(
            member,
            group.assignment_epoch,
            group.target_assignment.get(member.member_id, {}),
            group.partition_epoch,
            owned,
            self._subscribed_ids(group, member),
        )
        if new == member:
            return member
        group.update_member(new)
        records.append(crec.current_assignment_record(group.group_id, new))
        if new.uses_classic_protocol:
            # Classic members have join and sync timers instead.
            return new
        if new.state == MemberState.UNREVOKED_PARTITIONS:
            self.timers.schedule(
                group.group_id,
                new.member_id,
                REBALANCE,
                new.rebalance_timeout_ms,
                epoch=new.member_epoch,
            )
        else:
            self.timers.cancel(group.group_id, new.member_id, REBALANCE)
        return new

    # -- leaving and fencing ----------------------------------------------------------

    def _leave(
        self, r: ConsumerGroupHeartbeatRequest, records: Records
    ) -> ConsumerGroupHeartbeatResponse:
        """Kafka's C{consumerGroupLeave}."""
        group = self._table.consumer_groups.get(r.group_id)
        if group is None:
            raise error(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {r.group_id} not found.")
        response = ConsumerGroupHeartbeatResponse(
            member_id=r.member_id, member_epoch=r.member_epoch
        )
        member = known_member(group, r.member_id, r.instance_id)
        if r.instance_id is not None:
            if r.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                away = attrs.evolve(
                    member,
                    member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH,
                    partitions_pending_revocation={},
                )
                group.update_member(away)
                records.append(crec.current_assignment_record(group.group_id, away))
                self._log.info(
                    "[GroupId {g}] Static member {m} ({i}) left the consumer group temporarily.",
                    g=group.group_id,
                    m=member.member_id,
                    i=r.instance_id,
                )
                return response
        self._log.info(
            "[GroupId {g}] Member {m} left the consumer group.",
            g=group.group_id,
            m=member.member_id,
        )
        self.fence(group, member.member_id, records)
        return response

    def fence(self, group: ConsumerGroup, member_id: str, records: Records) -> None:
        """
        Kafka's C{consumerGroupFenceMember}: remove the member and bump the
        group epoch, or convert the group to a classic group when only
        classic members would remain and the policy allows a downgrade.
        """
        self.timers.cancel_member(group.group_id, member_id)
        if self.migration.may_downgrade(group, member_id):
            self.migration.downgrade(group, member_id, records)
            return
        self.remove_members(group, [member_id], records)

    def remove_members(self, group: ConsumerGroup, member_ids: list[str], records: Records) -> None:
        """Kafka's C{removeMember} of each, then one subscription refresh and epoch bump."""
        for member_id in member_ids:
            self.timers.cancel_member(group.group_id, member_id)
            group.remove_member(member_id)
            group.target_assignment.pop(member_id, None)
            records.extend(crec.member_tombstones(group.group_id, member_id))
        self._refresh_subscription_metadata(group, records)
        self._bump_epoch(group, records)

    def _expired(self, group_id: str, member_id: str, kind: str, epoch: int) -> None:
        """A session, rebalance, join or sync timeout fences the member (Kafka's timeouts)."""
        group = self._table.consumer_groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return
        if kind == REBALANCE and (
            member.state != MemberState.UNREVOKED_PARTITIONS or member.member_epoch != epoch
        ):
            return
        self._log.info(
            "[GroupId {g}] Member {m} fenced from the group because its {what} expired.",
            g=group_id,
            m=member_id,
            what=EXPIRED[kind],
        )
        records: Records = []
        self.fence(group, member_id, records)
        self._topic.store_quietly(group_id, records)

    def describe(self, group_id: str) -> DescribedGroup:
        """ConsumerGroupDescribe for one group."""
        image, assignor = self._metadata.image, self._config.consumer_assignors[0]
        return describe_id(self._table, image, assignor, group_id)

    def watch_loaded(self, groups: Iterable[ConsumerGroup]) -> None:
        """After a load: a session timer for every member, a rebalance timer for revoking ones."""
        for group in groups:
            for member in group.members.values():
                gid, mid = group.group_id, member.member_id
                self.timers.schedule(gid, mid, SESSION, self.session_timeout_ms(group, member))
                if member.state == MemberState.UNREVOKED_PARTITIONS and not member.classic:
                    self.timers.schedule(
                        gid,
                        mid,
                        REBALANCE,
                        member.rebalance_timeout_ms,
                        epoch=member.member_epoch,
                    )

    def stop(self) -> None:
        """Cancel every timer."""
        self.timers.stop()

    def forget(self, group_id: str) -> None:
        """Cancel the timers of a deleted group's members."""
        self.timers.cancel_group(group_id)

    def has_member(self, group_id: str, member_id: str) -> bool:
        """Whether C{member_id} is a member of the consumer group C{group_id}."""
        group = self._table.consumer_groups.get(group_id)
        return group is not None and member_id in group.members

    def session_timeout_ms(self, group: ConsumerGroup, member: ConsumerGroupMember) -> int:
        """A classic member's own session timeout, else the group's."""
        if member.classic is not None:
            return member.classic.session_timeout_ms
        return self._timeouts.consumer_session_timeout_ms(group.group_id)
