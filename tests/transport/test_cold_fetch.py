"""A fetch whose read goes to the read pool: its connection keeps request order, others go on."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchResponse, FetchTopic
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.protocol import KafkaServerFactory
from kafkatwist.wire.batch import iter_batches
from kafkatwist.wire.record import build_batch
from tests.brokers import log_of, make_broker
from tests.storage.support import ManualRunBlocking, append
from tests.support import connect, decode_reply, request_frame, unframe

FETCH_VERSION = 12
PRODUCE_VERSION = 9
API_VERSIONS_VERSION = 3


def fetch_request(topic: str, offset: int) -> FetchRequest:
    """A fetch of one partition from C{offset}, answered at once (no wait)."""
    partition = FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1 << 20)
    return FetchRequest(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=1 << 24,
        topics=(FetchTopic(topic=topic, partitions=(partition,)),),
    )


def produce_request(topic: str) -> ProduceRequest:
    """An acks=1 produce of one small batch to partition 0."""
    records = build_batch([(None, b"hello")], base_timestamp=1_700_000_000_000)
    data = PartitionProduceData(index=0, records=records)
    return ProduceRequest(
        acks=1, timeout_ms=1000, topic_data=(TopicProduceData(name=topic, partition_data=(data,)),)
    )


class ColdFetchOrderingTests(SynchronousTestCase):
    """Connections while a fetch waits for the read pool."""

    def setUp(self) -> None:
        self.manual = ManualRunBlocking()
        self.pool = ReadPool(self.manual)
        # Without RWF_NOWAIT every read of an older segment goes to the pool: deterministic.
        self.pool.nowait.supported = False
        config = BrokerConfig.from_properties(
            {"log.segment.bytes": "4096", "log.index.interval.bytes": "256"}
        )
        self.broker = make_broker(config=config, read_pool=self.pool)
        self.successResultOf(self.broker.controller.create_topic("cold", 1))
        self.successResultOf(self.broker.controller.create_topic("other", 1))
        log = log_of(self.broker, "cold", 0)
        assert isinstance(log, PartitionLog)
        for i in range(30):
            records = [(None, bytes([65 + i % 26]) * 200)] * 3
            append(self, log, build_batch(records, base_timestamp=1_700_000_000_000 + i))
        self.assertGreater(len(log.segments), 2)
        # What the files hold, read directly: the fetch must return a prefix of it.
        self.stored = b""
        for segment in log.segments:
            with open(segment.log_path, "rb") as f:
                self.stored += f.read()
        self.factory = KafkaServerFactory(Dispatcher(REGISTRY, self.broker))

    def test_pipelined_request_waits_for_cold_fetch(self) -> None:
        """A request after a fetch in the pool is answered after it; other connections go on."""
        reader, reader_transport = connect(self.factory, port=40001)
        writer, writer_transport = connect(self.factory, port=40002)
        reader.dataReceived(
            request_frame(1, FETCH_VERSION, 1, fetch_request("cold", 0))
            + request_frame(18, API_VERSIONS_VERSION, 2, ApiVersionsRequest())
        )
        self.assertEqual((self.pool.in_pool, self.pool.running), (1, 1))
        self.assertEqual(reader_transport.value(), b"")
        # Meanwhile another connection produces and is answered at once.
        writer.dataReceived(request_frame(0, PRODUCE_VERSION, 7, produce_request("other")))
        (reply,) = unframe(writer_transport.value())
        correlation_id, produced = decode_reply(reply, ProduceResponse, PRODUCE_VERSION)
        self.assertEqual(correlation_id, 7)
        self.assertEqual(produced.responses[0].partition_responses[0].error_code, 0)
        self.assertEqual(reader_transport.value(), b"")
        self.manual.run_all()
        first, second = unframe(reader_transport.value())
        correlation_id, fetched = decode_reply(first, FetchResponse, FETCH_VERSION)
        self.assertEqual(correlation_id, 1)
        records = fetched.responses[0].partitions[0].records
        assert isinstance(records, bytes | bytearray | memoryview)
        data = bytes(records)
        offsets = [header.base_offset for _, header in iter_batches(data)]
        self.assertEqual(offsets[0], 0)
        self.assertGreater(len(data), 0)
        self.assertEqual(data, self.stored[: len(data)])
        self.assertEqual(decode_reply(second, ApiVersionsResponse, API_VERSIONS_VERSION)[0], 2)
