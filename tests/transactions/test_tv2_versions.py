"""
The request versions that make a transaction version 2 producer (KIP-890 part 2), as Kafka 4.x.

Kafka knows a TV2 producer by its request alone: Produce v12+ and
TxnOffsetCommit v5+ add their partitions to the transaction, lower versions
only verify them (C{KafkaApis.handleProduceRequest},
C{AddPartitionsToTxnManager}, C{ReplicaManager}). Also the versions Kafka
4.3 serves for the transaction APIs, from its schemas.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import attrs

from kafkatwist.apis import (
    REGISTRY,
    api_versions,
    list_transactions,
    produce,
    txn_offset_commit,
    write_txn_markers,
)
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages.api_versions import ApiVersionsRequest
from kafkatwist.messages.list_transactions import ListTransactionsRequest
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
    TopicProduceResponse,
)
from kafkatwist.messages.txn_offset_commit import (
    TxnOffsetCommitRequest,
    TxnOffsetCommitRequestPartition,
    TxnOffsetCommitRequestTopic,
)
from kafkatwist.messages.write_txn_markers import (
    WritableTxnMarker,
    WritableTxnMarkerTopic,
    WriteTxnMarkersRequest,
)
from kafkatwist.transactions.metadata import TxnState
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.wire.record import build_batch
from tests.support import request_frame
from tests.transactions.support import TOPIC, TxnTestCase
from tests.transactions.test_coordinator import HeldMarkers

T0 = (TOPIC, 0)
T1 = (TOPIC, 1)
SCHEMAS_43 = Path(__file__).resolve().parents[3] / "shared" / "kafka-schemas-4.3" / "message"


class ProduceVersionTests(TxnTestCase):
    """Produce below v12 verifies (TV1), from v12 adds (TV2)."""

    def test_v11_with_no_transaction_open_is_refused(self) -> None:
        """
        Below v12 nothing is added implicitly, even with no transaction open.

        Kafka's C{KafkaApis.handleProduceRequest} takes v11 for transaction
        version 1 (verify only): TRANSACTION_ABORTABLE at v11,
        INVALID_TXN_STATE below; nothing is appended and no transaction starts.
        """
        r = self.init("a")
        v11 = self.produce("a", r.producer_id, 0, partition=1, version=11)
        self.assertEqual(v11.error_code, ErrorCode.TRANSACTION_ABORTABLE)
        v10 = self.produce("a", r.producer_id, 0, partition=1, version=10)
        self.assertEqual(v10.error_code, ErrorCode.INVALID_TXN_STATE)
        self.assertEqual(self.txn("a").state, TxnState.EMPTY)
        self.assertEqual(self.log(1).log_end_offset, 0)

    def test_v11_in_a_tv2_transaction_is_verified_only(self) -> None:
        """A v11 write in a transaction a v12 write started is verified, not added."""
        r = self.init("a")
        self.assertEqual(self.produce("a", r.producer_id, 0, partition=0, version=12).error_code, 0)
        refused = self.produce("a", r.producer_id, 0, partition=1, version=11)
        self.assertEqual(refused.error_code, ErrorCode.TRANSACTION_ABORTABLE)
        self.assertEqual(self.txn("a").partitions, {T0})

    def test_verification_disabled(self) -> None:
        """
        With transaction.partition.verification.enable=false a TV1 write is not verified.

        As Kafka's C{ReplicaManager.maybeSendPartitionsToTransactionCoordinator}:
        the batch is appended although its partition is not in the
        transaction; a v12 write still adds its partition.
        """
        self.set_cluster_config("transaction.partition.verification.enable", "false")
        r = self.init("a")
        self.assertEqual(self.produce("a", r.producer_id, 0, partition=1, version=11).error_code, 0)
        self.assertEqual(self.log(1).log_end_offset, 1)
        self.assertEqual(self.txn("a").state, TxnState.EMPTY)
        self.init("b")
        pid_b = self.txn("b").producer_id
        self.assertEqual(self.produce("b", pid_b, 0, partition=0, version=12).error_code, 0)
        self.assertEqual(self.txn("b").partitions, {T0})

    def test_tv2_concurrent_transactions_after_retries(self) -> None:
        """
        At v12 a completing transaction is tried again for 100 ms, then CONCURRENT_TRANSACTIONS.

        Kafka's C{ReplicaManager.handleProduceAppend} retries the add and
        does not turn the code into NOT_ENOUGH_REPLICAS for transaction version 2.
        """
        held = HeldMarkers()
        self.service.coordinator.markers = held
        r = self.init("a")
        self.produce("a", r.producer_id, 0, version=12)
        self.end("a", r.producer_id, 0, version=5)
        d = self.call_later(produce.SPEC, self.produce_request("a", r.producer_id, 1, 1), 12)
        self.assertNoResult(d)
        self.clock.advance(0.05)
        self.assertNoResult(d)
        self.clock.advance(0.06)
        answer = self.successResultOf(d).responses[0].partition_responses[0]
        self.assertEqual(answer.error_code, ErrorCode.CONCURRENT_TRANSACTIONS)
        held.release()

    def test_tv2_add_retried_until_the_transaction_completes(self) -> None:
        """A v12 write that meets a completing transaction succeeds once it completes."""
        held = HeldMarkers()
        self.service.coordinator.markers = held
        r = self.init("a")
        self.produce("a", r.producer_id, 0, version=12)
        self.end("a", r.producer_id, 0, version=5)
        d = self.call_later(produce.SPEC, self.produce_request("a", r.producer_id, 1, 1), 12)
        self.clock.advance(0.02)
        held.release()
        self.clock.advance(0.02)
        answer = self.successResultOf(d).responses[0].partition_responses[0]
        self.assertEqual(answer.error_code, 0)
        self.assertEqual(self.txn("a").partitions, {T1})


class TxnOffsetCommitVersionTests(TxnTestCase):
    """TxnOffsetCommit below v5 verifies the group's partition, from v5 adds it."""

    def commit(self, pid: int, version: int) -> int:
        """Commit offset 42 of the topic's partition 0 for group C{g}; its error code."""
        request = TxnOffsetCommitRequest(
            transactional_id="a",
            group_id="g",
            producer_id=pid,
            producer_epoch=0,
            topics=(
                TxnOffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=(
                        TxnOffsetCommitRequestPartition(
                            partition_index=0, committed_offset=42, committed_metadata=""
                        ),
                    ),
                ),
            ),
        )
        response = self.call(txn_offset_commit.SPEC, request, version)
        code: int = response.topics[0].partitions[0].error_code
        return code

    def test_v4_without_add_offsets_is_refused(self) -> None:
        """v4 (TV1) without AddOffsetsToTxn: TRANSACTION_ABORTABLE, v3: INVALID_TXN_STATE."""
        r = self.init("a")
        self.assertEqual(self.commit(r.producer_id, 4), ErrorCode.TRANSACTION_ABORTABLE)
        self.assertEqual(self.commit(r.producer_id, 3), ErrorCode.INVALID_TXN_STATE)
        self.assertEqual(self.txn("a").state, TxnState.EMPTY)

    def test_v5_adds_the_offsets_partition(self) -> None:
        """v5 (TV2) adds the group's __consumer_offsets partition to the transaction."""
        r = self.init("a")
        self.assertEqual(self.commit(r.producer_id, 5), ErrorCode.NONE)
        txn = self.txn("a")
        self.assertEqual(txn.state, TxnState.ONGOING)
        partition = self.broker.groups.partition_for("g")
        self.assertEqual(txn.partitions, {(OFFSETS_TOPIC, partition)})

    def test_v4_with_verification_disabled(self) -> None:
        """With transaction.partition.verification.enable=false, v4 is written unverified."""
        self.set_cluster_config("transaction.partition.verification.enable", "false")
        r = self.init("a")
        self.assertEqual(self.commit(r.producer_id, 4), ErrorCode.NONE)
        self.assertEqual(self.txn("a").state, TxnState.EMPTY)


class Kafka4VersionsTests(TxnTestCase):
    """The versions Kafka 4.x serves and advertises."""

    def test_produce_v0_to_v2_advertised_and_served(self) -> None:
        """
        ApiVersions lists Produce 0-13, and v0-v2 requests are answered.

        Kafka 4.0 removed v0-v2 (KIP-896) but still lists them for librdkafka
        (KAFKA-18659); kafkatwist serves them as Kafka 3.9 did, converting
        old message formats (issue 14).
        """
        listed = self.call(api_versions.SPEC, ApiVersionsRequest(), 3).api_keys
        self.assertIn((0, 0, 13), [(k.api_key, k.min_version, k.max_version) for k in listed])
        dispatcher = Dispatcher(REGISTRY, self.broker)
        request = ProduceRequest(acks=1)
        for version in (0, 1, 2, 3):
            with self.subTest(version=version):
                frame = request_frame(0, version, 7, request, framed=False)
                self.assertIsNotNone(self.successResultOf(dispatcher.dispatch(frame)))

    def test_advertised_as_kafka_43_schemas(self) -> None:
        """
        The transaction APIs list what Kafka 4.3's schemas make valid and stable.

        Kafka's C{ApiVersionsResponse} lists a schema's valid versions less an
        unstable latest one (InitProducerId v6, KIP-939); Produce lists 0
        as its lowest (C{ApiKeys.PRODUCE_API_VERSIONS_RESPONSE_MIN_VERSION}).
        """
        if not SCHEMAS_43.is_dir():
            self.skipTest(f"{SCHEMAS_43} is missing")
        advertised = {s.api_key: (s.advertised.lowest, s.advertised.highest) for s in REGISTRY}
        names = [
            "AddOffsetsToTxn",
            "AddPartitionsToTxn",
            "DescribeProducers",
            "DescribeTransactions",
            "EndTxn",
            "InitProducerId",
            "ListTransactions",
            "Produce",
            "TxnOffsetCommit",
            "WriteTxnMarkers",
        ]
        for name in names:
            text = (SCHEMAS_43 / f"{name}Request.json").read_text()
            lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("//")]
            schema = json.loads("\n".join(lines))
            low, _, high = schema["validVersions"].partition("-")
            top = int(high or low)
            if schema.get("latestVersionUnstable"):
                top -= 1
            lowest = 0 if name == "Produce" else int(low)
            with self.subTest(api=name):
                self.assertEqual(advertised[schema["apiKey"]], (lowest, top))
        self.assertEqual(advertised[0], (0, 13))

    def test_list_transactions_pattern(self) -> None:
        """ListTransactions v2 filters by a regular expression over the whole id (KIP-1152)."""
        for tid in ("app-1", "app-2", "other"):
            self.init(tid)

        def listed(version: int = 2, **kw: object) -> tuple[int, list[str]]:
            request = ListTransactionsRequest(**kw)  # type: ignore[arg-type]
            response = self.call(list_transactions.SPEC, request, version)
            return response.error_code, [t.transactional_id for t in response.transaction_states]

        self.assertEqual(listed(transactional_id_pattern="app-.*"), (0, ["app-1", "app-2"]))
        self.assertEqual(listed(transactional_id_pattern="app"), (0, []))
        self.assertEqual(listed(transactional_id_pattern=""), (0, ["app-1", "app-2", "other"]))
        self.assertEqual(listed(transactional_id_pattern=None), (0, ["app-1", "app-2", "other"]))
        self.assertEqual(
            listed(transactional_id_pattern="(app"), (ErrorCode.INVALID_REGULAR_EXPRESSION, [])
        )

    def test_write_txn_markers_v2_transaction_version(self) -> None:
        """
        WriteTxnMarkers v2 checks a marker's epoch by its transaction version (KIP-1228).

        A TV2 marker must carry an epoch newer than the producer's open
        transaction; the same marker through v1 (TV0/TV1) is written.
        """
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.produce("a", r.producer_id, 0)

        def write(version: int) -> int:
            marker = WritableTxnMarker(
                producer_id=r.producer_id,
                producer_epoch=0,
                transaction_result=True,
                topics=(WritableTxnMarkerTopic(name=TOPIC, partition_indexes=(0,)),),
                coordinator_epoch=0,
                transaction_version=2,
            )
            request = WriteTxnMarkersRequest(markers=(marker,))
            response = self.call(write_txn_markers.SPEC, request, version)
            code: int = response.markers[0].topics[0].partitions[0].error_code
            return code

        self.assertEqual(write(2), ErrorCode.INVALID_PRODUCER_EPOCH)
        self.assertEqual(write(1), ErrorCode.NONE)
        self.assertEqual(self.markers(0), [(r.producer_id, 0)])


class ProduceTopicIdTests(TxnTestCase):
    """Produce v13 names topics by id (KIP-516)."""

    def produce_v13(self, topic_id: uuid.UUID, tid: str | None = None) -> TopicProduceResponse:
        """A plain batch to partition 0 of the topic with C{topic_id}, at v13."""
        request = attrs.evolve(
            self.produce_request(tid, -1, -1),
            topic_data=(
                TopicProduceData(
                    topic_id=topic_id,
                    partition_data=(
                        PartitionProduceData(
                            index=0,
                            records=build_batch([(None, b"v")], base_timestamp=1_700_000_000_000),
                        ),
                    ),
                ),
            ),
        )
        response: TopicProduceResponse = self.call(produce.SPEC, request, 13).responses[0]
        return response

    def test_by_topic_id(self) -> None:
        """A known topic id is appended to, and the answer names the topic by its id."""
        topic_id = self.broker.metadata.image.topics[TOPIC].topic_id
        answer = self.produce_v13(topic_id)
        self.assertEqual(answer.topic_id, topic_id)
        self.assertEqual(answer.partition_responses[0].error_code, 0)
        self.assertEqual(self.log(0).log_end_offset, 1)

    def test_unknown_topic_id(self) -> None:
        """An id the metadata does not know is UNKNOWN_TOPIC_ID, echoed back in the answer."""
        unknown = uuid.UUID(int=12345)
        answer = self.produce_v13(unknown)
        self.assertEqual(answer.topic_id, unknown)
        part = answer.partition_responses[0]
        self.assertEqual((part.index, part.error_code), (0, ErrorCode.UNKNOWN_TOPIC_ID))
        self.assertEqual(self.log(0).log_end_offset, 0)
