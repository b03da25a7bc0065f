"""Partition reassignments on one broker: the checks of Kafka's C{ReplicationControlManager}."""

from __future__ import annotations

from collections.abc import Sequence

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.metadata_image import MetadataImage, PartitionState

#: Kafka's C{Errors.NO_REASSIGNMENT_IN_PROGRESS} message.
NO_REASSIGNMENT = "No partition reassignment is in progress."


def find_partition(image: MetadataImage, topic: str, partition: int) -> PartitionState:
    """The partition, or Kafka's C{UnknownTopicOrPartitionException}."""
    state = image.topics.get(topic)
    if state is None:
        raise KafkaError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find a topic named {topic}."
        )
    part = state.partitions.get(partition)
    if part is None:
        raise KafkaError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            f"Unable to find partition {topic}:{partition}.",
        )
    return part


def in_progress(part: PartitionState) -> bool:
    """Kafka's C{isReassignmentInProgress}: replicas being added or removed."""
    return bool(part.adding_replicas or part.removing_replicas)


def check_target(
    part: PartitionState, target: Sequence[int], brokers: Sequence[int], allow_rf_change: bool
) -> None:
    """
    Kafka's C{validateManualPartitionAssignment} and, unless allowed, an unchanged factor.

    @raise KafkaError: INVALID_REPLICA_ASSIGNMENT or INVALID_REPLICATION_FACTOR.
    """
    if not target:
        raise KafkaError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes an empty replica list.",
        )
    previous = None
    for broker in sorted(target):
        if broker not in brokers:
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
    if not allow_rf_change and len(part.replicas) != len(target):
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"The replication factor is changed from {len(part.replicas)} to {len(target)}",
        )


__all__ = ["NO_REASSIGNMENT", "check_target", "find_partition", "in_progress"]
