"""
The C{range} assignor: Kafka's RangeAssignorTest (group-coordinator, KIP-848).

Inputs and expected target assignments are those of Kafka's test; members
are given in its C{TreeMap} order (the assignor sorts them anyway).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.groups.assignors import ASSIGNORS
from kafkatwist.groups.assignors.spec import PartitionAssignorError
from tests.groups.assignors.support import TOPIC1, TOPIC2, TOPIC3, Topics, group, member, plain

RANGE = ASSIGNORS["range"]


class RangeAssignorTests(SynchronousTestCase):
    def test_one_member_no_topic(self) -> None:
        """A member subscribed to nothing gets an empty assignment."""
        self.assertEqual(
            plain(RANGE.assign(group({"A": member([])}, True), Topics({TOPIC1: 3}))), {"A": {}}
        )

    def test_one_member_subscribed_to_nonexistent_topic(self) -> None:
        """A subscription to an unknown topic is a PartitionAssignorException."""
        spec = group({"A": member([TOPIC2])}, True)
        self.assertRaises(PartitionAssignorError, RANGE.assign, spec, Topics({TOPIC1: 3}))

    def test_first_assignment_two_members_two_topics_same_subscriptions(self) -> None:
        """Co-partitioning: A takes the first range of both topics, B the second."""
        members = {"A": member([TOPIC1, TOPIC3]), "B": member([TOPIC1, TOPIC3])}
        result = RANGE.assign(group(members, True), Topics({TOPIC1: 3, TOPIC3: 2}))
        self.assertEqual(
            plain(result), {"A": {TOPIC1: {0, 1}, TOPIC3: {0}}, "B": {TOPIC1: {2}, TOPIC3: {1}}}
        )

    def test_first_assignment_three_members_three_topics_different_subscriptions(self) -> None:
        """Each topic is cut among its own subscribers, in member order."""
        members = {
            "A": member([TOPIC1, TOPIC2]),
            "B": member([TOPIC3]),
            "C": member([TOPIC2, TOPIC3]),
        }
        result = RANGE.assign(group(members, False), Topics({TOPIC1: 3, TOPIC2: 3, TOPIC3: 2}))
        self.assertEqual(
            plain(result),
            {
                "A": {TOPIC1: {0, 1, 2}, TOPIC2: {0, 1}},
                "B": {TOPIC3: {0}},
                "C": {TOPIC2: {2}, TOPIC3: {1}},
            },
        )

    def test_first_assignment_more_members_than_partitions(self) -> None:
        """The last member gets nothing of the topic with too few partitions."""
        members = {m: member([TOPIC1, TOPIC3]) for m in "ABC"}
        result = RANGE.assign(group(members, True), Topics({TOPIC1: 3, TOPIC3: 2}))
        self.assertEqual(
            plain(result),
            {"A": {TOPIC1: {0}, TOPIC3: {0}}, "B": {TOPIC1: {1}, TOPIC3: {1}}, "C": {TOPIC1: {2}}},
        )

    def test_static_membership(self) -> None:
        """A static member back under a new member id gets its ranges back."""
        topics = Topics({TOPIC1: 3})
        members = {
            "A": member([TOPIC1], instance_id="instanceA"),
            "B": member([TOPIC1], instance_id="instanceB"),
        }
        first = RANGE.assign(group(members, True), topics)
        del members["A"]
        members["memberA1"] = member([TOPIC1], instance_id="instanceA")
        second = RANGE.assign(group(members, True), topics)
        self.assertEqual(plain(second)["memberA1"], plain(first)["A"])
        self.assertEqual(plain(second)["B"], plain(first)["B"])

    def test_mixed_static_membership(self) -> None:
        """Static members sort before dynamic ones, so a rejoin moves nothing."""
        topics = Topics({TOPIC1: 5})
        members = {
            "A": member([TOPIC1], instance_id="instanceA"),
            "C": member([TOPIC1], instance_id="instanceC"),
            "B": member([TOPIC1]),
        }
        first = RANGE.assign(group(members, True), topics)
        del members["A"]
        members["memberA1"] = member([TOPIC1], instance_id="instanceA")
        second = RANGE.assign(group(members, True), topics)
        self.assertEqual(plain(second)["memberA1"], plain(first)["A"])
        self.assertEqual(plain(second)["B"], plain(first)["B"])
        self.assertEqual(plain(second)["C"], plain(first)["C"])
        self.assertEqual(plain(first)["B"], {TOPIC1: {4}})

    def test_reassignment_more_members_than_partitions_when_one_member_added(self) -> None:
        """A third member of two-partition topics gets nothing."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC1: [0], TOPIC2: [0]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [1], TOPIC2: [1]}),
            "C": member([TOPIC1, TOPIC2]),
        }
        result = RANGE.assign(group(members, True), Topics({TOPIC1: 2, TOPIC2: 2}))
        self.assertEqual(
            plain(result),
            {"A": {TOPIC1: {0}, TOPIC2: {0}}, "B": {TOPIC1: {1}, TOPIC2: {1}}, "C": {}},
        )

    def test_reassignment_when_one_partition_added(self) -> None:
        """A fourth partition per topic makes both ranges two long."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC1: [0, 1], TOPIC2: [0, 1]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [2], TOPIC2: [2]}),
        }
        result = RANGE.assign(group(members, True), Topics({TOPIC1: 4, TOPIC2: 4}))
        self.assertEqual(
            plain(result),
            {"A": {TOPIC1: {0, 1}, TOPIC2: {0, 1}}, "B": {TOPIC1: {2, 3}, TOPIC2: {2, 3}}},
        )

    def test_reassignment_when_one_member_added(self) -> None:
        """Three members of three-partition topics get one partition number each."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC1: [0, 1], TOPIC2: [0, 1]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [2], TOPIC2: [2]}),
            "C": member([TOPIC1, TOPIC2]),
        }
        result = RANGE.assign(group(members, True), Topics({TOPIC1: 3, TOPIC2: 3}))
        self.assertEqual(
            plain(result),
            {
                "A": {TOPIC1: {0}, TOPIC2: {0}},
                "B": {TOPIC1: {1}, TOPIC2: {1}},
                "C": {TOPIC1: {2}, TOPIC2: {2}},
            },
        )

    def test_reassignment_when_one_member_and_one_partition_added(self) -> None:
        """A member subscribed to T1 only takes T1's last range."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC1: [0, 1], TOPIC2: [0, 1]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [2], TOPIC2: [2]}),
            "C": member([TOPIC1]),
        }
        result = RANGE.assign(group(members, False), Topics({TOPIC1: 4, TOPIC2: 3}))
        self.assertEqual(
            plain(result),
            {
                "A": {TOPIC1: {0, 1}, TOPIC2: {0, 1}},
                "B": {TOPIC1: {2}, TOPIC2: {2}},
                "C": {TOPIC1: {3}},
            },
        )

    def test_reassignment_when_one_member_removed(self) -> None:
        """The remaining member takes every partition."""
        members = {"B": member([TOPIC1, TOPIC2], {TOPIC1: [2], TOPIC2: [2]})}
        result = RANGE.assign(group(members, True), Topics({TOPIC1: 3, TOPIC2: 3}))
        self.assertEqual(plain(result), {"B": {TOPIC1: {0, 1, 2}, TOPIC2: {0, 1, 2}}})

    def test_reassignment_when_multiple_subscriptions_removed(self) -> None:
        """Changed subscriptions re-cut every topic among its new subscribers."""
        members = {
            "A": member([TOPIC1], {TOPIC1: [0, 1, 2], TOPIC2: [0]}),
            "B": member([TOPIC1, TOPIC2, TOPIC3], {TOPIC2: [1]}),
            "C": member([TOPIC2], {TOPIC2: [2], TOPIC3: [0, 1]}),
        }
        result = RANGE.assign(group(members, False), Topics({TOPIC1: 3, TOPIC2: 3, TOPIC3: 2}))
        self.assertEqual(
            plain(result),
            {
                "A": {TOPIC1: {0, 1}},
                "B": {TOPIC1: {2}, TOPIC2: {0, 1}, TOPIC3: {0, 1}},
                "C": {TOPIC2: {2}},
            },
        )
