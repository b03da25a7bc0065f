"""Checks of a ConsumerGroupHeartbeat (Kafka's C{GroupMetadataManager})."""

from __future__ import annotations

from collections.abc import Collection

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.consumer import regex
from kafkatwist.groups.consumer.member import (
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    Assignment,
    ConsumerGroupMember,
    is_subset,
)
from kafkatwist.groups.consumer.reconcile import Owned
from kafkatwist.messages.consumer_group_heartbeat import (
    Assignment as ResponseAssignment,
)
from kafkatwist.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
    TopicPartitions,
)


def error(code: ErrorCode, message: str | None = None) -> KafkaError:
    """The error a heartbeat is answered with."""
    return KafkaError(code, message)


def validate_request(
    r: ConsumerGroupHeartbeatRequest, api_version: int, assignors: Collection[str]
) -> None:
    """Kafka's C{throwIfConsumerGroupHeartbeatRequestIsInvalid}."""
    invalid = ErrorCode.INVALID_REQUEST
    if not r.group_id:
        raise error(invalid, "GroupId can't be empty.")
    if r.instance_id is not None and not r.instance_id:
        raise error(invalid, "InstanceId can't be empty.")
    if r.rack_id is not None and not r.rack_id:
        raise error(invalid, "RackId can't be empty.")
    if api_version >= 1 and not r.member_id:
        raise error(invalid, "MemberId can't be empty.")
    if r.member_epoch == 0:
        if r.rebalance_timeout_ms == -1:
            raise error(invalid, "RebalanceTimeoutMs must be provided in first request.")
        if r.topic_partitions is None or r.topic_partitions:
            raise error(invalid, "TopicPartitions must be empty when (re-)joining.")
        if r.subscribed_topic_names is None and r.subscribed_topic_regex is None:
            raise error(
                invalid,
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            )
    elif r.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        if r.instance_id is None:
            raise error(invalid, "InstanceId can't be null.")
    elif r.member_epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        raise error(invalid, f"MemberEpoch is invalid: {r.member_epoch}.")
    if r.member_epoch != 0 and not r.member_id:
        raise error(ErrorCode.UNKNOWN_MEMBER_ID, "MemberId can't be empty.")
    if r.subscribed_topic_regex is not None and not regex.validate(r.subscribed_topic_regex):
        raise error(
            ErrorCode.INVALID_REGULAR_EXPRESSION,
            f"SubscribedTopicRegex `{r.subscribed_topic_regex}` is not a valid regular expression.",
        )
    if r.server_assignor is not None and r.server_assignor not in assignors:
        raise error(
            ErrorCode.UNSUPPORTED_ASSIGNOR,
            f"ServerAssignor {r.server_assignor} is not supported. "
            f"Supported assignors: {', '.join(assignors)}.",
        )


def check_epoch(member: ConsumerGroupMember, epoch: int, owned: Owned) -> None:
    """Kafka's C{throwIfMemberEpochIsInvalid}."""
    if epoch > member.member_epoch:
        raise error(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a greater member epoch ({epoch}) than the one known "
            f"by the group coordinator ({member.member_epoch}). "
            "The member must abandon all its partitions and rejoin.",
        )
    if epoch < member.member_epoch:
        # The previous epoch with a subset of the assignment: the bump was lost.
        if epoch != member.previous_member_epoch or not is_subset(
            owned or (), member.assigned_partitions
        ):
            raise error(
                ErrorCode.FENCED_MEMBER_EPOCH,
                f"The consumer group member has a smaller member epoch ({epoch}) than the one "
                f"known "
                f"by the group coordinator ({member.member_epoch}). "
                "The member must abandon all its partitions and rejoin.",
            )


def response_assignment(assigned: Assignment) -> ResponseAssignment:
    """The assignment as a heartbeat response carries it."""
    return ResponseAssignment(
        topic_partitions=tuple(
            TopicPartitions(topic_id=t, partitions=tuple(sorted(ps)))
            for t, ps in sorted(assigned.items())
        )
    )


def response_error(code: ErrorCode, message: str | None = None) -> ConsumerGroupHeartbeatResponse:
    """A heartbeat response with only an error."""
    return ConsumerGroupHeartbeatResponse(error_code=int(code), error_message=message)
