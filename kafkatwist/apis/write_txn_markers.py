"""WriteTxnMarkers (api key 27): v1-v2.

Behavior (Kafka's ``KafkaApis.handleWriteTxnMarkersRequest``): each marker
(COMMIT or ABORT of a producer, with the coordinator epoch) is appended to
each named partition as a control batch (``Partitions.write_txn_marker``),
as the transaction coordinator of this broker does in-process; a marker in
``__consumer_offsets`` also ends the producer's pending transactional
offsets there. Each partition answers its error: UNKNOWN_TOPIC_OR_PARTITION,
INVALID_PRODUCER_EPOCH (an epoch older than the producer's),
TRANSACTION_COORDINATOR_FENCED (an older coordinator epoch),
KAFKA_STORAGE_ERROR.

Authorization (Kafka's ``KafkaApis.handleWriteTxnMarkersRequest``): ALTER on
the cluster (the admin client's abortTransaction) or CLUSTER_ACTION on it
(brokers), else CLUSTER_AUTHORIZATION_FAILED for every partition.

Version notes:
* v0 was removed in Kafka 4.0 (KIP-896): refused, as Kafka's schema does;
* v1: flexible;
* v2 (KIP-1228): each marker names its transaction version, with which the
  log checks the marker's epoch (a transaction version 2 marker carries the
  epoch the coordinator bumped); v1 markers count as transaction version 0.
"""

from __future__ import annotations

from kafkatwist.apis._authz import authorize_cluster, require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages.write_txn_markers import (
    WritableTxnMarker,
    WritableTxnMarkerPartitionResult,
    WritableTxnMarkerResult,
    WritableTxnMarkerTopicResult,
    WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange


async def _write(ctx: RequestContext, marker: WritableTxnMarker, topic: str, p: int) -> int:
    broker = ctx.broker
    try:
        await broker.partitions.write_txn_marker(
            topic,
            p,
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
            marker.transaction_result,
            transaction_version=marker.transaction_version if ctx.api_version >= 2 else 0,
        )
    except KafkaError as e:
        return int(e.code)
    if topic == OFFSETS_TOPIC:
        broker.groups.txn_offsets.complete(p, marker.producer_id, marker.transaction_result)
    return 0


async def handle(ctx: RequestContext, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse:
    if not authorize_cluster(ctx, AclOperation.ALTER):
        require_cluster(ctx, AclOperation.CLUSTER_ACTION)
    results = []
    for marker in request.markers:
        topics = []
        for t in marker.topics:
            partitions = []
            for p in t.partition_indexes:
                code = await _write(ctx, marker, t.name, p)
                partitions.append(
                    WritableTxnMarkerPartitionResult(partition_index=p, error_code=code)
                )
            topics.append(WritableTxnMarkerTopicResult(name=t.name, partitions=tuple(partitions)))
        results.append(
            WritableTxnMarkerResult(producer_id=marker.producer_id, topics=tuple(topics))
        )
    return WriteTxnMarkersResponse(markers=tuple(results))


def error_response(
    request: WriteTxnMarkersRequest, version: int, code: ErrorCode
) -> WriteTxnMarkersResponse:
    """The error for every partition of every marker."""
    return WriteTxnMarkersResponse(
        markers=tuple(
            WritableTxnMarkerResult(
                producer_id=m.producer_id,
                topics=tuple(
                    WritableTxnMarkerTopicResult(
                        name=t.name,
                        partitions=tuple(
                            WritableTxnMarkerPartitionResult(partition_index=p, error_code=code)
                            for p in t.partition_indexes
                        ),
                    )
                    for t in m.topics
                ),
            )
            for m in request.markers
        )
    )


SPEC = ApiSpec(
    api_key=27,
    versions=VersionRange(1, 2),
    request=WriteTxnMarkersRequest,
    response=WriteTxnMarkersResponse,
    handle=handle,
    error_response=error_response,
)
