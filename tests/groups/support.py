"""A broker with a group coordinator on a Clock, and request helpers for group tests."""

from __future__ import annotations

from typing import Any, cast

import attrs
from twisted.internet.defer import Deferred, fail

from kafkatwist.apis import (
    delete_groups,
    describe_groups,
    heartbeat,
    join_group,
    leave_group,
    list_groups,
    offset_commit,
    offset_delete,
    offset_fetch,
    sync_group,
)
from kafkatwist.broker import Broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages.delete_groups import DeleteGroupsRequest, DeleteGroupsResponse
from kafkatwist.messages.describe_groups import DescribeGroupsRequest, DescribeGroupsResponse
from kafkatwist.messages.heartbeat import HeartbeatRequest, HeartbeatResponse
from kafkatwist.messages.join_group import (
    JoinGroupRequest,
    JoinGroupRequestProtocol,
    JoinGroupResponse,
)
from kafkatwist.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse, MemberIdentity
from kafkatwist.messages.list_groups import ListGroupsRequest, ListGroupsResponse
from kafkatwist.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
    OffsetCommitResponse,
)
from kafkatwist.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteRequestPartition,
    OffsetDeleteRequestTopic,
    OffsetDeleteResponse,
)
from kafkatwist.messages.offset_fetch import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
    OffsetFetchRequestTopic,
    OffsetFetchRequestTopics,
    OffsetFetchResponse,
)
from kafkatwist.messages.sync_group import (
    SyncGroupRequest,
    SyncGroupRequestAssignment,
    SyncGroupResponse,
)
from kafkatwist.storage.interfaces import ILogManager, IPartitionLog
from tests.brokers import call, clock_of, make_broker
from tests.storage.support import fired

#: A consumer protocol subscription to topic "t4" as librdkafka 2.16.0
#: (confluent-kafka 2.16.1) sends it in JoinGroup: ConsumerProtocolSubscription
#: v3 (version, topics ["t4"], empty user data, no owned partitions,
#: generation -1, rack ""). Captured from a real JoinGroup to this broker.
LIBRDKAFKA_SUBSCRIPTION_T4 = bytes.fromhex("000300000001000274340000000000000000ffffffff0000")

#: A subscription to "orders" and "payments" as kafka-python 3.0.12 encodes it
#: (``ConsumerProtocolMemberMetadata_v0(0, ['orders', 'payments'], b'')``).
KAFKA_PYTHON_SUBSCRIPTION = bytes.fromhex(
    "00000000000200066f726465727300087061796d656e747300000000"
)


def subscription(*topics: str) -> bytes:
    """A ConsumerProtocolSubscription v0 for C{topics} (same layout as the golden bytes above)."""
    out = bytearray(b"\x00\x00")
    out += len(topics).to_bytes(4, "big")
    for t in topics:
        out += len(t).to_bytes(2, "big") + t.encode()
    out += b"\x00\x00\x00\x00"
    return bytes(out)


class AppendFaults:
    """
    Fault injection for ``__consumer_offsets``: once C{code} is set, every
    append to one of its partitions fails with C{KafkaError(code)}.
    """

    def __init__(self) -> None:
        self.code: ErrorCode | None = None

    def wrap(self, logs: ILogManager) -> ILogManager:
        """C{logs}, whose ``__consumer_offsets`` logs fail appends while C{code} is set."""
        faults = self

        class FaultyLog:
            def __init__(self, log: IPartitionLog) -> None:
                self._log = log

            def __getattr__(self, name: str) -> Any:
                return getattr(self._log, name)

            def append(self, *args: Any, **kw: Any) -> Deferred[Any]:
                if faults.code is None:
                    return self._log.append(*args, **kw)
                return fail(KafkaError(faults.code))

        class FaultyLogs:
            def __getattr__(self, name: str) -> Any:
                return getattr(logs, name)

            def get(self, topic: str, partition: int) -> Any:
                log = logs.get(topic, partition)
                return FaultyLog(log) if log is not None and topic == OFFSETS_TOPIC else log

            def create(self, topic: str, partition: int, config: Any) -> Any:
                log = logs.create(topic, partition, config)
                return FaultyLog(log) if topic == OFFSETS_TOPIC else log

        return cast(ILogManager, FaultyLogs())


#: The group settings of L{GroupBroker}s: no initial rebalance delay, five offsets partitions.
TEST_SETTINGS: dict[str, Any] = {
    "group_initial_rebalance_delay_ms": 0,
    "offsets_topic_num_partitions": 5,
}


class GroupBroker:
    """A loaded broker (file-engine logs in a temp dir, a Clock) with its group coordinator."""

    def __init__(
        self,
        logs: ILogManager | None = None,
        log_dir: str | None = None,
        broker: Broker | None = None,
        **config: Any,
    ) -> None:
        """
        A broker of its own from L{make_broker} with C{config} over L{TEST_SETTINGS}.

        @param broker: A broker built by the test instead (one of several
            sharing a metadata store, L{tests.groups.cluster_support}).
        """
        self.config = attrs.evolve(BrokerConfig(), **{**TEST_SETTINGS, **config})
        self.faults = AppendFaults()
        if broker is None:
            broker = make_broker(
                log_dir=log_dir, config=self.config, logs=logs, wrap_logs=self.faults.wrap
            )
        else:
            self.config = broker.config
        self.broker = broker
        self.clock = clock_of(self.broker)
        self.coordinator = self.broker.groups

    def topic(self, name: str, partitions: int) -> None:
        controller = self.broker.controller
        d = controller.create_topic(name, partitions)
        assert d.called

    def advance(self, ms: float) -> None:
        self.clock.advance(ms / 1000.0)

    # -- requests ---------------------------------------------------------------

    def join(
        self,
        group: str,
        member_id: str = "",
        *,
        version: int = 9,
        session: int = 10000,
        rebalance: int = 30000,
        instance: str | None = None,
        protocols: Any = (("range", b"r"),),
        protocol_type: str = "consumer",
    ) -> Deferred[JoinGroupResponse]:
        req = JoinGroupRequest(
            group_id=group,
            session_timeout_ms=session,
            rebalance_timeout_ms=rebalance,
            member_id=member_id,
            group_instance_id=instance,
            protocol_type=protocol_type,
            protocols=tuple(JoinGroupRequestProtocol(name=n, metadata=m) for n, m in protocols),
        )
        return call(self.broker, join_group.SPEC, req, version)

    def sync(
        self,
        group: str,
        member_id: str,
        generation: int,
        assignments: dict[str, bytes] | None = None,
        *,
        version: int = 5,
        instance: str | None = None,
        protocol_type: str | None = None,
        protocol_name: str | None = None,
    ) -> Deferred[SyncGroupResponse]:
        req = SyncGroupRequest(
            group_id=group,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=instance,
            protocol_type=protocol_type,
            protocol_name=protocol_name,
            assignments=tuple(
                SyncGroupRequestAssignment(member_id=m, assignment=a)
                for m, a in (assignments or {}).items()
            ),
        )
        return call(self.broker, sync_group.SPEC, req, version)

    def heartbeat(
        self,
        group: str,
        member_id: str,
        generation: int,
        *,
        instance: str | None = None,
        version: int = 4,
    ) -> int:
        req = HeartbeatRequest(
            group_id=group,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=instance,
        )
        d: Deferred[HeartbeatResponse] = call(self.broker, heartbeat.SPEC, req, version)
        response = fired(d)
        return int(response.error_code)

    def leave(
        self, group: str, *members: tuple[str, str | None], version: int = 5
    ) -> Deferred[LeaveGroupResponse]:
        if version < 3:
            req = LeaveGroupRequest(group_id=group, member_id=members[0][0])
        else:
            req = LeaveGroupRequest(
                group_id=group,
                members=tuple(MemberIdentity(member_id=m, group_instance_id=i) for m, i in members),
            )
        return call(self.broker, leave_group.SPEC, req, version)

    def commit(
        self,
        group: str,
        offsets: dict[tuple[str, int], int],
        *,
        generation: int = -1,
        member_id: str = "",
        instance: str | None = None,
        metadata: str | None = "",
        version: int = 9,
        retention_time_ms: int = -1,
    ) -> Deferred[OffsetCommitResponse]:
        topics: dict[str, list[OffsetCommitRequestPartition]] = {}
        for (t, p), o in offsets.items():
            topics.setdefault(t, []).append(
                OffsetCommitRequestPartition(
                    partition_index=p,
                    committed_offset=o,
                    committed_leader_epoch=-1,
                    committed_metadata=metadata,
                )
            )
        req = OffsetCommitRequest(
            group_id=group,
            generation_id_or_member_epoch=generation,
            member_id=member_id,
            group_instance_id=instance,
            retention_time_ms=retention_time_ms,
            topics=tuple(
                OffsetCommitRequestTopic(name=t, partitions=tuple(ps)) for t, ps in topics.items()
            ),
        )
        return call(self.broker, offset_commit.SPEC, req, version)

    def fetch(
        self, group: str, topics: dict[str, list[int]] | None = None, *, version: int = 7
    ) -> OffsetFetchResponse:
        if version >= 8:
            req = OffsetFetchRequest(
                groups=(
                    OffsetFetchRequestGroup(
                        group_id=group,
                        topics=None
                        if topics is None
                        else tuple(
                            OffsetFetchRequestTopics(name=t, partition_indexes=tuple(ps))
                            for t, ps in topics.items()
                        ),
                    ),
                ),
                require_stable=True,
            )
        else:
            req = OffsetFetchRequest(
                group_id=group,
                topics=None
                if topics is None
                else tuple(
                    OffsetFetchRequestTopic(name=t, partition_indexes=tuple(ps))
                    for t, ps in topics.items()
                ),
                require_stable=version >= 7,
            )
        d: Deferred[OffsetFetchResponse] = call(self.broker, offset_fetch.SPEC, req, version)
        return fired(d)

    def committed(self, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
        """Committed offsets by partition (-1: none), through OffsetFetch v7."""
        response = self.fetch(group, {topic: partitions})
        return {
            p.partition_index: p.committed_offset for t in response.topics for p in t.partitions
        }

    def list_groups(
        self, *, states: tuple[str, ...] = (), types: tuple[str, ...] = (), version: int = 5
    ) -> ListGroupsResponse:
        req = ListGroupsRequest(states_filter=states, types_filter=types)
        d: Deferred[ListGroupsResponse] = call(self.broker, list_groups.SPEC, req, version)
        return fired(d)

    def describe(
        self, *groups: str, version: int = 5, include_ops: bool = False
    ) -> DescribeGroupsResponse:
        req = DescribeGroupsRequest(groups=groups, include_authorized_operations=include_ops)
        d: Deferred[DescribeGroupsResponse] = call(self.broker, describe_groups.SPEC, req, version)
        return fired(d)

    def delete(self, *groups: str) -> Deferred[DeleteGroupsResponse]:
        return call(self.broker, delete_groups.SPEC, DeleteGroupsRequest(groups_names=groups), 2)

    def delete_offsets(
        self, group: str, topics: dict[str, list[int]]
    ) -> Deferred[OffsetDeleteResponse]:
        req = OffsetDeleteRequest(
            group_id=group,
            topics=tuple(
                OffsetDeleteRequestTopic(
                    name=t,
                    partitions=tuple(OffsetDeleteRequestPartition(partition_index=p) for p in ps),
                )
                for t, ps in topics.items()
            ),
        )
        return call(self.broker, offset_delete.SPEC, req, 0)


def member_id_of(response: JoinGroupResponse) -> str:
    """The member id handed out in a MEMBER_ID_REQUIRED answer."""
    assert response.error_code == 79, response
    return str(response.member_id)
