"""Where new partitions go: replicas over the live brokers, as Kafka's controller places them.

Kafka's C{ReplicationControlManager}: a topic or partitions created without
an assignment get the cluster's placement (L{ICluster.assign_replicas});
a manual assignment is checked against the registered (here: live) brokers
(C{validateManualPartitionAssignment}). A new partition's ISR is its live
replicas, its leader the first of them, at leader epoch 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from kafkatwist.cluster.interfaces import ICluster
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr


def check_replication_factor(cluster: ICluster, replication_factor: int) -> None:
    """
    Refuse a replication factor the live brokers cannot meet (Kafka's C{StripedReplicaPlacer}).

    @raise KafkaError: INVALID_REPLICATION_FACTOR.
    """
    live = len(cluster.live_brokers())
    if replication_factor > live:
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"Unable to replicate the partition {replication_factor} time(s): "
            "The target replication factor of "
            f"{replication_factor} cannot be reached because only {live} broker(s) are registered.",
        )


def check_manual_assignment(
    cluster: ICluster, replicas: Sequence[int], replication_factor: int | None
) -> None:
    """
    Kafka's C{validateManualPartitionAssignment}, against the live brokers.

    @param replication_factor: The replica count the other partitions have
        (None for the first one of a new topic).
    @raise KafkaError: INVALID_REPLICA_ASSIGNMENT.
    """
    if not replicas:
        raise KafkaError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes an empty replica list.",
        )
    previous = None
    for broker in sorted(replicas):
        if not cluster.is_live(broker):
            raise KafkaError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes broker {broker}, but no such "
                "broker is registered.",
            )
        if broker == previous:
            raise KafkaError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes the broker {previous} more than once.",
            )
        previous = broker
    if replication_factor is not None and len(replicas) != replication_factor:
        raise KafkaError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"The manual partition assignment includes a partition with {len(replicas)} "
            "replica(s), but this is not consistent with previous partitions, which have "
            f"{replication_factor} replica(s).",
        )


def partition_records(
    cluster: ICluster,
    topic_id: uuid.UUID,
    indexes: Iterable[int],
    assignments: Sequence[Sequence[int]],
) -> list[mr.PartitionRecord]:
    """
    The PartitionRecords of new partitions, one per index with its replicas.

    The ISR is the live replicas, the leader the first of them (Kafka's
    C{buildPartitionRegistration}); -1 when none is live.
    """
    records = []
    for index, replicas in zip(indexes, assignments, strict=True):
        isr = tuple(r for r in replicas if cluster.is_live(r))
        records.append(
            mr.PartitionRecord(
                partition_id=index,
                topic_id=topic_id,
                replicas=tuple(replicas),
                isr=isr,
                leader=isr[0] if isr else -1,
                leader_epoch=0,
                partition_epoch=0,
                directories=(),
                eligible_leader_replicas=None,
                last_known_elr=None,
            )
        )
    return records


__all__ = ["check_manual_assignment", "check_replication_factor", "partition_records"]
