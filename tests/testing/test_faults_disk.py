"""Tests for L{Faults.fail_disk}: a partition's failing disk, through the broker's real handlers."""

from __future__ import annotations

import errno

from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch, list_offsets, produce
from kafkatwist.broker import Broker
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchResponse, FetchTopic
from kafkatwist.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsResponse,
    ListOffsetsTopic,
)
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.testing.faults import Faults, os_error
from kafkatwist.wire.record import build_batch
from tests.brokers import call, clock_of, log_of, make_broker, metadata_of
from tests.storage.support import (
    ManualRunBlocking,
    append,
    error_code,
    open_log,
    stored_batches,
    validated,
)
from tests.storage.support import batch as log_batch


def batch(value: bytes) -> bytes:
    return build_batch([(None, value)], base_timestamp=1_700_000_000_000)


class FailDiskTests(SynchronousTestCase):
    """A failed disk takes one partition's log offline; Kafka's KAFKA_STORAGE_ERROR follows."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 2))
        self.faults = Faults(clock_of(self.broker), logs=self.broker.logs)

    def produce(
        self, partition: int, value: bytes, broker: Broker | None = None
    ) -> tuple[int, int]:
        """Produce one record (acks=-1); the partition's error code and base offset."""
        data = PartitionProduceData(index=partition, records=batch(value))
        request = ProduceRequest(
            acks=-1,
            timeout_ms=1000,
            topic_data=(TopicProduceData(name="t", partition_data=(data,)),),
        )
        response: ProduceResponse = self.successResultOf(
            call(broker or self.broker, produce.SPEC, request, 11)
        )
        answer = response.responses[0].partition_responses[0]
        return answer.error_code, answer.base_offset

    def fetch_error(self, partition: int) -> int:
        """The error code of a Fetch v12 (by topic name) of the partition from offset 0."""
        wanted = FetchPartition(partition=partition, fetch_offset=0, partition_max_bytes=1 << 20)
        request = FetchRequest(
            max_wait_ms=0, min_bytes=1, topics=(FetchTopic(topic="t", partitions=(wanted,)),)
        )
        response: FetchResponse = self.successResultOf(call(self.broker, fetch.SPEC, request, 12))
        return response.responses[0].partitions[0].error_code

    def list_offsets_error(self, partition: int) -> int:
        """The error code of a ListOffsets (latest) of the partition."""
        wanted = ListOffsetsPartition(partition_index=partition, timestamp=-1)
        request = ListOffsetsRequest(
            replica_id=-1, topics=(ListOffsetsTopic(name="t", partitions=(wanted,)),)
        )
        response: ListOffsetsResponse = self.successResultOf(
            call(self.broker, list_offsets.SPEC, request, 7)
        )
        return response.topics[0].partitions[0].error_code

    def test_storage_error_for_that_partition_only(self) -> None:
        """Produce, Fetch and ListOffsets of the failed partition get KAFKA_STORAGE_ERROR."""
        self.assertEqual(self.produce(0, b"before"), (0, 0))
        with capturedLogs() as events:
            self.faults.fail_disk("t", 0)
        self.assertTrue(self.faults.disk_failed("t", 0))
        self.assertFalse(self.faults.disk_failed("t", 1))
        lines = [formatEvent(e) for e in events]
        self.assertTrue(any("t-0" in line and "offline" in line for line in lines), lines)
        storage = ErrorCode.KAFKA_STORAGE_ERROR
        self.assertEqual(self.produce(0, b"after")[0], storage)
        self.assertEqual(self.fetch_error(0), storage)
        self.assertEqual(self.list_offsets_error(0), storage)
        self.assertEqual(self.produce(1, b"elsewhere"), (0, 0))
        self.assertEqual((self.fetch_error(1), self.list_offsets_error(1)), (0, 0))

    def test_a_write_fails_with_the_errno(self) -> None:
        """A write of the failed disk raises the errno named (ENOSPC here), as os.writev would."""
        error = os_error("enospc")
        self.assertEqual(error.errno, errno.ENOSPC)
        self.assertIn("No space left on device", str(error))
        for bad in ("NOT_AN_ERRNO", "eio2"):
            self.assertRaises(ValueError, os_error, bad)
        with capturedLogs() as events:
            self.faults.fail_disk("t", 1, error="ENOSPC")
        self.assertTrue(any("No space left" in formatEvent(e) for e in events))

    def test_unknown_partition(self) -> None:
        """A partition the broker has no log of, or Faults without logs, is a ValueError."""
        self.assertRaises(ValueError, self.faults.fail_disk, "t", 7)
        self.assertRaises(ValueError, self.faults.disk_failed, "nope", 0)
        self.assertRaises(ValueError, Faults(clock_of(self.broker)).fail_disk, "t", 0)

    def test_acknowledged_records_survive_a_restart(self) -> None:
        """After a restart on the same log dir the partition is back, with every acked record."""
        acked = [self.produce(0, v) for v in (b"a", b"b", b"c")]
        self.assertEqual(acked, [(0, 0), (0, 1), (0, 2)])
        before = stored_batches(log_of(self.broker, "t", 0))
        self.faults.fail_disk("t", 0)
        self.assertEqual(self.produce(0, b"lost")[0], ErrorCode.KAFKA_STORAGE_ERROR)
        closed = self.broker.logs.close()
        self.successResultOf(closed)
        again = make_broker(log_dir=metadata_of(self.broker).log_dir)
        log = log_of(again, "t", 0)
        self.assertFalse(log.is_offline)
        self.assertEqual((log.log_end_offset, stored_batches(log)), (3, before))
        self.assertEqual(self.produce(0, b"d", again), (0, 3))


class PartitionLogFailDiskTests(SynchronousTestCase):
    """L{PartitionLog.fail_disk}: the storage side, with fsyncs run when the test says."""

    def test_offline_once_the_fsync_fails(self) -> None:
        """The fsync it starts runs in the worker: the log is offline once it has failed."""
        manual = ManualRunBlocking()
        log = open_log(self, run_blocking=manual)
        append(self, log, log_batch(2))
        manual.run_all()
        failed = log.fail_disk(os_error("EIO"))
        self.assertFalse(log.is_offline)
        self.assertNoResult(failed)
        manual.run_all()
        self.successResultOf(failed)
        self.assertTrue(log.is_offline)
        self.assertEqual(error_code(self, log.read(0, 1000)), ErrorCode.KAFKA_STORAGE_ERROR)

    def test_a_write_before_the_fsync_fails_at_once(self) -> None:
        """An append after the failure raises the disk's error on the reactor: offline at once."""
        manual = ManualRunBlocking()
        log = open_log(self, run_blocking=manual)
        log.fail_disk(os_error("EIO"))
        data = log_batch(1)
        appended = log.append(data, validated(data), leader_epoch=-1, now_ms=0)
        self.assertEqual(error_code(self, appended), ErrorCode.KAFKA_STORAGE_ERROR)
        self.assertTrue(log.is_offline)
        self.assertEqual(log.log_end_offset, 0)
        manual.run_all()
