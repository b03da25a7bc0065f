"""
Deleting a group, or its offsets, while a transaction holds pending offsets of it.

Kafka 4.x's group coordinator (C{GroupCoordinatorShard.deleteGroups},
C{OffsetMetadataManager.deleteAllOffsets} and C{deleteOffsets}) deletes an
Empty group whatever its pending transactional offsets: it writes a
tombstone for each committed offset and for each partition that only has
pending ones, and replaying a tombstone drops the pending offsets of its
partition (C{OffsetMetadataManager.replay}). So the transaction's later
commit brings none of them back, before or after a restart.
"""

from __future__ import annotations

from kafkatwist.apis import delete_groups, offset_delete, offset_fetch, txn_offset_commit
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.delete_groups import DeleteGroupsRequest
from kafkatwist.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteRequestPartition,
    OffsetDeleteRequestTopic,
)
from kafkatwist.messages.offset_fetch import OffsetFetchRequest, OffsetFetchRequestTopic
from kafkatwist.messages.txn_offset_commit import (
    TxnOffsetCommitRequest,
    TxnOffsetCommitRequestPartition,
    TxnOffsetCommitRequestTopic,
)
from tests.brokers import with_logs
from tests.transactions.support import TOPIC, TxnTestCase

GROUP = "g"
T0 = (TOPIC, 0)


class PendingOffsetsDeletionTests(TxnTestCase):
    """DeleteGroups and OffsetDelete against pending transactional offsets."""

    def begin(self, tid: str = "a") -> int:
        """A TV1 transaction with the group's offsets partition added; its producer id."""
        r = self.init(tid)
        self.add(tid, r.producer_id, 0, [T0])
        self.assertEqual(self.add_offsets(tid, r.producer_id, 0, GROUP), 0)
        return r.producer_id

    def commit_offsets(self, pid: int, offsets: dict[int, int], tid: str = "a") -> None:
        """TxnOffsetCommit of C{offsets} (partition -> offset) of the topic."""
        request = TxnOffsetCommitRequest(
            transactional_id=tid,
            group_id=GROUP,
            producer_id=pid,
            producer_epoch=0,
            topics=(
                TxnOffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=tuple(
                        TxnOffsetCommitRequestPartition(
                            partition_index=p, committed_offset=o, committed_metadata=""
                        )
                        for p, o in offsets.items()
                    ),
                ),
            ),
        )
        response = self.call(txn_offset_commit.SPEC, request, 3)
        self.assertEqual({p.error_code for p in response.topics[0].partitions}, {0})

    def fetched(self) -> dict[int, tuple[int, int]]:
        """OffsetFetch (require_stable) of partitions 0 and 1: (offset, error code) each."""
        request = OffsetFetchRequest(
            group_id=GROUP,
            topics=(OffsetFetchRequestTopic(name=TOPIC, partition_indexes=(0, 1)),),
            require_stable=True,
        )
        parts = self.call(offset_fetch.SPEC, request, 7).topics[0].partitions
        return {p.partition_index: (p.committed_offset, p.error_code) for p in parts}

    def delete_group(self) -> int:
        request = DeleteGroupsRequest(groups_names=(GROUP,))
        code: int = self.call(delete_groups.SPEC, request, 2).results[0].error_code
        return code

    def restart(self) -> None:
        """Rebuild the broker over the same logs and replay __consumer_offsets."""
        self.broker = with_logs(self.broker, self.broker.logs)
        self.successResultOf(self.broker.groups.start())
        self.broker.transactions.start()
        self.addCleanup(self.broker.transactions.stop)
        self.addCleanup(self.broker.groups.stop)

    def test_delete_group_with_pending_offsets(self) -> None:
        """An Empty group with pending offsets is deleted; the commit then shows nothing."""
        pid = self.begin()
        self.commit_offsets(pid, {0: 42})
        self.assertEqual(self.fetched()[0], (-1, ErrorCode.UNSTABLE_OFFSET_COMMIT))
        self.assertEqual(self.delete_group(), ErrorCode.NONE)
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (-1, 0)})
        self.assertEqual(self.end("a", pid, 0).error_code, 0)
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (-1, 0)})
        self.restart()
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (-1, 0)})

    def test_tombstones_for_committed_and_pending_only_partitions(self) -> None:
        """
        A restart replays the tombstones: neither the committed nor the pending offsets return.

        Partition 0 has a committed offset (7) and a pending one (9),
        partition 1 only a pending one (5); the transaction commits after
        the deletion.
        """
        pid = self.begin()
        self.commit_offsets(pid, {0: 7})
        self.assertEqual(self.end("a", pid, 0).error_code, 0)
        self.add("a", pid, 0, [T0])
        self.assertEqual(self.add_offsets("a", pid, 0, GROUP), 0)
        self.commit_offsets(pid, {0: 9, 1: 5})
        self.assertEqual(self.delete_group(), ErrorCode.NONE)
        self.restart()
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (-1, 0)})
        self.assertEqual(self.end("a", pid, 0).error_code, 0)
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (-1, 0)})
        self.restart()
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (-1, 0)})

    def test_a_new_transaction_after_deletion_commits(self) -> None:
        """After the deletion the group can be used again: a new transaction's offsets commit."""
        pid = self.begin()
        self.commit_offsets(pid, {0: 42})
        self.assertEqual(self.delete_group(), ErrorCode.NONE)
        self.commit_offsets(pid, {1: 3})
        self.assertEqual(self.end("a", pid, 0).error_code, 0)
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (3, 0)})

    def test_offset_delete_of_a_pending_offset(self) -> None:
        """OffsetDelete of a partition with only a pending offset drops it (tombstone written)."""
        pid = self.begin()
        self.commit_offsets(pid, {0: 42, 1: 5})
        request = OffsetDeleteRequest(
            group_id=GROUP,
            topics=(
                OffsetDeleteRequestTopic(
                    name=TOPIC, partitions=(OffsetDeleteRequestPartition(partition_index=0),)
                ),
            ),
        )
        response = self.call(offset_delete.SPEC, request, 0)
        self.assertEqual(response.error_code, 0)
        self.assertEqual(self.fetched()[0], (-1, 0))
        self.assertEqual(self.end("a", pid, 0).error_code, 0)
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (5, 0)})
        self.restart()
        self.assertEqual(self.fetched(), {0: (-1, 0), 1: (5, 0)})
