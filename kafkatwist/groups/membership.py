"""The classic group protocol's requests: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.

The requests of a consumer group's classic members go to
L{kafkatwist.groups.consumer.classic_members}.

Follows Kafka 4.0's C{GroupMetadataManager} (classic groups):
C{classicGroupJoin} with new, existing and static members (KIP-345,
KIP-394 MEMBER_ID_REQUIRED, KIP-814 skip assignment), C{classicGroupSync},
C{classicGroupHeartbeat} and C{classicGroupLeave}. The rebalance itself
(phases, timers, parked answers) is L{kafkatwist.groups.rebalance}.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from attrs import define
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.classic_members import ClassicMembers
from kafkatwist.groups.join_request import JoinRequest
from kafkatwist.groups.offsets_topic import OffsetsTopic, append_error, log_append_failure
from kafkatwist.groups.rebalance import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    Outbox,
    Rebalancer,
    flushing,
    group_metadata_record,
    join_error,
    sync_error,
)
from kafkatwist.groups.state import ClassicGroup, GroupTable, Member, cancel
from kafkatwist.messages.join_group import JoinGroupResponse
from kafkatwist.messages.sync_group import SyncGroupResponse


def _inconsistent(given: str | None, current: str | None) -> bool:
    return given is not None and current is not None and given != current


@define(eq=False)
class GroupMembership:
    """Members joining, syncing, heartbeating and leaving the groups of a L{GroupTable}."""

    _config: GroupConfig
    _table: GroupTable
    _topic: OffsetsTopic
    _rebalancer: Rebalancer
    _outbox: Outbox
    #: Serves the classic members of (non-empty) consumer groups.
    _consumer: ClassicMembers
    _log = Logger()

    # -- JoinGroup ------------------------------------------------------------------

    @flushing
    def join_group(self, req: JoinRequest) -> Deferred[JoinGroupResponse]:
        """Handle a JoinGroup; the Deferred fires when the join phase completes."""
        if (refused := self._table.error(req.group_id)) is not None:
            return succeed(join_error(refused, req.member_id))
        if not req.group_id:
            return succeed(join_error(ErrorCode.INVALID_GROUP_ID, req.member_id))
        if not (
            self._config.group_min_session_timeout_ms
            <= req.session_timeout_ms
            <= self._config.group_max_session_timeout_ms
        ):
            return succeed(join_error(ErrorCode.INVALID_SESSION_TIMEOUT, req.member_id))
        consumer = self._table.consumer_groups.get(req.group_id)
        if consumer is not None:
            if consumer.members:
                return self._consumer.join(consumer, req)
            # Kafka's maybeDeleteEmptyConsumerGroup: the empty consumer group goes.
            del self._table.consumer_groups[req.group_id]
            self._topic.store_quietly(req.group_id, crec.group_tombstones(req.group_id, []))
        unknown = req.member_id == ""
        if req.group_id not in self._table.groups and not unknown:
            return succeed(join_error(ErrorCode.UNKNOWN_MEMBER_ID, req.member_id))
        group = self._table.get_or_create(req.group_id, self._rebalancer.now())
        if not self._accept_joining_member(group, req.member_id):
            member = group.members.get(req.member_id)
            if member is not None:
                self._rebalancer.remove_member(group, member)
                if group.state == PREPARING:
                    self._rebalancer.maybe_complete_join_phase(group)
            return succeed(join_error(ErrorCode.GROUP_MAX_SIZE_REACHED))
        d: Deferred[JoinGroupResponse] = Deferred()
        if unknown:
            self._join_new_member(group, req, d)
        else:
            self._join_existing_member(group, req, d)
        return d

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        max_size = self._config.group_max_size
        if group.state in (EMPTY, DEAD):
            return True
        member = group.members.get(member_id)
        if group.state == PREPARING:
            return (
                member is not None and member.awaiting_join
            ) or group.num_awaiting_join() < max_size
        return member is not None or len(group.members) < max_size

    def _join_new_member(
        self, group: ClassicGroup, req: JoinRequest, d: Deferred[JoinGroupResponse]
    ) -> None:
        fire = self._outbox.fire
        if group.state == DEAD:
            fire(d, join_error(ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports_protocols(req.protocol_type, req.protocols):
            fire(d, join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return
        new_id = f"{req.group_instance_id or req.client_id}-{uuid.uuid4()}"
        if req.group_instance_id is not None:
            old_id = group.static_members.get(req.group_instance_id)
            if old_id is not None and old_id in group.members:
                self._update_static_member(group, req, old_id, new_id, d)
            else:
                self._add_member_and_rebalance(group, req, new_id, d)
        elif req.require_known_member_id:
            self._rebalancer.add_pending_member(group, new_id, req.session_timeout_ms)
            fire(d, join_error(ErrorCode.MEMBER_ID_REQUIRED, new_id))
        else:
            self._add_member_and_rebalance(group, req, new_id, d)

    def _join_existing_member(
        self, group: ClassicGroup, req: JoinRequest, d: Deferred[JoinGroupResponse]
    ) -> None:
        fire = self._outbox.fire
        member_id = req.member_id
        if group.state == DEAD:
            fire(d, join_error(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id))
            return
        if not group.supports_protocols(req.protocol_type, req.protocols):
            fire(d, join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id))
            return
        if member_id in group.pending_members and req.group_instance_id is None:
            self._add_member_and_rebalance(group, req, member_id, d)
            return
        error = group.validate_member(member_id, req.group_instance_id)
        if error is not None:
            fire(d, join_error(error, member_id))
            return
        member = group.members[member_id]
        current = self._rebalancer.current_join_response
        if group.state == PREPARING:
            self._update_member_and_rebalance(group, member, req, d)
        elif group.state == COMPLETING:
            if member.matches(req.protocols):
                # The member probably missed the join response: resend it.
                fire(d, current(group, member_id, members=member_id == group.leader_id))
            else:
                self._update_member_and_rebalance(group, member, req, d)
        elif group.state == STABLE:
            if member_id == group.leader_id or not member.matches(req.protocols):
                self._update_member_and_rebalance(group, member, req, d)
            else:
                fire(d, current(group, member_id, members=False))
        else:
            fire(d, join_error(ErrorCode.UNKNOWN_MEMBER_ID, member_id))

    def _add_member_and_rebalance(
        self, group: ClassicGroup, req: JoinRequest, member_id: str, d: Deferred[JoinGroupResponse]
    ) -> None:
        member = Member(
            member_id=member_id,
            group_instance_id=req.group_instance_id,
            client_id=req.client_id,
            client_host=req.client_host,
            rebalance_timeout_ms=req.rebalance_timeout_ms,
            session_timeout_ms=req.session_timeout_ms,
            protocol_type=req.protocol_type,
            protocols=req.protocols,
            is_new=True,
        )
        member.join_waiter = d
        if group.state == PREPARING and group.previous_state == EMPTY:
            group.new_member_added = True
        cancel(group.pending_members.get(member_id))
        group.add(member)
        self._rebalancer.reschedule_heartbeat(
            group, member, self._config.group_new_member_join_timeout_ms
        )
        self._rebalancer.maybe_prepare_rebalance_or_complete_join(group)

    def _update_member_and_rebalance(
        self, group: ClassicGroup, member: Member, req: JoinRequest, d: Deferred[JoinGroupResponse]
    ) -> None:
        member.protocols = req.protocols
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        member.client_id = req.client_id
        member.client_host = req.client_host
        old, member.join_waiter = member.join_waiter, d
        if old is not None and old is not d:
            # A duplicate JoinGroup (another connection): the old one is stale.
            self._outbox.fire(old, join_error(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id))
        self._rebalancer.maybe_prepare_rebalance_or_complete_join(group)

    # -- static members (KIP-345) ----------------------------------------------------

    def _replace_static_member(
        self, group: ClassicGroup, instance_id: str, old_id: str, new_id: str
    ) -> Member:
        old = group.members.pop(old_id)
        self._rebalancer.cancel_heartbeat(old)
        self._rebalancer.respond_join(old, join_error(ErrorCode.FENCED_INSTANCE_ID, old_id))
        self._rebalancer.respond_sync(old, sync_error(ErrorCode.FENCED_INSTANCE_ID))
        new = old.renamed(new_id)
        group.members[new_id] = new
        if group.leader_id == old_id:
            group.leader_id = new_id
        group.static_members[instance_id] = new_id
        if old_id in group.pending_sync:
            group.pending_sync.discard(old_id)
            group.pending_sync.add(new_id)
        return new

    def _update_static_member(
        self,
        group: ClassicGroup,
        req: JoinRequest,
        old_id: str,
        new_id: str,
        d: Deferred[JoinGroupResponse],
    ) -> None:
        """Kafka's ``updateStaticMemberThenRebalanceOrCompleteJoin``."""
        assert req.group_instance_id is not None
        instance_id = req.group_instance_id
        current_leader = group.leader_id
        member = self._replace_static_member(group, instance_id, old_id, new_id)
        self._rebalancer.reschedule_heartbeat(group, member)
        old_settings = (member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms)
        member.protocols = req.protocols
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        member.join_waiter = d
        if group.state == STABLE:
            if group.select_protocol() != (group.protocol_name or ""):
                self._rebalancer.maybe_prepare_rebalance_or_complete_join(group)
                return
            # Same protocol: keep the assignment, persist the new member id, no rebalance.
            generation = group.generation

            def stored(_: object) -> None:
                with self._outbox.batch():
                    self._static_member_stored(
                        group, member, d, new_id, current_leader, req.supports_skip_assignment
                    )

            def failed(f: Failure) -> None:
                with self._outbox.batch():
                    log_append_failure(f, "Persisting a static member", group.group_id)
                    if group.members.get(new_id) is member and group.generation == generation:
                        member.join_waiter = None
                        (
                            member.protocols,
                            member.rebalance_timeout_ms,
                            member.session_timeout_ms,
                        ) = old_settings
                        back = self._replace_static_member(group, instance_id, new_id, old_id)
                        self._rebalancer.reschedule_heartbeat(group, back)
                    self._outbox.fire(d, join_error(append_error(f), ""))

            self._topic.append(group.group_id, [group_metadata_record(group)]).addCallbacks(
                stored, failed
            )
        elif group.state == COMPLETING:
            self._rebalancer.prepare_rebalance(group)
        else:
            self._rebalancer.maybe_complete_join_phase(group)

    def _static_member_stored(
        self,
        group: ClassicGroup,
        member: Member,
        d: Deferred[JoinGroupResponse],
        new_id: str,
        current_leader: str | None,
        skip_supported: bool,
    ) -> None:
        if member.join_waiter is not d:
            return
        current = self._rebalancer.current_join_response
        if skip_supported:
            is_leader = group.leader_id == new_id
            response = current(group, new_id, members=is_leader, skip=is_leader)
        else:
            response = current(group, new_id, members=False, leader=current_leader)
        self._rebalancer.respond_join(member, response)

    # -- SyncGroup ------------------------------------------------------------------

    @flushing
    def sync_group(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: Iterable[tuple[str, bytes]],
    ) -> Deferred[SyncGroupResponse]:
        """Handle a SyncGroup; followers' Deferreds fire when the leader's assignment is stored."""
        if (refused := self._table.error(group_id)) is not None:
            return succeed(sync_error(refused))
        if not group_id:
            return succeed(sync_error(ErrorCode.INVALID_GROUP_ID))
        consumer = self._table.consumer_groups.get(group_id)
        if consumer is not None:
            if not consumer.members:
                return succeed(sync_error(ErrorCode.UNKNOWN_MEMBER_ID))
            return succeed(
                self._consumer.sync(
                    consumer, generation, member_id, group_instance_id, protocol_type, protocol_name
                )
            )
        group = self._table.groups.get(group_id)
        if group is None or group.state == EMPTY:
            return succeed(sync_error(ErrorCode.UNKNOWN_MEMBER_ID))
        if group.state == DEAD:
            return succeed(sync_error(ErrorCode.COORDINATOR_NOT_AVAILABLE))
        error = group.validate_member(member_id, group_instance_id)
        if error is not None:
            return succeed(sync_error(error))
        if generation != group.generation:
            return succeed(sync_error(ErrorCode.ILLEGAL_GENERATION))
        if _inconsistent(protocol_type, group.protocol_type) or _inconsistent(
            protocol_name, group.protocol_name
        ):
            return succeed(sync_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
        if group.state == PREPARING:
            return succeed(sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
        member = group.members[member_id]
        self._rebalancer.remove_pending_sync(group, member_id)
        if group.state == STABLE:
            self._rebalancer.reschedule_heartbeat(group, member)
            return succeed(
                SyncGroupResponse(
                    protocol_type=group.protocol_type,
                    protocol_name=group.protocol_name,
                    assignment=member.assignment,
                )
            )
        # CompletingRebalance: park the answer until the leader's assignment is stored.
        d: Deferred[SyncGroupResponse] = Deferred()
        old, member.sync_waiter = member.sync_waiter, d
        if old is not None:
            self._outbox.fire(old, sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
        if member_id == group.leader_id:
            given = dict(assignments)
            self._store_assignment(group, {m: given.get(m, b"") for m in group.members})
        return d

    def _store_assignment(self, group: ClassicGroup, assignment: dict[str, bytes]) -> None:
        """Write the leader's assignment, then answer every parked SyncGroup."""
        gen = group.generation
        rebalancer = self._rebalancer

        def stored(_: object) -> None:
            with self._outbox.batch():
                if group.state == COMPLETING and group.generation == gen:
                    for m in group.members.values():
                        m.assignment = assignment.get(m.member_id, b"")
                    rebalancer.propagate_assignment(group, ErrorCode.NONE)
                    group.transition(STABLE, rebalancer.now())

        def failed(f: Failure) -> None:
            with self._outbox.batch():
                log_append_failure(f, "Storing the assignment", group.group_id)
                if group.state == COMPLETING and group.generation == gen:
                    rebalancer.reset_and_propagate_assignment_error(group, append_error(f))
                    rebalancer.maybe_prepare_rebalance_or_complete_join(group)

        record = group_metadata_record(group, assignment)
        self._topic.append(group.group_id, [record]).addCallbacks(stored, failed)

    # -- Heartbeat / LeaveGroup ----------------------------------------------------

    @flushing
    def heartbeat(
        self, group_id: str, generation: int, member_id: str, group_instance_id: str | None
    ) -> ErrorCode:
        """Handle a Heartbeat: move the member's deadline; tell it to rejoin during a rebalance."""
        if (refused := self._table.error(group_id)) is not None:
            # Kafka answers blindly while loading, so members are not kicked out.
            return ErrorCode.NONE if refused == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS else refused
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        consumer = self._table.consumer_groups.get(group_id)
        if consumer is not None:
            return self._consumer.heartbeat(consumer, generation, member_id, group_instance_id)
        group = self._table.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error is not None:
            return error
        if generation != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        if group.state == EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._rebalancer.reschedule_heartbeat(group, group.members[member_id])
        if group.state == PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    @flushing
    def leave_group(
        self, group_id: str, members: Sequence[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """
        Remove members at once and rebalance the rest.

        @param members: (member id, group instance id) pairs; an empty member
            id with an instance id removes that static member (admin removal).
        @return: the group-level error and one error per member.
        """
        if (refused := self._table.error(group_id)) is not None:
            return refused, []
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, []
        consumer = self._table.consumer_groups.get(group_id)
        if consumer is not None:
            return self._consumer.leave(consumer, members)
        group = self._table.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID, []
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        results = [self._leave(group, member_id, instance_id) for member_id, instance_id in members]
        if ErrorCode.NONE in results:
            self._rebalancer.rebalance_after_removal(group)
        return ErrorCode.NONE, results

    def _leave(self, group: ClassicGroup, member_id: str, instance_id: str | None) -> ErrorCode:
        """Remove one member (or pending member) without rebalancing yet."""
        if member_id == "":
            target = group.static_members.get(instance_id) if instance_id is not None else None
            if target is None or target not in group.members:
                return ErrorCode.UNKNOWN_MEMBER_ID
            self._rebalancer.remove_member(group, group.members[target])
        elif member_id in group.pending_members:
            cancel(group.pending_members.pop(member_id))
        else:
            error = group.validate_member(member_id, instance_id)
            if error is not None:
                return error
            self._rebalancer.remove_member(group, group.members[member_id])
        self._log.info("Member {m} left group {g}", m=member_id or instance_id, g=group.group_id)
        return ErrorCode.NONE
