"""Tests for L{kafkatwist.topics.partitions}: opening partition logs and appending to them."""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState, uuid_to_kafka
from kafkatwist.storage.results import AppendInfo
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.validator import validate_produce_records
from tests.client_batches import RecordTuple, client_batch
from tests.topics.support import START, file_broker, read_all

PID = 4000
#: Records that compress well, so a batch can be sent with any codec.
RECORDS: list[RecordTuple] = [(b"k", b"v" * 200, []) for _ in range(4)]


class PartitionLogTests(SynchronousTestCase):
    """C{partition_log} opens a partition's log the first time it is needed."""

    def setUp(self) -> None:
        self.broker = file_broker(self)
        self.partitions = self.broker.partitions

    def topic(self, count: int = 2, configs: dict[str, str | None] | None = None) -> TopicState:
        return self.successResultOf(
            self.broker.controller.create_topic("t", count, configs=configs)
        )

    def test_creates_log_and_partition_metadata(self) -> None:
        """The first call creates the log dir with Kafka's partition.metadata file."""
        topic = self.topic()
        log = self.partitions.partition_log(topic, 1)
        self.assertIsNotNone(log)
        log_dir = self.broker.logs.log_dir_of("t", 1)
        assert log_dir is not None
        with open(os.path.join(log_dir, "t-1", "partition.metadata"), encoding="utf-8") as f:
            self.assertEqual(f.read(), f"version: 0\ntopic_id: {uuid_to_kafka(topic.topic_id)}")

    def test_same_log_every_time(self) -> None:
        """Later calls return the log already open."""
        topic = self.topic()
        self.assertIs(self.partitions.partition_log(topic, 0), self.broker.logs.get("t", 0))
        self.assertIs(
            self.partitions.partition_log(topic, 0), self.partitions.partition_log(topic, 0)
        )

    def test_unknown_partition(self) -> None:
        """A partition the topic does not have has no log, and none is created."""
        topic = self.topic(count=1)
        self.assertIsNone(self.partitions.partition_log(topic, 1))
        self.assertIsNone(self.broker.logs.get("t", 1))

    def test_log_gets_topic_config(self) -> None:
        """A new log applies the topic's overrides over the broker's defaults."""
        topic = self.topic(configs={"max.message.bytes": "4096"})
        log = self.partitions.partition_log(topic, 0)
        assert log is not None
        self.assertEqual(log.config.max_message_bytes, 4096)

    def test_topic_configs_pushed(self) -> None:
        """A topic's changed configs reach its open logs through the config resolver."""
        topic = self.topic()
        controller = self.broker.controller
        self.successResultOf(controller.set_configs(2, "t", {"max.message.bytes": "2048"}))
        self.broker.configs.push_log_config(self.broker.logs, "t")
        log = self.partitions.partition_log(topic, 0)
        assert log is not None
        self.assertEqual(log.config.max_message_bytes, 2048)

    def test_broker_configs_pushed(self) -> None:
        """A changed dynamic broker config reaches every topic's open logs through the resolver."""
        topic = self.topic()
        controller = self.broker.controller
        self.successResultOf(controller.set_configs(4, "", {"message.max.bytes": "3000"}))
        self.broker.configs.push_all_log_configs(self.broker.logs)
        log = self.partitions.partition_log(topic, 1)
        assert log is not None
        self.assertEqual(log.config.max_message_bytes, 3000)

    def test_now_ms(self) -> None:
        """The time is the injected clock's, in milliseconds."""
        self.assertEqual(self.partitions.now_ms(), START * 1000)


class AppendTests(SynchronousTestCase):
    """C{append} checks producer state, recompresses, then appends."""

    def setUp(self) -> None:
        self.broker = file_broker(self, properties={"compression.type": "producer"})
        self.partitions = self.broker.partitions
        self.topic = self.successResultOf(self.broker.controller.create_topic("t", 1))

    def log(self, topic: TopicState | None = None) -> IPartitionLog:
        log = self.partitions.partition_log(topic or self.topic, 0)
        assert log is not None
        return log

    def append(self, batch: bytes, topic: TopicState | None = None) -> Deferred[AppendInfo]:
        log = self.log(topic)
        batches = validate_produce_records(
            batch, max_batch_bytes=1 << 20, allow_multiple_batches=True
        )
        return self.partitions.append(topic or self.topic, 0, log, batch, batches)

    def test_offsets_assigned(self) -> None:
        """Appended batches get consecutive offsets from the log end."""
        self.successResultOf(self.append(client_batch(count=3)))
        info = self.successResultOf(self.append(client_batch(count=2)))
        self.assertEqual((info.base_offset, info.last_offset), (3, 4))
        self.assertEqual(self.log().log_end_offset, 5)

    def test_duplicate_answers_original_offsets(self) -> None:
        """A retried idempotent batch appends nothing and answers the first append's offsets."""
        batch = client_batch(0, 2, producer_id=PID, epoch=0)
        first = self.successResultOf(self.append(batch))
        self.successResultOf(self.append(client_batch(count=1)))
        again = self.successResultOf(self.append(batch))
        self.assertEqual((again.base_offset, again.last_offset), (first.base_offset, 1))
        self.assertEqual(self.log().log_end_offset, 3)

    def test_out_of_order_sequence_refused(self) -> None:
        """A sequence gap fails with OUT_OF_ORDER_SEQUENCE_NUMBER and appends nothing."""
        self.successResultOf(self.append(client_batch(0, producer_id=PID, epoch=0)))
        failure = self.failureResultOf(
            self.append(client_batch(5, producer_id=PID, epoch=0)), KafkaError
        )
        self.assertEqual(failure.value.code, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertEqual(self.log().log_end_offset, 1)

    def test_log_keeps_producer_state(self) -> None:
        """The log's own producer state records the appended batches."""
        self.successResultOf(self.append(client_batch(0, 3, producer_id=PID, epoch=2)))
        entry = self.log().producer_state.producers[PID]
        self.assertEqual((entry.producer_epoch, entry.last_seq), (2, 2))

    def test_topic_compression_type(self) -> None:
        """A topic's compression.type recompresses batches sent with another codec."""
        gzip = self.successResultOf(
            self.broker.controller.create_topic("z", 1, configs={"compression.type": "gzip"})
        )
        self.successResultOf(self.append(client_batch(codec=0, records=RECORDS), gzip))
        (stored,) = read_all(self, self.log(gzip)).buffers
        self.assertEqual(parse_batch_header(stored).compression, 1)

    def test_producer_compression_keeps_codec(self) -> None:
        """With compression.type=producer batches are stored with the codec they came with."""
        self.successResultOf(self.append(client_batch(codec=2, records=RECORDS)))
        (stored,) = read_all(self, self.log()).buffers
        self.assertEqual(parse_batch_header(stored).compression, 2)


class DefaultCompressionTests(SynchronousTestCase):
    """The broker's compression.type applies to topics that set none."""

    def test_broker_default(self) -> None:
        """Without a topic override, batches get the broker's codec."""
        broker = file_broker(self, properties={"compression.type": "lz4"})
        topic = self.successResultOf(broker.controller.create_topic("t", 1))
        log = broker.partitions.partition_log(topic, 0)
        assert log is not None
        batch = client_batch(codec=0, records=RECORDS)
        batches = validate_produce_records(batch, max_batch_bytes=1 << 20)
        self.successResultOf(broker.partitions.append(topic, 0, log, batch, batches))
        (stored,) = read_all(self, log).buffers
        self.assertEqual(parse_batch_header(stored).compression, 3)
