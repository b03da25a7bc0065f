"""DescribeTopicPartitions (api key 75): v0.

Behavior (KIP-966; Kafka's ``DescribeTopicPartitionsRequestHandler``):
* an empty topic list describes every topic; otherwise the listed ones;
* topics come back sorted by name, partitions in index order, with leader,
  leader epoch, replicas, ISR, ELR, last known ELR and offline replicas
  (Kafka's C{KRaftMetadataCache}: a leader that is not live is -1, with no
  error; replicas that are not live are offline);
* an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION (an invalid name
  INVALID_TOPIC_EXCEPTION), the null topic id and no partitions;
* ``response_partition_limit`` (capped at 2000, at least 1) and the request
  cursor paginate; ``next_cursor`` names where the next page starts;
* a cursor whose topic is not in the requested list, or with a negative
  partition index, is INVALID_REQUEST; listing every topic, the cursor's
  topic need not exist (the listing starts at its name), so that the
  answer does not reveal whether a topic the principal may not describe exists.

* authorization (Kafka's C{DescribeTopicPartitionsRequestHandler}): a
  topic the principal may not DESCRIBE is left out when every topic is
  asked for, else answered TOPIC_AUTHORIZATION_FAILED with the null id
  (after the other topics, whether it exists or not); every other topic,
  an unknown one included, carries its KIP-430 ``topic_authorized_operations``
  (every topic operation without an authorizer).

Version notes:
* v0: flexible.
"""

from __future__ import annotations

from kafkatwist.apis._authz import authorized_operations
from kafkatwist.apis._cluster import leader_of, offline_replicas
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._topics import topic_name_error
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.describe_topic_partitions import (
    Cursor,
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
    DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.primitives import ZERO_UUID
from kafkatwist.wire.versions import VersionRange

#: Kafka's ``max.request.partition.size.limit`` default.
MAX_PARTITION_LIMIT = 2000


async def handle(
    ctx: RequestContext, request: DescribeTopicPartitionsRequest
) -> DescribeTopicPartitionsResponse:
    image = ctx.broker.metadata.image
    fetch_all = not request.topics
    names = set(image.topics) if fetch_all else {t.name for t in request.topics}
    cursor = request.cursor
    if cursor is not None:
        # Only a listed request's cursor must name one of its topics (Kafka's handler):
        # checked against every topic, it would say whether an undescribable one exists.
        if not fetch_all and cursor.topic_name not in names:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "the cursor topic must be requested")
        if cursor.partition_index < 0:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "negative cursor partition index")
    remaining = max(min(MAX_PARTITION_LIMIT, request.response_partition_limit), 1)
    topics: list[DescribeTopicPartitionsResponseTopic] = []
    # Named topics the principal may not describe, answered after the others.
    denied: list[DescribeTopicPartitionsResponseTopic] = []
    next_cursor = None
    for name in sorted(names):
        if cursor is not None and name < cursor.topic_name:
            continue
        if remaining == 0:
            next_cursor = Cursor(topic_name=name, partition_index=0)
            break
        if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, name):
            if not fetch_all:
                denied.append(
                    DescribeTopicPartitionsResponseTopic(
                        error_code=int(ErrorCode.TOPIC_AUTHORIZATION_FAILED),
                        name=name,
                        topic_id=ZERO_UUID,
                        is_internal=False,
                    )
                )
            continue
        operations = authorized_operations(ctx, ResourceType.TOPIC, name)
        topic = image.topics.get(name)
        if topic is None:
            if not fetch_all:
                topics.append(
                    DescribeTopicPartitionsResponseTopic(
                        error_code=topic_name_error(name),
                        name=name,
                        topic_id=ZERO_UUID,
                        is_internal=False,
                        topic_authorized_operations=operations,
                    )
                )
            continue
        start = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        indexes = sorted(i for i in topic.partitions if i >= start)
        page, rest = indexes[:remaining], indexes[remaining:]
        partitions = tuple(
            DescribeTopicPartitionsResponsePartition(
                error_code=0,
                partition_index=i,
                leader_id=leader_of(ctx, p := topic.partitions[i]),
                leader_epoch=p.leader_epoch,
                replica_nodes=p.replicas,
                isr_nodes=p.isr,
                eligible_leader_replicas=p.eligible_leader_replicas or (),
                last_known_elr=p.last_known_elr or (),
                offline_replicas=offline_replicas(ctx, p.replicas),
            )
            for i in page
        )
        topics.append(
            DescribeTopicPartitionsResponseTopic(
                error_code=0,
                name=name,
                topic_id=topic.topic_id,
                is_internal=topic.is_internal,
                partitions=partitions,
                topic_authorized_operations=operations,
            )
        )
        if rest:
            next_cursor = Cursor(topic_name=name, partition_index=rest[0])
            break
        remaining -= len(page)
    return DescribeTopicPartitionsResponse(topics=(*topics, *denied), next_cursor=next_cursor)


def error_response(
    request: DescribeTopicPartitionsRequest, version: int, code: ErrorCode
) -> DescribeTopicPartitionsResponse:
    return DescribeTopicPartitionsResponse(
        topics=tuple(
            DescribeTopicPartitionsResponseTopic(error_code=int(code), name=t.name)
            for t in request.topics
        )
    )


SPEC = ApiSpec(
    api_key=75,
    versions=VersionRange(0, 0),
    request=DescribeTopicPartitionsRequest,
    response=DescribeTopicPartitionsResponse,
    handle=handle,
    error_response=error_response,
)
