"""Finding the member a request speaks for (Kafka's C{getOrMaybeSubscribe*ConsumerGroupMember}).

Shared by ConsumerGroupHeartbeat and by the classic protocol's requests to a
consumer group: a dynamic member by its id, a static member by its instance
id (a rejoining static member takes over its old incarnation's assignment),
and the checks of a leaving member.
"""

from __future__ import annotations

import attrs
from twisted.logger import Logger

from kafkatwist.errors import ErrorCode
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.member import (
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    ConsumerGroupMember,
)
from kafkatwist.groups.consumer.reconcile import Owned
from kafkatwist.groups.consumer.timers import MemberTimers
from kafkatwist.groups.consumer.validation import check_epoch, error

Records = list[crec.Record]

_log = Logger()


def dynamic_member(
    group: ConsumerGroup, member_id: str, epoch: int, owned: Owned, *, classic: bool = False
) -> ConsumerGroupMember:
    """
    Kafka's C{getOrMaybeSubscribeDynamicConsumerGroupMember}: a join (epoch 0,
    or any JoinGroup of the classic protocol) creates the member.
    """
    member = group.members.get(member_id)
    if epoch == 0 or classic:
        if member is None:
            _log.info(
                "[GroupId {g}] Member {m} joins the consumer group.",
                g=group.group_id,
                m=member_id,
            )
            return ConsumerGroupMember(member_id)
        return member
    if member is None:
        raise error(
            ErrorCode.UNKNOWN_MEMBER_ID,
            f"Member {member_id} is not a member of group {group.group_id}.",
        )
    check_epoch(member, epoch, owned)
    return member


def static_member(
    group: ConsumerGroup,
    member_id: str,
    instance_id: str,
    epoch: int,
    owned: Owned,
    records: Records,
    timers: MemberTimers,
    *,
    classic_rejoin: bool | None = None,
) -> ConsumerGroupMember:
    """
    Kafka's C{getOrMaybeSubscribeStaticConsumerGroupMember}.

    @param classic_rejoin: For a JoinGroup of the classic protocol: whether it
        came without a member id (a new incarnation); None for a heartbeat.
    """
    existing = group.static_member(instance_id)
    if epoch == 0 or classic_rejoin:
        if existing is None:
            _log.info(
                "[GroupId {g}] Static member {m} with instance id {i} joins the group.",
                g=group.group_id,
                m=member_id,
                i=instance_id,
            )
            return group.members.get(member_id) or ConsumerGroupMember(member_id)
        if existing.member_id == member_id:
            return existing
        if classic_rejoin is None and existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise error(
                ErrorCode.UNRELEASED_INSTANCE_ID,
                f"Static member {member_id} with instance id {instance_id} cannot join the "
                f"group because the instance id is owned by {existing.member_id} member.",
            )
        return replace_static(group, existing, member_id, records, timers)
    if existing is None:
        raise error(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
    if existing.member_id != member_id:
        raise error(
            ErrorCode.FENCED_INSTANCE_ID,
            f"Static member {member_id} with instance id {instance_id} was fenced by member "
            f"{existing.member_id}.",
        )
    if classic_rejoin is None:
        check_epoch(existing, epoch, owned)
    return existing


def replace_static(
    group: ConsumerGroup,
    old: ConsumerGroupMember,
    member_id: str,
    records: Records,
    timers: MemberTimers,
) -> ConsumerGroupMember:
    """The rejoining static member takes over the old one's assignment, without a new epoch."""
    gid = group.group_id
    timers.cancel_member(gid, old.member_id)
    target = group.target_assignment.pop(old.member_id, {})
    group.remove_member(old.member_id)
    records.extend(crec.member_tombstones(gid, old.member_id))
    new = attrs.evolve(old, member_id=member_id, member_epoch=0, previous_member_epoch=0)
    group.update_member(new)
    group.target_assignment[member_id] = target
    records.append(crec.member_subscription_record(gid, new))
    records.append(crec.target_member_record(gid, member_id, target))
    records.append(crec.current_assignment_record(gid, new))
    _log.info(
        "[GroupId {g}] Static member {old} with instance id {i} re-joins as {new}.",
        g=gid,
        old=old.member_id,
        i=old.instance_id,
        new=member_id,
    )
    return new


def known_member(
    group: ConsumerGroup, member_id: str, instance_id: str | None
) -> ConsumerGroupMember:
    """
    Kafka's C{validateConsumerGroupMember}: the member by id, or by instance id
    (which must map to C{member_id}).

    @raise KafkaError: UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID.
    """
    if instance_id is None:
        member = group.members.get(member_id)
        if member is None:
            raise error(
                ErrorCode.UNKNOWN_MEMBER_ID,
                f"Member {member_id} is not a member of group {group.group_id}.",
            )
        return member
    found = group.static_member(instance_id)
    if found is None:
        raise error(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
    if found.member_id != member_id:
        raise error(
            ErrorCode.FENCED_INSTANCE_ID,
            f"Static member {member_id} with instance id {instance_id} was fenced by "
            f"member {found.member_id}.",
        )
    return found
