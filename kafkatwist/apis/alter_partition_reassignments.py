"""AlterPartitionReassignments (api key 45): v0-v1.

Behavior (Kafka's C{ReplicationControlManager.alterPartitionReassignments}):
* authorization: ALTER on the cluster (Kafka's
  C{ControllerApis.handleAlterPartitionReassignments}); without it the
  top-level CLUSTER_AUTHORIZATION_FAILED and every partition with it;
* each partition is answered on its own: an unknown topic or partition is
  UNKNOWN_TOPIC_OR_PARTITION ("Unable to find a topic named T.", "Unable to
  find partition T:P.");
* a target replica list is checked as Kafka's
  C{validateManualPartitionAssignment}: empty, naming a broker other than
  this one ("... includes broker N, but no such broker is registered.") or
  naming one twice is INVALID_REPLICA_ASSIGNMENT; with
  ``allow_replication_factor_change`` false (v1) a different replica count
  is INVALID_REPLICATION_FACTOR. The only valid target is the current one
  (this broker): a reassignment that is complete at once, writing nothing;
* a null replica list cancels: no reassignment is ever in progress, so
  NO_REASSIGNMENT_IN_PROGRESS ("No partition reassignment is in progress.");
* top level NONE; v1 echoes ``allow_replication_factor_change``.

Version notes:
* v1+: ``allow_replication_factor_change`` (KIP-860); ``timeout_ms`` needs
  no wait (nothing moves).
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
from kafkatwist.security.acl import AclOperation
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire.versions import VersionRange


def _alter(
    image: MetadataImage, node_id: int, topic: str, target: ReassignablePartition, allow: bool
) -> ReassignablePartitionResponse:
    index = target.partition_index
    try:
        part = find_partition(image, topic, index)
        if target.replicas is None:
            if not in_progress(part):
                raise KafkaError(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, NO_REASSIGNMENT)
        else:
            check_target(part, target.replicas, (node_id,), allow)
    except KafkaError as e:
        return ReassignablePartitionResponse(
            partition_index=index, error_code=int(e.code), error_message=e.message
        )
    return ReassignablePartitionResponse(partition_index=index, error_code=0, error_message=None)


async def handle(
    ctx: RequestContext, request: AlterPartitionReassignmentsRequest
) -> AlterPartitionReassignmentsResponse:
    require_cluster(ctx, AclOperation.ALTER)
    image, node_id = ctx.broker.metadata.image, ctx.broker.node_id
    allow = request.allow_replication_factor_change
    return AlterPartitionReassignmentsResponse(
        allow_replication_factor_change=allow,
        error_code=0,
        error_message=None,
        responses=tuple(
            ReassignableTopicResponse(
                name=t.name,
                partitions=tuple(_alter(image, node_id, t.name, p, allow) for p in t.partitions),
            )
            for t in request.topics
        ),
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
        "AlterPartitionReassignmentsRequest.timeout_ms": "the answer is immediate "
        "on one broker (at most one local metadata-log append): nothing to wait for",
    },
)

__all__ = ["SPEC"]
