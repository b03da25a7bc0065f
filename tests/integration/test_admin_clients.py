"""The remaining admin APIs with real clients: the Java admin 4.3 and confluent-kafka.

The Java program (java/AdminCalls.java, compiled by the test with javac; jars from
L{tests.integration.java_client}) describes and updates the finalized features,
describes the metadata quorum, elects leaders, reassigns partitions, subscribes
clients to telemetry, lists config resources, and runs a producer that pushes
its metrics (KIP-714); run again with the broker's two log dirs, it moves a
partition between them (the file engine's: marked C{file_engine}).
confluent-kafka (librdkafka) elects leaders and pushes telemetry too.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.integration import harness
from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_java,
    start_broker,
    stop_broker,
)

JAVA_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java", "AdminCalls.java")


async def run_admin_calls(
    running: RunningBroker, topic: str, dirs: list[str], classes: str
) -> list[list[str]]:
    """
    Compile AdminCalls.java into C{classes}, run it; its output lines, split.

    Without C{dirs} it runs every call but the log dir moves; with the
    broker's two log dirs, only those.
    """
    lines = await run_java("AdminCalls", [running.bootstrap, topic, *dirs], classes)
    return [line.split() for line in lines]


def lines_of(lines: list[list[str]], kind: str) -> list[list[str]]:
    return [line[1:] for line in lines if line and line[0] == kind]


@pytest_twisted.ensureDeferred
async def test_java_admin(tmp_path: Any, topic_name: str) -> None:
    """The Java admin 4.3: features, quorum, elections, reassignments, telemetry."""
    running = await start_broker(str(tmp_path / "logs"))
    try:
        await running.broker.controller.create_topic(topic_name, 2)
        lines = await run_admin_calls(running, topic_name, [], str(tmp_path / "classes"))
        telemetry = running.broker.telemetry
        pushes = telemetry.pushes
    finally:
        await stop_broker(running)
    assert lines[-1] == ["DONE"], lines
    finalized = {
        (label, name): (int(lo), int(hi)) for label, name, lo, hi in lines_of(lines, "FINALIZED")
    }
    assert {name: v for (label, name), v in finalized.items() if label == "before"} == {
        "metadata.version": (30, 30),
        "kraft.version": (1, 1),
        "transaction.version": (2, 2),
        "group.version": (1, 1),
    }
    assert ("downgraded", "group.version") not in finalized
    assert finalized[("after", "group.version")] == (1, 1)
    assert finalized[("after", "transaction.version")] == (2, 2)  # validate_only changed nothing
    supported = {
        name: (int(lo), int(hi))
        for label, name, lo, hi in lines_of(lines, "SUPPORTED")
        if label == "before"
    }
    assert supported == {
        "metadata.version": (7, 30),
        "kraft.version": (0, 1),
        "transaction.version": (0, 2),
        "group.version": (0, 1),
    }
    epochs = {label: int(epoch) for label, epoch in lines_of(lines, "EPOCH")}
    assert epochs["before"] < epochs["downgraded"] < epochs["after"]
    assert dict((kind, outcome) for kind, outcome in lines_of(lines, "UPDATE")) == {
        "downgrade": "OK",
        "upgrade": "OK",
        "unsupported": "InvalidUpdateVersionException",
        "validateonly": "OK",
    }
    [[leader, epoch, hw, voters, observers]] = lines_of(lines, "QUORUM")
    assert (leader, voters, observers) == ("1", "1", "0") and int(hw) > 0 and int(epoch) >= 1
    # The voter's directory id is the metadata log dir's directory.id (meta.properties); the
    # PostgreSQL engine's metadata log is a table, in no log dir: Kafka's Uuid.ZERO (none).
    has_directory = "true" if harness.test_storage() == "file" else "false"
    assert lines_of(lines, "VOTER") == [["1", has_directory, hw, "true"]]
    [[node, listener, host, port]] = lines_of(lines, "NODE")
    assert (node, listener, host, int(port)) == ("1", "PLAINTEXT", "127.0.0.1", running.port)
    assert sorted(lines_of(lines, "ELECT")) == [
        ["no-such-topic-0", "UnknownTopicOrPartitionException"],
        [f"{topic_name}-0", "ElectionNotNeededException"],
    ]
    assert lines_of(lines, "ELECTALL") == [["0"]]
    assert sorted(lines_of(lines, "REASSIGN")) == sorted(
        [
            [f"{topic_name}-0", "OK"],
            [f"{topic_name}-1", "InvalidReplicaAssignmentException"],
            ["no-such-topic-0", "UnknownTopicOrPartitionException"],
        ]
    )
    assert lines_of(lines, "CANCEL") == [["NoReassignmentInProgressException"]]
    assert lines_of(lines, "LISTREASSIGN") == [["0"]]
    assert lines_of(lines, "MOVE") == []
    assert lines_of(lines, "SUBSCRIBE") == [["OK"]]
    assert ["CLIENT_METRICS", "everything"] in lines_of(lines, "RESOURCE")
    assert ["TOPIC", topic_name] in lines_of(lines, "RESOURCE")
    assert len(lines_of(lines, "INSTANCE")) == 1
    assert pushes >= 1, "the producer pushed no telemetry"


@pytest.mark.file_engine("log dirs: AlterReplicaLogDirs/DescribeReplicaLogDirs move a partition")
@pytest_twisted.ensureDeferred
async def test_java_admin_log_dirs(tmp_path: Any, topic_name: str) -> None:
    """The Java admin 4.3 moves a partition to the other log dir; a missing dir is refused."""
    dirs = [os.path.abspath(str(tmp_path / "a")), os.path.abspath(str(tmp_path / "b"))]
    running = await start_broker(",".join(dirs))
    try:
        await running.broker.controller.create_topic(topic_name, 2)
        lines = await run_admin_calls(running, topic_name, dirs, str(tmp_path / "classes"))
    finally:
        await stop_broker(running)
    assert lines[-1] == ["DONE"], lines
    assert lines_of(lines, "MOVE") == [["OK"]]
    assert lines_of(lines, "MOVED") == [["true", "true"]]
    assert lines_of(lines, "MOVEBAD") == [["LogDirNotFoundException"]]
    assert lines_of(lines, "FINALIZED") == []  # the log dir moves only


def confluent_calls(bootstrap: str, topic: str) -> dict[str, Any]:
    """confluent-kafka: elect leaders, then a producer that pushes telemetry for a while."""
    from confluent_kafka import ElectionType, TopicPartition

    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)])
    try:
        elected: Any = future.result(timeout=30)
    except Exception as e:  # librdkafka raises the partition's error
        elected = e
    producer = Producer({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        producer.produce(topic, b"v", partition=0)
        producer.poll(0.1)
    producer.flush(10)
    return {"elected": elected}


@pytest.mark.broker_properties({})
@pytest_twisted.ensureDeferred
async def test_confluent_elect_and_telemetry(broker: RunningBroker, topic_name: str) -> None:
    """librdkafka's ElectLeaders gets ELECTION_NOT_NEEDED; its producer pushes telemetry."""
    await broker.broker.controller.create_topic(topic_name, 1)
    await broker.broker.controller.set_configs(16, "all", {"metrics": "*", "interval.ms": "500"})
    result = await in_thread(confluent_calls, broker.bootstrap, topic_name, timeout=60)
    assert "ELECTION_NOT_NEEDED" in str(result["elected"]), result
    assert broker.broker.telemetry.pushes >= 1
