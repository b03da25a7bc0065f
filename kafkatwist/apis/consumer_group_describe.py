"""ConsumerGroupDescribe (api key 69): v0-v1.

Behavior (Kafka's C{GroupMetadataManager.consumerGroupDescribe}):
* per group: state (Empty, Assigning, Reconciling, Stable), group epoch,
  assignment epoch, the preferred assignor, and every member with its
  subscription, current and target assignments (topic names from the
  metadata; a deleted topic is left out);
* GROUP_ID_NOT_FOUND for an unknown group or a classic one, with Kafka's
  message; COORDINATOR_LOAD_IN_PROGRESS while the coordinator loads;
* authorization (Kafka's C{KafkaApis.handleConsumerGroupDescribe}, with
  KAFKA-18813): DESCRIBE on each group, else GROUP_AUTHORIZATION_FAILED for
  it, the refused groups first; the authorized operations (KIP-430) of each
  group described without error, when asked; a group whose members'
  assignments or target assignments name a topic the principal may not
  DESCRIBE is answered TOPIC_AUTHORIZATION_FAILED, with Kafka's message and
  no members, so that nothing of those topics shows.

Version notes:
* v1: member type (1: consumer protocol member).
"""

from __future__ import annotations

from kafkatwist.apis._authz import (
    AUTHORIZED_OPERATIONS_OMITTED,
    describe_authorized,
    filter_authorized,
)
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.consumer_group_describe import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    DescribedGroup,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(
    ctx: RequestContext, request: ConsumerGroupDescribeRequest
) -> ConsumerGroupDescribeResponse:
    consumer = coordinator_of(ctx).consumer
    groups = describe_authorized(
        ctx,
        ResourceType.GROUP,
        request.group_ids,
        lambda g: DescribedGroup(error_code=int(ErrorCode.GROUP_AUTHORIZATION_FAILED), group_id=g),
        consumer.describe,
        request.include_authorized_operations,
    )
    return ConsumerGroupDescribeResponse(groups=_hide_topics(ctx, groups))


#: Kafka's message for a group naming a topic the principal may not describe.
HIDDEN_TOPICS_MESSAGE = (
    "The group has described topic(s) that the client is not authorized to describe."
)


def _topics(group: DescribedGroup) -> set[str]:
    """The topics of the members' assignments and target assignments."""
    return {
        tp.topic_name
        for m in group.members
        for assignment in (m.assignment, m.target_assignment)
        for tp in assignment.topic_partitions
    }


def _hide_topics(ctx: RequestContext, groups: list[DescribedGroup]) -> tuple[DescribedGroup, ...]:
    """Each group, or its TOPIC_AUTHORIZATION_FAILED stand-in when it names a hidden topic."""
    named = {g.group_id: _topics(g) for g in groups}
    visible = filter_authorized(
        ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, set().union(*named.values())
    )
    return tuple(
        g
        if named[g.group_id] <= visible
        else DescribedGroup(
            error_code=int(ErrorCode.TOPIC_AUTHORIZATION_FAILED),
            error_message=HIDDEN_TOPICS_MESSAGE,
            group_id=g.group_id,
            authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
        )
        for g in groups
    )


def error_response(
    request: ConsumerGroupDescribeRequest, version: int, code: ErrorCode
) -> ConsumerGroupDescribeResponse:
    return ConsumerGroupDescribeResponse(
        groups=tuple(DescribedGroup(error_code=int(code), group_id=g) for g in request.group_ids)
    )


SPEC = ApiSpec(
    api_key=69,
    versions=VersionRange(0, 1),
    request=ConsumerGroupDescribeRequest,
    response=ConsumerGroupDescribeResponse,
    handle=handle,
    error_response=error_response,
)
