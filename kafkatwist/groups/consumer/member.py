"""A member of a consumer group (KIP-848), and the assignments it holds.

After Kafka's C{ConsumerGroupMember} and C{MemberState}
(group-coordinator C{modern/}): a member is an immutable value; every
change builds a new one (C{attrs.evolve}), so the coordinator can compare
the member before and after a heartbeat to know which records to write.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping

import attrs
from attrs import frozen

#: Partitions by topic id (Kafka's C{Map<Uuid, Set<Integer>>}).
Assignment = Mapping[uuid.UUID, frozenset[int]]

#: The member epoch of a request joining the group.
JOIN_GROUP_MEMBER_EPOCH = 0
#: The member epoch of a request leaving the group.
LEAVE_GROUP_MEMBER_EPOCH = -1
#: The member epoch of a static member leaving for now (it will rejoin with its instance id).
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2


class MemberState(enum.IntEnum):
    """Kafka's C{MemberState}; the value is the byte the current-assignment record stores."""

    #: Reconciled to the target assignment.
    STABLE = 0
    #: Must revoke partitions before moving to the next epoch.
    UNREVOKED_PARTITIONS = 1
    #: At the target epoch, waiting for partitions that others still own.
    UNRELEASED_PARTITIONS = 2
    #: A state a newer coordinator wrote: the member is fenced.
    UNKNOWN = 127

    @classmethod
    def of(cls, value: int) -> MemberState:
        """Kafka's C{fromValue}: UNKNOWN for a value it does not know."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


def freeze(assignment: Mapping[uuid.UUID, Iterable[int]]) -> dict[uuid.UUID, frozenset[int]]:
    """An assignment without empty topics, its partition sets frozen."""
    return {t: frozenset(ps) for t, ps in assignment.items() if ps}


def is_subset(owned: Iterable[tuple[uuid.UUID, Iterable[int]]], of: Assignment) -> bool:
    """Whether every owned partition is in C{of} (Kafka's C{isSubset})."""
    for topic_id, partitions in owned:
        held = of.get(topic_id, frozenset())
        if any(p not in held for p in partitions):
            return False
    return True


def partition_count(assignment: Assignment) -> int:
    """How many partitions an assignment holds."""
    return sum(len(ps) for ps in assignment.values())


@frozen
class ClassicMetadata:
    """
    Kafka's C{ClassicMemberMetadata}: what a member of the classic protocol
    inside a consumer group sent in its JoinGroup.
    """

    session_timeout_ms: int
    #: (name, metadata) in the member's order of preference.
    protocols: tuple[tuple[str, bytes], ...]


@frozen
class ConsumerGroupMember:
    """One member of a consumer group, as Kafka's C{ConsumerGroupMember} holds it."""

    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    #: The partitions the member owns (or may own).
    assigned_partitions: Assignment = attrs.field(factory=dict)
    #: The partitions the member must revoke.
    partitions_pending_revocation: Assignment = attrs.field(factory=dict)
    #: Set for a member of the classic protocol (JoinGroup/SyncGroup/Heartbeat).
    classic: ClassicMetadata | None = None

    @property
    def uses_classic_protocol(self) -> bool:
        """Kafka's C{useClassicProtocol}."""
        return self.classic is not None

    def is_reconciled_to(self, target_epoch: int) -> bool:
        """Kafka's C{isReconciledTo}: STABLE at the target assignment epoch."""
        return self.state == MemberState.STABLE and self.member_epoch == target_epoch

    def with_epoch(self, epoch: int) -> ConsumerGroupMember:
        """Kafka's C{Builder.updateMemberEpoch}: the previous epoch becomes the current one's."""
        return attrs.evolve(self, member_epoch=epoch, previous_member_epoch=self.member_epoch)

    def subscription(self) -> tuple[object, ...]:
        """What the member-subscription record holds: a change means a new record."""
        return (
            self.instance_id,
            self.rack_id,
            self.client_id,
            self.client_host,
            self.subscribed_topic_names,
            self.subscribed_topic_regex,
            self.server_assignor,
            self.rebalance_timeout_ms,
            self.classic,
        )

    def current_assignment(self) -> tuple[object, ...]:
        """What the current-assignment record holds: a change means a new record."""
        return (
            self.member_epoch,
            self.previous_member_epoch,
            self.state,
            self.assigned_partitions,
            self.partitions_pending_revocation,
        )
