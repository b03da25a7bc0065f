"""OffsetCommit (api key 8): v0-v9.

Behavior:
* each offset becomes an OffsetCommit record (Kafka's key and value format)
  in the group's ``__consumer_offsets`` partition; the answer comes after
  the append;
* standalone consumers and the admin client (generation -1, empty member
  id) commit to a group with no members; such a group is created on demand;
* a member's commit must carry the current generation (ILLEGAL_GENERATION)
  of a known member (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID), and is refused
  with REBALANCE_IN_PROGRESS while the group awaits the leader's assignment;
  commits during PreparingRebalance are accepted, as in Kafka;
* a commit with a generation to a group that does not exist:
  GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before;
* unknown topic: UNKNOWN_TOPIC_OR_PARTITION; metadata longer than
  ``offset.metadata.max.bytes`` (4096): OFFSET_METADATA_TOO_LARGE.

Version notes:
* v1: commit timestamp; v1+: generation and member id; v2-v4: retention
  time (stored as the record's expire timestamp); v6+: leader epoch;
  v7+: group instance id; v8+: flexible.
"""

from __future__ import annotations

from collections.abc import Callable

from kafkatwist.apis._groups import coordinator_of, partition_codes
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.offsets import OffsetCommitPartition
from kafkatwist.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
)
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: OffsetCommitRequest) -> OffsetCommitResponse:
    coordinator = coordinator_of(ctx)
    version = ctx.api_version
    image = ctx.broker.metadata.image
    results: dict[tuple[str, int], ErrorCode] = {}
    partitions = []
    for topic in request.topics:
        known = topic.name in image.topics
        for p in topic.partitions:
            if not known:
                results[(topic.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            partitions.append(
                OffsetCommitPartition(
                    topic=topic.name,
                    partition=p.partition_index,
                    offset=p.committed_offset,
                    leader_epoch=p.committed_leader_epoch if version >= 6 else -1,
                    metadata=p.committed_metadata,
                    commit_timestamp_ms=p.commit_timestamp if version == 1 else -1,
                )
            )
    if partitions:
        committed = await coordinator.offsets.commit_offsets(
            request.group_id,
            request.generation_id_or_member_epoch if version >= 1 else -1,
            request.member_id if version >= 1 else "",
            request.group_instance_id if version >= 7 else None,
            partitions,
            retention_time_ms=request.retention_time_ms if 2 <= version <= 4 else -1,
            api_version=version,
        )
        results.update(committed)
    return _response(request, lambda topic, index: results[(topic, index)])


def error_response(
    request: OffsetCommitRequest, version: int, code: ErrorCode
) -> OffsetCommitResponse:
    return _response(request, lambda _topic, _index: code)


def _response(
    request: OffsetCommitRequest, code_of: Callable[[str, int], ErrorCode]
) -> OffsetCommitResponse:
    return OffsetCommitResponse(
        topics=partition_codes(
            request.topics, OffsetCommitResponseTopic, OffsetCommitResponsePartition, code_of
        )
    )


SPEC = ApiSpec(
    api_key=8,
    versions=VersionRange(0, 9),
    request=OffsetCommitRequest,
    response=OffsetCommitResponse,
    handle=handle,
    error_response=error_response,
)
