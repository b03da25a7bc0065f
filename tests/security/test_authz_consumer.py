"""ConsumerGroupHeartbeat and ConsumerGroupDescribe authorize like Kafka 4.3 (KAFKA-18813)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import consumer_group_describe, consumer_group_heartbeat
from kafkatwist.apis.consumer_group_describe import HIDDEN_TOPICS_MESSAGE
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkatwist.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)
from kafkatwist.security.acl import PatternType
from tests.groups.consumer_support import (
    assigned,
    consumer_broker,
    describe,
    heartbeat,
    topic_id,
)
from tests.security.authz_support import OP, RT, SETUP_SUPER_USERS, acl, authorize, call_as


def join_request(
    member: str, *, topics: Sequence[str] | None = None, regex: str | None = None
) -> ConsumerGroupHeartbeatRequest:
    """A first heartbeat (epoch 0) of C{member} in group g."""
    return ConsumerGroupHeartbeatRequest(
        group_id="g",
        member_id=member,
        member_epoch=0,
        rebalance_timeout_ms=30000,
        subscribed_topic_names=None if topics is None else tuple(topics),
        subscribed_topic_regex=regex,
        topic_partitions=(),
    )


class ConsumerAuthzTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.gb = consumer_broker()
        for name in ("app-1", "app-2", "secret"):
            self.gb.topic(name, 1)

    def beat(self, request: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse:
        response: ConsumerGroupHeartbeatResponse = self.successResultOf(
            call_as(self.gb.broker, consumer_group_heartbeat.SPEC, request, 1)
        )
        return response

    def describe(self, *groups: str, include: bool = False) -> Any:
        request = ConsumerGroupDescribeRequest(
            group_ids=groups, include_authorized_operations=include
        )
        return self.successResultOf(
            call_as(self.gb.broker, consumer_group_describe.SPEC, request, 1)
        ).groups

    def targeted(self) -> set[str]:
        """The topics of group g's target assignment, as a super user describes it."""
        group = describe(self.gb, "g")
        return {tp.topic_name for m in group.members for tp in m.target_assignment.topic_partitions}

    def test_heartbeat_needs_read_on_group(self) -> None:
        """Without READ on the group the heartbeat is GROUP_AUTHORIZATION_FAILED; no group made."""
        authorize(self.gb.broker, acl(RT.GROUP, "g", OP.DESCRIBE), super_users=SETUP_SUPER_USERS)
        response = self.beat(join_request("m", topics=("app-1",)))
        self.assertEqual((response.error_code, response.error_message), (30, None))
        self.assertFalse(self.gb.coordinator.consumer.has_member("g", "m"))

    def test_subscribed_names_need_describe(self) -> None:
        """A subscribed topic without DESCRIBE: TOPIC_AUTHORIZATION_FAILED, nothing joined."""
        authorize(
            self.gb.broker,
            acl(RT.GROUP, "g", OP.READ),
            acl(RT.TOPIC, "app-", OP.READ, pattern=PatternType.PREFIXED),
            super_users=SETUP_SUPER_USERS,
        )
        refused = self.beat(join_request("m", topics=("app-1", "secret")))
        self.assertEqual(
            (refused.error_code, refused.error_message, refused.assignment),
            (ErrorCode.TOPIC_AUTHORIZATION_FAILED, None, None),
        )
        self.assertFalse(self.gb.coordinator.consumer.has_member("g", "m"))
        joined = self.beat(join_request("m", topics=("app-1", "app-2")))
        self.assertEqual(joined.error_code, 0)
        self.assertEqual(
            sorted(assigned(joined)),
            sorted([(topic_id(self.gb, "app-1"), [0]), (topic_id(self.gb, "app-2"), [0])]),
        )

    def test_regex_matches_only_describable_topics(self) -> None:
        """A regex subscribes the member to the matching topics it may DESCRIBE only."""
        authorize(
            self.gb.broker,
            acl(RT.GROUP, "g", OP.READ),
            acl(RT.TOPIC, "app-", OP.READ, pattern=PatternType.PREFIXED),
            super_users=SETUP_SUPER_USERS,
        )
        joined = self.beat(join_request("m", regex=".*"))
        self.assertEqual(joined.error_code, 0)
        self.assertEqual(
            sorted(assigned(joined)),
            sorted([(topic_id(self.gb, "app-1"), [0]), (topic_id(self.gb, "app-2"), [0])]),
        )
        self.assertEqual(self.targeted(), {"app-1", "app-2"})

    def test_regex_of_a_super_user_member_stays_its_own(self) -> None:
        """Another member's heartbeat without the regex does not change what the regex matches."""
        authorize(self.gb.broker, acl(RT.GROUP, "g", OP.READ), super_users=SETUP_SUPER_USERS)
        # User:ANONYMOUS, a super user here, subscribes with the regex first.
        heartbeat(self.gb, "g", "admin", 0, regex="app-.*")
        self.assertEqual(self.targeted(), {"app-1", "app-2"})
        # alice joins with names she may describe; the regex keeps its topics.
        authorize(
            self.gb.broker,
            acl(RT.GROUP, "g", OP.READ),
            acl(RT.TOPIC, "secret", OP.DESCRIBE),
            super_users=SETUP_SUPER_USERS,
        )
        self.assertEqual(self.beat(join_request("alice", topics=("secret",))).error_code, 0)
        self.assertEqual(self.targeted(), {"app-1", "app-2", "secret"})

    def test_describe_needs_describe_on_group(self) -> None:
        """Refused groups first with 30; the described group carries its KIP-430 operations."""
        heartbeat(self.gb, "g", "m", 0, topics=["app-1"])
        authorize(
            self.gb.broker,
            acl(RT.GROUP, "g", OP.DESCRIBE),
            acl(RT.TOPIC, "app-1", OP.DESCRIBE),
            super_users=SETUP_SUPER_USERS,
        )
        refused, described = self.describe("g", "h", include=True)
        self.assertEqual((refused.group_id, refused.error_code), ("h", 30))
        self.assertEqual((described.group_id, described.error_code), ("g", 0))
        self.assertEqual(described.authorized_operations, 1 << 8)
        self.assertEqual(len(described.members), 1)

    def test_describe_hides_groups_with_undescribable_topics(self) -> None:
        """A group assigned a topic the caller may not DESCRIBE: 29, Kafka's message, no members."""
        heartbeat(self.gb, "g", "m", 0, topics=["app-1", "secret"])
        authorize(
            self.gb.broker,
            acl(RT.GROUP, "g", OP.DESCRIBE),
            acl(RT.TOPIC, "app-", OP.DESCRIBE, pattern=PatternType.PREFIXED),
            super_users=SETUP_SUPER_USERS,
        )
        (hidden,) = self.describe("g", include=True)
        self.assertEqual(
            (hidden.group_id, hidden.error_code, hidden.error_message, hidden.members),
            ("g", ErrorCode.TOPIC_AUTHORIZATION_FAILED, HIDDEN_TOPICS_MESSAGE, ()),
        )
        self.assertEqual((hidden.group_state, hidden.authorized_operations), ("", -(2**31)))
