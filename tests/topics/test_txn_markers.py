"""Tests for L{kafkatwist.topics.partitions.Partitions.write_txn_marker} over file logs."""

from __future__ import annotations

from kafka.record.default_records import DefaultRecordBatch
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.wire.batch import iter_batches
from tests.storage.support import batch, validated
from tests.topics.support import file_broker, read_all

PID = 7


class WriteTxnMarkerTests(SynchronousTestCase):
    """Markers end the producer's transaction and land in the log as Kafka writes them."""

    def setUp(self) -> None:
        self.broker = file_broker(self)
        self.partitions = self.broker.partitions
        self.topic: TopicState = self.successResultOf(self.broker.controller.create_topic("t", 2))

    def log(self, partition: int = 0) -> IPartitionLog:
        log = self.partitions.partition_log(self.topic, partition)
        assert log is not None
        return log

    def produce(self, seq: int, *, pid: int = PID, epoch: int = 1, txn: bool = True) -> int:
        """Append a 2-record batch of C{pid}; return its base offset."""
        buf = batch(
            2, producer_id=pid, producer_epoch=epoch, base_sequence=seq, is_transactional=txn
        )
        log = self.log()
        d = self.partitions.append(self.topic, 0, log, buf, validated(buf))
        return self.successResultOf(d).base_offset

    def marker(
        self, commit: bool, *, pid: int = PID, epoch: int = 1, coordinator: int = 0, **kw: int
    ) -> None:
        d = self.partitions.write_txn_marker("t", 0, pid, epoch, coordinator, commit, **kw)
        self.assertIsNone(self.successResultOf(d))

    def marker_error(
        self, commit: bool, *, pid: int = PID, epoch: int = 1, coordinator: int = 0, **kw: int
    ) -> ErrorCode:
        d = self.partitions.write_txn_marker("t", 0, pid, epoch, coordinator, commit, **kw)
        error = self.failureResultOf(d, KafkaError).value
        assert isinstance(error, KafkaError)
        return error.code

    def test_commit_marker_appended_and_transaction_ended(self) -> None:
        """The marker is the next batch: a transactional control batch with a commit record."""
        self.produce(0)
        self.assertEqual(self.log().ongoing_transactions(), [(PID, 1, 0)])
        self.assertEqual(self.log().last_stable_offset, 0)
        self.marker(True, coordinator=3)
        log = self.log()
        self.assertEqual(log.ongoing_transactions(), [])
        self.assertEqual((log.log_end_offset, log.last_stable_offset), (3, 3))
        data = b"".join(bytes(b) for b in read_all(self, log).buffers)
        (_, first), (pos, last) = list(iter_batches(data))
        self.assertEqual(
            (last.base_offset, last.is_control, last.is_transactional), (2, True, True)
        )
        decoded = DefaultRecordBatch(bytearray(data[pos : pos + last.size]))
        self.assertTrue(decoded.validate_crc())
        (record,) = list(decoded)
        self.assertTrue(record.commit)
        self.assertEqual(record.value, b"\x00\x00\x00\x00\x00\x03")
        self.assertEqual(log.producer_state.producers[PID].coordinator_epoch, 3)

    def test_abort_marker(self) -> None:
        """An abort marker ends the transaction too."""
        self.produce(0)
        self.marker(False)
        self.assertEqual(self.log().ongoing_transactions(), [])
        self.assertEqual(self.log().last_stable_offset, 3)

    def test_marker_without_transaction_is_written(self) -> None:
        """A producer with no open transaction in the partition still gets its marker written."""
        self.marker(True, pid=99, epoch=0)
        self.assertEqual(self.log().log_end_offset, 1)

    def test_unknown_partition(self) -> None:
        """A partition the metadata does not know is UNKNOWN_TOPIC_OR_PARTITION."""
        for topic, partition in (("t", 5), ("nope", 0)):
            d = self.partitions.write_txn_marker(topic, partition, PID, 1, 0, True)
            error = self.failureResultOf(d, KafkaError).value
            assert isinstance(error, KafkaError)
            self.assertEqual(error.code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)

    def test_older_producer_epoch(self) -> None:
        """A marker with an epoch older than the producer's is INVALID_PRODUCER_EPOCH."""
        self.produce(0, epoch=2)
        self.assertEqual(self.marker_error(True, epoch=1), ErrorCode.INVALID_PRODUCER_EPOCH)
        self.assertEqual(self.log().log_end_offset, 2)

    def test_older_coordinator_epoch(self) -> None:
        """A coordinator epoch older than the last marker's is TRANSACTION_COORDINATOR_FENCED."""
        self.produce(0)
        self.marker(True, coordinator=5)
        self.produce(2)
        code = self.marker_error(True, coordinator=4)
        self.assertEqual(code, ErrorCode.TRANSACTION_COORDINATOR_FENCED)
        self.assertEqual(len(self.log().ongoing_transactions()), 1)

    def test_transaction_version_2_needs_a_bumped_epoch(self) -> None:
        """With TV2 a marker carries epoch + 1; the same epoch is refused while the txn is open."""
        self.produce(0, epoch=1)
        code = self.marker_error(True, epoch=1, transaction_version=2)
        self.assertEqual(code, ErrorCode.INVALID_PRODUCER_EPOCH)
        self.marker(True, epoch=2, transaction_version=2)
        self.assertEqual(self.log().producer_state.producers[PID].producer_epoch, 2)
        # A retried marker (same epoch, transaction already ended) is written again.
        self.marker(True, epoch=2, transaction_version=2)
        self.assertEqual(self.log().log_end_offset, 4)

    def test_legacy_marker_accepts_bumped_epoch(self) -> None:
        """Without TV2 a newer epoch than the producer's is accepted (only older is refused)."""
        self.produce(0, epoch=1)
        self.marker(False, epoch=2)
        self.assertEqual(self.log().ongoing_transactions(), [])

    def test_non_transactional_batch_during_transaction(self) -> None:
        """A non-transactional batch from a producer in a transaction is INVALID_TXN_STATE."""
        self.produce(0)
        buf = batch(1, producer_id=PID, producer_epoch=1, base_sequence=2)
        d = self.partitions.append(self.topic, 0, self.log(), buf, validated(buf))
        error = self.failureResultOf(d, KafkaError).value
        assert isinstance(error, KafkaError)
        self.assertEqual(error.code, ErrorCode.INVALID_TXN_STATE)
