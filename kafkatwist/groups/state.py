"""Classic group state: members, the group, and its pure bookkeeping.

Follows Kafka's ``ClassicGroup`` and ``ClassicGroupMember``
(group-coordinator ``classic/``): the states Empty, PreparingRebalance,
CompletingRebalance, Stable and Dead, the member-awaiting-join/sync counts,
protocol support and selection by vote, leader election among the members
that rejoined, static member mapping. Side effects (timers, responses,
records) live in L{kafkatwist.groups.rebalance} and its callers.
"""

from __future__ import annotations

import enum
from collections import Counter

import attrs
from attrs import define, field
from twisted.internet.defer import Deferred

from kafkatwist.clock import DelayedCall
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.leadership import Leadership
from kafkatwist.groups.records import OffsetAndMetadata, parse_subscription_topics
from kafkatwist.messages.join_group import JoinGroupResponse
from kafkatwist.messages.sync_group import SyncGroupResponse

CONSUMER_PROTOCOL_TYPE = "consumer"


class GroupState(enum.Enum):
    """Kafka's ``ClassicGroupState``; the value is the name Kafka reports."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


#: Kafka's ``ClassicGroupState.validPreviousStates``.
_VALID_PREVIOUS = {
    GroupState.EMPTY: {GroupState.PREPARING_REBALANCE},
    GroupState.PREPARING_REBALANCE: {
        GroupState.STABLE,
        GroupState.COMPLETING_REBALANCE,
        GroupState.EMPTY,
    },
    GroupState.COMPLETING_REBALANCE: {GroupState.PREPARING_REBALANCE},
    GroupState.STABLE: {GroupState.COMPLETING_REBALANCE},
    GroupState.DEAD: set(GroupState),
}

Protocols = tuple[tuple[str, bytes], ...]


def cancel(call: DelayedCall | None) -> None:
    """Cancel a timer unless it already ran or was cancelled."""
    if call is not None and call.active():
        call.cancel()


@define(eq=False, slots=True)
class Member:
    """One member of a classic group."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    #: (name, metadata) in the member's order of preference.
    protocols: Protocols
    assignment: bytes = b""
    #: The parked JoinGroup response, while the member awaits one.
    join_waiter: Deferred[JoinGroupResponse] | None = None
    #: The parked SyncGroup response, while the member awaits one.
    sync_waiter: Deferred[SyncGroupResponse] | None = None
    #: True from the first join until the join response (Kafka's ``isNew``).
    is_new: bool = False
    #: Heartbeat deadline, in ms on the broker clock; checked lazily by C{timer}.
    deadline_ms: int = 0
    timer: DelayedCall | None = None

    @property
    def awaiting_join(self) -> bool:
        return self.join_waiter is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_waiter is not None

    def metadata(self, protocol: str | None) -> bytes:
        for name, data in self.protocols:
            if name == protocol:
                return data
        return b""

    def matches(self, protocols: Protocols) -> bool:
        """Same protocols, in the same order, with the same metadata."""
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among C{candidates}."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError("member supports none of the candidate protocols")

    def renamed(self, member_id: str) -> Member:
        """This member's identity, settings and assignment under a new id, with nothing parked."""
        return attrs.evolve(
            self,
            member_id=member_id,
            join_waiter=None,
            sync_waiter=None,
            is_new=False,
            deadline_ms=0,
            timer=None,
        )

    def has_satisfied_heartbeat(self) -> bool:
        """Kafka's ``hasSatisfiedHeartbeat``, asked when the heartbeat deadline passes."""
        if self.is_new:
            return False
        return self.awaiting_join or self.awaiting_sync


@define(eq=False)
class ClassicGroup:
    """A classic group: its generation, members and committed offsets."""

    group_id: str
    state: GroupState = GroupState.EMPTY
    previous_state: GroupState = GroupState.EMPTY
    #: When the group entered its state (ms), as GroupMetadataValue stores it.
    state_timestamp_ms: int = -1
    generation: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    members: dict[str, Member] = field(factory=dict)
    #: group instance id -> member id.
    static_members: dict[str, str] = field(factory=dict)
    #: Member ids handed out by MEMBER_ID_REQUIRED, not yet joined -> expiry timer.
    pending_members: dict[str, DelayedCall] = field(factory=dict)
    #: Members that got their JoinGroup response but have not sent SyncGroup.
    pending_sync: set[str] = field(factory=set)
    new_member_added: bool = False
    join_timer: DelayedCall | None = None
    sync_timer: DelayedCall | None = None
    #: Topics the members subscribe to (consumer protocol); None when unknown.
    subscribed_topics: frozenset[str] | None = None
    offsets: dict[tuple[str, int], OffsetAndMetadata] = field(factory=dict)
    #: Offsets of ongoing transactions (TxnOffsetCommit), by producer id:
    #: visible only once the producer's commit marker is written.
    pending_txn_offsets: dict[int, dict[tuple[str, int], OffsetAndMetadata]] = field(factory=dict)

    def transition(self, state: GroupState, now_ms: int) -> None:
        if self.state not in _VALID_PREVIOUS[state]:
            raise AssertionError(f"group {self.group_id}: illegal {self.state} -> {state}")
        self.previous_state = self.state
        self.state = state
        self.state_timestamp_ms = now_ms

    # -- membership -----------------------------------------------------------

    def add(self, member: Member) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.pending_members.pop(member.member_id, None)

    def remove(self, member_id: str) -> Member | None:
        member = self.members.pop(member_id, None)
        if member is not None and member.group_instance_id is not None:
            if self.static_members.get(member.group_instance_id) == member_id:
                del self.static_members[member.group_instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_sync.discard(member_id)
        return member

    def num_awaiting_join(self) -> int:
        return sum(1 for m in self.members.values() if m.join_waiter is not None)

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and self.num_awaiting_join() == len(self.members)

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def validate_member(self, member_id: str, group_instance_id: str | None) -> ErrorCode | None:
        """Kafka's ``validateMember``: UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID, else None."""
        if group_instance_id is None:
            return None if member_id in self.members else ErrorCode.UNKNOWN_MEMBER_ID
        existing = self.static_members.get(group_instance_id)
        if existing is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if existing != member_id:
            return ErrorCode.FENCED_INSTANCE_ID
        return None

    def elect_joined_leader(self) -> bool:
        """Kafka's ``maybeElectNewJoinedLeader``."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join:
            return True
        for member in self.members.values():
            if member.awaiting_join:
                self.leader_id = member.member_id
                return True
        return False

    # -- protocols ------------------------------------------------------------

    def candidate_protocols(self) -> set[str]:
        """The protocols every member supports."""
        counts: Counter[str] = Counter()
        for member in self.members.values():
            counts.update({name for name, _ in member.protocols})
        n = len(self.members)
        return {name for name, c in counts.items() if c == n}

    def supports_protocols(self, protocol_type: str, protocols: Protocols) -> bool:
        """Kafka's ``supportsProtocols``: may a member with these protocols join?"""
        if not self.members:
            return bool(protocol_type) and bool(protocols)
        if protocol_type != self.protocol_type:
            return False
        candidates = self.candidate_protocols()
        return any(name in candidates for name, _ in protocols)

    def select_protocol(self) -> str:
        """
        The protocol with most votes among those all members support.

        Kafka's ``selectProtocol``: each member votes for its most preferred
        candidate. Ties, which Kafka leaves to hash order, go to the
        leader's preference.
        """
        candidates = self.candidate_protocols()
        votes = Counter(m.vote(candidates) for m in self.members.values())
        best = max(votes.values())
        leader = self.members.get(self.leader_id or "")
        order = [n for n, _ in leader.protocols] if leader is not None else sorted(votes)
        for name in order:
            if votes.get(name) == best:
                return name
        return next(name for name, c in votes.items() if c == best)

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        """The union of the members' consumer protocol subscriptions (None: unknown)."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            parsed = parse_subscription_topics(member.metadata(self.protocol_name))
            if parsed is None:
                return None
            topics.update(parsed)
        return frozenset(topics)

    def is_subscribed_to(self, topic: str) -> bool:
        """Kafka's ``isSubscribedToTopic``, for OffsetDelete and offset expiration."""
        if self.state == GroupState.EMPTY:
            return False
        if self.subscribed_topics is None:
            return True
        return topic in self.subscribed_topics

    def uses_consumer_protocol(self) -> bool:
        return self.protocol_type == CONSUMER_PROTOCOL_TYPE


@define(eq=False)
class GroupTable:
    """The coordinator's groups, shared by its parts (Kafka's C{GroupMetadataManager} state)."""

    groups: dict[str, ClassicGroup] = field(factory=dict)
    #: The consumer groups (KIP-848), by id. Their offsets live in the
    #: L{ClassicGroup} of the same id in L{groups}, which then stays Empty
    #: and writes no GroupMetadata record (Kafka keeps offsets apart from
    #: groups, in its C{OffsetMetadataManager}).
    consumer_groups: dict[str, ConsumerGroup] = field(factory=dict)
    #: The ``__consumer_offsets`` partitions led here (NOT_COORDINATOR,
    #: COORDINATOR_LOAD_IN_PROGRESS); a bare table serves every group.
    leadership: Leadership = field(factory=Leadership)

    @property
    def loading(self) -> bool:
        """Whether the coordinator starts or one of its partitions loads."""
        return self.leadership.loading

    def error(self, group_id: str) -> ErrorCode | None:
        """Why C{group_id} cannot be served here now (L{Leadership.error}), or None."""
        return self.leadership.error(group_id)

    def get_or_create(self, group_id: str, now_ms: int) -> ClassicGroup:
        """The group C{group_id}, created Empty at C{now_ms} if it does not exist."""
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = ClassicGroup(group_id, state_timestamp_ms=now_ms)
        return group
