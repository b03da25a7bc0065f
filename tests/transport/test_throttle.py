"""Quota throttling over a StringTransport: throttle_time_ms and the muted connection (KIP-219)."""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY
from kafkatwist.broker import Broker
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchResponse, FetchTopic
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.quotas.control import QuotaAlteration
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.protocol import KafkaServerFactory, KafkaServerProtocol
from tests.brokers import clock_of, make_broker
from tests.client_batches import client_batch
from tests.support import connect, decode_reply, request_frame, unframe

CLIENT = "throttled"
#: One record of 9000 bytes, as kafka-python encodes it.
BATCH = client_batch(records=[(None, b"x" * 9000, ())])


def records_of(response: FetchResponse) -> bytes:
    """The records of the response's one partition."""
    records = response.responses[0].partitions[0].records
    assert isinstance(records, (bytes, bytearray, memoryview)), records
    return bytes(records)


def produce(correlation_id: int, acks: int = 1, version: int = 11) -> bytes:
    """A framed Produce of L{BATCH} to t-0 from client L{CLIENT}."""
    request = ProduceRequest(
        acks=acks,
        timeout_ms=1000,
        topic_data=(
            TopicProduceData(
                name="t", partition_data=(PartitionProduceData(index=0, records=BATCH),)
            ),
        ),
    )
    return request_frame(0, version, correlation_id, request, client_id=CLIENT)


class _Case(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker: Broker = make_broker()
        self.clock = clock_of(self.broker)
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        factory = KafkaServerFactory(Dispatcher(REGISTRY, self.broker), clock=self.clock)
        self.protocol: KafkaServerProtocol
        self.transport: StringTransport
        self.protocol, self.transport = connect(factory)

    def set_quota(self, key: str, value: float) -> None:
        self.successResultOf(
            self.broker.controller.alter_client_quotas(
                [QuotaAlteration((("client-id", CLIENT),), [(key, value)])]
            )
        )

    def replies(self) -> list[bytes]:
        data = self.transport.value()
        self.transport.clear()
        return unframe(data)


class ProduceThrottleTests(_Case):
    """Produce over C{producer_byte_rate}."""

    def test_throttled_and_muted(self) -> None:
        """
        Two 9 KB requests at 1000 B/s: the second is throttled, and the connection muted that long.

        Each frame is S bytes (L{BATCH} plus the headers, a little over 9000);
        after the first, 1 * S / 10 s (the minimum window) is under 1000 B/s
        (S < 10000). After the second, at the same instant, O = 2S / 10 s and
        X = (O - 1000) / 1000 * 10000 ms = 2S - 10000 ms.
        """
        self.set_quota("producer_byte_rate", 1000.0)
        size = len(produce(1)) - 4
        self.protocol.dataReceived(produce(1) + produce(2) + produce(3))
        first, second = self.replies()
        _, r1 = decode_reply(first, ProduceResponse, 11)
        _, r2 = decode_reply(second, ProduceResponse, 11)
        self.assertEqual(r1.throttle_time_ms, 0)
        self.assertEqual(r2.throttle_time_ms, 2 * size - 10000)
        # The third request waits, unread, for the throttle time.
        self.assertTrue(self.protocol.muted)
        self.assertEqual(self.transport.producerState, "paused")
        self.clock.advance((2 * size - 10000) / 1000 - 0.001)
        self.assertEqual(self.replies(), [])
        self.clock.advance(0.001)
        (third,) = self.replies()
        _, r3 = decode_reply(third, ProduceResponse, 11)
        # O = 3S / 10.001 s.
        self.assertGreater(r3.throttle_time_ms, 0)
        self.assertEqual(
            [p.base_offset for r in (r1, r2, r3) for p in r.responses[0].partition_responses],
            [0, 1, 2],
        )

    def test_no_quota_no_throttle(self) -> None:
        """Without quotas nothing is throttled, however much is produced."""
        self.protocol.dataReceived(b"".join(produce(i) for i in range(5)))
        replies = self.replies()
        self.assertEqual(len(replies), 5)
        for reply in replies:
            self.assertEqual(decode_reply(reply, ProduceResponse, 11)[1].throttle_time_ms, 0)
        self.assertFalse(self.protocol.muted)

    def test_acks_zero_is_muted_too(self) -> None:
        """acks=0 gets no answer, but over the quota the connection is muted all the same."""
        self.set_quota("producer_byte_rate", 1000.0)
        self.protocol.dataReceived(produce(1, acks=0) + produce(2, acks=0))
        self.assertEqual(self.replies(), [])
        self.assertTrue(self.protocol.muted)

    def test_lost_connection_cancels_the_timer(self) -> None:
        """A throttled connection that goes away leaves no pending timer."""
        self.set_quota("producer_byte_rate", 1000.0)
        self.protocol.dataReceived(produce(1) + produce(2))
        self.assertTrue(self.clock.getDelayedCalls())
        self.protocol.connectionLost()
        self.assertEqual([c for c in self.clock.getDelayedCalls() if "end_throttle" in repr(c)], [])


class FetchThrottleTests(_Case):
    """Fetch over C{consumer_byte_rate}."""

    def fetch(self, correlation_id: int, version: int = 11) -> bytes:
        request = FetchRequest(
            replica_id=-1,
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=1 << 20 if version >= 3 else 0x7FFFFFFF,
            topics=(
                FetchTopic(
                    topic="t",
                    partitions=(
                        FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20),
                    ),
                ),
            ),
        )
        return request_frame(1, version, correlation_id, request, client_id=CLIENT)

    def test_throttled_fetch_is_empty_and_uncounted(self) -> None:
        """
        Over the fetch quota the answer is empty with throttle_time_ms, and is not counted.

        Three batches of B bytes (B = len(BATCH), 9072) at 3000 B/s: the cap
        is 3000 * 10 s = 30000 bytes (C{getMaxValueInQuotaWindow}), so a fetch
        reads all 3B. The first fetch measures 3B / 10 s < 3000; the second,
        at once, 6B / 10 s: X = (6B / 10 - 3000) / 3000 * 10000 ms
        = 2B - 10000 ms. It returns no partitions and its bytes are taken
        back; a third fetch at t = X then counts 6B over a window of
        X + (10 - floor(X / 1000)) * 1000 ms (fewer than 10 full windows).
        """
        for i in range(3):
            self.protocol.dataReceived(produce(i))
        self.replies()
        self.set_quota("consumer_byte_rate", 3000.0)
        b = len(BATCH)
        self.protocol.dataReceived(self.fetch(10) + self.fetch(11))
        first, second = self.replies()
        _, f1 = decode_reply(first, FetchResponse, 11)
        _, f2 = decode_reply(second, FetchResponse, 11)
        self.assertEqual(f1.throttle_time_ms, 0)
        self.assertEqual(len(records_of(f1)), 3 * b)
        x = 2 * b - 10000
        self.assertEqual(f2.throttle_time_ms, x)
        self.assertEqual(f2.responses, ())
        self.clock.advance(x / 1000)
        self.protocol.dataReceived(self.fetch(12))
        (third,) = self.replies()
        _, f3 = decode_reply(third, FetchResponse, 11)
        window = x + (10 - x // 1000) * 1000
        expected = (6 * b / (window / 1000) - 3000) / 3000 * window
        self.assertEqual(f3.throttle_time_ms, int(expected + 0.5))
        self.assertEqual(f3.responses, ())

    def test_throttled_fetch_v0(self) -> None:
        """Fetch v0 has no throttle_time_ms: the empty answer still encodes, the client is muted."""
        for i in range(3):
            self.protocol.dataReceived(produce(i))
        self.replies()
        self.set_quota("consumer_byte_rate", 3000.0)
        self.protocol.dataReceived(self.fetch(10, 0) + self.fetch(11, 0))
        first, second = self.replies()
        # v0 reads magic 0 messages (down-converted): the three records, 9000-byte values.
        messages = records_of(decode_reply(first, FetchResponse, 0)[1])
        sizes = []
        while messages:
            size = int.from_bytes(messages[8:12], "big")
            sizes.append(size)
            messages = messages[12 + size :]
        self.assertEqual(len(sizes), 3)
        self.assertTrue(all(9000 < size < 9100 for size in sizes), sizes)
        self.assertEqual(decode_reply(second, FetchResponse, 0)[1].responses, ())
        self.assertTrue(self.protocol.muted)

    def test_max_bytes_capped_by_the_quota(self) -> None:
        """A fetch reads no more than the quota allows over its windows (first batch whole)."""
        for i in range(3):
            self.protocol.dataReceived(produce(i))
        self.replies()
        self.set_quota("consumer_byte_rate", 1000.0)  # 10000 bytes over 10 windows
        self.protocol.dataReceived(self.fetch(10))
        (reply,) = self.replies()
        _, response = decode_reply(reply, FetchResponse, 11)
        self.assertEqual(len(records_of(response)), len(BATCH))
