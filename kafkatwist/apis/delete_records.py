"""DeleteRecords (api key 21): v0-v2.

Behavior:
* each partition's log start offset advances to the requested offset (-1:
  the high watermark), and the answer's ``low_watermark`` is the new log start
  offset (one replica: the leader's is the partition's low watermark); an
  offset at or below the current log start changes nothing; whole segments
  below the new start are deleted by the log engine; the request never waits
  (``timeout_ms`` is for followers to catch up, and there are none);
* per partition, in Kafka's order: a topic the principal may not DELETE →
  TOPIC_AUTHORIZATION_FAILED (Kafka's C{handleDeleteRecordsRequest}, asked
  once per topic, before its existence); unknown topic or partition →
  UNKNOWN_TOPIC_OR_PARTITION; an internal topic (``__consumer_offsets``,
  ``__transaction_state``) → INVALID_TOPIC_EXCEPTION; a ``cleanup.policy``
  without ``delete`` → POLICY_VIOLATION; an offset beyond the high watermark or
  negative other than -1 → OFFSET_OUT_OF_RANGE; error answers carry
  ``low_watermark`` -1;
* a partition listed twice is answered once, for the last offset asked (Kafka
  collects the request into a map).

Version notes:
* v2+: flexible.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafkatwist.apis._authz import filter_authorized
from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.delete_records import (
    DeleteRecordsPartitionResult,
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    DeleteRecordsTopicResult,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.kraft import TopicState
from kafkatwist.wire.versions import VersionRange

#: Kafka's ``DeleteRecordsRequest.HIGH_WATERMARK``.
HIGH_WATERMARK = -1
INVALID_LOW_WATERMARK = -1


def _result(
    index: int, code: ErrorCode | int, low_watermark: int = INVALID_LOW_WATERMARK
) -> DeleteRecordsPartitionResult:
    return DeleteRecordsPartitionResult(
        partition_index=index, low_watermark=low_watermark, error_code=int(code)
    )


def _deletes_allowed(ctx: RequestContext, topic: TopicState) -> bool:
    """Whether the topic's resolved ``cleanup.policy`` includes ``delete``."""
    return ctx.broker.configs.log_config(topic.name).deletes


async def handle(ctx: RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse:
    image = ctx.broker.metadata.image
    # (topic, partition) -> offset, in first-seen order; the last offset wins.
    wanted: dict[tuple[str, int], int] = {}
    for t in request.topics:
        for p in t.partitions:
            wanted[(t.name, p.partition_index)] = p.offset
    allowed = filter_authorized(
        ctx, AclOperation.DELETE, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    by_topic: dict[str, list[DeleteRecordsPartitionResult]] = {}
    for (name, index), offset in wanted.items():
        if name not in allowed:
            result = _result(index, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
        else:
            result = await _delete(ctx, image.topics.get(name), index, offset)
        by_topic.setdefault(name, []).append(result)
    return _response(by_topic.items())


def _response(
    topics: Iterable[tuple[str, Iterable[DeleteRecordsPartitionResult]]],
) -> DeleteRecordsResponse:
    """The results, by topic."""
    return DeleteRecordsResponse(
        topics=tuple(
            DeleteRecordsTopicResult(name=name, partitions=tuple(results))
            for name, results in topics
        )
    )


async def _delete(
    ctx: RequestContext, topic: TopicState | None, index: int, offset: int
) -> DeleteRecordsPartitionResult:
    found = find_partition(ctx, topic, index)
    if isinstance(found, ErrorCode):
        return _result(index, found)
    if found.topic.is_internal:
        return _result(index, ErrorCode.INVALID_TOPIC_EXCEPTION)
    if not _deletes_allowed(ctx, found.topic):
        return _result(index, ErrorCode.POLICY_VIOLATION)
    log = found.log()
    if offset == HIGH_WATERMARK:
        offset = log.high_watermark
    if offset < 0:
        return _result(index, ErrorCode.OFFSET_OUT_OF_RANGE)
    try:
        low_watermark = await log.delete_records_before(offset)
    except KafkaError as e:
        return _result(index, e.code)
    return _result(index, 0, int(low_watermark))


def error_response(
    request: DeleteRecordsRequest, version: int, code: ErrorCode
) -> DeleteRecordsResponse:
    """Every partition answers C{code} with low watermark -1."""
    return _response(
        (t.name, [_result(p.partition_index, code) for p in t.partitions]) for t in request.topics
    )


SPEC = ApiSpec(
    api_key=21,
    versions=VersionRange(0, 2),
    request=DeleteRecordsRequest,
    response=DeleteRecordsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "DeleteRecordsRequest.timeout_ms": "the wait for followers to reach the new low "
        "watermark; there are none",
    },
)

__all__ = ["SPEC"]
