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
from kafkatwist.groups.offsets import OffsetStore
from kafkatwist.groups.offsets_topic import OffsetsTopic, append_error
from kafkatwist.groups.rebalance import DEAD, EMPTY, STABLE, Rebalancer
from kafkatwist.groups.state import ClassicGroup, GroupTable
from kafkatwist.messages.describe_groups import DescribedGroup, DescribedGroupMember
from kafkatwist.storage.results import AppendInfo

#: ACL operations a group supports (READ, DELETE, DESCRIBE), as a bit field.
GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)
#: Kafka's "authorized operations not asked for" (Integer.MIN_VALUE).
_OPERATIONS_NOT_ASKED = -2147483648

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
        if wanted_types and "classic" not in wanted_types:
            return []
        return [
            (group.group_id, group.protocol_type or "", group.state.value, "classic")
            for group in self._table.groups.values()
            if not wanted_states or group.state.value.lower() in wanted_states
        ]

    def describe_group(
        self, group_id: str, include_authorized_operations: bool = False
    ) -> DescribedGroup:
        """DescribeGroups for one group (Dead when unknown)."""
        ops = (
            GROUP_AUTHORIZED_OPERATIONS if include_authorized_operations else _OPERATIONS_NOT_ASKED
        )
        if self._table.loading:
            return DescribedGroup(
                error_code=int(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS),
                group_id=group_id,
                authorized_operations=ops,
            )
        group = self._table.groups.get(group_id)
        if group is None:
            return DescribedGroup(
                group_id=group_id, group_state=DEAD.value, authorized_operations=ops
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
            authorized_operations=ops,
        )

    def delete_groups(self, group_ids: Sequence[str]) -> Deferred[list[tuple[str, ErrorCode]]]:
        """DeleteGroups: remove Empty groups and their offsets (tombstones in the log)."""
        pending = [(group_id, self._delete(group_id)) for group_id in group_ids]

        async def gather() -> list[tuple[str, ErrorCode]]:
            return [(group_id, await result) for group_id, result in pending]

        return Deferred.fromCoroutine(gather())

    def _delete(self, group_id: str) -> Deferred[ErrorCode]:
        """Delete one group; fires with its error code once its tombstones are written."""
        if self._table.loading:
            return succeed(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        group = self._table.groups.get(group_id)
        if group is None or group.state == DEAD:
            return succeed(ErrorCode.GROUP_ID_NOT_FOUND)
        if group.state != EMPTY:
            return succeed(ErrorCode.NON_EMPTY_GROUP)

        def failed(f: Failure) -> ErrorCode:
            return append_error(f)

        return self._delete_group(group).addCallbacks(lambda _: ErrorCode.NONE, failed)

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
