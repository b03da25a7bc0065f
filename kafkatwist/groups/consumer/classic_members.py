"""Classic-protocol members of a consumer group: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.

Kafka's C{classicGroupJoinToConsumerGroup}, C{classicGroupSyncToConsumerGroup},
C{classicGroupHeartbeatToConsumerGroup} and C{classicGroupLeaveToConsumerGroup}:
a member of the classic protocol in a (non-empty) consumer group is a
consumer group member with C{ClassicMemberMetadata} (its session timeout and
protocols).

* JoinGroup: the subscription (topics, rack, owned partitions) comes from
  the embedded ConsumerProtocolSubscription; the member is stored, the group
  epoch bumped when its subscription changed, a new target assignment
  computed, and the member reconciled against the partitions it says it
  owns; the answer (generation = member epoch, the member's first protocol,
  no leader) is sent once the records are written. Then a sync timer (the
  rebalance timeout) waits for its SyncGroup.
* SyncGroup: the member's current assignment, serialized at its
  subscription's version; REBALANCE_IN_PROGRESS when the group epoch moved
  on (unless the member is revoking).
* Heartbeat: REBALANCE_IN_PROGRESS when the member must rejoin: the group
  epoch moved on, it must revoke partitions, or partitions it waited for
  were released; a join timer (the rebalance timeout) then waits for it.
* LeaveGroup: the members are removed and the group epoch bumped once.

A classic static member replacing the last consumer-protocol member (same
instance id) converts the group back to a classic group at once, keeping
the assignment (Kafka's C{validateOnlineDowngradeWithReplacedMemberId}).

A join or sync timer expiring fences the member, as its session timer does.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

import attrs
from attrs import define
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from kafkatwist.config.group_config import GroupConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.consumer import embedded
from kafkatwist.groups.consumer import records as crec
from kafkatwist.groups.consumer.coordinator import ConsumerGroupCoordinator
from kafkatwist.groups.consumer.group import ConsumerGroup
from kafkatwist.groups.consumer.lookup import dynamic_member, known_member, static_member
from kafkatwist.groups.consumer.member import ClassicMetadata, ConsumerGroupMember, MemberState
from kafkatwist.groups.consumer.timers import JOIN, SESSION, SYNC
from kafkatwist.groups.consumer.validation import error
from kafkatwist.groups.join_request import JoinRequest
from kafkatwist.groups.offsets_topic import OffsetsTopic
from kafkatwist.groups.rebalance import join_error, sync_error
from kafkatwist.groups.state import CONSUMER_PROTOCOL_TYPE
from kafkatwist.messages.join_group import JoinGroupResponse
from kafkatwist.messages.sync_group import SyncGroupResponse
from kafkatwist.storage.interfaces import IMetadataStore

Records = list[crec.Record]


def supports_classic_protocols(group: ConsumerGroup, protocol_type: str, names: set[str]) -> bool:
    """Kafka's C{ConsumerGroup.supportsClassicProtocols}."""
    if protocol_type != CONSUMER_PROTOCOL_TYPE:
        return False
    if not group.members:
        return bool(names)
    classic = [m.classic for m in group.members.values() if m.classic is not None]
    counts = Counter(name for c in classic for name in {n for n, _ in c.protocols})
    return any(counts.get(name, 0) == len(classic) for name in names)


def _must_be_classic(member: ConsumerGroupMember) -> ClassicMetadata:
    """Kafka's C{throwIfMemberDoesNotUseClassicProtocol}."""
    if member.classic is None:
        raise error(
            ErrorCode.UNKNOWN_MEMBER_ID,
            f"Member {member.member_id} does not use the classic protocol.",
        )
    return member.classic


def _check_generation(member: ConsumerGroupMember, generation: int) -> None:
    """Kafka's C{throwIfGenerationIdUnmatched}."""
    if member.member_epoch != generation:
        raise error(
            ErrorCode.ILLEGAL_GENERATION,
            f"The request generation id {generation} is not equal to the member epoch "
            f"{member.member_epoch} of member {member.member_id}.",
        )


@define(eq=False)
class ClassicMembers:
    """The classic protocol's requests to the consumer groups of a L{ConsumerGroupCoordinator}."""

    _config: GroupConfig
    _metadata: IMetadataStore
    _topic: OffsetsTopic
    _coordinator: ConsumerGroupCoordinator
    _log = Logger()

    # -- JoinGroup ------------------------------------------------------------------

    def join(self, group: ConsumerGroup, req: JoinRequest) -> Deferred[JoinGroupResponse]:
        """Kafka's C{classicGroupJoinToConsumerGroup}; fires once the records are written."""
        records: Records = []
        try:
            response = self._join(group, req, records)
        except KafkaError as e:
            return succeed(join_error(e.code, req.member_id))
        if response.error_code:
            return succeed(response)
        gid, mid = group.group_id, response.member_id
        timers = self._coordinator.timers

        def written(answer: JoinGroupResponse) -> JoinGroupResponse:
            # After a downgrade the member belongs to the classic group, with its timers.
            if answer.error_code == 0 and self._coordinator.has_member(gid, mid):
                timers.cancel(gid, mid, JOIN)
                timers.schedule(gid, mid, SESSION, req.session_timeout_ms)
                timers.schedule(gid, mid, SYNC, req.rebalance_timeout_ms)
            return answer

        def failed(code: ErrorCode) -> JoinGroupResponse:
            return join_error(code, req.member_id)

        return self._coordinator.write(gid, records, response, failed).addCallback(written)

    def _join(self, group: ConsumerGroup, req: JoinRequest, records: Records) -> JoinGroupResponse:
        unknown = req.member_id == ""
        member_id = str(uuid.uuid4()) if unknown else req.member_id
        if member_id not in group.members and len(group.members) >= self._config.consumer_max_size:
            raise error(
                ErrorCode.GROUP_MAX_SIZE_REACHED,
                f"The consumer group has reached its maximum capacity of "
                f"{self._config.consumer_max_size} members.",
            )
        names = {name for name, _ in req.protocols}
        if not supports_classic_protocols(group, req.protocol_type, names):
            raise error(
                ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                f"Member {member_id}'s protocols are not supported.",
            )
        if unknown and req.group_instance_id is None and req.require_known_member_id:
            self._log.info(
                "[GroupId {g}] Dynamic member with unknown member id joins the consumer group. "
                "Created a new member id {m} and requesting the member to rejoin with this id.",
                g=group.group_id,
                m=member_id,
            )
            return join_error(ErrorCode.MEMBER_ID_REQUIRED, member_id)
        sub = embedded.subscription(req.protocols[0][1])
        replaced = None
        if req.group_instance_id is None:
            member = dynamic_member(group, member_id, -1, None, classic=True)
        else:
            replaced = group.static_member(req.group_instance_id)
            member = static_member(
                group,
                member_id,
                req.group_instance_id,
                -1,
                None,
                records,
                self._coordinator.timers,
                classic_rejoin=unknown,
            )
        updated = attrs.evolve(
            member,
            instance_id=req.group_instance_id or member.instance_id,
            rack_id=sub.rack_id if sub.rack_id is not None else member.rack_id,
            rebalance_timeout_ms=req.rebalance_timeout_ms
            if req.rebalance_timeout_ms != -1
            else member.rebalance_timeout_ms,
            subscribed_topic_names=tuple(sorted(sub.topics)),
            client_id=req.client_id,
            client_host=req.client_host,
            classic=ClassicMetadata(req.session_timeout_ms, req.protocols),
        )
        owned = embedded.owned(sub, self._metadata.image)
        # Before the member is stored: one whose join fails (to compute or to be
        # written) still expires, instead of holding partitions forever.
        self._coordinator.timers.schedule(
            group.group_id, updated.member_id, SESSION, req.session_timeout_ms
        )
        final = self._coordinator.update_member(group, member, updated, owned, records)
        if (
            replaced is not None
            and replaced.member_id != final.member_id
            and not replaced.uses_classic_protocol
        ):
            # Step 4: no consumer-protocol member is left; convert without a rebalance.
            migration = self._coordinator.migration
            if migration.may_downgrade_replaced(group):
                migration.downgrade(group, "", records, rebalance=False)
        return JoinGroupResponse(
            error_code=0,
            generation_id=final.member_epoch,
            protocol_type=CONSUMER_PROTOCOL_TYPE,
            protocol_name=req.protocols[0][0],
            leader="",
            member_id=final.member_id,
            members=(),
        )

    # -- SyncGroup ------------------------------------------------------------------

    def sync(
        self,
        group: ConsumerGroup,
        generation: int,
        member_id: str,
        instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
    ) -> SyncGroupResponse:
        """Kafka's C{classicGroupSyncToConsumerGroup}: the member's current assignment."""
        try:
            member = known_member(group, member_id, instance_id)
            classic = _must_be_classic(member)
            _check_generation(member, generation)
            first = classic.protocols[0]
            if protocol_type is not None and protocol_type != CONSUMER_PROTOCOL_TYPE:
                raise error(
                    ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                    f"The protocol type {protocol_type} from member {member_id} request is not "
                    f"equal to the group protocol type {CONSUMER_PROTOCOL_TYPE}.",
                )
            if protocol_name is not None and protocol_name != first[0]:
                raise error(
                    ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                    f"The protocol name {protocol_name} from member {member_id} request is not "
                    f"equal to the protocol name {first[0]} returned in the join response.",
                )
            self._throw_if_rebalancing(group, member)
            assignment = embedded.encode_assignment(
                member.assigned_partitions, self._metadata.image, embedded.version_of(first[1])
            )
        except KafkaError as e:
            return sync_error(e.code)
        timers = self._coordinator.timers
        timers.cancel(group.group_id, member.member_id, SYNC)
        timers.schedule(group.group_id, member.member_id, SESSION, classic.session_timeout_ms)
        return SyncGroupResponse(
            protocol_type=protocol_type, protocol_name=protocol_name, assignment=assignment
        )

    def _throw_if_rebalancing(self, group: ConsumerGroup, member: ConsumerGroupMember) -> None:
        """Kafka's C{throwIfRebalanceInProgress}."""
        if (
            group.group_epoch > member.member_epoch
            and member.state != MemberState.UNREVOKED_PARTITIONS
        ):
            self._coordinator.timers.schedule_if_absent(
                group.group_id, member.member_id, JOIN, member.rebalance_timeout_ms
            )
            raise error(
                ErrorCode.REBALANCE_IN_PROGRESS,
                f"A new rebalance is triggered in group {group.group_id} and member "
                f"{member.member_id} should rejoin to catch up.",
            )

    # -- Heartbeat ------------------------------------------------------------------

    def heartbeat(
        self, group: ConsumerGroup, generation: int, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        """Kafka's C{classicGroupHeartbeatToConsumerGroup}."""
        try:
            member = known_member(group, member_id, instance_id)
            classic = _must_be_classic(member)
            _check_generation(member, generation)
        except KafkaError as e:
            return e.code
        gid, mid = group.group_id, member.member_id
        timers = self._coordinator.timers
        timers.schedule(gid, mid, SESSION, classic.session_timeout_ms)
        if (
            member.member_epoch < group.group_epoch
            or member.state == MemberState.UNREVOKED_PARTITIONS
            or (
                member.state == MemberState.UNRELEASED_PARTITIONS
                and not group.waiting_on_unreleased_partition(member)
            )
        ):
            timers.schedule_if_absent(gid, mid, JOIN, member.rebalance_timeout_ms)
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    # -- LeaveGroup -----------------------------------------------------------------

    def leave(
        self, group: ConsumerGroup, members: Sequence[tuple[str, str | None]]
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """Kafka's C{classicGroupLeaveToConsumerGroup}; the records are written quietly."""
        results: list[ErrorCode] = []
        leaving: list[str] = []
        for member_id, instance_id in members:
            try:
                if instance_id is None:
                    member = known_member(group, member_id, None)
                elif member_id:
                    member = known_member(group, member_id, instance_id)
                else:
                    # An administrative removal names only the instance id.
                    found = group.static_member(instance_id)
                    if found is None:
                        raise error(ErrorCode.UNKNOWN_MEMBER_ID)
                    member = found
                _must_be_classic(member)
            except KafkaError as e:
                results.append(e.code)
                continue
            if member.member_id not in leaving:
                leaving.append(member.member_id)
            self._log.info(
                "[GroupId {g}] Member {m} has left the group through an explicit LeaveGroup "
                "request.",
                g=group.group_id,
                m=member.member_id,
            )
            results.append(ErrorCode.NONE)
        if leaving:
            records: Records = []
            self._coordinator.remove_members(group, leaving, records)
            self._topic.store_quietly(group.group_id, records)
        return ErrorCode.NONE, results
