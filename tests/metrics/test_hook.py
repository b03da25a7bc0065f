"""Tests for the metrics request hook (L{kafkatwist.metrics.hook}) under the real handlers."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.hooks import Exchange
from kafkatwist.metrics.hook import WINDOW, RequestTimes, record_count, records_size
from kafkatwist.wire.legacy import encode_message
from tests.brokers import clock_of
from tests.metrics.support import Metered, batch, fetched, produced


class Hold:
    """A hook holding every request until C{release} fires."""

    def __init__(self) -> None:
        self.release: Deferred[None] = Deferred()

    def received(self, exchange: Exchange) -> Deferred[None] | None:
        return self.release

    def answered(self, exchange: Exchange) -> None:
        pass


class ProduceCountTests(SynchronousTestCase):
    """Bytes and messages in, per topic, from each Produce's batch headers."""

    def setUp(self) -> None:
        self.m = Metered()
        self.successResultOf(self.m.broker.controller.create_topic("t", 2))

    def test_bytes_and_messages_in(self) -> None:
        """Each appended batch adds its size and its header's record count."""
        first, second = batch(b"a", b"b", b"c"), batch(b"dd", b"ee")
        self.successResultOf(self.m.produce("t", 0, first))
        self.successResultOf(self.m.produce("t", 1, second))
        counts = self.m.hook.topics["t"]
        self.assertEqual(counts.bytes_in, len(first) + len(second))
        self.assertEqual(counts.messages_in, 5)
        self.assertEqual((counts.produce_requests, counts.failed_produce_requests), (2, 0))
        self.assertEqual(self.m.hook.requests[("Produce", 11)], 2)
        self.assertEqual(self.m.hook.times["Produce"].count, 2)

    def test_refused_partition_not_counted(self) -> None:
        """A partition answered with an error counts as failed, not as bytes in."""
        reply = self.successResultOf(self.m.produce("t", 7, batch(b"x")))
        self.assertNotEqual(produced(reply).responses[0].partition_responses[0].error_code, 0)
        counts = self.m.hook.topics["t"]
        self.assertEqual((counts.bytes_in, counts.messages_in), (0, 0))
        self.assertEqual((counts.produce_requests, counts.failed_produce_requests), (1, 1))

    def test_unknown_topics_not_kept(self) -> None:
        """
        Produce and Fetch to topics that do not exist keep nothing per topic (as Kafka
        filters them out before its topic stats): a client naming many cannot grow them.
        """
        for i in range(50):
            reply = self.successResultOf(self.m.produce(f"nope-{i}", 0, batch(b"x")))
            self.assertEqual(produced(reply).responses[0].partition_responses[0].error_code, 3)
            reply = self.successResultOf(self.m.fetch(f"gone-{i}", 0, 0))
            self.assertEqual(fetched(reply).responses[0].partitions[0].error_code, 3)
        self.assertEqual(set(self.m.hook.topics), set())
        self.assertEqual(self.m.hook.requests[("Produce", 11)], 50)

    def test_topic_ids(self) -> None:
        """Produce v13 names topics by id: the counts go to the topic's name."""
        data = batch(b"a", b"b")
        reply = self.successResultOf(self.m.produce("t", 0, data, version=13))
        self.assertEqual(produced(reply, 13).responses[0].partition_responses[0].error_code, 0)
        self.assertEqual(self.m.hook.topics["t"].messages_in, 2)
        self.assertEqual(self.m.hook.requests[("Produce", 13)], 1)

    def test_acks_zero(self) -> None:
        """An acks=0 Produce has no response: its batches count as appended."""
        data = batch(b"a")
        self.assertIsNone(self.successResultOf(self.m.produce("t", 0, data, acks=0)))
        self.assertEqual(self.m.hook.topics["t"].bytes_in, len(data))
        self.assertEqual(self.m.hook.requests[("Produce", 11)], 1)

    def test_produce_waiting(self) -> None:
        """A Produce is waiting from received to answered; answered, it is not."""
        held = Hold()
        self.m.broker.hooks.append(held)
        d = self.m.produce("t", 0, batch(b"a"))
        self.assertNoResult(d)
        self.assertEqual(len(self.m.hook.producing), 1)
        self.assertEqual(self.m.hook.waiting_partitions(self.m.hook.producing), 1)
        held.release.callback(None)
        self.successResultOf(d)
        self.assertEqual(len(self.m.hook.producing), 0)


class FetchCountTests(SynchronousTestCase):
    """Bytes out per topic, and Fetch requests waiting."""

    def setUp(self) -> None:
        self.m = Metered()
        self.successResultOf(self.m.broker.controller.create_topic("t", 1))
        self.data = batch(b"hello", b"world")
        self.successResultOf(self.m.produce("t", 0, self.data))

    def test_bytes_out(self) -> None:
        """A Fetch adds the size of the records it answers."""
        reply = self.successResultOf(self.m.fetch("t", 0, 0))
        records = fetched(reply).responses[0].partitions[0].records
        self.assertEqual(records_size(records), len(self.data))
        counts = self.m.hook.topics["t"]
        self.assertEqual(counts.bytes_out, len(self.data))
        self.assertEqual((counts.fetch_requests, counts.failed_fetch_requests), (1, 0))

    def test_bytes_out_by_topic_id(self) -> None:
        """Fetch v13 names topics by id: the bytes go to the topic's name."""
        self.successResultOf(self.m.fetch("t", 0, 0, version=13))
        self.assertEqual(self.m.hook.topics["t"].bytes_out, len(self.data))

    def test_failed_fetch(self) -> None:
        """A partition answered with an error counts as a failed fetch."""
        self.successResultOf(self.m.fetch("t", 0, 99))
        counts = self.m.hook.topics["t"]
        self.assertEqual((counts.fetch_requests, counts.failed_fetch_requests), (1, 1))

    def test_long_poll_waits(self) -> None:
        """A parked Fetch is waiting (one request, one partition) until it is answered."""
        d = self.m.fetch("t", 0, 2, max_wait_ms=500)
        self.assertNoResult(d)
        self.assertEqual(len(self.m.hook.fetching), 1)
        self.assertEqual(self.m.hook.waiting_partitions(self.m.hook.fetching), 1)
        clock_of(self.m.broker).advance(0.5)
        self.successResultOf(d)
        self.assertEqual(len(self.m.hook.fetching), 0)
        self.assertEqual(self.m.hook.requests[("Fetch", 12)], 1)


class HelperTests(SynchronousTestCase):
    """Record counts, sizes and the ring of request times."""

    def test_record_count_of_several_batches(self) -> None:
        """The counts of every batch in the buffer add up."""
        self.assertEqual(record_count(batch(b"a", b"b") + batch(b"c")), 3)

    def test_record_count_of_legacy_message_set(self) -> None:
        """A magic 0/1 message set has no batch header count: 0."""
        self.assertEqual(record_count(encode_message(0, 1, 0, 0, None, b"v")), 0)

    def test_records_size_of_chunks(self) -> None:
        """A zero-copy answer's size is the sum of its chunks."""
        self.assertEqual(records_size([b"abc", memoryview(b"de"), bytearray(b"f")]), 6)
        self.assertEqual(records_size(None), 0)

    def test_times_ring(self) -> None:
        """The window keeps the latest WINDOW times; count and sum cover all."""
        times = RequestTimes()
        for i in range(WINDOW + 3):
            times.add(float(i))
        self.assertEqual(times.count, WINDOW + 3)
        self.assertEqual(times.total_ms, sum(range(WINDOW + 3)))
        self.assertEqual(len(times.window), WINDOW)
        self.assertEqual(sorted(times.window), [float(i) for i in range(3, WINDOW + 3)])
