"""Tests for Produce's timestamp checks: ``message.timestamp.*`` on the broker's injected clock.

Kafka 4.0 (KIP-937) refuses a CreateTime record more than
``message.timestamp.before.max.ms`` behind or ``message.timestamp.after.max.ms``
(one hour by default) ahead of the broker's time with INVALID_TIMESTAMP,
stores nothing of the batch, and from Produce v8 lists the records in
``record_errors``; it stores each CreateTime batch with its largest record
timestamp as ``maxTimestamp``. Batches are kafka-python's.
"""

from __future__ import annotations

from typing import cast

from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import list_offsets, produce
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsPartitionResponse,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kafkatwist.messages.produce import PartitionProduceResponse
from kafkatwist.wire import schema
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.crc32c import crc32c
from tests.apis.test_produce_idempotent import produce_request
from tests.brokers import call, clock_of, log_of, make_broker
from tests.client_batches import timed_batch, with_header
from tests.storage.support import stored_batches

HOUR = 3_600_000


class ProduceTimestampTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.now = self.broker.partitions.now_ms()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def produce(self, batch: bytes, version: int = 9, topic: str = "t") -> PartitionProduceResponse:
        """Produce C{batch} to C{topic}-0; the partition's answer (checked to encode)."""
        request = produce_request({(topic, 0): batch}, acks=1)
        response = self.successResultOf(call(self.broker, produce.SPEC, request, version))
        schema.encode_bytes(response, version)
        part: PartitionProduceResponse = response.responses[0].partition_responses[0]
        return part

    def test_two_hours_ahead_refused(self) -> None:
        """A record 2 hours ahead is INVALID_TIMESTAMP with Kafka's record error; nothing stored."""
        events: list[LogEvent] = []
        observer = cast(ILogObserver, events.append)
        globalLogPublisher.addObserver(observer)
        try:
            answer = self.produce(timed_batch([self.now, self.now + 2 * HOUR]), version=8)
        finally:
            globalLogPublisher.removeObserver(observer)
        self.assertEqual(answer.error_code, ErrorCode.INVALID_TIMESTAMP)
        self.assertEqual(answer.base_offset, -1)
        self.assertEqual(
            answer.error_message, "One or more records have been rejected due to invalid timestamp"
        )
        self.assertEqual([e.batch_index for e in answer.record_errors], [1])
        self.assertEqual(
            answer.record_errors[0].batch_index_error_message,
            f"Timestamp {self.now + 2 * HOUR} of message with offset 1 is out of range. "
            f"The timestamp should be within [{self.now - (2**63 - 1)}, {self.now + HOUR}]",
        )
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 0)
        lines = [formatEvent(e) for e in events if "Refused a produce" in formatEvent(e)]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("t-0", lines[0])
        self.assertIn("INVALID_TIMESTAMP", lines[0])

    def test_before_v8_code_only(self) -> None:
        """Produce v3-v7 answers INVALID_TIMESTAMP without record errors (the field is v8+)."""
        answer = self.produce(timed_batch([self.now + 2 * HOUR]), version=7)
        self.assertEqual(answer.error_code, ErrorCode.INVALID_TIMESTAMP)

    def test_the_injected_clock_decides(self) -> None:
        """The same batch is accepted once the broker's clock has moved 2 hours on."""
        batch = timed_batch([self.now + 2 * HOUR])
        self.assertEqual(self.produce(batch).error_code, ErrorCode.INVALID_TIMESTAMP)
        clock_of(self.broker).advance(2 * 3600)
        answer = self.produce(batch)
        self.assertEqual((answer.error_code, answer.base_offset), (0, 0))

    def test_topic_overrides(self) -> None:
        """The topic's message.timestamp.after.max.ms and before.max.ms apply."""
        configs = {"message.timestamp.after.max.ms": "0", "message.timestamp.before.max.ms": "10"}
        self.successResultOf(self.broker.controller.create_topic("strict", 1, configs=configs))
        ahead = self.produce(timed_batch([self.now + 1]), topic="strict")
        behind = self.produce(timed_batch([self.now - 11]), topic="strict")
        exact = self.produce(timed_batch([self.now, self.now - 10]), topic="strict")
        self.assertEqual(
            (ahead.error_code, behind.error_code, exact.error_code),
            (ErrorCode.INVALID_TIMESTAMP, ErrorCode.INVALID_TIMESTAMP, 0),
        )

    def test_broker_config(self) -> None:
        """The broker's log.message.timestamp.after.max.ms is the topics' default."""
        config = BrokerConfig.from_properties({"log.message.timestamp.after.max.ms": "10"})
        self.broker = make_broker(config=config)
        self.now = self.broker.partitions.now_ms()
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.assertEqual(
            self.produce(timed_batch([self.now + 11])).error_code, ErrorCode.INVALID_TIMESTAMP
        )
        self.assertEqual(self.produce(timed_batch([self.now + 10])).error_code, 0)

    def test_log_append_time_topic_not_checked(self) -> None:
        """A batch refused on a CreateTime topic is accepted and stamped on a LogAppendTime one."""
        configs = {"message.timestamp.type": "LogAppendTime"}
        self.successResultOf(self.broker.controller.create_topic("lat", 1, configs=configs))
        batch = timed_batch([self.now + 10 * HOUR])
        self.assertEqual(self.produce(batch).error_code, ErrorCode.INVALID_TIMESTAMP)
        answer = self.produce(batch, topic="lat")
        self.assertEqual((answer.error_code, answer.log_append_time_ms), (0, self.now))

    def list_offsets(self, timestamp: int) -> ListOffsetsPartitionResponse:
        """ListOffsets v8 for C{timestamp} on t-0."""
        request = ListOffsetsRequest(
            replica_id=-1,
            isolation_level=0,
            topics=(
                ListOffsetsTopic(
                    name="t",
                    partitions=(ListOffsetsPartition(partition_index=0, timestamp=timestamp),),
                ),
            ),
        )
        response = self.successResultOf(call(self.broker, list_offsets.SPEC, request, 8))
        answer: ListOffsetsPartitionResponse = response.topics[0].partitions[0]
        return answer

    def test_lying_max_timestamp_corrected(self) -> None:
        """A header whose maxTimestamp lies is stored with the true one; ListOffsets finds it."""
        now = self.now
        batch = with_header(timed_batch([now - 50, now - 10, now - 30]), max_timestamp=now - 40)
        self.assertEqual(self.produce(batch).error_code, 0)
        (stored,) = stored_batches(log_of(self.broker, "t", 0))
        header = parse_batch_header(stored)
        self.assertEqual(header.max_timestamp, now - 10)
        self.assertEqual(header.crc, crc32c(stored[21:]))
        by_time = self.list_offsets(now - 20)
        self.assertEqual((by_time.offset, by_time.timestamp), (1, now - 10))
        newest = self.list_offsets(-3)
        self.assertEqual((newest.offset, newest.timestamp), (1, now - 10))
