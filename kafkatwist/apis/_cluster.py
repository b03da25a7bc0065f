"""The cluster as a client sees it: live brokers, their endpoints, and who leads a partition.

Everything here reads C{ctx.broker.cluster} (L{kafkatwist.cluster.interfaces.ICluster})
and the metadata image only. This broker's own endpoint is the one the
client came in through (C{Broker.address_for}); another live broker's is its
registered endpoint for the request's listener (Kafka's
C{MetadataCache.getAliveBrokerNode(id, listenerName)}).

A partition's leader is the image's C{PartitionState.leader}; a leader that is
not live is answered as Kafka's C{KRaftMetadataCache} answers a leader without
an alive endpoint: leader -1 and LEADER_NOT_AVAILABLE.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen

from kafkatwist.apis._spec import RequestContext
from kafkatwist.storage.metadata_image import PartitionState, TopicState

#: Kafka's C{MetadataResponse.NO_LEADER_ID}.
NO_LEADER = -1


@frozen
class Node:
    """One live broker as a response names it (Kafka's C{Node})."""

    node_id: int
    host: str
    port: int
    rack: str | None


def live_nodes(ctx: RequestContext) -> list[Node]:
    """Every live broker, by node id, at its endpoint for the request's listener."""
    found = []
    for endpoint in ctx.broker.cluster.live_brokers():
        node = _node(ctx, endpoint.node_id)
        if node is not None:
            found.append(node)
    return sorted(found, key=lambda n: n.node_id)


def live_ids(ctx: RequestContext) -> frozenset[int]:
    """The node ids of the live brokers (for answers about many partitions at once)."""
    return frozenset(b.node_id for b in ctx.broker.cluster.live_brokers())


def live_node(ctx: RequestContext, node_id: int) -> Node | None:
    """Broker C{node_id} at its endpoint for the request's listener, or None if it is not live."""
    if node_id < 0 or not ctx.broker.cluster.is_live(node_id):
        return None
    return _node(ctx, node_id)


def _node(ctx: RequestContext, node_id: int) -> Node | None:
    broker = ctx.broker
    cluster = broker.cluster
    for endpoint in cluster.live_brokers():
        if endpoint.node_id != node_id:
            continue
        if node_id == broker.node_id:
            host, port = broker.address_for(ctx.session.listener, ctx.local_host)
            return Node(node_id, host, port, endpoint.rack)
        address = endpoint.address(ctx.session.listener)
        if address is None:
            return None
        return Node(node_id, address[0], address[1], endpoint.rack)
    return None


def leader_of(ctx: RequestContext, state: PartitionState) -> int:
    """The partition's leader if it is live, else L{NO_LEADER}."""
    leader = state.leader
    return leader if leader >= 0 and ctx.broker.cluster.is_live(leader) else NO_LEADER


def offline_replicas(ctx: RequestContext, replicas: Iterable[int]) -> tuple[int, ...]:
    """The replicas whose broker is not live (Kafka's C{getOfflineReplicas})."""
    cluster = ctx.broker.cluster
    return tuple(r for r in replicas if not cluster.is_live(r))


def live_replicas(ctx: RequestContext, replicas: Iterable[int]) -> tuple[int, ...]:
    """The replicas whose broker is live (Kafka's C{maybeFilterAliveReplicas}, Metadata v0)."""
    cluster = ctx.broker.cluster
    return tuple(r for r in replicas if cluster.is_live(r))


def current_leader(
    ctx: RequestContext, topic: TopicState | None, index: int
) -> tuple[int, int, Node | None]:
    """
    The image's leader of a partition, its epoch and its live endpoint (KIP-951).

    Kafka's C{KafkaApis.getCurrentLeader}: the leader id and epoch as the
    metadata know them (-1, -1 for a partition they do not have), and the
    leader's endpoint only when it is live.
    """
    state = topic.partitions.get(index) if topic is not None else None
    if state is None:
        return NO_LEADER, -1, None
    return state.leader, state.leader_epoch, live_node(ctx, state.leader)


__all__ = [
    "NO_LEADER",
    "Node",
    "current_leader",
    "leader_of",
    "live_ids",
    "live_node",
    "live_nodes",
    "live_replicas",
    "offline_replicas",
]
