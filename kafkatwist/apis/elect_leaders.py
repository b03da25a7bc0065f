"""ElectLeaders (api key 43): v0-v2.

Behavior (Kafka's C{ReplicationControlManager.electLeaders}, where the
broker forwards the request):
* authorization: ALTER on the cluster (Kafka's
  C{ControllerApis.handleElectLeaders}); without it the top-level
  CLUSTER_AUTHORIZATION_FAILED (v1+) and every partition asked for with it;
* election type 0 (preferred; v0 sends none) or 1 (unclean); another is
  INVALID_REQUEST for the whole request;
* preferred: a partition led by its first replica is ELECTION_NOT_NEEDED
  (no message); else that replica is elected if it is live, else
  PREFERRED_LEADER_NOT_AVAILABLE; unclean: a partition with a live leader
  is ELECTION_NOT_NEEDED, else its first live ISR member, else its first
  live replica is elected (ELIGIBLE_LEADERS_NOT_AVAILABLE: none). The logs
  are in the shared store, so any live replica leads without data loss;
  the ISR becomes the live replicas. Elections are PartitionChangeRecords
  (leader epoch bumped), written at once before the answer;
* a topic or partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION
  ("No such topic as T", "No such partition as T-P");
* a null topic list means every partition of every topic: as Kafka, each
  topic is listed (internal ones too) with only the partitions whose
  election was needed or failed (with the file engine, none: this broker
  is every partition's one replica).

Version notes:
* v1+: election type and the top-level error code; v2+: flexible.
  ``timeout_ms`` needs no wait (the records are written before the answer).
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
from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.security.acl import AclOperation
from kafkatwist.storage.metadata_image import MetadataImage, TopicState
from kafkatwist.wire.versions import VersionRange

PREFERRED, UNCLEAN = 0, 1


def _election(
    ctx: RequestContext, topic: TopicState, index: int, election: int
) -> PartitionChangeRecord | ErrorCode:
    """
    The PartitionChangeRecord electing a partition's new leader, or why there is none.

    Kafka's C{ReplicationControlManager.electLeader}: preferred elects the
    first replica, unclean any live replica of a partition without a live
    leader (one of the ISR first). The log is in the shared store, so
    any live replica can lead without losing data: a live replica is
    eligible, and the new ISR is the live replicas.
    """
    state = topic.partitions[index]
    cluster = ctx.broker.cluster
    preferred = state.replicas[0] if state.replicas else -1
    if election == PREFERRED:
        if state.leader == preferred:
            return ErrorCode.ELECTION_NOT_NEEDED
        if preferred < 0 or not cluster.is_live(preferred):
            return ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
        leader = preferred
    else:
        if state.leader >= 0 and cluster.is_live(state.leader):
            return ErrorCode.ELECTION_NOT_NEEDED
        candidates = [r for r in (*state.isr, *state.replicas) if cluster.is_live(r)]
        if not candidates:
            return ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE
        leader = candidates[0]
    return PartitionChangeRecord(
        partition_id=index,
        topic_id=topic.topic_id,
        leader=leader,
        isr=tuple(r for r in state.replicas if cluster.is_live(r)),
    )


def _result(
    ctx: RequestContext,
    image: MetadataImage,
    name: str,
    partition: int,
    election: int,
    records: list[PartitionChangeRecord],
) -> PartitionResult:
    topic = image.topics.get(name)
    message: str | None = None
    if topic is None:
        code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {name}"
    elif partition not in topic.partitions:
        code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        message = f"No such partition as {name}-{partition}"
    else:
        elected = _election(ctx, topic, partition, election)
        if isinstance(elected, ErrorCode):
            code = elected
        else:
            code = ErrorCode.NONE
            records.append(elected)
    return PartitionResult(partition_id=partition, error_code=int(code), error_message=message)


async def handle(ctx: RequestContext, request: ElectLeadersRequest) -> ElectLeadersResponse:
    require_cluster(ctx, AclOperation.ALTER)
    election = request.election_type
    if election not in (PREFERRED, UNCLEAN):
        return ElectLeadersResponse(error_code=int(ErrorCode.INVALID_REQUEST))
    image = ctx.broker.metadata.image
    records: list[PartitionChangeRecord] = []
    if request.topic_partitions is None:
        # Kafka leaves out the partitions whose election was not needed, and keeps each topic.
        results = []
        for name, topic in image.topics.items():
            answers = (
                _result(ctx, image, name, p, election, records) for p in sorted(topic.partitions)
            )
            results.append(
                ReplicaElectionResult(
                    topic=name,
                    partition_result=tuple(
                        a for a in answers if a.error_code != ErrorCode.ELECTION_NOT_NEEDED
                    ),
                )
            )
    else:
        results = [
            ReplicaElectionResult(
                topic=t.topic,
                partition_result=tuple(
                    _result(ctx, image, t.topic, p, election, records) for p in t.partitions
                ),
            )
            for t in request.topic_partitions
        ]
    if records:
        await ctx.broker.controller.change_partitions(records)
    return ElectLeadersResponse(error_code=0, replica_election_results=tuple(results))


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
        "ElectLeadersRequest.timeout_ms": "the answer comes once the elections "
        "are written to the metadata log: nothing more to wait for",
    },
)

__all__ = ["SPEC"]
