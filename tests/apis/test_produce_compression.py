"""Tests for compressed produce: pass-through, and recompression for a topic's compression.type."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import produce
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.messages.produce import PartitionProduceResponse
from kafkatwist.wire.batch import CRC_OFFSET, RECORDS_OFFSET, batch_crc, parse_batch_header
from kafkatwist.wire.recompress import convert_for_topic, target_codec
from kafkatwist.wire.validator import validate_produce_records
from tests.apis.test_produce_idempotent import produce_request
from tests.brokers import call, log_of, make_broker
from tests.client_batches import T0, client_batch, client_decode
from tests.storage.support import stored_batches

CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

RECORDS = [
    (b"k0", b"first value " * 20, [("trace", b"abc"), ("n", b"0")]),
    (None, b"keyless", []),
    (b"tombstone", None, [("h", b"")]),
    (b"k3", b"last " * 50, []),
]


def without_offsets(batch: bytes) -> bytes:
    """A batch minus its base offset and partition leader epoch (what the broker rewrites)."""
    return batch[8:12] + batch[16:]


class CompressionPassThroughTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.controller = self.broker.controller

    def produce(self, topic: str, batch: bytes, version: int = 9) -> PartitionProduceResponse:
        response = self.successResultOf(
            call(self.broker, produce.SPEC, produce_request({(topic, 0): batch}), version)
        )
        part: PartitionProduceResponse = response.responses[0].partition_responses[0]
        return part

    def stored(self, topic: str) -> list[bytes]:
        batches: list[bytes] = stored_batches(log_of(self.broker, topic, 0))
        return batches

    def test_each_codec_stored_byte_identical(self) -> None:
        """A batch in every codec is stored as sent, but for its base offset and leader epoch."""
        self.successResultOf(self.controller.create_topic("t", 1))
        sent = []
        for codec in range(5):
            batch = client_batch(
                codec=codec, records=RECORDS, producer_id=7, epoch=0, seq=4 * codec
            )
            self.assertEqual(self.produce("t", batch).error_code, 0)
            sent.append(batch)
        stored = self.stored("t")
        for codec, (batch, kept) in enumerate(zip(sent, stored, strict=True)):
            self.assertEqual(without_offsets(kept), without_offsets(batch), f"codec {codec}")
            self.assertEqual(parse_batch_header(kept).base_offset, 4 * codec)

    def test_matching_topic_codec_is_byte_identical(self) -> None:
        """A batch already in the topic's codec is not re-encoded."""
        for name, codec in CODECS.items():
            topic = f"c-{name}"
            self.successResultOf(
                self.controller.create_topic(topic, 1, configs={"compression.type": name})
            )
            batch = client_batch(codec=codec, records=RECORDS)
            self.assertEqual(self.produce(topic, batch).error_code, 0)
            self.assertEqual(without_offsets(self.stored(topic)[0]), without_offsets(batch))

    def test_producer_topic_keeps_any_codec(self) -> None:
        """compression.type=producer stores every codec as sent."""
        self.successResultOf(
            self.controller.create_topic("p", 1, configs={"compression.type": "producer"})
        )
        batch = client_batch(codec=4, records=RECORDS)
        self.produce("p", batch)
        self.assertEqual(without_offsets(self.stored("p")[0]), without_offsets(batch))


class RecompressionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.controller = self.broker.controller

    def produce(self, topic: str, batch: bytes, version: int = 9) -> PartitionProduceResponse:
        response = self.successResultOf(
            call(self.broker, produce.SPEC, produce_request({(topic, 0): batch}), version)
        )
        part: PartitionProduceResponse = response.responses[0].partition_responses[0]
        return part

    def topic(self, name: str, **configs: str) -> None:
        self.successResultOf(self.controller.create_topic(name, 1, configs=configs or None))

    def check_converted(self, stored: bytes, sent: bytes, codec: int) -> None:
        """The stored batch has the target codec, a valid CRC, the sent records and fields."""
        kept = parse_batch_header(stored)
        original = parse_batch_header(sent)
        self.assertEqual(kept.compression, codec)
        self.assertEqual(kept.crc, batch_crc(stored))
        for name in (
            "producer_id",
            "producer_epoch",
            "base_sequence",
            "base_timestamp",
            "max_timestamp",
            "last_offset_delta",
            "records_count",
        ):
            self.assertEqual(getattr(kept, name), getattr(original, name), name)
        rebased = [(o + kept.base_offset, *rest) for o, *rest in client_decode(sent)]
        self.assertEqual([tuple(r) for r in client_decode(stored)], [tuple(r) for r in rebased])

    def test_every_source_to_every_target(self) -> None:
        """Each codec sent to a topic with another compression.type gets the topic's."""
        for target_name, target in CODECS.items():
            topic = f"to-{target_name}"
            self.topic(topic, **{"compression.type": target_name})
            sources = [c for c in range(5) if c != target]
            sent = [
                client_batch(4 * i, codec=c, records=RECORDS, producer_id=3, epoch=1)
                for i, c in enumerate(sources)
            ]
            for batch in sent:
                self.assertEqual(self.produce(topic, batch).error_code, 0)
            stored = stored_batches(log_of(self.broker, topic, 0))
            for batch, kept in zip(sent, stored, strict=True):
                self.check_converted(kept, batch, target)

    def test_broker_default_compression_type(self) -> None:
        """Without a topic override the broker's compression.type applies."""
        self.broker = make_broker(
            config=BrokerConfig.from_properties({"compression.type": "snappy"})
        )
        self.controller = self.broker.controller
        self.topic("b")
        sent = client_batch(codec=1, records=RECORDS)
        self.produce("b", sent)
        self.check_converted(stored_batches(log_of(self.broker, "b", 0))[0], sent, 2)

    def test_log_append_time_with_conversion(self) -> None:
        """On a LogAppendTime topic the converted batch is stamped with the append time."""
        self.topic("lat", **{"compression.type": "zstd", "message.timestamp.type": "LogAppendTime"})
        response = self.produce("lat", client_batch(codec=0, records=RECORDS))
        stored = parse_batch_header(stored_batches(log_of(self.broker, "lat", 0))[0])
        self.assertEqual((stored.compression, stored.timestamp_type), (4, 1))
        self.assertEqual(stored.max_timestamp, response.log_append_time_ms)
        self.assertEqual(response.log_append_time_ms, self.broker.now_ms())

    def test_retry_of_converted_batch_is_duplicate(self) -> None:
        """Idempotence holds across conversion: a retried batch answers its original offset."""
        self.topic("g", **{"compression.type": "gzip"})
        batch = client_batch(0, 4, codec=3, producer_id=11, epoch=0)
        self.produce("g", client_batch(0, 2, producer_id=12, epoch=0))
        first = self.produce("g", batch)
        again = self.produce("g", batch)
        self.assertEqual((first.base_offset, again.base_offset, again.error_code), (2, 2, 0))
        self.assertEqual(len(stored_batches(log_of(self.broker, "g", 0))), 2)

    def test_too_large_after_conversion(self) -> None:
        """A batch that outgrows max.message.bytes once decompressed is MESSAGE_TOO_LARGE."""
        self.topic("small", **{"compression.type": "uncompressed", "max.message.bytes": "2000"})
        batch = client_batch(codec=4, records=[(None, b"x" * 5000, [])])
        self.assertLess(len(batch), 2000)
        response = self.produce("small", batch)
        self.assertEqual(response.error_code, ErrorCode.MESSAGE_TOO_LARGE)
        self.assertEqual(log_of(self.broker, "small", 0).log_end_offset, 0)

    def test_undecodable_compressed_data(self) -> None:
        """Garbage inside a compressed batch is CORRUPT_MESSAGE when it must be converted."""
        self.topic("z", **{"compression.type": "zstd"})
        good = bytearray(client_batch(codec=1, records=RECORDS))
        good[RECORDS_OFFSET + 12 :] = b"\x00" * (len(good) - RECORDS_OFFSET - 12)
        crc = batch_crc(bytes(good))
        good[CRC_OFFSET : CRC_OFFSET + 4] = crc.to_bytes(4, "big")
        response = self.produce("z", bytes(good))
        self.assertEqual(response.error_code, ErrorCode.CORRUPT_MESSAGE)
        self.assertEqual(log_of(self.broker, "z", 0).log_end_offset, 0)


class ConvertFunctionTests(SynchronousTestCase):
    def test_target_codec(self) -> None:
        """producer keeps the source codec; a codec name wins; an unknown name is refused."""
        self.assertEqual(target_codec("producer", 3), 3)
        self.assertEqual(target_codec("uncompressed", 3), 0)
        self.assertEqual(target_codec("zstd", 0), 4)
        e = self.assertRaises(RecordsError, target_codec, "brotli", 0)
        self.assertEqual(e.code, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)

    def test_nothing_to_convert(self) -> None:
        """When every batch is already in the target codec no new buffer is made."""
        data = client_batch(codec=2, count=3)
        batches = validate_produce_records(data, max_batch_bytes=1 << 20)
        self.assertIsNone(convert_for_topic(data, batches, "snappy", max_batch_bytes=1 << 20))
        self.assertIsNone(convert_for_topic(data, batches, "producer", max_batch_bytes=1 << 20))

    def test_several_batches_only_mismatched_converted(self) -> None:
        """Of several batches only those in another codec are re-encoded."""
        same = client_batch(codec=1, count=2, timestamp=T0)
        other = client_batch(codec=0, count=3, timestamp=T0 + 9)
        data = same + other
        batches = validate_produce_records(
            data, max_batch_bytes=1 << 20, allow_multiple_batches=True
        )
        converted: Any = convert_for_topic(data, batches, "gzip", max_batch_bytes=1 << 20)
        new_data, new_batches = converted
        self.assertEqual(new_data[: len(same)], same)
        self.assertEqual([h.compression for _, h in new_batches], [1, 1])
        self.assertEqual(client_decode(new_data[len(same) :]), client_decode(other))
