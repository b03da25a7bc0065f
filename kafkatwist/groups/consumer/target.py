"""Computing a consumer group's target assignment (Kafka's C{TargetAssignmentBuilder}).

The assignor sees every member's subscription (topic ids, regexes already
resolved), rack, instance id and current target; what it returns becomes
the target assignment for the group epoch. Only the members whose target
changed get a record, then the assignment epoch record follows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from attrs import frozen

from kafkatwist.groups.assignors.spec import (
    Assignor,
    GroupSpec,
    MemberSubscription,
    SubscriptionType,
)
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.member import Assignment, ConsumerGroupMember, freeze
from kafkatwist.storage.metadata_image import MetadataImage


@frozen
class ImageTopics:
    """Kafka's C{SubscribedTopicDescriberImpl} over the metadata image (no racks on one broker)."""

    _image: MetadataImage

    def partition_count(self, topic_id: uuid.UUID) -> int:
        topic = self._image.topics_by_id.get(topic_id)
        return len(topic.partitions) if topic is not None else -1

    def racks_for_partition(self, topic_id: uuid.UUID, partition: int) -> frozenset[str]:
        return frozenset()


def subscription_type(subscriptions: Mapping[str, frozenset[uuid.UUID]]) -> SubscriptionType:
    """HOMOGENEOUS when every member subscribes to the same topics (Kafka's C{subscriptionType})."""
    distinct = set(subscriptions.values())
    return SubscriptionType.HOMOGENEOUS if len(distinct) <= 1 else SubscriptionType.HETEROGENEOUS


def compute_target(
    group_id: str,
    epoch: int,
    members: Mapping[str, ConsumerGroupMember],
    subscriptions: Mapping[str, frozenset[uuid.UUID]],
    current: Mapping[str, Assignment],
    assignor: Assignor,
    image: MetadataImage,
) -> tuple[dict[str, Assignment], list[crec.Record]]:
    """
    The new target assignment of every member, and the records that store it.

    @param subscriptions: member id -> the topic ids it subscribes to.
    @param current: member id -> its target assignment so far.
    @raise kafkatwist.groups.assignors.spec.PartitionAssignorError: From the assignor.
    """
    spec = GroupSpec(
        members={
            mid: MemberSubscription(
                rack_id=member.rack_id,
                subscribed_topic_ids=subscriptions[mid],
                assignment=current.get(mid, {}),
                instance_id=member.instance_id,
            )
            for mid, member in members.items()
        },
        subscription_type=subscription_type(subscriptions),
    )
    result = assignor.assign(spec, ImageTopics(image))
    target: dict[str, Assignment] = {}
    records: list[crec.Record] = []
    for mid in members:
        new = freeze(result.get(mid, {}))
        target[mid] = new
        if freeze(current.get(mid, {})) != new:
            records.append(crec.target_member_record(group_id, mid, new))
    records.append(crec.target_epoch_record(group_id, epoch))
    return target, records
