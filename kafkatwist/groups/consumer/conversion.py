"""Online upgrade and downgrade between a classic group and a consumer group.

Kafka's C{ConsumerGroup.fromClassicGroup} / C{createConsumerGroupRecords}
and C{ClassicGroup.fromConsumerGroup} / C{createClassicGroupRecords}:

* upgrade: every classic member becomes a consumer group member of the
  classic protocol, STABLE at the classic generation, holding (and targeted
  at) the partitions its last classic assignment gave it, subscribed to the
  topics of its subscription; the group and assignment epochs are the
  generation;
* downgrade: every remaining member (all of the classic protocol) becomes a
  classic member again, the group STABLE at the group epoch, the protocol
  chosen by vote, each member's assignment its consumer group target
  serialized at its subscription's version.

The embedded protocol may be malformed: the conversion is then refused with
GROUP_ID_NOT_FOUND and Kafka's message.
"""

from __future__ import annotations

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.consumer import embedded
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.member import (
    ClassicMetadata,
    ConsumerGroupMember,
    MemberState,
)
from kafkatwist.groups.state import CONSUMER_PROTOCOL_TYPE, ClassicGroup, GroupState, Member
from kafkatwist.storage.metadata_image import MetadataImage

Records = list[crec.Record]


def from_classic(classic: ClassicGroup, image: MetadataImage) -> ConsumerGroup:
    """
    Kafka's C{ConsumerGroup.fromClassicGroup}.

    @raise KafkaError: GROUP_ID_NOT_FOUND when a member's subscription or
        assignment is malformed.
    """
    gid = classic.group_id
    group = ConsumerGroup(gid, group_epoch=classic.generation, assignment_epoch=classic.generation)
    try:
        for m in classic.members.values():
            sub = embedded.subscription(m.metadata(classic.protocol_name))
            given = embedded.assignment(m.assignment)
            partitions = embedded.by_id(
                ((t.topic, t.partitions) for t in given.assigned_partitions), image
            )
            member = ConsumerGroupMember(
                m.member_id,
                member_epoch=classic.generation,
                previous_member_epoch=classic.generation,
                state=MemberState.STABLE,
                instance_id=m.group_instance_id,
                rack_id=sub.rack_id,
                rebalance_timeout_ms=m.rebalance_timeout_ms,
                client_id=m.client_id,
                client_host=m.client_host,
                subscribed_topic_names=tuple(sorted(sub.topics)),
                assigned_partitions=partitions,
                classic=ClassicMetadata(m.session_timeout_ms, m.protocols),
            )
            group.target_assignment[m.member_id] = partitions
            group.update_member(member)
    except KafkaError:
        raise KafkaError(
            ErrorCode.GROUP_ID_NOT_FOUND,
            f"Cannot upgrade the classic group {gid} to consumer group because the embedded "
            "consumer protocol is malformed.",
        ) from None
    return group


def consumer_group_records(group: ConsumerGroup) -> Records:
    """Kafka's C{ConsumerGroup.createConsumerGroupRecords}, in its order."""
    gid = group.group_id
    records: Records = [crec.member_subscription_record(gid, m) for m in group.members.values()]
    records.append(crec.epoch_record(gid, group.group_epoch))
    records += [
        crec.target_member_record(gid, mid, group.target_assignment.get(mid, {}))
        for mid in group.members
    ]
    records.append(crec.target_epoch_record(gid, group.group_epoch))
    records += [crec.current_assignment_record(gid, m) for m in group.members.values()]
    return records


def to_classic(
    group: ConsumerGroup,
    leaving_member_id: str,
    kept: ClassicGroup | None,
    image: MetadataImage,
    now_ms: int,
) -> ClassicGroup:
    """
    Kafka's C{ClassicGroup.fromConsumerGroup}: a STABLE classic group with
    the offsets of C{kept} (the empty classic group that held them).

    @raise KafkaError: GROUP_ID_NOT_FOUND when a member's protocol metadata is malformed.
    """
    classic = ClassicGroup(
        group.group_id,
        state=GroupState.STABLE,
        state_timestamp_ms=now_ms,
        generation=group.group_epoch,
        protocol_type=CONSUMER_PROTOCOL_TYPE,
    )
    if kept is not None:
        classic.offsets = kept.offsets
        classic.pending_txn_offsets = kept.pending_txn_offsets
    for mid, m in group.members.items():
        if mid == leaving_member_id or m.classic is None:
            continue
        classic.add(
            Member(
                member_id=mid,
                group_instance_id=m.instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout_ms,
                session_timeout_ms=m.classic.session_timeout_ms,
                protocol_type=CONSUMER_PROTOCOL_TYPE,
                protocols=m.classic.protocols,
            )
        )
    classic.protocol_name = classic.select_protocol()
    classic.subscribed_topics = classic.compute_subscribed_topics()
    try:
        for member in classic.members.values():
            version = embedded.version_of(member.metadata(classic.protocol_name))
            target = group.target_assignment.get(member.member_id, {})
            member.assignment = embedded.encode_assignment(target, image, version)
    except KafkaError as e:
        raise KafkaError(
            ErrorCode.GROUP_ID_NOT_FOUND,
            f"Cannot downgrade the classic group {group.group_id}: {e.message}",
        ) from None
    return classic
