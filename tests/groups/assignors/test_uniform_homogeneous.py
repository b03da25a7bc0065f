"""
The C{uniform} assignor on homogeneous groups: Kafka's UniformHomogeneousAssignmentBuilderTest.

Each scenario's inputs and expected target assignment are those of Kafka's
test (C{OptimizedUniformAssignmentBuilderTest} before its 3.8 rename), with
its topic ids; members are given in Kafka's C{TreeMap} order.
"""

from __future__ import annotations

import random
import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.groups.assignors import ASSIGNORS
from kafkatwist.groups.assignors.spec import Assignment, PartitionAssignorError
from tests.groups.assignors.support import (
    TOPIC1,
    TOPIC2,
    TOPIC3,
    Topics,
    group,
    member,
    plain,
    problems,
)

UNIFORM = ASSIGNORS["uniform"]


class UniformHomogeneousTests(SynchronousTestCase):
    def test_registry_order(self) -> None:
        """uniform comes first, as in Kafka's default group.consumer.assignors = uniform,range."""
        self.assertEqual(list(ASSIGNORS), ["uniform", "range"])
        self.assertEqual([a.name for a in ASSIGNORS.values()], ["uniform", "range"])

    def test_one_member_no_topic_subscription(self) -> None:
        """A member subscribed to nothing gets nothing."""
        spec = group({"A": member([])}, homogeneous=True)
        self.assertEqual(plain(UNIFORM.assign(spec, Topics({TOPIC1: 3}))), {"A": {}})

    def test_one_member_subscribed_to_nonexistent_topic(self) -> None:
        """A subscription to a topic the describer does not know is a PartitionAssignorException."""
        spec = group({"A": member([TOPIC2])}, homogeneous=True)
        self.assertRaises(PartitionAssignorError, UNIFORM.assign, spec, Topics({TOPIC1: 3}))

    def test_first_assignment_two_members_two_topics(self) -> None:
        """The first assignment hands partitions out in Kafka's HashSet order (T3 before T1)."""
        members = {"A": member([TOPIC1, TOPIC3]), "B": member([TOPIC1, TOPIC3])}
        result = UNIFORM.assign(group(members, True), Topics({TOPIC1: 3, TOPIC3: 2}))
        self.assertEqual(plain(result), {"A": {TOPIC1: {0}, TOPIC3: {0, 1}}, "B": {TOPIC1: {1, 2}}})
        self.assertEqual(problems(members, result), [])

    def test_first_assignment_more_members_than_partitions(self) -> None:
        """With two partitions and three members, the last member gets nothing."""
        members = {m: member([TOPIC3]) for m in "ABC"}
        result = UNIFORM.assign(group(members, True), Topics({TOPIC3: 2}))
        self.assertEqual(plain(result), {"A": {TOPIC3: {0}}, "B": {TOPIC3: {1}}, "C": {}})
        self.assertEqual(problems(members, result), [])

    def test_validity_and_balance_for_large_sample_set(self) -> None:
        """99 topics of 3 partitions over 49 members: valid and balanced."""
        topics = {uuid.UUID(int=i * 7919 + 1): 3 for i in range(1, 100)}
        members = {f"member{i}": member(topics) for i in range(1, 50)}
        result = UNIFORM.assign(group(dict(sorted(members.items())), True), Topics(topics))
        self.assertEqual(problems(members, result), [])
        self.assertEqual(sum(len(p) for a in result.values() for p in a.values()), 297)

    def test_reassignment_given_unbalanced_previous_assignment(self) -> None:
        """A member over its quota gives up its last partitions to the one under it."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC1: [0, 1], TOPIC2: [0, 1]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [2], TOPIC2: [2]}),
        }
        result = UNIFORM.assign(group(members, True), Topics({TOPIC1: 3, TOPIC2: 3}))
        self.assertEqual(
            plain(result), {"A": {TOPIC1: {0, 1}, TOPIC2: {0}}, "B": {TOPIC1: {2}, TOPIC2: {1, 2}}}
        )
        self.assertEqual(problems(members, result), [])

    def test_reassignment_when_partitions_are_added(self) -> None:
        """New partitions go to the members under quota; nobody loses one."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC1: [0, 2], TOPIC2: [0]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [1], TOPIC2: [1, 2]}),
        }
        result = UNIFORM.assign(group(members, True), Topics({TOPIC1: 6, TOPIC2: 5}))
        self.assertEqual(
            plain(result),
            {"A": {TOPIC1: {0, 2, 3}, TOPIC2: {0, 3, 4}}, "B": {TOPIC1: {1, 4, 5}, TOPIC2: {1, 2}}},
        )
        self.assertEqual(problems(members, result), [])

    def test_reassignment_when_one_member_added(self) -> None:
        """A new member takes the partitions the others hold over their new quota."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC1: [0, 2], TOPIC2: [0]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC1: [1], TOPIC2: [1, 2]}),
            "C": member([TOPIC1, TOPIC2]),
        }
        result = UNIFORM.assign(group(members, True), Topics({TOPIC1: 3, TOPIC2: 3}))
        self.assertEqual(
            plain(result),
            {"A": {TOPIC1: {0, 2}}, "B": {TOPIC1: {1}, TOPIC2: {1}}, "C": {TOPIC2: {0, 2}}},
        )
        self.assertEqual(problems(members, result), [])

    def test_reassignment_when_one_member_removed(self) -> None:
        """The partitions of a departed member go to the others, in topic order."""
        members = {
            "A": member([TOPIC1, TOPIC2], {TOPIC2: [0], TOPIC1: [0]}),
            "B": member([TOPIC1, TOPIC2], {TOPIC2: [1], TOPIC1: [1]}),
        }
        result = UNIFORM.assign(group(members, True), Topics({TOPIC1: 3, TOPIC2: 3}))
        self.assertEqual(
            plain(result), {"A": {TOPIC1: {0}, TOPIC2: {0, 2}}, "B": {TOPIC1: {1, 2}, TOPIC2: {1}}}
        )
        self.assertEqual(problems(members, result), [])

    def test_reassignment_when_one_subscription_removed(self) -> None:
        """Partitions of a topic no longer subscribed to are dropped."""
        members = {
            "A": member([TOPIC2], {TOPIC2: [0], TOPIC1: [0]}),
            "B": member([TOPIC2], {TOPIC2: [1], TOPIC1: [1]}),
        }
        result = UNIFORM.assign(group(members, True), Topics({TOPIC1: 2, TOPIC2: 2}))
        self.assertEqual(plain(result), {"A": {TOPIC2: {0}}, "B": {TOPIC2: {1}}})
        self.assertEqual(problems(members, result), [])

    def test_unchanged_assignment_is_returned_as_is(self) -> None:
        """A member whose partitions do not change gets back the very mapping it had."""
        members = {
            "A": member([TOPIC1], {TOPIC1: [0, 1]}),
            "B": member([TOPIC1], {TOPIC1: [2]}),
        }
        result = UNIFORM.assign(group(members, True), Topics({TOPIC1: 3}))
        self.assertIs(result["A"], members["A"].assignment)
        self.assertIs(result["B"], members["B"].assignment)


class ChurnTests(SynchronousTestCase):
    def test_members_come_and_go(self) -> None:
        """Through 40 random joins and leaves, every assignment is complete, valid and balanced."""
        rng = random.Random(848)
        topics = Topics({uuid.UUID(int=i + 1): rng.randint(1, 40) for i in range(6)})
        total = sum(topics.counts.values())
        held: dict[str, Assignment] = {}
        next_id = 0
        for _ in range(40):
            if held and rng.random() < 0.4:
                del held[rng.choice(sorted(held))]
            else:
                held[f"m{next_id:03d}"] = {}
                next_id += 1
            if not held:
                continue
            members = {m: member(topics.counts, a) for m, a in held.items()}
            before = {(t, p): m for m, a in held.items() for t, ps in a.items() for p in ps}
            result = UNIFORM.assign(group(members, True), topics)
            self.assertEqual(problems(members, result), [])
            owned = [(t, p) for a in result.values() for t, ps in a.items() for p in ps]
            self.assertEqual(len(owned), total)
            self.assertEqual(len(set(owned)), total)
            # Sticky: a member keeps everything it held up to its quota.
            quota = -(-total // len(members))
            for m, a in result.items():
                kept = sum(
                    1 for (t, p), owner in before.items() if owner == m and p in a.get(t, ())
                )
                had = sum(1 for owner in before.values() if owner == m)
                self.assertGreaterEqual(kept, min(had, quota - 1))
            held = dict(result)

    def test_heterogeneous_churn_stays_valid(self) -> None:
        """Random subscriptions over several rounds: complete and valid every time."""
        rng = random.Random(1071)
        ids = [uuid.UUID(int=i + 1) for i in range(5)]
        topics = Topics({t: rng.randint(1, 30) for t in ids})
        held: dict[str, Assignment] = {}
        for round_ in range(25):
            subs = {f"m{i}": rng.sample(ids, rng.randint(1, 5)) for i in range(rng.randint(1, 12))}
            members = {m: member(s, held.get(m)) for m, s in subs.items()}
            result = UNIFORM.assign(group(members, False), topics)
            self.assertEqual(
                [p for p in problems(members, result) if "unbalanced" not in p], [], round_
            )
            wanted = {t for s in subs.values() for t in s}
            owned = sorted((t, p) for a in result.values() for t, ps in a.items() for p in ps)
            self.assertEqual(owned, sorted((t, p) for t in wanted for p in range(topics.counts[t])))
            held = dict(result)
