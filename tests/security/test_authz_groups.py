"""The group and offset APIs authorize like Kafka's KafkaApis (a StandardAuthorizer, User:alice)."""

from __future__ import annotations

import uuid
from typing import Any

from kafkatwist.apis import (
    delete_groups,
    describe_groups,
    find_coordinator,
    heartbeat,
    join_group,
    leave_group,
    list_groups,
    offset_commit,
    offset_delete,
    offset_fetch,
    sync_group,
)
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.delete_groups import DeleteGroupsRequest
from kafkatwist.messages.describe_groups import DescribeGroupsRequest
from kafkatwist.messages.find_coordinator import FindCoordinatorRequest
from kafkatwist.messages.heartbeat import HeartbeatRequest
from kafkatwist.messages.join_group import JoinGroupRequest, JoinGroupRequestProtocol
from kafkatwist.messages.leave_group import LeaveGroupRequest, MemberIdentity
from kafkatwist.messages.list_groups import ListGroupsRequest
from kafkatwist.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from kafkatwist.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteRequestPartition,
    OffsetDeleteRequestTopic,
)
from kafkatwist.messages.offset_fetch import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
    OffsetFetchRequestTopic,
    OffsetFetchRequestTopics,
)
from kafkatwist.messages.sync_group import SyncGroupRequest
from kafkatwist.security.acl import PatternType
from tests.groups.test_rebalance import GroupTestCase
from tests.security.authz_support import OP, RT, SETUP_SUPER_USERS, acl, authorize, call_as

GROUP_AUTH = int(ErrorCode.GROUP_AUTHORIZATION_FAILED)
TOPIC_AUTH = int(ErrorCode.TOPIC_AUTHORIZATION_FAILED)


def commit_request(group: str, *topics: str) -> OffsetCommitRequest:
    """A standalone commit of offset 5 to partition 0 of each topic."""
    return OffsetCommitRequest(
        group_id=group,
        generation_id_or_member_epoch=-1,
        member_id="",
        topics=tuple(
            OffsetCommitRequestTopic(
                name=t,
                partitions=(
                    OffsetCommitRequestPartition(
                        partition_index=0, committed_offset=5, committed_metadata=""
                    ),
                ),
            )
            for t in topics
        ),
    )


def codes(response: Any) -> dict[tuple[str, int], int]:
    """(topic, partition) -> error code of an OffsetCommit/OffsetDelete/OffsetFetch answer."""
    return {
        (t.name, p.partition_index): p.error_code for t in response.topics for p in t.partitions
    }


class AuthzGroupTestCase(GroupTestCase):
    """A group broker with topics t and u, and helpers to call APIs as alice."""

    def setUp(self) -> None:
        super().setUp()
        self.gb.topic("t", 1)
        self.gb.topic("u", 1)

    def acls(self, *acls: Any) -> None:
        authorize(self.gb.broker, *acls, super_users=SETUP_SUPER_USERS)

    def as_alice(self, spec: ApiSpec, request: Any, version: int) -> Any:
        return self.successResultOf(call_as(self.gb.broker, spec, request, version))


class FindCoordinatorTests(AuthzGroupTestCase):
    def test_v3_refused_group(self) -> None:
        """Before v4 a group without DESCRIBE is GROUP_AUTHORIZATION_FAILED with Kafka's message."""
        self.acls(acl(RT.GROUP, "other", OP.DESCRIBE))
        response = self.as_alice(find_coordinator.SPEC, FindCoordinatorRequest(key="g"), 3)
        self.assertEqual(
            (response.error_code, response.error_message, response.node_id, response.port),
            (GROUP_AUTH, "Group authorization failed.", -1, -1),
        )

    def test_v4_per_key(self) -> None:
        """From v4 each key answers for itself: the allowed one gets the node, the other 30."""
        self.acls(acl(RT.GROUP, "app-", OP.READ, pattern=PatternType.PREFIXED))
        request = FindCoordinatorRequest(coordinator_keys=("app-1", "other"))
        ok, refused = self.as_alice(find_coordinator.SPEC, request, 4).coordinators
        self.assertEqual((ok.key, ok.error_code, ok.node_id), ("app-1", 0, self.gb.broker.node_id))
        self.assertEqual(
            (refused.key, refused.error_code, refused.node_id, refused.host),
            ("other", GROUP_AUTH, -1, ""),
        )

    def test_transactional_id(self) -> None:
        """A transactional id without DESCRIBE is TRANSACTIONAL_ID_AUTHORIZATION_FAILED."""
        self.acls(acl(RT.GROUP, "g", OP.DESCRIBE))
        request = FindCoordinatorRequest(key_type=1, coordinator_keys=("tx",))
        (answer,) = self.as_alice(find_coordinator.SPEC, request, 4).coordinators
        self.assertEqual(answer.error_code, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)


class ClassicMembershipTests(AuthzGroupTestCase):
    def test_join_needs_read(self) -> None:
        """JoinGroup without READ on the group: 30, generation -1, the empty member id."""

        def join(member_id: str) -> JoinGroupRequest:
            return JoinGroupRequest(
                group_id="g",
                session_timeout_ms=10000,
                rebalance_timeout_ms=30000,
                member_id=member_id,
                protocol_type="consumer",
                protocols=(JoinGroupRequestProtocol(name="range", metadata=b""),),
            )

        self.acls(acl(RT.GROUP, "g", OP.DESCRIBE))
        refused = self.as_alice(join_group.SPEC, join("m-1"), 9)
        self.assertEqual(
            (refused.error_code, refused.generation_id, refused.member_id, refused.leader),
            (GROUP_AUTH, -1, "", ""),
        )
        self.acls(acl(RT.GROUP, "g", OP.READ))
        allowed = self.as_alice(join_group.SPEC, join(""), 9)
        self.assertEqual(allowed.error_code, ErrorCode.MEMBER_ID_REQUIRED)

    def test_sync_heartbeat_leave_need_read(self) -> None:
        """SyncGroup, Heartbeat and LeaveGroup without READ are GROUP_AUTHORIZATION_FAILED."""
        generation, (member,), _ = self.stable(1)
        self.acls(acl(RT.GROUP, "g", OP.DESCRIBE))
        sync = SyncGroupRequest(
            group_id="g", generation_id=generation, member_id=member, assignments=()
        )
        beat = HeartbeatRequest(group_id="g", generation_id=generation, member_id=member)
        leave = LeaveGroupRequest(group_id="g", members=(MemberIdentity(member_id=member),))
        self.assertEqual(self.as_alice(sync_group.SPEC, sync, 5).error_code, GROUP_AUTH)
        self.assertEqual(self.as_alice(heartbeat.SPEC, beat, 4).error_code, GROUP_AUTH)
        refused = self.as_alice(leave_group.SPEC, leave, 5)
        self.assertEqual((refused.error_code, refused.members), (GROUP_AUTH, ()))
        self.acls(acl(RT.GROUP, "g", OP.READ))
        self.assertEqual(self.as_alice(heartbeat.SPEC, beat, 4).error_code, 0)


class OffsetCommitTests(AuthzGroupTestCase):
    def test_group_refused(self) -> None:
        """Without READ on the group every partition is GROUP_AUTHORIZATION_FAILED."""
        self.acls(acl(RT.TOPIC, "t", OP.READ))
        response = self.as_alice(offset_commit.SPEC, commit_request("g", "t", "u"), 9)
        self.assertEqual(codes(response), {("t", 0): GROUP_AUTH, ("u", 0): GROUP_AUTH})

    def test_topics_refused_before_existence(self) -> None:
        """A topic without READ is TOPIC_AUTHORIZATION_FAILED, existing or not; t is committed."""
        self.acls(acl(RT.GROUP, "g", OP.READ), acl(RT.TOPIC, "t", OP.READ))
        request = commit_request("g", "t", "u", "missing")
        response = self.as_alice(offset_commit.SPEC, request, 9)
        self.assertEqual(
            codes(response), {("t", 0): 0, ("u", 0): TOPIC_AUTH, ("missing", 0): TOPIC_AUTH}
        )
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: 5})
        self.assertEqual(self.gb.committed("g", "u", [0]), {0: -1})


class OffsetFetchTests(AuthzGroupTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.successResultOf(self.gb.commit("g", {("t", 0): 3, ("u", 0): 4}))
        self.successResultOf(self.gb.commit("h", {("t", 0): 7}))

    def test_v8_groups_and_topics(self) -> None:
        """v8: a refused group answers 30 alone; an undescribable topic comes last with 29, -1."""
        self.acls(acl(RT.GROUP, "g", OP.DESCRIBE), acl(RT.TOPIC, "t", OP.DESCRIBE))
        request = OffsetFetchRequest(
            groups=(
                OffsetFetchRequestGroup(
                    group_id="g",
                    topics=(
                        OffsetFetchRequestTopics(name="u", partition_indexes=(0,)),
                        OffsetFetchRequestTopics(name="t", partition_indexes=(0,)),
                    ),
                ),
                OffsetFetchRequestGroup(group_id="h", topics=None),
            )
        )
        g, h = self.as_alice(offset_fetch.SPEC, request, 8).groups
        self.assertEqual((h.group_id, h.error_code, h.topics), ("h", GROUP_AUTH, ()))
        answered = [
            (t.name, p.committed_offset, p.error_code) for t in g.topics for p in t.partitions
        ]
        self.assertEqual(answered, [("t", 3, 0), ("u", -1, TOPIC_AUTH)])

    def test_all_topics_leaves_out_undescribable(self) -> None:
        """Every committed partition (null topics): the topics without DESCRIBE are left out."""
        self.acls(acl(RT.GROUP, "g", OP.DESCRIBE), acl(RT.TOPIC, "u", OP.WRITE))
        for version in (7, 8):
            response = self.gb.fetch("g", None, version=version)
            self.assertEqual(len(response.topics or response.groups[0].topics), 2)
            request = (
                OffsetFetchRequest(groups=(OffsetFetchRequestGroup(group_id="g", topics=None),))
                if version >= 8
                else OffsetFetchRequest(group_id="g", topics=None)
            )
            answer = self.as_alice(offset_fetch.SPEC, request, version)
            topics = answer.groups[0].topics if version >= 8 else answer.topics
            self.assertEqual([t.name for t in topics], ["u"], version)

    def test_single_group_refused(self) -> None:
        """v2-v7: a group denied DESCRIBE (READ notwithstanding) is a top-level 30."""
        self.acls(acl(RT.GROUP, "g", OP.READ), acl(RT.GROUP, "g", OP.DESCRIBE, deny=True))
        request = OffsetFetchRequest(
            group_id="g", topics=(OffsetFetchRequestTopic(name="t", partition_indexes=(0,)),)
        )
        self.assertEqual(self.as_alice(offset_fetch.SPEC, request, 5).error_code, GROUP_AUTH)


class OffsetDeleteTests(AuthzGroupTestCase):
    def request(self) -> OffsetDeleteRequest:
        return OffsetDeleteRequest(
            group_id="g",
            topics=tuple(
                OffsetDeleteRequestTopic(
                    name=t, partitions=(OffsetDeleteRequestPartition(partition_index=0),)
                )
                for t in ("t", "u")
            ),
        )

    def test_needs_delete_on_group_and_read_on_topics(self) -> None:
        """DELETE on the group (else a top-level 30), READ per topic (else 29 for it)."""
        self.successResultOf(self.gb.commit("g", {("t", 0): 3, ("u", 0): 4}))
        self.acls(acl(RT.GROUP, "g", OP.READ), acl(RT.TOPIC, "t", OP.READ))
        self.assertEqual(
            self.as_alice(offset_delete.SPEC, self.request(), 0).error_code, GROUP_AUTH
        )
        self.acls(acl(RT.GROUP, "g", OP.DELETE), acl(RT.TOPIC, "t", OP.READ))
        response = self.as_alice(offset_delete.SPEC, self.request(), 0)
        self.assertEqual(codes(response), {("t", 0): 0, ("u", 0): TOPIC_AUTH})
        self.assertEqual(self.gb.committed("g", "u", [0]), {0: 4})
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: -1})


class AdminGroupTests(AuthzGroupTestCase):
    def test_describe_groups(self) -> None:
        """Refused groups first (30, no state); KIP-430 operations of the described group."""
        self.stable(1, group="g")
        self.acls(acl(RT.GROUP, "g", OP.READ))
        request = DescribeGroupsRequest(groups=("g", "h"), include_authorized_operations=True)
        refused, described = self.as_alice(describe_groups.SPEC, request, 5).groups
        self.assertEqual(
            (refused.group_id, refused.error_code, refused.group_state, refused.members),
            ("h", GROUP_AUTH, "", ()),
        )
        self.assertEqual(refused.authorized_operations, -(2**31))
        self.assertEqual((described.group_id, described.group_state), ("g", "Stable"))
        # READ, and DESCRIBE which READ implies.
        self.assertEqual(described.authorized_operations, (1 << 3) | (1 << 8))

    def test_list_groups(self) -> None:
        """DESCRIBE on the cluster lists every group; otherwise only groups with DESCRIBE."""
        for group in ("app-1", "app-2", "other"):
            self.successResultOf(self.gb.commit(group, {("t", 0): 1}))
        self.acls(acl(RT.GROUP, "app-", OP.DESCRIBE, pattern=PatternType.PREFIXED))
        listed = self.as_alice(list_groups.SPEC, ListGroupsRequest(), 5).groups
        self.assertEqual(sorted(g.group_id for g in listed), ["app-1", "app-2"])
        self.acls(acl(RT.CLUSTER, "kafka-cluster", OP.DESCRIBE))
        listed = self.as_alice(list_groups.SPEC, ListGroupsRequest(), 5).groups
        self.assertEqual(sorted(g.group_id for g in listed), ["app-1", "app-2", "other"])

    def test_delete_groups(self) -> None:
        """DELETE per group, each named once; refused groups answered after the others."""
        for group in ("a", "b"):
            self.successResultOf(self.gb.commit(group, {("t", 0): 1}))
        self.acls(acl(RT.GROUP, "b", OP.DELETE))
        request = DeleteGroupsRequest(groups_names=("a", "b", "a"))
        results = self.as_alice(delete_groups.SPEC, request, 2).results
        self.assertEqual(
            [(r.group_id, r.error_code) for r in results], [("b", 0), ("a", GROUP_AUTH)]
        )
        self.assertEqual(self.gb.committed("a", "t", [0]), {0: 1})


class TopicIdTests(AuthzGroupTestCase):
    def test_v10_commit_and_fetch_by_id(self) -> None:
        """v10: an unknown id is UNKNOWN_TOPIC_ID; a known one is authorized by its name."""
        image = self.gb.broker.metadata.image
        t_id, u_id = image.topics["t"].topic_id, image.topics["u"].topic_id
        unknown = uuid.UUID(int=77)
        self.acls(
            acl(RT.GROUP, "g", OP.READ),
            acl(RT.TOPIC, "t", OP.READ),
            acl(RT.TOPIC, "u", OP.CREATE),
        )
        request = OffsetCommitRequest(
            group_id="g",
            generation_id_or_member_epoch=-1,
            member_id="",
            topics=tuple(
                OffsetCommitRequestTopic(
                    topic_id=tid,
                    partitions=(
                        OffsetCommitRequestPartition(
                            partition_index=0, committed_offset=5, committed_metadata=""
                        ),
                    ),
                )
                for tid in (t_id, u_id, unknown)
            ),
        )
        response = self.as_alice(offset_commit.SPEC, request, 10)
        self.assertEqual(
            [(t.topic_id, t.partitions[0].error_code) for t in response.topics],
            [(t_id, 0), (u_id, TOPIC_AUTH), (unknown, ErrorCode.UNKNOWN_TOPIC_ID)],
        )
        fetch = OffsetFetchRequest(
            groups=(
                OffsetFetchRequestGroup(
                    group_id="g",
                    member_epoch=-1,
                    topics=tuple(
                        OffsetFetchRequestTopics(topic_id=tid, partition_indexes=(0,))
                        for tid in (u_id, t_id, unknown)
                    ),
                ),
            )
        )
        (group,) = self.as_alice(offset_fetch.SPEC, fetch, 10).groups
        answered = {
            t.topic_id: (t.partitions[0].committed_offset, t.partitions[0].error_code)
            for t in group.topics
        }
        self.assertEqual(
            answered,
            {t_id: (5, 0), u_id: (-1, TOPIC_AUTH), unknown: (-1, ErrorCode.UNKNOWN_TOPIC_ID)},
        )
