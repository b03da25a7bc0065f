"""ListOffsets (api key 2): v0-v11.

Behavior:
* the special timestamps, answered as a Kafka broker without tiered storage:
  -2 (earliest) and -4 (earliest local, v8+) give the log start offset and
  the leader epoch of its record; -1 (latest) gives the last fetchable offset
  and the current leader epoch; -3 (max timestamp, v7+, KIP-734) gives the
  offset and timestamp of the record with the largest timestamp (the earliest
  on a tie); -5 (latest tiered, v9+, KIP-1005) and -6 (earliest pending
  upload, v11+, KIP-1023) give offset -1, timestamp -1, leader epoch -1, as
  nothing is tiered (Kafka's C{UnifiedLog.fetchOffsetByTimestamp} and
  C{fetchEarliestPendingUploadOffset} without remote storage);
* a timestamp >= 0 gives the first offset at or after the log start whose
  record timestamp is >= it, with that timestamp and the epoch of its batch;
  none found gives offset -1 / timestamp -1;
* the last fetchable offset is the high watermark for a consumer
  (``replica_id`` -1), the last stable offset under read_committed, the log
  end offset for any other replica id; a -3 or timestamp answer at or past it
  is no answer (offset -1), as in Kafka's ``ReplicaManager.fetchOffset``;
* one answer per partition, grouped by topic (Kafka collects them into a map);
* a topic the principal may not DESCRIBE: TOPIC_AUTHORIZATION_FAILED for
  each of its partitions, before any other check (Kafka's
  C{handleListOffsetRequest}, at every version);
* per partition, in Kafka's order: listed twice in the request →
  INVALID_REQUEST (answered once); a negative timestamp the version does not
  know (Kafka's ``timestampMinSupportedVersion``: -1/-2 v1, -3 v7, -4 v8, -5
  v9, -6 v11; any other negative never) → UNSUPPORTED_VERSION; unknown topic or
  partition → UNKNOWN_TOPIC_OR_PARTITION; ``current_leader_epoch`` (v4+, -1 =
  none) older than the partition's leader epoch → FENCED_LEADER_EPOCH, newer →
  UNKNOWN_LEADER_EPOCH; error answers carry offset, timestamp and leader epoch
  -1;
* a partition another broker of the cluster leads (or whose log is still
  loading here) is NOT_LEADER_OR_FOLLOWER, as Produce and Fetch answer it
  (L{kafkatwist.apis._partitions.find_partition}); with the file engine this
  broker leads every partition.

Version notes:
* v0 (Kafka's ``handleListOffsetRequestV0``): ``max_num_offsets`` and
  ``old_style_offsets``, offsets listed by segment modification time (Kafka's
  ``legacyFetchOffsetsBefore``) in descending order, capped at the high
  watermark for consumers; no duplicate, version or epoch checks. The log is
  treated as one segment based at the log start offset whose modification
  time is its largest record timestamp, plus the log end offset "now" when
  the log holds bytes; a negative ``max_num_offsets`` fails as in Kafka
  (UNKNOWN_SERVER_ERROR).
* v1+: one offset and its timestamp; v2+: isolation level; v4+: current
  leader epoch, leader epoch in the answer; v6+: flexible; v7-v9: the -3, -4
  and -5 timestamps; v10: ``timeout_ms``, unused without tiered storage;
  v11: the -6 timestamp (KIP-1023).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kafkatwist.apis._authz import filter_authorized
from kafkatwist.apis._offsets import epoch_at
from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsPartitionResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    ListOffsetsTopicResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.kraft import TopicState
from kafkatwist.wire.versions import VersionRange

LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5
EARLIEST_PENDING_UPLOAD_TIMESTAMP = -6

#: Kafka's ``ReplicaManager.timestampMinSupportedVersion``.
TIMESTAMP_MIN_VERSION = {
    EARLIEST_TIMESTAMP: 1,
    LATEST_TIMESTAMP: 1,
    MAX_TIMESTAMP: 7,
    EARLIEST_LOCAL_TIMESTAMP: 8,
    LATEST_TIERED_TIMESTAMP: 9,
    EARLIEST_PENDING_UPLOAD_TIMESTAMP: 11,
}

CONSUMER_REPLICA_ID = -1
READ_COMMITTED = 1
#: The version that added ``leader_epoch`` to the answer.
LEADER_EPOCH_VERSION = 4


def _error(partition: ListOffsetsPartition, code: ErrorCode) -> ListOffsetsPartitionResponse:
    return ListOffsetsPartitionResponse(
        partition_index=partition.partition_index,
        error_code=int(code),
        old_style_offsets=(),
    )


def _answer(
    partition: ListOffsetsPartition, version: int, offset: int, timestamp: int, epoch: int
) -> ListOffsetsPartitionResponse:
    return ListOffsetsPartitionResponse(
        partition_index=partition.partition_index,
        error_code=0,
        old_style_offsets=(),
        timestamp=timestamp,
        offset=offset,
        leader_epoch=epoch if version >= LEADER_EPOCH_VERSION else -1,
    )


async def handle(ctx: RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse:
    image = ctx.broker.metadata.image
    # DESCRIBE on each topic, asked once per name, before anything else (Kafka's
    # partitionSeqByAuthorized): a denied topic's partitions are TOPIC_AUTHORIZATION_FAILED.
    allowed = filter_authorized(
        ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    if ctx.api_version == 0:
        # Kafka's v0 path answers every requested entry, in request order.
        legacy = []
        for t in request.topics:
            topic = image.topics.get(t.name)
            legacy.append(
                (
                    t.name,
                    [
                        await _legacy(ctx, request, topic, p)
                        if t.name in allowed
                        else _error(p, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                        for p in t.partitions
                    ],
                )
            )
        return _response(legacy)
    # v1+: Kafka collects the partitions into a map, grouped by topic: one
    # answer per partition, even for one listed twice.
    seen = Counter((t.name, p.partition_index) for t in request.topics for p in t.partitions)
    by_topic: dict[str, dict[int, ListOffsetsPartitionResponse]] = {}
    for t in request.topics:
        topic = image.topics.get(t.name)
        answers = by_topic.setdefault(t.name, {})
        for p in t.partitions:
            duplicate = seen[(t.name, p.partition_index)] > 1
            if duplicate and p.partition_index in answers:
                continue
            if t.name not in allowed:
                answers[p.partition_index] = _error(p, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                continue
            answers[p.partition_index] = await _partition(ctx, request, topic, p, duplicate)
    return _response((name, answers.values()) for name, answers in by_topic.items())


def _response(
    topics: Iterable[tuple[str, Iterable[ListOffsetsPartitionResponse]]],
) -> ListOffsetsResponse:
    """The answers, by topic."""
    return ListOffsetsResponse(
        topics=tuple(
            ListOffsetsTopicResponse(name=name, partitions=tuple(answers))
            for name, answers in topics
        )
    )


async def _partition(
    ctx: RequestContext,
    request: ListOffsetsRequest,
    topic: TopicState | None,
    p: ListOffsetsPartition,
    duplicate: bool,
) -> ListOffsetsPartitionResponse:
    version = ctx.api_version
    timestamp = p.timestamp
    if duplicate:
        return _error(p, ErrorCode.INVALID_REQUEST)
    if timestamp < 0 and version < TIMESTAMP_MIN_VERSION.get(timestamp, 0x7FFF):
        return _error(p, ErrorCode.UNSUPPORTED_VERSION)
    partition = find_partition(ctx, topic, p.partition_index, p.current_leader_epoch)
    if isinstance(partition, ErrorCode):
        return _error(p, partition)
    current_epoch = partition.leader_epoch
    log = partition.log()
    if log.is_offline:  # Kafka's offline partition (a failed log dir): KafkaStorageException
        return _error(p, ErrorCode.KAFKA_STORAGE_ERROR)

    if request.replica_id != CONSUMER_REPLICA_ID:
        last_fetchable = log.log_end_offset
    elif request.isolation_level == READ_COMMITTED:
        last_fetchable = log.last_stable_offset
    else:
        last_fetchable = log.high_watermark

    if timestamp == LATEST_TIMESTAMP:
        return _answer(p, version, last_fetchable, -1, current_epoch)
    if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
        start = log.log_start_offset
        return _answer(p, version, start, -1, await epoch_at(log, start, current_epoch))
    if timestamp in (LATEST_TIERED_TIMESTAMP, EARLIEST_PENDING_UPLOAD_TIMESTAMP):
        return _answer(p, version, -1, -1, -1)
    try:
        if timestamp == MAX_TIMESTAMP:
            found = await log.max_timestamp()
        else:
            found = await log.offset_for_timestamp(timestamp)
    except KafkaError as e:
        return _error(p, e.code)
    if found is None or found.offset >= last_fetchable:
        return _answer(p, version, -1, -1, -1)
    offset, record_timestamp = found.offset, found.timestamp
    epoch = await log.epoch_for_offset(offset)
    return _answer(p, version, offset, record_timestamp, epoch)


async def _legacy(
    ctx: RequestContext,
    request: ListOffsetsRequest,
    topic: TopicState | None,
    p: ListOffsetsPartition,
) -> ListOffsetsPartitionResponse:
    """The v0 answer: Kafka's ``legacyFetchOffsetsForTimestamp``."""
    partition = find_partition(ctx, topic, p.partition_index)
    if isinstance(partition, ErrorCode):
        return _error(p, partition)
    log = partition.log()
    if log.is_offline:
        return _error(p, ErrorCode.KAFKA_STORAGE_ERROR)
    now = ctx.broker.now_ms()
    start = log.log_start_offset
    # (offset, modification time) per "segment", then the log end offset now.
    entries: list[tuple[int, int]]
    if log.size_in_bytes > 0:
        found = await log.max_timestamp()
        entries = [
            (start, found.timestamp if found is not None else now),
            (log.log_end_offset, now),
        ]
    else:
        entries = [(start, now)]
    if p.timestamp == LATEST_TIMESTAMP:
        index = len(entries) - 1
    elif p.timestamp == EARLIEST_TIMESTAMP:
        index = 0
    else:
        index = len(entries) - 1
        while index >= 0 and entries[index][1] > p.timestamp:
            index -= 1
    count = min(p.max_num_offsets, index + 1)
    if count < 0:
        # Kafka allocates an array of this size and fails.
        return _error(p, ErrorCode.UNKNOWN_SERVER_ERROR)
    offsets = sorted((entries[index - j][0] for j in range(count)), reverse=True)
    if request.replica_id == CONSUMER_REPLICA_ID:
        hw = log.high_watermark
        if any(o > hw for o in offsets):
            offsets = [hw] + [o for o in offsets if o <= hw]
    return ListOffsetsPartitionResponse(
        partition_index=p.partition_index, error_code=0, old_style_offsets=tuple(offsets)
    )


def error_response(
    request: ListOffsetsRequest, version: int, code: ErrorCode
) -> ListOffsetsResponse:
    """Every partition of the request answers C{code} (Kafka's ``getErrorResponse``)."""
    return _response((t.name, [_error(p, code) for p in t.partitions]) for t in request.topics)


SPEC = ApiSpec(
    api_key=2,
    versions=VersionRange(0, 11),
    request=ListOffsetsRequest,
    response=ListOffsetsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "ListOffsetsRequest.timeout_ms": "bounds remote (tiered storage) look-ups (KIP-1075); "
        "nothing is tiered here, every answer is immediate",
    },
)

__all__ = ["SPEC"]
