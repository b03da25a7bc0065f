"""ElectLeaders (api key 43): v0-v2.

Behavior (Kafka's C{ReplicationControlManager.electLeaders}, where the
broker forwards the request):
* authorization: ALTER on the cluster (Kafka's
  C{ControllerApis.handleElectLeaders}); without it the top-level
  CLUSTER_AUTHORIZATION_FAILED (v1+) and every partition asked for with it;
* election type 0 (preferred; v0 sends none) or 1 (unclean); another is
  INVALID_REQUEST for the whole request;
* every partition's leader is this broker, its one and preferred replica:
  a known partition gets ELECTION_NOT_NEEDED (no message), a topic or
  partition that does not exist UNKNOWN_TOPIC_OR_PARTITION ("No such topic
  as T", "No such partition as T-P");
* a null topic list means every partition of every topic: as Kafka, each
  topic is listed (internal ones too) with only the partitions whose
  election was needed or failed, so here with none;
* nothing is written to the metadata log: no leader changes.

Version notes:
* v1+: election type and the top-level error code; v2+: flexible.
  ``timeout_ms`` needs no wait (nothing is elected).
"""

from __future__ import annotations

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.elect_leaders import (
    ElectLeadersRequest,
    ElectLeadersResponse,
    PartitionResult,
    ReplicaElectionResult,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire.versions import VersionRange

PREFERRED, UNCLEAN = 0, 1


def _result(image: MetadataImage, topic: str, partition: int) -> PartitionResult:
    state = image.topics.get(topic)
    if state is None:
        code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {topic}"
    elif partition not in state.partitions:
        code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        message = f"No such partition as {topic}-{partition}"
    else:
        # The leader is the preferred (and only) replica: Kafka's ApiError(ELECTION_NOT_NEEDED).
        code, message = ErrorCode.ELECTION_NOT_NEEDED, None
    return PartitionResult(partition_id=partition, error_code=int(code), error_message=message)


async def handle(ctx: RequestContext, request: ElectLeadersRequest) -> ElectLeadersResponse:
    require_cluster(ctx, AclOperation.ALTER)
    if request.election_type not in (PREFERRED, UNCLEAN):
        return ElectLeadersResponse(error_code=int(ErrorCode.INVALID_REQUEST))
    image = ctx.broker.metadata.image
    if request.topic_partitions is None:
        # Every partition already has its preferred leader: Kafka leaves out
        # ELECTION_NOT_NEEDED partitions here, and keeps each topic.
        results = tuple(
            ReplicaElectionResult(topic=name, partition_result=()) for name in image.topics
        )
    else:
        results = tuple(
            ReplicaElectionResult(
                topic=t.topic,
                partition_result=tuple(_result(image, t.topic, p) for p in t.partitions),
            )
            for t in request.topic_partitions
        )
    return ElectLeadersResponse(error_code=0, replica_election_results=results)


def error_response(
    request: ElectLeadersRequest, version: int, code: ErrorCode
) -> ElectLeadersResponse:
    """
    The top-level error (v1+) and every partition asked for with it (Kafka's
    C{ElectLeadersRequest.getErrorResponse}); none for a null topic list.
    """
    results = tuple(
        ReplicaElectionResult(
            topic=t.topic,
            partition_result=tuple(
                PartitionResult(partition_id=p, error_code=int(code), error_message=None)
                for p in t.partitions
            ),
        )
        for t in request.topic_partitions or ()
    )
    return ElectLeadersResponse(
        error_code=int(code) if version >= 1 else 0, replica_election_results=results
    )


SPEC = ApiSpec(
    api_key=43,
    versions=VersionRange(0, 2),
    request=ElectLeadersRequest,
    response=ElectLeadersResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "ElectLeadersRequest.timeout_ms": "the answer is immediate "
        "on one broker (at most one local metadata-log append): nothing to wait for",
    },
)

__all__ = ["SPEC"]
