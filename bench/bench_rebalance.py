# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Rebalance time: 3 confluent-kafka consumers joining a 12-partition topic.

Run: /work/venv/bin/python bench/bench_rebalance.py [rounds]

An in-process broker listens on 127.0.0.1 (memory logs); the consumers run in
one client thread that polls them in turn (librdkafka serves rebalances from
poll). Measured from the moment the three consumers subscribe until each of
them owns 4 partitions and together they own the 12 exactly once; then the
time for a fourth consumer joining the running group (until all four own 3).
Both with ``group.initial.rebalance.delay.ms=0`` and with Kafka's default of
3000 ms, which only delays the first rebalance of an empty group.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import reactor as _reactor  # noqa: E402
from twisted.internet import threads  # noqa: E402
from twisted.internet.defer import ensureDeferred  # noqa: E402

from kafkatwist.config.properties import BrokerConfig  # noqa: E402
from kafkatwist.transport.service import BrokerService  # noqa: E402

reactor: Any = _reactor
TOPIC = "bench"
PARTITIONS = 12


def consumers(bootstrap: str, group: str, strategy: str, n: int) -> list[Any]:
    from confluent_kafka import Consumer

    out = []
    for i in range(n):
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": f"bench-{i}",
                "partition.assignment.strategy": strategy,
                "enable.auto.commit": False,
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 500,
            }
        )
        out.append(c)
    return out


def wait_balanced(members: list[Any], per_member: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owned = []
        for c in members:
            c.poll(0.005)
            owned.append(sorted(tp.partition for tp in c.assignment()))
        flat = sorted(p for ps in owned for p in ps)
        if flat == list(range(PARTITIONS)) and all(len(ps) == per_member for ps in owned):
            return
    raise AssertionError("no balanced assignment")


def one_round(bootstrap: str, group: str, strategy: str) -> tuple[float, float]:
    from confluent_kafka import TopicPartition

    group_consumers = consumers(bootstrap, group, strategy, 4)
    # Committed offsets up front: no offset reset (ListOffsets) in the measurement.
    group_consumers[0].commit(
        offsets=[TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)], asynchronous=False
    )
    three, fourth = group_consumers[:3], group_consumers[3]
    start = time.monotonic()
    for c in three:
        c.subscribe([TOPIC])
    wait_balanced(three, 4)
    joined = time.monotonic() - start
    start = time.monotonic()
    fourth.subscribe([TOPIC])
    wait_balanced(group_consumers, 3)
    grown = time.monotonic() - start
    for c in group_consumers:
        c.close()
    return joined, grown


def run(bootstrap: str, rounds: int, label: str) -> list[str]:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(timeout=10)
    lines = []
    for strategy in ("range", "cooperative-sticky"):
        samples = [one_round(bootstrap, f"{label}-{strategy}-{i}", strategy) for i in range(rounds)]
        joined = [s[0] for s in samples]
        grown = [s[1] for s in samples]
        lines.append(
            f"{label:>18} {strategy:>18}: 3 join {statistics.median(joined) * 1000:7.0f} ms "
            f"(min {min(joined) * 1000:.0f}, max {max(joined) * 1000:.0f}); "
            f"+1 join {statistics.median(grown) * 1000:7.0f} ms "
            f"(min {min(grown) * 1000:.0f}, max {max(grown) * 1000:.0f})"
        )
    return lines


async def main(rounds: int) -> None:
    report = []
    for delay in (0, 3000):
        props = {
            "log.dirs": tempfile.mkdtemp(prefix="bench-rebalance-"),
            "node.id": "1",
            "process.roles": "broker,controller",
            "listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
            "controller.listener.names": "CONTROLLER",
            "group.initial.rebalance.delay.ms": str(delay),
            "offsets.topic.num.partitions": "50",
        }
        service = BrokerService(
            BrokerConfig.from_properties(props), "tcp:0:interface=127.0.0.1", reactor
        )
        service.startService()
        port = await service.ready
        try:
            bootstrap = f"127.0.0.1:{port.getHost().port}"
            report += await threads.deferToThread(run, bootstrap, rounds, f"initial delay {delay}")
        finally:
            await service.stopService()
    print(f"median of {rounds} rounds")
    print("\n".join(report))


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5

    async def go() -> None:
        try:
            await main(rounds)
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(go()))
    reactor.run()
