"""
Kafka's C{UniformHeterogeneousAssignmentBuilder}: the C{uniform} assignor when subscriptions differ.

Three steps, as Kafka's:
  1. every member keeps the partitions of its current assignment that are
     still in its subscription;
  2. the partitions nobody holds go, topic by topic, to the least loaded
     subscribers of their topic (fewest partitions first, then member
     order);
  3. partitions move from the most to the least loaded subscribers of each
     topic until no topic's subscribers differ by more than one partition,
     for at most C{MAX_ITERATION_COUNT} passes over the topics.

Topics are visited by partitions per subscriber (descending), then by
subscriber count (ascending), then by topic id (Kafka's C{Uuid.compareTo}).
Members are numbered in the order of L{GroupSpec.members}.
"""

from __future__ import annotations

import uuid
from fractions import Fraction

from kafkatwist.groups.assignors.ordering import java_uuid_key
from kafkatwist.groups.assignors.spec import Assignment, GroupSpec

#: Kafka's C{MAX_ITERATION_COUNT}: passes of the final balancing over the topics.
MAX_ITERATION_COUNT = 16


class _Balancer:
    """
    Kafka's C{MemberAssignmentBalancer}: the least and most loaded ranges of a topic's subscribers.

    C{sorted} holds the subscribers by size; the least loaded range
    C{[0, least_end)} grows rightwards as its members receive partitions and
    the most loaded range C{[most_start, most_end)} grows leftwards as its
    members give them up. The topic is balanced once the two ranges' counts
    differ by one or less.
    """

    def __init__(self, sizes: list[int]) -> None:
        self._sizes = sizes
        self._sorted: list[int] = []
        self._least_end = 0
        self._least_count = -1
        self._next_least = 0
        self._most_start = 0
        self._most_end = 0
        self._most_count = 1
        self._next_most = -1

    def initialize(self, members: list[int]) -> int:
        """Start over with C{members}; answer the spread between the largest and smallest."""
        sizes = self._sizes
        self._sorted = sorted(members, key=lambda m: (sizes[m], m))
        count = len(self._sorted)
        self._least_end = 0
        self._least_count = sizes[self._sorted[0]] - 1
        self._next_least = 0
        self._most_start = count
        self._most_end = count
        self._most_count = sizes[self._sorted[-1]] + 1
        self._next_most = count - 1
        return sizes[self._sorted[-1]] - sizes[self._sorted[0]]

    def next_least_loaded(self) -> int:
        """The member to give the next partition to, as if it had received it."""
        if self._next_least >= self._least_end:
            self._least_count += 1
            while (
                self._least_end < len(self._sorted)
                and self._sizes[self._sorted[self._least_end]] == self._least_count
            ):
                self._least_end += 1
            self._next_least = 0
        member = self._sorted[self._next_least]
        self._next_least += 1
        return member

    def next_most_loaded(self) -> int:
        """The member to take the next partition from, as if it had given it; -1 if none."""
        if self._next_most < self._most_start:
            if self._most_end <= self._most_start and self._most_start > 0:
                self._most_count = self._sizes[self._sorted[self._most_start - 1]]
            else:
                self._most_count -= 1
            while (
                self._most_start > 0
                and self._sizes[self._sorted[self._most_start - 1]] == self._most_count
            ):
                self._most_start -= 1
            self._next_most = self._most_end - 1
        if self._next_most < 0:
            return -1
        member = self._sorted[self._next_most]
        self._next_most -= 1
        return member

    def exclude_most_loaded(self) -> None:
        """Drop the member L{next_most_loaded} just answered from the most loaded range."""
        position = self._next_most + 1
        last = self._most_end - 1
        self._sorted[position], self._sorted[last] = self._sorted[last], self._sorted[position]
        self._most_end -= 1

    def is_balanced(self) -> bool:
        """Whether the two ranges differ by one partition or less."""
        return self._most_count - self._least_count <= 1


class _Builder:
    """One run of the heterogeneous builder over a group."""

    def __init__(self, group: GroupSpec, counts: dict[uuid.UUID, int]) -> None:
        self._group = group
        self._counts = counts
        self._member_ids = list(group.members)
        self._subscribers: dict[uuid.UUID, list[int]] = {}
        for index, member in enumerate(group.members.values()):
            for topic_id in member.subscribed_topic_ids:
                self._subscribers.setdefault(topic_id, []).append(index)
        self._sizes = [0] * len(self._member_ids)
        self._owners: dict[uuid.UUID, list[int]] = {t: [-1] * counts[t] for t in self._subscribers}
        self._assignments: list[Assignment] = []
        self._changed: list[dict[uuid.UUID, set[int]] | None] = []

    def _topic_key(self, topic_id: uuid.UUID) -> tuple[Fraction, int, tuple[int, int]]:
        subscribers = len(self._subscribers[topic_id])
        return -Fraction(self._counts[topic_id], subscribers), subscribers, java_uuid_key(topic_id)

    def _sorted_topics(self, topic_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        return sorted(topic_ids, key=self._topic_key)

    def build(self) -> dict[str, Assignment]:
        if not self._subscribers:
            return {member_id: {} for member_id in self._member_ids}
        self._keep_subscribed()
        unassigned = {
            topic_id: [p for p, owner in enumerate(owners) if owner == -1]
            for topic_id, owners in self._owners.items()
        }
        balancer = _Balancer(self._sizes)
        for topic_id in self._sorted_topics([t for t, parts in unassigned.items() if parts]):
            balancer.initialize(self._subscribers[topic_id])
            for partition in unassigned[topic_id]:
                self._assign(topic_id, partition, balancer.next_least_loaded())
        self._balance(balancer)
        result: dict[str, Assignment] = {}
        for index, member_id in enumerate(self._member_ids):
            changed = self._changed[index]
            if changed is None:
                result[member_id] = self._assignments[index]
            else:
                result[member_id] = {t: frozenset(p) for t, p in changed.items() if p}
        return result

    def _keep_subscribed(self) -> None:
        for index, member in enumerate(self._group.members.values()):
            changed: dict[uuid.UUID, set[int]] | None = None
            for topic_id, partitions in member.assignment.items():
                owners = self._owners.get(topic_id)
                if topic_id in member.subscribed_topic_ids and owners is not None:
                    valid = [p for p in partitions if p < len(owners) and owners[p] == -1]
                    for partition in valid:
                        owners[partition] = index
                    self._sizes[index] += len(valid)
                    if len(valid) == len(partitions):
                        continue
                if changed is None:
                    changed = {t: set(p) for t, p in member.assignment.items()}
                if topic_id in member.subscribed_topic_ids and owners is not None:
                    changed[topic_id] = {
                        p for p in partitions if p < len(owners) and owners[p] == index
                    }
                else:
                    del changed[topic_id]
            self._assignments.append(member.assignment)
            self._changed.append(changed)

    def _mutable(self, index: int) -> dict[uuid.UUID, set[int]]:
        changed = self._changed[index]
        if changed is None:
            changed = {t: set(p) for t, p in self._assignments[index].items()}
            self._changed[index] = changed
        return changed

    def _assign(self, topic_id: uuid.UUID, partition: int, index: int) -> None:
        owners = self._owners[topic_id]
        old = owners[partition]
        if old != -1:
            self._mutable(old)[topic_id].discard(partition)
            self._sizes[old] -= 1
        self._mutable(index).setdefault(topic_id, set()).add(partition)
        owners[partition] = index
        self._sizes[index] += 1

    def _balance(self, balancer: _Balancer) -> None:
        """Kafka's C{balance} and C{balanceTopics}: topic passes until one moves nothing."""
        topic_ids = self._sorted_topics(
            [t for t, subs in self._subscribers.items() if len(subs) >= 2]
        )
        if not topic_ids:
            return
        last_rebalanced = -1
        for _ in range(MAX_ITERATION_COUNT):
            for position, topic_id in enumerate(topic_ids):
                if position == last_rebalanced:
                    return
                moved = self._balance_topic(topic_id, balancer)
                if moved > 0 or last_rebalanced == -1:
                    last_rebalanced = position

    def _balance_topic(self, topic_id: uuid.UUID, balancer: _Balancer) -> int:
        """Kafka's C{balanceTopic}: move partitions from the most to the least loaded."""
        if balancer.initialize(self._subscribers[topic_id]) <= 1:
            return 0
        owners = self._owners[topic_id]
        partitions = sorted(range(len(owners)), key=lambda p: (owners[p], p))
        starts: dict[int, int] = {}
        ends: dict[int, int] = {}
        for position, partition in enumerate(partitions):
            starts.setdefault(owners[partition], position)
            ends[owners[partition]] = position + 1
        moved = 0
        while not balancer.is_balanced():
            most = balancer.next_most_loaded()
            while most != -1 and ends.get(most, 0) - starts.get(most, 0) <= 0:
                balancer.exclude_most_loaded()
                most = balancer.next_most_loaded()
            if most == -1:
                break
            ends[most] -= 1
            partition = partitions[ends[most]]
            least = balancer.next_least_loaded()
            if balancer.is_balanced():
                break
            self._assign(topic_id, partition, least)
            moved += 1
        return moved


def assign_heterogeneous(group: GroupSpec, counts: dict[uuid.UUID, int]) -> dict[str, Assignment]:
    """Kafka's C{UniformHeterogeneousAssignmentBuilder.build}, given the partition counts."""
    return _Builder(group, counts).build()
