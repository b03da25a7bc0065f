"""CreatePartitions (api key 37): v0-v3.

Behavior:
* raises a topic's partition count; a count that is not an increase is
  INVALID_PARTITIONS; assignments must name live brokers, as many as the
  topic's replication factor (Kafka's C{validateManualPartitionAssignment});
  without them the cluster places the new partitions
  (C{ICluster.assign_replicas}) with the topic's replication factor;
* unknown topics get UNKNOWN_TOPIC_OR_PARTITION; a topic listed twice
  INVALID_REQUEST; ``validate_only`` creates nothing;
* new partitions are PartitionRecords in ``__cluster_metadata``;
* a topic the principal may not ALTER is TOPIC_AUTHORIZATION_FAILED (no
  message), whether or not it exists (Kafka's C{ControllerApis.createPartitions}).

Version notes:
* v2+: flexible.
* ``timeout_ms`` is not read: the controller answers at once (one local
  metadata-log append), so there is nothing to wait for.
"""

from __future__ import annotations

from collections import Counter

from kafkatwist.apis._authz import filter_authorized
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.create_partitions import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreatePartitionsTopicResult,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: CreatePartitionsRequest) -> CreatePartitionsResponse:
    broker = ctx.broker
    controller = broker.controller
    counts = Counter(t.name for t in request.topics)
    alterable = filter_authorized(
        ctx, AclOperation.ALTER, ResourceType.TOPIC, [n for n, c in counts.items() if c == 1]
    )
    results = []
    for t in request.topics:
        code, message = ErrorCode.NONE, None
        topic = broker.metadata.image.topics.get(t.name)
        if counts[t.name] > 1:
            code, message = ErrorCode.INVALID_REQUEST, "Duplicate topic in request."
        elif t.name not in alterable:
            code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        elif topic is None:
            code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            message = f"The topic '{t.name}' does not exist."
        else:
            try:
                assignments = (
                    None if t.assignments is None else [a.broker_ids for a in t.assignments]
                )
                controller.check_new_partitions(topic, t.count, assignments)
                if not request.validate_only:
                    await controller.create_partitions(topic, t.count, assignments)
            except KafkaError as e:
                code, message = e.code, e.message
        results.append(
            CreatePartitionsTopicResult(name=t.name, error_code=int(code), error_message=message)
        )
    return CreatePartitionsResponse(results=tuple(results))


def error_response(
    request: CreatePartitionsRequest, version: int, code: ErrorCode
) -> CreatePartitionsResponse:
    return CreatePartitionsResponse(
        results=tuple(
            CreatePartitionsTopicResult(name=t.name, error_code=int(code)) for t in request.topics
        )
    )


SPEC = ApiSpec(
    api_key=37,
    versions=VersionRange(0, 3),
    request=CreatePartitionsRequest,
    response=CreatePartitionsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "CreatePartitionsRequest.timeout_ms": "the controller's answer is immediate "
        "(one local metadata-log append): nothing to wait for",
    },
)
