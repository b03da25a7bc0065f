"""Reconciling a member towards its target assignment (Kafka's C{CurrentAssignmentBuilder}).

A member moves between three states:

* STABLE: it holds its whole target assignment at the target epoch;
* UNREVOKED_PARTITIONS: it must give up partitions first; it stays at its
  epoch until a heartbeat no longer lists them as owned;
* UNRELEASED_PARTITIONS: it is at the target epoch but some of its target
  partitions are still held (assigned or pending revocation) by another
  member; it gets them once they are released.

So a partition is handed to its new owner only after its previous owner
revoked it. A member in the UNKNOWN state (written by a newer coordinator)
is fenced unless it owns nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import attrs

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.consumer.member import Assignment, ConsumerGroupMember, MemberState

#: The epoch of the member owning a partition, -1 when it is free.
PartitionEpoch = Callable[[uuid.UUID, int], int]
#: Owned partitions as a heartbeat reports them: (topic id, partitions); None when not sent.
Owned = Sequence[tuple[uuid.UUID, Sequence[int]]] | None


def reconcile(
    member: ConsumerGroupMember,
    target_epoch: int,
    target: Assignment,
    partition_epoch: PartitionEpoch,
    owned: Owned,
    subscribed_topic_ids: frozenset[uuid.UUID],
) -> ConsumerGroupMember:
    """
    The member's next state (Kafka's C{CurrentAssignmentBuilder.build}).

    @param owned: The partitions the heartbeat reports owned (None: not sent).
    @param subscribed_topic_ids: The topics the member subscribes to now: the
        target of any other topic is treated as empty.
    @raise KafkaError: FENCED_MEMBER_EPOCH for a member in the UNKNOWN state
        that still owns (or may own) partitions.
    """
    state = member.state
    if state == MemberState.STABLE:
        if member.member_epoch != target_epoch:
            return _next(member, target_epoch, target, partition_epoch, owned, subscribed_topic_ids)
        return member
    if state == MemberState.UNREVOKED_PARTITIONS:
        if _owns_any(owned, member.partitions_pending_revocation):
            return member
        return _next(member, target_epoch, target, partition_epoch, owned, subscribed_topic_ids)
    if state == MemberState.UNRELEASED_PARTITIONS:
        return _next(member, target_epoch, target, partition_epoch, owned, subscribed_topic_ids)
    if owned is None or len(owned) > 0:
        raise KafkaError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            "The consumer group member is in a unknown state. "
            "The member must abandon all its partitions and rejoin.",
        )
    return _next(
        attrs.evolve(member, member_epoch=target_epoch),
        target_epoch,
        target,
        partition_epoch,
        owned,
        subscribed_topic_ids,
    )


def _owns_any(owned: Owned, assignment: Assignment) -> bool:
    """Kafka's C{ownsRevokedPartitions}: unknown ownership (None) counts as owning."""
    if owned is None:
        return True
    for topic_id, partitions in owned:
        pending = assignment.get(topic_id)
        if pending and any(p in pending for p in partitions):
            return True
    return False


def _next(
    member: ConsumerGroupMember,
    target_epoch: int,
    target: Assignment,
    partition_epoch: PartitionEpoch,
    owned: Owned,
    subscribed: frozenset[uuid.UUID],
) -> ConsumerGroupMember:
    """Kafka's C{computeNextAssignment}."""
    current = member.assigned_partitions
    own_pending = member.partitions_pending_revocation
    unreleased = False
    assigned: dict[uuid.UUID, frozenset[int]] = {}
    revoking: dict[uuid.UUID, frozenset[int]] = {}
    to_assign: dict[uuid.UUID, frozenset[int]] = {}
    for topic_id in set(target) | set(current):
        wanted = target.get(topic_id, frozenset()) if topic_id in subscribed else frozenset()
        held = current.get(topic_id, frozenset())
        kept = held & wanted
        gone = held - kept
        mine = own_pending.get(topic_id, frozenset())
        free = set()
        for p in wanted - kept:
            if partition_epoch(topic_id, p) != -1 and p not in mine:
                unreleased = True
            else:
                free.add(p)
        if kept:
            assigned[topic_id] = kept
        if gone:
            revoking[topic_id] = gone
        if free:
            to_assign[topic_id] = frozenset(free)
    if revoking and _owns_any(owned, revoking):
        return attrs.evolve(
            member.with_epoch(member.member_epoch),
            state=MemberState.UNREVOKED_PARTITIONS,
            assigned_partitions=assigned,
            partitions_pending_revocation=revoking,
        )
    for topic_id, partitions in to_assign.items():
        assigned[topic_id] = assigned.get(topic_id, frozenset()) | partitions
    return attrs.evolve(
        member.with_epoch(target_epoch),
        state=MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE,
        assigned_partitions=assigned,
        partitions_pending_revocation={},
    )
