"""A long-polling Fetch answers at once when any requested partition has data (min_bytes)."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchResponse, FetchTopic
from kafkatwist.wire.record import build_batch
from tests.brokers import call, clock_of, log_of, make_broker
from tests.storage.support import append_batches


class AnyPartitionWithDataTests(SynchronousTestCase):
    """
    librdkafka leaves a partition whose local queue is full out of its next Fetch, so a
    Fetch may list partitions at their high watermark next to one with data: Kafka's
    C{ReplicaManager.fetchMessages} answers such a request at once (the bytes read reach
    min_bytes, or no partition is listed), and parks (C{DelayedFetch}) only a request
    whose partitions are all without data.
    """

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 3))
        self.topic = self.broker.metadata.image.topics["t"]
        record = build_batch([(None, b"x" * 100)], base_timestamp=1_700_000_000_000)
        # Partition 0 holds 2 records, partition 1 holds 1, partition 2 is empty.
        for partition, count in ((0, 2), (1, 1)):
            for _ in range(count):
                self.successResultOf(append_batches(log_of(self.broker, "t", partition), record))

    def fetch(self, *offsets: tuple[int, int]) -> Deferred[FetchResponse]:
        """A Fetch (v16, max_wait_ms 500, min_bytes 1) of C{(partition, offset)} pairs."""
        topic = FetchTopic(
            topic_id=self.topic.topic_id,
            partitions=tuple(
                FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
                for p, o in offsets
            ),
        )
        request = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=1 << 20, topics=(topic,))
        return call(self.broker, fetch.SPEC, request, 16)

    def test_one_partition_with_data_answers_at_once(self) -> None:
        """Partitions at their high watermark next to one below it: answered without waiting."""
        d = self.fetch((0, 2), (2, 0), (1, 0))
        response = self.successResultOf(d)
        records = {p.partition_index: p.records for p in response.responses[0].partitions}
        self.assertEqual(records[0], b"")
        self.assertEqual(records[2], b"")
        self.assertNotEqual(records[1], b"")
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])

    def test_data_in_the_first_partition_answers_at_once(self) -> None:
        """Data in the first listed partition answers at once whatever follows it."""
        response = self.successResultOf(self.fetch((0, 1), (1, 1), (2, 0)))
        self.assertNotEqual(response.responses[0].partitions[0].records, b"")

    def test_no_partition_with_data_waits(self) -> None:
        """Only partitions at their high watermark: parked until max_wait_ms, answered empty."""
        d = self.fetch((0, 2), (1, 1), (2, 0))
        clock_of(self.broker).advance(0.499)
        self.assertNoResult(d)
        clock_of(self.broker).advance(0.001)
        response = self.successResultOf(d)
        self.assertEqual({p.records for p in response.responses[0].partitions}, {b""})

    def test_parked_fetch_answers_on_append_to_any_partition(self) -> None:
        """A parked Fetch answers as soon as one of its partitions is appended to."""
        d = self.fetch((0, 2), (1, 1), (2, 0))
        clock_of(self.broker).advance(0.1)
        self.assertNoResult(d)
        record = build_batch([(None, b"y")], base_timestamp=1_700_000_000_000)
        self.successResultOf(append_batches(log_of(self.broker, "t", 2), record))
        response = self.successResultOf(d)
        records = {p.partition_index: p.records for p in response.responses[0].partitions}
        self.assertNotEqual(records[2], b"")

    def test_no_partition_listed_answers_at_once(self) -> None:
        """A Fetch listing no partition is answered at once (Kafka: C{fetchInfos.isEmpty})."""
        request = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=1 << 20, topics=())
        response = self.successResultOf(call(self.broker, fetch.SPEC, request, 16))
        self.assertEqual(response.responses, ())
