"""Where partitions go: replica placement for new topics and leader moves, as pure functions.

L{assign_replicas} is Kafka's placement (C{AdminUtils.assignReplicasToBrokers}):
round robin over the brokers from a start index, each partition's followers
shifted so that leaders and followers spread; rack-aware (racks alternated,
each partition's replicas on distinct racks while racks remain) when every
broker has a rack.

L{failover_changes} and L{preferred_leader_changes} are the controller's
duties over one metadata image: the C{PartitionChangeRecord}s that move the
partitions of brokers that left to live ones (Kafka's C{handleBrokerFenced} /
controlled shutdown), and that give partitions back to their preferred
replica (Kafka's C{auto.leader.rebalance.enable}). With shared storage any
live broker can lead any partition: the new leader is a live replica if one
is left, else the live broker leading fewest partitions, which then takes
the dead leader's place among the replicas.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from kafkatwist.cluster.interfaces import BrokerEndpoint
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.storage.metadata_image import MetadataImage, PartitionState


def _replica_index(first: int, shift: int, index: int, brokers: int) -> int:
    """Kafka's C{replicaIndex}: the broker index of a partition's C{index}-th follower."""
    return (first + 1 + (shift + index) % (brokers - 1)) % brokers


def rack_alternated(racks: dict[int, str]) -> list[int]:
    """Kafka's C{getRackAlternatedBrokerList}: brokers taken from each rack in turn (sorted)."""
    by_rack: dict[str, list[int]] = {}
    for node, rack in sorted(racks.items()):
        by_rack.setdefault(rack, []).append(node)
    queues = [by_rack[rack] for rack in sorted(by_rack)]
    result: list[int] = []
    position = 0
    while len(result) < len(racks):
        queue = queues[position % len(queues)]
        if queue:
            result.append(queue.pop(0))
        position += 1
    return result


def check_replication_factor(replication_factor: int, brokers: int) -> None:
    """Raise INVALID_REPLICATION_FACTOR as Kafka does when C{brokers} cannot hold it."""
    if replication_factor <= 0:
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0."
        )
    if replication_factor > brokers:
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"Unable to replicate the partition {replication_factor} time(s): "
            f"The target replication factor of {replication_factor} cannot be reached "
            f"because only {brokers} broker(s) are registered.",
        )


def assign_replicas(
    brokers: Sequence[BrokerEndpoint],
    partitions: int,
    replication_factor: int,
    *,
    start_index: int,
    replica_shift: int,
) -> list[tuple[int, ...]]:
    """
    Replicas (leader first) for partitions C{0..partitions-1} over C{brokers}.

    C{start_index} and C{replica_shift} are Kafka's random start and follower
    shift (taken modulo the broker count; a caller draws them at random, a
    test fixes them). Rack-aware when every broker has a rack.
    """
    check_replication_factor(replication_factor, len(brokers))
    racks = {b.node_id: b.rack for b in brokers if b.rack is not None}
    if racks and len(racks) == len(brokers):
        return _rack_aware(racks, partitions, replication_factor, start_index, replica_shift)
    ids = sorted(b.node_id for b in brokers)
    n = len(ids)
    start, shift = start_index % n, replica_shift % n
    result: list[tuple[int, ...]] = []
    for partition in range(partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first = (partition + start) % n
        followers = (ids[_replica_index(first, shift, j, n)] for j in range(replication_factor - 1))
        result.append((ids[first], *followers))
    return result


def _rack_aware(
    racks: dict[int, str], partitions: int, replication_factor: int, start_index: int, shift: int
) -> list[tuple[int, ...]]:
    """Kafka's C{assignReplicasToBrokersRackAware}."""
    arranged = rack_alternated(racks)
    n, rack_count = len(arranged), len(set(racks.values()))
    start, shift = start_index % n, shift % n
    result: list[tuple[int, ...]] = []
    for partition in range(partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first = (partition + start) % n
        leader = arranged[first]
        replicas, used_racks, used = [leader], {racks[leader]}, {leader}
        k = 0
        while len(replicas) < replication_factor:
            broker = arranged[_replica_index(first, shift * rack_count, k, n)]
            k += 1
            rack_ok = racks[broker] not in used_racks or len(used_racks) == rack_count
            if rack_ok and broker not in used:
                replicas.append(broker)
                used_racks.add(racks[broker])
                used.add(broker)
        result.append(tuple(replicas))
    return result


def _leader_counts(image: MetadataImage, live: Collection[int]) -> dict[int, int]:
    counts = dict.fromkeys(live, 0)
    for topic in image.topics.values():
        for state in topic.partitions.values():
            if state.leader in counts:
                counts[state.leader] += 1
    return counts


def _partitions(image: MetadataImage) -> Iterable[tuple[str, PartitionState]]:
    for name in sorted(image.topics):
        topic = image.topics[name]
        for index in sorted(topic.partitions):
            yield name, topic.partitions[index]


def failover_changes(
    image: MetadataImage, live: Collection[int], *, leaving: int | None = None
) -> list[PartitionChangeRecord]:
    """
    The records moving every partition whose leader is not in C{live} to a broker that is.

    With C{leaving}, only the partitions that broker leads (a controlled
    shutdown: C{live} is every other live broker).

    The new leader is the first live replica (preferred order), else the
    live broker leading fewest partitions (lowest id on a tie), which
    replaces the old leader among the replicas. The ISR becomes the live
    replicas. Nothing when no broker is live.
    """
    alive = set(live)
    if not alive:
        return []
    counts = _leader_counts(image, alive)
    records: list[PartitionChangeRecord] = []
    for name, state in _partitions(image):
        if state.leader in alive or (leaving is not None and state.leader != leaving):
            continue
        leader = next((r for r in state.replicas if r in alive), None)
        replicas = state.replicas
        if leader is None:
            leader = min(alive, key=lambda node: (counts[node], node))
            if state.leader in replicas:
                replicas = tuple(leader if r == state.leader else r for r in replicas)
            else:
                replicas = (leader, *replicas[1:]) if replicas else (leader,)
        counts[leader] += 1
        records.append(_change(image, name, state, leader, replicas, alive))
    return records


def preferred_leader_changes(
    image: MetadataImage, live: Collection[int]
) -> list[PartitionChangeRecord]:
    """The records giving each partition to its preferred (first) replica when that one is live."""
    alive = set(live)
    return [
        _change(image, name, state, state.replicas[0], state.replicas, alive)
        for name, state in _partitions(image)
        if state.replicas and state.replicas[0] in alive and state.leader != state.replicas[0]
    ]


def _change(
    image: MetadataImage,
    topic: str,
    state: PartitionState,
    leader: int,
    replicas: tuple[int, ...],
    alive: set[int],
) -> PartitionChangeRecord:
    isr = tuple(r for r in replicas if r in alive)
    return PartitionChangeRecord(
        partition_id=state.partition,
        topic_id=image.topics[topic].topic_id,
        isr=isr if isr != state.isr else None,
        leader=leader,
        replicas=replicas if replicas != state.replicas else None,
    )
