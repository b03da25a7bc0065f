"""
The Java client 4.3 at the newest versions this broker serves (Kafka 4.3's).

kafka-clients 4.3 picks, for each API, the highest version both sides know,
and its newest versions (C{ApiKeys.latestVersion}) are the ones this broker
serves: the classic consumer's Fetch goes out at v18 and Metadata at v13.
Its OffsetCommit and OffsetFetch stop at v9: the classic
C{ConsumerCoordinator} (and the admin client) build them by topic name
(C{Builder.forTopicNames}); only the KIP-848 consumer (C{CommitRequestManager},
C{group.protocol=consumer}) names topics by id at v10. So v10 is driven
through Kafka's own request and response classes on a socket
(C{TopicIdOffsets.java}). The admin client's C{OffsetSpec.earliestPendingUpload}
needs ListOffsets v11 and C{includeFencedBrokers} DescribeCluster v2: the
client refuses them against an older broker, so their answers show those
versions were used.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest_twisted

from kafkatwist.apis import REGISTRY
from kafkatwist.errors import ErrorCode
from tests.integration.harness import (
    RunningBroker,
    run_java,
)

JAVA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java")
#: Kafka's names (C{ApiKeys.name}) of the APIs the program reports, by API key.
JAVA_NAMES = {
    8: "OffsetCommit",
    9: "OffsetFetch",
    3: "Metadata",
    1: "Fetch",
    2: "ListOffsets",
    60: "DescribeCluster",
}


async def run_java_split(program: str, args: list[str], classes: str) -> list[list[str]]:
    """Compile C{program}.java into C{classes}, run it with C{args}; its output lines, split."""
    return [line.split() for line in await run_java(program, args, classes)]


@pytest_twisted.ensureDeferred
async def test_java_client_newest_versions(
    broker: RunningBroker, topic_name: str, tmp_path: Any
) -> None:
    """A Java consumer group reads, commits and fetches offsets; the admin lists offsets (v11)."""
    await broker.broker.controller.create_topic(topic_name, 2)
    lines = await run_java_split(
        "NewestVersions", [broker.bootstrap, topic_name, "g-newest"], str(tmp_path / "classes")
    )
    assert lines[-1] == ["DONE"]
    served = {spec.api_key: spec.versions.highest for spec in REGISTRY}
    latest = {line[1]: int(line[2]) for line in lines if line[0] == "LATEST"}
    assert latest == {name: served[key] for key, name in JAVA_NAMES.items()}
    read = sorted(
        (int(p), int(o), v) for kind, p, o, v in (x for x in lines if len(x) == 4) if kind == "READ"
    )
    assert read == [(0, 0, "a0"), (0, 1, "a1"), (0, 2, "a2"), (1, 0, "b0"), (1, 1, "b1")]
    committed = {
        int(p): int(o) for kind, p, o in (x for x in lines if len(x) == 3) if kind == "COMMITTED"
    }
    assert committed == {0: 3, 1: 1}
    listed = {
        (spec, int(p)): int(o)
        for kind, spec, p, o in (x for x in lines if len(x) == 4)
        if kind == "LISTED"
    }
    assert listed == {
        ("latest", 0): 3,
        ("latest", 1): 2,
        ("earliest", 0): 0,
        ("earliest", 1): 0,
        ("max", 0): 2,
        ("max", 1): 1,
        ("pending", 0): -1,
        ("pending", 1): -1,
    }
    brokers = [x[1:] for x in lines if x[0] == "BROKER"]
    assert brokers == [[str(broker.broker.node_id), "false"]]
    # The commit went to the group's offsets by topic name, as Kafka stores them.
    coordinator = broker.broker.groups
    _, offsets = coordinator.offsets.fetch_offsets("g-newest", [(topic_name, (0, 1))])
    assert [(p, om.offset if om else None) for _, parts in offsets for p, om in parts] == [
        (0, 3),
        (1, 1),
    ]


@pytest_twisted.ensureDeferred
async def test_java_classes_offsets_by_topic_id(
    broker: RunningBroker, topic_name: str, tmp_path: Any
) -> None:
    """Kafka's own classes commit and fetch offsets by topic id (v10) and describe groups (v6)."""
    await broker.broker.controller.create_topic(topic_name, 2)
    topic_id = broker.broker.metadata.image.topics[topic_name].topic_id
    lines = await run_java_split(
        "TopicIdOffsets",
        [broker.host, str(broker.port), topic_name, "g-ids"],
        str(tmp_path / "classes"),
    )
    assert lines[-1] == ["DONE"]
    ((_, error, topic_error, listed_id),) = [x for x in lines if x[0] == "METADATA"]
    assert (error, topic_error) == ("0", "0")
    # Kafka's Uuid prints as URL-safe base64 without padding.
    assert base64.urlsafe_b64decode(listed_id + "==") == topic_id.bytes
    assert [x[1:] for x in lines if x[0] == "COMMIT"] == [
        ["known", "0", "0"],
        ["known", "1", "0"],
        ["unknown", "0", str(int(ErrorCode.UNKNOWN_TOPIC_ID))],
    ]
    assert [x[1:] for x in lines if x[0] == "FETCH"] == [
        ["known", "0", "3", "m0", "0"],
        ["known", "1", "1", "-", "0"],
        ["unknown", "0", "-1", "-", str(int(ErrorCode.UNKNOWN_TOPIC_ID))],
    ]
    assert [x[1:] for x in lines if x[0] == "DESCRIBE"] == [
        ["g-ids", "0", "-"],
        ["no-such-group", str(int(ErrorCode.GROUP_ID_NOT_FOUND)), "Group_no-such-group_not_found."],
    ]
    # Stored by name, as Kafka's OffsetCommit records are.
    _, offsets = broker.broker.groups.offsets.fetch_offsets("g-ids", [(topic_name, (0, 1))])
    assert [(p, om.offset if om else None) for _, parts in offsets for p, om in parts] == [
        (0, 3),
        (1, 1),
    ]
