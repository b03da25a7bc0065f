"""DescribeProducers (api key 61): v0.

Behavior (Kafka's ``Partition.activeProducerState``): for each partition,
every producer id its producer state holds, with its epoch, last sequence,
last timestamp, coordinator epoch and the first offset of its open
transaction (-1 without one: ``IPartitionLog.ongoing_transactions``); a
topic or partition that does not exist: UNKNOWN_TOPIC_OR_PARTITION.

Version notes:
* v0: a partition error carries no ``error_message``, as in Kafka.
"""

from __future__ import annotations

from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_producers import (
    DescribeProducersRequest,
    DescribeProducersResponse,
    PartitionResponse,
    ProducerState,
    TopicResponse,
)
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


async def handle(
    ctx: RequestContext, request: DescribeProducersRequest
) -> DescribeProducersResponse:
    return DescribeProducersResponse(
        throttle_time_ms=0,
        topics=tuple(
            TopicResponse(
                name=t.name,
                partitions=tuple(_partition(ctx, t.name, p) for p in t.partition_indexes),
            )
            for t in request.topics
        ),
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
    unused_fields={
        "PartitionResponse.error_message": "Kafka's ReplicaManager.activeProducerState answers "
        "a partition error with its code only",
    },
)
