"""Online upgrade and downgrade of a group (Kafka's C{GroupMetadataManager}).

* upgrade (C{convertToConsumerGroup}): a consumer-protocol member joining a
  non-empty classic group of the consumer protocol type; the classic group's
  tombstone then the consumer group's records are written, parked JoinGroup
  and SyncGroup answers get REBALANCE_IN_PROGRESS, every member gets a
  session timer (its classic session timeout);
* downgrade (C{convertToClassicGroup}): when the last consumer-protocol
  member is fenced (it leaves, or its session or rebalance timeout expires)
  and only classic members remain; the consumer group's tombstones then the
  classic group's GroupMetadata record are written and the classic group
  rebalances.

C{group.consumer.migration.policy} allows the upgrade (C{upgrade},
C{bidirectional}) and the downgrade (C{downgrade}, C{bidirectional}). The
offsets stay in the (empty) classic group of the same id throughout.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import define
from twisted.logger import Logger

from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.groups.consumer import conversion
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.member import ConsumerGroupMember
from kafkatwist.groups.consumer.timers import SESSION, MemberTimers
from kafkatwist.groups.rebalance import (
    Outbox,
    Rebalancer,
    group_metadata_record,
    join_error,
    sync_error,
)
from kafkatwist.groups.state import ClassicGroup, GroupTable
from kafkatwist.storage.interfaces import IMetadataStore

Records = list[crec.Record]
#: A member's session timeout.
SessionTimeout = Callable[[ConsumerGroup, ConsumerGroupMember], int]

#: The policies that allow each direction.
UPGRADE_POLICIES = ("upgrade", "bidirectional")
DOWNGRADE_POLICIES = ("downgrade", "bidirectional")


@define(eq=False)
class GroupMigration:
    """Converts groups between the classic and the consumer protocol, in place in the table."""

    _config: GroupConfig
    _table: GroupTable
    _metadata: IMetadataStore
    _rebalancer: Rebalancer
    _outbox: Outbox
    _timers: MemberTimers
    _session_timeout_ms: SessionTimeout
    _log = Logger()

    def may_upgrade(self, classic: ClassicGroup) -> bool:
        """Kafka's C{validateOnlineUpgrade}."""
        gid = classic.group_id
        if self._config.consumer_migration_policy not in UPGRADE_POLICIES:
            self._log.info(
                "Cannot upgrade classic group {g} to consumer group because the online upgrade "
                "is disabled.",
                g=gid,
            )
            return False
        if not classic.uses_consumer_protocol():
            self._log.info(
                "Cannot upgrade classic group {g} to consumer group because the group does not "
                "use the consumer embedded protocol.",
                g=gid,
            )
            return False
        if len(classic.members) > self._config.consumer_max_size:
            self._log.info(
                "Cannot upgrade classic group {g} to consumer group because the group size "
                "exceeds the consumer group maximum size.",
                g=gid,
            )
            return False
        return True

    def upgrade(self, classic: ClassicGroup, records: Records) -> ConsumerGroup:
        """Kafka's C{convertToConsumerGroup}: the classic group becomes a consumer group."""
        gid = classic.group_id
        group = conversion.from_classic(classic, self._metadata.image)
        records.append((rec.group_metadata_key(gid), None))
        records.extend(conversion.consumer_group_records(group))
        with self._outbox.batch():
            # Members waiting in a rebalance must rejoin the consumer group.
            self._rebalancer.cancel_timers(classic)
            for member in classic.members.values():
                self._rebalancer.cancel_heartbeat(member)
                self._rebalancer.respond_join(
                    member, join_error(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id)
                )
                self._rebalancer.respond_sync(member, sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
        self._table.groups[gid] = ClassicGroup(
            gid,
            state_timestamp_ms=classic.state_timestamp_ms,
            offsets=classic.offsets,
            pending_txn_offsets=classic.pending_txn_offsets,
        )
        self._table.consumer_groups[gid] = group
        for new in group.members.values():
            self._timers.schedule(gid, new.member_id, SESSION, self._session_timeout_ms(group, new))
        self._log.info(
            "[GroupId {g}] Converted the classic group to a consumer group ({n} members).",
            g=gid,
            n=len(group.members),
        )
        return group

    def may_downgrade(self, group: ConsumerGroup, member_id: str) -> bool:
        """Kafka's C{validateOnlineDowngradeWithFencedMember}."""
        leaving = group.members.get(member_id)
        if leaving is None or leaving.uses_classic_protocol:
            return False
        if any(not m.uses_classic_protocol for mid, m in group.members.items() if mid != member_id):
            return False
        gid = group.group_id
        if len(group.members) <= 1:
            self._log.debug(
                "Skip downgrading the consumer group {g} to classic group because it's empty.",
                g=gid,
            )
            return False
        if self._config.consumer_migration_policy not in DOWNGRADE_POLICIES:
            self._log.info(
                "Cannot downgrade consumer group {g} to classic group because the online "
                "downgrade is disabled.",
                g=gid,
            )
            return False
        if len(group.members) - 1 > self._config.group_max_size:
            self._log.info(
                "Cannot downgrade consumer group {g} to classic group because its group size "
                "is greater than classic group max size.",
                g=gid,
            )
            return False
        return True

    def may_downgrade_replaced(self, group: ConsumerGroup) -> bool:
        """
        Kafka's C{validateOnlineDowngradeWithReplacedMemberId}, after a classic
        static member replaced the group's last consumer-protocol member.
        """
        if not all(m.uses_classic_protocol for m in group.members.values()):
            return False
        if self._config.consumer_migration_policy not in DOWNGRADE_POLICIES:
            self._log.info(
                "Cannot downgrade consumer group {g} to classic group because the online "
                "downgrade is disabled.",
                g=group.group_id,
            )
            return False
        return len(group.members) <= self._config.group_max_size

    def downgrade(
        self, group: ConsumerGroup, leaving_id: str, records: Records, *, rebalance: bool = True
    ) -> None:
        """
        Kafka's C{convertToClassicGroup}, then the rebalance it triggers (none
        when a joining static member took over the leaving one's assignment).
        """
        gid = group.group_id
        classic = conversion.to_classic(
            group,
            leaving_id,
            self._table.groups.get(gid),
            self._metadata.image,
            self._rebalancer.now(),
        )
        records.extend(crec.group_tombstones(gid, list(group.members)))
        records.append(group_metadata_record(classic))
        self._timers.cancel_group(gid)
        del self._table.consumer_groups[gid]
        self._table.groups[gid] = classic
        with self._outbox.batch():
            for member in classic.members.values():
                self._rebalancer.reschedule_heartbeat(classic, member)
            if rebalance:
                self._rebalancer.prepare_rebalance(classic)
        self._log.info("[GroupId {g}] Converted the consumer group to a classic group.", g=gid)
