"""A small real cluster for handler tests: three brokers at fixed endpoints, this one node 1.

L{StaticCluster} implements L{kafkatwist.cluster.interfaces.ICluster} over a
fixed set of endpoints, of which the test chooses which are live; the
leaders of partitions are the metadata image's, set by the test through
PartitionChangeRecords (L{move_leader}), as the active controller of a
PostgreSQL cluster writes them. Elections and resignations come from the
image, through the same L{LeadershipTracker} as every ICluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define, field
from twisted.internet.defer import Deferred, succeed

from kafkatwist.broker import Broker
from kafkatwist.cluster.interfaces import BrokerEndpoint, ILeadershipListener
from kafkatwist.cluster.local import LeadershipTracker
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.storage.metadata_image import MetadataImage

#: The other brokers' endpoints (nothing listens there: handlers only name them).
ENDPOINTS = {
    1: BrokerEndpoint(1, {"PLAINTEXT": ("localhost", 9092)}, "rack-a"),
    2: BrokerEndpoint(2, {"PLAINTEXT": ("broker-2.example", 9192), "SSL": ("b2", 9193)}, "rack-b"),
    3: BrokerEndpoint(3, {"PLAINTEXT": ("broker-3.example", 9292)}, None),
}


@define
class StaticCluster:
    """
    Brokers 1, 2 and 3 (L{ENDPOINTS}); this broker is node 1; C{live} says which are up.

    Placement is Kafka's round robin over the live brokers from the first,
    each partition's replicas the next ones after its leader.
    """

    metadata: IMetadataStore
    node_id: int = 1
    live: set[int] = field(factory=lambda: {1, 2, 3})
    #: The controller id Metadata and DescribeCluster answer.
    controller: int = 2
    _tracker: LeadershipTracker = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tracker = LeadershipTracker(self.metadata, self.node_id)

    def live_brokers(self) -> Sequence[BrokerEndpoint]:
        return [ENDPOINTS[n] for n in sorted(self.live)]

    def is_live(self, node_id: int) -> bool:
        return node_id in self.live

    @property
    def controller_id(self) -> int:
        return self.controller

    def assign_replicas(self, partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
        brokers = sorted(self.live)
        if replication_factor > len(brokers):
            raise KafkaError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"Unable to replicate the partition {replication_factor} time(s): "
                f"The target replication factor of {replication_factor} cannot be reached "
                f"because only {len(brokers)} broker(s) are registered.",
            )
        return [
            tuple(brokers[(p + r) % len(brokers)] for r in range(replication_factor))
            for p in range(partitions)
        ]

    @property
    def led(self) -> dict[tuple[str, int], int]:
        """The partitions this broker leads, as the tracker last saw them."""
        return self._tracker.led

    def add_listener(self, listener: ILeadershipListener) -> None:
        self._tracker.add_listener(listener)

    def start(self, listeners: Mapping[str, tuple[str | None, int]]) -> Deferred[None]:
        self.metadata.subscribe(self._tracker.changed)
        self._tracker.changed()
        return succeed(None)

    def stop(self) -> Deferred[None]:
        return succeed(None)


def move_leader(
    broker: Broker,
    topic: str,
    partition: int,
    leader: int,
    replicas: tuple[int, ...] | None = None,
) -> Deferred[MetadataImage]:
    """Write the PartitionChangeRecord making C{leader} the partition's leader (epoch + 1)."""
    state = broker.metadata.image.topics[topic]
    return broker.metadata.append(
        [
            PartitionChangeRecord(
                partition_id=partition,
                topic_id=state.topic_id,
                leader=leader,
                replicas=replicas,
                isr=replicas,
            )
        ]
    )
