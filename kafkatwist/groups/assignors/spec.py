"""
What a server-side assignor (KIP-848) sees and returns.

After Kafka's C{org.apache.kafka.coordinator.group.api.assignor}:
C{GroupSpec}, C{MemberSubscription}, C{SubscribedTopicDescriber},
C{GroupAssignment} and C{PartitionAssignor}. The consumer group coordinator
(L{kafkatwist.groups.consumer}) builds a L{GroupSpec} from its members and
calls L{Assignor.assign} whenever the group epoch moves past the target
assignment epoch; the result becomes the new target assignment.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import Protocol

from attrs import frozen

#: Partitions by topic id: a member's assignment, current or target.
Assignment = Mapping[uuid.UUID, frozenset[int]]


class SubscriptionType(enum.Enum):
    """Kafka's C{SubscriptionType}: whether every member subscribes to the same topics."""

    HOMOGENEOUS = "homogeneous"
    HETEROGENEOUS = "heterogeneous"


@frozen
class MemberSubscription:
    """One member as the assignor sees it (Kafka's C{MemberSubscription})."""

    #: The member's rack (C{client.rack}), None when unset.
    rack_id: str | None
    #: The ids of the topics it subscribes to (regex subscriptions already resolved).
    subscribed_topic_ids: frozenset[uuid.UUID]
    #: Its current target assignment, for sticky assignors.
    assignment: Assignment
    #: The static member's instance id, None for a dynamic member.
    instance_id: str | None = None


@frozen
class GroupSpec:
    """The members of a group and how they subscribe (Kafka's C{GroupSpec})."""

    #: By member id.
    members: Mapping[str, MemberSubscription]
    subscription_type: SubscriptionType


class TopicDescriber(Protocol):
    """Kafka's C{SubscribedTopicDescriber}: the subscribed topics' shapes."""

    def partition_count(self, topic_id: uuid.UUID) -> int:
        """How many partitions C{topic_id} has, -1 if the topic is unknown."""

    def racks_for_partition(self, topic_id: uuid.UUID, partition: int) -> frozenset[str]:
        """The racks of the partition's replicas (empty when racks are unknown)."""


class Assignor(Protocol):
    """Kafka's C{PartitionAssignor}: a named server-side assignment strategy."""

    #: The name clients ask for in C{ServerAssignor} (C{"uniform"}, C{"range"}).
    name: str

    def assign(self, group: GroupSpec, topics: TopicDescriber) -> dict[str, Assignment]:
        """
        The target assignment of every member of C{group}.

        Every member id of C{group} is a key of the result (with an empty
        assignment if it gets nothing); no partition goes to two members.
        Raises L{PartitionAssignorError} when it cannot assign.
        """


class PartitionAssignorError(Exception):
    """Kafka's C{PartitionAssignorException}: the assignor could not assign."""
