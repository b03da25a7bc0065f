"""Real admin clients describe and alter configs of a loopback kafkatwist broker.

confluent-kafka (librdkafka: DescribeConfigs v1-v4, IncrementalAlterConfigs)
and kafka-python (DescribeConfigs, legacy AlterConfigs and
IncrementalAlterConfigs), each against an in-process L{BrokerService} on
``tcp:0:interface=127.0.0.1``. The blocking clients run in a daemon thread
with a time limit, never in the reactor's thread pool (the broker's metadata
fsyncs run there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.transport.service import BrokerService

CLIENT_TIMEOUT = 15.0


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def start_broker(log_dir: str, **props: str) -> tuple[BrokerService, str]:
    """A broker on a free loopback port; the service and its bootstrap address."""
    properties = {"log.dirs": log_dir, "listeners": "PLAINTEXT://127.0.0.1:0", "node.id": "1"}
    properties.update({k.replace("_", "."): v for k, v in props.items()})
    service = BrokerService(
        BrokerConfig.from_properties(properties), "tcp:0:interface=127.0.0.1", _reactor()
    )
    service.startService()
    port = await service.ready
    return service, f"127.0.0.1:{port.getHost().port}"


def in_thread(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """Run blocking C{fn(*args)} in a daemon thread; fail after L{CLIENT_TIMEOUT} seconds."""
    reactor = _reactor()
    d: Deferred[Any] = Deferred()

    def deliver(outcome: Any) -> None:
        if not d.called:
            (d.errback if isinstance(outcome, Failure) else d.callback)(outcome)

    def work() -> None:
        try:
            outcome: Any = fn(*args)
        except BaseException:
            outcome = Failure()
        reactor.callFromThread(deliver, outcome)

    def expire() -> None:
        if not d.called:
            d.errback(AssertionError(f"{fn.__name__} did not finish in {CLIENT_TIMEOUT} s"))

    timer = reactor.callLater(CLIENT_TIMEOUT, expire)
    d.addBoth(lambda r: (timer.active() and timer.cancel(), r)[1])
    threading.Thread(target=work, daemon=True).start()
    return d


def confluent_flow(bootstrap: str) -> None:
    """Create a topic, describe it and this broker, alter incrementally, describe again."""
    # confluent_kafka.admin re-exports these without marking them (upstream typing gap).
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ConfigSource,
        NewTopic,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})
    created = admin.create_topics(
        [NewTopic("cfg", 1, 1, config={"retention.ms": "1000"})], operation_timeout=5
    )
    created["cfg"].result(5)

    topic = ConfigResource("TOPIC", "cfg")
    configs = admin.describe_configs([topic])[topic].result(5)
    retention = configs["retention.ms"]
    assert retention.value == "1000", retention
    assert retention.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not retention.is_default
    # librdkafka asks for synonyms: the override comes first.
    assert list(retention.synonyms)[:1] == ["retention.ms"], retention.synonyms
    max_bytes = configs["max.message.bytes"]
    assert (max_bytes.value, max_bytes.source) == ("1048588", ConfigSource.DEFAULT_CONFIG.value)
    assert max_bytes.is_default

    node = ConfigResource("BROKER", "1")
    broker = admin.describe_configs([node])[node].result(5)
    assert broker["num.partitions"].is_read_only
    assert broker["message.max.bytes"].value == "1048588"
    assert broker["listeners"].source == ConfigSource.STATIC_BROKER_CONFIG.value

    change = ConfigResource(
        "TOPIC",
        "cfg",
        incremental_configs=[
            ConfigEntry(
                "cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND
            ),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    admin.incremental_alter_configs([change])[change].result(5)
    configs = admin.describe_configs([topic])[topic].result(5)
    assert configs["cleanup.policy"].value == "delete,compact"
    assert configs["retention.ms"].value == "604800000"
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value

    bad = ConfigResource(
        "TOPIC",
        "cfg",
        incremental_configs=[
            ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    try:
        admin.incremental_alter_configs([bad])[bad].result(5)
    except Exception as e:  # KafkaException carrying INVALID_CONFIG
        assert "retention.ms" in str(e), e
    else:
        raise AssertionError("an invalid value was accepted")


def kafka_python_flow(bootstrap: str) -> None:
    """Describe a topic and this broker, alter with both APIs, describe again."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        admin.create_topics([NewTopic("kp", 1, 1, topic_configs={"segment.ms": "60000"})])
        topic = ConfigResource(ConfigResourceType.TOPIC, "kp")
        described = admin.describe_configs([topic], include_synonyms=True, config_filter="all")
        configs = described["topic"]["kp"]
        assert configs["segment.ms"]["value"] == "60000", configs["segment.ms"]
        assert configs["segment.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["max.message.bytes"]["config_source"] == "DEFAULT_CONFIG"

        broker = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all"
        )["broker"]["1"]
        assert broker["log.retention.hours"]["value"] == "168"
        assert broker["num.partitions"]["read_only"]

        # Legacy AlterConfigs: the given set replaces the topic's overrides.
        result = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "kp", configs={"retention.ms": "2000"})],
            incremental=False,
            raise_on_unknown=False,
        )
        assert result == {"topic": {"kp": "OK"}}, result
        modified = admin.describe_configs([topic])["topic"]["kp"]
        assert {k: v["value"] for k, v in modified.items()} == {
            "retention.ms": "2000",
            "segment.ms": "60000",  # kafka-python re-sends the other modified keys
        }, modified

        result = admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, "kp", configs={"segment.ms": ("DELETE", None)}
                )
            ],
            incremental=True,
        )
        assert result == {"topic": {"kp": "OK"}}, result
        modified = admin.describe_configs([topic])["topic"]["kp"]
        assert set(modified) == {"retention.ms"}, modified
    finally:
        admin.close()


@pytest_twisted.ensureDeferred
async def test_confluent_kafka_describe_and_incremental_alter(tmp_path: Any) -> None:
    """confluent-kafka's AdminClient describes and incrementally alters configs."""
    service, bootstrap = await start_broker(str(tmp_path / "logs"))
    try:
        await in_thread(confluent_flow, bootstrap)
        topic = service.broker.metadata.image.topics["cfg"]
        assert topic.configs == {"cleanup.policy": "delete,compact"}
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_kafka_python_describe_and_alter(tmp_path: Any) -> None:
    """kafka-python's KafkaAdminClient describes and alters configs with both APIs."""
    service, bootstrap = await start_broker(str(tmp_path / "logs"))
    try:
        await in_thread(kafka_python_flow, bootstrap)
        assert service.broker.metadata.image.topics["kp"].configs == {"retention.ms": "2000"}
    finally:
        await service.stopService()
