"""Server-side assignor benchmark: how long C{uniform} and C{range} take on a large group.

Run: .venv/bin/python bench/bench_assignors.py [--members N] [--partitions P]
     [--topics T] [--runs R]

For each assignor, times (best of R runs, milliseconds) on N members and P
partitions spread over T topics:

- first: every member subscribed to every topic, nobody holding anything;
- steady: the same group again, holding the first result (nothing moves);
- join: one more member;
- leave: the first result without its first member;
- hetero: members subscribed to overlapping halves of the topics
  (the uniform assignor's heterogeneous builder).

Prints one line per (assignor, case).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Mapping
from functools import partial

from attrs import frozen

from kafkatwist.groups.assignors import ASSIGNORS
from kafkatwist.groups.assignors.spec import (
    Assignment,
    GroupSpec,
    MemberSubscription,
    SubscriptionType,
)


@frozen
class Topics:
    """Partition counts by topic id; no racks."""

    counts: Mapping[uuid.UUID, int]

    def partition_count(self, topic_id: uuid.UUID) -> int:
        """The topic's partition count, -1 when unknown."""
        return self.counts.get(topic_id, -1)

    def racks_for_partition(self, topic_id: uuid.UUID, partition: int) -> frozenset[str]:
        """No racks."""
        return frozenset()


def spec(
    subscriptions: Mapping[str, frozenset[uuid.UUID]], held: Mapping[str, Assignment]
) -> GroupSpec:
    """A group of members with these subscriptions and current assignments."""
    first = next(iter(subscriptions.values()))
    same = all(s == first for s in subscriptions.values())
    members = {
        m: MemberSubscription(rack_id=None, subscribed_topic_ids=s, assignment=held.get(m, {}))
        for m, s in subscriptions.items()
    }
    kind = SubscriptionType.HOMOGENEOUS if same else SubscriptionType.HETEROGENEOUS
    return GroupSpec(members=members, subscription_type=kind)


def best_ms(runs: int, work: Callable[[], object]) -> float:
    """The best wall time of C{runs} calls, in milliseconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    """Time every assignor on every case and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    topic_ids = [uuid.UUID(int=i + 1) for i in range(args.topics)]
    per_topic, rest = divmod(args.partitions, args.topics)
    topics = Topics({t: per_topic + (1 if i < rest else 0) for i, t in enumerate(topic_ids)})
    everything = frozenset(topic_ids)
    members = {f"member-{i:04d}": everything for i in range(args.members)}
    half = len(topic_ids) // 2 or 1
    hetero = {
        m: frozenset(topic_ids[(i * half // 3) % len(topic_ids) :][:half] or topic_ids[:half])
        for i, m in enumerate(members)
    }
    joined = dict(members) | {"member-new": everything}
    left = dict(list(members.items())[1:])
    for name, assignor in ASSIGNORS.items():
        first = assignor.assign(spec(members, {}), topics)
        cases = {
            "first": spec(members, {}),
            "steady": spec(members, first),
            "join": spec(joined, first),
            "leave": spec(left, first),
            "hetero": spec(hetero, {}),
        }
        for case, group in cases.items():
            ms = best_ms(args.runs, partial(assignor.assign, group, topics))
            size = f"{args.members} members {args.partitions} partitions"
            print(f"{name:8} {case:7} {size}: {ms:8.2f} ms")


if __name__ == "__main__":
    main()
