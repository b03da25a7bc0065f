"""kafkajs (Node.js) against a loopback kafkatwist broker.

The client is pinned by tests/integration/node/package.json and
package-lock.json; test.sh installs it with ``npm ci``. The script
node/kafkajs_roundtrip.js prints one JSON object describing what it did.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted

from tests.brokers import log_of
from tests.integration.harness import (
    RunningBroker,
    run_kafkajs,
)

SCRIPT = "kafkajs_roundtrip.js"
#: What a kafkajs consumer needs: a group (FindCoordinator, JoinGroup, SyncGroup,
#: Heartbeat, LeaveGroup, OffsetFetch, OffsetCommit) and ListOffsets for fromBeginning.
GROUP_APIS = (10, 11, 14, 12, 13, 9, 8, 2)


async def run_roundtrip(broker: RunningBroker, topic: str, mode: str) -> Any:
    """kafkajs_roundtrip.js in C{mode} (produce, roundtrip): what it did."""
    return await run_kafkajs(SCRIPT, [broker.bootstrap, topic, mode])


def expected_sends() -> dict[str, Any]:
    # Message n goes to partition n % 3: 10 plain messages, then 10 in one GZIP batch per partition.
    return {
        "send_0": [{"partition": p, "errorCode": 0, "baseOffset": "0"} for p in range(3)],
        "send_1": [
            {"partition": 0, "errorCode": 0, "baseOffset": "4"},
            {"partition": 1, "errorCode": 0, "baseOffset": "3"},
            {"partition": 2, "errorCode": 0, "baseOffset": "3"},
        ],
    }


@pytest_twisted.ensureDeferred
async def test_admin_and_producer(broker: RunningBroker, topic_name: str) -> None:
    """kafkajs creates, grows and deletes topics, reads metadata, produces plain and GZIP."""
    out = await run_roundtrip(broker, topic_name, "produce")
    assert out["created"] is True
    assert out["duplicate"] is False  # kafkajs's answer to TOPIC_ALREADY_EXISTS
    assert out["partitions"] == [{"partition": p, "leader": 1} for p in range(3)]
    assert out["topics"] == [topic_name]
    assert out["scratch_partitions"] == 4  # createPartitions from 1 to 4
    assert out["topics_after_delete"] == [topic_name]  # deleteTopics
    assert {k: out[k] for k in ("send_0", "send_1")} == expected_sends()
    assert out["sent"] == 20
    assert [log_of(broker.broker, topic_name, p).log_end_offset for p in range(3)] == [7, 7, 6]


@pytest_twisted.ensureDeferred
async def test_consume_back(broker: RunningBroker, topic_name: str) -> None:
    """A kafkajs consumer group reads back every message with its key, value and headers."""
    out = await run_roundtrip(broker, topic_name, "roundtrip")
    received = [(m["partition"], m["key"], m["value"], m["headers"]) for m in out["received"]]
    assert received == sorted(
        ((n % 3, f"key-{n}", f"value-{n}", {"n": str(n)}) for n in range(20)), key=lambda m: m[0]
    )
