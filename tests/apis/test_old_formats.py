"""Produce v0-v2 and Fetch v0-v3 with magic 0/1 messages, as Kafka 3.9 serves them (issue 14).

Message sets are built, and fetched answers parsed, with kafka-python's
legacy record classes (an independent implementation); what is stored is
read back with kafka-python's DefaultRecordBatch.
"""

from __future__ import annotations

import attrs
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch, produce
from kafkatwist.apis._downconvert import INLINE_DOWNCONVERT_BYTES
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
    TopicProduceData,
)
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.wire.compression import GZIP, NONE, SNAPPY
from kafkatwist.wire.record import NewRecord, build_batch
from kafkatwist.wire.schema import Records
from tests.brokers import call, make_broker
from tests.storage.support import ManualRunBlocking, stored_batches
from tests.support import request_frame


def message_set(
    magic: int, codec: int = NONE, count: int = 3, ts: int = 0, key: bool = True
) -> bytes:
    """kafka-python's message set: keys k0.., values v0.., timestamps ts+i (magic 1)."""
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for i in range(count):
        builder.append(i, ts + i if magic else None, b"k%d" % i if key else None, b"v%d" % i)
    return bytes(builder.build())


def joined(records: Records | None) -> bytes:
    """The bytes of a response's C{records}."""
    if records is None:
        return b""
    if isinstance(records, (bytes, bytearray, memoryview)):
        return bytes(records)
    return b"".join(bytes(b) for b in records)


def parsed(
    records: Records | None,
) -> list[tuple[int, int, int | None, bytes | None, bytes | None]]:
    """(magic, offset, timestamp, key, value) of a fetched message set, by kafka-python."""
    data = joined(records)
    out: list[tuple[int, int, int | None, bytes | None, bytes | None]] = []
    found = MemoryRecords(data)
    while found.has_next():
        batch = found.next_batch()
        assert batch is not None
        out.extend((batch.magic, r.offset, r.timestamp, r.key, r.value) for r in batch)
    return out


class OldFormatTests(SynchronousTestCase):
    """Old producers and consumers on the handlers."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.now = self.broker.partitions.now_ms()
        self.successResultOf(self.broker.controller.create_topic("t", 1))

    def produce(self, records: bytes, version: int, topic: str = "t") -> PartitionProduceResponse:
        request = ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=(
                TopicProduceData(
                    name=topic, partition_data=(PartitionProduceData(index=0, records=records),)
                ),
            ),
        )
        response = self.successResultOf(call(self.broker, produce.SPEC, request, version))
        part: PartitionProduceResponse = response.responses[0].partition_responses[0]
        return part

    def fetch(
        self, version: int, offset: int = 0, topic: str = "t", part_max: int = 1 << 20
    ) -> PartitionData:
        request = FetchRequest(
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=1 << 20,
            topics=(
                FetchTopic(
                    topic=topic,
                    partitions=(
                        FetchPartition(
                            partition=0, fetch_offset=offset, partition_max_bytes=part_max
                        ),
                    ),
                ),
            ),
        )
        response = self.successResultOf(call(self.broker, fetch.SPEC, request, version))
        part: PartitionData = response.responses[0].partitions[0]
        return part

    def stored(self, topic: str = "t") -> list[DefaultRecordBatch]:
        log = self.broker.logs.get(topic, 0)
        assert log is not None
        return [DefaultRecordBatch(bytearray(b)) for b in stored_batches(log)]

    def test_produce_v0_to_v2_store_v2_batches(self) -> None:
        """Magic 0 (v0, v1) and magic 1 (v2) message sets are stored as one v2 batch each."""
        ts = self.now - 1000
        answers = [
            self.produce(message_set(0), 0),
            self.produce(message_set(0, GZIP), 1),
            self.produce(message_set(1, SNAPPY, ts=ts), 2),
        ]
        self.assertEqual([(a.error_code, a.base_offset) for a in answers], [(0, 0), (0, 3), (0, 6)])
        batches = self.stored()
        self.assertEqual([b.magic for b in batches], [2, 2, 2])
        self.assertEqual([b.compression_type for b in batches], [NONE, GZIP, SNAPPY])
        records = [(r.offset, r.timestamp, r.key, r.value) for b in batches for r in b]
        expected = [(i, -1, b"k%d" % (i % 3), b"v%d" % (i % 3)) for i in range(6)]
        expected += [(6 + i, ts + i, b"k%d" % i, b"v%d" % i) for i in range(3)]
        self.assertEqual(records, expected)
        self.assertEqual(batches[2].max_timestamp, ts + 2)

    def test_log_append_time_topic(self) -> None:
        """On a LogAppendTime topic the converted batch is stamped with the broker's time."""
        configs = {"message.timestamp.type": "LogAppendTime"}
        self.successResultOf(self.broker.controller.create_topic("lat", 1, configs=configs))
        answer = self.produce(message_set(0), 1, topic="lat")
        self.assertEqual((answer.error_code, answer.log_append_time_ms), (0, self.now))
        [batch] = self.stored("lat")
        self.assertEqual((batch.timestamp_type, batch.max_timestamp), (1, self.now))
        got = parsed(self.fetch(3, topic="lat").records)
        self.assertEqual({(m[0], m[2]) for m in got}, {(1, self.now)})

    def test_topic_compression(self) -> None:
        """The topic's compression.type applies to converted messages."""
        configs = {"compression.type": "gzip"}
        self.successResultOf(self.broker.controller.create_topic("gz", 1, configs=configs))
        self.assertEqual(
            self.produce(message_set(1, SNAPPY, ts=self.now), 2, topic="gz").error_code, 0
        )
        self.assertEqual([b.compression_type for b in self.stored("gz")], [GZIP])

    def test_refusals(self) -> None:
        """Keyless messages on a compacted topic, bad timestamps and bad CRCs are refused."""
        configs = {"cleanup.policy": "compact"}
        self.successResultOf(self.broker.controller.create_topic("c", 1, configs=configs))
        keyless = self.produce(message_set(0, key=False), 0, topic="c")
        self.assertEqual(keyless.error_code, ErrorCode.INVALID_RECORD)
        late = self.produce(message_set(1, ts=self.now + 2 * 3600 * 1000), 2)
        self.assertEqual(late.error_code, ErrorCode.INVALID_TIMESTAMP)
        damaged = bytearray(message_set(1, ts=self.now))
        damaged[-1] ^= 1
        self.assertEqual(self.produce(bytes(damaged), 2).error_code, ErrorCode.CORRUPT_MESSAGE)
        # Produce v3+ takes magic 2 only, as Kafka.
        self.assertEqual(
            self.produce(message_set(1, ts=self.now), 3).error_code, ErrorCode.INVALID_RECORD
        )
        self.assertEqual(self.stored(), [])

    def test_v2_batches_at_old_versions(self) -> None:
        """Produce v0-v2 also take magic 2 batches, several per partition (no v3 rule)."""
        two = build_batch([(b"a", b"1")], base_timestamp=self.now) + build_batch(
            [(b"b", b"2")], base_timestamp=self.now
        )
        answer = self.produce(two, 2)
        self.assertEqual((answer.error_code, answer.base_offset), (0, 0))
        self.assertEqual(len(self.stored()), 2)

    def test_fetch_versions_choose_the_magic(self) -> None:
        """Fetch v0-v1 answer magic 0, v2-v3 magic 1 and v4+ the v2 batches as stored."""
        self.produce(
            build_batch([NewRecord(b"a", b"1", (("h", b"x"),), self.now)], base_timestamp=self.now),
            3,
        )
        self.produce(message_set(0, GZIP), 0)
        for version, magic in ((0, 0), (1, 0), (2, 1), (3, 1)):
            with self.subTest(version=version):
                part = self.fetch(version)
                self.assertEqual((part.error_code, part.high_watermark), (0, 4))
                got = parsed(part.records)
                self.assertEqual({m[0] for m in got}, {magic})
                self.assertEqual(
                    [(m[1], m[3], m[4]) for m in got],
                    [(0, b"a", b"1"), (1, b"k0", b"v0"), (2, b"k1", b"v1"), (3, b"k2", b"v2")],
                )
        self.assertEqual({m[0] for m in parsed(self.fetch(4).records)}, {2})

    def test_fetch_drops_markers(self) -> None:
        """Transaction markers (control batches) never reach an old consumer."""
        self.produce(message_set(1, ts=self.now), 2)
        self.successResultOf(self.broker.partitions.write_txn_marker("t", 0, 7, 0, 0, True))
        self.produce(message_set(1, count=1, ts=self.now), 2)
        offsets = [m[1] for m in parsed(self.fetch(3).records)]
        self.assertEqual(offsets, [0, 1, 2, 4])

    def test_fetch_max_bytes(self) -> None:
        """The first batch's messages come whole, the rest within partition_max_bytes."""
        for _ in range(3):
            self.produce(message_set(0, count=10), 0)
        one = self.fetch(0, part_max=1)
        self.assertEqual([m[1] for m in parsed(one.records)], list(range(10)))
        cut = self.fetch(0, offset=10, part_max=300)
        self.assertEqual(len(joined(cut.records)), 300)
        whole = [m[1] for m in parsed(cut.records)]
        self.assertEqual(whole, list(range(10, 10 + len(whole))))
        self.assertLess(len(whole), 20)

    def test_downconversion_disabled(self) -> None:
        """message.downconversion.enable=false: Fetch v0-v3 get UNSUPPORTED_VERSION, v4 the data."""
        configs = {"message.downconversion.enable": "false"}
        self.successResultOf(self.broker.controller.create_topic("nd", 1, configs=configs))
        self.produce(message_set(1, ts=self.now), 2, topic="nd")
        for version in range(4):
            part = self.fetch(version, topic="nd")
            self.assertEqual(
                (part.error_code, part.high_watermark), (ErrorCode.UNSUPPORTED_VERSION, -1)
            )
        self.assertEqual(self.fetch(4, topic="nd").error_code, 0)

    def test_zstd_is_unsupported(self) -> None:
        """A zstd topic, or a zstd batch on another, is UNSUPPORTED_COMPRESSION_TYPE below v4."""
        configs = {"compression.type": "zstd"}
        self.successResultOf(self.broker.controller.create_topic("z", 1, configs=configs))
        self.assertEqual(
            self.fetch(1, topic="z").error_code, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
        )
        self.produce(build_batch([(b"a", b"1")], base_timestamp=self.now, compression=4), 7)
        self.assertEqual(self.fetch(3).error_code, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)
        self.assertEqual(self.fetch(10).error_code, 0)

    def test_refusal_logged_once_per_connection(self) -> None:
        """A connection that repeats a refused batch gets one log line with the reason."""
        dispatcher = Dispatcher((produce.SPEC,), self.broker)
        damaged = bytearray(message_set(0))
        damaged[-1] ^= 1
        request = ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=(
                TopicProduceData(
                    name="t",
                    partition_data=(PartitionProduceData(index=0, records=bytes(damaged)),),
                ),
            ),
        )
        frame = request_frame(0, 0, 1, request, framed=False)
        first: set[str] = set()
        with capturedLogs() as events:
            for logged in (first, first, first, set()):
                self.successResultOf(dispatcher.dispatch(frame, "127.0.0.1:1", None, logged))
        lines = [formatEvent(e) for e in events if "Refused" in formatEvent(e)]
        self.assertEqual(len(lines), 2)
        self.assertIn("Record is corrupt (stored crc", lines[0])
        self.assertIn("t-0", lines[0])


class ConversionThreadTests(SynchronousTestCase):
    """Big conversions leave the reactor thread."""

    def setUp(self) -> None:
        self.worker = ManualRunBlocking()
        self.broker = make_broker(run_blocking=self.worker)
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.now = self.broker.partitions.now_ms()

    def test_compressed_produce_in_worker(self) -> None:
        """A message set with a wrapper is converted in a worker; a small plain one at once."""
        request = ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=(
                TopicProduceData(
                    name="t",
                    partition_data=(PartitionProduceData(index=0, records=message_set(0, GZIP)),),
                ),
            ),
        )
        d = call(self.broker, produce.SPEC, request, 1)
        self.assertNoResult(d)
        self.assertEqual(self.worker.run_all(), 1)
        self.assertEqual(self.successResultOf(d).responses[0].partition_responses[0].error_code, 0)
        plain = attrs.evolve(
            request,
            topic_data=(
                TopicProduceData(
                    name="t",
                    partition_data=(PartitionProduceData(index=0, records=message_set(0)),),
                ),
            ),
        )
        answer = self.successResultOf(call(self.broker, produce.SPEC, plain, 1))
        self.assertEqual(answer.responses[0].partition_responses[0].base_offset, 3)

    def produce_v9(self, batch: bytes) -> None:
        """Append C{batch} to t-0 with Produce v9."""
        request = ProduceRequest(
            acks=1,
            timeout_ms=1000,
            topic_data=(
                TopicProduceData(
                    name="t", partition_data=(PartitionProduceData(index=0, records=batch),)
                ),
            ),
        )
        self.successResultOf(call(self.broker, produce.SPEC, request, 9))

    def fetch_v2(self) -> Deferred[FetchResponse]:
        """A Fetch v2 of t-0 from offset 0, 1 MiB at most."""
        request = FetchRequest(
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=1 << 20,
            topics=(
                FetchTopic(
                    topic="t",
                    partitions=(
                        FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20),
                    ),
                ),
            ),
        )
        d: Deferred[FetchResponse] = call(self.broker, fetch.SPEC, request, 2)
        return d

    def test_compressed_fetch_in_worker(self) -> None:
        """A small compressed batch is down-converted in a worker (it may inflate to far more)."""
        value = bytes(100_000)  # gzips to about 100 bytes, inflates to 1,000,000
        batch = build_batch([(None, value)] * 10, base_timestamp=self.now, compression=GZIP)
        self.assertLess(len(batch), INLINE_DOWNCONVERT_BYTES)
        self.produce_v9(batch)
        d = self.fetch_v2()
        self.assertNoResult(d)
        self.assertEqual(self.worker.run_all(), 1)
        got = parsed(self.successResultOf(d).responses[0].partitions[0].records)
        self.assertEqual(len(got), 10)

    def test_large_fetch_in_worker(self) -> None:
        """More than INLINE_DOWNCONVERT_BYTES of batches are down-converted in a worker."""
        value = bytes(1000)
        for _ in range(100):
            self.produce_v9(build_batch([(None, value)] * 10, base_timestamp=self.now))
        d = self.fetch_v2()
        self.assertNoResult(d)
        self.assertGreater(1000 * 10 * 100, INLINE_DOWNCONVERT_BYTES)
        self.assertEqual(self.worker.run_all(), 1)
        part = self.successResultOf(d).responses[0].partitions[0]
        got = parsed(part.records)
        self.assertEqual(len(got), 1000)
        self.assertEqual({m[4] for m in got}, {value})
