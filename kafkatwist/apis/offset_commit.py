"""OffsetCommit (api key 8): v0-v10.

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
* unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION (Kafka checks each
  partition against the metadata); metadata longer than
  ``offset.metadata.max.bytes`` (4096): OFFSET_METADATA_TOO_LARGE;
* v10+: topics are named by id (KIP-848): the name is resolved from the
  metadata image, an id it does not know (the zero id too) answers each of
  its partitions UNKNOWN_TOPIC_ID, and the answer echoes the ids (Kafka's
  C{KafkaApis.handleOffsetCommitRequest}); offsets are stored by name, as
  Kafka's OffsetCommit records;
* authorization (Kafka's C{KafkaApis.handleOffsetCommitRequest}): READ on
  the group, else GROUP_AUTHORIZATION_FAILED for every partition; then READ
  on each topic, else TOPIC_AUTHORIZATION_FAILED for its partitions, before
  the topic's existence is looked at (from v10 the name is resolved from the
  id first: an unknown id is UNKNOWN_TOPIC_ID whatever the ACLs).

Version notes:
* v1: commit timestamp; v1+: generation and member id; v2-v4: retention
  time (stored as the record's expire timestamp); v6+: leader epoch;
  v7+: group instance id; v8+: flexible; v9: the same body (KIP-848's
  consumer protocol may use it); v10+: topic ids instead of names.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from kafkatwist.apis._authz import filter_authorized, require
from kafkatwist.apis._groups import coordinator_of, partition_codes
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.offsets import OffsetCommitPartition
from kafkatwist.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitRequestTopic,
    OffsetCommitResponse,
    OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire.versions import VersionRange

#: The first version that names topics by id (KIP-848).
TOPIC_IDS_VERSION = 10


def _named(
    request: OffsetCommitRequest, version: int, image: MetadataImage
) -> tuple[OffsetCommitRequestTopic, ...]:
    """
    The request's topics with their names: from v10 resolved from their ids.

    An id the image does not know gets the empty name, which no topic has.
    """
    if version < TOPIC_IDS_VERSION:
        return request.topics
    by_id = image.topics_by_id
    return tuple(
        attrs.evolve(t, name=by_id[t.topic_id].name if t.topic_id in by_id else "")
        for t in request.topics
    )


async def handle(ctx: RequestContext, request: OffsetCommitRequest) -> OffsetCommitResponse:
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    coordinator = coordinator_of(ctx)
    version = ctx.api_version
    image = ctx.broker.metadata.image
    results: dict[tuple[str, int], ErrorCode] = {}
    partitions = []
    topics = _named(request, version, image)
    readable = filter_authorized(
        ctx, AclOperation.READ, ResourceType.TOPIC, (t.name for t in topics if t.name)
    )
    for topic in topics:
        state = image.topics.get(topic.name)
        if topic.name and topic.name not in readable:
            for p in topic.partitions:
                results[(topic.name, p.partition_index)] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            continue
        if state is None and version >= TOPIC_IDS_VERSION:
            for p in topic.partitions:
                results[(topic.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_ID
            continue
        for p in topic.partitions:
            if state is None or p.partition_index not in state.partitions:
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
    return _response(topics, lambda topic, index: results[(topic, index)])


def error_response(
    request: OffsetCommitRequest, version: int, code: ErrorCode
) -> OffsetCommitResponse:
    return _response(request.topics, lambda _topic, _index: code)


def _response(
    topics: tuple[OffsetCommitRequestTopic, ...], code_of: Callable[[str, int], ErrorCode]
) -> OffsetCommitResponse:
    """A code per partition, by topic, each topic with the request's id (v10+)."""
    answered = partition_codes(
        topics, OffsetCommitResponseTopic, OffsetCommitResponsePartition, code_of
    )
    return OffsetCommitResponse(
        topics=tuple(
            attrs.evolve(answer, topic_id=asked.topic_id)
            for answer, asked in zip(answered, topics, strict=True)
        )
    )


SPEC = ApiSpec(
    api_key=8,
    versions=VersionRange(0, 10),
    request=OffsetCommitRequest,
    response=OffsetCommitResponse,
    handle=handle,
    error_response=error_response,
)
