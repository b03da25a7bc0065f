"""Finding the partition a request names: the per-partition look-up the data APIs share.

Produce, Fetch, ListOffsets, OffsetForLeaderEpoch and DeleteRecords answer
each partition on its own: a topic or partition the metadata image does not
have is UNKNOWN_TOPIC_OR_PARTITION, and (where the request carries one) a
``current_leader_epoch`` other than the partition's is fenced, as Kafka's
C{ReplicaManager.getPartitionOrError} and C{Partition.checkCurrentLeaderEpoch}
do. This broker leads every partition of the image, so NOT_LEADER_OR_FOLLOWER
is never answered.
"""

from __future__ import annotations

from attrs import frozen

from kafkatwist.apis._offsets import NO_LEADER_EPOCH, leader_epoch_error
from kafkatwist.apis._spec import RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.topics.partitions import Partitions


@frozen
class LeaderPartition:
    """A partition of the metadata image, which this broker leads; its log opens on demand."""

    _partitions: Partitions
    topic: TopicState
    index: int

    @property
    def leader_epoch(self) -> int:
        """The partition's leader epoch in the metadata image."""
        return self.topic.partitions[self.index].leader_epoch

    def log(self) -> IPartitionLog:
        """The partition's log, opened (or created) now if it was not open."""
        return self._partitions.open_log(self.topic, self.index)


def find_partition(
    ctx: RequestContext,
    topic: TopicState | None,
    index: int,
    current_leader_epoch: int = NO_LEADER_EPOCH,
) -> LeaderPartition | ErrorCode:
    """
    Partition C{index} of C{topic}, or the error to answer for it.

    UNKNOWN_TOPIC_OR_PARTITION when the image has no such topic or
    partition; then FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH when the
    client's C{current_leader_epoch} is not the partition's (-1: not given).
    """
    if topic is None or index not in topic.partitions:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    found = LeaderPartition(ctx.broker.partitions, topic, index)
    fenced = leader_epoch_error(found.leader_epoch, current_leader_epoch)
    return found if fenced is None else fenced
