"""Replaying consumer group records into the groups (Kafka's C{GroupMetadataManager.replay})."""

from __future__ import annotations

import attrs

from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.member import ConsumerGroupMember
from kafkatwist.messages import group_coordinator_records as m


def replay(groups: dict[str, ConsumerGroup], record: crec.Decoded) -> None:
    """Apply one decoded consumer group record to C{groups}."""
    gid, value = record.group_id, record.value
    group = groups.get(gid)
    if group is None:
        if value is None:
            return
        group = groups[gid] = ConsumerGroup(gid)
    mid = record.member_id or ""
    if isinstance(value, m.ConsumerGroupMetadataValue):
        group.group_epoch = value.epoch
    elif isinstance(value, m.ConsumerGroupPartitionMetadataValue):
        group.subscription_metadata = {
            t.topic_name: (t.topic_id, t.num_partitions) for t in value.topics
        }
    elif isinstance(value, m.ConsumerGroupMemberMetadataValue):
        old = group.members.get(mid) or ConsumerGroupMember(mid)
        group.update_member(
            attrs.evolve(
                old,
                instance_id=value.instance_id,
                rack_id=value.rack_id,
                client_id=value.client_id,
                client_host=value.client_host,
                subscribed_topic_names=tuple(value.subscribed_topic_names),
                subscribed_topic_regex=value.subscribed_topic_regex,
                rebalance_timeout_ms=value.rebalance_timeout_ms,
                server_assignor=value.server_assignor,
                classic=crec.classic_of(value),
            )
        )
    elif isinstance(value, m.ConsumerGroupTargetAssignmentMetadataValue):
        group.assignment_epoch = value.assignment_epoch
    elif isinstance(value, m.ConsumerGroupTargetAssignmentMemberValue):
        group.target_assignment[mid] = crec.assignment_of(value.topic_partitions)
    elif isinstance(value, m.ConsumerGroupCurrentMemberAssignmentValue):
        old = group.members.get(mid) or ConsumerGroupMember(mid)
        group.update_member(
            attrs.evolve(
                old,
                member_epoch=value.member_epoch,
                previous_member_epoch=value.previous_member_epoch,
                state=crec.state_of(value),
                assigned_partitions=crec.assignment_of(value.assigned_partitions),
                partitions_pending_revocation=crec.assignment_of(
                    value.partitions_pending_revocation
                ),
            )
        )
    elif value is None:
        _replay_tombstone(groups, group, record.record_type, mid)


def _replay_tombstone(
    groups: dict[str, ConsumerGroup], group: ConsumerGroup, record_type: int, mid: str
) -> None:
    if record_type == crec.GROUP_METADATA:
        del groups[group.group_id]
    elif record_type == crec.PARTITION_METADATA:
        group.subscription_metadata = {}
    elif record_type == crec.MEMBER_METADATA:
        group.remove_member(mid)
    elif record_type == crec.TARGET_ASSIGNMENT_METADATA:
        group.assignment_epoch = 0
    elif record_type == crec.TARGET_ASSIGNMENT_MEMBER:
        group.target_assignment.pop(mid, None)
    elif record_type == crec.CURRENT_MEMBER_ASSIGNMENT:
        member = group.members.get(mid)
        if member is not None:
            group.update_member(
                attrs.evolve(
                    member,
                    member_epoch=-1,
                    previous_member_epoch=-1,
                    assigned_partitions={},
                    partitions_pending_revocation={},
                )
            )
