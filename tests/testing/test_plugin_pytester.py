"""The plugin as a user runs it: pytest in a subprocess (pytester), with and without pytest-twisted.

Two pytest runs: the README's examples, pasted as they are, in plain mode
(pytest-twisted disabled, the plugin loaded with C{-p} as from a checkout);
and a pytest-twisted run, where C{kafka_broker} is on the test's reactor.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import kafkatwist.testing.plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent.parent
README = ROOT / "README.md"
PLUGIN = "kafkatwist.testing.plugin"


def readme_tests() -> dict[str, str]:
    """The test files of the README's "Testing with kafkatwist" section, by name."""
    text = README.read_text()
    start = text.index("## Testing with kafkatwist")
    section = text[start : text.index("\n## ", start + 1)]
    blocks = re.findall(r"```python\n(# (test_\w+)\.py\n.*?)```", section, re.S)
    return {name: code for code, name in blocks}


@pytest.fixture
def user(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose pytest imports this checkout's kafkatwist (as if installed)."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return pytester


def test_entry_point() -> None:
    """pyproject registers the plugin module under the pytest11 entry point, by its own name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}
    assert kafkatwist.testing.plugin.__name__ == PLUGIN
    fixtures = ("kafka_broker", "kafka_broker_module", "kafka_broker_session")
    assert all(callable(getattr(kafkatwist.testing.plugin, name)) for name in fixtures)


def test_readme_examples_without_pytest_twisted(user: pytest.Pytester) -> None:
    """The README's test files pass as pasted, with plain-mode scopes next to them."""
    files = readme_tests()
    assert set(files) == {"test_orders", "test_faults"}
    user.makepyfile(
        **files,
        test_scopes="""
            from kafkatwist.testing.process import BrokerProcess

            def test_function(kafka_broker, kafka_broker_module, kafka_broker_session):
                assert isinstance(kafka_broker, BrokerProcess)
                ports = {kafka_broker.port, kafka_broker_module.port, kafka_broker_session.port}
                assert len(ports) == 3
                kafka_broker_module.create_topic("shared")

            def test_module_again(kafka_broker_module):
                kafka_broker_module.create_topic("shared-2")
        """,
    )
    result = user.runpytest_subprocess("-p", PLUGIN, "-p", "no:twisted", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


TWISTED_TESTS = '''
import threading

import pytest
import pytest_twisted
from confluent_kafka import Consumer, Producer
from twisted.internet import defer, reactor

from kafkatwist.testing.inprocess import InProcessBroker
from kafkatwist.testing.process import BrokerProcess


def in_thread(fn, *args):
    """Run blocking client code in its own thread (never the reactor's pool)."""
    d = defer.Deferred()

    def work():
        try:
            result = fn(*args)
        except BaseException as e:
            reactor.callFromThread(d.errback, e)
        else:
            reactor.callFromThread(d.callback, result)

    threading.Thread(target=work, daemon=True).start()
    return d


def produce(bootstrap, topic, value):
    producer = Producer({"bootstrap.servers": bootstrap, "retry.backoff.ms": 10})
    producer.produce(topic, value, partition=0)
    assert producer.flush(30) == 0


def first_value(bootstrap, topic):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic + "-reader",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                return message.value()
    finally:
        consumer.close()


def joined(bootstrap, group):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    consumer.subscribe(["watched"])
    for _ in range(60):
        consumer.poll(0.5)
        if consumer.assignment():
            return consumer
    raise AssertionError("never joined")


@pytest_twisted.ensureDeferred
async def test_faults_crash_restart(kafka_broker):
    assert isinstance(kafka_broker, InProcessBroker)
    kafka_broker.faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER")
    await in_thread(produce, kafka_broker.bootstrap_servers, "t", b"kept")
    assert kafka_broker.faults.pending() == 0
    port = kafka_broker.port
    kafka_broker.crash()
    await kafka_broker.restart()
    assert kafka_broker.port == port
    assert await in_thread(first_value, kafka_broker.bootstrap_servers, "t") == b"kept"


@pytest_twisted.ensureDeferred
async def test_session_times_out_on_advance(kafka_broker):
    await kafka_broker.create_topic("watched")
    consumer = await in_thread(joined, kafka_broker.bootstrap_servers, "watchers")
    group = kafka_broker.broker.groups.groups["watchers"]
    assert len(group.members) == 1
    kafka_broker.advance(46)  # past session.timeout.ms (45 s): the member expires now
    assert group.members == {}
    await in_thread(consumer.close)


@pytest.mark.kafka_broker(in_process=False)
@pytest_twisted.inlineCallbacks
def test_child_process_on_request(kafka_broker, kafka_broker_session):
    assert isinstance(kafka_broker, BrokerProcess)
    yield in_thread(produce, kafka_broker.bootstrap_servers, "p", b"x")
    yield in_thread(produce, kafka_broker_session.bootstrap_servers, "p", b"y")


def test_plain_test_next_to_twisted_ones(kafka_broker, kafka_broker_session):
    assert isinstance(kafka_broker, BrokerProcess)
    assert first_value(kafka_broker_session.bootstrap_servers, "p") == b"y"
'''


def test_pytest_twisted_tests(user: pytest.Pytester) -> None:
    """pytest-twisted tests get an in-process broker: faults, crash, restart, clock and groups."""
    user.makepyfile(test_twisted=TWISTED_TESTS)
    result = user.runpytest_subprocess("-p", PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


OBSERVED_TESTS = (
    TWISTED_TESTS.partition("\n@pytest_twisted")[0]
    + """
import json
import urllib.request
from datetime import datetime

from twisted.internet import task


def scrape(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
        return answer.status, answer.read().decode()


@pytest.fixture
def kafka_broker_properties(tmp_path):
    return {
        "kafkatwist.metrics.listener": "127.0.0.1:0",
        "kafkatwist.trace.enable": "true",
        "kafkatwist.trace.file": str(tmp_path / "trace.jsonl"),
    }


@pytest_twisted.ensureDeferred
async def test_metrics_and_trace(kafka_broker, tmp_path):
    assert isinstance(kafka_broker, InProcessBroker)
    port = kafka_broker.metrics_port
    assert port == kafka_broker.service.metrics.port
    assert await in_thread(scrape, port, "/healthz") == (200, "ok\\n")
    await kafka_broker.create_topic("metered")
    kafka_broker.faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER")
    await in_thread(produce, kafka_broker.bootstrap_servers, "metered", b"one")
    _, text = await in_thread(scrape, port, "/metrics")
    assert 'failedproducerequests_total{topic="metered"} 1.0' in text
    kafka_broker.advance(3600)  # the trace's time is the broker's: it jumps with the clock
    await in_thread(produce, kafka_broker.bootstrap_servers, "metered", b"two")
    for _ in range(100):  # the file is written every 0.2 s
        lines = (tmp_path / "trace.jsonl").read_text().splitlines()
        produces = [json.loads(l) for l in lines if '"api":"Produce"' in l]
        if len(produces) == 6:
            break
        await task.deferLater(reactor, 0.05)
    assert [p["kind"] for p in produces] == ["request", "response"] * 3
    assert produces[1]["body"]["Responses"][0]["PartitionResponses"][0]["ErrorCode"] == 6
    first, later = (datetime.fromisoformat(produces[i]["time"]) for i in (3, 4))
    assert (later - first).total_seconds() >= 3600
"""
)


def test_metrics_and_trace_in_process(user: pytest.Pytester) -> None:
    """In process, metrics and the trace on: the metrics port; a fault seen by both; trace time."""
    user.makepyfile(test_observed=OBSERVED_TESTS)
    result = user.runpytest_subprocess("-p", PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_postgresql_storage(user: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """With KAFKATWIST_TEST_STORAGE=postgresql a fixture's broker keeps its data in PostgreSQL."""
    monkeypatch.setenv("KAFKATWIST_TEST_STORAGE", "postgresql")
    user.makepyfile(
        test_pg="""
            import os

            def test_process(kafka_broker, kafka_broker_module):
                assert kafka_broker.properties["kafkatwist.storage"].startswith("postgresql://")
                storage = kafka_broker_module.properties["kafkatwist.storage"]
                assert storage != kafka_broker.properties["kafkatwist.storage"]
                kafka_broker.create_topic("t")
                metadata_dir = os.path.join(kafka_broker.log_dir, "__cluster_metadata-0")
                assert not os.path.exists(metadata_dir)
        """,
    )
    result = user.runpytest_subprocess("-p", PLUGIN, "-p", "no:twisted", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
