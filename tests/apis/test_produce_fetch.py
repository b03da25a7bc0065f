"""Produce and Fetch handler tests against the file engine (in a temp dir) and an injected clock."""

from __future__ import annotations

import uuid

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch, produce
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    PartitionData,
)
from kafkatwist.messages.produce import (
    PartitionProduceData,
    PartitionProduceResponse,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.record import build_batch, decode_batch_records
from tests.brokers import call, clock_of, log_of, make_broker
from tests.storage.support import append_batches, stored_batches


def batch(*values: bytes, ts: int = 1_700_000_000_000) -> bytes:
    return build_batch([(None, v) for v in values], base_timestamp=ts)


class ProduceTests(SynchronousTestCase):
    """Validation, offsets and acks."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 2))

    def produce(
        self,
        records: bytes | None,
        *,
        topic: str = "t",
        partition: int = 0,
        acks: int = 1,
        version: int = 11,
    ) -> ProduceResponse | None:
        request = ProduceRequest(
            acks=acks,
            timeout_ms=1000,
            topic_data=(
                TopicProduceData(
                    name=topic,
                    partition_data=(PartitionProduceData(index=partition, records=records),),
                ),
            ),
        )
        response: ProduceResponse | None = self.successResultOf(
            call(self.broker, produce.SPEC, request, version)
        )
        return response

    def part(self, response: ProduceResponse | None) -> PartitionProduceResponse:
        assert response is not None
        return response.responses[0].partition_responses[0]

    def test_offsets_assigned(self) -> None:
        """Successive batches get consecutive base offsets, and the log holds them rewritten."""
        first = self.part(self.produce(batch(b"a", b"b")))
        second = self.part(self.produce(batch(b"c")))
        self.assertEqual((first.error_code, first.base_offset, first.log_start_offset), (0, 0, 0))
        self.assertEqual((second.base_offset, second.log_append_time_ms), (2, -1))
        stored = stored_batches(log_of(self.broker, "t", 0))
        self.assertEqual([parse_batch_header(b).base_offset for b in stored], [0, 2])
        # Only the base offset changed: everything after the first 8 bytes is as sent.
        self.assertEqual(stored[1][8:], batch(b"c")[8:])

    def test_unknown_topic(self) -> None:
        """An unknown topic gets error 3 with every offset field -1."""
        p = self.part(self.produce(batch(b"x"), topic="nope"))
        self.assertEqual(
            (p.error_code, p.base_offset, p.log_append_time_ms, p.log_start_offset),
            (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1, -1),
        )

    def test_unknown_partition(self) -> None:
        """A partition the topic does not have gets error 3."""
        self.assertEqual(self.part(self.produce(batch(b"x"), partition=9)).error_code, 3)

    def test_bad_crc(self) -> None:
        """A batch whose CRC does not match is CORRUPT_MESSAGE and is not appended."""
        data = bytearray(batch(b"x"))
        data[-1] ^= 1
        self.assertEqual(self.part(self.produce(bytes(data))).error_code, ErrorCode.CORRUPT_MESSAGE)
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 0)

    def test_oversize_batch(self) -> None:
        """A batch above max.message.bytes is MESSAGE_TOO_LARGE and is not appended."""
        self.successResultOf(
            self.broker.controller.create_topic("small", 1, configs={"max.message.bytes": "100"})
        )
        p = self.part(self.produce(batch(b"x" * 200), topic="small"))
        self.assertEqual(p.error_code, ErrorCode.MESSAGE_TOO_LARGE)
        self.assertEqual(log_of(self.broker, "small", 0).log_end_offset, 0)

    def test_acks_zero(self) -> None:
        """acks=0 appends but produces no response."""
        self.assertIsNone(self.produce(batch(b"x"), acks=0))
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 1)

    def test_invalid_acks(self) -> None:
        """acks other than 0, 1 and -1 is INVALID_REQUIRED_ACKS."""
        self.assertEqual(
            self.part(self.produce(batch(b"x"), acks=2)).error_code, ErrorCode.INVALID_REQUIRED_ACKS
        )

    def test_log_append_time(self) -> None:
        """A LogAppendTime topic reports the broker's time and stamps the batch."""
        self.successResultOf(
            self.broker.controller.create_topic(
                "lat", 1, configs={"message.timestamp.type": "LogAppendTime"}
            )
        )
        p = self.part(self.produce(batch(b"x"), topic="lat"))
        now = self.broker.now_ms()
        self.assertEqual(p.log_append_time_ms, now)
        stored = stored_batches(log_of(self.broker, "lat", 0))[0]
        self.assertEqual(parse_batch_header(stored).max_timestamp, now)
        self.assertEqual(decode_batch_records(stored)[0].timestamp, now)


class FetchTests(SynchronousTestCase):
    """Addressing, limits, offsets and the long poll."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.topic = self.broker.metadata.image.topics["t"]
        self.log = log_of(self.broker, "t", 0)
        self.batches = [batch(b"a" * 100, b"b" * 100), batch(b"c" * 100), batch(b"d" * 100)]
        for b in self.batches:
            self.successResultOf(append_batches(self.log, b))

    def fetch(
        self,
        offset: int,
        *,
        version: int = 16,
        max_bytes: int = 1 << 20,
        part_max: int = 1 << 20,
        min_bytes: int = 1,
        wait: int = 0,
        topic_id: uuid.UUID | None = None,
        name: str = "t",
    ) -> Deferred[FetchResponse]:
        ft = FetchTopic(
            topic_id=topic_id or self.topic.topic_id,
            partitions=(
                FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=part_max),
            ),
        )
        if version < 13:
            ft = FetchTopic(topic=name, partitions=ft.partitions)
        request = FetchRequest(
            max_wait_ms=wait, min_bytes=min_bytes, max_bytes=max_bytes, topics=(ft,)
        )
        return call(self.broker, fetch.SPEC, request, version)

    def data(self, response: FetchResponse) -> PartitionData:
        return response.responses[0].partitions[0]

    def fetched(self, p: PartitionData) -> list[Buffer]:
        """The fetched batches: the handler answers one buffer per batch when it has data."""
        assert isinstance(p.records, list), p.records
        return p.records

    def test_fetch_all(self) -> None:
        """A fetch from 0 returns every batch byte for byte, with the offsets."""
        p = self.data(self.successResultOf(self.fetch(0)))
        self.assertEqual(
            (p.error_code, p.high_watermark, p.last_stable_offset, p.log_start_offset), (0, 4, 4, 0)
        )
        stored = stored_batches(self.log)
        self.assertEqual(b"".join(self.fetched(p)), b"".join(stored))
        self.assertIsNone(p.aborted_transactions)

    def test_offset_inside_a_batch(self) -> None:
        """A fetch offset in the middle of a batch returns that whole batch first."""
        p = self.data(self.successResultOf(self.fetch(1)))
        self.assertEqual(parse_batch_header(self.fetched(p)[0]).base_offset, 0)

    def test_limits_keep_whole_batches(self) -> None:
        """partition_max_bytes stops before a batch that would not fit."""
        size0 = len(stored_batches(self.log)[0])
        p = self.data(self.successResultOf(self.fetch(0, part_max=size0 + 10)))
        self.assertEqual(len(self.fetched(p)), 1)

    def test_first_batch_always_whole(self) -> None:
        """The first batch is returned whole even when larger than every limit (KIP-74)."""
        p = self.data(self.successResultOf(self.fetch(0, max_bytes=10, part_max=10)))
        self.assertEqual(p.records, [stored_batches(self.log)[0]])

    def test_at_high_watermark(self) -> None:
        """A fetch at the high watermark returns no records and no error."""
        p = self.data(self.successResultOf(self.fetch(4)))
        self.assertEqual((p.error_code, p.records), (0, b""))

    def test_out_of_range(self) -> None:
        """A fetch offset beyond the log end gets OFFSET_OUT_OF_RANGE."""
        p = self.data(self.successResultOf(self.fetch(99)))
        self.assertEqual(p.error_code, ErrorCode.OFFSET_OUT_OF_RANGE)

    def test_unknown_topic_id(self) -> None:
        """An unknown topic id gets UNKNOWN_TOPIC_ID (v13+)."""

        p = self.data(self.successResultOf(self.fetch(0, topic_id=uuid.UUID(int=5))))
        self.assertEqual(p.error_code, ErrorCode.UNKNOWN_TOPIC_ID)

    def test_by_name_before_v13(self) -> None:
        """Before v13 topics are named; an unknown name gets error 3."""
        ok = self.data(self.successResultOf(self.fetch(0, version=12)))
        self.assertEqual(ok.error_code, 0)
        missing = self.data(self.successResultOf(self.fetch(0, version=12, name="nope")))
        self.assertEqual(missing.error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)

    def test_long_poll_woken_by_append(self) -> None:
        """A fetch waiting for min_bytes completes as soon as a produce appends."""
        d = self.fetch(4, wait=5000)
        self.assertNoResult(d)
        clock_of(self.broker).advance(1)
        self.assertNoResult(d)
        self.successResultOf(append_batches(self.log, batch(b"late")))
        p = self.data(self.successResultOf(d))
        self.assertEqual(parse_batch_header(self.fetched(p)[0]).base_offset, 4)
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])

    def test_long_poll_deadline(self) -> None:
        """A fetch with nothing new completes empty at max_wait_ms."""
        d = self.fetch(4, wait=500)
        clock_of(self.broker).advance(0.499)
        self.assertNoResult(d)
        clock_of(self.broker).advance(0.001)
        self.assertEqual(self.data(self.successResultOf(d)).records, b"")

    def test_long_poll_cancelled(self) -> None:
        """Cancelling a waiting fetch (the client went away) leaves no timer behind."""
        d = self.fetch(4, wait=5000)
        d.cancel()
        self.failureResultOf(d)
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])

    def test_incremental_session_unknown(self) -> None:
        """
        An incremental fetch for a session that does not exist gets FETCH_SESSION_ID_NOT_FOUND.
        """
        request = FetchRequest(max_wait_ms=0, min_bytes=1, session_id=1234, session_epoch=3)
        response = self.successResultOf(call(self.broker, fetch.SPEC, request, 16))
        self.assertEqual(response.error_code, ErrorCode.FETCH_SESSION_ID_NOT_FOUND)

    def test_session_declined(self) -> None:
        """A sessionless full fetch (epoch -1, the default) is answered with session id 0."""
        response = self.successResultOf(self.fetch(0))
        self.assertEqual(response.session_id, 0)
