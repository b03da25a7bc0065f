"""ConsumerGroupDescribe (api key 69): v0-v1.

Behavior (Kafka's C{GroupMetadataManager.consumerGroupDescribe}):
* per group: state (Empty, Assigning, Reconciling, Stable), group epoch,
  assignment epoch, the preferred assignor, and every member with its
  subscription, current and target assignments (topic names from the
  metadata; a deleted topic is left out);
* GROUP_ID_NOT_FOUND for an unknown group or a classic one, with Kafka's
  message; COORDINATOR_LOAD_IN_PROGRESS while the coordinator loads.

Version notes:
* v1: member type (1: consumer protocol member).
"""

from __future__ import annotations

from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.consumer_group_describe import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    DescribedGroup,
)
from kafkatwist.wire.versions import VersionRange


async def handle(
    ctx: RequestContext, request: ConsumerGroupDescribeRequest
) -> ConsumerGroupDescribeResponse:
    consumer = coordinator_of(ctx).consumer
    include = request.include_authorized_operations
    return ConsumerGroupDescribeResponse(
        groups=tuple(consumer.describe(g, include) for g in request.group_ids)
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
