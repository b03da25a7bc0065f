"""ListPartitionReassignments (api key 46): v0.

Behavior (Kafka's C{ReplicationControlManager.listPartitionReassignments}):
* authorization: DESCRIBE on the cluster (Kafka's
  C{ControllerApis.handleListPartitionReassignments}); without it the
  top-level CLUSTER_AUTHORIZATION_FAILED, the topics and partitions asked for
  echoed bare; only partitions with replicas being added or removed are
  listed, and on one broker a reassignment completes as it is made, so the
  answer lists no topic, whether the request names topics (unknown ones are
  skipped, as Kafka does) or is null (every topic). Top level NONE.

Version notes:
* v0 is flexible; ``timeout_ms`` needs no wait.
"""

from __future__ import annotations

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._reassignments import in_progress
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
    OngoingPartitionReassignment,
    OngoingTopicReassignment,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.storage.metadata_image import TopicState
from kafkatwist.wire.versions import VersionRange


def _ongoing(topic: TopicState, indexes: list[int] | None) -> OngoingTopicReassignment | None:
    partitions = tuple(
        OngoingPartitionReassignment(
            partition_index=p.partition,
            replicas=p.replicas,
            adding_replicas=p.adding_replicas,
            removing_replicas=p.removing_replicas,
        )
        for i, p in sorted(topic.partitions.items())
        if (indexes is None or i in indexes) and in_progress(p)
    )
    return OngoingTopicReassignment(name=topic.name, partitions=partitions) if partitions else None


async def handle(
    ctx: RequestContext, request: ListPartitionReassignmentsRequest
) -> ListPartitionReassignmentsResponse:
    require_cluster(ctx, AclOperation.DESCRIBE)
    image = ctx.broker.metadata.image
    wanted: list[tuple[TopicState, list[int] | None]]
    if request.topics is None:
        wanted = [(t, None) for t in image.topics.values()]
    else:
        wanted = [
            (image.topics[t.name], list(t.partition_indexes))
            for t in request.topics
            if t.name in image.topics
        ]
    found = (_ongoing(topic, indexes) for topic, indexes in wanted)
    return ListPartitionReassignmentsResponse(
        error_code=0, error_message=None, topics=tuple(t for t in found if t is not None)
    )


def error_response(
    request: ListPartitionReassignmentsRequest, version: int, code: ErrorCode
) -> ListPartitionReassignmentsResponse:
    """
    The top-level error, and the topics and partitions asked for with nothing
    else (Kafka's C{ListPartitionReassignmentsRequest.getErrorResponse}).
    """
    return ListPartitionReassignmentsResponse(
        error_code=int(code),
        error_message=None,
        topics=tuple(
            OngoingTopicReassignment(
                name=t.name,
                partitions=tuple(
                    OngoingPartitionReassignment(partition_index=i) for i in t.partition_indexes
                ),
            )
            for t in request.topics or ()
        ),
    )


SPEC = ApiSpec(
    api_key=46,
    versions=VersionRange(0, 0),
    request=ListPartitionReassignmentsRequest,
    response=ListPartitionReassignmentsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "ListPartitionReassignmentsRequest.timeout_ms": "the answer is immediate "
        "on one broker (at most one local metadata-log append): nothing to wait for",
    },
)

__all__ = ["SPEC"]
