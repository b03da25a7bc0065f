"""ConsumerGroupHeartbeat (api key 68): v0-v1, the KIP-848 consumer group protocol.

Behavior (Kafka's C{GroupMetadataManager.consumerGroupHeartbeat}, see
L{kafkatwist.groups.consumer.coordinator}):
* member epoch 0 joins (creating the group, or replacing an empty classic
  group), -1 leaves, -2 leaves a static member for now; any other epoch
  heartbeats (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
  UNRELEASED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED, UNSUPPORTED_ASSIGNOR,
  INVALID_REGULAR_EXPRESSION, INVALID_REQUEST with Kafka's messages);
* the answer carries the member's epoch, the heartbeat interval
  (C{group.consumer.heartbeat.interval.ms}) and its assignment when it
  joined, sent a full request, or its assignment changed;
* answered once the heartbeat's records are in ``__consumer_offsets``;
* UNSUPPORTED_VERSION while the finalized C{group.version} feature is 0
  (absent, it is 1: Kafka 4.x's default for a new cluster);
* COORDINATOR_LOAD_IN_PROGRESS while the coordinator loads;
* authorization (Kafka's C{KafkaApis.handleConsumerGroupHeartbeat}, with
  KAFKA-18813): READ on the group, else GROUP_AUTHORIZATION_FAILED; when the
  request names subscribed topics, DESCRIBE on each of them, else
  TOPIC_AUTHORIZATION_FAILED (no message, as Kafka) and nothing changes; a
  regex matches only the topics the principal of the member that
  subscribed with it may DESCRIBE (Kafka filters a regex's topics by the
  ACLs of the member whose heartbeat refreshed it), so topics the member
  may not describe are silently not subscribed.

Version notes:
* v1: the client generates the member id (an empty one is INVALID_REQUEST)
  and may subscribe with a regex (C{subscribed_topic_regex}); v0: an empty
  member id on joining gets a broker-generated UUID.
"""

from __future__ import annotations

from kafkatwist.apis._authz import filter_authorized, require, topic_filter
from kafkatwist.apis._groups import client_host, coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.features import GROUP_VERSION
from kafkatwist.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(
    ctx: RequestContext, request: ConsumerGroupHeartbeatRequest
) -> ConsumerGroupHeartbeatResponse:
    if ctx.broker.features.finalized_level(GROUP_VERSION) < 1:
        return ConsumerGroupHeartbeatResponse(
            error_code=int(ErrorCode.UNSUPPORTED_VERSION),
            error_message="The new group coordinator protocol is not enabled (group.version 0).",
        )
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    names = set(request.subscribed_topic_names or ())
    if filter_authorized(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, names) != names:
        return ConsumerGroupHeartbeatResponse(error_code=int(ErrorCode.TOPIC_AUTHORIZATION_FAILED))
    return await coordinator_of(ctx).consumer.heartbeat(
        request,
        ctx.header.client_id or "",
        client_host(ctx),
        ctx.api_version,
        topic_filter(ctx, AclOperation.DESCRIBE),
    )


SPEC = ApiSpec(
    api_key=68,
    versions=VersionRange(0, 1),
    request=ConsumerGroupHeartbeatRequest,
    response=ConsumerGroupHeartbeatResponse,
    handle=handle,
)
