"""Finding the partition a request names: the per-partition look-up the data APIs share.

Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords and
DescribeProducers answer each partition on its own, in the order of Kafka's
C{ReplicaManager.getPartitionOrError} and C{Partition.getLocalLog}:

* a topic or partition the metadata image does not have is
  UNKNOWN_TOPIC_OR_PARTITION;
* a partition of which this broker is neither the leader nor a replica is
  NOT_LEADER_OR_FOLLOWER (Kafka has no C{Partition} for it, so no epoch is
  checked);
* (where the request carries one) a ``current_leader_epoch`` other than the
  partition's is fenced (C{Partition.checkCurrentLeaderEpoch});
* a partition whose leader in the image is another broker is
  NOT_LEADER_OR_FOLLOWER; so is one whose log is not ready here yet (the
  log manager raises it while the log loads, after an election).

With the file engine (L{kafkatwist.cluster.local.LocalCluster}) this broker
leads every partition, so NOT_LEADER_OR_FOLLOWER is never answered.

A consumer's Fetch may also be served by a follower (KIP-392, Kafka's
C{FetchParams.fetchOnlyLeader} false: a consumer that sent its client
metadata, Fetch v11+): L{find_fetch_partition} answers a replica's follower
view (C{broker.followers}, an engine whose followers can serve) where
L{find_partition} answers NOT_LEADER_OR_FOLLOWER, after the same checks
(Kafka's C{Partition.localLogWithEpochOrThrow} with C{requireLeader} false).
"""

from __future__ import annotations

from attrs import define

from kafkatwist.apis._offsets import NO_LEADER_EPOCH, leader_epoch_error
from kafkatwist.apis._spec import RequestContext
from kafkatwist.cluster.interfaces import IFollowerLog, IFollowerLogs
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.topics.partitions import Partitions


@define
class LeaderPartition:
    """A partition of the metadata image, which this broker leads; its log opens on demand."""

    _partitions: Partitions
    topic: TopicState
    index: int
    #: The log, once opened (L{find_partition} opens it to know it is ready).
    _log: IPartitionLog | None = None

    @property
    def leader_epoch(self) -> int:
        """The partition's leader epoch in the metadata image."""
        return self.topic.partitions[self.index].leader_epoch

    def log(self) -> IPartitionLog:
        """The partition's log, opened (or created) now if it was not open."""
        if self._log is None:
            self._log = self._partitions.open_log(self.topic, self.index)
        return self._log


def find_partition(
    ctx: RequestContext,
    topic: TopicState | None,
    index: int,
    current_leader_epoch: int = NO_LEADER_EPOCH,
) -> LeaderPartition | ErrorCode:
    """
    Partition C{index} of C{topic}, which this broker leads, or the error to answer for it.

    UNKNOWN_TOPIC_OR_PARTITION when the image has no such topic or
    partition; NOT_LEADER_OR_FOLLOWER when this broker is not one of its
    replicas; then FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH when the
    client's C{current_leader_epoch} is not the partition's (-1: not given);
    then NOT_LEADER_OR_FOLLOWER when another broker leads it, or its log is
    not ready here.
    """
    if topic is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    leads = _check(ctx, topic, index, current_leader_epoch)
    if isinstance(leads, ErrorCode):
        return leads
    if not leads:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    return _leader_partition(ctx, topic, index)


def find_fetch_partition(
    ctx: RequestContext,
    topic: TopicState | None,
    index: int,
    current_leader_epoch: int,
    followers: IFollowerLogs,
) -> LeaderPartition | IFollowerLog | ErrorCode:
    """L{find_partition}, but a partition led elsewhere is answered with the follower's view."""
    if topic is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    leads = _check(ctx, topic, index, current_leader_epoch)
    if isinstance(leads, ErrorCode):
        return leads
    if not leads:
        return followers.follower_log(topic, index)
    return _leader_partition(ctx, topic, index)


def _check(
    ctx: RequestContext, topic: TopicState, index: int, current_leader_epoch: int
) -> bool | ErrorCode:
    """Whether this broker leads the partition (else it is a replica), or the error to answer."""
    state = topic.partitions.get(index)
    if state is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    node = ctx.broker.node_id
    leads = state.leader == node
    if not leads and node not in state.replicas:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    fenced = leader_epoch_error(state.leader_epoch, current_leader_epoch)
    if fenced is not None:
        return fenced
    return leads


def _leader_partition(
    ctx: RequestContext, topic: TopicState, index: int
) -> LeaderPartition | ErrorCode:
    found = LeaderPartition(ctx.broker.partitions, topic, index)
    try:
        found.log()
    except KafkaError as e:
        if e.code == ErrorCode.NOT_LEADER_OR_FOLLOWER:
            return e.code
        # Another failure (a storage error) is the caller's, where it opens the log.
    return found
