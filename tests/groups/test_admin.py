"""FindCoordinator, ListGroups, DescribeGroups, DeleteGroups and OffsetDelete."""

from __future__ import annotations

from kafka.protocol.admin.groups import DescribeGroupsRequest as ClientDescribeRequest
from kafka.protocol.admin.groups import DescribeGroupsResponse as ClientDescribeResponse

from kafkatwist.apis import describe_groups, find_coordinator, metadata
from kafkatwist.errors import ErrorCode
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages.find_coordinator import FindCoordinatorRequest
from kafkatwist.messages.metadata import MetadataRequest
from tests.brokers import call
from tests.groups.support import subscription
from tests.groups.test_offsets import log_records
from tests.groups.test_rebalance import GroupTestCase
from tests.offsets_support import client_roundtrip

NONE = int(ErrorCode.NONE)
#: Every ACL operation Kafka supports on a group (READ, DELETE, DESCRIBE,
#: DESCRIBE_CONFIGS, ALTER_CONFIGS): what a broker without an authorizer answers.
GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)


class FindCoordinatorTests(GroupTestCase):
    def find(self, version: int, **kw: object) -> object:
        return self.successResultOf(
            call(self.gb.broker, find_coordinator.SPEC, FindCoordinatorRequest(**kw), version)  # type: ignore[arg-type]
        )

    def test_single_key_versions(self) -> None:
        """v0-v3 name this broker: node id, the host the client used, the advertised port."""
        for version in range(4):
            response = self.find(version, key="g")
            self.assertEqual(
                (response.error_code, response.node_id, response.host, response.port),  # type: ignore[attr-defined]
                (NONE, 1, "127.0.0.1", 9092),
            )

    def test_batched_keys(self) -> None:
        """v4+ answers each coordinator key, for groups and transactional ids."""
        for key_type in (0, 1):
            response = self.find(6, key_type=key_type, coordinator_keys=("a", "b"))
            self.assertEqual(
                [(c.key, c.node_id, c.host, c.port, c.error_code) for c in response.coordinators],  # type: ignore[attr-defined]
                [("a", 1, "127.0.0.1", 9092, NONE), ("b", 1, "127.0.0.1", 9092, NONE)],
            )

    def test_invalid_key_type(self) -> None:
        """An unknown key type gets INVALID_REQUEST."""
        from kafkatwist.errors import KafkaError

        failure = self.failureResultOf(
            call(
                self.gb.broker,
                find_coordinator.SPEC,
                FindCoordinatorRequest(key="g", key_type=7),
                3,
            ),
            KafkaError,
        )
        self.assertEqual(failure.value.code, ErrorCode.INVALID_REQUEST)
        response = find_coordinator.error_response(
            FindCoordinatorRequest(key_type=7, coordinator_keys=("x",)),
            4,
            ErrorCode.INVALID_REQUEST,
        )
        self.assertEqual(response.coordinators[0].error_code, ErrorCode.INVALID_REQUEST)

    def test_group_lookup_creates_the_internal_topic(self) -> None:
        """A group lookup creates __consumer_offsets (compacted, internal)."""
        self.find(3, key="g")
        topic = self.gb.broker.metadata.image.topics[OFFSETS_TOPIC]
        self.assertEqual(len(topic.partitions), 5)
        self.assertEqual(topic.configs["cleanup.policy"], "compact")
        response = self.successResultOf(
            call(self.gb.broker, metadata.SPEC, MetadataRequest(topics=None), 12)
        )
        listed = {t.name: t.is_internal for t in response.topics}
        self.assertTrue(listed[OFFSETS_TOPIC])


class ListDescribeTests(GroupTestCase):
    def test_list_with_filters(self) -> None:
        """ListGroups lists every group with state and type; filters ignore case."""
        self.gb.topic("t", 1)
        self.stable(1, group="live")
        self.successResultOf(self.gb.commit("solo", {("t", 0): 1}))
        everything = {
            (g.group_id, g.protocol_type, g.group_state, g.group_type)
            for g in self.gb.list_groups().groups
        }
        self.assertEqual(
            everything,
            {("live", "consumer", "Stable", "classic"), ("solo", "", "Empty", "classic")},
        )
        self.assertEqual(
            [g.group_id for g in self.gb.list_groups(states=("stable",)).groups], ["live"]
        )
        self.assertEqual(
            [g.group_id for g in self.gb.list_groups(states=("EMPTY",)).groups], ["solo"]
        )
        self.assertEqual(len(self.gb.list_groups(types=("Classic",)).groups), 2)
        self.assertEqual(self.gb.list_groups(types=("consumer",)).groups, ())
        self.assertEqual(len(self.gb.list_groups(version=0).groups), 2)

    def test_describe_stable_group(self) -> None:
        """DescribeGroups of a Stable group: members, client ids, hosts, metadata, assignments."""
        generation, ids, leader = self.stable(2, protocols=(("range", b"meta"),))
        described = self.gb.describe("g", include_ops=True).groups[0]
        self.assertEqual(
            (
                described.error_code,
                described.group_state,
                described.protocol_type,
                described.protocol_data,
            ),
            (NONE, "Stable", "consumer", "range"),
        )
        self.assertEqual(described.authorized_operations, GROUP_AUTHORIZED_OPERATIONS)
        self.assertEqual(
            {
                (m.member_id, m.client_id, m.client_host, m.member_metadata, m.member_assignment)
                for m in described.members
            },
            {(m, "test-client", "/127.0.0.1", b"meta", m.encode()) for m in ids},
        )

    def test_describe_rebalancing_group_has_no_metadata(self) -> None:
        """Outside Stable, members are listed without metadata or assignment (as Kafka)."""
        self.stable(1)
        self.gb.join("g", self.new_member())
        described = self.gb.describe("g").groups[0]
        self.assertEqual(described.group_state, "PreparingRebalance")
        self.assertEqual(described.protocol_data, "")
        self.assertEqual(
            {(m.member_metadata, m.member_assignment) for m in described.members}, {(b"", b"")}
        )

    def test_describe_unknown_group(self) -> None:
        """A group that does not exist is described as Dead, without error, before v6."""
        described = self.gb.describe("nope").groups[0]
        self.assertEqual(
            (described.error_code, described.group_state, described.members), (NONE, "Dead", ())
        )
        self.assertEqual(described.authorized_operations, -2147483648)
        self.assertIsNone(described.error_message)

    def test_describe_unknown_group_v6(self) -> None:
        """From v6 (KIP-1043) an unknown group is Dead with GROUP_ID_NOT_FOUND and a message."""
        self.stable(1)
        unknown, known = self.gb.describe("nope", "g", version=6).groups
        self.assertEqual(
            (unknown.group_id, unknown.error_code, unknown.group_state, unknown.error_message),
            ("nope", int(ErrorCode.GROUP_ID_NOT_FOUND), "Dead", "Group nope not found."),
        )
        self.assertEqual(
            (known.error_code, known.group_state, known.error_message), (NONE, "Stable", None)
        )

    def test_describe_v6_kafka_python(self) -> None:
        """kafka-python's v6 request is answered; its decoder reads the code and message."""
        self.stable(1)
        request = ClientDescribeRequest(groups=["g", "nope"], include_authorized_operations=True)
        response = client_roundtrip(
            self, self.gb.broker, describe_groups.SPEC, request, ClientDescribeResponse, 6
        )
        known, unknown = response.groups
        self.assertEqual((known.error_code, known.group_state), (NONE, "Stable"))
        self.assertEqual(
            (unknown.error_code, unknown.error_message),
            (ErrorCode.GROUP_ID_NOT_FOUND, "Group nope not found."),
        )


class DeleteTests(GroupTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.gb.topic("t", 2)
        self.gb.topic("other", 1)

    def test_delete_groups(self) -> None:
        """DeleteGroups: NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, and deletion with tombstones."""
        self.stable(1, group="live")
        self.successResultOf(self.gb.commit("solo", {("t", 0): 1, ("t", 1): 2}))
        response = self.successResultOf(self.gb.delete("live", "nope", "solo"))
        self.assertEqual(
            [(r.group_id, r.error_code) for r in response.results],
            [
                ("live", ErrorCode.NON_EMPTY_GROUP),
                ("nope", ErrorCode.GROUP_ID_NOT_FOUND),
                ("solo", NONE),
            ],
        )
        self.assertEqual(self.gb.committed("solo", "t", [0, 1]), {0: -1, 1: -1})
        self.assertNotIn("solo", [g.group_id for g in self.gb.list_groups().groups])
        tombstones = [r.key for r in log_records(self.gb, "solo") if r.value is None]
        self.assertEqual(len(tombstones), 3)
        self.assertEqual(tombstones[-1][:2], b"\x00\x02")  # the group metadata key last
        again = self.successResultOf(self.gb.delete("solo"))
        self.assertEqual(again.results[0].error_code, ErrorCode.GROUP_ID_NOT_FOUND)

    def test_offset_delete_of_subscribed_topic(self) -> None:
        """OffsetDelete refuses topics the group consumes, deletes the others."""
        generation, ids, _ = self.stable(1, protocols=(("range", subscription("t")),))
        self.successResultOf(
            self.gb.commit(
                "g", {("t", 0): 1, ("other", 0): 2}, generation=generation, member_id=ids[0]
            )
        )
        response = self.successResultOf(
            self.gb.delete_offsets("g", {"t": [0], "other": [0], "nope": [0]})
        )
        self.assertEqual(response.error_code, NONE)
        self.assertEqual(
            {
                (t.name, p.partition_index, p.error_code)
                for t in response.topics
                for p in t.partitions
            },
            {
                ("t", 0, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC),
                ("other", 0, NONE),
                ("nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
            },
        )
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: 1})
        self.assertEqual(self.gb.committed("g", "other", [0]), {0: -1})

    def test_offset_delete_from_empty_group(self) -> None:
        """An Empty group's offsets can all be deleted."""
        self.successResultOf(self.gb.commit("solo", {("t", 0): 1}))
        response = self.successResultOf(self.gb.delete_offsets("solo", {"t": [0, 1]}))
        self.assertEqual({p.error_code for t in response.topics for p in t.partitions}, {NONE})
        self.assertEqual(self.gb.committed("solo", "t", [0]), {0: -1})

    def test_offset_delete_group_errors(self) -> None:
        """OffsetDelete: GROUP_ID_NOT_FOUND; NON_EMPTY_GROUP for a live non-consumer group."""
        missing = self.successResultOf(self.gb.delete_offsets("nope", {"t": [0]}))
        self.assertEqual(missing.error_code, ErrorCode.GROUP_ID_NOT_FOUND)
        self.stable(1, group="connect", protocol_type="connect")
        busy = self.successResultOf(self.gb.delete_offsets("connect", {"t": [0]}))
        self.assertEqual(busy.error_code, ErrorCode.NON_EMPTY_GROUP)

    def test_unparsable_subscription_counts_as_subscribed(self) -> None:
        """Member metadata that is no consumer subscription subscribes to everything."""
        self.stable(1, protocols=(("range", b"\xff"),))
        response = self.successResultOf(self.gb.delete_offsets("g", {"other": [0]}))
        self.assertEqual(
            response.topics[0].partitions[0].error_code, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
        )
