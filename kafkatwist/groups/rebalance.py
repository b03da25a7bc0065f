"""The classic group rebalance: its phases, timers and parked answers.

Follows Kafka 4.0's C{GroupMetadataManager} for classic groups (prepare
rebalance, complete join, pending sync, heartbeat expiration); method names
follow theirs.

* JoinGroup and SyncGroup answers are Deferreds parked on the member and
  fired when the rebalance gets there; a cancelled Deferred (the client went
  away) is simply skipped, the member stays until its timers say otherwise,
  as in Kafka where sockets are muted during a parked join;
* answers are collected in an L{Outbox} while the state changes and fired
  once the change is complete, so a reply never re-enters the state machine
  halfway;
* heartbeats only move a per-member deadline; one timer per member fires at
  the old deadline and re-arms itself lazily, so a heartbeat allocates
  nothing and idle or empty groups schedule nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar, TypeVarTuple

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kafkatwist.clock import DelayedCall, ReactorTime, now_ms
from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.offsets_topic import OffsetsTopic
from kafkatwist.groups.state import (
    ClassicGroup,
    GroupState,
    Member,
    cancel,
)
from kafkatwist.messages.group_coordinator_records import MemberMetadata
from kafkatwist.messages.join_group import JoinGroupResponse, JoinGroupResponseMember
from kafkatwist.messages.sync_group import SyncGroupResponse

T = TypeVar("T")
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")

EMPTY, PREPARING, COMPLETING, STABLE, DEAD = (
    GroupState.EMPTY,
    GroupState.PREPARING_REBALANCE,
    GroupState.COMPLETING_REBALANCE,
    GroupState.STABLE,
    GroupState.DEAD,
)


def join_error(code: ErrorCode, member_id: str = "") -> JoinGroupResponse:
    """A JoinGroup answer carrying only an error."""
    return JoinGroupResponse(
        error_code=int(code), generation_id=-1, protocol_name=None, leader="", member_id=member_id
    )


def sync_error(code: ErrorCode) -> SyncGroupResponse:
    """A SyncGroup answer carrying only an error."""
    return SyncGroupResponse(error_code=int(code))


def _answer(d: Deferred[T], value: T) -> None:
    if not d.called:
        d.callback(value)


@define(eq=False)
class Outbox:
    """Answers collected while a group changes, fired when the outermost change ends."""

    _answers: list[Callable[[], None]] = field(factory=list, init=False)
    _depth: int = field(default=0, init=False)

    def fire(self, d: Deferred[T] | None, value: T) -> None:
        """Answer C{d} with C{value} once the current change is complete."""
        if d is not None:
            self._answers.append(functools.partial(_answer, d, value))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect answers while the state changes; fire them when the outermost change ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth:
                self.flush()

    def flush(self) -> None:
        """Fire every collected answer (those of cancelled requests are skipped)."""
        answers = self._answers
        while answers:
            answers.pop(0)()


class _Answering(Protocol):
    _outbox: Outbox


S = TypeVar("S", bound=_Answering)


def flushing(method: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
    """Fire the answers a state change produced once it is complete."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._outbox.batch():
            return method(self, *args, **kwargs)

    return wrapper


def group_metadata_record(
    group: ClassicGroup, assignment: dict[str, bytes] | None = None
) -> tuple[bytes, bytes]:
    """Kafka's ``newGroupMetadataRecord``: C{group} with C{assignment} if given."""
    members = [
        MemberMetadata(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            client_id=m.client_id,
            client_host=m.client_host,
            rebalance_timeout=m.rebalance_timeout_ms,
            session_timeout=m.session_timeout_ms,
            subscription=m.metadata(group.protocol_name),
            assignment=m.assignment if assignment is None else assignment.get(m.member_id, b""),
        )
        for m in group.members.values()
    ]
    return rec.group_metadata_key(group.group_id), rec.group_metadata_value(
        protocol_type=group.protocol_type or "",
        generation=group.generation,
        protocol=group.protocol_name,
        leader=group.leader_id,
        current_state_timestamp=group.state_timestamp_ms,
        members=members,
    )


def empty_group_record(group: ClassicGroup) -> tuple[bytes, bytes]:
    """Kafka's ``newEmptyGroupMetadataRecord``: no protocol, generation 0, no members."""
    return rec.group_metadata_key(group.group_id), rec.group_metadata_value(
        protocol_type="",
        generation=0,
        protocol=None,
        leader=None,
        current_state_timestamp=group.state_timestamp_ms,
        members=(),
    )


@define(eq=False)
class Rebalancer:
    """Drives classic groups through a rebalance on the injected clock."""

    _config: GroupConfig
    _clock: ReactorTime
    _topic: OffsetsTopic
    _outbox: Outbox
    _log = Logger()

    def now(self) -> int:
        """The clock's time in milliseconds."""
        return now_ms(self._clock)

    def later(self, delay_ms: int, fn: Callable[[*Ts], object], *args: *Ts) -> DelayedCall:
        """Call C{fn(*args)} after C{delay_ms} (at once if negative)."""
        return self._clock.callLater(max(delay_ms, 0) / 1000.0, fn, *args)

    def cancel_timers(self, group: ClassicGroup) -> None:
        """Cancel the group's join, sync and pending-member timers."""
        for call in group.pending_members.values():
            cancel(call)
        cancel(group.join_timer)
        cancel(group.sync_timer)

    # -- timers -----------------------------------------------------------------

    def reschedule_heartbeat(
        self, group: ClassicGroup, member: Member, timeout_ms: int | None = None
    ) -> None:
        """Move the member's heartbeat deadline C{timeout_ms} (its session timeout) ahead."""
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.deadline_ms = self.now() + timeout
        timer = member.timer
        if timer is None or not timer.active():
            member.timer = self.later(timeout, self._heartbeat_deadline, group, member)
        elif timer.getTime() > self._clock.seconds() + timeout / 1000.0:
            timer.reset(timeout / 1000.0)

    def cancel_heartbeat(self, member: Member) -> None:
        """Stop watching the member's heartbeats."""
        cancel(member.timer)
        member.timer = None

    @flushing
    def _heartbeat_deadline(self, group: ClassicGroup, member: Member) -> None:
        member.timer = None
        if group.members.get(member.member_id) is not member or group.state == DEAD:
            return
        left = member.deadline_ms - self.now()
        if left > 0:
            member.timer = self.later(left, self._heartbeat_deadline, group, member)
            return
        if member.has_satisfied_heartbeat():
            self.reschedule_heartbeat(group, member)
            return
        self._log.info(
            "Member {member} in group {group} has failed, removing it from the group",
            member=member.member_id,
            group=group.group_id,
        )
        self.remove_member_and_update(group, member)

    def add_pending_member(
        self, group: ClassicGroup, member_id: str, session_timeout_ms: int
    ) -> None:
        """Remember a member id handed out by MEMBER_ID_REQUIRED until its session times out."""
        cancel(group.pending_members.get(member_id))
        group.pending_members[member_id] = self.later(
            session_timeout_ms, self._pending_member_expired, group, member_id
        )

    @flushing
    def _pending_member_expired(self, group: ClassicGroup, member_id: str) -> None:
        if group.pending_members.pop(member_id, None) is None:
            return
        if group.state == PREPARING:
            self.maybe_complete_join_phase(group)

    def _schedule_join(self, group: ClassicGroup, delay_ms: int, fn: Callable[[], None]) -> None:
        cancel(group.join_timer)
        group.join_timer = self.later(delay_ms, fn)

    # -- answers ------------------------------------------------------------------

    def respond_join(self, member: Member, response: JoinGroupResponse) -> None:
        """Answer the member's parked JoinGroup, if any."""
        d, member.join_waiter = member.join_waiter, None
        self._outbox.fire(d, response)

    def respond_sync(self, member: Member, response: SyncGroupResponse) -> None:
        """Answer the member's parked SyncGroup, if any."""
        d, member.sync_waiter = member.sync_waiter, None
        self._outbox.fire(d, response)

    def current_join_response(
        self,
        group: ClassicGroup,
        member_id: str,
        *,
        members: bool,
        leader: str | None = None,
        skip: bool = False,
    ) -> JoinGroupResponse:
        """The JoinGroup answer of the current generation (with the members for the leader)."""
        return JoinGroupResponse(
            error_code=0,
            generation_id=group.generation,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name,
            leader=(group.leader_id if leader is None else leader) or "",
            skip_assignment=skip,
            member_id=member_id,
            members=tuple(
                JoinGroupResponseMember(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    metadata=m.metadata(group.protocol_name),
                )
                for m in group.members.values()
            )
            if members
            else (),
        )

    # -- the phases ---------------------------------------------------------------

    def maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup) -> None:
        """Start a rebalance, or finish the join phase of the one under way."""
        if group.state in (STABLE, COMPLETING, EMPTY):
            self.prepare_rebalance(group)
        else:
            self.maybe_complete_join_phase(group)

    def prepare_rebalance(self, group: ClassicGroup) -> None:
        """Enter PreparingRebalance and wait for the members to rejoin."""
        if group.state == COMPLETING:
            self.reset_and_propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        cancel(group.sync_timer)
        group.sync_timer = None
        group.pending_sync.clear()
        initial = group.state == EMPTY
        group.transition(PREPARING, self.now())
        self._log.info(
            "Preparing to rebalance group {group} in state PreparingRebalance with old generation "
            "{generation}",
            group=group.group_id,
            generation=group.generation,
        )
        if initial:
            delay = self._config.group_initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self._schedule_join(
                group,
                delay,
                functools.partial(self._initial_rebalance_tick, group, delay, remaining),
            )
        elif group.has_all_members_joined():
            self._complete_join(group)
        else:
            self._schedule_join(
                group, group.rebalance_timeout_ms(), functools.partial(self._join_timeout, group)
            )

    @flushing
    def _initial_rebalance_tick(self, group: ClassicGroup, delay: int, remaining: int) -> None:
        group.join_timer = None
        if group.state != PREPARING:
            return
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            new_delay = min(self._config.group_initial_rebalance_delay_ms, remaining)
            new_remaining = max(remaining - delay, 0)
            self._schedule_join(
                group,
                new_delay,
                functools.partial(self._initial_rebalance_tick, group, new_delay, new_remaining),
            )
        else:
            self._complete_join(group)

    @flushing
    def _join_timeout(self, group: ClassicGroup) -> None:
        group.join_timer = None
        if group.state == PREPARING:
            self._complete_join(group)

    def maybe_complete_join_phase(self, group: ClassicGroup) -> None:
        """Complete the join phase once every member rejoined (not for a new group)."""
        if (
            group.state == PREPARING
            and group.has_all_members_joined()
            and group.previous_state != EMPTY
        ):
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        cancel(group.join_timer)
        group.join_timer = None
        for member in [m for m in group.members.values() if not m.awaiting_join]:
            if member.group_instance_id is None:
                self.cancel_heartbeat(member)
                self.respond_sync(member, sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
                group.remove(member.member_id)
        if group.state == DEAD:
            return
        if not group.elect_joined_leader() and group.members:
            # Nobody rejoined (only static members remain): wait until their
            # session timeouts remove them.
            self._schedule_join(
                group, group.rebalance_timeout_ms(), functools.partial(self._join_timeout, group)
            )
            return
        now = self.now()
        group.generation += 1
        group.pending_sync.clear()
        group.new_member_added = False
        if group.members:
            group.protocol_name = group.select_protocol()
            group.transition(COMPLETING, now)
        else:
            group.protocol_name = None
            group.transition(EMPTY, now)
        group.subscribed_topics = group.compute_subscribed_topics()
        self._log.info(
            "Stabilized group {group} generation {generation} with {n} members",
            group=group.group_id,
            generation=group.generation,
            n=len(group.members),
        )
        if group.state == EMPTY:
            self._topic.store_quietly(group.group_id, [empty_group_record(group)])
            return
        for member in group.members.values():
            is_leader = member.member_id == group.leader_id
            self.respond_join(
                member, self.current_join_response(group, member.member_id, members=is_leader)
            )
            self.reschedule_heartbeat(group, member)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        cancel(group.sync_timer)
        group.sync_timer = self.later(
            group.rebalance_timeout_ms(), self._pending_sync_expired, group, group.generation
        )

    @flushing
    def _pending_sync_expired(self, group: ClassicGroup, generation: int) -> None:
        group.sync_timer = None
        if generation != group.generation or group.state not in (COMPLETING, STABLE):
            return
        if not group.pending_sync:
            return
        for member_id in list(group.pending_sync):
            member = group.remove(member_id)
            if member is not None:
                self.cancel_heartbeat(member)
        self.prepare_rebalance(group)

    def remove_pending_sync(self, group: ClassicGroup, member_id: str) -> None:
        """The member sent its SyncGroup; stop the sync timer once nobody is missing."""
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            cancel(group.sync_timer)
            group.sync_timer = None

    def reset_and_propagate_assignment_error(self, group: ClassicGroup, code: ErrorCode) -> None:
        """Drop the assignments and answer every parked SyncGroup with C{code}."""
        for member in group.members.values():
            member.assignment = b""
        self.propagate_assignment(group, code)

    def propagate_assignment(self, group: ClassicGroup, code: ErrorCode) -> None:
        """Answer every parked SyncGroup with its assignment (or C{code})."""
        for member in group.members.values():
            if member.awaiting_sync:
                self.respond_sync(
                    member,
                    SyncGroupResponse(
                        error_code=int(code),
                        protocol_type=group.protocol_type,
                        protocol_name=group.protocol_name,
                        assignment=member.assignment if code == ErrorCode.NONE else b"",
                    ),
                )
                self.reschedule_heartbeat(group, member)

    def remove_member(self, group: ClassicGroup, member: Member) -> None:
        """Remove a member; its parked answers get UNKNOWN_MEMBER_ID."""
        self.cancel_heartbeat(member)
        self.respond_join(member, join_error(ErrorCode.UNKNOWN_MEMBER_ID))
        self.respond_sync(member, sync_error(ErrorCode.UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)

    def remove_member_and_update(self, group: ClassicGroup, member: Member) -> None:
        """Remove a member and rebalance the rest."""
        self.remove_member(group, member)
        self.rebalance_after_removal(group)

    def rebalance_after_removal(self, group: ClassicGroup) -> None:
        """After members left: rebalance a stable group, or complete a join phase under way."""
        if group.state in (STABLE, COMPLETING):
            self.maybe_prepare_rebalance_or_complete_join(group)
        elif group.state == PREPARING:
            self.maybe_complete_join_phase(group)
