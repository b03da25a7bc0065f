"""
Brokers of one cluster for the coordinator-election tests: a small real ICluster.

Every broker is built by L{build_broker} over ONE metadata store (a real
L{KRaftMetadataStore} in a temp dir) and ONE log manager (the file
engine's), as brokers over one PostgreSQL share their metadata log and their
partitions' batches. Each has a L{StaticCluster}, whose
L{LeadershipTracker} turns the image's leaders into elections and
resignations, so a test moves a ``__consumer_offsets`` partition by
appending a PartitionChangeRecord, exactly as the active controller does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

import attrs
from attrs import define, field
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from kafkatwist.broker import build_broker
from kafkatwist.cluster.interfaces import BrokerEndpoint, ILeadershipListener
from kafkatwist.cluster.local import LeadershipTracker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore, IPartitionLog
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from tests.groups.support import TEST_SETTINGS, GroupBroker
from tests.storage.support import fired, run_now


@define
class StaticCluster:
    """A real L{kafkatwist.cluster.interfaces.ICluster}: fixed nodes, leaders from the image."""

    node_id: int
    metadata: IMetadataStore
    nodes: tuple[int, ...]
    _tracker: LeadershipTracker = field(init=False)
    _started: bool = field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._tracker = LeadershipTracker(self.metadata, self.node_id)

    def live_brokers(self) -> Sequence[BrokerEndpoint]:
        return [BrokerEndpoint(n, {"PLAINTEXT": ("127.0.0.1", 9090 + n)}) for n in self.nodes]

    def is_live(self, node_id: int) -> bool:
        return node_id in self.nodes

    @property
    def controller_id(self) -> int:
        return min(self.nodes)

    def assign_replicas(self, partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
        if replication_factor > len(self.nodes):
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR)
        n = len(self.nodes)
        return [
            tuple(self.nodes[(p + r) % n] for r in range(replication_factor))
            for p in range(partitions)
        ]

    def add_listener(self, listener: ILeadershipListener) -> None:
        self._tracker.add_listener(listener)

    def start(self, listeners: Mapping[str, tuple[str | None, int]]) -> Deferred[None]:
        if not self._started:
            self._started = True
            self.metadata.subscribe(self._tracker.changed)
            self._tracker.changed()
        return succeed(None)

    def stop(self) -> Deferred[None]:
        return succeed(None)


class Gate:
    """
    Holds a broker's ``__consumer_offsets`` reads or append answers until released.

    Appends are written at once; only their answer waits (as a PostgreSQL
    COMMIT in flight). C{fail_reads} fails that many reads with
    KAFKA_STORAGE_ERROR first.
    """

    def __init__(self) -> None:
        self.hold_reads = False
        self.hold_appends = False
        self.fail_reads = 0
        self._held: list[Deferred[None]] = []

    def release(self) -> None:
        """Let every held read or answer go on."""
        self.hold_reads = self.hold_appends = False
        held, self._held = self._held, []
        for d in held:
            d.callback(None)

    def _wait(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self._held.append(d)
        return d

    def wrap(self, logs: ILogManager) -> ILogManager:
        """C{logs}, whose ``__consumer_offsets`` logs obey this gate."""
        gate = self

        class GatedLog:
            def __init__(self, log: IPartitionLog) -> None:
                self._log = log

            def __getattr__(self, name: str) -> Any:
                return getattr(self._log, name)

            def read(self, *args: Any, **kw: Any) -> Deferred[Any]:
                if gate.fail_reads:
                    gate.fail_reads -= 1
                    raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, "the test failed this read")
                if not gate.hold_reads:
                    return self._log.read(*args, **kw)
                return gate._wait().addCallback(lambda _: self._log.read(*args, **kw))

            def append(self, *args: Any, **kw: Any) -> Deferred[Any]:
                appended = self._log.append(*args, **kw)
                if not gate.hold_appends:
                    return appended
                return gate._wait().addCallback(lambda _: appended)

        class GatedLogs:
            def __getattr__(self, name: str) -> Any:
                return getattr(logs, name)

            def get(self, topic: str, partition: int) -> Any:
                log = logs.get(topic, partition)
                return GatedLog(log) if log is not None and topic == OFFSETS_TOPIC else log

        return cast(ILogManager, GatedLogs())


@define
class Cluster:
    """Group brokers of nodes 1..n over one metadata store and one log manager, on one Clock."""

    clock: Clock
    metadata: KRaftMetadataStore
    brokers: dict[int, GroupBroker]
    gates: dict[int, Gate]

    @classmethod
    def build(cls, log_dir: str, nodes: int = 2, **config: Any) -> Cluster:
        """Brokers 1..C{nodes}, data in C{log_dir}, their clusters started (no topic yet)."""
        clock = Clock()
        clock.advance(1_700_000_000)
        os.makedirs(log_dir, exist_ok=True)
        metadata = KRaftMetadataStore(log_dir, clock=clock)
        fired(metadata.load())
        ids = tuple(range(1, nodes + 1))
        base = attrs.evolve(BrokerConfig(), **{**TEST_SETTINGS, **config})
        shared = LogManager(
            [log_dir],
            ConfigResolver(base, metadata).log_config,
            clock=clock,
            run_blocking=run_now,
            read_pool=ReadPool(run_now),
        )
        shared.load()
        brokers: dict[int, GroupBroker] = {}
        gates: dict[int, Gate] = {}
        for node in ids:
            config_n = attrs.evolve(base, node_id=node)
            gate = gates[node] = Gate()
            broker = build_broker(
                config_n,
                clock,
                metadata,
                gate.wrap(shared),
                ConfigResolver(config_n, metadata),
                cluster_id="test-cluster",
                cluster=StaticCluster(node, metadata, ids),
            )
            broker.advertised_port = 9090 + node
            fired(broker.cluster.start(broker.advertised_listeners))
            brokers[node] = GroupBroker(broker=broker)
        return cls(clock, metadata, brokers, gates)

    def partition_of(self, group_id: str) -> int:
        """The ``__consumer_offsets`` partition of C{group_id}."""
        return self.brokers[1].coordinator.partition_for(group_id)

    def leader_of(self, partition: int) -> tuple[int, int]:
        """(leader, leader epoch) of a ``__consumer_offsets`` partition in the image."""
        state = self.metadata.image.topics[OFFSETS_TOPIC].partitions[partition]
        return state.leader, state.leader_epoch

    def move(self, partition: int, leader: int) -> None:
        """A PartitionChangeRecord making C{leader} lead the partition (its epoch bumped)."""
        topic = self.metadata.image.topics[OFFSETS_TOPIC]
        record = mr.PartitionChangeRecord(
            partition_id=partition, topic_id=topic.topic_id, leader=leader
        )
        fired(self.metadata.append([record]))

    def end_offset(self, partition: int) -> int:
        """The log end offset of a ``__consumer_offsets`` partition."""
        log = self.brokers[1].broker.logs.get(OFFSETS_TOPIC, partition)
        assert log is not None
        return log.log_end_offset
