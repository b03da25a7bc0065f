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
* the leader and only voter is the cluster's controller (C{cluster.controller_id}:
  with the file engine this broker, which shares the controller's raft
  client in combined mode; with PostgreSQL the broker holding the
  controller lease, the metadata log being a table every broker follows);
  the other live brokers are observers; the leader epoch is the raft epoch
  of the metadata log, the high watermark the metadata log's end offset as
  this broker has it; this broker's replica state has that end offset and
  the current time as last fetch and last caught-up time, another broker's
  is unknown here (end offset and times -1);
* v2: this broker's directory id is the metadata log dir's ``directory.id``
  (``meta.properties``; the zero UUID when unknown, as for other brokers), and
  the voter's node lists its controller listeners (this broker: the
  C{controller.listener.names} among C{listeners}, or, when none is
  configured, the listener it serves clients on, at its advertised address;
  another broker: its endpoint for the request's listener).

Version notes:
* v1+: last fetch and caught-up times; v2+: error messages (null), the
  directory id and the nodes (KIP-853).
"""

from __future__ import annotations

import uuid

from kafkatwist.apis._authz import AUTHORIZATION_MESSAGES, require_cluster
from kafkatwist.apis._cluster import live_node, live_nodes
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
    leader = broker.cluster.controller_id
    replicas = {}
    for node in live_nodes(ctx):
        if node.node_id == broker.node_id:
            # This broker knows its own place in the metadata log.
            replicas[node.node_id] = ReplicaState(
                replica_id=node.node_id,
                replica_directory_id=directory_id,
                log_end_offset=end,
                last_fetch_timestamp=now,
                last_caught_up_timestamp=now,
            )
        else:
            replicas[node.node_id] = ReplicaState(
                replica_id=node.node_id, replica_directory_id=uuid.UUID(int=0), log_end_offset=-1
            )
    voter = replicas.pop(leader, None)
    partition = PartitionDataResponse(
        partition_index=0,
        error_code=0,
        error_message=None,
        leader_id=leader,
        leader_epoch=metadata.epoch,
        high_watermark=end,
        current_voters=() if voter is None else (voter,),
        observers=tuple(replicas.values()),
    )
    return DescribeQuorumResponse(
        error_code=0,
        error_message=None,
        topics=(TopicDataResponse(topic_name=METADATA_TOPIC, partitions=(partition,)),),
        nodes=_nodes(ctx, leader) if v2 else (),
    )


def _nodes(ctx: RequestContext, leader: int) -> tuple[Node, ...]:
    """The voter's listeners (KIP-853): this broker's, or the controller's endpoint."""
    if leader == ctx.broker.node_id:
        return (Node(node_id=leader, listeners=_listeners(ctx)),)
    found = live_node(ctx, leader)
    if found is None:
        return ()
    listener = Listener(name=ctx.session.listener, host=found.host, port=found.port)
    return (Node(node_id=leader, listeners=(listener,)),)


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
