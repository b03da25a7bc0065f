"""OffsetDelete (api key 47): v0.

Behavior:
* removes committed offsets (tombstones in ``__consumer_offsets``) of topics
  the group does not consume: a non-empty group that subscribes to the
  topic (read from the consumer protocol subscription in its members'
  metadata) gets GROUP_SUBSCRIBED_TO_TOPIC for its partitions;
* top-level errors: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (a non-empty group
  that does not use the consumer protocol), COORDINATOR_LOAD_IN_PROGRESS;
* unknown topic: UNKNOWN_TOPIC_OR_PARTITION;
* authorization (Kafka's C{KafkaApis.handleOffsetDeleteRequest}): DELETE on
  the group, else GROUP_AUTHORIZATION_FAILED at the top level; then READ on
  each topic, else TOPIC_AUTHORIZATION_FAILED for its partitions (before
  the topic's existence is looked at).
"""

from __future__ import annotations

from kafkatwist.apis._authz import filter_authorized, require
from kafkatwist.apis._groups import coordinator_of, partition_codes
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: OffsetDeleteRequest) -> OffsetDeleteResponse:
    require(ctx, AclOperation.DELETE, ResourceType.GROUP, request.group_id)
    coordinator = coordinator_of(ctx)
    image = ctx.broker.metadata.image
    readable = filter_authorized(
        ctx, AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    known = [
        (t.name, [p.partition_index for p in t.partitions])
        for t in request.topics
        if t.name in image.topics and t.name in readable
    ]
    code, results = await coordinator.offsets.delete_offsets(request.group_id, known)
    if code != ErrorCode.NONE:
        return OffsetDeleteResponse(error_code=int(code))
    return OffsetDeleteResponse(
        topics=partition_codes(
            request.topics,
            OffsetDeleteResponseTopic,
            OffsetDeleteResponsePartition,
            lambda topic, index: results.get(
                (topic, index),
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                if topic in readable
                else ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            ),
        )
    )


SPEC = ApiSpec(
    api_key=47,
    versions=VersionRange(0, 0),
    request=OffsetDeleteRequest,
    response=OffsetDeleteResponse,
    handle=handle,
)
