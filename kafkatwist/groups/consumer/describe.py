"""ConsumerGroupDescribe for one group (Kafka's C{ConsumerGroup.asDescribedGroup})."""

from __future__ import annotations

from kafkatwist.errors import ErrorCode
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.member import Assignment, ConsumerGroupMember
from kafkatwist.groups.state import GroupTable
from kafkatwist.messages.consumer_group_describe import (
    Assignment as DescribedAssignment,
)
from kafkatwist.messages.consumer_group_describe import (
    DescribedGroup,
    Member,
    TopicPartitions,
)
from kafkatwist.storage.metadata_image import MetadataImage

#: C{MemberType} of ConsumerGroupDescribe v1: a member of the consumer protocol.
CONSUMER_MEMBER = 1
#: ... and a member of the classic protocol.
CLASSIC_MEMBER = 0


def not_found(group_id: str, message: str) -> DescribedGroup:
    """The answer for an unknown group, or one of another type."""
    return DescribedGroup(
        error_code=int(ErrorCode.GROUP_ID_NOT_FOUND),
        error_message=message,
        group_id=group_id,
        group_state="Dead",
    )


def _described(assignment: Assignment, image: MetadataImage) -> DescribedAssignment:
    """An assignment with topic names; topics no longer in the metadata are left out."""
    topics = []
    for topic_id, partitions in sorted(assignment.items()):
        topic = image.topics_by_id.get(topic_id)
        if topic is not None:
            topics.append(
                TopicPartitions(
                    topic_id=topic_id, topic_name=topic.name, partitions=tuple(sorted(partitions))
                )
            )
    return DescribedAssignment(topic_partitions=tuple(topics))


def _member(group: ConsumerGroup, m: ConsumerGroupMember, image: MetadataImage) -> Member:
    return Member(
        member_id=m.member_id,
        instance_id=m.instance_id,
        rack_id=m.rack_id,
        member_epoch=m.member_epoch,
        client_id=m.client_id,
        client_host=m.client_host,
        subscribed_topic_names=m.subscribed_topic_names,
        subscribed_topic_regex=m.subscribed_topic_regex,
        assignment=_described(m.assigned_partitions, image),
        target_assignment=_described(group.target_assignment.get(m.member_id, {}), image),
        member_type=CONSUMER_MEMBER if m.classic is None else CLASSIC_MEMBER,
    )


def describe(group: ConsumerGroup, image: MetadataImage, default_assignor: str) -> DescribedGroup:
    """
    The group as ConsumerGroupDescribe answers it; its C{authorized_operations}
    is left "not asked for" (the handler fills it in from the authorizer).
    """
    return DescribedGroup(
        group_id=group.group_id,
        group_state=group.state.value,
        group_epoch=group.group_epoch,
        assignment_epoch=group.assignment_epoch,
        assignor_name=group.preferred_assignor(default_assignor),
        members=tuple(_member(group, m, image) for m in group.members.values()),
    )


def describe_id(
    table: GroupTable,
    image: MetadataImage,
    default_assignor: str,
    group_id: str,
) -> DescribedGroup:
    """ConsumerGroupDescribe for one group id: the group, or why it is not described."""
    if (refused := table.error(group_id)) is not None:
        return DescribedGroup(error_code=int(refused), group_id=group_id)
    group = table.consumer_groups.get(group_id)
    if group is None:
        if group_id in table.groups:
            return not_found(group_id, f"Group {group_id} is not a consumer group.")
        return not_found(group_id, f"Group {group_id} not found.")
    return describe(group, image, default_assignor)
