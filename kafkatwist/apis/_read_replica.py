"""The preferred read replica a leader answers a consumer's Fetch with (KIP-392).

Kafka's C{ReplicaManager.findPreferredReadReplica}: only the leader answers
one, only to a consumer (replica id < 0) that sent its client metadata
(Fetch v11+), and only with a C{replica.selector.class}
(L{kafkatwist.cluster.replica_selector}). The candidates are the leader and
the followers that are in the ISR, live (their endpoint exists for the
request's listener) and hold the fetch offset (between their log start and
log end offsets); the selector picks one, and the leader itself is never
named. Only an engine whose followers can serve (C{broker.followers}: the
PostgreSQL engine, where a follower's log is the committed one: its log
start and end are the leader's log start and high watermark) has any.
"""

from __future__ import annotations

from kafkatwist.apis._cluster import live_node
from kafkatwist.apis._spec import RequestContext
from kafkatwist.cluster.replica_selector import ReplicaView, select_replica
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState

#: The first Fetch version that carries the consumer's rack (its client metadata).
CLIENT_METADATA_VERSION = 11


def preferred_read_replica(
    ctx: RequestContext,
    selector: str,
    client_rack: str,
    topic: TopicState,
    index: int,
    fetch_offset: int,
    log: IPartitionLog,
) -> int | None:
    """The follower C{selector} prefers for this consumer, or None (the leader serves)."""
    state = topic.partitions.get(index)
    own = live_node(ctx, ctx.broker.node_id)
    if state is None or own is None:
        return None
    leader = ReplicaView(own.node_id, own.rack, log.log_end_offset)
    replicas = [leader]
    if log.log_start_offset <= fetch_offset <= log.high_watermark:
        for replica in state.replicas:
            if replica == leader.node_id or replica not in state.isr:
                continue
            node = live_node(ctx, replica)
            if node is not None:
                replicas.append(ReplicaView(replica, node.rack, log.high_watermark))
    selected = select_replica(selector, client_rack, leader, replicas)
    return None if selected is leader else selected.node_id
