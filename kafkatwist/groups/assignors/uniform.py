"""
The C{uniform} assignor: Kafka's C{UniformAssignor}, balanced first, sticky second.

When every member subscribes to the same topics (L{SubscriptionType.HOMOGENEOUS})
it runs Kafka's C{UniformHomogeneousAssignmentBuilder}, here in
L{assign_homogeneous}: the partitions are spread so that no two members'
counts differ by more than one, each member keeps as much of its current
assignment as its quota allows, and the rest go out in topic order
(L{java_hash_set_order}, the order Kafka's C{HashSet} walks) to the members
below their quota, in member order. Otherwise it runs the heterogeneous
builder (L{kafkatwist.groups.assignors.heterogeneous}).

Like Kafka 4.x, the assignor does not use racks: C{UniformAssignor} calls an
assignment "potentially rack aware" but neither builder reads
C{SubscribedTopicDescriber.racksForPartition}.
"""

from __future__ import annotations

import uuid

from kafkatwist.groups.assignors.heterogeneous import assign_heterogeneous
from kafkatwist.groups.assignors.ordering import java_hash_set_order
from kafkatwist.groups.assignors.spec import (
    Assignment,
    GroupSpec,
    PartitionAssignorError,
    SubscriptionType,
    TopicDescriber,
)


def partition_counts(group: GroupSpec, topics: TopicDescriber) -> dict[uuid.UUID, int]:
    """
    The partition count of every topic some member subscribes to.

    Raises L{PartitionAssignorError} for a topic the describer does not know,
    as Kafka's builders do.
    """
    counts: dict[uuid.UUID, int] = {}
    for member in group.members.values():
        for topic_id in member.subscribed_topic_ids:
            if topic_id in counts:
                continue
            count = topics.partition_count(topic_id)
            if count == -1:
                raise PartitionAssignorError(
                    f"Members are subscribed to topic {topic_id}"
                    " which doesn't exist in the topic metadata."
                )
            counts[topic_id] = count
    return counts


def assign_homogeneous(group: GroupSpec, topics: TopicDescriber) -> dict[str, Assignment]:
    """Kafka's C{UniformHomogeneousAssignmentBuilder.build}."""
    members = group.members
    empty: dict[str, Assignment] = {member_id: {} for member_id in members}
    if not members:
        return empty
    subscribed = next(iter(members.values())).subscribed_topic_ids
    if not subscribed:
        return empty
    counts = partition_counts(group, topics)
    order = java_hash_set_order(subscribed)

    # Who holds what now: a partition held twice, or beyond the topic's
    # partition count, counts once and for its first holder only.
    held: dict[uuid.UUID, set[int]] = {topic_id: set() for topic_id in order}
    kept: dict[str, dict[uuid.UUID, list[int]]] = {}
    for member_id, member in members.items():
        mine: dict[uuid.UUID, list[int]] = {}
        for topic_id, partitions in member.assignment.items():
            taken = held.get(topic_id)
            if taken is None:
                continue
            count = counts[topic_id]
            valid = [p for p in sorted(partitions) if p < count and p not in taken]
            taken.update(valid)
            if valid:
                mine[topic_id] = valid
        kept[member_id] = mine

    unassigned: list[tuple[uuid.UUID, int]] = [
        (topic_id, partition)
        for topic_id in order
        for partition in range(counts[topic_id])
        if partition not in held[topic_id]
    ]
    total = sum(counts[topic_id] for topic_id in order)
    minimum, extra = divmod(total, len(members))

    result: dict[str, Assignment] = {}
    unfilled: list[tuple[str, int]] = []
    for member_id, member in members.items():
        quota = minimum
        if extra > 0:
            quota += 1
            extra -= 1
        new: dict[uuid.UUID, frozenset[int]] = {}
        for topic_id, keep in kept[member_id].items():
            if len(keep) <= quota:
                quota -= len(keep)
                new[topic_id] = frozenset(keep)
                continue
            if quota > 0:
                new[topic_id] = frozenset(keep[:quota])
            unassigned.extend((topic_id, partition) for partition in keep[quota:])
            quota = 0
        if quota > 0:
            unfilled.append((member_id, quota))
        result[member_id] = member.assignment if new == member.assignment else new

    position = 0
    for member_id, quota in unfilled:
        grown: dict[uuid.UUID, set[int]] = {t: set(p) for t, p in result[member_id].items()}
        for topic_id, partition in unassigned[position : position + quota]:
            grown.setdefault(topic_id, set()).add(partition)
        position += quota
        result[member_id] = {topic_id: frozenset(p) for topic_id, p in grown.items()}
    if position < len(unassigned):
        raise PartitionAssignorError("Partitions were left unassigned")
    return result


class UniformAssignor:
    """Kafka's C{UniformAssignor} (C{group.consumer.assignors} name C{uniform}, the default)."""

    name = "uniform"

    def assign(self, group: GroupSpec, topics: TopicDescriber) -> dict[str, Assignment]:
        """The target assignment of every member of C{group}."""
        if group.subscription_type is SubscriptionType.HOMOGENEOUS:
            return assign_homogeneous(group, topics)
        return assign_heterogeneous(group, partition_counts(group, topics))
