"""Metadata (api key 3): v0-v13.

Behavior:
* brokers: this broker, at its advertised listener (or the address the client
  connected to); the controller id is this broker; cluster id from
  ``meta.properties``;
* a null topic list (v1+), or an empty one at v0, returns every topic; an
  empty list at v1+ returns none;
* a missing topic is created when ``auto.create.topics.enable`` and the
  request's ``allow_auto_topic_creation`` are both set, with ``num.partitions``;
  the answer then already describes it; otherwise UNKNOWN_TOPIC_OR_PARTITION;
* an invalid name gets INVALID_TOPIC_EXCEPTION and is never created;
* v10+: topics may be named by id, with a null or empty name (unknown:
  UNKNOWN_TOPIC_ID);
* v13+: the top-level ``error_code`` (KIP-1102) is NONE in an answer, as a
  Kafka 4.3 broker's; an error answer (L{error_response}) carries the code
  there as well as in each topic (Kafka's C{MetadataRequest.getErrorResponse}).

Authorization (Kafka's C{KafkaApis.handleTopicMetadataRequest}):
* all topics: those the principal may not DESCRIBE are left out;
* a named topic without DESCRIBE: TOPIC_AUTHORIZATION_FAILED with the null
  topic id, checked before its existence (nothing tells whether it
  exists); named by id (v12+): TOPIC_AUTHORIZATION_FAILED with the id and a
  null name (ids are not secret), an unknown id UNKNOWN_TOPIC_ID first;
* auto-creation needs CREATE on the cluster or else on the topic: without
  it a missing (or invalid) name is TOPIC_AUTHORIZATION_FAILED instead of
  being created;
* ``include_topic_authorized_operations`` (v8+): each answered topic the
  principal may describe carries its KIP-430 operations, the others the
  schema default (C{AUTHORIZED_OPERATIONS_OMITTED});
  ``include_cluster_authorized_operations`` (v8-v10): the cluster's, 0
  without DESCRIBE on the cluster.

Version notes:
* v1+: controller id, is_internal, rack; v2+: cluster id; v4+: auto-creation
  flag; v5+: offline replicas; v7+: leader epoch; v8+: authorized operations;
  v9+: flexible; v10+: topic ids; v13+: top-level error code (KIP-1102, so
  a broker can ask a client to rebootstrap with REBOOTSTRAP_REQUIRED).
"""

from __future__ import annotations

from uuid import UUID

import attrs

from kafkatwist.apis._authz import (
    authorize_cluster,
    authorized_operations,
    cluster_authorized_operations,
)
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._topics import validate_topic_name
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.metadata import (
    MetadataRequest,
    MetadataRequestTopic,
    MetadataResponse,
    MetadataResponseBroker,
    MetadataResponsePartition,
    MetadataResponseTopic,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.metadata_image import INTERNAL_TOPICS
from kafkatwist.wire.primitives import ZERO_UUID
from kafkatwist.wire.versions import VersionRange

OFFSETS_TOPIC = "__consumer_offsets"
#: The first version with a top-level error code (KIP-1102).
TOP_LEVEL_ERROR_VERSION = 13


def topic_metadata(
    ctx: RequestContext, topic: TopicState, include_ops: bool
) -> MetadataResponseTopic:
    """The Metadata answer for one existing topic."""
    return _with_ops(
        ctx,
        MetadataResponseTopic(
            error_code=0,
            name=topic.name,
            topic_id=topic.topic_id,
            is_internal=topic.is_internal,
            partitions=tuple(
                MetadataResponsePartition(
                    error_code=0,
                    partition_index=i,
                    leader_id=p.leader,
                    leader_epoch=p.leader_epoch,
                    replica_nodes=p.replicas,
                    isr_nodes=p.isr,
                    offline_replicas=(),
                )
                for i, p in sorted(topic.partitions.items())
            ),
        ),
        include_ops,
    )


def _with_ops(
    ctx: RequestContext, answer: MetadataResponseTopic, include_ops: bool
) -> MetadataResponseTopic:
    """
    C{answer} with the topic's KIP-430 operations when the request asked.

    Kafka sets them on every answer of a topic the principal may describe
    (an unknown or invalid name's included), never on an authorization
    failure or an unknown id (those keep the schema default).
    """
    if not include_ops or answer.name is None:
        return answer
    ops = authorized_operations(ctx, ResourceType.TOPIC, answer.name)
    return attrs.evolve(answer, topic_authorized_operations=ops)


def _describable(ctx: RequestContext, name: str) -> bool:
    return ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name)


async def handle(ctx: RequestContext, request: MetadataRequest) -> MetadataResponse:
    broker = ctx.broker
    image = broker.metadata.image
    version = ctx.api_version
    include_ops = request.include_topic_authorized_operations
    auto_create = broker.config.auto_create_topics_enable and (
        request.allow_auto_topic_creation or version < 4
    )
    topics: list[MetadataResponseTopic] = []
    requested = request.topics
    if requested is None or (version == 0 and not requested):
        # Every topic the principal may describe; the others are left out, unmentioned.
        topics = [
            topic_metadata(ctx, t, include_ops)
            for name, t in sorted(image.topics.items())
            if _describable(ctx, name)
        ]
    else:
        for rt in requested:
            topics.append(await _one_topic(ctx, rt, auto_create, include_ops))
    host, port = broker.address_for(ctx.session.listener, ctx.local_host)
    return MetadataResponse(
        error_code=0,
        brokers=(
            MetadataResponseBroker(
                node_id=broker.node_id,
                host=host,
                port=port,
                rack=None,
            ),
        ),
        cluster_id=broker.cluster_id or None,
        controller_id=broker.node_id,
        topics=tuple(topics),
        cluster_authorized_operations=cluster_authorized_operations(
            ctx, request.include_cluster_authorized_operations
        ),
    )


def _may_create(ctx: RequestContext, name: str) -> bool:
    """CREATE on the cluster, or else on the topic (Kafka's auto-creation check)."""
    return authorize_cluster(ctx, AclOperation.CREATE) or ctx.authorize(
        AclOperation.CREATE, ResourceType.TOPIC, name
    )


async def _one_topic(
    ctx: RequestContext, rt: MetadataRequestTopic, auto_create: bool, include_ops: bool
) -> MetadataResponseTopic:
    image = ctx.broker.metadata.image
    # The Java client (4.x, regex subscriptions) names topics by id with an empty name.
    if rt.name is None or (not rt.name and rt.topic_id != ZERO_UUID):
        topic = image.topics_by_id.get(rt.topic_id)
        if topic is None:
            return MetadataResponseTopic(
                error_code=int(ErrorCode.UNKNOWN_TOPIC_ID), name=None, topic_id=rt.topic_id
            )
        if not _describable(ctx, topic.name):
            # Kafka: an id is not secret, so it is answered; the name is not.
            return _denied(None, topic.topic_id)
        return topic_metadata(ctx, topic, include_ops)
    name = rt.name
    if not _describable(ctx, name):
        # Checked before existence: whether the topic exists is not told.
        return _denied(name, ZERO_UUID)
    topic = image.topics.get(name)
    if topic is not None:
        return topic_metadata(ctx, topic, include_ops)
    if auto_create and not _may_create(ctx, name):
        return _denied(name, ZERO_UUID, is_internal=name in INTERNAL_TOPICS)
    if validate_topic_name(name) is not None:
        answer = MetadataResponseTopic(
            error_code=int(ErrorCode.INVALID_TOPIC_EXCEPTION), name=name, topic_id=ZERO_UUID
        )
        return _with_ops(ctx, answer, include_ops)
    if auto_create:
        controller = ctx.broker.controller
        try:
            if name == OFFSETS_TOPIC:
                # Kafka creates it with offsets.topic.num.partitions and its own configs.
                topic = await ctx.broker.groups.ensure_offsets_topic()
            else:
                topic = await controller.create_topic(name)
        except KafkaError as e:
            # NOT_CONTROLLER: another broker wrote metadata first (the image is caught up).
            if e.code not in (ErrorCode.TOPIC_ALREADY_EXISTS, ErrorCode.NOT_CONTROLLER):
                return _with_ops(
                    ctx, MetadataResponseTopic(error_code=int(e.code), name=name), include_ops
                )
            topic = image.topics.get(name)
            if topic is None:
                # Another request is creating it right now: Kafka's answer while it is created.
                answer = MetadataResponseTopic(
                    error_code=int(ErrorCode.LEADER_NOT_AVAILABLE), name=name
                )
                return _with_ops(ctx, answer, include_ops)
        return topic_metadata(ctx, topic, include_ops)
    answer = MetadataResponseTopic(
        error_code=int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), name=name, topic_id=ZERO_UUID
    )
    return _with_ops(ctx, answer, include_ops)


def _denied(name: str | None, topic_id: UUID, is_internal: bool = False) -> MetadataResponseTopic:
    """TOPIC_AUTHORIZATION_FAILED, with no partitions (and the schema's default operations)."""
    return MetadataResponseTopic(
        error_code=int(ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        name=name,
        topic_id=topic_id,
        is_internal=is_internal,
    )


def error_response(request: MetadataRequest, version: int, code: ErrorCode) -> MetadataResponse:
    return MetadataResponse(
        error_code=int(code) if version >= TOP_LEVEL_ERROR_VERSION else 0,
        topics=tuple(
            MetadataResponseTopic(error_code=int(code), name=t.name, topic_id=t.topic_id)
            for t in request.topics or ()
        ),
    )


SPEC = ApiSpec(
    api_key=3,
    versions=VersionRange(0, 13),
    request=MetadataRequest,
    response=MetadataResponse,
    handle=handle,
    error_response=error_response,
)
