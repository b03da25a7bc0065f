"""AlterReplicaLogDirs (api key 34): v1-v2.

Behavior (Kafka's C{ReplicaManager.alterReplicaLogDirs}):
* authorization: ALTER on the cluster (Kafka's
  C{KafkaApis.handleAlterReplicaLogDirsRequest}); without it every partition
  answers CLUSTER_AUTHORIZATION_FAILED;
* a path that is not one of the configured ``log.dirs`` (compared as
  absolute paths) is LOG_DIR_NOT_FOUND for every partition asked to go there;
* a topic or partition the metadata does not have is UNKNOWN_TOPIC_OR_PARTITION;
* a partition already in that dir is NONE and nothing happens;
* otherwise the answer is NONE at once and the log moves in the background,
  as Kafka's future replica does (L{kafkatwist.storage.log_move}): copied
  off the reactor thread while it takes appends, then closed for the short
  catch-up and swap (appends meanwhile get the retriable
  KAFKA_STORAGE_ERROR), committed crash-safely, and served from the new
  dir, where DescribeLogDirs then lists it; moves of one partition run one
  after another (Kafka cancels the earlier one instead);
* a partition whose log is not open yet (it is opened on first use) is
  opened first, then moved.

Version notes:
* v0 was removed by Kafka 4.0 (KIP-896) and is not served; v1 is v0's
  layout; v2+: flexible.
"""

from __future__ import annotations

import os

from twisted.logger import Logger

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.alter_replica_log_dirs import (
    AlterReplicaLogDirPartitionResult,
    AlterReplicaLogDirsRequest,
    AlterReplicaLogDirsResponse,
    AlterReplicaLogDirTopicResult,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange

_log = Logger()


def _move(ctx: RequestContext, log_dir: str | None, topic: str, partition: int) -> ErrorCode:
    broker = ctx.broker
    if log_dir is None:
        return ErrorCode.LOG_DIR_NOT_FOUND
    state = broker.metadata.image.topics.get(topic)
    if state is None or partition not in state.partitions:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    try:
        broker.partitions.open_log(state, partition)
    except KafkaError as e:  # its files could not be made: KAFKA_STORAGE_ERROR
        return e.code
    moving = broker.logs.move_replica(topic, partition, log_dir)
    moving.addErrback(
        lambda f: _log.error(
            "Moving {topic}-{partition} to {log_dir} failed: {error}",
            topic=topic,
            partition=partition,
            log_dir=log_dir,
            error=f.getErrorMessage(),
        )
    )
    return ErrorCode.NONE


async def handle(
    ctx: RequestContext, request: AlterReplicaLogDirsRequest
) -> AlterReplicaLogDirsResponse:
    require_cluster(ctx, AclOperation.ALTER)
    configured = {os.path.abspath(d): d for d in ctx.broker.logs.log_dirs}
    results: dict[str, list[AlterReplicaLogDirPartitionResult]] = {}
    for d in request.dirs:
        log_dir = configured.get(os.path.abspath(d.path)) if d.path else None
        for t in d.topics:
            for p in t.partitions:
                code = _move(ctx, log_dir, t.name, p)
                results.setdefault(t.name, []).append(
                    AlterReplicaLogDirPartitionResult(partition_index=p, error_code=int(code))
                )
    return AlterReplicaLogDirsResponse(
        results=tuple(
            AlterReplicaLogDirTopicResult(topic_name=name, partitions=tuple(parts))
            for name, parts in results.items()
        )
    )


def error_response(
    request: AlterReplicaLogDirsRequest, version: int, code: ErrorCode
) -> AlterReplicaLogDirsResponse:
    """Every partition answers C{code} (Kafka's C{AlterReplicaLogDirsRequest.getErrorResponse})."""
    return AlterReplicaLogDirsResponse(
        results=tuple(
            AlterReplicaLogDirTopicResult(
                topic_name=t.name,
                partitions=tuple(
                    AlterReplicaLogDirPartitionResult(partition_index=p, error_code=int(code))
                    for p in t.partitions
                ),
            )
            for d in request.dirs
            for t in d.topics
        )
    )


SPEC = ApiSpec(
    api_key=34,
    versions=VersionRange(1, 2),
    request=AlterReplicaLogDirsRequest,
    response=AlterReplicaLogDirsResponse,
    handle=handle,
    error_response=error_response,
)

__all__ = ["SPEC"]
