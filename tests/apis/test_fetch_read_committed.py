"""Fetch read_committed (isolation_level 1) and ListOffsets isolation over transactions."""

from __future__ import annotations

from typing import Any

from kafka.protocol.consumer.fetch import FetchRequest as ClientFetchRequest
from kafka.protocol.consumer.fetch import FetchResponse as ClientFetchResponse
from kafka.protocol.consumer.offsets import ListOffsetsRequest as ClientListOffsetsRequest
from kafka.protocol.consumer.offsets import ListOffsetsResponse as ClientListOffsetsResponse
from kafka.record.default_records import DefaultRecordBatch
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch, list_offsets
from kafkatwist.messages.fetch import (
    AbortedTransaction,
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    PartitionData,
)
from kafkatwist.wire.batch import iter_batches
from tests.brokers import call, make_broker
from tests.client_batches import client_batch
from tests.offsets_support import client_roundtrip

READ_UNCOMMITTED, READ_COMMITTED = 0, 1


class ReadCommittedTests(SynchronousTestCase):
    """read_committed consumers see committed data only, with the aborted transactions to skip."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.topic = self.successResultOf(self.broker.controller.create_topic("t", 1))
        log = self.broker.partitions.partition_log(self.topic, 0)
        assert log is not None
        self.log = log
        self.append(client_batch(count=2))  # 0-1, not transactional
        self.append(client_batch(0, 2, producer_id=1, epoch=0, is_transactional=True))  # 2-3
        self.append(client_batch(0, 2, producer_id=2, epoch=0, is_transactional=True))  # 4-5
        self.marker(1, commit=False)  # 6: producer 2 still open

    def append(self, buf: bytes) -> None:
        batches = [(pos, h) for pos, h in iter_batches(buf)]
        self.successResultOf(self.broker.partitions.append(self.topic, 0, self.log, buf, batches))

    def marker(self, pid: int, commit: bool) -> None:
        d = self.broker.partitions.write_txn_marker("t", 0, pid, 0, 0, commit)
        self.successResultOf(d)

    def fetch(
        self, offset: int, isolation: int, version: int = 16, part_max: int = 1 << 20
    ) -> PartitionData:
        request = FetchRequest(
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=1 << 20,
            isolation_level=isolation,
            topics=(
                FetchTopic(
                    topic_id=self.topic.topic_id,
                    partitions=(
                        FetchPartition(
                            partition=0, fetch_offset=offset, partition_max_bytes=part_max
                        ),
                    ),
                ),
            ),
        )
        response: FetchResponse = self.successResultOf(
            call(self.broker, fetch.SPEC, request, version)
        )
        return response.responses[0].partitions[0]

    def offsets(self, p: PartitionData) -> list[int]:
        """The offsets of the batches fetched (base offsets)."""
        records = p.records
        if records is None or isinstance(records, (bytes, bytearray, memoryview)):
            data = bytes(records or b"")
        else:
            data = b"".join(bytes(b) for b in records)
        return [h.base_offset for _, h in iter_batches(data)]

    def test_stops_at_lso_with_aborted_transactions(self) -> None:
        """Data below the LSO only, the aborted transaction listed, the high watermark unchanged."""
        p = self.fetch(0, READ_COMMITTED)
        self.assertEqual((p.error_code, p.high_watermark, p.last_stable_offset), (0, 7, 4))
        self.assertEqual(self.offsets(p), [0, 2])
        self.assertEqual(
            p.aborted_transactions, (AbortedTransaction(producer_id=1, first_offset=2),)
        )

    def test_read_uncommitted_sees_everything(self) -> None:
        """read_uncommitted reads to the high watermark, with no aborted transactions (null)."""
        p = self.fetch(0, READ_UNCOMMITTED)
        self.assertEqual(self.offsets(p), [0, 2, 4, 6])
        self.assertEqual(p.last_stable_offset, 4)
        self.assertIsNone(p.aborted_transactions)

    def test_commit_moves_lso(self) -> None:
        """Once producer 2 commits, everything is readable; only the aborted one is listed."""
        self.marker(2, commit=True)
        p = self.fetch(0, READ_COMMITTED)
        self.assertEqual((p.high_watermark, p.last_stable_offset), (8, 8))
        self.assertEqual(self.offsets(p), [0, 2, 4, 6, 7])
        self.assertEqual(
            p.aborted_transactions, (AbortedTransaction(producer_id=1, first_offset=2),)
        )

    def test_aborted_outside_the_range_not_listed(self) -> None:
        """A fetch after the abort marker, or one ending before the transaction, lists nothing."""
        self.marker(2, commit=True)
        self.assertEqual(self.fetch(7, READ_COMMITTED).aborted_transactions, ())
        first_only = self.fetch(0, READ_COMMITTED, part_max=1)
        self.assertEqual(self.offsets(first_only), [0])
        self.assertEqual(first_only.aborted_transactions, ())
        self.assertEqual(self.fetch(8, READ_COMMITTED).aborted_transactions, ())

    def test_kafka_python_decodes_the_answer(self) -> None:
        """kafka-python's Fetch v4 and v11 decoders read the LSO and aborted transactions."""
        for version in (4, 11):
            request = ClientFetchRequest(
                replica_id=-1,
                max_wait_ms=0,
                min_bytes=1,
                max_bytes=1 << 20,
                isolation_level=READ_COMMITTED,
                topics=[
                    ClientFetchRequest.FetchTopic(
                        topic="t",
                        partitions=[
                            ClientFetchRequest.FetchTopic.FetchPartition(
                                partition=0, fetch_offset=0, partition_max_bytes=1 << 20
                            )
                        ],
                    )
                ],
            )
            response: Any = client_roundtrip(
                self, self.broker, fetch.SPEC, request, ClientFetchResponse, version
            )
            (partition,) = response.responses[0].partitions
            self.assertEqual((partition.high_watermark, partition.last_stable_offset), (7, 4))
            (aborted,) = partition.aborted_transactions
            self.assertEqual((aborted.producer_id, aborted.first_offset), (1, 2))
            batch = DefaultRecordBatch(bytearray(partition.records))
            self.assertEqual(batch.base_offset, 0)

    def test_list_offsets_isolation(self) -> None:
        """ListOffsets LATEST answers the high watermark, or the LSO for read_committed."""
        for isolation, expected in ((READ_UNCOMMITTED, 7), (READ_COMMITTED, 4)):
            request = ClientListOffsetsRequest(
                replica_id=-1,
                isolation_level=isolation,
                topics=[
                    ClientListOffsetsRequest.ListOffsetsTopic(
                        name="t",
                        partitions=[
                            ClientListOffsetsRequest.ListOffsetsTopic.ListOffsetsPartition(
                                partition_index=0, timestamp=-1
                            )
                        ],
                    )
                ],
            )
            response: Any = client_roundtrip(
                self, self.broker, list_offsets.SPEC, request, ClientListOffsetsResponse, 7
            )
            (partition,) = response.topics[0].partitions
            self.assertEqual(partition.offset, expected, isolation)
