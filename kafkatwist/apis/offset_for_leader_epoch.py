"""OffsetForLeaderEpoch (api key 23): v0-v4.

Behavior:
* for each partition, the leader-epoch cache's answer for ``leader_epoch``
  (KIP-101, KIP-320): the largest epoch <= the requested one and the end
  offset of that epoch, i.e. the start offset of the next higher epoch, or the
  log end offset when the requested epoch is the current one (a consumer
  validating its position after a leader change);
* an epoch older than every cached one answers itself with the start offset of
  the first cached epoch; an undefined (-1) epoch, or one newer than the
  current, answers leader epoch -1 and end offset -1 with no error (Kafka's
  ``UNDEFINED_EPOCH``/``UNDEFINED_EPOCH_OFFSET``);
* ``current_leader_epoch`` (v2+, -1 = none) older than the partition's leader
  epoch → FENCED_LEADER_EPOCH, newer → UNKNOWN_LEADER_EPOCH; an unknown topic
  or partition → UNKNOWN_TOPIC_OR_PARTITION; error answers carry -1 / -1;
* authorization (Kafka's C{handleOffsetForLeaderEpochRequest}): CLUSTER_ACTION
  on the cluster (a replica's) allows every topic; without it each topic
  needs DESCRIBE (consumers validating their position, KIP-320), else its
  partitions answer TOPIC_AUTHORIZATION_FAILED, whether it exists or not;
* ``replica_id`` (v3+; -2, Kafka's debugging id, before): a consumer sends -1,
  a follower its broker id. Kafka answers both alike and checks the ACLs
  above whatever the id says, and so does this broker;
* a partition another broker of the cluster leads (or whose log is still
  loading here) is NOT_LEADER_OR_FOLLOWER
  (L{kafkatwist.apis._partitions.find_partition}); with the file engine this
  broker leads every partition.

Version notes:
* v1+: leader epoch in the answer; v2+: current leader epoch, throttle time;
  v3+: replica id; v4+: flexible.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafkatwist.apis._authz import authorize_cluster, filter_authorized
from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.offset_for_leader_epoch import (
    EpochEndOffset,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
    OffsetForLeaderPartition,
    OffsetForLeaderTopicResult,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.kraft import TopicState
from kafkatwist.wire.versions import VersionRange

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


def _error(partition: OffsetForLeaderPartition, code: ErrorCode) -> EpochEndOffset:
    return EpochEndOffset(error_code=int(code), partition=partition.partition)


async def handle(
    ctx: RequestContext, request: OffsetForLeaderEpochRequest
) -> OffsetForLeaderEpochResponse:
    image = ctx.broker.metadata.image
    # A replica's CLUSTER_ACTION covers every topic; else DESCRIBE on each (KIP-320).
    allowed = None
    if not authorize_cluster(ctx, AclOperation.CLUSTER_ACTION):
        allowed = filter_authorized(
            ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t.topic for t in request.topics)
        )
    topics = []
    for t in request.topics:
        if allowed is not None and t.topic not in allowed:
            denied = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            topics.append((t.topic, [_error(p, denied) for p in t.partitions]))
            continue
        topic = image.topics.get(t.topic)
        topics.append((t.topic, [await _partition(ctx, topic, p) for p in t.partitions]))
    return _response(topics)


def _response(
    topics: Iterable[tuple[str, Iterable[EpochEndOffset]]],
) -> OffsetForLeaderEpochResponse:
    """The answers, by topic."""
    return OffsetForLeaderEpochResponse(
        topics=tuple(
            OffsetForLeaderTopicResult(topic=name, partitions=tuple(answers))
            for name, answers in topics
        )
    )


async def _partition(
    ctx: RequestContext, topic: TopicState | None, p: OffsetForLeaderPartition
) -> EpochEndOffset:
    found = find_partition(ctx, topic, p.partition, p.current_leader_epoch)
    if isinstance(found, ErrorCode):
        return _error(p, found)
    current = found.leader_epoch
    log = found.log()
    requested = p.leader_epoch
    if requested == current:
        # The leader's latest cached epoch is always its current one, even
        # before anything was appended in it.
        epoch, end_offset = current, log.log_end_offset
    elif requested > current:
        epoch, end_offset = UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
    else:
        try:
            epoch, end_offset = await log.end_offset_for_epoch(requested)
        except KafkaError as e:
            return _error(p, e.code)
    if end_offset == UNDEFINED_EPOCH_OFFSET:
        epoch = UNDEFINED_EPOCH
    return EpochEndOffset(
        error_code=0, partition=p.partition, leader_epoch=epoch, end_offset=end_offset
    )


def error_response(
    request: OffsetForLeaderEpochRequest, version: int, code: ErrorCode
) -> OffsetForLeaderEpochResponse:
    """Every partition answers C{code} with -1 / -1 (Kafka's ``getErrorResponse``)."""
    return _response((t.topic, [_error(p, code) for p in t.partitions]) for t in request.topics)


SPEC = ApiSpec(
    api_key=23,
    versions=VersionRange(0, 4),
    request=OffsetForLeaderEpochRequest,
    response=OffsetForLeaderEpochResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "OffsetForLeaderEpochRequest.replica_id": "Kafka reads it for nothing: followers and "
        "consumers are answered alike, and the ACLs checked do not depend on it",
    },
)

__all__ = ["SPEC"]
