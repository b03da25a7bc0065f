"""KIP-951 in Produce answers: the current leader of each NOT_LEADER_OR_FOLLOWER partition."""

from __future__ import annotations

import attrs

from kafkatwist.apis._cluster import current_leader
from kafkatwist.apis._spec import RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.produce import (
    LeaderIdAndEpoch,
    NodeEndpoint,
    PartitionProduceResponse,
    TopicProduceData,
)
from kafkatwist.storage.kraft import TopicState

NOT_LEADER = int(ErrorCode.NOT_LEADER_OR_FOLLOWER)

#: The first Produce version with KIP-951's current leader and node endpoints.
CURRENT_LEADER_VERSION = 10

#: Each request topic with its partitions' answers.
Answers = list[tuple[TopicProduceData, list[PartitionProduceResponse]]]


def with_leaders(
    ctx: RequestContext, topics: list[TopicState | None], responses: Answers
) -> tuple[Answers, tuple[NodeEndpoint, ...]]:
    """
    The answers with KIP-951's current leader on each NOT_LEADER_OR_FOLLOWER, and its endpoints.

    Kafka's C{KafkaApis.handleProduceRequest}: the leader id and epoch the
    metadata know, and the leader's endpoint when it is live.
    """
    nodes: dict[int, NodeEndpoint] = {}
    filled: Answers = []
    for topic, (td, answers) in zip(topics, responses, strict=True):
        if all(a.error_code != NOT_LEADER for a in answers):
            filled.append((td, answers))
            continue
        with_leader = []
        for a in answers:
            if a.error_code == NOT_LEADER:
                leader, epoch, node = current_leader(ctx, topic, a.index)
                if node is not None:
                    nodes[node.node_id] = NodeEndpoint(
                        node_id=node.node_id, host=node.host, port=node.port, rack=node.rack
                    )
                a = attrs.evolve(
                    a, current_leader=LeaderIdAndEpoch(leader_id=leader, leader_epoch=epoch)
                )
            with_leader.append(a)
        filled.append((td, with_leader))
    return filled, tuple(nodes[n] for n in sorted(nodes))


__all__ = ["CURRENT_LEADER_VERSION", "with_leaders"]
