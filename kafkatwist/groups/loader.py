"""Replaying a ``__consumer_offsets`` partition into the groups when elected (Kafka's loader).

Kafka's C{CoordinatorLoaderImpl} reads each partition of ``__consumer_offsets``
from its start and hands every record to C{GroupMetadataManager.replay}:
OffsetCommit records set or (tombstone) drop a committed offset,
GroupMetadata records set or drop a classic group. Until the load is done,
the group APIs answer COORDINATOR_LOAD_IN_PROGRESS.

A record (or a batch) that cannot be decoded is skipped with one error line
naming the partition and offset; every other record is replayed, so one bad
record never costs the other groups their offsets (issue 10, item 3).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from attrs import define
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kafkatwist.errors import RecordsError
from kafkatwist.groups import records as rec
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.replay import replay as replay_consumer
from kafkatwist.groups.offsets import forget_pending
from kafkatwist.groups.offsets_topic import OffsetsTopic
from kafkatwist.groups.state import ClassicGroup, GroupState, GroupTable, Member
from kafkatwist.groups.txn_offsets import complete_pending
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.wire.batch import BatchHeader, iter_batches
from kafkatwist.wire.record import Record, decode_batch_records

#: Bytes read from a partition at a time.
READ_CHUNK = 1 << 20


#: Replays one batch (its header and its decoded records); returns the records replayed.
BatchReplayer = Callable[[BatchHeader, list[Record]], int]

_log = Logger()


async def replay_log(log: IPartitionLog, name: str, replay: BatchReplayer) -> int:
    """
    Read a partition log from its start and hand every batch to C{replay}.

    Control batches are handed over too. A batch that cannot be decoded is
    skipped with one error line naming the partition and offset; so is a
    record C{replay} raises for (it counts its own skips).

    @return: the number of records replayed.
    """
    count = 0
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        result = await log.read(offset, READ_CHUNK)
        next_offset = offset
        for buf in result.buffers:
            try:
                for pos, header in iter_batches(buf):
                    next_offset = max(next_offset, header.next_offset)
                    count += _replay_batch(name, memoryview(buf)[pos:], header, replay)
            except RecordsError as e:
                # No batch boundary to resume from in this read: go on after it.
                _log.error(
                    "Skipped undecodable data in {partition} after offset {offset}: {error}",
                    partition=name,
                    offset=next_offset,
                    error=e,
                )
        if next_offset <= offset:
            break
        offset = next_offset
    return count


def _replay_batch(name: str, batch: memoryview, header: BatchHeader, replay: BatchReplayer) -> int:
    """Decode one batch and replay it; skip (and log) what cannot be decoded."""
    try:
        records = decode_batch_records(batch[: header.size])
    except Exception as e:
        _log.error(
            "Skipped undecodable batch at offset {offset} of {partition}: {error}",
            offset=header.base_offset,
            partition=name,
            error=e,
        )
        return 0
    return replay(header, records)


def replay_records(
    name: str, records: list[Record], replay: Callable[[bytes | None, bytes | None], None]
) -> int:
    """Replay records one by one; one that fails is logged and skipped."""
    count = 0
    for record in records:
        try:
            replay(record.key, record.value)
        except Exception as e:
            _log.error(
                "Skipped undecodable record at offset {offset} of {partition}: {error}",
                offset=record.offset,
                partition=name,
                error=e,
            )
        else:
            count += 1
    return count


def control_type(records: list[Record]) -> int | None:
    """The type of a control batch's record: 0 ABORT, 1 COMMIT (Kafka's C{ControlRecordType})."""
    if not records or records[0].key is None or len(records[0].key) < 4:
        return None
    (kind,) = _CONTROL_KEY.unpack_from(records[0].key, 2)
    return int(kind)


_CONTROL_KEY = struct.Struct(">h")
ABORT_MARKER, COMMIT_MARKER = 0, 1


@define(eq=False)
class GroupLoader:
    """
    Replays the records of ``__consumer_offsets`` into a L{GroupTable}.

    Offsets in a transactional batch are pending offsets of its producer
    until a marker of that producer follows in the partition: COMMIT makes
    them committed, ABORT drops them (Kafka's
    C{GroupMetadataManager.loadGroupsAndOffsets}); those without a marker
    stay pending, for the transaction coordinator to end.
    """

    _table: GroupTable
    _topic: OffsetsTopic
    _log = Logger()

    def load_partition(self, partition: int) -> Deferred[int]:
        """Replay one partition (Kafka's C{CoordinatorLoaderImpl.load}); fires with its records."""
        return Deferred.fromCoroutine(self._load_partition(partition))

    async def _load_partition(self, partition: int) -> int:
        topic = self._topic.current()
        log = None if topic is None else self._topic.partition_log(topic, partition)
        if log is None:
            return 0
        name = f"{self._topic.name}-{partition}"
        return await replay_log(log, name, self._batch_replayer(name))

    def _batch_replayer(self, name: str) -> BatchReplayer:
        #: producer id -> groups of this partition with pending offsets of it.
        producers: dict[int, set[str]] = {}

        def replay(header: BatchHeader, records: list[Record]) -> int:
            if header.is_control:
                kind = control_type(records)
                for group_id in producers.pop(header.producer_id, set()):
                    group = self._table.groups.get(group_id)
                    if group is not None:
                        complete_pending(group, header.producer_id, kind == COMMIT_MARKER)
                return 0
            if not header.is_transactional:
                return replay_records(name, records, self.replay)

            def pending(key: bytes | None, value: bytes | None) -> None:
                group_id = self._replay_pending(header.producer_id, key, value)
                if group_id is not None:
                    producers.setdefault(header.producer_id, set()).add(group_id)

            return replay_records(name, records, pending)

        return replay

    def _replay_pending(
        self, producer_id: int, key: bytes | None, value: bytes | None
    ) -> str | None:
        """An offset of a transactional batch: pending for its producer."""
        decoded = rec.decode_record(key, value)
        if not isinstance(decoded, rec.OffsetRecord) or decoded.value is None:
            return None
        groups = self._table.groups
        group = groups.get(decoded.group_id)
        if group is None:
            group = groups[decoded.group_id] = ClassicGroup(decoded.group_id)
        pending = group.pending_txn_offsets.setdefault(producer_id, {})
        pending[(decoded.topic, decoded.partition)] = decoded.value
        return decoded.group_id

    def replay(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record (Kafka's C{GroupMetadataManager.replay} for classic groups)."""
        decoded = rec.decode_record(key, value)
        if isinstance(decoded, rec.OffsetRecord):
            self._replay_offset(decoded)
        elif isinstance(decoded, rec.GroupRecord):
            self._replay_group(decoded)
        elif key is not None and (consumer := crec.decode(key, value)) is not None:
            replay_consumer(self._table.consumer_groups, consumer)

    def _replay_offset(self, decoded: rec.OffsetRecord) -> None:
        groups = self._table.groups
        tp = (decoded.topic, decoded.partition)
        group = groups.get(decoded.group_id)
        if decoded.value is None:
            if group is not None:
                group.offsets.pop(tp, None)
                forget_pending(group, tp)
            return
        if group is None:
            group = groups[decoded.group_id] = ClassicGroup(decoded.group_id)
        group.offsets[tp] = decoded.value

    def _replay_group(self, decoded: rec.GroupRecord) -> None:
        groups = self._table.groups
        old = groups.get(decoded.group_id)
        offsets = old.offsets if old is not None else {}
        pending = old.pending_txn_offsets if old is not None else {}
        v = decoded.value
        if v is None:
            if offsets or pending:
                groups[decoded.group_id] = ClassicGroup(
                    decoded.group_id, offsets=offsets, pending_txn_offsets=pending
                )
            else:
                groups.pop(decoded.group_id, None)
            return
        group = ClassicGroup(
            decoded.group_id,
            state_timestamp_ms=v.current_state_timestamp,
            generation=v.generation,
            protocol_type=v.protocol_type or None,
            protocol_name=v.protocol,
            leader_id=v.leader,
            offsets=offsets,
            pending_txn_offsets=pending,
        )
        for m in v.members:
            rebalance = m.rebalance_timeout if m.rebalance_timeout >= 0 else m.session_timeout
            group.add(
                Member(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    rebalance_timeout_ms=rebalance,
                    session_timeout_ms=m.session_timeout,
                    protocol_type=v.protocol_type,
                    protocols=((v.protocol or "", m.subscription),),
                    assignment=m.assignment,
                )
            )
        group.leader_id = v.leader if v.leader in group.members else group.leader_id
        if group.members:
            group.state = group.previous_state = GroupState.STABLE
            group.subscribed_topics = group.compute_subscribed_topics()
        groups[decoded.group_id] = group
