"""What the assignor tests share: Kafka's topic ids, a topic describer, the validity checks."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping

from attrs import field, frozen

from kafkatwist.groups.assignors.spec import (
    Assignment,
    GroupSpec,
    MemberSubscription,
    SubscriptionType,
)


def kafka_uuid(text: str) -> uuid.UUID:
    """Kafka's C{Uuid.fromString}: URL-safe base64 of the 16 bytes, unpadded."""
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))


#: The topic ids of Kafka's C{UniformHeterogeneousAssignmentBuilderTest} and its homogeneous twin.
TOPIC1 = kafka_uuid("T1-A4s3VTwiI5CTbEp6POw")
TOPIC2 = kafka_uuid("T2-B4s3VTwiI5YHbPp6YUe")
TOPIC3 = kafka_uuid("T3-CU8fVTLCz5YMkLoDQsa")
TOPIC4 = kafka_uuid("T4-Tw9fVTLCz5HbPp6YQsa")


@frozen
class Topics:
    """A L{kafkatwist.groups.assignors.spec.TopicDescriber} over fixed partition counts."""

    counts: Mapping[uuid.UUID, int]
    racks: Mapping[tuple[uuid.UUID, int], frozenset[str]] = field(factory=dict)

    def partition_count(self, topic_id: uuid.UUID) -> int:
        """The topic's partition count, -1 when unknown."""
        return self.counts.get(topic_id, -1)

    def racks_for_partition(self, topic_id: uuid.UUID, partition: int) -> frozenset[str]:
        """The partition's replica racks (none unless given)."""
        return self.racks.get((topic_id, partition), frozenset())


def member(
    topics: Iterable[uuid.UUID],
    assignment: Mapping[uuid.UUID, Iterable[int]] | None = None,
    instance_id: str | None = None,
) -> MemberSubscription:
    """A member subscribed to C{topics} holding C{assignment} (in the order given)."""
    held = {t: frozenset(p) for t, p in (assignment or {}).items()}
    return MemberSubscription(
        rack_id=None,
        subscribed_topic_ids=frozenset(topics),
        assignment=held,
        instance_id=instance_id,
    )


def group(members: Mapping[str, MemberSubscription], homogeneous: bool) -> GroupSpec:
    """A group of C{members}, in the order given."""
    kind = SubscriptionType.HOMOGENEOUS if homogeneous else SubscriptionType.HETEROGENEOUS
    return GroupSpec(members=dict(members), subscription_type=kind)


def plain(result: Mapping[str, Assignment]) -> dict[str, dict[uuid.UUID, set[int]]]:
    """An assignment as plain dicts and sets, empty topics dropped, for C{assertEqual}."""
    return {m: {t: set(p) for t, p in a.items() if p} for m, a in result.items()}


def problems(
    members: Mapping[str, MemberSubscription], result: Mapping[str, Assignment]
) -> list[str]:
    """
    What breaks Kafka's C{checkValidityAndBalance}: every member subscribes to
    the topics of its partitions, no partition is assigned twice, no two
    members' sizes differ by more than one.
    """
    found: list[str] = []
    seen: dict[tuple[uuid.UUID, int], str] = {}
    for member_id, assignment in result.items():
        for topic_id, partitions in assignment.items():
            if topic_id not in members[member_id].subscribed_topic_ids:
                found.append(f"{member_id} holds unsubscribed {topic_id}")
            for partition in partitions:
                owner = seen.setdefault((topic_id, partition), member_id)
                if owner != member_id:
                    found.append(f"{topic_id}-{partition} held by {owner} and {member_id}")
    sizes = [sum(len(p) for p in a.values()) for a in result.values()]
    if sizes and max(sizes) - min(sizes) > 1:
        found.append(f"unbalanced sizes {sizes}")
    return found
