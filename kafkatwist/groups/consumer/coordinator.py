"""ConsumerGroupHeartbeat: joining, reconciling, leaving and fencing (KIP-848).

Follows Kafka's C{GroupMetadataManager.consumerGroupHeartbeat} and
C{consumerGroupLeave}: a heartbeat validates the member (epochs, static
instance ids), updates its subscription, bumps the group epoch when the
membership or the subscribed topics change, computes a new target
assignment when the group epoch is past the assignment epoch, and
reconciles the member (L{kafkatwist.groups.consumer.reconcile}). The records
of a heartbeat are appended to ``__consumer_offsets`` before it is answered.
Each member has a session timer (C{group.consumer.session.timeout.ms}) and,
while it must revoke partitions, a rebalance timer (its rebalance timeout);
either expiring fences it.

The group state changes at once in memory; an append that fails answers the
mapped error but is not undone (Kafka reverts its timeline snapshot).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

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
from kafkatwist.groups.consumer.describe import describe, not_found
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.member import (
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroupMember,
    MemberState,
)
from kafkatwist.groups.consumer.reconcile import Owned, reconcile
from kafkatwist.groups.consumer.target import compute_target
from kafkatwist.groups.consumer.timers import REBALANCE, SESSION, MemberTimers
from kafkatwist.groups.consumer.validation import (
    check_epoch,
    error,
    response_assignment,
    response_error,
    validate_request,
)
from kafkatwist.groups.offsets_topic import OffsetsTopic, append_error, log_append_failure
from kafkatwist.groups.state import GroupState, GroupTable
from kafkatwist.messages.consumer_group_describe import DescribedGroup
from kafkatwist.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)
from kafkatwist.storage.interfaces import IMetadataStore

Records = list[crec.Record]


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
    _timers: MemberTimers = field(init=False)
    _log = Logger()

    def __attrs_post_init__(self) -> None:
        self._timers = MemberTimers(self._clock, self._expired)

    # -- the API ------------------------------------------------------------------------

    def heartbeat(
        self,
        request: ConsumerGroupHeartbeatRequest,
        client_id: str,
        client_host: str,
        api_version: int,
    ) -> Deferred[ConsumerGroupHeartbeatResponse]:
        """Handle a ConsumerGroupHeartbeat; fires once its records are written."""
        if self._table.loading:
            return succeed(response_error(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
        records: Records = []
        try:
            validate_request(request, api_version, self.assignors)
            if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                response = self._leave(request, records)
            else:
                response = self._heartbeat(request, client_id, client_host, records)
        except KafkaError as e:
            return succeed(response_error(e.code, e.message))
        return self._write(request.group_id, records, response)

    def _write(
        self, group_id: str, records: Records, response: ConsumerGroupHeartbeatResponse
    ) -> Deferred[ConsumerGroupHeartbeatResponse]:
        if not records:
            return succeed(response)

        def failed(f: Failure) -> ConsumerGroupHeartbeatResponse:
            log_append_failure(f, "Writing the consumer group records", group_id)
            return response_error(append_error(f))

        return self._topic.append(group_id, records).addCallbacks(lambda _: response, failed)

    # -- joining and heartbeating ----------------------------------------------------

    def _heartbeat(
        self, r: ConsumerGroupHeartbeatRequest, client_id: str, client_host: str, records: Records
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
            member = self._dynamic_member(group, member_id, r.member_epoch, owned)
        else:
            member = self._static_member(
                group, member_id, r.instance_id, r.member_epoch, owned, records
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
        )
        bump = group.group_epoch == 0
        is_new = member_id not in group.members
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
        final = self._reconcile(group, updated, owned, records)
        self._timers.schedule(
            group.group_id, member_id, SESSION, self._config.consumer_session_timeout_ms
        )
        full = (
            r.rebalance_timeout_ms != -1
            and (r.subscribed_topic_names is not None or r.subscribed_topic_regex is not None)
            and r.topic_partitions is not None
        )
        send = joining or full or final.assigned_partitions != member.assigned_partitions
        return ConsumerGroupHeartbeatResponse(
            member_id=final.member_id,
            member_epoch=final.member_epoch,
            heartbeat_interval_ms=self._config.consumer_heartbeat_interval_ms,
            assignment=response_assignment(final.assigned_partitions) if send else None,
        )

    def _group_for(self, group_id: str, create: bool, records: Records) -> ConsumerGroup:
        """Kafka's C{getOrMaybeCreateConsumerGroup}: an empty classic group is replaced."""
        group = self._table.consumer_groups.get(group_id)
        if group is not None:
            return group
        classic = self._table.groups.get(group_id)
        if not create:
            raise error(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
        if classic is not None and (classic.members or classic.state != GroupState.EMPTY):
            raise error(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group")
        if classic is not None and classic.protocol_type is not None:
            # Kafka's maybeDeleteEmptyClassicGroup: the classic group's record goes.
            records.append((rec.group_metadata_key(group_id), None))
            classic.protocol_type = classic.protocol_name = classic.leader_id = None
            self._log.info(
                "[GroupId {g}] Converted the empty classic group to a consumer group.", g=group_id
            )
        group = self._table.consumer_groups[group_id] = ConsumerGroup(group_id)
        return group

    def _dynamic_member(
        self, group: ConsumerGroup, member_id: str, epoch: int, owned: Owned
    ) -> ConsumerGroupMember:
        member = group.members.get(member_id)
        if epoch == 0:
            if member is None:
                self._log.info(
                    "[GroupId {g}] Member {m} joins the consumer group.",
                    g=group.group_id,
                    m=member_id,
                )
                return ConsumerGroupMember(member_id)
            return member
        if member is None:
            raise error(
                ErrorCode.UNKNOWN_MEMBER_ID,
                f"Member {member_id} is not a member of group {group.group_id}.",
            )
        check_epoch(member, epoch, owned)
        return member

    def _static_member(
        self,
        group: ConsumerGroup,
        member_id: str,
        instance_id: str,
        epoch: int,
        owned: Owned,
        records: Records,
    ) -> ConsumerGroupMember:
        """Kafka's C{getOrMaybeSubscribeStaticConsumerGroupMember}."""
        existing = group.static_member(instance_id)
        if epoch == 0:
            if existing is None:
                self._log.info(
                    "[GroupId {g}] Static member {m} with instance id {i} joins the group.",
                    g=group.group_id,
                    m=member_id,
                    i=instance_id,
                )
                return group.members.get(member_id) or ConsumerGroupMember(member_id)
            if existing.member_id == member_id:
                return existing
            if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                raise error(
                    ErrorCode.UNRELEASED_INSTANCE_ID,
                    f"Static member {member_id} with instance id {instance_id} cannot join the "
                    f"group because the instance id is owned by {existing.member_id} member.",
                )
            return self._replace_static(group, existing, member_id, records)
        if existing is None:
            raise error(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
        if existing.member_id != member_id:
            raise error(
                ErrorCode.FENCED_INSTANCE_ID,
                f"Static member {member_id} with instance id {instance_id} was fenced by member "
                f"{existing.member_id}.",
            )
        check_epoch(existing, epoch, owned)
        return existing

    def _replace_static(
        self, group: ConsumerGroup, old: ConsumerGroupMember, member_id: str, records: Records
    ) -> ConsumerGroupMember:
        """The rejoining static member takes over the old one's assignment, without a new epoch."""
        gid = group.group_id
        self._timers.cancel_member(gid, old.member_id)
        target = group.target_assignment.pop(old.member_id, {})
        group.remove_member(old.member_id)
        records.extend(crec.member_tombstones(gid, old.member_id))
        new = attrs.evolve(old, member_id=member_id, member_epoch=0, previous_member_epoch=0)
        group.update_member(new)
        group.target_assignment[member_id] = target
        records.append(crec.member_subscription_record(gid, new))
        records.append(crec.target_member_record(gid, member_id, target))
        records.append(crec.current_assignment_record(gid, new))
        self._log.info(
            "[GroupId {g}] Static member {old} with instance id {i} re-joins as {new}.",
            g=gid,
            old=old.member_id,
            i=old.instance_id,
            new=member_id,
        )
        return new

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
        if new.state == MemberState.UNREVOKED_PARTITIONS:
            self._timers.schedule(
                group.group_id,
                new.member_id,
                REBALANCE,
                new.rebalance_timeout_ms,
                epoch=new.member_epoch,
            )
        else:
            self._timers.cancel(group.group_id, new.member_id, REBALANCE)
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
        if r.instance_id is None:
            member = group.members.get(r.member_id)
            if member is None:
                raise error(
                    ErrorCode.UNKNOWN_MEMBER_ID,
                    f"Member {r.member_id} is not a member of group {group.group_id}.",
                )
        else:
            found = group.static_member(r.instance_id)
            if found is None:
                raise error(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {r.instance_id} is unknown.")
            if found.member_id != r.member_id:
                raise error(
                    ErrorCode.FENCED_INSTANCE_ID,
                    f"Static member {r.member_id} with instance id {r.instance_id} was fenced by "
                    f"member {found.member_id}.",
                )
            member = found
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
        """Kafka's C{consumerGroupFenceMember}: remove the member and bump the group epoch."""
        self._timers.cancel_member(group.group_id, member_id)
        group.remove_member(member_id)
        group.target_assignment.pop(member_id, None)
        records.extend(crec.member_tombstones(group.group_id, member_id))
        self._refresh_subscription_metadata(group, records)
        self._bump_epoch(group, records)

    def _expired(self, group_id: str, member_id: str, kind: str, epoch: int) -> None:
        """A session or rebalance timeout: fence the member (Kafka's timeout operations)."""
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
            what="session" if kind == SESSION else "rebalance timeout (revocation)",
        )
        records: Records = []
        self.fence(group, member_id, records)
        self._topic.store_quietly(group_id, records)

    def describe(self, group_id: str, include_operations: bool) -> DescribedGroup:
        """ConsumerGroupDescribe for one group."""
        if self._table.loading:
            return DescribedGroup(
                error_code=int(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS), group_id=group_id
            )
        group = self._table.consumer_groups.get(group_id)
        if group is None:
            if group_id in self._table.groups:
                return not_found(group_id, f"Group {group_id} is not a consumer group.")
            return not_found(group_id, f"Group {group_id} not found.")
        return describe(
            group, self._metadata.image, self._config.consumer_assignors[0], include_operations
        )

    def watch_loaded(self) -> None:
        """After a load: a session timer for every member, a rebalance timer for revoking ones."""
        for group in self._table.consumer_groups.values():
            for member in group.members.values():
                gid, mid = group.group_id, member.member_id
                self._timers.schedule(gid, mid, SESSION, self._config.consumer_session_timeout_ms)
                if member.state == MemberState.UNREVOKED_PARTITIONS:
                    self._timers.schedule(
                        gid,
                        mid,
                        REBALANCE,
                        member.rebalance_timeout_ms,
                        epoch=member.member_epoch,
                    )

    def stop(self) -> None:
        """Cancel every timer."""
        self._timers.stop()

    def forget(self, group_id: str) -> None:
        """Cancel the timers of a deleted group's members."""
        self._timers.cancel_group(group_id)
