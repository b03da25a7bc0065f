"""OffsetFetch (api key 9): v0-v10.

Behavior:
* committed offsets with their metadata and leader epoch; a partition
  without a commit (or a group that does not exist) gets offset -1,
  metadata "" and no error;
* topics null (v2+) means every partition the group committed;
* ``require_stable`` (v7+): a partition with transactional offsets not yet
  committed or aborted (TxnOffsetCommit) answers UNSTABLE_OFFSET_COMMIT and
  offset -1, so the consumer retries (Kafka's C{OffsetMetadataManager});
  without it the last committed offset is answered;
* COORDINATOR_LOAD_IN_PROGRESS while the coordinator loads;
* v10+: topics are named by id (KIP-848), the name resolved from the
  metadata image; an id it does not know answers each of its partitions
  UNKNOWN_TOPIC_ID (offset -1), after the known topics; the answer names
  topics by id, and a request for every committed partition leaves out the
  topics the image no longer has (there is no id to name them by), as
  Kafka's C{KafkaApis.fetchOffsetsForGroup} and C{fetchAllOffsetsForGroup};
* authorization (Kafka's C{KafkaApis.handleOffsetFetchRequest}): DESCRIBE
  on the group, else GROUP_AUTHORIZATION_FAILED (v8+: for that group only);
  a requested topic without DESCRIBE is not looked up and answers
  TOPIC_AUTHORIZATION_FAILED with offset -1 for its partitions, after the
  others; when every committed partition is asked for, the topics without
  DESCRIBE are left out. From v10 an id the image does not know has no name
  to authorize and answers UNKNOWN_TOPIC_ID.

Version notes:
* v0-v1: errors per partition; v2-v7: a top-level error, null topics;
  v5+: leader epoch; v6+: flexible; v7+: require stable; v8+: batched
  groups, errors per group; v9+: member id and epoch (KIP-848), checked for
  consumer groups (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH), ignored for
  classic groups as Kafka does; v10+: topic ids instead of names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from kafkatwist.apis._authz import filter_authorized, partition_by_authorized
from kafkatwist.apis._groups import coordinator_of
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.offsets import FetchedOffsets
from kafkatwist.groups.records import OffsetAndMetadata
from kafkatwist.messages.offset_fetch import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
    OffsetFetchRequestTopics,
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
    OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.primitives import ZERO_UUID
from kafkatwist.wire.versions import VersionRange

#: The first version that names topics by id (KIP-848).
TOPIC_IDS_VERSION = 10

#: The partition struct of the per-group (v8+) or the single-group answer.
_P = TypeVar("_P", OffsetFetchResponsePartitions, OffsetFetchResponsePartition)


def _partition(
    cls: type[_P], index: int, om: OffsetAndMetadata | None, code: ErrorCode = ErrorCode.NONE
) -> _P:
    if om is None:
        return cls(
            partition_index=index,
            committed_offset=-1,
            committed_leader_epoch=-1,
            metadata="",
            error_code=int(code),
        )
    return cls(
        partition_index=index,
        committed_offset=om.offset,
        committed_leader_epoch=om.leader_epoch,
        metadata=om.metadata,
        error_code=int(code),
    )


def _partitions(
    cls: type[_P],
    topic: str,
    parts: Iterable[tuple[int, OffsetAndMetadata | None]],
    unstable: set[tuple[str, int]],
) -> tuple[_P, ...]:
    return tuple(
        _partition(cls, p, None, ErrorCode.UNSTABLE_OFFSET_COMMIT)
        if (topic, p) in unstable
        else _partition(cls, p, om)
        for p, om in parts
    )


def _unstable(ctx: RequestContext, group_id: str, require_stable: bool) -> set[tuple[str, int]]:
    """The partitions with pending transactional offsets, when stable offsets are required."""
    if not require_stable or ctx.api_version < 7:
        return set()
    return coordinator_of(ctx).txn_offsets.unstable(group_id)


_Wanted = list[tuple[str, tuple[int, ...]]]
_REFUSED = ErrorCode.TOPIC_AUTHORIZATION_FAILED


def _describable(ctx: RequestContext, offsets: FetchedOffsets) -> FetchedOffsets:
    """Every committed topic but those the principal may not DESCRIBE (Kafka leaves them out)."""
    allowed = filter_authorized(
        ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t for t, _ in offsets)
    )
    return [(t, parts) for t, parts in offsets if t in allowed]


def _split(ctx: RequestContext, wanted: _Wanted | None) -> tuple[_Wanted | None, _Wanted]:
    """The requested topics the principal may DESCRIBE (None: all of them), and the others."""
    if wanted is None:
        return None, []
    return partition_by_authorized(
        ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, wanted, lambda t: t[0]
    )


def _group_allowed(ctx: RequestContext, group_id: str) -> bool:
    return ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id)


async def handle(ctx: RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse:
    coordinator = coordinator_of(ctx)
    version = ctx.api_version
    if version >= 8:
        groups = [
            _group(ctx, g, request.require_stable)
            if _group_allowed(ctx, g.group_id)
            else OffsetFetchResponseGroup(
                group_id=g.group_id, error_code=int(ErrorCode.GROUP_AUTHORIZATION_FAILED)
            )
            for g in request.groups
        ]
        return OffsetFetchResponse(groups=tuple(groups))
    if not _group_allowed(ctx, request.group_id):
        return error_response(request, version, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    wanted, refused = _split(
        ctx,
        None if request.topics is None else [(t.name, t.partition_indexes) for t in request.topics],
    )
    code, offsets = coordinator.offsets.fetch_offsets(request.group_id, wanted)
    if code != ErrorCode.NONE:
        return error_response(request, version, code)
    if wanted is None:
        offsets = _describable(ctx, offsets)
    unstable = _unstable(ctx, request.group_id, request.require_stable)
    return OffsetFetchResponse(
        topics=tuple(
            OffsetFetchResponseTopic(
                name=t, partitions=_partitions(OffsetFetchResponsePartition, t, parts, unstable)
            )
            for t, parts in offsets
        )
        + tuple(
            OffsetFetchResponseTopic(
                name=t,
                partitions=tuple(
                    _partition(OffsetFetchResponsePartition, p, None, _REFUSED) for p in parts
                ),
            )
            for t, parts in refused
        )
    )


def _group(
    ctx: RequestContext, g: OffsetFetchRequestGroup, require_stable: bool
) -> OffsetFetchResponseGroup:
    """The v8+ answer for one group; from v10 its topics are named by id."""
    image = ctx.broker.metadata.image
    by_id = ctx.api_version >= TOPIC_IDS_VERSION
    unknown: list[OffsetFetchRequestTopics] = []
    wanted: _Wanted | None = None
    if g.topics is not None:
        wanted = []
        for t in g.topics:
            name = t.name
            if by_id:
                state = image.topics_by_id.get(t.topic_id)
                if state is None:
                    unknown.append(t)
                    continue
                name = state.name
            wanted.append((name, t.partition_indexes))
    member = (g.member_id, g.member_epoch) if ctx.api_version >= 9 else None
    wanted, refused = _split(ctx, wanted)
    code, offsets = coordinator_of(ctx).offsets.fetch_offsets(g.group_id, wanted, member)
    if wanted is None:
        offsets = _describable(ctx, offsets)
    unstable = _unstable(ctx, g.group_id, require_stable)
    topics = []
    for name, parts in offsets:
        topic_id = ZERO_UUID
        if by_id:
            known = image.topics.get(name)
            if known is None:
                continue
            topic_id = known.topic_id
        topics.append(
            OffsetFetchResponseTopics(
                name=name,
                topic_id=topic_id,
                partitions=_partitions(OffsetFetchResponsePartitions, name, parts, unstable),
            )
        )
    if code == ErrorCode.NONE:
        topics.extend(
            OffsetFetchResponseTopics(
                topic_id=t.topic_id,
                partitions=tuple(
                    _partition(OffsetFetchResponsePartitions, p, None, ErrorCode.UNKNOWN_TOPIC_ID)
                    for p in t.partition_indexes
                ),
            )
            for t in unknown
        )
        topics.extend(
            OffsetFetchResponseTopics(
                name=name,
                topic_id=image.topics[name].topic_id if by_id else ZERO_UUID,
                partitions=tuple(
                    _partition(OffsetFetchResponsePartitions, p, None, _REFUSED) for p in parts
                ),
            )
            for name, parts in refused
        )
    return OffsetFetchResponseGroup(group_id=g.group_id, error_code=int(code), topics=tuple(topics))


def error_response(
    request: OffsetFetchRequest, version: int, code: ErrorCode
) -> OffsetFetchResponse:
    if version >= 8:
        return OffsetFetchResponse(
            groups=tuple(
                OffsetFetchResponseGroup(group_id=g.group_id, error_code=int(code))
                for g in request.groups
            )
        )
    if version >= 2:
        return OffsetFetchResponse(error_code=int(code))
    return OffsetFetchResponse(
        topics=tuple(
            OffsetFetchResponseTopic(
                name=t.name,
                partitions=tuple(
                    _partition(OffsetFetchResponsePartition, p, None, code)
                    for p in t.partition_indexes
                ),
            )
            for t in request.topics or ()
        )
    )


SPEC = ApiSpec(
    api_key=9,
    versions=VersionRange(0, 10),
    request=OffsetFetchRequest,
    response=OffsetFetchResponse,
    handle=handle,
    error_response=error_response,
)
