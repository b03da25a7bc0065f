"""
Group configs (KIP-848 config resource type GROUP = 32) with real admin clients.

confluent-kafka 2.x (librdkafka: ``ConfigResource(ResourceType.GROUP, ...)``,
sent as resource type 32) and the Java admin client 4.3 (``ConfigResource.Type.GROUP``)
alter and describe a group's configs; the overrides survive a broker restart.
"""

from __future__ import annotations

import os
from typing import Any

import pytest_twisted
from confluent_kafka import KafkaError, KafkaException

from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_java,
    start_broker,
    stop_broker,
)

JAVA_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java", "GroupConfigs.java")

#: (value, source name) of an entry as confluent-kafka reports it.
Described = dict[str, tuple[str | None, str]]


def confluent_alter(bootstrap: str, group: str, configs: dict[str, str]) -> None:
    """Set C{configs} on C{group} with IncrementalAlterConfigs."""
    # confluent_kafka.admin re-exports these without marking them (upstream typing gap).
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap})
    entries = [
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()
    ]
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=10)


def confluent_describe(bootstrap: str, group: str) -> Described:
    """DescribeConfigs of C{group}: (value, source name) by config name."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        ConfigResource,
        ConfigSource,
        ResourceType,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.GROUP, group)
    (future,) = admin.describe_configs([resource]).values()
    found = future.result(timeout=10)
    # librdkafka reports the source as a raw int.
    return {name: (e.value, ConfigSource(int(e.source)).name) for name, e in found.items()}


@pytest_twisted.ensureDeferred
async def test_confluent_admin_alters_and_describes_a_group(broker: RunningBroker) -> None:
    """librdkafka's GROUP resource: set, describe with sources, refusals with INVALID_CONFIG."""
    before = await in_thread(confluent_describe, broker.bootstrap, "orders")
    assert before["consumer.session.timeout.ms"] == ("45000", "DEFAULT_CONFIG")
    assert before["share.isolation.level"] == ("read_uncommitted", "DEFAULT_CONFIG")
    await in_thread(
        confluent_alter, broker.bootstrap, "orders", {"consumer.session.timeout.ms": "50000"}
    )
    after = await in_thread(confluent_describe, broker.bootstrap, "orders")
    assert after["consumer.session.timeout.ms"] == ("50000", "GROUP_CONFIG")
    assert after["consumer.heartbeat.interval.ms"] == ("5000", "DEFAULT_CONFIG")
    refused = await in_thread(
        _refusal, broker.bootstrap, "orders", {"consumer.heartbeat.interval.ms": "20000"}
    )
    assert refused == (KafkaError.INVALID_CONFIG, True)
    assert broker.broker.group_configs.consumer_session_timeout_ms("orders") == 50000


def _refusal(bootstrap: str, group: str, configs: dict[str, str]) -> tuple[int, bool]:
    """The error code of a refused alteration, and whether Kafka's message came with it."""
    try:
        confluent_alter(bootstrap, group, configs)
    except KafkaException as e:
        error = e.args[0]
        expected = "must be less than or equal to group.consumer.max.heartbeat.interval.ms"
        return error.code(), expected in error.str()
    raise AssertionError("accepted")


@pytest_twisted.ensureDeferred
async def test_overrides_survive_a_restart(tmp_path: Any) -> None:
    """The ConfigRecords of resource type 32 are replayed when the broker starts again."""
    log_dir = str(tmp_path / "logs")
    first = await start_broker(log_dir)
    try:
        await in_thread(
            confluent_alter, first.bootstrap, "g", {"consumer.heartbeat.interval.ms": "7000"}
        )
    finally:
        await stop_broker(first)
    second = await start_broker(log_dir)
    try:
        found = await in_thread(confluent_describe, second.bootstrap, "g")
        assert found["consumer.heartbeat.interval.ms"] == ("7000", "GROUP_CONFIG")
        assert second.broker.group_configs.consumer_heartbeat_interval_ms("g") == 7000
    finally:
        await stop_broker(second)


@pytest_twisted.ensureDeferred
async def test_java_admin_on_group_configs(broker: RunningBroker, tmp_path: Any) -> None:
    """kafka-clients 4.3: incrementalAlterConfigs and describeConfigs of ConfigResource GROUP."""
    lines = await run_java(
        "GroupConfigs", [broker.bootstrap, "g1"], str(tmp_path / "classes"), timeout=60
    )
    assert lines[-1] == "DONE"
    entries = [line.split() for line in lines if line.startswith("ENTRY ")]
    # The Java client names source 8 DYNAMIC_GROUP_CONFIG (librdkafka: GROUP_CONFIG).
    described = {name: (value, source) for _, name, value, source in entries[:-1]}
    assert described["consumer.heartbeat.interval.ms"] == ("6000", "DYNAMIC_GROUP_CONFIG")
    assert described["consumer.session.timeout.ms"] == ("50000", "DYNAMIC_GROUP_CONFIG")
    assert described["share.auto.offset.reset"] == ("latest", "DEFAULT_CONFIG")
    assert described["streams.num.standby.replicas"] == ("0", "DEFAULT_CONFIG")
    assert len(described) == 14
    (refused,) = [line for line in lines if line.startswith("REFUSED ")]
    assert refused == (
        "REFUSED InvalidConfigurationException consumer.session.timeout.ms must be greater than "
        "or equal to group.consumer.min.session.timeout.ms"
    )
    assert entries[-1] == ["ENTRY", "consumer.heartbeat.interval.ms", "5000", "DEFAULT_CONFIG"]
    assert broker.broker.group_configs.overrides("g1") == {"consumer.session.timeout.ms": "50000"}
