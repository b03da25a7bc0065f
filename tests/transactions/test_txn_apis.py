"""The transaction APIs' handlers: verification, offsets in transactions, the admin views."""

from __future__ import annotations

from kafkatwist.apis import (
    REGISTRY,
    add_partitions_to_txn,
    api_versions,
    describe_producers,
    describe_transactions,
    find_coordinator,
    list_transactions,
    offset_fetch,
    txn_offset_commit,
    write_txn_markers,
)
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.groups.state import ClassicGroup, GroupState, Member
from kafkatwist.messages.add_partitions_to_txn import (
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnTopic,
    AddPartitionsToTxnTransaction,
)
from kafkatwist.messages.api_versions import ApiVersionsRequest
from kafkatwist.messages.describe_producers import DescribeProducersRequest, TopicRequest
from kafkatwist.messages.describe_transactions import DescribeTransactionsRequest
from kafkatwist.messages.find_coordinator import FindCoordinatorRequest
from kafkatwist.messages.list_transactions import ListTransactionsRequest
from kafkatwist.messages.offset_fetch import OffsetFetchRequest, OffsetFetchRequestTopic
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
from kafkatwist.transactions import records as rec
from kafkatwist.transactions.metadata import TxnState
from tests.brokers import with_logs
from tests.transactions.support import TOPIC, TxnTestCase
from tests.transactions.test_coordinator import HeldMarkers

T0 = (TOPIC, 0)
T1 = (TOPIC, 1)


class RegistryTests(TxnTestCase):
    def test_versions(self) -> None:
        """
        The transaction APIs are registered with the versions Kafka 4.3 serves.

        WriteTxnMarkers v0 went in Kafka 4.0 (KIP-896) and v2 came with
        KIP-1228, TxnOffsetCommit v5 with KIP-890, ListTransactions v2 with
        KIP-1152; InitProducerId v6 (KIP-939) is unstable in Kafka 4.3.
        """
        specs = {s.api_key: (s.versions.lowest, s.versions.highest) for s in REGISTRY}
        expected = {
            22: (0, 5),
            24: (0, 5),
            25: (0, 4),
            26: (0, 5),
            27: (1, 2),
            28: (0, 5),
            61: (0, 0),
            65: (0, 0),
            66: (0, 2),
        }
        self.assertEqual({k: specs[k] for k in expected}, expected)

    def test_transaction_version_feature(self) -> None:
        """ApiVersions v4 finalizes transaction.version 2 and supports 0-2; v3 leaves out min 0."""
        v4 = self.call(api_versions.SPEC, ApiVersionsRequest(), 4)
        self.assertIn(
            ("transaction.version", 0, 2),
            [(f.name, f.min_version, f.max_version) for f in v4.supported_features],
        )
        self.assertIn(
            ("transaction.version", 2, 2),
            [(f.name, f.min_version_level, f.max_version_level) for f in v4.finalized_features],
        )
        self.assertGreaterEqual(v4.finalized_features_epoch, 0)
        v3 = self.call(api_versions.SPEC, ApiVersionsRequest(), 3)
        # Only metadata.version's range starts above 0.
        self.assertEqual(
            [(f.name, f.min_version, f.max_version) for f in v3.supported_features],
            [("metadata.version", 7, 30)],
        )
        self.assertEqual(v3.finalized_features, v4.finalized_features)


class FindCoordinatorTests(TxnTestCase):
    def test_transaction_key_creates_state_topic(self) -> None:
        """Key type 1 answers this broker and creates __transaction_state (50 partitions)."""
        request = FindCoordinatorRequest(key="tx", key_type=1, coordinator_keys=("tx",))
        response = self.call(find_coordinator.SPEC, request, 4)
        self.assertEqual(
            [(c.key, c.error_code, c.node_id) for c in response.coordinators],
            [("tx", 0, self.broker.node_id)],
        )
        topic = self.broker.metadata.image.topics[rec.TRANSACTION_STATE_TOPIC]
        self.assertEqual(len(topic.partitions), 50)
        self.assertEqual(topic.configs.get("cleanup.policy"), "compact")

    def test_loading(self) -> None:
        """While __transaction_state loads, key type 1 is COORDINATOR_LOAD_IN_PROGRESS."""
        self.mark_loading("tx")
        response = self.call(find_coordinator.SPEC, FindCoordinatorRequest(key="tx", key_type=1), 3)
        self.assertEqual(response.error_code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)


class AddPartitionsTests(TxnTestCase):
    def verify(
        self, tid: str, pid: int, epoch: int, version: int = 4
    ) -> dict[tuple[str, int], int]:
        request = AddPartitionsToTxnRequest(
            transactions=(
                AddPartitionsToTxnTransaction(
                    transactional_id=tid,
                    producer_id=pid,
                    producer_epoch=epoch,
                    verify_only=True,
                    topics=(AddPartitionsToTxnTopic(name=TOPIC, partitions=(0, 1)),),
                ),
            )
        )
        response = self.call(add_partitions_to_txn.SPEC, request, version)
        (result,) = response.results_by_transaction
        return {
            (t.name, r.partition_index): r.partition_error_code
            for t in result.topic_results
            for r in t.results_by_partition
        }

    def test_verify_only(self) -> None:
        """v4 verify-only: NONE for a partition in the transaction, TRANSACTION_ABORTABLE else."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        codes = self.verify("a", r.producer_id, 0)
        self.assertEqual(codes, {T0: 0, T1: ErrorCode.TRANSACTION_ABORTABLE})
        self.assertEqual(self.txn("a").partitions, {T0})
        fenced = self.verify("a", r.producer_id, 5)
        self.assertEqual(set(fenced.values()), {ErrorCode.PRODUCER_FENCED})

    def test_unknown_topic(self) -> None:
        """An unknown topic: UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED."""
        r = self.init("a")
        codes = self.add("a", r.producer_id, 0, [T0, ("nope", 0)])
        self.assertEqual(
            codes,
            {
                T0: ErrorCode.OPERATION_NOT_ATTEMPTED,
                ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            },
        )
        self.assertEqual(self.txn("a").state, TxnState.EMPTY)


class ProduceVerificationTests(TxnTestCase):
    def test_tv1_partition_not_added_refused(self) -> None:
        """In a TV1 transaction, a produce to a partition not added is refused and not appended."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.assertEqual(self.produce("a", r.producer_id, 0, partition=0).error_code, 0)
        refused = self.produce("a", r.producer_id, 0, partition=1, version=9)
        self.assertEqual(refused.error_code, ErrorCode.INVALID_TXN_STATE)
        v11 = self.produce("a", r.producer_id, 0, partition=1, version=11)
        self.assertEqual(v11.error_code, ErrorCode.TRANSACTION_ABORTABLE)
        self.assertEqual(self.log(1).log_end_offset, 0)

    def test_fenced_producer(self) -> None:
        """A produce with a fenced epoch is INVALID_PRODUCER_EPOCH."""
        r = self.init("a")
        self.init("a")
        self.assertEqual(
            self.produce("a", r.producer_id, 0).error_code, ErrorCode.INVALID_PRODUCER_EPOCH
        )

    def test_tv2_implicit_add(self) -> None:
        """A transactional Produce v12 adds its partition to the transaction (KIP-890 part 2)."""
        r = self.init("a")
        self.assertEqual(self.produce("a", r.producer_id, 0, partition=1, version=12).error_code, 0)
        txn = self.txn("a")
        self.assertEqual((txn.state, txn.partitions), (TxnState.ONGOING, {T1}))
        self.assertEqual(self.txn("a").client_version, 2)
        second = self.produce("a", r.producer_id, 0, seq=1, partition=0, version=12)
        self.assertEqual(second.error_code, 0)
        self.assertEqual(self.txn("a").partitions, {T0, T1})
        self.assertEqual(self.log(1).log_end_offset, 1)

    def test_busy_coordinator_is_retriable(self) -> None:
        """A transaction still completing answers NOT_ENOUGH_REPLICAS below v12 (retried)."""
        held = HeldMarkers()
        self.service.coordinator.markers = held
        r = self.init("a")
        self.produce("a", r.producer_id, 0, version=12)
        self.end("a", r.producer_id, 0, version=5)
        busy = self.produce("a", r.producer_id, 1, partition=1, version=11)
        self.assertEqual(busy.error_code, ErrorCode.NOT_ENOUGH_REPLICAS)
        held.release()


class TxnOffsetsTests(TxnTestCase):
    GROUP = "g"

    def commit_offsets(
        self, pid: int, epoch: int, offset: int = 42, version: int = 3, **kw: object
    ) -> int:
        request = TxnOffsetCommitRequest(
            transactional_id="a",
            group_id=self.GROUP,
            producer_id=pid,
            producer_epoch=epoch,
            topics=(
                TxnOffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=(
                        TxnOffsetCommitRequestPartition(
                            partition_index=0, committed_offset=offset, committed_metadata=""
                        ),
                    ),
                ),
            ),
            **kw,  # type: ignore[arg-type]
        )
        response = self.call(txn_offset_commit.SPEC, request, version)
        code: int = response.topics[0].partitions[0].error_code
        return code

    def fetched(self, require_stable: bool = False) -> tuple[int, int]:
        request = OffsetFetchRequest(
            group_id=self.GROUP,
            topics=(OffsetFetchRequestTopic(name=TOPIC, partition_indexes=(0,)),),
            require_stable=require_stable,
        )
        p = self.call(offset_fetch.SPEC, request, 7).topics[0].partitions[0]
        return p.committed_offset, p.error_code

    def begin(self) -> int:
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.assertEqual(self.add_offsets("a", r.producer_id, 0, self.GROUP), 0)
        return r.producer_id

    def test_visible_only_after_commit(self) -> None:
        """Transactional offsets are invisible (UNSTABLE with require_stable) until the commit."""
        pid = self.begin()
        self.assertEqual(self.commit_offsets(pid, 0), 0)
        self.assertEqual(self.fetched(), (-1, 0))
        self.assertEqual(self.fetched(True), (-1, ErrorCode.UNSTABLE_OFFSET_COMMIT))
        self.assertEqual(self.end("a", pid, 0).error_code, 0)
        self.assertEqual(self.fetched(True), (42, 0))
        offsets_partition = self.broker.groups.partition_for(self.GROUP)
        self.assertEqual(self.markers(offsets_partition, OFFSETS_TOPIC), [(pid, 0)])

    def test_load_in_progress_for_the_id_only(self) -> None:
        """TxnOffsetCommit waits for the id's state partition, not for the others loading."""
        pid = self.begin()
        other = next(
            f"id{i}"
            for i in range(100)
            if rec.partition_for(f"id{i}", 50) != rec.partition_for("a", 50)
        )
        self.mark_loading(other)
        self.assertEqual(self.commit_offsets(pid, 0), 0)
        self.mark_loading("a")
        self.assertEqual(self.commit_offsets(pid, 0), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)

    def test_discarded_on_abort(self) -> None:
        """An abort discards the transaction's offsets."""
        pid = self.begin()
        self.commit_offsets(pid, 0)
        self.end("a", pid, 0, commit=False)
        self.assertEqual(self.fetched(True), (-1, 0))

    def test_partition_not_in_transaction(self) -> None:
        """Without AddOffsetsToTxn a TV1 commit is INVALID_TXN_STATE (v4: TRANSACTION_ABORTABLE)."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.assertEqual(self.commit_offsets(r.producer_id, 0), ErrorCode.INVALID_TXN_STATE)
        self.assertEqual(
            self.commit_offsets(r.producer_id, 0, version=4), ErrorCode.TRANSACTION_ABORTABLE
        )

    def test_kip447_generation_fencing(self) -> None:
        """A member id or generation other than the group's is fenced (KIP-447)."""
        group = ClassicGroup(self.GROUP, state=GroupState.STABLE, generation=3)
        group.add(
            Member(
                member_id="m1",
                group_instance_id=None,
                client_id="c",
                client_host="h",
                rebalance_timeout_ms=30000,
                session_timeout_ms=10000,
                protocol_type="consumer",
                protocols=(("range", b""),),
            )
        )
        self.broker.groups.groups[self.GROUP] = group
        pid = self.begin()
        self.assertEqual(
            self.commit_offsets(pid, 0, generation_id=2, member_id="m1"),
            ErrorCode.ILLEGAL_GENERATION,
        )
        self.assertEqual(
            self.commit_offsets(pid, 0, generation_id=3, member_id="zz"),
            ErrorCode.UNKNOWN_MEMBER_ID,
        )
        self.assertEqual(self.commit_offsets(pid, 0, generation_id=3, member_id="m1"), 0)

    def test_replayed_after_restart(self) -> None:
        """After a restart committed transactional offsets are loaded; open ones stay pending."""
        pid = self.begin()
        self.commit_offsets(pid, 0, offset=7)
        self.end("a", pid, 0)
        self.add("a", pid, 0, [T0])
        self.add_offsets("a", pid, 0, self.GROUP)
        self.commit_offsets(pid, 0, offset=9)
        self.broker = with_logs(self.broker, self.broker.logs)
        self.successResultOf(self.broker.groups.start())
        self.broker.transactions.start()
        self.assertEqual(self.fetched(), (7, 0))
        self.assertEqual(self.fetched(True), (-1, ErrorCode.UNSTABLE_OFFSET_COMMIT))
        self.assertEqual(self.end("a", pid, 0).error_code, 0)
        self.assertEqual(self.fetched(True), (9, 0))
        self.broker.groups.stop()
        self.broker.transactions.stop()


class AdminViewTests(TxnTestCase):
    def test_describe(self) -> None:
        """DescribeTransactions shows the state, producer, timeout and partitions."""
        r = self.init("a", timeout_ms=30000)
        self.add("a", r.producer_id, 0, [T1, T0])
        response = self.call(
            describe_transactions.SPEC,
            DescribeTransactionsRequest(transactional_ids=("a", "nope")),
            0,
        )
        a, nope = response.transaction_states
        self.assertEqual(
            (a.error_code, a.transaction_state, a.producer_id, a.transaction_timeout_ms),
            (0, "Ongoing", r.producer_id, 30000),
        )
        self.assertEqual([(t.topic, t.partitions) for t in a.topics], [(TOPIC, (0, 1))])
        self.assertEqual(nope.error_code, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND)

    def test_list_filters(self) -> None:
        """ListTransactions filters by state, producer id and duration; lists unknown states."""
        a = self.init("a")
        self.add("a", a.producer_id, 0, [T0])
        b = self.init("b")

        def listed(**kw: object) -> list[str]:
            request = ListTransactionsRequest(**kw)  # type: ignore[arg-type]
            response = self.call(list_transactions.SPEC, request, 1)
            return [t.transactional_id for t in response.transaction_states]

        self.assertEqual(listed(), ["a", "b"])
        self.assertEqual(listed(state_filters=("Ongoing",)), ["a"])
        self.assertEqual(listed(producer_id_filters=(b.producer_id,)), ["b"])
        self.clock.advance(5)
        self.assertEqual(listed(duration_filter=4000, state_filters=("Ongoing",)), ["a"])
        self.assertEqual(listed(duration_filter=6000, state_filters=("Ongoing",)), [])
        response = self.call(
            list_transactions.SPEC, ListTransactionsRequest(state_filters=("Bogus",)), 0
        )
        self.assertEqual(response.unknown_state_filters, ("Bogus",))

    def test_describe_producers(self) -> None:
        """DescribeProducers shows a producer's epoch and the start of its open transaction."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.produce("a", r.producer_id, 0, count=3)
        request = DescribeProducersRequest(
            topics=(TopicRequest(name=TOPIC, partition_indexes=(0, 5)),)
        )
        response = self.call(describe_producers.SPEC, request, 0)
        p0, p5 = response.topics[0].partitions
        (state,) = p0.active_producers
        self.assertEqual(
            (
                state.producer_id,
                state.producer_epoch,
                state.last_sequence,
                state.current_txn_start_offset,
            ),
            (r.producer_id, 0, 2, 0),
        )
        self.assertEqual(p5.error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)

    def test_write_txn_markers(self) -> None:
        """WriteTxnMarkers appends the marker to each partition and answers per partition."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.produce("a", r.producer_id, 0)
        request = WriteTxnMarkersRequest(
            markers=(
                WritableTxnMarker(
                    producer_id=r.producer_id,
                    producer_epoch=0,
                    transaction_result=False,
                    topics=(WritableTxnMarkerTopic(name=TOPIC, partition_indexes=(0, 9)),),
                    coordinator_epoch=0,
                ),
            )
        )
        response = self.call(write_txn_markers.SPEC, request, 1)
        codes = [
            (p.partition_index, p.error_code) for p in response.markers[0].topics[0].partitions
        ]
        self.assertEqual(codes, [(0, 0), (9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)])
        self.assertEqual(self.markers(0), [(r.producer_id, 0)])
