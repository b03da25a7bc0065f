"""A consumer group (KIP-848): epochs, members, target assignment, partition owners.

After Kafka's C{ConsumerGroup} and C{ModernGroup} (group-coordinator
C{modern/}): the group epoch moves when the membership or the subscribed
topics change; the target assignment is computed for a group epoch (the
assignment epoch); each member reconciles towards it at its own member
epoch. The group keeps which member epoch owns each partition (Kafka's
C{currentPartitionEpoch}), so a partition is assigned again only once it is
released.
"""

from __future__ import annotations

import enum
import uuid
from collections import Counter
from collections.abc import Iterable

from attrs import define, field

from kafkatwist.errors import ErrorCode
from kafkatwist.groups.consumer.member import Assignment, ConsumerGroupMember, MemberState
from kafkatwist.groups.consumer.regex import RegexResolver, TopicFilter

#: A subscribed topic as the group last saw it: (topic id, partition count).
TopicShape = tuple[uuid.UUID, int]


class ConsumerGroupState(enum.Enum):
    """Kafka's C{ConsumerGroup.ConsumerGroupState}; the value is the name Kafka reports."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


@define(eq=False)
class ConsumerGroup:
    """One consumer group and its bookkeeping; side effects live in its coordinator."""

    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerGroupMember] = field(factory=dict)
    #: instance id -> member id.
    static_members: dict[str, str] = field(factory=dict)
    #: member id -> its target assignment.
    target_assignment: dict[str, Assignment] = field(factory=dict)
    #: (topic id, partition) -> epoch of the member holding it (assigned or revoking).
    partition_epochs: dict[tuple[uuid.UUID, int], int] = field(factory=dict)
    #: Subscribed topic name -> its id and partition count (ConsumerGroupPartitionMetadata).
    subscription_metadata: dict[str, TopicShape] = field(factory=dict)
    #: Regex -> the topics it may match: those the principal of the member that
    #: last subscribed with it may DESCRIBE (Kafka's regex refresh, KAFKA-18813);
    #: no entry (no authorizer) matches every topic.
    regex_visibility: dict[str, TopicFilter] = field(factory=dict)
    #: Regex -> (matched, filter, the visible part of matched): the last filtering.
    _visible: dict[str, tuple[frozenset[str], TopicFilter, frozenset[str]]] = field(
        factory=dict, init=False
    )

    @property
    def state(self) -> ConsumerGroupState:
        """Kafka's C{ConsumerGroup.maybeUpdateGroupState}, computed."""
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        for member in self.members.values():
            if not member.is_reconciled_to(self.assignment_epoch):
                return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    # -- members ----------------------------------------------------------------

    def static_member(self, instance_id: str) -> ConsumerGroupMember | None:
        member_id = self.static_members.get(instance_id)
        return self.members.get(member_id) if member_id is not None else None

    def update_member(self, member: ConsumerGroupMember) -> None:
        """Put C{member} in the group (Kafka's C{updateMember}), moving its partition epochs."""
        old = self.members.get(member.member_id)
        if old is not None:
            self._drop_epochs(old)
        self.members[member.member_id] = member
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id
        self._add_epochs(member)

    def remove_member(self, member_id: str) -> ConsumerGroupMember | None:
        """Take a member out (Kafka's C{removeMember}); its partitions become free."""
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        self._drop_epochs(member)
        if (
            member.instance_id is not None
            and self.static_members.get(member.instance_id) == member_id
        ):
            del self.static_members[member.instance_id]
        return member

    def _add_epochs(self, member: ConsumerGroupMember) -> None:
        for assignment in (member.assigned_partitions, member.partitions_pending_revocation):
            for topic_id, partitions in assignment.items():
                for p in partitions:
                    self.partition_epochs[(topic_id, p)] = member.member_epoch

    def _drop_epochs(self, member: ConsumerGroupMember) -> None:
        for assignment in (member.assigned_partitions, member.partitions_pending_revocation):
            for topic_id, partitions in assignment.items():
                for p in partitions:
                    if self.partition_epochs.get((topic_id, p)) == member.member_epoch:
                        del self.partition_epochs[(topic_id, p)]

    def partition_epoch(self, topic_id: uuid.UUID, partition: int) -> int:
        """Kafka's C{currentPartitionEpoch}: the owner's epoch, -1 when free."""
        return self.partition_epochs.get((topic_id, partition), -1)

    def waiting_on_unreleased_partition(self, member: ConsumerGroupMember) -> bool:
        """Kafka's C{waitingOnUnreleasedPartition}: a target partition still held by another."""
        if member.state != MemberState.UNRELEASED_PARTITIONS:
            return False
        for topic_id, partitions in self.target_assignment.get(member.member_id, {}).items():
            held = member.assigned_partitions.get(topic_id, frozenset())
            for p in partitions:
                if p not in held and self.partition_epoch(topic_id, p) != -1:
                    return True
        return False

    # -- subscriptions ----------------------------------------------------------

    def subscribed_names(
        self, member: ConsumerGroupMember, topics: Iterable[str], resolve: RegexResolver
    ) -> frozenset[str]:
        """The topic names C{member} subscribes to: its names and what its regex matches."""
        names = set(member.subscribed_topic_names)
        pattern = member.subscribed_topic_regex
        if pattern:
            names.update(self._visible_part(pattern, resolve(pattern, topics)))
        return frozenset(names)

    def see_regex_as(self, pattern: str | None, describable: TopicFilter, subscribed: bool) -> None:
        """
        Resolve C{pattern} to the topics C{describable} allows, from now on.

        Kafka filters a regex's topics by the ACLs of the member whose
        heartbeat refreshed it: here the member that subscribed with it
        (C{subscribed}), or any member heartbeating with it while the
        group has no filter for it (after a restart).
        """
        if pattern and (subscribed or pattern not in self.regex_visibility):
            self.regex_visibility[pattern] = describable

    def _visible_part(self, pattern: str, matched: frozenset[str]) -> frozenset[str]:
        describable = self.regex_visibility.get(pattern)
        if describable is None:
            return matched
        last = self._visible.get(pattern)
        if last is not None and last[1] is describable and last[0] == matched:
            return last[2]
        visible = frozenset(filter(describable, matched))
        self._visible[pattern] = (matched, describable, visible)
        return visible

    def all_subscribed_names(self, topics: Iterable[str], resolve: RegexResolver) -> frozenset[str]:
        """Every topic name some member subscribes to."""
        names = frozenset(topics)  # one set for every member's regex (see regex.resolve)
        out: set[str] = set()
        for member in self.members.values():
            out |= self.subscribed_names(member, names, resolve)
        return frozenset(out)

    def is_subscribed_to(self, topic: str) -> bool:
        """Kafka's C{isSubscribedToTopic}: offsets of such topics do not expire."""
        return topic in self.subscription_metadata

    def preferred_assignor(self, default: str) -> str:
        """Kafka's C{preferredServerAssignor}: the one most members ask for, else C{default}."""
        counts = Counter(m.server_assignor for m in self.members.values() if m.server_assignor)
        if not counts:
            return default
        best = max(counts.values())
        return min(name for name, c in counts.items() if c == best)

    # -- offsets ----------------------------------------------------------------

    def validate_offset_commit(
        self, member_id: str, member_epoch: int, api_version: int, *, transactional: bool = False
    ) -> ErrorCode | None:
        """
        Kafka's C{ConsumerGroup.validateOffsetCommit}; a member of the classic
        protocol commits with any version and its generation.

        A commit without a member epoch is accepted from an empty group (the
        admin client, a standalone consumer); a TxnOffsetCommit that names no
        member is accepted too.
        """
        if member_epoch < 0 and not self.members:
            return None
        if transactional and member_epoch == -1 and not member_id:
            return None
        member = self.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        classic = member.uses_classic_protocol
        if not transactional and not classic and api_version < 9:
            return ErrorCode.UNSUPPORTED_VERSION
        if member_epoch != member.member_epoch:
            # A classic member's generation is its member epoch.
            return ErrorCode.ILLEGAL_GENERATION if classic else ErrorCode.STALE_MEMBER_EPOCH
        return None

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> ErrorCode | None:
        """Kafka's C{ConsumerGroup.validateOffsetFetch} (OffsetFetch v9+ with a member epoch)."""
        if member_id is None and member_epoch < 0:
            return None
        member = self.members.get(member_id or "")
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return None
