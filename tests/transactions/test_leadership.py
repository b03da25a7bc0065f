"""The transaction coordinator follows the leadership of ``__transaction_state`` partitions."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, cast

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from kafkatwist.apis import describe_transactions
from kafkatwist.broker import build_broker
from kafkatwist.cluster.interfaces import BrokerEndpoint, ILeadershipListener
from kafkatwist.cluster.local import LeadershipTracker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.describe_transactions import DescribeTransactionsRequest
from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore, IPartitionLog
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.transactions import records as rec
from kafkatwist.transactions.markers import MarkerWriter
from kafkatwist.transactions.metadata import TopicPartition, TxnState
from tests.brokers import log_of
from tests.storage.support import run_now
from tests.transactions.support import TOPIC, TxnTestCase
from tests.transactions.test_coordinator import HeldMarkers

T0: TopicPartition = (TOPIC, 0)
T1: TopicPartition = (TOPIC, 1)
ME, OTHER = 1, 2


@define
class TwoBrokers:
    """
    An ICluster of two live brokers as broker 1 sees it, following the image.

    Leadership is the metadata image's: a test moves a partition to broker
    2 with a PartitionChangeRecord, as the active controller would.
    """

    node_id: int
    metadata: IMetadataStore
    _tracker: LeadershipTracker = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tracker = LeadershipTracker(self.metadata, self.node_id)

    def live_brokers(self) -> Sequence[BrokerEndpoint]:
        return [BrokerEndpoint(n, {"PLAINTEXT": ("127.0.0.1", 9090 + n)}) for n in (ME, OTHER)]

    def is_live(self, node_id: int) -> bool:
        return node_id in (ME, OTHER)

    @property
    def controller_id(self) -> int:
        return ME

    def assign_replicas(self, partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
        return [(self.node_id,)] * partitions

    def add_listener(self, listener: ILeadershipListener) -> None:
        self._tracker.add_listener(listener)

    def start(self, listeners: Mapping[str, tuple[str | None, int]]) -> Deferred[None]:
        self.metadata.subscribe(self._tracker.changed)
        self._tracker.changed()
        return succeed(None)

    def stop(self) -> Deferred[None]:
        return succeed(None)


class ReadFaults:
    """Fault injection: while C{failing}, reads of ``__transaction_state`` fail (storage error)."""

    def __init__(self) -> None:
        self.failing = False

    def wrap(self, logs: ILogManager) -> ILogManager:
        """C{logs}, whose ``__transaction_state`` logs fail reads while C{failing}."""
        faults = self

        class FaultyLog:
            def __init__(self, log: IPartitionLog) -> None:
                self._log = log

            def __getattr__(self, name: str) -> Any:
                return getattr(self._log, name)

            def read(self, *args: Any, **kw: Any) -> Any:
                if faults.failing:
                    return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, "injected"))
                return self._log.read(*args, **kw)

        def faulty(topic: str, log: Any) -> Any:
            if log is None or topic != rec.TRANSACTION_STATE_TOPIC:
                return log
            return FaultyLog(log)

        class FaultyLogs:
            def __getattr__(self, name: str) -> Any:
                return getattr(logs, name)

            def get(self, topic: str, partition: int) -> Any:
                return faulty(topic, logs.get(topic, partition))

            def create(self, topic: str, partition: int, config: Any) -> Any:
                return faulty(topic, logs.create(topic, partition, config))

        return cast(ILogManager, FaultyLogs())


class TwoBrokerCase(TxnTestCase):
    """Broker 1 of L{TwoBrokers}, with topic C{t}, leading every partition at first."""

    def setUp(self) -> None:
        log_dir = tempfile.mkdtemp(prefix="txn-leadership-")
        clock = Clock()
        clock.advance(1_700_000_000)
        config = BrokerConfig(node_id=ME)
        metadata = KRaftMetadataStore(log_dir, clock=clock)
        metadata.load()
        configs = ConfigResolver(config, metadata)
        logs = LogManager(
            [log_dir],
            configs.log_config,
            clock=clock,
            run_blocking=run_now,
            read_pool=ReadPool(run_now),
        )
        logs.load()
        self.addCleanup(logs.close)
        cluster = TwoBrokers(ME, metadata)
        self.faults = ReadFaults()
        self.broker = build_broker(
            config,
            clock,
            metadata,
            self.faults.wrap(logs),
            configs,
            cluster_id="c",
            cluster=cluster,
        )
        self.successResultOf(cluster.start({}))
        self.successResultOf(self.broker.controller.create_topic(TOPIC, 2))

    def move(self, tid: str, leader: int) -> None:
        """Make C{leader} the leader of the __transaction_state partition of C{tid}."""
        topic = self.broker.metadata.image.topics[rec.TRANSACTION_STATE_TOPIC]
        change = PartitionChangeRecord(
            partition_id=self.service.coordinator.partition_of(tid),
            topic_id=topic.topic_id,
            leader=leader,
        )
        self.successResultOf(self.broker.metadata.append([change]))

    def describe(self, tid: str) -> int:
        request = DescribeTransactionsRequest(transactional_ids=(tid,))
        code: int = (
            self.call(describe_transactions.SPEC, request, 0).transaction_states[0].error_code
        )
        return code


class LeadershipTests(TwoBrokerCase):
    """Elections load a partition's ids; resignations drop them."""

    def test_ids_of_a_partition_led_elsewhere_are_not_coordinator(self) -> None:
        """After a resignation the id is dropped and every transaction API says NOT_COORDINATOR."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.move("a", OTHER)
        self.assertNotIn("a", self.service.coordinator.txns)
        self.assertEqual(self.init("a").error_code, ErrorCode.NOT_COORDINATOR)
        self.assertEqual(self.add("a", r.producer_id, 0, [T1])[T1], ErrorCode.NOT_COORDINATOR)
        self.assertEqual(self.end("a", r.producer_id, 0).error_code, ErrorCode.NOT_COORDINATOR)
        self.assertEqual(self.describe("a"), ErrorCode.NOT_COORDINATOR)

    def test_other_partitions_are_still_served(self) -> None:
        """Resigning one partition leaves the ids of the others alone."""
        other = next(
            f"id{i}"
            for i in range(100)
            if rec.partition_for(f"id{i}", 50) != rec.partition_for("a", 50)
        )
        r = self.init(other)
        self.move("a", OTHER)
        self.assertEqual(self.add(other, r.producer_id, 0, [T0])[T0], ErrorCode.NONE)
        self.assertEqual(self.txn(other).state, TxnState.ONGOING)

    def test_election_loads_the_ongoing_transaction(self) -> None:
        """Elected again (a new epoch), the partition is replayed: the transaction goes on."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0, T1])
        self.move("a", OTHER)
        self.move("a", ME)
        txn = self.txn("a")
        self.assertEqual((txn.state, txn.partitions), (TxnState.ONGOING, {T0, T1}))
        self.assertEqual(self.end("a", r.producer_id, 0).error_code, ErrorCode.NONE)
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_COMMIT)
        # The coordinator epoch of the markers is the partition's new leader epoch.
        epoch = self.service.coordinator.partitions.epoch(
            self.service.coordinator.partition_of("a")
        )
        self.assertEqual(epoch, 2)
        self.assertEqual(len(self.markers(0)), 1)

    def test_prepared_transaction_completed_on_election(self) -> None:
        """A PrepareCommit left by the last leader gets its markers and completes on election."""
        held = HeldMarkers()
        writer = self.service.coordinator.markers
        self.assertIsInstance(writer, MarkerWriter)
        self.service.coordinator.markers = held
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0, T1])
        self.assertEqual(self.end("a", r.producer_id, 0).error_code, ErrorCode.NONE)
        self.move("a", OTHER)
        # The deposed coordinator's markers finish: its CompleteCommit is not written.
        held.release()
        state_log = log_of(
            self.broker, rec.TRANSACTION_STATE_TOPIC, self.service.coordinator.partition_of("a")
        )
        self.assertEqual(state_log.log_end_offset, 3)  # Empty, Ongoing, PrepareCommit
        self.service.coordinator.markers = writer
        self.move("a", ME)
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_COMMIT)
        self.assertEqual(state_log.log_end_offset, 4)
        self.assertEqual(self.markers(0), [(r.producer_id, 0)])
        self.assertEqual(self.markers(1), [(r.producer_id, 0)])

    def test_timers_leave_resigned_ids_alone(self) -> None:
        """The timed-out transaction of a resigned partition is not aborted here."""
        self.service.start()
        self.addCleanup(self.service.stop)
        r = self.init("a", timeout_ms=5000)
        self.add("a", r.producer_id, 0, [T0])
        self.move("a", OTHER)
        self.clock.advance(20)
        self.assertEqual(self.service.abort_timed_out(), [])
        self.assertEqual(self.markers(0), [])

    def test_failed_load_is_retried(self) -> None:
        """A load that fails leaves the partition loading; it is tried again a second later."""
        r = self.init("a")
        self.move("a", OTHER)
        self.faults.failing = True
        self.move("a", ME)
        self.assertEqual(self.init("a").error_code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        self.assertTrue(self.service.loading)
        self.clock.advance(1)
        self.assertEqual(self.init("a").error_code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        self.faults.failing = False
        self.clock.advance(1)
        self.assertFalse(self.service.loading)
        self.assertEqual(self.txn("a").producer_id, r.producer_id)
        self.assertEqual(self.init("a").producer_epoch, 1)

    def test_resignation_stops_the_retries(self) -> None:
        """A partition resigned while its load fails is not loaded again."""
        self.init("a")
        self.move("a", OTHER)
        self.faults.failing = True
        self.move("a", ME)
        self.move("a", OTHER)
        self.faults.failing = False
        self.clock.advance(5)
        self.assertFalse(self.service.loading)
        self.assertEqual(self.init("a").error_code, ErrorCode.NOT_COORDINATOR)

    def test_stopped_service_ignores_elections(self) -> None:
        """After stop, an election loads nothing (the broker is shutting down)."""
        self.init("a")
        self.move("a", OTHER)
        self.service.stop()
        self.move("a", ME)
        p = self.service.coordinator.partition_of("a")
        self.assertEqual(self.service.coordinator.partitions.check(p), ErrorCode.NOT_COORDINATOR)


class VerificationElsewhereTests(TwoBrokerCase):
    """A transactional write whose coordinator is another broker, with no way to reach it."""

    def test_produce_is_retriable(self) -> None:
        """Kafka answers COORDINATOR_NOT_AVAILABLE, which Produce turns into NOT_ENOUGH_REPLICAS."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.move("a", OTHER)
        self.assertIsNone(self.service.remote)
        verified = self.produce("a", r.producer_id, 0, version=9)
        self.assertEqual(verified.error_code, ErrorCode.NOT_ENOUGH_REPLICAS)
        added = self.produce("a", r.producer_id, 0, version=12)
        self.assertEqual(added.error_code, ErrorCode.NOT_ENOUGH_REPLICAS)
        self.assertEqual(self.log(0).log_end_offset, 0)

    def test_ensure_partitions_answers_coordinator_not_available(self) -> None:
        """The service's check says COORDINATOR_NOT_AVAILABLE for every partition."""
        r = self.init("a")
        self.move("a", OTHER)
        d = self.service.ensure_partitions("a", r.producer_id, 0, [T0, T1], True)
        self.assertEqual(
            self.successResultOf(d),
            {T0: ErrorCode.COORDINATOR_NOT_AVAILABLE, T1: ErrorCode.COORDINATOR_NOT_AVAILABLE},
        )
