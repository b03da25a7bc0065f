"""The C{kafka_broker} fixtures from plain (synchronous and asyncio) tests, with real clients.

These tests run no reactor: each broker is a child process
(L{kafkatwist.testing.process.BrokerProcess}), as for any user test that is
not a pytest-twisted one. The clients are confluent-kafka, kafka-python,
aiokafka and kafkajs (tests/integration/node).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Mapping

import kafka
import kafka.errors
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from kafkatwist.storage.checkpoints import CLEAN_SHUTDOWN_FILE
from kafkatwist.testing.process import BrokerProcess
from tests.integration.harness import NODE_DIR

#: How long a client may take for one step before the test fails.
TIMEOUT = 30.0


def produce(bootstrap: str, topic: str, values: list[bytes], **config: str | int) -> None:
    """Produce C{values} to partition 0 of C{topic} with confluent-kafka; all acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    errors: list[object] = []
    for value in values:
        producer.produce(topic, value, partition=0, on_delivery=lambda e, _: errors.append(e))
    assert producer.flush(TIMEOUT) == 0
    assert errors == [None] * len(values)


def consume(bootstrap: str, topic: str, count: int, **config: str) -> list[bytes]:
    """The first C{count} values of C{topic}, read with a confluent-kafka consumer group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            **config,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(200):
            message = consumer.poll(0.5)
            value = None if message is None or message.error() else message.value()
            if value is not None:
                values.append(value)
            if len(values) >= count:
                break
    finally:
        consumer.close()
    return values


def test_confluent_kafka(kafka_broker: BrokerProcess) -> None:
    """A confluent-kafka producer and consumer group round-trip through the fixture's broker."""
    assert kafka_broker.bootstrap_servers == f"127.0.0.1:{kafka_broker.port}"
    kafka_broker.create_topic("orders", partitions=3)
    produce(kafka_broker.bootstrap_servers, "orders", [b"one", b"two"])
    assert consume(kafka_broker.bootstrap_servers, "orders", 2) == [b"one", b"two"]


def test_kafka_python(kafka_broker: BrokerProcess) -> None:
    """kafka-python produces to and consumes from the fixture's broker (auto-created topic)."""
    producer = kafka.KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    producer.send("events", b"hello").get(timeout=TIMEOUT)
    producer.close()
    consumer = kafka.KafkaConsumer(
        "events",
        bootstrap_servers=kafka_broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(TIMEOUT * 1000),
    )
    assert next(consumer).value == b"hello"
    consumer.close()


def test_aiokafka(kafka_broker: BrokerProcess) -> None:
    """An asyncio test: aiokafka produces and consumes through the fixture's broker."""

    async def roundtrip() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait("aio", b"async hello")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "aio", bootstrap_servers=kafka_broker.bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), TIMEOUT)
        finally:
            await consumer.stop()
        return [message.value]

    assert asyncio.run(roundtrip()) == [b"async hello"]


def test_kafkajs(kafka_broker: BrokerProcess) -> None:
    """kafkajs (tests/integration/node) creates a topic, produces and consumes it back."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (Debian package nodejs)", pytrace=False)
    argv = [node, os.path.join(NODE_DIR, "kafkajs_roundtrip.js")]
    result = subprocess.run(
        [*argv, kafka_broker.bootstrap_servers, "js-topic", "roundtrip"],
        cwd=NODE_DIR,
        env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"),
        capture_output=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-4000:]
    out = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert out["sent"] == 20
    assert len(out["received"]) == 20


@pytest.mark.kafka_broker(properties={"auto.create.topics.enable": "false", "num.partitions": "2"})
def test_marker_properties(kafka_broker: BrokerProcess) -> None:
    """The marker's properties reach the broker: no topic is created by a produce."""
    producer = kafka.KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap_servers, max_block_ms=2000
    )
    with pytest.raises(kafka.errors.KafkaTimeoutError):
        producer.send("nowhere", b"x").get(timeout=TIMEOUT)
    producer.close(timeout=1)


def test_crash_keeps_acknowledged_data(kafka_broker: BrokerProcess) -> None:
    """After a SIGKILL and a restart on the same dir and port, every acknowledged record is back."""
    values = [b"record-%d" % i for i in range(50)]
    produce(kafka_broker.bootstrap_servers, "durable", values, acks="all")
    port, pid = kafka_broker.port, kafka_broker.pid
    kafka_broker.crash()
    assert not kafka_broker.running
    assert not os.path.exists(os.path.join(kafka_broker.log_dir, CLEAN_SHUTDOWN_FILE))
    kafka_broker.restart()
    assert (kafka_broker.port, kafka_broker.running) == (port, True)
    assert kafka_broker.pid != pid
    assert consume(kafka_broker.bootstrap_servers, "durable", 50) == values
    with open(kafka_broker.log_file, encoding="utf-8") as log:
        assert "kafkatwist listening on" in log.read()


def test_clean_stop_and_restart(kafka_broker: BrokerProcess) -> None:
    """stop() shuts the broker down cleanly (the clean-shutdown marker); restart() serves again."""
    produce(kafka_broker.bootstrap_servers, "kept", [b"a"])
    kafka_broker.stop()
    assert os.path.exists(os.path.join(kafka_broker.log_dir, CLEAN_SHUTDOWN_FILE))
    kafka_broker.restart()
    assert consume(kafka_broker.bootstrap_servers, "kept", 1) == [b"a"]


def test_injected_error_is_retried(kafka_broker: BrokerProcess) -> None:
    """confluent-kafka retries a produce answered NOT_LEADER_OR_FOLLOWER twice; it lands once."""
    kafka_broker.create_topic("retried")
    kafka_broker.faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER", count=2)
    assert kafka_broker.faults.pending() == 2
    produce(kafka_broker.bootstrap_servers, "retried", [b"once"], **{"retry.backoff.ms": 10})
    assert kafka_broker.faults.pending() == 0
    assert consume(kafka_broker.bootstrap_servers, "retried", 1) == [b"once"]


def test_injected_error_reaches_kafka_python(kafka_broker: BrokerProcess) -> None:
    """A non-retriable injected error is what kafka-python's send raises; clear() ends faults."""
    kafka_broker.create_topic("refused")
    kafka_broker.faults.fail_next("produce", 44, count=5)  # POLICY_VIOLATION, by its code
    producer = kafka.KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    with pytest.raises(kafka.errors.PolicyViolationError):
        producer.send("refused", b"x").get(timeout=TIMEOUT)
    producer.close()
    assert kafka_broker.faults.pending() == 4
    kafka_broker.faults.clear()
    assert kafka_broker.faults.pending() == 0
    producer = kafka.KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    assert producer.send("refused", b"y").get(timeout=TIMEOUT).offset == 0
    producer.close()


def test_unknown_control_call(kafka_broker: BrokerProcess) -> None:
    """A Faults method that does not exist is an error naming it; the broker keeps serving."""
    with pytest.raises(RuntimeError, match="no_such_fault"):
        kafka_broker.faults.no_such_fault()
    assert kafka_broker.faults.pending() == 0


@pytest.mark.kafka_broker(
    properties={"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000"}
)
def test_clock_times_a_transaction_out(kafka_broker: BrokerProcess) -> None:
    """advance() past transaction.timeout.ms makes the coordinator abort an open transaction."""
    kafka_broker.create_topic("tx")
    producer = Producer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "transactional.id": "slow-writer",
            "transaction.timeout.ms": 60_000,
        }
    )
    producer.init_transactions(TIMEOUT)
    producer.begin_transaction()
    producer.produce("tx", b"never committed", partition=0)
    assert producer.flush(TIMEOUT) == 0
    kafka_broker.advance(61)  # no sleeping: the coordinator's timers see a minute pass
    with pytest.raises(KafkaException) as raised:
        producer.commit_transaction(TIMEOUT)
    assert raised.value.args[0].code() in (KafkaError._FENCED, KafkaError.INVALID_PRODUCER_EPOCH)


def _log_dir_of(broker: BrokerProcess) -> Mapping[str, object]:
    return {"port": broker.port, "log_dir": broker.log_dir}


def test_module_broker_is_shared(kafka_broker_module: BrokerProcess) -> None:
    """The module-scoped broker serves; it is not the function-scoped one."""
    produce(kafka_broker_module.bootstrap_servers, "module-topic", [b"m"])
    assert kafka_broker_module.running


def test_module_broker_again(
    kafka_broker_module: BrokerProcess,
    kafka_broker_session: BrokerProcess,
    kafka_broker: BrokerProcess,
) -> None:
    """Module, session and function brokers coexist; the module's kept the previous test's data."""
    assert len({kafka_broker_module.port, kafka_broker_session.port, kafka_broker.port}) == 3
    assert consume(kafka_broker_module.bootstrap_servers, "module-topic", 1) == [b"m"]
    assert _log_dir_of(kafka_broker_session) != _log_dir_of(kafka_broker_module)


@pytest.mark.kafka_broker(
    properties={"kafkatwist.metrics.listener": "127.0.0.1:0", "kafkatwist.trace.enable": "true"}
)
def test_metrics_and_trace(kafka_broker: BrokerProcess) -> None:
    """A child broker with metrics on port 0 says which; an injected error is counted, traced."""
    port = kafka_broker.metrics_port
    assert isinstance(port, int) and port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as answer:
        assert (answer.status, answer.read()) == (200, b"ok\n")
    kafka_broker.create_topic("metered")
    kafka_broker.faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER")
    produce(kafka_broker.bootstrap_servers, "metered", [b"one"], **{"retry.backoff.ms": 10})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT) as answer:
        text = answer.read().decode()
    assert '_failedproducerequests_total{topic="metered"} 1.0' in text
    assert 'kafka_server_brokertopicmetrics_messagesin_total{topic="metered"} 1.0' in text
    with open(kafka_broker.log_file, encoding="utf-8") as log:
        produces = [line for line in log if '"api":"Produce"' in line]
    kinds = [re.search(r'"kind":"(\w+)"', line).group(1) for line in produces]  # type: ignore[union-attr]
    assert kinds == ["request", "response"] * 2
    assert '"ErrorCode":6' in produces[1]


def test_no_metrics_port(kafka_broker: BrokerProcess) -> None:
    """Without kafkatwist.metrics.listener the broker has no metrics port."""
    assert kafka_broker.metrics_port is None
