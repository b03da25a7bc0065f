"""AlterPartitionReassignments (api key 45): v0-v1.

Behavior (Kafka's C{ReplicationControlManager.alterPartitionReassignments}):
* authorization: ALTER on the cluster (Kafka's
  C{ControllerApis.handleAlterPartitionReassignments}); without it the
  top-level CLUSTER_AUTHORIZATION_FAILED and every partition with it;
* each partition is answered on its own: an unknown topic or partition is
  UNKNOWN_TOPIC_OR_PARTITION ("Unable to find a topic named T.", "Unable to
  find partition T:P.");
* a target replica list is checked as Kafka's
  C{validateManualPartitionAssignment}: empty, naming a broker that is not
  live ("... includes broker N, but no such broker is registered.") or
  naming one twice is INVALID_REPLICA_ASSIGNMENT; with
  ``allow_replication_factor_change`` false (v1) a different replica count
  is INVALID_REPLICATION_FACTOR. The logs are in the shared store, so a
  reassignment completes at once: one PartitionChangeRecord with the new
  replicas as replicas and ISR, the leader kept if it is one of them, else
  the first (leader epoch bumped); the current replicas write nothing
  (with the file engine the only valid target is this broker);
* a null replica list cancels: no reassignment is ever in progress, so
  NO_REASSIGNMENT_IN_PROGRESS ("No partition reassignment is in progress.");
* top level NONE; v1 echoes ``allow_replication_factor_change``.

Version notes:
* v1+: ``allow_replication_factor_change`` (KIP-860); ``timeout_ms`` needs
  no wait (nothing moves: the records are written before the answer).
"""

from __future__ import annotations

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._reassignments import (
    NO_REASSIGNMENT,
    check_target,
    find_partition,
    in_progress,
)
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
    ReassignablePartition,
    ReassignablePartitionResponse,
    ReassignableTopicResponse,
)
from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange


def _alter(
    ctx: RequestContext,
    topic: str,
    target: ReassignablePartition,
    allow: bool,
    records: list[PartitionChangeRecord],
) -> ReassignablePartitionResponse:
    index = target.partition_index
    cluster = ctx.broker.cluster
    try:
        part = find_partition(ctx.broker.metadata.image, topic, index)
        if target.replicas is None:
            if not in_progress(part):
                raise KafkaError(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, NO_REASSIGNMENT)
        else:
            live = tuple(b.node_id for b in cluster.live_brokers())
            check_target(part, target.replicas, live, allow)
            if tuple(target.replicas) != part.replicas:
                records.append(_completed(ctx, topic, index, tuple(target.replicas)))
    except KafkaError as e:
        return ReassignablePartitionResponse(
            partition_index=index, error_code=int(e.code), error_message=e.message
        )
    return ReassignablePartitionResponse(partition_index=index, error_code=0, error_message=None)


def _completed(
    ctx: RequestContext, topic: str, index: int, replicas: tuple[int, ...]
) -> PartitionChangeRecord:
    """
    The PartitionChangeRecord of a reassignment completed at once.

    The log is in the shared store, so the new replicas are in sync as soon
    as they are named: the ISR is the target, and the leader stays unless
    it is not a target replica, then the first target replica leads (Kafka's
    completion elects the preferred replica when the leader leaves).
    """
    state = ctx.broker.metadata.image.topics[topic]
    part = state.partitions[index]
    return PartitionChangeRecord(
        partition_id=index,
        topic_id=state.topic_id,
        replicas=replicas,
        isr=replicas,
        leader=-2 if part.leader in replicas else replicas[0],
    )


async def handle(
    ctx: RequestContext, request: AlterPartitionReassignmentsRequest
) -> AlterPartitionReassignmentsResponse:
    require_cluster(ctx, AclOperation.ALTER)
    allow = request.allow_replication_factor_change
    records: list[PartitionChangeRecord] = []
    responses = tuple(
        ReassignableTopicResponse(
            name=t.name,
            partitions=tuple(_alter(ctx, t.name, p, allow, records) for p in t.partitions),
        )
        for t in request.topics
    )
    if records:
        await ctx.broker.controller.change_partitions(records)
    return AlterPartitionReassignmentsResponse(
        allow_replication_factor_change=allow,
        error_code=0,
        error_message=None,
        responses=responses,
    )


def error_response(
    request: AlterPartitionReassignmentsRequest, version: int, code: ErrorCode
) -> AlterPartitionReassignmentsResponse:
    """
    The top-level error and every partition asked for with it (Kafka's
    C{AlterPartitionReassignmentsRequest.getErrorResponse}).
    """
    return AlterPartitionReassignmentsResponse(
        allow_replication_factor_change=request.allow_replication_factor_change,
        error_code=int(code),
        error_message=None,
        responses=tuple(
            ReassignableTopicResponse(
                name=t.name,
                partitions=tuple(
                    ReassignablePartitionResponse(
                        partition_index=p.partition_index, error_code=int(code), error_message=None
                    )
                    for p in t.partitions
                ),
            )
            for t in request.topics
        ),
    )


SPEC = ApiSpec(
    api_key=45,
    versions=VersionRange(0, 1),
    request=AlterPartitionReassignmentsRequest,
    response=AlterPartitionReassignmentsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "AlterPartitionReassignmentsRequest.timeout_ms": "the answer comes once the "
        "completed reassignments are written to the metadata log: nothing more to wait for",
    },
)

__all__ = ["SPEC"]
