"""GroupCoordinator: the classic group protocol, committed offsets and their durable log.

The reference is Kafka 4.0's ``GroupMetadataManager`` (classic groups) and
``OffsetMetadataManager`` in the group-coordinator module; method names
below follow theirs (prepare rebalance, complete join, pending sync...).

Design:
* everything runs on the reactor thread; a group is a plain object, so one
  group's rebalance never blocks another group nor produce/fetch;
* JoinGroup and SyncGroup answers are Deferreds parked on the member and
  fired when the rebalance gets there; a cancelled Deferred (the client
  went away) is simply skipped, the member stays until its timers say
  otherwise, as in Kafka where sockets are muted during a parked join;
* answers are collected while the state changes and fired once the change
  is complete, so a reply never re-enters the state machine halfway;
* heartbeats only move a per-member deadline; one timer per member fires at
  the old deadline and re-arms itself lazily, so a heartbeat allocates
  nothing and idle or empty groups schedule nothing;
* offsets and group metadata are records in ``__consumer_offsets`` in
  Kafka's format (L{kafkatwist.groups.records}); a commit is acknowledged
  after its append, and C{start} replays the topic before serving
  (COORDINATOR_LOAD_IN_PROGRESS meanwhile).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups import records as rec
from kafkatwist.groups.records import OFFSETS_TOPIC, OffsetAndMetadata
from kafkatwist.groups.state import ClassicGroup, GroupState, Member, Protocols
from kafkatwist.messages.describe_groups import DescribedGroup, DescribedGroupMember
from kafkatwist.messages.group_coordinator_records import MemberMetadata
from kafkatwist.messages.join_group import JoinGroupResponse, JoinGroupResponseMember
from kafkatwist.messages.sync_group import SyncGroupResponse
from kafkatwist.wire import records as wire_records

T = TypeVar("T")

EMPTY, PREPARING, COMPLETING, STABLE, DEAD = (
    GroupState.EMPTY,
    GroupState.PREPARING_REBALANCE,
    GroupState.COMPLETING_REBALANCE,
    GroupState.STABLE,
    GroupState.DEAD,
)

#: Kafka's ``group.classic.new.member.join.timeout`` (5 minutes): how long a
#: new member's parked JoinGroup may wait before the member is dropped.
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000
#: Kafka's ``offsets.metadata.max.bytes`` default.
DEFAULT_OFFSET_METADATA_MAX_BYTES = 4096
#: ACL operations a group supports (READ, DELETE, DESCRIBE), as a bit field.
GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)
_OFFSETS_TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "compression.type": "producer",
    "segment.bytes": "104857600",
}
_READ_CHUNK = 1 << 20


@frozen
class JoinRequest:
    """What JoinGroup asks, independent of the request version."""

    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    #: v4+: a join without member id gets MEMBER_ID_REQUIRED (KIP-394).
    require_known_member_id: bool = True
    #: v9+: a static leader rejoining a stable group skips the assignment.
    supports_skip_assignment: bool = True


@frozen
class OffsetCommitPartition:
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    commit_timestamp_ms: int = -1


def _join_error(code: ErrorCode, member_id: str = "") -> JoinGroupResponse:
    return JoinGroupResponse(
        error_code=int(code), generation_id=-1, protocol_name=None, leader="", member_id=member_id
    )


def _sync_error(code: ErrorCode) -> SyncGroupResponse:
    return SyncGroupResponse(error_code=int(code))


def _flushing(method: Callable[..., T]) -> Callable[..., T]:
    """Fire the answers a state change produced once it is complete."""

    @functools.wraps(method)
    def wrapper(self: GroupCoordinator, *args: Any, **kwargs: Any) -> T:
        with self._batch():
            return method(self, *args, **kwargs)

    return wrapper


def _java_length(s: str) -> int:
    """Java's ``String.length``: UTF-16 code units."""
    return len(s) if s.isascii() else len(s.encode("utf-16-be")) // 2


def _detached(d: Deferred[T]) -> Deferred[T]:
    """A Deferred with C{d}'s result whose cancellation does not reach C{d}."""
    out: Deferred[T] = Deferred()

    def relay(result: Any) -> None:
        if not out.called:
            if isinstance(result, Failure):
                out.errback(result)
            else:
                out.callback(result)

    d.addBoth(relay)
    return out


@define(eq=False)
class GroupCoordinator:
    """The broker's group coordinator (``broker.extras["groups"]``)."""

    broker: Any
    groups: dict[str, ClassicGroup] = field(factory=dict)
    #: True while C{start} replays ``__consumer_offsets``.
    loading: bool = False
    _outbox: list[tuple[Deferred[Any], Any]] = field(factory=list)
    _depth: int = 0
    _topic_waiters: list[Deferred[Any]] | None = None
    _expiry_timer: Any = None
    _stopped: bool = False
    _log = Logger()

    # -- plumbing -------------------------------------------------------------

    @property
    def clock(self) -> Any:
        return self.broker.clock

    @property
    def config(self) -> Any:
        return self.broker.config

    def _now(self) -> int:
        return int(self.broker.now_ms())

    def _cfg(self, name: str, default: int) -> int:
        return int(getattr(self.config, name, default))

    def _fire(self, d: Deferred[Any] | None, value: Any) -> None:
        if d is not None:
            self._outbox.append((d, value))

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Collect answers while the state changes; fire them when the outermost change ends."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth:
                self._flush()

    def _flush(self) -> None:
        outbox = self._outbox
        while outbox:
            d, value = outbox.pop(0)
            if not d.called:
                d.callback(value)

    def _later(self, delay_ms: int, fn: Callable[..., Any], *args: Any) -> Any:
        return self.clock.callLater(max(delay_ms, 0) / 1000.0, fn, *args)

    @staticmethod
    def _cancel(call: Any) -> None:
        if call is not None and call.active():
            call.cancel()

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Replay ``__consumer_offsets``, then serve; COORDINATOR_LOAD_IN_PROGRESS meanwhile."""
        self.loading = True
        self._stopped = False
        d = Deferred.fromCoroutine(self._load())

        def loaded(result: Any) -> Any:
            self.loading = False
            if isinstance(result, Failure):
                self._log.failure("Loading __consumer_offsets failed", result)
                return result
            self._schedule_expiry()
            return None

        return d.addBoth(loaded)

    def stop(self) -> None:
        """Cancel every timer; parked answers get NOT_COORDINATOR."""
        self._stopped = True
        self._cancel(self._expiry_timer)
        self._expiry_timer = None
        for group in self.groups.values():
            self._cancel(group.join_timer)
            self._cancel(group.sync_timer)
            for call in group.pending_members.values():
                self._cancel(call)
            for member in group.members.values():
                self._cancel(member.timer)
                self._fire(member.join_waiter, _join_error(ErrorCode.NOT_COORDINATOR))
                self._fire(member.sync_waiter, _sync_error(ErrorCode.NOT_COORDINATOR))
                member.join_waiter = member.sync_waiter = None
        self._flush()

    async def _load(self) -> None:
        topic = self.broker.metadata.image.topics.get(OFFSETS_TOPIC)
        if topic is None:
            return
        count = 0
        for p in sorted(topic.partitions):
            log = self.broker.partition_log(topic, p)
            if log is None:
                continue
            offset = log.log_start_offset
            while offset < log.log_end_offset:
                result = log.read(offset, _READ_CHUNK)
                if isinstance(result, Deferred):
                    result = await result
                next_offset = offset
                for buf in result.buffers:
                    for pos, header in wire_records.iter_batches(buf):
                        next_offset = max(next_offset, header.next_offset)
                        if header.is_control:
                            continue
                        batch = memoryview(buf)[pos : pos + header.size]
                        for record in wire_records.decode_batch_records(batch):
                            self._replay(record.key, record.value)
                            count += 1
                if next_offset <= offset:
                    break
                offset = next_offset
        now = self._now()
        for group in self.groups.values():
            for member in group.members.values():
                self._reschedule_heartbeat(group, member)
            if group.state_timestamp_ms < 0:
                group.state_timestamp_ms = now
        self._log.info(
            "Loaded {groups} groups from {records} __consumer_offsets records",
            groups=len(self.groups),
            records=count,
        )

    def _replay(self, key: bytes | None, value: bytes | None) -> None:
        decoded = rec.decode_record(key, value)
        if isinstance(decoded, rec.OffsetRecord):
            tp = (decoded.topic, decoded.partition)
            group = self.groups.get(decoded.group_id)
            if decoded.value is None:
                if group is not None:
                    group.offsets.pop(tp, None)
                return
            if group is None:
                group = self.groups[decoded.group_id] = ClassicGroup(decoded.group_id)
            group.offsets[tp] = decoded.value
        elif isinstance(decoded, rec.GroupRecord):
            old = self.groups.get(decoded.group_id)
            offsets = old.offsets if old is not None else {}
            v = decoded.value
            if v is None:
                if offsets:
                    self.groups[decoded.group_id] = ClassicGroup(decoded.group_id, offsets=offsets)
                else:
                    self.groups.pop(decoded.group_id, None)
                return
            group = ClassicGroup(
                decoded.group_id,
                state_timestamp_ms=v.current_state_timestamp,
                generation=v.generation,
                protocol_type=v.protocol_type or None,
                protocol_name=v.protocol,
                leader_id=v.leader,
                offsets=offsets,
            )
            for m in v.members:
                rebalance = m.rebalance_timeout if m.rebalance_timeout >= 0 else m.session_timeout
                group.add(
                    Member(
                        member_id=m.member_id,
                        group_instance_id=m.group_instance_id,
                        client_id=m.client_id,
                        client_host=m.client_host,
                        rebalance_timeout_ms=rebalance,
                        session_timeout_ms=m.session_timeout,
                        protocol_type=v.protocol_type,
                        protocols=((v.protocol or "", m.subscription),),
                        assignment=m.assignment,
                    )
                )
            group.leader_id = v.leader if v.leader in group.members else group.leader_id
            if group.members:
                group.state = group.previous_state = STABLE
                group.subscribed_topics = group.compute_subscribed_topics()
            self.groups[decoded.group_id] = group

    # -- __consumer_offsets -----------------------------------------------------

    def _offsets_topic_now(self) -> Any:
        return self.broker.metadata.image.topics.get(OFFSETS_TOPIC)

    def ensure_offsets_topic(self) -> Deferred[Any]:
        """The ``__consumer_offsets`` topic, created through the controller on first use."""
        topic = self._offsets_topic_now()
        if topic is not None:
            return succeed(topic)
        d: Deferred[Any] = Deferred()
        if self._topic_waiters is not None:
            self._topic_waiters.append(d)
            return d
        self._topic_waiters = [d]
        controller = self.broker.extras["controller"]
        n = self._cfg("offsets_topic_num_partitions", 50)
        try:
            created = controller.create_topic(
                OFFSETS_TOPIC, n, configs=dict(_OFFSETS_TOPIC_CONFIGS)
            )
        except Exception:
            created = fail()

        def done(result: Any) -> None:
            waiters, self._topic_waiters = self._topic_waiters or [], None
            if isinstance(result, Failure):
                topic = self._offsets_topic_now()
                if topic is not None:  # created concurrently
                    result = topic
                else:
                    self._log.failure("Creating __consumer_offsets failed", result)
                    result = Failure(
                        KafkaError(
                            ErrorCode.COORDINATOR_NOT_AVAILABLE, "__consumer_offsets unavailable"
                        )
                    )
            for w in waiters:
                if isinstance(result, Failure):
                    w.errback(result)
                else:
                    w.callback(result)

        created.addBoth(done)
        return d

    def _append(
        self, group_id: str, records: Sequence[tuple[bytes, bytes | None]]
    ) -> Deferred[Any]:
        """Append records for C{group_id} to its ``__consumer_offsets`` partition."""
        return Deferred.fromCoroutine(self._append_records(group_id, records))

    async def _append_records(
        self, group_id: str, records: Sequence[tuple[bytes, bytes | None]]
    ) -> Any:
        topic = await self.ensure_offsets_topic()
        p = rec.partition_for(group_id, len(topic.partitions))
        log = self.broker.partition_log(topic, p)
        if log is None:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        batch = wire_records.build_batch(list(records), base_timestamp=self._now())
        try:
            batches = wire_records.validate_produce_records(
                batch, max_batch_bytes=log.config.max_message_bytes, allow_multiple_batches=True
            )
        except wire_records.RecordsError as e:
            raise KafkaError(e.code, str(e.message)) from None
        return await self.broker.append(topic, p, log, batch, batches)

    def _append_failed(self, f: Failure, what: str, group_id: str) -> None:
        """Log a failed append: a warning for a Kafka error, a traceback for anything else."""
        if f.check(KafkaError):
            self._log.warn(
                "{what} of group {group} failed: {error}", what=what, group=group_id, error=f.value
            )
        else:
            self._log.failure("{what} of group {group} failed", f, what=what, group=group_id)

    def _store_quietly(self, group_id: str, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        d = self._append(group_id, records)
        d.addErrback(self._append_failed, "Writing to __consumer_offsets", group_id)

    def _group_metadata_record(
        self, group: ClassicGroup, assignment: dict[str, bytes] | None = None
    ) -> tuple[bytes, bytes]:
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

    def _empty_group_record(self, group: ClassicGroup) -> tuple[bytes, bytes]:
        """Kafka's ``newEmptyGroupMetadataRecord``: no protocol, generation 0, no members."""
        return rec.group_metadata_key(group.group_id), rec.group_metadata_value(
            protocol_type="",
            generation=0,
            protocol=None,
            leader=None,
            current_state_timestamp=group.state_timestamp_ms,
            members=(),
        )

    # -- timers -----------------------------------------------------------------

    def _reschedule_heartbeat(
        self, group: ClassicGroup, member: Member, timeout_ms: int | None = None
    ) -> None:
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.deadline_ms = self._now() + timeout
        timer = member.timer
        if timer is None or not timer.active():
            member.timer = self._later(timeout, self._heartbeat_deadline, group, member)
        elif timer.getTime() > self.clock.seconds() + timeout / 1000.0:
            timer.reset(timeout / 1000.0)

    def _cancel_heartbeat(self, member: Member) -> None:
        self._cancel(member.timer)
        member.timer = None

    @_flushing
    def _heartbeat_deadline(self, group: ClassicGroup, member: Member) -> None:
        member.timer = None
        if group.members.get(member.member_id) is not member or group.state == DEAD:
            return
        left = member.deadline_ms - self._now()
        if left > 0:
            member.timer = self._later(left, self._heartbeat_deadline, group, member)
            return
        if member.has_satisfied_heartbeat():
            self._reschedule_heartbeat(group, member)
            return
        self._log.info(
            "Member {member} in group {group} has failed, removing it from the group",
            member=member.member_id,
            group=group.group_id,
        )
        self._remove_member_and_update(group, member)

    def _add_pending_member(
        self, group: ClassicGroup, member_id: str, session_timeout_ms: int
    ) -> None:
        self._cancel(group.pending_members.get(member_id))
        group.pending_members[member_id] = self._later(
            session_timeout_ms, self._pending_member_expired, group, member_id
        )

    @_flushing
    def _pending_member_expired(self, group: ClassicGroup, member_id: str) -> None:
        if group.pending_members.pop(member_id, None) is None:
            return
        if group.state == PREPARING:
            self._maybe_complete_join_phase(group)

    def _schedule_join(
        self, group: ClassicGroup, delay_ms: int, fn: Callable[..., Any], *args: Any
    ) -> None:
        self._cancel(group.join_timer)
        group.join_timer = self._later(delay_ms, fn, group, *args)

    # -- the rebalance ------------------------------------------------------------

    def _respond_join(self, member: Member, response: JoinGroupResponse) -> None:
        d, member.join_waiter = member.join_waiter, None
        self._fire(d, response)

    def _respond_sync(self, member: Member, response: SyncGroupResponse) -> None:
        d, member.sync_waiter = member.sync_waiter, None
        self._fire(d, response)

    def _leader_members(self, group: ClassicGroup) -> tuple[JoinGroupResponseMember, ...]:
        return tuple(
            JoinGroupResponseMember(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                metadata=m.metadata(group.protocol_name),
            )
            for m in group.members.values()
        )

    def _current_join_response(
        self,
        group: ClassicGroup,
        member_id: str,
        *,
        members: bool,
        leader: str | None = None,
        skip: bool = False,
    ) -> JoinGroupResponse:
        return JoinGroupResponse(
            error_code=0,
            generation_id=group.generation,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name,
            leader=(group.leader_id if leader is None else leader) or "",
            skip_assignment=skip,
            member_id=member_id,
            members=self._leader_members(group) if members else (),
        )

    def _maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup) -> None:
        if group.state in (STABLE, COMPLETING, EMPTY):
            self._prepare_rebalance(group)
        else:
            self._maybe_complete_join_phase(group)

    def _prepare_rebalance(self, group: ClassicGroup) -> None:
        if group.state == COMPLETING:
            self._reset_and_propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._cancel(group.sync_timer)
        group.sync_timer = None
        group.pending_sync.clear()
        initial = group.state == EMPTY
        group.transition(PREPARING, self._now())
        self._log.info(
            "Preparing to rebalance group {group} in state PreparingRebalance with old generation "
            "{generation}",
            group=group.group_id,
            generation=group.generation,
        )
        if initial:
            delay = self._cfg("group_initial_rebalance_delay_ms", 3000)
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self._schedule_join(group, delay, self._initial_rebalance_tick, delay, remaining)
        elif group.has_all_members_joined():
            self._complete_join(group)
        else:
            self._schedule_join(group, group.rebalance_timeout_ms(), self._join_timeout)

    @_flushing
    def _initial_rebalance_tick(self, group: ClassicGroup, delay: int, remaining: int) -> None:
        group.join_timer = None
        if group.state != PREPARING:
            return
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            new_delay = min(self._cfg("group_initial_rebalance_delay_ms", 3000), remaining)
            new_remaining = max(remaining - delay, 0)
            self._schedule_join(
                group, new_delay, self._initial_rebalance_tick, new_delay, new_remaining
            )
        else:
            self._complete_join(group)

    @_flushing
    def _join_timeout(self, group: ClassicGroup) -> None:
        group.join_timer = None
        if group.state == PREPARING:
            self._complete_join(group)

    def _maybe_complete_join_phase(self, group: ClassicGroup) -> None:
        if (
            group.state == PREPARING
            and group.has_all_members_joined()
            and group.previous_state != EMPTY
        ):
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        self._cancel(group.join_timer)
        group.join_timer = None
        for member in [m for m in group.members.values() if not m.awaiting_join]:
            if member.group_instance_id is None:
                self._cancel_heartbeat(member)
                self._respond_sync(member, _sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
                group.remove(member.member_id)
        if group.state == DEAD:
            return
        if not group.elect_joined_leader() and group.members:
            # Nobody rejoined (only static members remain): wait until their
            # session timeouts remove them.
            self._schedule_join(group, group.rebalance_timeout_ms(), self._join_timeout)
            return
        now = self._now()
        group.generation += 1
        group.pending_sync.clear()
        group.new_member_added = False
        if group.members:
            group.protocol_name = group.select_protocol()
            group.transition(COMPLETING, now)
            group.subscribed_topics = group.compute_subscribed_topics()
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
            self._store_quietly(group.group_id, [self._empty_group_record(group)])
            return
        for member in group.members.values():
            is_leader = member.member_id == group.leader_id
            self._respond_join(
                member, self._current_join_response(group, member.member_id, members=is_leader)
            )
            self._reschedule_heartbeat(group, member)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        self._cancel(group.sync_timer)
        group.sync_timer = self._later(
            group.rebalance_timeout_ms(), self._pending_sync_expired, group, group.generation
        )

    @_flushing
    def _pending_sync_expired(self, group: ClassicGroup, generation: int) -> None:
        group.sync_timer = None
        if generation != group.generation or group.state not in (COMPLETING, STABLE):
            return
        if not group.pending_sync:
            return
        for member_id in list(group.pending_sync):
            member = group.remove(member_id)
            if member is not None:
                self._cancel_heartbeat(member)
        self._prepare_rebalance(group)

    def _reset_and_propagate_assignment_error(self, group: ClassicGroup, code: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, code)

    def _propagate_assignment(self, group: ClassicGroup, code: ErrorCode) -> None:
        for member in group.members.values():
            if member.awaiting_sync:
                self._respond_sync(
                    member,
                    SyncGroupResponse(
                        error_code=int(code),
                        protocol_type=group.protocol_type,
                        protocol_name=group.protocol_name,
                        assignment=member.assignment if code == ErrorCode.NONE else b"",
                    ),
                )
                self._reschedule_heartbeat(group, member)

    def _remove_member(self, group: ClassicGroup, member: Member) -> None:
        self._cancel_heartbeat(member)
        self._respond_join(member, _join_error(ErrorCode.UNKNOWN_MEMBER_ID))
        self._respond_sync(member, _sync_error(ErrorCode.UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)

    def _remove_member_and_update(self, group: ClassicGroup, member: Member) -> None:
        self._remove_member(group, member)
        if group.state in (STABLE, COMPLETING):
            self._maybe_prepare_rebalance_or_complete_join(group)
        elif group.state == PREPARING:
            self._maybe_complete_join_phase(group)

    # -- JoinGroup ------------------------------------------------------------------

    @_flushing
    def join_group(self, req: JoinRequest) -> Deferred[JoinGroupResponse]:
        """Handle a JoinGroup; the Deferred fires when the join phase completes."""
        if self.loading:
            return succeed(_join_error(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, req.member_id))
        if not req.group_id:
            return succeed(_join_error(ErrorCode.INVALID_GROUP_ID, req.member_id))
        if not (
            self._cfg("group_min_session_timeout_ms", 6000)
            <= req.session_timeout_ms
            <= self._cfg("group_max_session_timeout_ms", 1800000)
        ):
            return succeed(_join_error(ErrorCode.INVALID_SESSION_TIMEOUT, req.member_id))
        unknown = req.member_id == ""
        group = self.groups.get(req.group_id)
        if group is None:
            if not unknown:
                return succeed(_join_error(ErrorCode.UNKNOWN_MEMBER_ID, req.member_id))
            group = self.groups[req.group_id] = ClassicGroup(
                req.group_id, state_timestamp_ms=self._now()
            )
        if not self._accept_joining_member(group, req.member_id):
            member = group.members.get(req.member_id)
            if member is not None:
                self._remove_member(group, member)
                if group.state == PREPARING:
                    self._maybe_complete_join_phase(group)
            return succeed(_join_error(ErrorCode.GROUP_MAX_SIZE_REACHED))
        d: Deferred[JoinGroupResponse] = Deferred()
        if unknown:
            self._join_new_member(group, req, d)
        else:
            self._join_existing_member(group, req, d)
        return d

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        max_size = self._cfg("group_max_size", 2147483647)
        if group.state in (EMPTY, DEAD):
            return True
        member = group.members.get(member_id)
        if group.state == PREPARING:
            return (
                member is not None and member.awaiting_join
            ) or group.num_awaiting_join() < max_size
        return member is not None or len(group.members) < max_size

    def _join_new_member(self, group: ClassicGroup, req: JoinRequest, d: Deferred[Any]) -> None:
        if group.state == DEAD:
            self._fire(d, _join_error(ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return
        if not group.supports_protocols(req.protocol_type, req.protocols):
            self._fire(d, _join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return
        new_id = f"{req.group_instance_id or req.client_id}-{uuid.uuid4()}"
        if req.group_instance_id is not None:
            old_id = group.static_members.get(req.group_instance_id)
            if old_id is not None and old_id in group.members:
                self._update_static_member(group, req, old_id, new_id, d)
            else:
                self._add_member_and_rebalance(group, req, new_id, d)
        elif req.require_known_member_id:
            self._add_pending_member(group, new_id, req.session_timeout_ms)
            self._fire(d, _join_error(ErrorCode.MEMBER_ID_REQUIRED, new_id))
        else:
            self._add_member_and_rebalance(group, req, new_id, d)

    def _join_existing_member(
        self, group: ClassicGroup, req: JoinRequest, d: Deferred[Any]
    ) -> None:
        member_id = req.member_id
        if group.state == DEAD:
            self._fire(d, _join_error(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id))
            return
        if not group.supports_protocols(req.protocol_type, req.protocols):
            self._fire(d, _join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id))
            return
        if member_id in group.pending_members and req.group_instance_id is None:
            self._add_member_and_rebalance(group, req, member_id, d)
            return
        error = group.validate_member(member_id, req.group_instance_id)
        if error is not None:
            self._fire(d, _join_error(error, member_id))
            return
        member = group.members[member_id]
        if group.state == PREPARING:
            self._update_member_and_rebalance(group, member, req, d)
        elif group.state == COMPLETING:
            if member.matches(req.protocols):
                # The member probably missed the join response: resend it.
                self._fire(
                    d,
                    self._current_join_response(
                        group, member_id, members=member_id == group.leader_id
                    ),
                )
            else:
                self._update_member_and_rebalance(group, member, req, d)
        elif group.state == STABLE:
            if member_id == group.leader_id or not member.matches(req.protocols):
                self._update_member_and_rebalance(group, member, req, d)
            else:
                self._fire(d, self._current_join_response(group, member_id, members=False))
        else:
            self._fire(d, _join_error(ErrorCode.UNKNOWN_MEMBER_ID, member_id))

    def _new_member(self, req: JoinRequest, member_id: str) -> Member:
        return Member(
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

    def _add_member_and_rebalance(
        self, group: ClassicGroup, req: JoinRequest, member_id: str, d: Deferred[Any]
    ) -> None:
        member = self._new_member(req, member_id)
        member.join_waiter = d
        if group.state == PREPARING and group.previous_state == EMPTY:
            group.new_member_added = True
        self._cancel(group.pending_members.get(member_id))
        group.add(member)
        self._reschedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance_or_complete_join(group)

    def _set_join_waiter(self, member: Member, d: Deferred[Any] | None) -> None:
        old, member.join_waiter = member.join_waiter, d
        if old is not None and old is not d:
            # A duplicate JoinGroup (another connection): the old one is stale.
            self._fire(old, _join_error(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id))

    def _update_member_and_rebalance(
        self, group: ClassicGroup, member: Member, req: JoinRequest, d: Deferred[Any]
    ) -> None:
        member.protocols = req.protocols
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        member.client_id = req.client_id
        member.client_host = req.client_host
        self._set_join_waiter(member, d)
        self._maybe_prepare_rebalance_or_complete_join(group)

    def _replace_static_member(
        self, group: ClassicGroup, instance_id: str, old_id: str, new_id: str
    ) -> Member:
        old = group.members.pop(old_id)
        self._cancel_heartbeat(old)
        self._respond_join(old, _join_error(ErrorCode.FENCED_INSTANCE_ID, old_id))
        self._respond_sync(old, _sync_error(ErrorCode.FENCED_INSTANCE_ID))
        new = Member(
            member_id=new_id,
            group_instance_id=old.group_instance_id,
            client_id=old.client_id,
            client_host=old.client_host,
            rebalance_timeout_ms=old.rebalance_timeout_ms,
            session_timeout_ms=old.session_timeout_ms,
            protocol_type=old.protocol_type,
            protocols=old.protocols,
            assignment=old.assignment,
        )
        group.members[new_id] = new
        if group.leader_id == old_id:
            group.leader_id = new_id
        group.static_members[instance_id] = new_id
        if old_id in group.pending_sync:
            group.pending_sync.discard(old_id)
            group.pending_sync.add(new_id)
        return new

    def _update_static_member(
        self, group: ClassicGroup, req: JoinRequest, old_id: str, new_id: str, d: Deferred[Any]
    ) -> None:
        """Kafka's ``updateStaticMemberThenRebalanceOrCompleteJoin``."""
        assert req.group_instance_id is not None
        instance_id = req.group_instance_id
        current_leader = group.leader_id
        member = self._replace_static_member(group, instance_id, old_id, new_id)
        self._reschedule_heartbeat(group, member)
        old_settings = (member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms)
        member.protocols = req.protocols
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        member.join_waiter = d
        if group.state == STABLE:
            if group.select_protocol() != (group.protocol_name or ""):
                self._maybe_prepare_rebalance_or_complete_join(group)
                return
            # Same protocol: keep the assignment, persist the new member id, no rebalance.
            generation = group.generation

            def stored(_: Any) -> None:
                with self._batch():
                    self._static_member_stored(
                        group, member, d, new_id, current_leader, req.supports_skip_assignment
                    )

            def failed(f: Failure) -> None:
                with self._batch():
                    self._append_failed(f, "Persisting a static member", group.group_id)
                    if group.members.get(new_id) is member and group.generation == generation:
                        member.join_waiter = None
                        (
                            member.protocols,
                            member.rebalance_timeout_ms,
                            member.session_timeout_ms,
                        ) = old_settings
                        back = self._replace_static_member(group, instance_id, new_id, old_id)
                        self._reschedule_heartbeat(group, back)
                    self._fire(d, _join_error(_append_error(f), ""))

            self._append(group.group_id, [self._group_metadata_record(group)]).addCallbacks(
                stored, failed
            )
        elif group.state == COMPLETING:
            self._prepare_rebalance(group)
        else:
            self._maybe_complete_join_phase(group)

    def _static_member_stored(
        self,
        group: ClassicGroup,
        member: Member,
        d: Deferred[Any],
        new_id: str,
        current_leader: str | None,
        skip_supported: bool,
    ) -> None:
        if member.join_waiter is not d:
            return
        if skip_supported:
            is_leader = group.leader_id == new_id
            response = self._current_join_response(group, new_id, members=is_leader, skip=is_leader)
        else:
            response = self._current_join_response(
                group, new_id, members=False, leader=current_leader
            )
        self._respond_join(member, response)

    # -- SyncGroup ------------------------------------------------------------------

    @_flushing
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
        if self.loading:
            return succeed(_sync_error(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
        if not group_id:
            return succeed(_sync_error(ErrorCode.INVALID_GROUP_ID))
        group = self.groups.get(group_id)
        if group is None or group.state == EMPTY:
            return succeed(_sync_error(ErrorCode.UNKNOWN_MEMBER_ID))
        if group.state == DEAD:
            return succeed(_sync_error(ErrorCode.COORDINATOR_NOT_AVAILABLE))
        error = group.validate_member(member_id, group_instance_id)
        if error is not None:
            return succeed(_sync_error(error))
        if generation != group.generation:
            return succeed(_sync_error(ErrorCode.ILLEGAL_GENERATION))
        if _inconsistent(protocol_type, group.protocol_type) or _inconsistent(
            protocol_name, group.protocol_name
        ):
            return succeed(_sync_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
        if group.state == PREPARING:
            return succeed(_sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
        member = group.members[member_id]
        self._remove_pending_sync(group, member_id)
        if group.state == STABLE:
            self._reschedule_heartbeat(group, member)
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
            self._fire(old, _sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
        if member_id == group.leader_id:
            given = dict(assignments)
            assignment = {m: given.get(m, b"") for m in group.members}
            gen = group.generation

            def stored(_: Any) -> None:
                with self._batch():
                    if group.state == COMPLETING and group.generation == gen:
                        for m in group.members.values():
                            m.assignment = assignment.get(m.member_id, b"")
                        self._propagate_assignment(group, ErrorCode.NONE)
                        group.transition(STABLE, self._now())

            def failed(f: Failure) -> None:
                with self._batch():
                    self._append_failed(f, "Storing the assignment", group_id)
                    if group.state == COMPLETING and group.generation == gen:
                        self._reset_and_propagate_assignment_error(group, _append_error(f))
                        self._maybe_prepare_rebalance_or_complete_join(group)

            record = self._group_metadata_record(group, assignment)
            self._append(group_id, [record]).addCallbacks(stored, failed)
        return d

    def _remove_pending_sync(self, group: ClassicGroup, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            self._cancel(group.sync_timer)
            group.sync_timer = None

    # -- Heartbeat / LeaveGroup ----------------------------------------------------

    @_flushing
    def heartbeat(
        self, group_id: str, generation: int, member_id: str, group_instance_id: str | None
    ) -> ErrorCode:
        """Handle a Heartbeat: move the member's deadline; tell it to rejoin during a rebalance."""
        if self.loading:
            # Kafka answers blindly while loading, so members are not kicked out.
            return ErrorCode.NONE
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(group_id)
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
        self._reschedule_heartbeat(group, group.members[member_id])
        if group.state == PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    @_flushing
    def leave_group(
        self, group_id: str, members: Sequence[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """
        Remove members at once and rebalance the rest.

        @param members: (member id, group instance id) pairs; an empty member
            id with an instance id removes that static member (admin removal).
        @return: the group-level error and one error per member.
        """
        if self.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, []
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, []
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID, []
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        results: list[ErrorCode] = []
        changed = False
        for member_id, instance_id in members:
            if member_id == "":
                target = group.static_members.get(instance_id) if instance_id is not None else None
                if target is None or target not in group.members:
                    results.append(ErrorCode.UNKNOWN_MEMBER_ID)
                    continue
                self._remove_member(group, group.members[target])
            elif member_id in group.pending_members:
                self._cancel(group.pending_members.pop(member_id))
            else:
                error = group.validate_member(member_id, instance_id)
                if error is not None:
                    results.append(error)
                    continue
                self._remove_member(group, group.members[member_id])
            self._log.info("Member {m} left group {g}", m=member_id or instance_id, g=group_id)
            results.append(ErrorCode.NONE)
            changed = True
        if changed:
            if group.state in (STABLE, COMPLETING):
                self._maybe_prepare_rebalance_or_complete_join(group)
            elif group.state == PREPARING:
                self._maybe_complete_join_phase(group)
        return ErrorCode.NONE, results

    # -- offsets ----------------------------------------------------------------------

    def _validate_commit(
        self, group: ClassicGroup, generation: int, member_id: str, group_instance_id: str | None
    ) -> ErrorCode | None:
        """Kafka's ``ClassicGroup.validateOffsetCommit``."""
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation < 0 and group.state == EMPTY:
            return None  # a standalone consumer or the admin client
        if generation >= 0 or member_id or group_instance_id is not None:
            error = group.validate_member(member_id, group_instance_id)
            if error is not None:
                return error
            if generation != group.generation:
                return ErrorCode.ILLEGAL_GENERATION
        elif group.state != EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.state == COMPLETING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return None

    @_flushing
    def commit_offsets(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        group_instance_id: str | None,
        partitions: Sequence[OffsetCommitPartition],
        *,
        retention_time_ms: int = -1,
        api_version: int = 9,
    ) -> Deferred[dict[tuple[str, int], ErrorCode]]:
        """
        Commit offsets; the Deferred fires after the records are appended.

        @return: an error per (topic, partition).
        """

        def everywhere(code: ErrorCode) -> Deferred[dict[tuple[str, int], ErrorCode]]:
            return succeed({(p.topic, p.partition): code for p in partitions})

        if self.loading:
            return everywhere(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        if not group_id:
            return everywhere(ErrorCode.INVALID_GROUP_ID)
        group = self.groups.get(group_id)
        if group is None:
            if generation >= 0:
                return everywhere(
                    ErrorCode.GROUP_ID_NOT_FOUND
                    if api_version >= 9
                    else ErrorCode.ILLEGAL_GENERATION
                )
            group = self.groups[group_id] = ClassicGroup(group_id, state_timestamp_ms=self._now())
        error = self._validate_commit(group, generation, member_id, group_instance_id)
        if error is not None:
            return everywhere(error)
        now = self._now()
        max_metadata = self._cfg("offset_metadata_max_bytes", DEFAULT_OFFSET_METADATA_MAX_BYTES)
        results: dict[tuple[str, int], ErrorCode] = {}
        staged: dict[tuple[str, int], OffsetAndMetadata] = {}
        for p in partitions:
            tp = (p.topic, p.partition)
            metadata = p.metadata or ""
            if _java_length(metadata) > max_metadata:
                results[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
                continue
            commit_ts = p.commit_timestamp_ms if p.commit_timestamp_ms != -1 else now
            staged[tp] = OffsetAndMetadata(
                offset=p.offset,
                leader_epoch=p.leader_epoch,
                metadata=metadata,
                commit_timestamp_ms=commit_ts,
                expire_timestamp_ms=commit_ts + retention_time_ms
                if retention_time_ms != -1
                else -1,
            )
            results[tp] = ErrorCode.NONE
        if not staged:
            return succeed(results)
        records = [
            (rec.offset_commit_key(group_id, t, p), rec.offset_commit_value(om))
            for (t, p), om in staged.items()
        ]

        def stored(_: Any) -> dict[tuple[str, int], ErrorCode]:
            target = self.groups.get(group_id)
            if target is None:
                target = self.groups[group_id] = ClassicGroup(
                    group_id, state_timestamp_ms=self._now()
                )
            target.offsets.update(staged)
            self._schedule_expiry()
            return results

        def failed(f: Failure) -> dict[tuple[str, int], ErrorCode]:
            self._append_failed(f, "Committing offsets", group_id)
            code = _append_error(f, commit=True)
            return {tp: (code if tp in staged else e) for tp, e in results.items()}

        return _detached(self._append(group_id, records).addCallbacks(stored, failed))

    def fetch_offsets(
        self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]] | None
    ) -> tuple[ErrorCode, list[tuple[str, list[tuple[int, OffsetAndMetadata | None]]]]]:
        """
        Committed offsets; partitions without a commit get None (offset -1).

        @param topics: (topic, partitions) pairs, or None for every committed partition.
        @return: the group-level error and the offsets by topic.
        """
        if self.loading:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, []
        group = self.groups.get(group_id)
        offsets = group.offsets if group is not None else {}
        if topics is None:
            by_topic: dict[str, list[tuple[int, OffsetAndMetadata | None]]] = {}
            for (t, p), om in sorted(offsets.items()):
                by_topic.setdefault(t, []).append((p, om))
            return ErrorCode.NONE, list(by_topic.items())
        return ErrorCode.NONE, [
            (t, [(p, offsets.get((t, p))) for p in parts]) for t, parts in topics
        ]

    @_flushing
    def delete_offsets(
        self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]]
    ) -> Deferred[tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]]:
        """OffsetDelete: forget offsets of topics the group does not subscribe to."""
        if self.loading:
            return succeed((ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, {}))
        group = self.groups.get(group_id)
        if group is None or group.state == DEAD:
            return succeed((ErrorCode.GROUP_ID_NOT_FOUND, {}))
        if group.state != EMPTY and not group.uses_consumer_protocol():
            return succeed((ErrorCode.NON_EMPTY_GROUP, {}))
        results: dict[tuple[str, int], ErrorCode] = {}
        records = []
        for topic, parts in topics:
            subscribed = group.is_subscribed_to(topic)
            for p in parts:
                if subscribed:
                    results[(topic, p)] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                    continue
                results[(topic, p)] = ErrorCode.NONE
                if group.offsets.pop((topic, p), None) is not None:
                    records.append((rec.offset_commit_key(group_id, topic, p), None))
        if not records:
            return succeed((ErrorCode.NONE, results))

        def failed(f: Failure) -> tuple[ErrorCode, dict[tuple[str, int], ErrorCode]]:
            return _append_error(f), {}

        d = self._append(group_id, records).addCallbacks(
            lambda _: (ErrorCode.NONE, results), failed
        )
        return _detached(d)

    # -- group admin ---------------------------------------------------------------------

    def list_groups(
        self, states: Iterable[str] = (), types: Iterable[str] = ()
    ) -> list[tuple[str, str, str, str]]:
        """(group id, protocol type, state, type) of every group, filtered case-insensitively."""
        wanted_states = {s.lower() for s in states}
        wanted_types = {t.lower() for t in types}
        if wanted_types and "classic" not in wanted_types:
            return []
        out = []
        for group in self.groups.values():
            if wanted_states and group.state.value.lower() not in wanted_states:
                continue
            out.append((group.group_id, group.protocol_type or "", group.state.value, "classic"))
        return out

    def describe_group(
        self, group_id: str, include_authorized_operations: bool = False
    ) -> DescribedGroup:
        ops = GROUP_AUTHORIZED_OPERATIONS if include_authorized_operations else -2147483648
        if self.loading:
            return DescribedGroup(
                error_code=int(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS),
                group_id=group_id,
                authorized_operations=ops,
            )
        group = self.groups.get(group_id)
        if group is None:
            return DescribedGroup(
                group_id=group_id, group_state=DEAD.value, authorized_operations=ops
            )
        stable = group.state == STABLE
        members = tuple(
            DescribedGroupMember(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                member_metadata=m.metadata(group.protocol_name) if stable else b"",
                member_assignment=m.assignment if stable else b"",
            )
            for m in group.members.values()
        )
        return DescribedGroup(
            group_id=group_id,
            group_state=group.state.value,
            protocol_type=group.protocol_type or "",
            protocol_data=(group.protocol_name or "") if stable else "",
            members=members,
            authorized_operations=ops,
        )

    @_flushing
    def delete_groups(self, group_ids: Sequence[str]) -> Deferred[list[tuple[str, ErrorCode]]]:
        """DeleteGroups: remove Empty groups and their offsets (tombstones in the log)."""
        pending: list[tuple[str, ErrorCode | Deferred[Any]]] = []
        for group_id in group_ids:
            if self.loading:
                pending.append((group_id, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))
                continue
            group = self.groups.get(group_id)
            if group is None or group.state == DEAD:
                pending.append((group_id, ErrorCode.GROUP_ID_NOT_FOUND))
                continue
            if group.state != EMPTY:
                pending.append((group_id, ErrorCode.NON_EMPTY_GROUP))
                continue
            pending.append((group_id, self._delete_group(group)))

        async def gather() -> list[tuple[str, ErrorCode]]:
            out = []
            for group_id, result in pending:
                if isinstance(result, Deferred):
                    try:
                        await result
                        result = ErrorCode.NONE
                    except Exception as e:
                        result = _append_error(Failure(e))
                out.append((group_id, result))
            return out

        return Deferred.fromCoroutine(gather())

    def _delete_group(self, group: ClassicGroup) -> Deferred[Any]:
        records: list[tuple[bytes, bytes | None]] = [
            (rec.offset_commit_key(group.group_id, t, p), None) for t, p in group.offsets
        ]
        records.append((rec.group_metadata_key(group.group_id), None))
        group.offsets.clear()
        for call in group.pending_members.values():
            self._cancel(call)
        group.pending_members.clear()
        self._cancel(group.join_timer)
        self._cancel(group.sync_timer)
        group.transition(DEAD, self._now())
        if self.groups.get(group.group_id) is group:
            del self.groups[group.group_id]
        self._log.info("Deleted group {g}", g=group.group_id)
        return self._append(group.group_id, records)

    # -- offset retention --------------------------------------------------------------

    def _schedule_expiry(self) -> None:
        if self._expiry_timer is None and not self._stopped:
            interval = self._cfg("offsets_retention_check_interval_ms", 600000)
            self._expiry_timer = self._later(interval, self._expire_offsets)

    @_flushing
    def _expire_offsets(self) -> None:
        """Kafka's ``cleanupGroupMetadata``: drop expired offsets, then empty groups."""
        self._expiry_timer = None
        now = self._now()
        retention = self._cfg("offsets_retention_minutes", 10080) * 60_000
        any_offsets = False
        for group in list(self.groups.values()):
            expired = self._expired_offsets(group, now, retention)
            records: list[tuple[bytes, bytes | None]] = []
            for tp in expired:
                del group.offsets[tp]
                records.append((rec.offset_commit_key(group.group_id, *tp), None))
            if (
                group.state == EMPTY
                and not group.offsets
                and not group.members
                and not group.pending_members
            ):
                records.append((rec.group_metadata_key(group.group_id), None))
                group.transition(DEAD, now)
                del self.groups[group.group_id]
            if records:
                self._log.info(
                    "Removed {n} expired offsets of group {g}", n=len(expired), g=group.group_id
                )
                self._store_quietly(group.group_id, records)
            any_offsets = any_offsets or bool(group.offsets)
        if any_offsets or self.groups:
            self._schedule_expiry()

    @staticmethod
    def _expired_offsets(group: ClassicGroup, now: int, retention_ms: int) -> list[tuple[str, int]]:
        """Kafka's ``offsetExpirationCondition`` for a classic group."""
        if group.protocol_type:
            if group.state == EMPTY:

                def base(om: OffsetAndMetadata) -> int:
                    return (
                        group.state_timestamp_ms
                        if group.state_timestamp_ms >= 0
                        else om.commit_timestamp_ms
                    )

                candidates = list(group.offsets.items())
            elif (
                group.uses_consumer_protocol()
                and group.subscribed_topics is not None
                and group.state == STABLE
            ):

                def base(om: OffsetAndMetadata) -> int:
                    return om.commit_timestamp_ms

                candidates = [
                    (tp, om)
                    for tp, om in group.offsets.items()
                    if tp[0] not in group.subscribed_topics
                ]
            else:
                return []
        else:

            def base(om: OffsetAndMetadata) -> int:
                return om.commit_timestamp_ms

            candidates = list(group.offsets.items())
        out = []
        for tp, om in candidates:
            if om.expire_timestamp_ms != -1:
                if now >= om.expire_timestamp_ms:
                    out.append(tp)
            elif now - base(om) >= retention_ms:
                out.append(tp)
        return out


def _inconsistent(given: str | None, current: str | None) -> bool:
    return given is not None and current is not None and given != current


def _append_error(f: Failure, commit: bool = False) -> ErrorCode:
    """Kafka's mapping of append errors to coordinator errors."""
    code = f.value.code if isinstance(f.value, KafkaError) else ErrorCode.UNKNOWN_SERVER_ERROR
    if code in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.RECORD_LIST_TOO_LARGE,
        ErrorCode.INVALID_FETCH_SIZE,
    ):
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE if commit else ErrorCode.UNKNOWN_SERVER_ERROR
    return ErrorCode(code)
