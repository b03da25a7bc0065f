"""The metrics listener under real clients: confluent-kafka produces and consumes, HTTP scrapes.

The broker listens for metrics on a free loopback port
(C{kafkatwist.metrics.listener=127.0.0.1:0}); C{/metrics} is fetched with
urllib in a client thread and parsed with C{prometheus_client.parser}.
"""

from __future__ import annotations

import time

import pytest
import pytest_twisted
from confluent_kafka import Consumer, KafkaException, TopicPartition

# confluent_kafka.admin does not re-export it (mypy's no_implicit_reexport).
from confluent_kafka.cimpl import NewTopic

from kafkatwist.metrics.web import health_problems
from tests.integration.confluent_clients import ProduceArgs, create, produce
from tests.integration.harness import RunningBroker, http_get, in_thread
from tests.metrics.support import Samples, samples_of, value

METRICS = {"kafkatwist.metrics.listener": "http://127.0.0.1:0"}


async def get(broker: RunningBroker, path: str) -> tuple[int, bytes]:
    """GET C{path} from the broker's metrics listener: (status, body)."""
    metrics = broker.service.metrics
    assert metrics is not None
    return await in_thread(http_get, f"http://127.0.0.1:{metrics.port}{path}")


async def scrape(broker: RunningBroker) -> Samples:
    """Every sample of C{/metrics}, by name and labels."""
    code, body = await get(broker, "/metrics")
    assert code == 200
    return samples_of(body.decode())


def consume_group(
    bootstrap: str, topic: str, group: str, count: int, protocol: str = "classic"
) -> int:
    """Read C{count} messages as a member of C{group} (of C{protocol}), commit, leave."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": protocol,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 20
        while got < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            got += 1
        consumer.commit(asynchronous=False)
        return got
    finally:
        consumer.close()


def committed(bootstrap: str, topic: str, group: str) -> list[int]:
    """The group's committed offsets of partitions 0 and 1."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], 10)
        return [p.offset for p in parts]
    finally:
        consumer.close()


@pytest.mark.broker_properties(METRICS)
@pytest_twisted.ensureDeferred
async def test_counters_match_what_was_sent(broker: RunningBroker, topic_name: str) -> None:
    """Bytes and messages in equal what the producer sent (the log holds it); bytes out follow."""
    assert (await get(broker, "/healthz")) == (200, b"ok\n")
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 2, 1)) == {topic_name: 0}
    count = 300
    messages: list[ProduceArgs] = [
        {"key": b"k%d" % i, "value": b"v" * (i % 50), "partition": i % 2} for i in range(count)
    ]
    reports = await in_thread(produce, broker.bootstrap, topic_name, messages)
    assert [r[0] for r in reports] == [None] * count
    got = await in_thread(consume_group, broker.bootstrap, topic_name, "metered", count)
    assert got == count
    offsets = await in_thread(committed, broker.bootstrap, topic_name, "metered")
    assert sum(offsets) == count

    s = await scrape(broker)
    btm = "kafka_server_brokertopicmetrics_"
    logged = sum(value(s, "kafka_log_log_size", topic=topic_name, partition=str(p)) for p in (0, 1))
    # Uncompressed batches are stored byte for byte: what came in is what the log holds.
    assert value(s, btm + "bytesin_total", topic=topic_name) == logged > 0
    assert value(s, btm + "messagesin_total", topic=topic_name) == count
    assert value(s, btm + "messagesin_total") == count
    assert value(s, btm + "bytesout_total", topic=topic_name) >= logged
    assert value(s, btm + "failedproducerequests_total", topic=topic_name) == 0
    ends = [value(s, "kafka_log_log_logendoffset", topic=topic_name, partition=p) for p in "01"]
    assert sum(ends) == count

    requests = "kafka_network_requestmetrics_requests_total"
    produced = sum(
        v for (n, labels), v in s.items() if n == requests and ("request", "Produce") in labels
    )
    fetched = sum(
        v for (n, labels), v in s.items() if n == requests and ("request", "Fetch") in labels
    )
    assert produced >= 1 and fetched >= 1
    assert value(s, "kafka_network_requestmetrics_totaltimems_count", request="Produce") == produced
    assert (
        value(s, "kafka_network_requestmetrics_totaltimems", request="Fetch", quantile="0.99") >= 0
    )

    # The group has left: one classic group, Empty, with its two committed offsets.
    gmm = "kafka_coordinator_group_groupmetadatamanager_"
    assert value(s, gmm + "numgroups") == 1
    assert value(s, gmm + "numgroupsempty") == 1
    assert value(s, gmm + "numoffsets") == 2
    gcm = "kafka_server_group_coordinator_metrics_"
    assert value(s, gcm + "classic_group_count", state="Empty") == 1
    assert value(s, gcm + "group_count", protocol="classic") == 1

    assert value(s, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert (
        "kafka_server_socket_server_metrics_connection_count",
        frozenset({("listener", "PLAINTEXT")}),
    ) in s
    assert (
        value(s, "kafka_server_delayedoperationpurgatory_purgatorysize", delayedOperation="Produce")
        == 0
    )
    assert value(s, "process_resident_memory_bytes") > 0
    assert (await get(broker, "/healthz")) == (200, b"ok\n")


@pytest.mark.broker_properties(METRICS)
@pytest_twisted.ensureDeferred
async def test_consumer_group_counts(broker: RunningBroker, topic_name: str) -> None:
    """A KIP-848 consumer group shows in the group-coordinator-metrics counts, by state."""
    assert await in_thread(create, broker.bootstrap, NewTopic(topic_name, 2, 1)) == {topic_name: 0}
    messages: list[ProduceArgs] = [{"value": b"v%d" % i, "partition": i % 2} for i in range(20)]
    await in_thread(produce, broker.bootstrap, topic_name, messages)
    got = await in_thread(
        consume_group, broker.bootstrap, topic_name, "modern", 20, "consumer", timeout=60
    )
    assert got == 20
    s = await scrape(broker)
    gcm = "kafka_server_group_coordinator_metrics_"
    assert value(s, gcm + "group_count", protocol="consumer") == 1
    assert value(s, gcm + "group_count", protocol="classic") == 0
    assert value(s, gcm + "consumer_group_count", state="Empty") == 1
    assert value(s, gcm + "consumer_group_count", state="Stable") == 0
    assert value(s, "kafka_coordinator_group_groupmetadatamanager_numgroups") == 0


@pytest.mark.broker_properties(METRICS)
@pytest_twisted.ensureDeferred
async def test_health_follows_the_service(broker: RunningBroker) -> None:
    """/healthz is 200 while serving; stopped, the service reports it (and the listener is gone)."""
    assert (await get(broker, "/healthz")) == (200, b"ok\n")
    assert (await get(broker, "/nothing"))[0] == 404
    metrics = broker.service.metrics
    assert metrics is not None and metrics.hook in broker.broker.hooks
    await broker.service.stopService()
    assert health_problems(broker.service) == ["stopped"]
    assert broker.service.metrics is None and broker.broker.hooks == []


@pytest_twisted.ensureDeferred
async def test_off_by_default(broker: RunningBroker) -> None:
    """Without kafkatwist.metrics.listener: no listener, and no hook on the request path."""
    assert broker.service.metrics is None
    assert broker.broker.hooks == []
