"""Tests for idempotent produce: the Produce handler, Broker.append and the producer state."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import produce
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.produce import (
    PartitionProduceData,
    PartitionProduceResponse,
    ProduceRequest,
    TopicProduceData,
)
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.wire import schema
from kafkatwist.wire.batch import parse_batch_header
from tests.brokers import call, clock_of, log_of, make_broker
from tests.client_batches import T0, client_batch
from tests.storage.support import stored_batches

PID = 1000


def produce_request(parts: dict[tuple[str, int], bytes], acks: int = -1) -> ProduceRequest:
    topics: dict[str, list[PartitionProduceData]] = {}
    for (topic, index), records in parts.items():
        topics.setdefault(topic, []).append(PartitionProduceData(index=index, records=records))
    return ProduceRequest(
        transactional_id=None,
        acks=acks,
        timeout_ms=30000,
        topic_data=tuple(
            TopicProduceData(name=t, partition_data=tuple(p)) for t, p in topics.items()
        ),
    )


class IdempotentProduceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.controller = self.broker.controller
        self.successResultOf(self.controller.create_topic("t", 2))

    def produce(
        self, batch: bytes, partition: int = 0, version: int = 9, topic: str = "t"
    ) -> PartitionProduceResponse:
        request = produce_request({(topic, partition): batch})
        response = self.successResultOf(call(self.broker, produce.SPEC, request, version))
        schema.encode_bytes(response, version)  # every answer must encode at its version
        part: PartitionProduceResponse = response.responses[0].partition_responses[0]
        return part

    def log(self, partition: int = 0, topic: str = "t") -> IPartitionLog:
        return log_of(self.broker, topic, partition)

    def send(self, seq: int, count: int = 1, epoch: int = 0, **kw: Any) -> PartitionProduceResponse:
        return self.produce(client_batch(seq, count, producer_id=PID, epoch=epoch, **kw))

    def test_sequential_batches_appended(self) -> None:
        """In-sequence batches of one producer are appended at consecutive offsets."""
        self.assertEqual((self.send(0, 3).error_code, self.send(3, 2).base_offset), (0, 3))
        self.assertEqual(self.log().log_end_offset, 5)

    def test_retry_answers_original_offset(self) -> None:
        """Resending the last batch answers NONE, its original offset, and appends nothing."""
        self.send(0, 2)
        batch = client_batch(2, 3, producer_id=PID, epoch=0, timestamp=T0 + 50)
        first = self.produce(batch)
        again = self.produce(batch)
        self.assertEqual((again.error_code, again.base_offset), (0, first.base_offset))
        self.assertEqual(self.log().log_end_offset, 5)
        self.assertEqual(len(stored_batches(self.log())), 2)

    def test_duplicate_reports_batch_timestamp_as_append_time(self) -> None:
        """As Kafka, a duplicate's log_append_time_ms is the original batch's max timestamp."""
        batch = client_batch(0, 2, producer_id=PID, epoch=0, timestamp=T0)
        self.assertEqual(self.produce(batch).log_append_time_ms, -1)
        self.assertEqual(self.produce(batch).log_append_time_ms, T0 + 1)

    def test_each_of_five_in_flight_retried(self) -> None:
        """With five batches in flight, a retry of any of them gets its own original offset."""
        batches = [client_batch(seq * 2, 2, producer_id=PID, epoch=0) for seq in range(5)]
        offsets = [self.produce(b).base_offset for b in batches]
        for batch, offset in reversed(list(zip(batches, offsets, strict=True))):
            response = self.produce(batch)
            self.assertEqual((response.error_code, response.base_offset), (0, offset))
        self.assertEqual(self.log().log_end_offset, 10)

    def test_gap_refused(self) -> None:
        """A sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER with a message; nothing is appended."""
        self.send(0)
        response = self.send(2)
        self.assertEqual(response.error_code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertEqual(response.base_offset, -1)
        assert response.error_message is not None
        self.assertIn("Out of order sequence number for producer 1000", response.error_message)
        self.assertEqual(self.log().log_end_offset, 1)

    def test_refusal_encodes_at_old_versions(self) -> None:
        """A refusal answers at Produce v3 too, where there is no error message."""
        self.produce(client_batch(0, producer_id=PID, epoch=0), version=3)
        response = self.produce(client_batch(5, producer_id=PID, epoch=0), version=3)
        self.assertEqual(response.error_code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)

    def test_old_epoch_refused(self) -> None:
        """A batch from an older epoch is INVALID_PRODUCER_EPOCH and is not appended."""
        self.send(0, epoch=2)
        response = self.send(1, epoch=1)
        self.assertEqual(response.error_code, ErrorCode.INVALID_PRODUCER_EPOCH)
        self.assertEqual(self.log().log_end_offset, 1)

    def test_new_epoch(self) -> None:
        """A bumped epoch is accepted at sequence 0 and refused at any other."""
        self.send(0, 2)
        self.assertEqual(self.send(3, epoch=1).error_code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertEqual(self.send(0, epoch=1).error_code, 0)
        self.assertEqual(self.log().log_end_offset, 3)

    def test_unknown_producer_any_sequence(self) -> None:
        """A producer the partition has never seen is accepted at any sequence, as Kafka 4.0."""
        self.assertEqual(self.send(42).error_code, 0)

    def test_state_is_per_partition(self) -> None:
        """The same producer has its own sequence in each partition."""
        self.send(0, 3)
        other = self.produce(client_batch(0, producer_id=PID, epoch=0), partition=1)
        self.assertEqual((other.error_code, other.base_offset), (0, 0))

    def test_plain_batches_untouched(self) -> None:
        """Batches without a producer id are appended every time they are sent."""
        batch = client_batch(count=2)
        self.produce(batch)
        self.assertEqual(self.produce(batch).base_offset, 2)
        self.assertEqual(self.log().producer_state.producers, {})

    def test_recreated_topic_starts_afresh(self) -> None:
        """Deleting and re-creating a topic forgets its producers."""
        batch = client_batch(0, producer_id=PID, epoch=0)
        self.produce(batch)
        self.successResultOf(self.controller.delete_topic(self.broker.metadata.image.topics["t"]))
        self.successResultOf(self.controller.create_topic("t", 1))
        response = self.produce(batch)
        self.assertEqual((response.error_code, response.base_offset), (0, 0))
        self.assertEqual(self.log().log_end_offset, 1)

    def test_one_partition_refused_others_appended(self) -> None:
        """In one request, a refused partition does not stop the others."""
        self.send(0)
        request = produce_request(
            {
                ("t", 0): client_batch(7, producer_id=PID, epoch=0),
                ("t", 1): client_batch(0, producer_id=PID, epoch=0),
            }
        )
        response = self.successResultOf(call(self.broker, produce.SPEC, request, 9))
        codes = [p.error_code for p in response.responses[0].partition_responses]
        self.assertEqual(codes, [ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 0])

    def test_log_append_time_duplicate(self) -> None:
        """On a LogAppendTime topic a duplicate answers with the original append time."""
        self.successResultOf(
            self.controller.create_topic(
                "lat", 1, configs={"message.timestamp.type": "LogAppendTime"}
            )
        )
        batch = client_batch(0, producer_id=PID, epoch=0)
        first = self.produce(batch, topic="lat")
        clock_of(self.broker).advance(10)
        again = self.produce(batch, topic="lat")
        self.assertEqual(first.log_append_time_ms, self.broker.now_ms() - 10_000)
        self.assertEqual(
            (again.base_offset, again.log_append_time_ms), (0, first.log_append_time_ms)
        )

    def test_stored_state_matches_log(self) -> None:
        """The broker's producer state equals a replay of the stored batches."""
        for seq in range(0, 12, 2):
            self.send(seq, 2)
        self.send(12, 1)
        replayed = ProducerStateTable()
        for stored in stored_batches(self.log()):
            h = parse_batch_header(stored)
            replayed.replay_batch(h, h.base_offset)
        self.assertEqual(self.log().producer_state, replayed)

    def test_log_owned_state_is_used(self) -> None:
        """A log's own producer_state (the file engine's contract) is used, not the broker's."""
        self.assertEqual(self.send(0, 2, epoch=3).error_code, 0)
        self.assertEqual(self.send(0, epoch=2).error_code, ErrorCode.INVALID_PRODUCER_EPOCH)
        again = self.send(0, 2, epoch=3)
        self.assertEqual((again.error_code, again.base_offset), (0, 0))
        self.assertEqual(self.log().producer_state.producers[PID].last_seq, 1)
