"""CreateTopics (api key 19): v0-v7.

Behavior:
* partitions and replication factor (-1 means the broker's ``num.partitions``
  and ``default.replication.factor``), placed over the live brokers by the
  cluster, or explicit assignments naming live brokers; a replication factor
  above the live brokers is INVALID_REPLICATION_FACTOR;
* configs are validated against Kafka's topic configs (INVALID_CONFIG);
* an existing name is TOPIC_ALREADY_EXISTS; an invalid one
  INVALID_TOPIC_EXCEPTION; a name listed twice is INVALID_REQUEST;
* ``validate_only`` checks everything and creates nothing;
* the topic is persisted as TopicRecord, ConfigRecord and PartitionRecord
  records in ``__cluster_metadata``, which itself cannot be created
  (INVALID_REQUEST);

Authorization (Kafka's C{ControllerApis.createTopics}): CREATE on the
cluster, else CREATE on each topic: a topic the principal may not create is
TOPIC_AUTHORIZATION_FAILED "Authorization failed."; a created topic's
partitions, replication factor and configs are returned only with
DESCRIBE_CONFIGS on it, else ``topic_config_error_code`` is
TOPIC_AUTHORIZATION_FAILED and they keep their defaults (-1, none).

Version notes:
* v1+: validate_only and error messages; v5+: flexible, and the created
  topic's partitions, replication factor and configs; v7+: topic id.
* ``topic_config_error_code`` (v5+, tagged): TOPIC_AUTHORIZATION_FAILED
  when the principal may not describe the new topic's configs.
* ``timeout_ms`` is not read: the controller answers at once (one local
  metadata-log append), so there is nothing to wait for.
"""

from __future__ import annotations

from collections import Counter

from kafkatwist.apis._authz import filter_authorized, filter_authorized_or_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.config.layers import ConfigLayers
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.create_topics import (
    CreatableTopicConfigs,
    CreatableTopicResult,
    CreateTopicsRequest,
    CreateTopicsResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.kraft import METADATA_TOPIC
from kafkatwist.wire.primitives import ZERO_UUID
from kafkatwist.wire.versions import VersionRange


def topic_configs_entries(
    layers: ConfigLayers, overrides: dict[str, str]
) -> tuple[CreatableTopicConfigs, ...]:
    """Every topic config of a new topic with its value and source, as DescribeConfigs has them."""
    return tuple(
        CreatableTopicConfigs(
            name=entry.name,
            value=entry.value,
            read_only=entry.read_only,
            config_source=entry.source,
            is_sensitive=entry.sensitive,
        )
        for entry in layers.describe_topic(overrides, None, False, False)
    )


async def handle(ctx: RequestContext, request: CreateTopicsRequest) -> CreateTopicsResponse:
    controller = ctx.broker.controller
    layers = ctx.broker.configs.layers()
    counts = Counter(t.name for t in request.topics)
    names = [n for n, count in counts.items() if count == 1 and n != METADATA_TOPIC]
    creatable = filter_authorized_or_cluster(ctx, AclOperation.CREATE, ResourceType.TOPIC, names)
    describable = filter_authorized(ctx, AclOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, names)
    results = []
    for t in request.topics:
        if counts[t.name] > 1:
            results.append(
                _refused(t.name, ErrorCode.INVALID_REQUEST, f"Duplicate topic name: {t.name}")
            )
            continue
        if t.name == METADATA_TOPIC:
            message = f"Creation of internal topic {METADATA_TOPIC} is prohibited."
            results.append(_refused(t.name, ErrorCode.INVALID_REQUEST, message))
            continue
        if t.name not in creatable:
            message = "Authorization failed."
            results.append(_refused(t.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED, message))
            continue
        configs = {c.name: c.value for c in t.configs}
        assignments = [(a.partition_index, a.broker_ids) for a in t.assignments]
        try:
            partitions, rf = controller.check_new_topic(
                t.name, t.num_partitions, t.replication_factor, assignments, configs
            )
            topic_id = None
            if not request.validate_only:
                topic = await (
                    controller.create_topic(
                        t.name, t.num_partitions, t.replication_factor, assignments, configs
                    )
                    if assignments
                    else controller.create_topic(t.name, partitions, rf, (), configs)
                )
                topic_id = topic.topic_id
        except KafkaError as e:
            results.append(_refused(t.name, e.code, e.message))
            continue
        if t.name not in describable:
            results.append(
                CreatableTopicResult(
                    name=t.name,
                    topic_id=topic_id or ZERO_UUID,
                    error_code=0,
                    error_message=None,
                    topic_config_error_code=int(ErrorCode.TOPIC_AUTHORIZATION_FAILED),
                    configs=(),
                )
            )
            continue
        overrides = {k: v for k, v in configs.items() if v is not None}
        results.append(
            CreatableTopicResult(
                name=t.name,
                topic_id=topic_id or ZERO_UUID,
                error_code=0,
                error_message=None,
                num_partitions=partitions,
                replication_factor=rf,
                configs=topic_configs_entries(layers, overrides),
            )
        )
    return CreateTopicsResponse(topics=tuple(results))


def _refused(name: str, code: ErrorCode, message: str | None) -> CreatableTopicResult:
    return CreatableTopicResult(name=name, error_code=int(code), error_message=message)


def error_response(
    request: CreateTopicsRequest, version: int, code: ErrorCode
) -> CreateTopicsResponse:
    return CreateTopicsResponse(
        topics=tuple(
            CreatableTopicResult(name=t.name, error_code=int(code)) for t in request.topics
        )
    )


SPEC = ApiSpec(
    api_key=19,
    versions=VersionRange(0, 7),
    request=CreateTopicsRequest,
    response=CreateTopicsResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "CreateTopicsRequest.timeout_ms": "the controller's answer is immediate "
        "(one local metadata-log append): nothing to wait for",
    },
)
