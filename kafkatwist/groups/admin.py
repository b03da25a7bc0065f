"""Group administration: ListGroups, DescribeGroups and DeleteGroups.

Follows Kafka 4.0's C{GroupMetadataManager} (C{listGroups},
C{describeGroups}, C{deleteGroups} for classic groups): deleting an Empty
group writes tombstones for its offsets, committed or pending in an open
transaction, and its metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from attrs import define
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.group import ConsumerGroup, ConsumerGroupState
from kafkatwist.groups.offsets import OffsetStore
from kafkatwist.groups.offsets_topic import OffsetsTopic, append_error
from kafkatwist.groups.rebalance import DEAD, EMPTY, STABLE, Rebalancer
from kafkatwist.groups.state import CONSUMER_PROTOCOL_TYPE, ClassicGroup, GroupTable
from kafkatwist.messages.describe_groups import DescribedGroup, DescribedGroupMember
from kafkatwist.storage.results import AppendInfo

#: A listed group: (group id, protocol type, state, type).
ListedGroup = tuple[str, str, str, str]


@define(eq=False)
class GroupAdmin:
    """Lists, describes and deletes the groups of a L{GroupTable}."""

    _table: GroupTable
    _topic: OffsetsTopic
    _rebalancer: Rebalancer
    _log = Logger()

    def list_groups(
        self, states: Iterable[str] = (), types: Iterable[str] = ()
    ) -> list[ListedGroup]:
        """(group id, protocol type, state, type) of every group, filtered case-insensitively."""
        wanted_states = {s.lower() for s in states}
        wanted_types = {t.lower() for t in types}
        consumer = self._table.consumer_groups
        listed: list[ListedGroup] = []
        if not wanted_types or "classic" in wanted_types:
            listed += [
                (group.group_id, group.protocol_type or "", group.state.value, "classic")
                for group in self._table.groups.values()
                if group.group_id not in consumer
                and (not wanted_states or group.state.value.lower() in wanted_states)
            ]
        if not wanted_types or "consumer" in wanted_types:
            listed += [
                (group.group_id, CONSUMER_PROTOCOL_TYPE, group.state.value, "consumer")
                for group in consumer.values()
                if not wanted_states or group.state.value.lower() in wanted_states
            ]
        return listed

    def describe_group(self, group_id: str, version: int = 0) -> DescribedGroup:
        """
        DescribeGroups for one group (Dead when unknown).

        Its C{authorized_operations} is left "not asked for": the handler
        fills it in from the authorizer (L{kafkatwist.apis._authz.describe_authorized}).

        A consumer group is not a classic group: Dead, and from v6
        GROUP_ID_NOT_FOUND (Kafka's C{GroupMetadataManager.describeGroups}).
        """
        if (refused := self._table.error(group_id)) is not None:
            return DescribedGroup(error_code=int(refused), group_id=group_id)
        if group_id in self._table.consumer_groups:
            return DescribedGroup(
                error_code=int(ErrorCode.GROUP_ID_NOT_FOUND if version >= 6 else ErrorCode.NONE),
                error_message=f"Group {group_id} is not a classic group." if version >= 6 else None,
                group_id=group_id,
                group_state=DEAD.value,
            )
        group = self._table.groups.get(group_id)
        if group is None:
            # v6+ (KIP-1043): an unknown group is an error.
            return DescribedGroup(
                error_code=int(ErrorCode.GROUP_ID_NOT_FOUND if version >= 6 else ErrorCode.NONE),
                error_message=f"Group {group_id} not found." if version >= 6 else None,
                group_id=group_id,
                group_state=DEAD.value,
            )
        stable = group.state == STABLE
        members = tuple(
            DescribedGroupMember(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                member_metadata=m.metadata(group.protocol_name) if stable else b"",
                member_assignment=m.assignment if stable else b"",
            )
            for m in group.members.values()
        )
        return DescribedGroup(
            group_id=group_id,
            group_state=group.state.value,
            protocol_type=group.protocol_type or "",
            protocol_data=(group.protocol_name or "") if stable else "",
            members=members,
        )

    def delete_groups(self, group_ids: Sequence[str]) -> Deferred[list[tuple[str, ErrorCode]]]:
        """DeleteGroups: remove Empty groups and their offsets (tombstones in the log)."""
        pending = [(group_id, self._delete(group_id)) for group_id in group_ids]

        async def gather() -> list[tuple[str, ErrorCode]]:
            return [(group_id, await result) for group_id, result in pending]

        return Deferred.fromCoroutine(gather())

    def _delete(self, group_id: str) -> Deferred[ErrorCode]:
        """Delete one group; fires with its error code once its tombstones are written."""
        if (refused := self._table.error(group_id)) is not None:
            return succeed(refused)
        consumer = self._table.consumer_groups.get(group_id)
        if consumer is not None:
            return self._delete_consumer_group(consumer)
        group = self._table.groups.get(group_id)
        if group is None or group.state == DEAD:
            return succeed(ErrorCode.GROUP_ID_NOT_FOUND)
        if group.state != EMPTY:
            return succeed(ErrorCode.NON_EMPTY_GROUP)

        def failed(f: Failure) -> ErrorCode:
            return append_error(f)

        return self._delete_group(group).addCallbacks(lambda _: ErrorCode.NONE, failed)

    def _delete_consumer_group(self, group: ConsumerGroup) -> Deferred[ErrorCode]:
        """Kafka's C{ConsumerGroup.validateDeleteGroup} and C{createGroupTombstoneRecords}."""
        if group.state != ConsumerGroupState.EMPTY:
            return succeed(ErrorCode.NON_EMPTY_GROUP)
        gid = group.group_id
        records: list[tuple[bytes, bytes | None]] = []
        offsets = self._table.groups.pop(gid, None)
        if offsets is not None:
            records += OffsetStore.forget_offsets(offsets)
        records += crec.group_tombstones(gid, list(group.members))
        del self._table.consumer_groups[gid]
        self._log.info("Deleted consumer group {g}", g=gid)

        def failed(f: Failure) -> ErrorCode:
            return append_error(f)

        return self._topic.append(gid, records).addCallbacks(lambda _: ErrorCode.NONE, failed)

    def _delete_group(self, group: ClassicGroup) -> Deferred[AppendInfo]:
        records = list(OffsetStore.forget_offsets(group))
        records.append((rec.group_metadata_key(group.group_id), None))
        self._rebalancer.cancel_timers(group)
        group.pending_members.clear()
        group.transition(DEAD, self._rebalancer.now())
        if self._table.groups.get(group.group_id) is group:
            del self._table.groups[group.group_id]
        self._log.info("Deleted group {g}", g=group.group_id)
        return self._topic.append(group.group_id, records)
