"""
The C{range} assignor: Kafka's server-side C{RangeAssignor} (KIP-848).

Each topic's partitions are cut into contiguous ranges, one per subscriber:
C{partitions // subscribers} each, one more for the first
C{partitions % subscribers}. Subscribers take their ranges in one order for
every topic, so when all members subscribe to the same topics and those
have the same partition count, a member gets the same partition numbers of
every topic (co-partitioning, for joins).

The order is Kafka 4.x's C{sortMemberIds}: static members first, by
C{group.instance.id}, then the others by member id. That is where its
stickiness comes from: a static member that rejoins under a new member id
gets its ranges back, as long as the members, their subscriptions and the
topics have not changed. It does not look at the current assignment, and
does not use racks.
"""

from __future__ import annotations

import uuid

from kafkatwist.groups.assignors.spec import (
    Assignment,
    GroupSpec,
    MemberSubscription,
    PartitionAssignorError,
    TopicDescriber,
)


def _member_order(item: tuple[str, MemberSubscription]) -> tuple[int, str]:
    """Kafka's C{sortMemberIds}: instance ids first, in order, then member ids."""
    member_id, member = item
    if member.instance_id is not None:
        return 0, member.instance_id
    return 1, member_id


class RangeAssignor:
    """Kafka's server-side C{RangeAssignor} (C{group.consumer.assignors} name C{range})."""

    name = "range"

    def assign(self, group: GroupSpec, topics: TopicDescriber) -> dict[str, Assignment]:
        """
        The target assignment of every member of C{group}.

        Homogeneous and heterogeneous groups take the same path here: Kafka's
        two paths differ only in how they count a topic's subscribers.
        """
        ordered = sorted(group.members.items(), key=_member_order)
        counts: dict[uuid.UUID, int] = {}
        subscribers: dict[uuid.UUID, int] = {}
        for _, member in ordered:
            for topic_id in member.subscribed_topic_ids:
                if topic_id not in counts:
                    count = topics.partition_count(topic_id)
                    if count == -1:
                        raise PartitionAssignorError("Member is subscribed to a non-existent topic")
                    counts[topic_id] = count
                subscribers[topic_id] = subscribers.get(topic_id, 0) + 1
        # Per topic: the next range's start, the quota and the extra partitions left.
        cursor = {t: 0 for t in counts}
        extra = {t: counts[t] % subscribers[t] for t in counts}
        result: dict[str, Assignment] = {}
        for member_id, member in ordered:
            assignment: dict[uuid.UUID, frozenset[int]] = {}
            for topic_id in member.subscribed_topic_ids:
                quota = counts[topic_id] // subscribers[topic_id]
                if extra[topic_id] > 0:
                    quota += 1
                    extra[topic_id] -= 1
                start = cursor[topic_id]
                end = min(start + quota, counts[topic_id])
                cursor[topic_id] = end
                if start < end:
                    assignment[topic_id] = frozenset(range(start, end))
            result[member_id] = assignment
        return {member_id: result[member_id] for member_id in group.members}
