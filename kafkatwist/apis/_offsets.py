"""Helpers shared by the offset APIs: leader-epoch fencing and the epochs of offsets."""

from __future__ import annotations

from kafkatwist.errors import ErrorCode
from kafkatwist.storage.interfaces import IPartitionLog

#: Kafka's ``RecordBatch.NO_PARTITION_LEADER_EPOCH``: "no current leader epoch given".
NO_LEADER_EPOCH = -1


def leader_epoch_error(partition_epoch: int, current_leader_epoch: int) -> ErrorCode | None:
    """
    Kafka's ``Partition.checkCurrentLeaderEpoch`` against the metadata's leader epoch.

    A client that knows an older epoch is fenced (FENCED_LEADER_EPOCH); one
    that knows a newer epoch than this broker gets UNKNOWN_LEADER_EPOCH; -1
    means the client gave none.
    """
    if current_leader_epoch == NO_LEADER_EPOCH:
        return None
    if partition_epoch > current_leader_epoch:
        return ErrorCode.FENCED_LEADER_EPOCH
    if partition_epoch < current_leader_epoch:
        return ErrorCode.UNKNOWN_LEADER_EPOCH
    return None


async def epoch_at(log: IPartitionLog, offset: int, current_epoch: int) -> int:
    """
    The leader epoch of the record at C{offset}, as Kafka's epoch cache tells it.

    Past the last record (an empty log, or everything deleted) it is the
    current leader epoch: a Kafka leader assigns its epoch a cache entry
    starting at its log end offset when it takes over.
    """
    if offset >= log.log_end_offset:
        return current_epoch
    epoch = await log.epoch_for_offset(offset)
    return epoch if epoch >= 0 else current_epoch
