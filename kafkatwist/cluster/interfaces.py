"""What the rest of the broker knows about the cluster: its live brokers and leadership changes.

With the file engine the cluster is this broker alone (L{kafkatwist.cluster.local});
with the PostgreSQL engine it is every broker registered in the database with
a live lease (L{kafkatwist.postgres.membership}). Handlers and services use
these names only.

Which broker leads a partition is the metadata image's C{PartitionState.leader}
(and its C{leader_epoch}): the image is the one truth every broker applies in
the same order. The cluster turns image changes into L{ILeadershipListener}
calls, so that coordinators load the ``__consumer_offsets`` and
``__transaction_state`` partitions this broker comes to lead and drop the
ones it stops leading (Kafka's C{onElection} / C{onResignation}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from attrs import field, frozen
from twisted.internet.defer import Deferred

from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.metadata_image import TopicState


@frozen
class BrokerEndpoint:
    """
    One live broker as Metadata and DescribeCluster show it.

    @ivar listeners: Its advertised (host, port) by listener name (C{PLAINTEXT}, ...).
        For this broker itself handlers use C{Broker.address_for} instead, which
        knows the address a client came in on.
    """

    node_id: int
    listeners: dict[str, tuple[str, int]] = field(factory=dict)
    rack: str | None = None

    def address(self, listener: str) -> tuple[str, int] | None:
        """Its (host, port) on C{listener}, else on its first listener, else None."""
        found = self.listeners.get(listener)
        if found is None and self.listeners:
            found = next(iter(self.listeners.values()))
        return found


class ILeadershipListener(Protocol):
    """A service that follows which partitions this broker leads."""

    def on_election(self, topic: str, partition: int, leader_epoch: int) -> None:
        """
        This broker now leads C{topic}-C{partition} at C{leader_epoch}.

        Called once the partition's log is ready here (C{Partitions.open_log}
        answers it). Work that takes time (a coordinator loading its state)
        is started here and reports its own failures; the cluster waits for
        nothing.
        """

    def on_resignation(self, topic: str, partition: int) -> None:
        """This broker no longer leads C{topic}-C{partition} (or the topic was deleted)."""


class ICluster(Protocol):
    """The brokers of the cluster and this broker's place among them."""

    #: This broker's node id (``node.id``).
    node_id: int

    def live_brokers(self) -> Sequence[BrokerEndpoint]:
        """Every broker with a live registration, this one included, by node id."""

    def is_live(self, node_id: int) -> bool:
        """Whether C{node_id} has a live registration."""

    @property
    def controller_id(self) -> int:
        """The broker doing the controller's duties now (Metadata's C{controller_id})."""

    def assign_replicas(self, partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
        """
        Replicas for C{partitions} new partitions (the first is the leader), over live brokers.

        Kafka's placement: round robin from a start index, leaders spread over the
        brokers. Raises L{kafkatwist.errors.KafkaError} INVALID_REPLICATION_FACTOR
        when C{replication_factor} exceeds the live brokers.
        """

    def add_listener(self, listener: ILeadershipListener) -> None:
        """Tell C{listener} of every election and resignation from now on, and the current ones."""

    def start(self, listeners: Mapping[str, tuple[str | None, int]]) -> Deferred[None]:
        """
        Register with this broker's advertised C{listeners} and follow the image.

        C{listeners} is C{Broker.advertised_listeners} once bound (a None host:
        the address a client connected to). Fires once this broker is live.
        """

    def stop(self) -> Deferred[None]:
        """Deregister (a clean shutdown hands this broker's partitions over at once)."""


class IFollowerLog(IPartitionLog, Protocol):
    """
    A partition as a follower serves it to consumers (KIP-392 fetch from follower).

    Only reads and waiters work; what a leader does fails with NOT_LEADER_OR_FOLLOWER.
    """

    def catch_up(self, offset: int) -> Deferred[None]:
        """Fires once the view knows the partition's state, read again if behind C{offset}."""


class IFollowerLogs(Protocol):
    """The partitions this broker serves as a follower (an engine whose followers can)."""

    def follower_log(self, topic: TopicState, partition: int) -> IFollowerLog:
        """The follower's view of C{topic}-C{partition} (made on first use)."""
