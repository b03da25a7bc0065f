"""The transaction APIs authorize like Kafka's KafkaApis (a StandardAuthorizer, User:alice)."""

from __future__ import annotations

from typing import Any

from kafkatwist.apis import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    describe_transactions,
    end_txn,
    init_producer_id,
    list_transactions,
    txn_offset_commit,
    write_txn_markers,
)
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from kafkatwist.messages.add_partitions_to_txn import (
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    AddPartitionsToTxnTopic,
    AddPartitionsToTxnTransaction,
)
from kafkatwist.messages.describe_transactions import DescribeTransactionsRequest
from kafkatwist.messages.end_txn import EndTxnRequest
from kafkatwist.messages.init_producer_id import InitProducerIdRequest
from kafkatwist.messages.list_transactions import ListTransactionsRequest
from kafkatwist.messages.txn_offset_commit import (
    TxnOffsetCommitRequest,
    TxnOffsetCommitRequestPartition,
    TxnOffsetCommitRequestTopic,
    TxnOffsetCommitResponse,
)
from kafkatwist.messages.write_txn_markers import (
    WritableTxnMarker,
    WritableTxnMarkerTopic,
    WriteTxnMarkersRequest,
)
from kafkatwist.security.acl import PatternType
from tests.security.authz_support import OP, RT, SETUP_SUPER_USERS, acl, authorize, call_as
from tests.transactions.support import TxnTestCase

TXN_AUTH = int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
GROUP_AUTH = int(ErrorCode.GROUP_AUTHORIZATION_FAILED)
TOPIC_AUTH = int(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
CLUSTER_AUTH = int(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)


def init_request(tid: str | None, pid: int = -1, epoch: int = -1) -> InitProducerIdRequest:
    return InitProducerIdRequest(
        transactional_id=tid, transaction_timeout_ms=60000, producer_id=pid, producer_epoch=epoch
    )


def add_request(tid: str, pid: int, epoch: int, *topics: str) -> AddPartitionsToTxnRequest:
    """AddPartitionsToTxn v3 of partition 0 of each topic."""
    return AddPartitionsToTxnRequest(
        v3_and_below_transactional_id=tid,
        v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=tuple(AddPartitionsToTxnTopic(name=t, partitions=(0,)) for t in topics),
    )


def commit_request(tid: str, pid: int, epoch: int, *topics: str) -> TxnOffsetCommitRequest:
    """TxnOffsetCommit of offset 1 to partition 0 of each topic for group g."""
    return TxnOffsetCommitRequest(
        transactional_id=tid,
        group_id="g",
        producer_id=pid,
        producer_epoch=epoch,
        topics=tuple(
            TxnOffsetCommitRequestTopic(
                name=t,
                partitions=(
                    TxnOffsetCommitRequestPartition(
                        partition_index=0, committed_offset=1, committed_metadata=""
                    ),
                ),
            )
            for t in topics
        ),
    )


def added(response: AddPartitionsToTxnResponse) -> dict[tuple[str, int], int]:
    """(topic, partition) -> code of an AddPartitionsToTxn v3 answer."""
    return {
        (t.name, p.partition_index): p.partition_error_code
        for t in response.results_by_topic_v3_and_below
        for p in t.results_by_partition
    }


def committed(response: TxnOffsetCommitResponse) -> dict[tuple[str, int], int]:
    """(topic, partition) -> code of a TxnOffsetCommit answer."""
    return {
        (t.name, p.partition_index): p.error_code for t in response.topics for p in t.partitions
    }


class TxnAuthzTests(TxnTestCase):
    def as_alice(self, spec: ApiSpec, request: Any, version: int) -> Any:
        return self.successResultOf(call_as(self.broker, spec, request, version))

    def test_init_producer_id_transactional(self) -> None:
        """WRITE on the transactional id, checked before the request's id/epoch pair."""
        authorize(
            self.broker, acl(RT.TRANSACTIONAL_ID, "tx", OP.DESCRIBE), super_users=SETUP_SUPER_USERS
        )
        refused = self.as_alice(init_producer_id.SPEC, init_request("tx", pid=5), 4)
        self.assertEqual(
            (refused.error_code, refused.producer_id, refused.producer_epoch), (TXN_AUTH, -1, -1)
        )
        authorize(
            self.broker, acl(RT.TRANSACTIONAL_ID, "tx", OP.WRITE), super_users=SETUP_SUPER_USERS
        )
        self.assertEqual(self.as_alice(init_producer_id.SPEC, init_request("tx"), 4).error_code, 0)

    def test_init_producer_id_idempotent(self) -> None:
        """IDEMPOTENT_WRITE on the cluster, or WRITE on any topic (KIP-679), else 31."""
        authorize(self.broker, acl(RT.TOPIC, "t", OP.READ), super_users=SETUP_SUPER_USERS)
        refused = self.as_alice(init_producer_id.SPEC, init_request(None), 4)
        self.assertEqual((refused.error_code, refused.producer_id), (CLUSTER_AUTH, -1))
        authorize(
            self.broker,
            acl(RT.TOPIC, "app-", OP.WRITE, pattern=PatternType.PREFIXED),
            super_users=SETUP_SUPER_USERS,
        )
        self.assertEqual(self.as_alice(init_producer_id.SPEC, init_request(None), 4).error_code, 0)
        authorize(
            self.broker,
            acl(RT.CLUSTER, "kafka-cluster", OP.IDEMPOTENT_WRITE),
            super_users=SETUP_SUPER_USERS,
        )
        self.assertEqual(self.as_alice(init_producer_id.SPEC, init_request(None), 4).error_code, 0)

    def test_add_partitions_v3(self) -> None:
        """WRITE on the id (else 53 everywhere), then per topic (29; internal topics always)."""
        init = self.init("tx")
        pid, epoch = init.producer_id, init.producer_epoch
        request = add_request("tx", pid, epoch, "t", "u", "__consumer_offsets")
        authorize(self.broker, acl(RT.TOPIC, "t", OP.WRITE), super_users=SETUP_SUPER_USERS)
        refused = self.as_alice(add_partitions_to_txn.SPEC, request, 3)
        self.assertEqual(set(added(refused).values()), {TXN_AUTH})
        authorize(
            self.broker,
            acl(RT.TRANSACTIONAL_ID, "tx", OP.WRITE),
            acl(RT.TOPIC, "*", OP.ALL),
            super_users=SETUP_SUPER_USERS,
        )
        answer = self.as_alice(add_partitions_to_txn.SPEC, request, 3)
        self.assertEqual(
            added(answer),
            {
                ("t", 0): ErrorCode.OPERATION_NOT_ATTEMPTED,
                ("u", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                ("__consumer_offsets", 0): TOPIC_AUTH,
            },
        )
        self.assertEqual(self.txn("tx").partitions, set())
        ok = self.as_alice(add_partitions_to_txn.SPEC, add_request("tx", pid, epoch, "t"), 3)
        self.assertEqual(added(ok), {("t", 0): 0})

    def test_add_partitions_v4_needs_cluster_action(self) -> None:
        """v4+ (from brokers) needs CLUSTER_ACTION: else a top-level 31 and nothing else."""
        authorize(
            self.broker, acl(RT.TRANSACTIONAL_ID, "tx", OP.WRITE), super_users=SETUP_SUPER_USERS
        )
        request = AddPartitionsToTxnRequest(
            transactions=(
                AddPartitionsToTxnTransaction(
                    transactional_id="tx",
                    producer_id=1,
                    producer_epoch=0,
                    verify_only=True,
                    topics=(AddPartitionsToTxnTopic(name="t", partitions=(0,)),),
                ),
            )
        )
        refused = self.as_alice(add_partitions_to_txn.SPEC, request, 4)
        self.assertEqual((refused.error_code, refused.results_by_transaction), (CLUSTER_AUTH, ()))
        authorize(
            self.broker,
            acl(RT.CLUSTER, "kafka-cluster", OP.CLUSTER_ACTION),
            super_users=SETUP_SUPER_USERS,
        )
        allowed = self.as_alice(add_partitions_to_txn.SPEC, request, 4)
        self.assertEqual(allowed.error_code, 0)
        self.assertEqual(len(allowed.results_by_transaction), 1)

    def test_add_offsets_and_end(self) -> None:
        """AddOffsetsToTxn: WRITE on the id, then READ on the group; EndTxn: WRITE on the id."""
        init = self.init("tx")
        pid, epoch = init.producer_id, init.producer_epoch
        add = AddOffsetsToTxnRequest(
            transactional_id="tx", producer_id=pid, producer_epoch=epoch, group_id="g"
        )
        end = EndTxnRequest(transactional_id="tx", producer_id=pid, producer_epoch=epoch)
        authorize(self.broker, acl(RT.GROUP, "g", OP.READ), super_users=SETUP_SUPER_USERS)
        self.assertEqual(self.as_alice(add_offsets_to_txn.SPEC, add, 3).error_code, TXN_AUTH)
        refused_end = self.as_alice(end_txn.SPEC, end, 5)
        self.assertEqual(
            (refused_end.error_code, refused_end.producer_id, refused_end.producer_epoch),
            (TXN_AUTH, -1, -1),
        )
        authorize(
            self.broker, acl(RT.TRANSACTIONAL_ID, "tx", OP.WRITE), super_users=SETUP_SUPER_USERS
        )
        self.assertEqual(self.as_alice(add_offsets_to_txn.SPEC, add, 3).error_code, GROUP_AUTH)
        authorize(
            self.broker,
            acl(RT.TRANSACTIONAL_ID, "tx", OP.WRITE),
            acl(RT.GROUP, "g", OP.READ),
            super_users=SETUP_SUPER_USERS,
        )
        self.assertEqual(self.as_alice(add_offsets_to_txn.SPEC, add, 3).error_code, 0)

    def test_txn_offset_commit(self) -> None:
        """WRITE on the id, READ on the group, READ per topic (29 before existence)."""
        init = self.init("tx")
        pid, epoch = init.producer_id, init.producer_epoch
        self.assertEqual(self.add_offsets("tx", pid, epoch, "g"), 0)
        request = commit_request("tx", pid, epoch, "t", "missing")
        authorize(self.broker, acl(RT.GROUP, "g", OP.READ), super_users=SETUP_SUPER_USERS)
        answer = committed(self.as_alice(txn_offset_commit.SPEC, request, 3))
        self.assertEqual(set(answer.values()), {TXN_AUTH})
        authorize(
            self.broker, acl(RT.TRANSACTIONAL_ID, "tx", OP.WRITE), super_users=SETUP_SUPER_USERS
        )
        answer = committed(self.as_alice(txn_offset_commit.SPEC, request, 3))
        self.assertEqual(set(answer.values()), {GROUP_AUTH})
        authorize(
            self.broker,
            acl(RT.TRANSACTIONAL_ID, "tx", OP.WRITE),
            acl(RT.GROUP, "g", OP.READ),
            acl(RT.TOPIC, "t", OP.READ),
            super_users=SETUP_SUPER_USERS,
        )
        answer = committed(self.as_alice(txn_offset_commit.SPEC, request, 3))
        self.assertEqual(answer, {("t", 0): 0, ("missing", 0): TOPIC_AUTH})

    def test_write_txn_markers(self) -> None:
        """ALTER or CLUSTER_ACTION on the cluster, else 31 for every partition."""
        request = WriteTxnMarkersRequest(
            markers=(
                WritableTxnMarker(
                    producer_id=99,
                    producer_epoch=0,
                    transaction_result=False,
                    coordinator_epoch=0,
                    topics=(WritableTxnMarkerTopic(name="t", partition_indexes=(0, 1)),),
                ),
            )
        )
        authorize(
            self.broker,
            acl(RT.CLUSTER, "kafka-cluster", OP.DESCRIBE),
            super_users=SETUP_SUPER_USERS,
        )
        refused = self.as_alice(write_txn_markers.SPEC, request, 1)
        self.assertEqual(
            [p.error_code for p in refused.markers[0].topics[0].partitions], [CLUSTER_AUTH] * 2
        )
        for operation in (OP.ALTER, OP.CLUSTER_ACTION):
            authorize(
                self.broker,
                acl(RT.CLUSTER, "kafka-cluster", operation),
                super_users=SETUP_SUPER_USERS,
            )
            answer = self.as_alice(write_txn_markers.SPEC, request, 1)
            self.assertNotIn(
                CLUSTER_AUTH, [p.error_code for p in answer.markers[0].topics[0].partitions]
            )

    def test_describe_and_list_transactions(self) -> None:
        """DESCRIBE per id (else 53), topics without DESCRIBE left out; List shows only those."""
        for tid in ("tx", "other"):
            init = self.init(tid)
            self.add(tid, init.producer_id, init.producer_epoch, [("t", 0)])
        authorize(
            self.broker, acl(RT.TRANSACTIONAL_ID, "tx", OP.DESCRIBE), super_users=SETUP_SUPER_USERS
        )
        request = DescribeTransactionsRequest(transactional_ids=("tx", "other"))
        tx, other = self.as_alice(describe_transactions.SPEC, request, 0).transaction_states
        self.assertEqual((other.error_code, other.topics), (TXN_AUTH, ()))
        self.assertEqual((tx.error_code, tx.transaction_state, tx.topics), (0, "Ongoing", ()))
        authorize(
            self.broker,
            acl(RT.TRANSACTIONAL_ID, "tx", OP.DESCRIBE),
            acl(RT.TOPIC, "t", OP.DESCRIBE),
            super_users=SETUP_SUPER_USERS,
        )
        (tx,) = self.as_alice(
            describe_transactions.SPEC, DescribeTransactionsRequest(transactional_ids=("tx",)), 0
        ).transaction_states
        self.assertEqual([(d.topic, d.partitions) for d in tx.topics], [("t", (0,))])
        listed = self.as_alice(list_transactions.SPEC, ListTransactionsRequest(), 1)
        self.assertEqual([s.transactional_id for s in listed.transaction_states], ["tx"])
