"""
ConsumerGroupHeartbeat helpers for the KIP-848 tests, and a round-robin assignor test double.

The double plays the part of Kafka's own C{MockPartitionAssignor} in its
coordinator tests: assignments the state-machine tests can predict. The real
assignors have their own tests (tests/groups/assignors/) and serve the
integration tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from kafkatwist.apis import consumer_group_describe, consumer_group_heartbeat
from kafkatwist.groups.assignors.spec import Assignment, GroupSpec, TopicDescriber
from kafkatwist.messages.consumer_group_describe import (
    ConsumerGroupDescribeRequest,
    DescribedGroup,
)
from kafkatwist.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
    TopicPartitions,
)
from tests.brokers import call
from tests.groups.support import GroupBroker
from tests.storage.support import fired


class RoundRobin:
    """A test double assignor: partitions dealt round-robin over the sorted member ids."""

    name = "uniform"

    def assign(self, group: GroupSpec, topics: TopicDescriber) -> dict[str, Assignment]:
        out: dict[str, dict[uuid.UUID, set[int]]] = {m: {} for m in group.members}
        all_topics = sorted({t for m in group.members.values() for t in m.subscribed_topic_ids})
        i = 0
        for topic_id in all_topics:
            takers = sorted(
                m for m, s in group.members.items() if topic_id in s.subscribed_topic_ids
            )
            for p in range(topics.partition_count(topic_id)):
                out[takers[i % len(takers)]].setdefault(topic_id, set()).add(p)
                i += 1
        return {m: {t: frozenset(ps) for t, ps in a.items()} for m, a in out.items()}


def consumer_broker(**config: Any) -> GroupBroker:
    """A group broker whose consumer groups use the L{RoundRobin} double."""
    gb = GroupBroker(**config)
    gb.coordinator.consumer.assignors = {"uniform": RoundRobin()}
    return gb


Owned = Sequence[tuple[uuid.UUID, Sequence[int]]]


def heartbeat(
    gb: GroupBroker,
    group: str,
    member_id: str,
    epoch: int,
    *,
    topics: Sequence[str] | None = None,
    regex: str | None = None,
    owned: Owned | None = None,
    instance: str | None = None,
    rebalance: int = -1,
    version: int = 1,
) -> ConsumerGroupHeartbeatResponse:
    """Send one heartbeat and return its (already fired) response."""
    if epoch == 0:
        rebalance = 30000 if rebalance == -1 else rebalance
        owned = () if owned is None else owned
        if topics is None and regex is None:
            topics = ()
    req = ConsumerGroupHeartbeatRequest(
        group_id=group,
        member_id=member_id,
        member_epoch=epoch,
        instance_id=instance,
        rebalance_timeout_ms=rebalance,
        subscribed_topic_names=None if topics is None else tuple(topics),
        subscribed_topic_regex=regex,
        topic_partitions=None
        if owned is None
        else tuple(TopicPartitions(topic_id=t, partitions=tuple(ps)) for t, ps in owned),
    )
    response: ConsumerGroupHeartbeatResponse = fired(
        call(gb.broker, consumer_group_heartbeat.SPEC, req, version)
    )
    return response


def describe(gb: GroupBroker, group: str) -> DescribedGroup:
    """ConsumerGroupDescribe v1 of one group."""
    req = ConsumerGroupDescribeRequest(group_ids=(group,), include_authorized_operations=False)
    response = fired(call(gb.broker, consumer_group_describe.SPEC, req, 1))
    described: DescribedGroup = response.groups[0]
    return described


def assigned(response: ConsumerGroupHeartbeatResponse) -> list[tuple[uuid.UUID, list[int]]]:
    """The (topic id, partitions) of a heartbeat response's assignment."""
    assert response.assignment is not None
    return [(t.topic_id, list(t.partitions)) for t in response.assignment.topic_partitions]


def topic_id(gb: GroupBroker, name: str) -> uuid.UUID:
    """The id of a topic of the broker."""
    return gb.broker.metadata.image.topics[name].topic_id
