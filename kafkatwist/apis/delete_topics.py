"""DeleteTopics (api key 20): v0-v6.

Behavior:
* topics by name (v0-v5) or by name or id (v6+); unknown names get
  UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID;
* internal topics cannot be deleted (TOPIC_AUTHORIZATION_FAILED, as Kafka);
* ``delete.topic.enable=false`` refuses the whole request before anything
  is looked at or authorized (Kafka's C{ControllerApis.deleteTopics}):
  INVALID_REQUEST below v3, TOPIC_DELETION_DISABLED from v3, for every topic;
* the deletion is a RemoveTopicRecord in ``__cluster_metadata``; the
  partition directories are renamed with Kafka's ``-delete`` suffix and removed.

Authorization (Kafka's C{ControllerApis.deleteTopics}): DELETE on the
cluster allows every topic; else DELETE on each topic, and DESCRIBE to
learn about it. A name the principal may not describe is
TOPIC_AUTHORIZATION_FAILED whether or not the topic exists; a described one
that it may not delete is TOPIC_AUTHORIZATION_FAILED after the existence
check. An id of a topic it may not delete is TOPIC_AUTHORIZATION_FAILED,
with the topic's name only if it may describe the topic (the mapping of id
to name is not revealed otherwise).

Version notes:
* v4+: flexible; v5+: error messages; v6+: topic ids.
* ``timeout_ms`` is not read: the controller answers at once (one local
  metadata-log append), so there is nothing to wait for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, authorize_cluster, filter_authorized
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.delete_topics import (
    DeletableTopicResult,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire.primitives import ZERO_UUID
from kafkatwist.wire.versions import VersionRange


def _authorized(
    ctx: RequestContext, image: MetadataImage, wanted: Sequence[tuple[str | None, uuid.UUID]]
) -> tuple[set[str], set[str]]:
    """The (describable, deletable) names among the wanted topics, ids resolved to names."""
    names = {name for name, _ in wanted if name is not None}
    for name, topic_id in wanted:
        topic = image.topics_by_id.get(topic_id) if name is None else None
        if topic is not None:
            names.add(topic.name)
    if authorize_cluster(ctx, AclOperation.DELETE):
        return names, names
    return (
        filter_authorized(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, names),
        filter_authorized(ctx, AclOperation.DELETE, ResourceType.TOPIC, names),
    )


async def handle(ctx: RequestContext, request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    broker = ctx.broker
    if not broker.config.delete_topic_enable:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST if ctx.api_version < 3 else ErrorCode.TOPIC_DELETION_DISABLED
        )
    image = broker.metadata.image
    controller = broker.controller
    wanted = (
        [(t.name, t.topic_id) for t in request.topics]
        if ctx.api_version >= 6
        else [(n, ZERO_UUID) for n in request.topic_names]
    )
    describable, deletable = _authorized(ctx, image, wanted)
    results = []
    for name, topic_id in wanted:
        if name is not None:
            topic = image.topics.get(name)
            missing = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        else:
            topic = image.topics_by_id.get(topic_id)
            missing = ErrorCode.UNKNOWN_TOPIC_ID
        code, message = ErrorCode.NONE, None
        if name is not None and name not in describable:
            results.append(_refused(name, ZERO_UUID))
            continue
        if topic is None:
            code = missing
            message = (
                "This server does not host this topic ID."
                if name is None
                else ("This server does not host this topic-partition.")
            )
        elif topic.name not in deletable:
            if name is not None:
                results.append(_refused(name, ZERO_UUID))
            else:
                shown = topic.name if topic.name in describable else None
                results.append(_refused(shown, topic_id))
            continue
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


def _refused(name: str | None, topic_id: uuid.UUID) -> DeletableTopicResult:
    """TOPIC_AUTHORIZATION_FAILED, with Kafka's C{ApiError} default message."""
    code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    return DeletableTopicResult(
        name=name,
        topic_id=topic_id,
        error_code=int(code),
        error_message=AUTHORIZATION_MESSAGES[code],
    )


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
