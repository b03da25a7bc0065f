"""
The C{uniform} assignor on heterogeneous groups: Kafka's UniformHeterogeneousAssignmentBuilderTest.

Inputs and expected target assignments are Kafka's, with its topic ids and
its sorted member order (its C{TestGroupSpecImpl}). Kafka answers an empty
map where nobody subscribes; our L{Assignor} contract names every member,
with an empty assignment.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.groups.assignors import ASSIGNORS
from kafkatwist.groups.assignors.spec import PartitionAssignorError
from tests.groups.assignors.support import (
    TOPIC1,
    TOPIC2,
    TOPIC3,
    TOPIC4,
    Topics,
    group,
    member,
    plain,
    problems,
)

UNIFORM = ASSIGNORS["uniform"]


class UniformHeterogeneousTests(SynchronousTestCase):
    def test_two_members_no_topic_subscription(self) -> None:
        """Members subscribed to nothing get nothing."""
        spec = group({"A": member([]), "B": member([])}, homogeneous=False)
        self.assertEqual(plain(UNIFORM.assign(spec, Topics({TOPIC1: 3}))), {"A": {}, "B": {}})

    def test_two_members_subscribed_to_nonexistent_topics(self) -> None:
        """A subscription to an unknown topic is a PartitionAssignorException."""
        spec = group({"A": member([TOPIC3]), "B": member([TOPIC2])}, homogeneous=False)
        self.assertRaises(PartitionAssignorError, UNIFORM.assign, spec, Topics({TOPIC1: 3}))

    def test_first_assignment_two_members_two_topics(self) -> None:
        """T3 (6 partitions, 2 subscribers) goes first; B evens out with T3's partitions."""
        members = {"A": member([TOPIC1, TOPIC3]), "B": member([TOPIC3])}
        result = UNIFORM.assign(group(members, False), Topics({TOPIC1: 3, TOPIC3: 6}))
        self.assertEqual(
            plain(result), {"A": {TOPIC1: {0, 1, 2}, TOPIC3: {4}}, "B": {TOPIC3: {0, 1, 2, 3, 5}}}
        )

    def test_first_assignment_more_members_than_partitions(self) -> None:
        """T3's single partition goes to A; B gets nothing; C takes T1."""
        members = {"A": member([TOPIC3]), "B": member([TOPIC3]), "C": member([TOPIC1])}
        result = UNIFORM.assign(group(members, False), Topics({TOPIC3: 1, TOPIC1: 2}))
        self.assertEqual(plain(result), {"A": {TOPIC3: {0}}, "B": {}, "C": {TOPIC1: {0, 1}}})

    def test_reassignment_three_topics_given_unbalanced_previous_assignment(self) -> None:
        """Partitions move from the most to the least loaded subscribers of each topic."""
        members = {
            "A": member([TOPIC1], {TOPIC1: [0, 1, 2]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [3], TOPIC2: [0]}),
            "C": member(
                [TOPIC1, TOPIC2, TOPIC3], {TOPIC1: [4, 5], TOPIC2: [1, 2, 3], TOPIC3: [0, 1, 2, 3]}
            ),
        }
        result = UNIFORM.assign(group(members, False), Topics({TOPIC1: 6, TOPIC2: 4, TOPIC3: 4}))
        self.assertEqual(
            plain(result),
            {
                "A": {TOPIC1: {0, 1, 2, 5}},
                "B": {TOPIC1: {3}, TOPIC2: {0, 1, 2, 3}},
                "C": {TOPIC1: {4}, TOPIC3: {0, 1, 2, 3}},
            },
        )
        self.assertEqual(problems(members, result), [])

    def test_reassignment_when_partitions_are_added(self) -> None:
        """New partitions go to the members subscribed to their topics."""
        members = {
            "A": member([TOPIC1, TOPIC3], {TOPIC1: [0, 1, 2, 3], TOPIC3: [0, 1]}),
            "B": member([TOPIC1, TOPIC2, TOPIC3, TOPIC4], {TOPIC2: [0, 1, 2], TOPIC4: [0, 1, 2]}),
        }
        result = UNIFORM.assign(
            group(members, False), Topics({TOPIC1: 6, TOPIC2: 5, TOPIC3: 3, TOPIC4: 3})
        )
        self.assertEqual(
            plain(result),
            {
                "A": {TOPIC1: {0, 1, 2, 3, 4, 5}, TOPIC3: {0, 1, 2}},
                "B": {TOPIC2: {0, 1, 2, 3, 4}, TOPIC4: {0, 1, 2}},
            },
        )

    def test_reassignment_when_one_member_and_partitions_added(self) -> None:
        """A new member and new partitions: A drops the unsubscribed T2 and keeps T1."""
        members = {
            "A": member([TOPIC1], {TOPIC1: [0, 2], TOPIC2: [0]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [1], TOPIC2: [1, 2]}),
            "C": member([TOPIC1, TOPIC2]),
        }
        result = UNIFORM.assign(group(members, False), Topics({TOPIC1: 6, TOPIC2: 7}))
        self.assertEqual(
            plain(result),
            {
                "A": {TOPIC1: {0, 2, 3, 4, 5}},
                "B": {TOPIC1: {1}, TOPIC2: {1, 2, 6}},
                "C": {TOPIC2: {0, 3, 4, 5}},
            },
        )
        self.assertEqual(problems(members, result), [])

    def test_reassignment_when_one_member_removed(self) -> None:
        """The departed member's partitions go to the subscribers of their topics."""
        members = {
            "A": member([TOPIC1, TOPIC3], {TOPIC1: [0, 1, 2], TOPIC3: [0, 1]}),
            "B": member([TOPIC2], {TOPIC2: [3, 4, 5, 6]}),
        }
        result = UNIFORM.assign(group(members, False), Topics({TOPIC1: 3, TOPIC2: 8, TOPIC3: 3}))
        self.assertEqual(
            plain(result),
            {"A": {TOPIC1: {0, 1, 2}, TOPIC3: {0, 1, 2}}, "B": {TOPIC2: set(range(8))}},
        )

    def test_reassignment_when_one_subscription_removed(self) -> None:
        """A member that drops T2 gives its T2 partitions up and takes T1's."""
        members = {
            "A": member([TOPIC1], {TOPIC1: [0, 2], TOPIC2: [1, 3]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [1], TOPIC2: [0, 2, 4]}),
        }
        result = UNIFORM.assign(group(members, False), Topics({TOPIC1: 3, TOPIC2: 5}))
        self.assertEqual(plain(result), {"A": {TOPIC1: {0, 1, 2}}, "B": {TOPIC2: {0, 1, 2, 3, 4}}})

    def test_reassignment_when_topic_partitions_run_out(self) -> None:
        """Balancing stops on a topic when the most loaded member has none of its left."""
        members = {
            "A": member([TOPIC1, TOPIC2, TOPIC3], {TOPIC1: [0, 1], TOPIC2: [0, 1], TOPIC3: [0, 1]}),
            "B": member([TOPIC1, TOPIC2, TOPIC3]),
        }
        result = UNIFORM.assign(group(members, False), Topics({TOPIC1: 2, TOPIC2: 2, TOPIC3: 2}))
        self.assertEqual(
            plain(result), {"A": {TOPIC2: {0}, TOPIC3: {0, 1}}, "B": {TOPIC1: {0, 1}, TOPIC2: {1}}}
        )
        self.assertEqual(problems(members, result), [])

    def test_first_assignment_with_one_member_without_subscriptions(self) -> None:
        """The member with no subscription gets nothing; the other gets every partition."""
        members = {"A": member([TOPIC1]), "B": member([])}
        result = UNIFORM.assign(group(members, False), Topics({TOPIC1: 3}))
        self.assertEqual(plain(result), {"A": {TOPIC1: {0, 1, 2}}, "B": {}})

    def test_overlapping_subscriptions_stay_valid(self) -> None:
        """Many members with overlapping subscriptions: each partition once, to a subscriber."""
        topics = {TOPIC1: 7, TOPIC2: 11, TOPIC3: 5, TOPIC4: 13}
        subs = [
            [TOPIC1, TOPIC2],
            [TOPIC2, TOPIC3],
            [TOPIC3, TOPIC4],
            [TOPIC4, TOPIC1],
            [TOPIC1, TOPIC2, TOPIC3, TOPIC4],
        ]
        members = {f"m{i}": member(subs[i % len(subs)]) for i in range(12)}
        result = UNIFORM.assign(group(members, False), Topics(topics))
        owned = [(t, p) for a in result.values() for t, ps in a.items() for p in ps]
        self.assertEqual(sorted(owned), sorted((t, p) for t, n in topics.items() for p in range(n)))
        self.assertEqual([p for p in problems(members, result) if "unbalanced" not in p], [])
