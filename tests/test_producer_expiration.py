"""producer.id.expiration.ms: idle producers are forgotten periodically, on the broker's clock."""

from __future__ import annotations

import os

import attrs
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import produce
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.messages import metadata_records as mr
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.producers.expiration import ProducerIdExpiration
from kafkatwist.producers.state import ProducerStateTable, read_snapshot
from kafkatwist.storage.kraft import RESOURCE_BROKER
from kafkatwist.storage.manager import LogManager
from kafkatwist.transport.engines import producer_id_expiration
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.record import build_batch
from tests.brokers import call, clock_of, log_of, make_broker, metadata_of
from tests.storage.support import fired

HOUR_MS = 3_600_000
MINUTE = 60.0


def idempotent_batch(pid: int, timestamp: int, transactional: bool = False) -> bytes:
    return build_batch(
        [(b"k", b"v")],
        base_timestamp=timestamp,
        producer_id=pid,
        producer_epoch=0,
        base_sequence=0,
        is_transactional=transactional,
    )


class ScheduleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.table = ProducerStateTable()
        self.now = int(self.clock.seconds() * 1000)
        for pid, age, txn in ((1, 0, False), (2, -30 * 60_000, False), (3, 0, True)):
            batch = idempotent_batch(pid, self.now + age, txn)
            self.table.replay_batch(parse_batch_header(batch), pid * 10)
        self.expiration = ProducerIdExpiration(
            tables=lambda: [self.table],
            clock=self.clock,
            expiration_ms=lambda: HOUR_MS,
            check_interval_ms=10 * 60_000,
        )

    def test_runs_every_interval_on_the_clock(self) -> None:
        """The first check runs one interval after start; expired producers go at a check."""
        self.expiration.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(29 * MINUTE)
        self.assertEqual(sorted(self.table.producers), [1, 2, 3])
        self.clock.advance(1 * MINUTE)  # the check at 30 min: producer 2 is 60 min idle
        self.assertEqual(sorted(self.table.producers), [1, 3])
        self.clock.advance(30 * MINUTE)  # the check at 60 min: producer 1 too
        self.assertEqual(sorted(self.table.producers), [3])
        self.clock.advance(24 * 60 * MINUTE)  # an ongoing transaction keeps producer 3
        self.assertEqual(sorted(self.table.producers), [3])
        self.expiration.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_check_now(self) -> None:
        """C{check} removes what has expired and reports how many."""
        self.assertEqual(self.expiration.check(), 0)
        self.clock.advance(30 * MINUTE)
        self.assertEqual(self.expiration.check(), 1)


class BrokerTests(SynchronousTestCase):
    def setUp(self) -> None:
        config = attrs.evolve(
            BrokerConfig(),
            producer_id_expiration_ms=HOUR_MS,
            producer_id_expiration_check_interval_ms=10 * 60_000,
        )
        self.broker = make_broker(config=config)
        self.clock = clock_of(self.broker)
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        logs = self.broker.logs
        assert isinstance(logs, LogManager)
        self.logs = logs
        self.expiration = producer_id_expiration(
            self.broker.config,
            self.clock,
            lambda: [log.producer_state for log in logs.all_logs()],
            self.broker.configs,
        )
        self.expiration.start()
        self.addCleanup(self.expiration.stop)

    def produce(self, pid: int) -> None:
        batch = idempotent_batch(pid, int(self.clock.seconds() * 1000))
        request = ProduceRequest(
            acks=-1,
            timeout_ms=1000,
            topic_data=(
                TopicProduceData(
                    name="t", partition_data=(PartitionProduceData(index=0, records=batch),)
                ),
            ),
        )
        response = self.successResultOf(call(self.broker, produce.SPEC, request, 9))
        self.assertEqual(response.responses[0].partition_responses[0].error_code, 0)

    def producers(self) -> list[int]:
        return sorted(log_of(self.broker, "t", 0).producer_state.producers)

    def test_expired_producers_leave_the_log_and_its_snapshot(self) -> None:
        """A producer idle for producer.id.expiration.ms is gone from the state and the snapshot."""
        self.produce(7)
        self.clock.advance(30 * MINUTE)
        self.produce(8)
        self.clock.advance(29 * MINUTE)
        self.assertEqual(self.producers(), [7, 8])
        self.clock.advance(1 * MINUTE)
        self.assertEqual(self.producers(), [8])
        log = log_of(self.broker, "t", 0)
        fired(self.logs.close())
        path = log.producer_snapshot_path(log.log_end_offset)  # type: ignore[attr-defined]
        self.assertTrue(os.path.exists(path))
        self.assertEqual([e.producer_id for e in read_snapshot(path)], [8])

    def test_dynamic_expiration_applies_at_the_next_check(self) -> None:
        """A cluster-wide dynamic producer.id.expiration.ms is read at each check."""
        self.produce(7)
        record = mr.ConfigRecord(RESOURCE_BROKER, "", "producer.id.expiration.ms", "60000")
        self.successResultOf(metadata_of(self.broker).append([record]))
        self.clock.advance(10 * MINUTE)
        self.assertEqual(self.producers(), [])
