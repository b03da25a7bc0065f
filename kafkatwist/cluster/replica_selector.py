"""KIP-392's replica selectors: which replica a consumer is told to fetch from.

Kafka's C{replica.selector.class} names the plugin: unset (Kafka's default),
the consumer always fetches from the leader; C{LeaderSelector} picks the
leader too; C{RackAwareReplicaSelector} picks, for a consumer whose
C{client.rack} is set, the leader if it is in that rack, else the most
caught-up replica in that rack, else the leader (Kafka's
C{org.apache.kafka.common.replica.RackAwareReplicaSelector.select}). The
leader then answers a consumer's Fetch with that replica as its
C{preferred_read_replica} (L{kafkatwist.apis._read_replica}), unless it is
the leader itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

#: Kafka's selector that always picks the leader.
LEADER_SELECTOR = "org.apache.kafka.common.replica.LeaderSelector"
#: Kafka's rack-aware selector.
RACK_AWARE_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
#: The values C{replica.selector.class} may take.
REPLICA_SELECTORS = (LEADER_SELECTOR, RACK_AWARE_SELECTOR)


@frozen
class ReplicaView:
    """
    One replica a consumer could fetch from (Kafka's C{ReplicaView}).

    @ivar time_since_caught_up_ms: 0 for the leader and for a follower over
        shared storage (it reads what the leader committed).
    """

    node_id: int
    rack: str | None
    log_end_offset: int
    time_since_caught_up_ms: int = 0


def _caught_up(replica: ReplicaView) -> tuple[int, int, int]:
    """Kafka's C{ReplicaView.comparator}: the larger end, then the more recent catch-up.

    Ties (every follower over shared storage) go to the lowest node id, so the
    choice is the same on every request.
    """
    return (replica.log_end_offset, -replica.time_since_caught_up_ms, -replica.node_id)


def select_replica(
    selector: str, client_rack: str, leader: ReplicaView, replicas: Sequence[ReplicaView]
) -> ReplicaView:
    """
    The replica C{selector} picks for a consumer in C{client_rack} ("" or None: no rack).

    C{replicas} are the candidates (the leader among them), already filtered as
    Kafka's C{ReplicaManager.findPreferredReadReplica} filters them.
    """
    if selector != RACK_AWARE_SELECTOR or not client_rack:
        return leader
    same_rack = [r for r in replicas if r.rack == client_rack]
    if not same_rack or leader in same_rack:
        return leader
    return max(same_rack, key=_caught_up)
