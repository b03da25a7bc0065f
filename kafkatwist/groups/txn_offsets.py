"""Transactional offsets: TxnOffsetCommit, and their completion by the transaction's marker.

Kafka's C{OffsetMetadataManager} (and, before 4.0, C{GroupMetadataManager})
keeps the offsets a transactional producer commits (TxnOffsetCommit,
KIP-98/KIP-447) apart, per producer id, as pending: they are written to
``__consumer_offsets`` as a transactional batch of that producer, but
OffsetFetch does not show them (with C{require_stable} it answers
UNSTABLE_OFFSET_COMMIT for those partitions) until the transaction
coordinator writes the producer's COMMIT marker to the group's partition;
an ABORT marker discards them (C{replayEndTransactionMarker}).

The request is validated as a commit of the classic group with KIP-447's
fencing (C{validateOffsetCommit} with C{isTransactional}): the generation,
member id and group instance id must match when given.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.offsets import (
    OffsetCommitPartition,
    OffsetStore,
    PartitionErrors,
    TopicPartition,
    validate_commit,
)
from kafkatwist.groups.offsets_topic import OffsetsTopic, append_error, log_append_failure
from kafkatwist.groups.records import OffsetAndMetadata
from kafkatwist.groups.state import ClassicGroup, GroupTable


def complete_pending(
    group: ClassicGroup, producer_id: int, commit: bool
) -> dict[TopicPartition, OffsetAndMetadata]:
    """
    End C{producer_id}'s transaction in C{group}: on commit its pending offsets become committed.

    @return: The offsets made visible (none on abort).
    """
    pending = group.pending_txn_offsets.pop(producer_id, None)
    if not pending or not commit:
        return {}
    group.offsets.update(pending)
    return pending


@define(eq=False)
class TxnOffsetStore:
    """The pending transactional offsets of the groups in a L{GroupTable}."""

    _clock: ReactorTime
    _table: GroupTable
    _topic: OffsetsTopic
    _offsets: OffsetStore
    _log = Logger()

    def commit(
        self,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        generation: int,
        member_id: str,
        group_instance_id: str | None,
        partitions: Sequence[OffsetCommitPartition],
    ) -> Deferred[PartitionErrors]:
        """
        TxnOffsetCommit: write the offsets as pending offsets of the producer.

        The caller has checked that the group's ``__consumer_offsets``
        partition is part of the producer's transaction.

        @return: an error per (topic, partition), after the append.
        """

        def everywhere(code: ErrorCode) -> Deferred[PartitionErrors]:
            return succeed({(p.topic, p.partition): code for p in partitions})

        if (refused := self._table.error(group_id)) is not None:
            return everywhere(refused)
        if not group_id:
            return everywhere(ErrorCode.INVALID_GROUP_ID)
        consumer = self._table.consumer_groups.get(group_id)
        group = self._table.groups.get(group_id)
        if group is None:
            if generation >= 0 and consumer is None:
                return everywhere(ErrorCode.ILLEGAL_GENERATION)
            group = self._table.get_or_create(group_id, now_ms(self._clock))
        if consumer is not None:
            error = consumer.validate_offset_commit(member_id, generation, 9, transactional=True)
        else:
            error = validate_commit(
                group, generation, member_id, group_instance_id, transactional=True
            )
        if error is not None:
            return everywhere(error)
        staged, results = self._offsets.stage(partitions, -1)
        if not staged:
            return succeed(results)
        records = [
            (rec.offset_commit_key(group_id, t, p), rec.offset_commit_value(om))
            for (t, p), om in staged.items()
        ]

        def stored(_: object) -> PartitionErrors:
            target = self._table.get_or_create(group_id, now_ms(self._clock))
            target.pending_txn_offsets.setdefault(producer_id, {}).update(staged)
            return results

        def failed(f: Failure) -> PartitionErrors:
            log_append_failure(f, "Committing transactional offsets", group_id)
            code = append_error(f, commit=True)
            return {tp: (code if tp in staged else e) for tp, e in results.items()}

        d = self._topic.append(group_id, records, producer=(producer_id, producer_epoch))
        return d.addCallbacks(stored, failed)

    def complete(self, partition: int, producer_id: int, commit: bool) -> None:
        """
        The producer's marker is in ``__consumer_offsets``-C{partition}: end its offsets there.

        Every group of that partition with pending offsets of the producer
        sees them committed or discarded.
        """
        for group in list(self._table.groups.values()):
            if producer_id not in group.pending_txn_offsets:
                continue
            if self._topic.partition_of(group.group_id) != partition:
                continue
            if complete_pending(group, producer_id, commit):
                self._offsets.schedule_expiry()

    def unstable(self, group_id: str) -> set[TopicPartition]:
        """The partitions of C{group_id} with pending transactional offsets."""
        group = self._table.groups.get(group_id)
        if group is None:
            return set()
        return {tp for pending in group.pending_txn_offsets.values() for tp in pending}
