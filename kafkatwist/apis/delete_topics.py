"""DeleteTopics (api key 20): v0-v6.

Behavior:
* topics by name (v0-v5) or by name or id (v6+); unknown names get
  UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID;
* internal topics cannot be deleted (TOPIC_AUTHORIZATION_FAILED, as Kafka);
* ``delete.topic.enable=false`` gives TOPIC_DELETION_DISABLED;
* the deletion is a RemoveTopicRecord in ``__cluster_metadata``; the
  partition directories are renamed with Kafka's ``-delete`` suffix and removed.

Version notes:
* v4+: flexible; v5+: error messages; v6+: topic ids.
* ``timeout_ms`` is not read: the controller answers at once (one local
  metadata-log append), so there is nothing to wait for.
"""

from __future__ import annotations

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.delete_topics import (
    DeletableTopicResult,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
)
from kafkatwist.wire.primitives import ZERO_UUID
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    broker = ctx.broker
    image = broker.metadata.image
    controller = broker.controller
    wanted = (
        [(t.name, t.topic_id) for t in request.topics]
        if ctx.api_version >= 6
        else [(n, ZERO_UUID) for n in request.topic_names]
    )
    results = []
    for name, topic_id in wanted:
        if name is not None:
            topic = image.topics.get(name)
            missing = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        else:
            topic = image.topics_by_id.get(topic_id)
            missing = ErrorCode.UNKNOWN_TOPIC_ID
        code, message = ErrorCode.NONE, None
        if topic is None:
            code = missing
            message = (
                "This server does not host this topic ID."
                if name is None
                else ("This server does not host this topic-partition.")
            )
        elif not broker.config.delete_topic_enable:
            code, message = ErrorCode.TOPIC_DELETION_DISABLED, "Topic deletion is disabled."
        elif topic.is_internal:
            code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            message = "Deletion of internal topics is not allowed."
        else:
            try:
                await controller.delete_topic(topic)
            except KafkaError as e:
                code, message = e.code, e.message
        results.append(
            DeletableTopicResult(
                name=topic.name if topic is not None else name,
                topic_id=topic.topic_id if topic is not None else topic_id,
                error_code=int(code),
                error_message=message,
            )
        )
    return DeleteTopicsResponse(responses=tuple(results))


def error_response(
    request: DeleteTopicsRequest, version: int, code: ErrorCode
) -> DeleteTopicsResponse:
    if version >= 6:
        items = [(t.name, t.topic_id) for t in request.topics]
    else:
        items = [(n, ZERO_UUID) for n in request.topic_names]
    return DeleteTopicsResponse(
        responses=tuple(
            DeletableTopicResult(name=n, topic_id=i, error_code=int(code)) for n, i in items
        )
    )


SPEC = ApiSpec(
    api_key=20,
    versions=VersionRange(0, 6),
    request=DeleteTopicsRequest,
    response=DeleteTopicsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "DeleteTopicsRequest.timeout_ms": "the controller's answer is immediate "
        "(one local metadata-log append): nothing to wait for",
    },
)
