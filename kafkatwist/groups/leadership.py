"""Which ``__consumer_offsets`` partitions the group coordinator leads, and whether they loaded.

A group's coordinator is the leader of its ``__consumer_offsets`` partition
(Kafka's C{GroupCoordinatorService}: C{partitionFor(groupId)}). The
coordinator hears of elections and resignations
(L{kafkatwist.cluster.interfaces.ILeadershipListener}); between an election
and the end of its load the partition's groups answer
COORDINATOR_LOAD_IN_PROGRESS, and a group of a partition led elsewhere
NOT_COORDINATOR (Kafka's C{CoordinatorRuntime} partition states LOADING,
ACTIVE, and absent).

While the topic does not exist yet, every group is served here: the
coordinator creates the topic on its first write, and the elections of its
partitions follow.
"""

from __future__ import annotations

from attrs import define, field

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.records import OFFSETS_TOPIC, partition_for
from kafkatwist.storage.interfaces import IMetadataStore


@define(eq=False)
class Election:
    """One election of a partition here: a new object per election, compared by identity."""

    partition: int
    leader_epoch: int
    #: The topic's partition count when elected (which groups are the partition's).
    topic_partitions: int
    #: True once the partition's groups and offsets are loaded.
    loaded: bool = False
    #: Loads of this election that failed (each retry waits twice as long).
    failures: int = 0


@define(eq=False)
class Leadership:
    """
    The ``__consumer_offsets`` partitions led here, by partition.

    @ivar starting: True while the coordinator starts (every group answers
        COORDINATOR_LOAD_IN_PROGRESS), as Kafka's coordinator does until its
        first loads are done.
    """

    #: The metadata store, for the topic's partition count (None: a bare table serving every group).
    _metadata: IMetadataStore | None = None
    _topic: str = OFFSETS_TOPIC
    starting: bool = False
    _elections: dict[int, Election] = field(factory=dict)

    @property
    def loading(self) -> bool:
        """Whether the coordinator starts or a partition led here is loading."""
        return self.starting or any(not e.loaded for e in self._elections.values())

    @property
    def elections(self) -> dict[int, Election]:
        """The partitions led here and their elections."""
        return self._elections

    def partition_of(self, group_id: str) -> int | None:
        """The partition of C{group_id}; None while the topic does not exist."""
        if self._metadata is None:
            return None
        topic = self._metadata.image.topics.get(self._topic)
        if topic is None:
            return None
        return partition_for(group_id, len(topic.partitions))

    def error(self, group_id: str) -> ErrorCode | None:
        """
        Why C{group_id} cannot be served here now, or None.

        COORDINATOR_LOAD_IN_PROGRESS while starting or while its partition
        loads; NOT_COORDINATOR when its partition is not led here. An empty
        group id is left to the API's own check (INVALID_GROUP_ID, which
        Kafka's C{GroupCoordinatorService} answers before routing).
        """
        if self.starting:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        p = self.partition_of(group_id) if group_id else None
        if p is None:
            return None
        election = self._elections.get(p)
        if election is None:
            return ErrorCode.NOT_COORDINATOR
        return None if election.loaded else ErrorCode.COORDINATOR_LOAD_IN_PROGRESS

    def writable(self, partition: int) -> Election | None:
        """
        The election under which a write to C{partition} may start.

        Raises L{KafkaError} NOT_COORDINATOR when the partition is not led
        here, COORDINATOR_LOAD_IN_PROGRESS while it loads. None for a bare
        table (no metadata: no leadership is followed).
        """
        if self._metadata is None:
            return None
        election = self._elections.get(partition)
        if election is None:
            raise KafkaError(
                ErrorCode.NOT_COORDINATOR,
                f"{self._topic}-{partition} is not led by this coordinator",
            )
        if not election.loaded:
            raise KafkaError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        return election

    def still_led(self, partition: int, election: Election | None) -> bool:
        """Whether C{election} (from L{writable}) is still the partition's current one."""
        return election is None or self._elections.get(partition) is election

    def elect(self, partition: int, leader_epoch: int, topic_partitions: int) -> Election:
        """Record a new election of C{partition}, loading."""
        election = Election(partition, leader_epoch, topic_partitions)
        self._elections[partition] = election
        return election

    def resign(self, partition: int) -> Election | None:
        """Forget C{partition}'s election; returns it (None if it was not led here)."""
        return self._elections.pop(partition, None)

    def is_current(self, election: Election) -> bool:
        """Whether C{election} is its partition's current election."""
        return self._elections.get(election.partition) is election
