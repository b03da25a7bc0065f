"""DescribeQuorum (api key 55): v0-v2.

Behavior (Kafka's C{KafkaRaftClient.handleDescribeQuorumRequest} on the
leader, this broker being a combined broker and controller):
* authorization: DESCRIBE on the cluster (Kafka's
  C{ControllerApis.handleDescribeQuorum}, where the broker forwards it);
  without it the top-level CLUSTER_AUTHORIZATION_FAILED "Cluster authorization
  failed." (message v2+);
* the request must name ``__cluster_metadata`` partition 0 alone; anything
  else gets UNKNOWN_TOPIC_OR_PARTITION on every partition it names (top
  level NONE), as C{DescribeQuorumRequest.getPartitionLevelErrorResponse};
* this broker is the leader and only voter: its leader epoch is the raft
  epoch of the metadata log, the high watermark is the metadata log's end
  offset (a single voter commits what it writes), and its replica state
  has that end offset and, as the leader's, the current time as last fetch
  and last caught-up time; there are no observers (the broker role shares
  the controller's raft client in combined mode);
* v2: the voter's directory id is the metadata log dir's ``directory.id``
  (``meta.properties``; the zero UUID when unknown), and the node lists its
  controller listeners (C{controller.listener.names} among C{listeners}),
  or, when none is configured, the listener this broker serves clients on,
  at its advertised address.

Version notes:
* v1+: last fetch and caught-up times; v2+: error messages (null), the
  directory id and the nodes (KIP-853).
"""

from __future__ import annotations

import uuid

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_quorum import (
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    Listener,
    Node,
    PartitionDataResponse,
    ReplicaState,
    TopicDataResponse,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.storage.kraft import METADATA_TOPIC
from kafkatwist.wire.versions import VersionRange


def _is_metadata_partition(request: DescribeQuorumRequest) -> bool:
    """Kafka's C{KafkaRaftClient.hasValidTopicPartition}."""
    if len(request.topics) != 1:
        return False
    topic = request.topics[0]
    return (
        topic.topic_name == METADATA_TOPIC
        and len(topic.partitions) == 1
        and topic.partitions[0].partition_index == 0
    )


def _unknown_partitions(request: DescribeQuorumRequest) -> DescribeQuorumResponse:
    return DescribeQuorumResponse(
        error_code=0,
        topics=tuple(
            TopicDataResponse(
                topic_name=t.topic_name,
                partitions=tuple(
                    PartitionDataResponse(
                        partition_index=p.partition_index,
                        error_code=int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
                        error_message=None,
                    )
                    for p in t.partitions
                ),
            )
            for t in request.topics
        ),
    )


def _listeners(ctx: RequestContext) -> tuple[Listener, ...]:
    broker = ctx.broker
    config = broker.config
    names = [
        listener.name
        for listener in config.listeners
        if listener.name not in config.controller_listener_names
    ]
    name = names[0] if names else "PLAINTEXT"
    host, port = broker.address_for(name, ctx.local_host)
    controllers = tuple(
        Listener(name=listener.name, host=listener.host or host, port=listener.port)
        for listener in config.listeners
        if listener.name in config.controller_listener_names
    )
    if controllers:
        return controllers
    return (Listener(name=name, host=host, port=port),)


async def handle(ctx: RequestContext, request: DescribeQuorumRequest) -> DescribeQuorumResponse:
    require_cluster(ctx, AclOperation.DESCRIBE)
    if not _is_metadata_partition(request):
        return _unknown_partitions(request)
    broker = ctx.broker
    metadata = broker.metadata
    end = metadata.next_offset
    now = broker.now_ms()
    v2 = ctx.api_version >= 2
    directory_id = (broker.metadata_directory_id if v2 else None) or uuid.UUID(int=0)
    voter = ReplicaState(
        replica_id=broker.node_id,
        replica_directory_id=directory_id,
        log_end_offset=end,
        last_fetch_timestamp=now,
        last_caught_up_timestamp=now,
    )
    partition = PartitionDataResponse(
        partition_index=0,
        error_code=0,
        error_message=None,
        leader_id=broker.node_id,
        leader_epoch=metadata.epoch,
        high_watermark=end,
        current_voters=(voter,),
        observers=(),
    )
    return DescribeQuorumResponse(
        error_code=0,
        error_message=None,
        topics=(TopicDataResponse(topic_name=METADATA_TOPIC, partitions=(partition,)),),
        nodes=(Node(node_id=broker.node_id, listeners=_listeners(ctx)),) if v2 else (),
    )


def error_response(
    request: DescribeQuorumRequest, version: int, code: ErrorCode
) -> DescribeQuorumResponse:
    """
    The top-level error (Kafka's C{DescribeQuorumRequest.getErrorResponse}:
    C{getTopLevelErrorResponse}), with Kafka's message for an authorization error (v2+).
    """
    if version < 2:  # no message before v2
        return DescribeQuorumResponse(error_code=int(code))
    message = AUTHORIZATION_MESSAGES.get(code)
    return DescribeQuorumResponse(error_code=int(code), error_message=message)


SPEC = ApiSpec(
    api_key=55,
    versions=VersionRange(0, 2),
    request=DescribeQuorumRequest,
    response=DescribeQuorumResponse,
    handle=handle,
    error_response=error_response,
)

__all__ = ["SPEC"]
