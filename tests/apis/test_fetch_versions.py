"""Fetch: leader epoch checks, KIP-951 current leader (v16+), v18 through kafka-python's codec."""

from __future__ import annotations

from typing import Any

from kafka.protocol.consumer.fetch import FetchRequest as ClientFetchRequest
from kafka.protocol.consumer.fetch import FetchResponse as ClientFetchResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, fetch
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    LeaderIdAndEpoch,
)
from kafkatwist.wire import schema
from kafkatwist.wire.record import build_batch
from tests.brokers import call, log_of, make_broker
from tests.offsets_support import client_roundtrip
from tests.storage.support import append_batches

SPEC = fetch.SPEC


class FetchVersionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.topic = self.broker.metadata.image.topics["t"]
        log = log_of(self.broker, "t", 0)
        self.successResultOf(
            append_batches(log, build_batch([(None, b"v")], base_timestamp=1_700_000_000_000))
        )
        self.topic.partitions[0].leader_epoch = 3

    def fetch(self, version: int, current_leader_epoch: int) -> FetchResponse:
        partition = FetchPartition(
            partition=0,
            fetch_offset=0,
            partition_max_bytes=1 << 20,
            current_leader_epoch=current_leader_epoch,
        )
        topic = (
            FetchTopic(topic_id=self.topic.topic_id, partitions=(partition,))
            if version >= 13
            else FetchTopic(topic="t", partitions=(partition,))
        )
        request = FetchRequest(max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, topics=(topic,))
        response: FetchResponse = self.successResultOf(call(self.broker, SPEC, request, version))
        schema.encode_bytes(response, version)
        return response

    def test_registered(self) -> None:
        """Fetch is registered with versions 0-18."""
        self.assertIn(SPEC, REGISTRY)
        self.assertEqual((SPEC.versions.lowest, SPEC.versions.highest), (0, 18))

    def test_current_leader_epoch(self) -> None:
        """An older epoch is FENCED_LEADER_EPOCH, a newer UNKNOWN_LEADER_EPOCH; -1 or equal pass."""
        for version in (9, 12, 16, 18):
            cases = {
                2: ErrorCode.FENCED_LEADER_EPOCH,
                4: ErrorCode.UNKNOWN_LEADER_EPOCH,
                3: ErrorCode.NONE,
                -1: ErrorCode.NONE,
            }
            for epoch, code in cases.items():
                p = self.fetch(version, epoch).responses[0].partitions[0]
                self.assertEqual(p.error_code, int(code), (version, epoch))
                if code != ErrorCode.NONE:
                    self.assertEqual(
                        (p.high_watermark, p.log_start_offset, p.records), (-1, -1, b"")
                    )

    def test_fenced_current_leader_from_v16(self) -> None:
        """From v16 a fenced partition names the current leader and the response its endpoint."""
        response = self.fetch(16, 1)
        p = response.responses[0].partitions[0]
        self.assertEqual(
            p.current_leader, LeaderIdAndEpoch(leader_id=self.broker.node_id, leader_epoch=3)
        )
        (endpoint,) = response.node_endpoints
        self.assertEqual(
            (endpoint.node_id, endpoint.port, endpoint.rack),
            (self.broker.node_id, self.broker.advertised_port, None),
        )

    def test_no_current_leader_before_v16_or_unfenced(self) -> None:
        """Before v16, and for UNKNOWN_LEADER_EPOCH, no leader or endpoint is added (as Kafka)."""
        for version, epoch in ((12, 1), (15, 1), (16, 9), (18, 3)):
            response = self.fetch(version, epoch)
            self.assertEqual(response.responses[0].partitions[0].current_leader, LeaderIdAndEpoch())
            self.assertEqual(response.node_endpoints, ())

    def session_fetch(self, session_id: int, epoch: int, partitions: bool) -> FetchResponse:
        """A v16 fetch in a session at the log end, naming leader epoch 3 (none if incremental)."""
        topics: tuple[FetchTopic, ...] = ()
        if partitions:
            partition = FetchPartition(
                partition=0, fetch_offset=1, partition_max_bytes=1 << 20, current_leader_epoch=3
            )
            topics = (FetchTopic(topic_id=self.topic.topic_id, partitions=(partition,)),)
        request = FetchRequest(
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=1 << 20,
            session_id=session_id,
            session_epoch=epoch,
            topics=topics,
        )
        response: FetchResponse = self.successResultOf(call(self.broker, SPEC, request, 16))
        return response

    def test_quiet_session_partition_fenced_after_leader_change(self) -> None:
        """A quiet partition of a session is answered FENCED_LEADER_EPOCH once its epoch moves."""
        session_id = self.session_fetch(0, 0, True).session_id
        self.assertNotEqual(session_id, 0)
        self.assertEqual(self.session_fetch(session_id, 1, False).responses, ())
        self.topic.partitions[0].leader_epoch = 4
        response = self.session_fetch(session_id, 2, False)
        (p,) = response.responses[0].partitions
        self.assertEqual(p.error_code, ErrorCode.FENCED_LEADER_EPOCH)
        self.assertEqual(p.current_leader.leader_epoch, 4)

    def client(self, version: int, epoch: int, **extra: Any) -> Any:
        """A kafka-python request at C{version}, answered, decoded by kafka-python."""
        part = ClientFetchRequest.FetchTopic.FetchPartition(
            partition=0,
            current_leader_epoch=epoch,
            fetch_offset=0,
            last_fetched_epoch=-1,
            log_start_offset=-1,
            partition_max_bytes=1 << 20,
            **extra,
        )
        request = ClientFetchRequest(
            replica_id=-1,
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=1 << 20,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            rack_id="rack-a",
            topics=[ClientFetchRequest.FetchTopic(topic_id=self.topic.topic_id, partitions=[part])],
            forgotten_topics_data=[],
        )
        return client_roundtrip(self, self.broker, SPEC, request, ClientFetchResponse, version)

    def test_kafka_python_v18(self) -> None:
        """kafka-python's v18 request (with a follower's tagged high watermark) is answered."""
        response = self.client(18, 3, high_watermark=1)
        (topic,) = response.responses
        (p,) = topic.partitions
        self.assertEqual(topic.topic_id, self.topic.topic_id)
        self.assertEqual((p.error_code, p.high_watermark, p.log_start_offset), (0, 1, 0))
        self.assertEqual(p.preferred_read_replica, -1)

    def test_kafka_python_v18_fenced(self) -> None:
        """kafka-python's decoder reads the v18 current leader and node endpoints."""
        response = self.client(18, 0)
        (p,) = response.responses[0].partitions
        self.assertEqual(p.error_code, ErrorCode.FENCED_LEADER_EPOCH)
        self.assertEqual(
            (p.current_leader.leader_id, p.current_leader.leader_epoch), (self.broker.node_id, 3)
        )
        (endpoint,) = response.node_endpoints
        self.assertEqual(
            (endpoint.node_id, endpoint.port), (self.broker.node_id, self.broker.advertised_port)
        )
