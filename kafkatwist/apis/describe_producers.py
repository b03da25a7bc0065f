"""DescribeProducers (api key 61): v0.

Behavior (Kafka's ``Partition.activeProducerState``): for each partition,
every producer id its producer state holds, with its epoch, last sequence,
last timestamp, coordinator epoch and the first offset of its open
transaction (-1 without one: ``IPartitionLog.ongoing_transactions``).

Errors (Kafka's C{KafkaApis.handleDescribeProducersRequest}), per topic in
this order, each with Kafka's message for every partition: an invalid name
INVALID_TOPIC_EXCEPTION; without READ on the topic
TOPIC_AUTHORIZATION_FAILED; a topic that does not exist
UNKNOWN_TOPIC_OR_PARTITION. A partition the topic does not have answers
UNKNOWN_TOPIC_OR_PARTITION with no message (C{ReplicaManager.activeProducerState}).

Version notes:
* v0: the only version.
"""

from __future__ import annotations

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES
from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._topics import validate_topic_name
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_producers import (
    DescribeProducersRequest,
    DescribeProducersResponse,
    PartitionResponse,
    ProducerState,
    TopicResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


def _partition(ctx: RequestContext, topic: str, index: int) -> PartitionResponse:
    found = find_partition(ctx, ctx.broker.metadata.image.topics.get(topic), index)
    if isinstance(found, ErrorCode):
        return PartitionResponse(partition_index=index, error_code=int(found))
    log = found.log()
    open_txns = {pid: first for pid, _, first in log.ongoing_transactions()}
    producers = tuple(
        ProducerState(
            producer_id=entry.producer_id,
            producer_epoch=entry.producer_epoch,
            last_sequence=entry.last_seq,
            last_timestamp=entry.last_timestamp,
            coordinator_epoch=entry.coordinator_epoch,
            current_txn_start_offset=open_txns.get(entry.producer_id, -1),
        )
        for entry in sorted(log.producer_state.producers.values(), key=lambda e: e.producer_id)
    )
    return PartitionResponse(partition_index=index, error_code=0, active_producers=producers)


#: Kafka's C{Errors} messages, which its C{ApiError} carries for a topic's error.
_MESSAGES = {
    **AUTHORIZATION_MESSAGES,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: "This server does not host this topic-partition.",
}


def _topic_error(ctx: RequestContext, name: str) -> tuple[ErrorCode, str] | None:
    """
    The error every partition of the topic answers, with its message, or None.

    Kafka's C{handleDescribeProducersRequest}, in its order: an invalid
    name, then READ on the topic, then its existence.
    """
    invalid = validate_topic_name(name)
    if invalid is not None:
        return ErrorCode.INVALID_TOPIC_EXCEPTION, invalid
    if not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, name):
        code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    elif name not in ctx.broker.metadata.image.topics:
        code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    else:
        return None
    return code, _MESSAGES[code]


def _topic(ctx: RequestContext, name: str, indexes: tuple[int, ...]) -> TopicResponse:
    error = _topic_error(ctx, name)
    if error is None:
        partitions = tuple(_partition(ctx, name, p) for p in indexes)
    else:
        code, message = error
        partitions = tuple(
            PartitionResponse(partition_index=p, error_code=int(code), error_message=message)
            for p in indexes
        )
    return TopicResponse(name=name, partitions=partitions)


async def handle(
    ctx: RequestContext, request: DescribeProducersRequest
) -> DescribeProducersResponse:
    return DescribeProducersResponse(
        throttle_time_ms=0,
        topics=tuple(_topic(ctx, t.name, tuple(t.partition_indexes)) for t in request.topics),
    )


def error_response(
    request: DescribeProducersRequest, version: int, code: ErrorCode
) -> DescribeProducersResponse:
    """The error for every partition."""
    return DescribeProducersResponse(
        topics=tuple(
            TopicResponse(
                name=t.name,
                partitions=tuple(
                    PartitionResponse(partition_index=p, error_code=int(code))
                    for p in t.partition_indexes
                ),
            )
            for t in request.topics
        )
    )


SPEC = ApiSpec(
    api_key=61,
    versions=VersionRange(0, 0),
    request=DescribeProducersRequest,
    response=DescribeProducersResponse,
    handle=handle,
    error_response=error_response,
)
