"""Produce to Kafka's internal topics: refused unless the client is the admin client."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import produce
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.wire.record import build_batch
from tests.brokers import call, context, log_of, make_broker

BATCH = build_batch([(b"k", b"v")], base_timestamp=1_700_000_000_000)


def request(topic: str) -> ProduceRequest:
    return ProduceRequest(
        transactional_id=None,
        acks=-1,
        timeout_ms=1000,
        topic_data=(
            TopicProduceData(
                name=topic, partition_data=(PartitionProduceData(index=0, records=BATCH),)
            ),
        ),
    )


class InternalTopicTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        controller = self.broker.controller
        self.successResultOf(controller.create_topic("__consumer_offsets", 1))
        self.successResultOf(controller.create_topic("plain", 1))

    def test_internal_topic_refused(self) -> None:
        """A batch for __consumer_offsets gets INVALID_TOPIC_EXCEPTION and is not appended."""
        response = self.successResultOf(
            call(self.broker, produce.SPEC, request("__consumer_offsets"), 9)
        )
        [part] = response.responses[0].partition_responses
        self.assertEqual(
            (part.error_code, part.base_offset, part.error_message),
            (
                ErrorCode.INVALID_TOPIC_EXCEPTION,
                -1,
                "Cannot append to internal topic __consumer_offsets",
            ),
        )
        self.assertEqual(log_of(self.broker, "__consumer_offsets", 0).log_end_offset, 0)

    def test_admin_client_may_append(self) -> None:
        """Kafka lets the client id __admin_client append to internal topics."""
        ctx = context(self.broker, produce.SPEC, 9, client_id="__admin_client")
        response = self.successResultOf(
            Deferred.fromCoroutine(produce.handle(ctx, request("__consumer_offsets")))
        )
        assert response is not None
        [part] = response.responses[0].partition_responses
        self.assertEqual((part.error_code, part.base_offset), (0, 0))

    def test_plain_topic_unaffected(self) -> None:
        """An ordinary topic still takes the same batch."""
        response = self.successResultOf(call(self.broker, produce.SPEC, request("plain"), 9))
        [part] = response.responses[0].partition_responses
        self.assertEqual((part.error_code, part.base_offset), (0, 0))
