"""Fetch long polls over several partitions: woken per partition, re-reading only what moved."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    PartitionData,
)
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.wire.batch import iter_batches
from kafkatwist.wire.record import build_batch
from tests.brokers import call, clock_of, log_of, make_broker
from tests.client_batches import client_batch
from tests.storage.support import append_batches


def batch(value: bytes) -> bytes:
    return build_batch([(None, value)], base_timestamp=1_700_000_000_000)


class LongPollTests(SynchronousTestCase):
    """A parked fetch of three partitions and appends to some of them."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 3))
        self.logs = [log_of(self.broker, "t", p) for p in range(3)]
        self.one = len(batch(b"x" * 100))

    def fetch(
        self, *, min_bytes: int, max_bytes: int = 1 << 20, wait: int = 5000
    ) -> Deferred[FetchResponse]:
        ft = FetchTopic(
            topic="t",
            partitions=tuple(
                FetchPartition(partition=p, fetch_offset=0, partition_max_bytes=1 << 20)
                for p in range(3)
            ),
        )
        request = FetchRequest(
            max_wait_ms=wait, min_bytes=min_bytes, max_bytes=max_bytes, topics=(ft,)
        )
        return call(self.broker, fetch.SPEC, request, 12)

    def append(self, log: IPartitionLog) -> None:
        self.successResultOf(append_batches(log, batch(b"x" * 100)))

    def offsets(self, part: PartitionData) -> list[int]:
        """The base offsets of the batches a partition's answer holds."""
        records = part.records
        assert records is not None
        if isinstance(records, (bytes, bytearray, memoryview)):
            data = bytes(records)
        else:
            data = b"".join(bytes(b) for b in records)
        return [h.base_offset for _, h in iter_batches(data)]

    def parts(self, response: FetchResponse) -> list[PartitionData]:
        return list(response.responses[0].partitions)

    def test_appends_accumulate_until_min_bytes(self) -> None:
        """Appends to different partitions add up to min_bytes; the answer holds each once."""
        d = self.fetch(min_bytes=3 * self.one)
        self.append(self.logs[0])
        self.assertNoResult(d)
        self.append(self.logs[0])
        self.assertNoResult(d)
        self.append(self.logs[2])
        parts = self.parts(self.successResultOf(d))
        self.assertEqual([self.offsets(p) for p in parts], [[0, 1], [], [0]])
        self.assertEqual([p.high_watermark for p in parts], [2, 0, 1])
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])

    def test_untouched_partitions_stay_watched(self) -> None:
        """After a wake for one partition, an append to another still wakes the fetch."""
        d = self.fetch(min_bytes=2 * self.one)
        self.append(self.logs[1])
        self.assertNoResult(d)
        clock_of(self.broker).advance(1)
        self.append(self.logs[2])
        parts = self.parts(self.successResultOf(d))
        self.assertEqual([self.offsets(p) for p in parts], [[], [0], [0]])

    def test_budget_kept_across_rereads(self) -> None:
        """max_bytes bounds the data of re-read partitions together (the first batch whole)."""
        d = self.fetch(min_bytes=10 * self.one, max_bytes=self.one + 1, wait=1000)
        self.append(self.logs[0])
        self.append(self.logs[1])
        self.append(self.logs[0])
        self.assertNoResult(d)
        clock_of(self.broker).advance(1)
        parts = self.parts(self.successResultOf(d))
        # Partition 1 was read when partition 0's first batch had spent the budget; the
        # re-read of partition 0 gave that batch back and took it again, whole (KIP-74).
        self.assertEqual([self.offsets(p) for p in parts], [[0], [], []])
        self.assertEqual([p.high_watermark for p in parts], [2, 1, 0])

    def test_deadline_answers_what_was_read(self) -> None:
        """At max_wait_ms the answer carries what the wakes read, below min_bytes."""
        d = self.fetch(min_bytes=10 * self.one, wait=500)
        self.append(self.logs[2])
        clock_of(self.broker).advance(0.499)
        self.assertNoResult(d)
        clock_of(self.broker).advance(0.001)
        parts = self.parts(self.successResultOf(d))
        self.assertEqual([self.offsets(p) for p in parts], [[], [], [0]])
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])

    def test_closed_log_ends_the_wait(self) -> None:
        """
        A parked fetch whose log closes (the broker stops) answers at once: the closed log's
        waiters fire without its high watermark moving, and waiting on it again would spin.
        """
        d = self.fetch(min_bytes=10 * self.one)
        self.append(self.logs[0])
        self.assertNoResult(d)
        closing = self.logs[1]
        assert isinstance(closing, PartitionLog)  # the file engine's log, closed by its manager
        self.successResultOf(closing.close())
        parts = self.parts(self.successResultOf(d))
        self.assertEqual([self.offsets(p) for p in parts], [[0], [], []])
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])

    def test_cancel_forgets_every_waiter(self) -> None:
        """A cancelled parked fetch leaves no timer, and later appends do not touch it."""
        d = self.fetch(min_bytes=10 * self.one)
        self.append(self.logs[0])
        d.cancel()
        self.failureResultOf(d)
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])
        self.append(self.logs[1])
        self.append(self.logs[0])
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])


class EstimateTests(SynchronousTestCase):
    """A parked fetch estimates appended bytes before it re-reads (Kafka's DelayedFetch)."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.topic = self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.log = log_of(self.broker, "t", 0)

    def append(self, buf: bytes) -> None:
        batches = [(pos, h) for pos, h in iter_batches(buf)]
        appended = self.broker.partitions.append(self.topic, 0, self.log, buf, batches)
        self.successResultOf(appended)

    def fetch(self, offset: int, min_bytes: int, isolation: int = 0) -> Deferred[FetchResponse]:
        ft = FetchTopic(
            topic="t",
            partitions=(
                FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1 << 20),
            ),
        )
        request = FetchRequest(
            max_wait_ms=5000,
            min_bytes=min_bytes,
            max_bytes=1 << 20,
            isolation_level=isolation,
            topics=(ft,),
        )
        return call(self.broker, fetch.SPEC, request, 12)

    def test_appended_bytes_counts_every_append(self) -> None:
        """The log's appended_bytes grows by each append's size and only grows."""
        before = self.log.appended_bytes
        one = batch(b"x" * 100)
        self.append(one)
        self.append(one)
        self.assertEqual(self.log.appended_bytes - before, 2 * len(one))

    def test_small_appends_wait_for_min_bytes(self) -> None:
        """Appends adding up to less than min_bytes leave the fetch parked; the next ends it."""
        one = batch(b"x" * 100)
        d = self.fetch(0, min_bytes=3 * len(one))
        self.append(one)
        self.append(one)
        self.assertNoResult(d)
        self.append(one)
        part = self.successResultOf(d).responses[0].partitions[0]
        self.assertEqual(part.high_watermark, 3)
        records = part.records
        assert isinstance(records, list)
        self.assertEqual(sum(len(bytes(b)) for b in records), 3 * len(one))

    def test_read_committed_woken_by_a_commit(self) -> None:
        """
        A read_committed fetch parked below the last stable offset re-reads when the commit
        marker moves it, although the marker alone adds fewer bytes than min_bytes.
        """
        txn = client_batch(0, 20, producer_id=1, epoch=0, is_transactional=True)
        self.append(txn)
        d = self.fetch(0, min_bytes=len(txn) // 2, isolation=1)
        self.assertNoResult(d)
        self.successResultOf(self.broker.partitions.write_txn_marker("t", 0, 1, 0, 0, True))
        part = self.successResultOf(d).responses[0].partitions[0]
        self.assertEqual((part.high_watermark, part.last_stable_offset), (21, 21))
        records = part.records
        assert isinstance(records, list)
        self.assertGreaterEqual(sum(len(bytes(b)) for b in records), len(txn))
