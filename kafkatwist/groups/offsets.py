"""Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and offsets retention.

Follows Kafka 4.0's C{OffsetMetadataManager} (group-coordinator): a commit
is validated against the classic group (C{ClassicGroup.validateOffsetCommit}),
appended to ``__consumer_offsets`` and acknowledged after the append; expired
offsets are dropped every C{offsets.retention.check.interval.ms} on the
injected clock (C{cleanupGroupMetadata} and C{offsetExpirationCondition}).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime, now_ms
from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.offsets_topic import (
    OffsetsTopic,
    Records,
    append_error,
    log_append_failure,
)
from kafkatwist.groups.records import OffsetAndMetadata
from kafkatwist.groups.state import (
    ClassicGroup,
    GroupState,
    GroupTable,
    cancel,
)

EMPTY, COMPLETING, STABLE, DEAD = (
    GroupState.EMPTY,
    GroupState.COMPLETING_REBALANCE,
    GroupState.STABLE,
    GroupState.DEAD,
)

T = TypeVar("T")

TopicPartition = tuple[str, int]
#: Per (topic, partition) errors of a commit or an OffsetDelete.
PartitionErrors = dict[TopicPartition, ErrorCode]
#: What OffsetFetch answers for one group: offsets by topic (None: no commit).
FetchedOffsets = list[tuple[str, list[tuple[int, OffsetAndMetadata | None]]]]


@frozen
class OffsetCommitPartition:
    """One partition of an OffsetCommit, independent of the request version."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    commit_timestamp_ms: int = -1


def java_length(s: str) -> int:
    """Java's ``String.length``: UTF-16 code units."""
    return len(s) if s.isascii() else len(s.encode("utf-16-be")) // 2


def _detached(d: Deferred[T]) -> Deferred[T]:
    """A Deferred with C{d}'s result whose cancellation does not reach C{d}."""
    out: Deferred[T] = Deferred()

    def relay(result: T | Failure) -> None:
        if not out.called:
            if isinstance(result, Failure):
                out.errback(result)
            else:
                out.callback(result)

    d.addBoth(relay)
    return out


def validate_commit(
    group: ClassicGroup,
    generation: int,
    member_id: str,
    group_instance_id: str | None,
    *,
    transactional: bool = False,
) -> ErrorCode | None:
    """
    Kafka's ``ClassicGroup.validateOffsetCommit``.

    @param transactional: A TxnOffsetCommit (KIP-447): a commit without a
        generation is accepted from a non-empty group, and a rebalance in
        progress is no error.
    """
    if group.state == DEAD:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if generation < 0 and group.state == EMPTY:
        return None  # a standalone consumer or the admin client
    if generation >= 0 or member_id or group_instance_id is not None:
        error = group.validate_member(member_id, group_instance_id)
        if error is not None:
            return error
        if generation != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
    elif not transactional and group.state != EMPTY:
        return ErrorCode.UNKNOWN_MEMBER_ID
    if not transactional and group.state == COMPLETING:
        return ErrorCode.REBALANCE_IN_PROGRESS
    return None


def expired_offsets(group: ClassicGroup, now: int, retention_ms: int) -> list[TopicPartition]:
    """Kafka's ``offsetExpirationCondition`` for a classic group."""
    #: When retention starts for every offset (an Empty group: when it emptied).
    since: int | None = None
    candidates = list(group.offsets.items())
    if group.protocol_type:
        if group.state == EMPTY:
            if group.state_timestamp_ms >= 0:
                since = group.state_timestamp_ms
        elif (
            group.uses_consumer_protocol()
            and group.subscribed_topics is not None
            and group.state == STABLE
        ):
            subscribed = group.subscribed_topics
            candidates = [(tp, om) for tp, om in candidates if tp[0] not in subscribed]
        else:
            return []
    out = []
    for tp, om in candidates:
        if om.expire_timestamp_ms != -1:
            if now >= om.expire_timestamp_ms:
                out.append(tp)
        elif now - (om.commit_timestamp_ms if since is None else since) >= retention_ms:
            out.append(tp)
    return out


def forget_pending(group: ClassicGroup, tp: TopicPartition) -> bool:
    """
    Drop every producer's pending transactional offset of C{tp} in C{group}.

    What replaying an offset tombstone does in Kafka's
    C{OffsetMetadataManager.replay}. @return: whether there was one.
    """
    found = False
    for producer_id, pending in list(group.pending_txn_offsets.items()):
        if pending.pop(tp, None) is not None:
            found = True
        if not pending:
            del group.pending_txn_offsets[producer_id]
    return found


@define(eq=False)
class OffsetStore:
    """The committed offsets of the groups in a L{GroupTable}, kept in ``__consumer_offsets``."""

    _config: GroupConfig
    _clock: ReactorTime
    _table: GroupTable
    _topic: OffsetsTopic
    _expiry_timer: DelayedCall | None = field(default=None, init=False)
    _stopped: bool = field(default=False, init=False)
    _log = Logger()

    # -- OffsetCommit -------------------------------------------------------------------

    def commit_offsets(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        group_instance_id: str | None,
        partitions: Sequence[OffsetCommitPartition],
        *,
        retention_time_ms: int = -1,
        api_version: int = 9,
    ) -> Deferred[PartitionErrors]:
        """
        Commit offsets; the Deferred fires after the records are appended.

        @return: an error per (topic, partition).
        """

        def everywhere(code: ErrorCode) -> Deferred[PartitionErrors]:
            return succeed({(p.topic, p.partition): code for p in partitions})

        if (refused := self._table.error(group_id)) is not None:
            return everywhere(refused)
        if not group_id:
            return everywhere(ErrorCode.INVALID_GROUP_ID)
        if (
            group_id not in self._table.groups
            and group_id not in self._table.consumer_groups
            and generation >= 0
        ):
            return everywhere(
                ErrorCode.GROUP_ID_NOT_FOUND if api_version >= 9 else ErrorCode.ILLEGAL_GENERATION
            )
        consumer = self._table.consumer_groups.get(group_id)
        group = self._table.get_or_create(group_id, now_ms(self._clock))
        if consumer is not None:
            error = consumer.validate_offset_commit(member_id, generation, api_version)
        else:
            error = validate_commit(group, generation, member_id, group_instance_id)
        if error is not None:
            return everywhere(error)
        staged, results = self.stage(partitions, retention_time_ms)
        if not staged:
            return succeed(results)
        records = [
            (rec.offset_commit_key(group_id, t, p), rec.offset_commit_value(om))
            for (t, p), om in staged.items()
        ]

        def stored(_: object) -> PartitionErrors:
            target = self._table.get_or_create(group_id, now_ms(self._clock))
            target.offsets.update(staged)
            self.schedule_expiry()
            return results

        def failed(f: Failure) -> PartitionErrors:
            log_append_failure(f, "Committing offsets", group_id)
            code = append_error(f, commit=True)
            return {tp: (code if tp in staged else e) for tp, e in results.items()}

        return _detached(self._topic.append(group_id, records).addCallbacks(stored, failed))

    def stage(
        self, partitions: Sequence[OffsetCommitPartition], retention_time_ms: int
    ) -> tuple[dict[TopicPartition, OffsetAndMetadata], PartitionErrors]:
        """The offsets to write, and an error per partition (metadata too large or NONE)."""
        now = now_ms(self._clock)
        max_metadata = self._config.offset_metadata_max_bytes
        results: PartitionErrors = {}
        staged: dict[TopicPartition, OffsetAndMetadata] = {}
        for p in partitions:
            tp = (p.topic, p.partition)
            metadata = p.metadata or ""
            if java_length(metadata) > max_metadata:
                results[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
                continue
            commit_ts = p.commit_timestamp_ms if p.commit_timestamp_ms != -1 else now
            staged[tp] = OffsetAndMetadata(
                offset=p.offset,
                leader_epoch=p.leader_epoch,
                metadata=metadata,
                commit_timestamp_ms=commit_ts,
                expire_timestamp_ms=commit_ts + retention_time_ms
                if retention_time_ms != -1
                else -1,
            )
            results[tp] = ErrorCode.NONE
        return staged, results

    # -- OffsetFetch / OffsetDelete ---------------------------------------------------------

    def fetch_offsets(
        self,
        group_id: str,
        topics: Sequence[tuple[str, Sequence[int]]] | None,
        member: tuple[str | None, int] | None = None,
    ) -> tuple[ErrorCode, FetchedOffsets]:
        """
        Committed offsets; partitions without a commit get None (offset -1).

        @param topics: (topic, partitions) pairs, or None for every committed partition.
        @param member: (member id, member epoch) of OffsetFetch v9+, checked
            for a consumer group (Kafka's C{ConsumerGroup.validateOffsetFetch}).
        @return: the group-level error and the offsets by topic.
        """
        if (refused := self._table.error(group_id)) is not None:
            return refused, []
        consumer = self._table.consumer_groups.get(group_id)
        if consumer is not None and member is not None:
            error = consumer.validate_offset_fetch(*member)
            if error is not None:
                return error, []
        group = self._table.groups.get(group_id)
        offsets = group.offsets if group is not None else {}
        if topics is None:
            by_topic: dict[str, list[tuple[int, OffsetAndMetadata | None]]] = {}
            for (t, p), om in sorted(offsets.items()):
                by_topic.setdefault(t, []).append((p, om))
            return ErrorCode.NONE, list(by_topic.items())
        return ErrorCode.NONE, [
            (t, [(p, offsets.get((t, p))) for p in parts]) for t, parts in topics
        ]

    def delete_offsets(
        self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]]
    ) -> Deferred[tuple[ErrorCode, PartitionErrors]]:
        """OffsetDelete: forget offsets of topics the group does not subscribe to."""
        if (refused := self._table.error(group_id)) is not None:
            return succeed((refused, {}))
        group = self._table.groups.get(group_id)
        if group is None or group.state == DEAD:
            return succeed((ErrorCode.GROUP_ID_NOT_FOUND, {}))
        if group.state != EMPTY and not group.uses_consumer_protocol():
            return succeed((ErrorCode.NON_EMPTY_GROUP, {}))
        results: PartitionErrors = {}
        records: list[tuple[bytes, bytes | None]] = []
        for topic, parts in topics:
            subscribed = group.is_subscribed_to(topic)
            for p in parts:
                if subscribed:
                    results[(topic, p)] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                    continue
                results[(topic, p)] = ErrorCode.NONE
                committed = group.offsets.pop((topic, p), None) is not None
                # Kafka writes the tombstone for a pending transactional offset too.
                if forget_pending(group, (topic, p)) or committed:
                    records.append((rec.offset_commit_key(group_id, topic, p), None))
        if not records:
            return succeed((ErrorCode.NONE, results))

        def deleted(_: object) -> tuple[ErrorCode, PartitionErrors]:
            return ErrorCode.NONE, results

        def failed(f: Failure) -> tuple[ErrorCode, PartitionErrors]:
            return append_error(f), {}

        return _detached(self._topic.append(group_id, records).addCallbacks(deleted, failed))

    @staticmethod
    def forget_offsets(group: ClassicGroup) -> Records:
        """
        Forget every offset of C{group}, committed or pending; the tombstones that record it.

        Kafka's C{OffsetMetadataManager.deleteAllOffsets} (DeleteGroups): a
        tombstone per committed offset, then one per partition that only has
        pending transactional offsets; replayed, a tombstone drops the
        pending offsets of its partition, so the open transactions' commits
        no longer bring them back.
        """
        tps = list(group.offsets)
        for pending in group.pending_txn_offsets.values():
            tps.extend(tp for tp in pending if tp not in tps)
        group.offsets.clear()
        group.pending_txn_offsets.clear()
        return [(rec.offset_commit_key(group.group_id, t, p), None) for t, p in tps]

    # -- retention ------------------------------------------------------------------------

    def start(self) -> None:
        """Let L{schedule_expiry} arm the retention check again (after L{stop})."""
        self._stopped = False

    def stop(self) -> None:
        """Stop checking for expired offsets."""
        self._stopped = True
        cancel(self._expiry_timer)
        self._expiry_timer = None

    def schedule_expiry(self) -> None:
        """Arm the retention check, unless it is armed or stopped."""
        if self._expiry_timer is None and not self._stopped:
            interval = self._config.offsets_retention_check_interval_ms
            self._expiry_timer = self._clock.callLater(
                max(interval, 0) / 1000.0, self._expire_offsets
            )

    def _expire_offsets(self) -> None:
        """
        Kafka's ``cleanupGroupMetadata``: drop expired offsets, then empty groups.

        A consumer group is deleted (C{maybeDeleteGroup}) once it has no
        members and none of its offsets, committed or pending, remain: its
        tombstones follow its expired offsets' (C{createGroupTombstoneRecords}).
        """
        self._expiry_timer = None
        now = now_ms(self._clock)
        retention = self._config.offsets_retention_ms
        any_offsets = False
        groups = self._table.groups
        consumer = self._table.consumer_groups
        for group in list(groups.values()):
            expired = expired_offsets(group, now, retention)
            live = consumer.get(group.group_id)
            if live is not None:
                # Kafka's ConsumerGroup: offsets of subscribed topics never expire.
                expired = [tp for tp in expired if not live.is_subscribed_to(tp[0])]
            records: list[tuple[bytes, bytes | None]] = []
            for tp in expired:
                del group.offsets[tp]
                records.append((rec.offset_commit_key(group.group_id, *tp), None))
            if live is not None:
                records += self._delete_empty_consumer_group(live)
            elif (
                group.state == EMPTY
                and not group.offsets
                and not group.pending_txn_offsets
                and not group.members
                and not group.pending_members
            ):
                records.append((rec.group_metadata_key(group.group_id), None))
                group.transition(DEAD, now)
                del groups[group.group_id]
            if expired:
                self._log.info(
                    "Removed {n} expired offsets of group {g}", n=len(expired), g=group.group_id
                )
            if records:
                self._topic.store_quietly(group.group_id, records)
            any_offsets = any_offsets or bool(group.offsets)
        for live in list(consumer.values()):
            if live.group_id not in groups:
                records = self._delete_empty_consumer_group(live)
                if records:
                    self._topic.store_quietly(live.group_id, records)
        if any_offsets or groups or consumer:
            self.schedule_expiry()

    def _delete_empty_consumer_group(self, group: ConsumerGroup) -> list[crec.Record]:
        """
        Kafka's C{maybeDeleteGroup} for a consumer group whose offsets all
        expired: an empty one is forgotten; its tombstones, or none.
        """
        gid = group.group_id
        holder = self._table.groups.get(gid)
        if group.members or (holder is not None and (holder.offsets or holder.pending_txn_offsets)):
            return []
        del self._table.consumer_groups[gid]
        self._table.groups.pop(gid, None)
        self._log.info("Deleted empty consumer group {g}", g=gid)
        return crec.group_tombstones(gid, [])
