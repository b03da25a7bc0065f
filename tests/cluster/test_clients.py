"""Three brokers over one PostgreSQL: real clients produce and consume through any broker.

confluent-kafka, kafka-python and kafkajs each bootstrap from one broker of
the three (every broker in turn) and see one cluster: the three brokers in
Metadata and DescribeCluster with their racks, a topic's partitions led by
all three, records produced through one broker read back through another.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

from confluent_kafka import Consumer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from tests.cluster.clients import (
    create_topic,
    leaders,
    live_brokers,
    produce_values,
    read_all,
    wait_for,
)
from tests.cluster.harness import Cluster
from tests.integration.harness import NODE_DIR

ALL = {1, 2, 3}


def test_confluent_through_each_broker(cluster: Cluster) -> None:
    """Produced through each broker in turn, every record is read back through the next one."""
    for node in cluster.nodes:
        assert live_brokers(node.bootstrap) == {n.node_id: n.bootstrap for n in cluster.nodes}
    create_topic(cluster.node(1).bootstrap, "spread", 6)
    assert set(leaders(cluster.node(2).bootstrap, "spread").values()) == ALL
    expected: dict[bytes, tuple[int, int]] = {}
    for node in cluster.nodes:
        values = [b"via-%d-%03d" % (node.node_id, i) for i in range(60)]
        expected.update(produce_values(node.bootstrap, "spread", values).acked)
    for node in cluster.nodes:
        records = read_all(node.bootstrap, "spread", 6)
        assert {r.value: (r.partition, r.offset) for r in records} == expected
        assert len(records) == len(expected) == 180
    # Offsets are dense per partition: no broker handed out an offset another one did.
    for partition in range(6):
        offsets = sorted(o for p, o in expected.values() if p == partition)
        assert offsets == list(range(len(offsets)))


def test_confluent_group_through_one_broker(cluster: Cluster) -> None:
    """A confluent consumer in a group, bootstrapped from broker 3, reads what broker 1 took."""
    create_topic(cluster.node(1).bootstrap, "grouped", 3)
    values = [b"g-%03d" % i for i in range(90)]
    produce_values(cluster.node(1).bootstrap, "grouped", values)
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.node(3).bootstrap,
            "group.id": "grouped-readers",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(["grouped"])
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < len(values) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error() is None:
                    value = msg.value()
                    assert isinstance(value, bytes)
                    got.append(value)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert sorted(got) == values


def test_kafka_python_through_two_brokers(cluster: Cluster) -> None:
    """kafka-python sees three brokers with racks, produces through broker 2 and reads through 3."""
    client = KafkaAdminClient(bootstrap_servers=cluster.node(2).bootstrap, request_timeout_ms=10000)
    try:
        described = client.describe_cluster()
        client.create_topics({"kp": {"num_partitions": 3}})
    finally:
        client.close()
    brokers = {(b["broker_id"], b["port"], b["rack"]) for b in described["brokers"]}
    assert brokers == {(n.node_id, n.port, f"rack-{n.node_id}") for n in cluster.nodes}
    assert described["controller_id"] in ALL
    wait_for("leaders of kp", lambda: len(leaders(cluster.node(2).bootstrap, "kp")) == 3)
    producer = KafkaProducer(bootstrap_servers=cluster.node(2).bootstrap, acks="all", retries=10)
    try:
        futures = [producer.send("kp", value=b"kp-%03d" % i, partition=i % 3) for i in range(60)]
        producer.flush(30)
        sent = {f.get(10).offset for f in futures}
    finally:
        producer.close(5)
    assert len(sent) == 20  # offsets 0..19 on each of the three partitions
    consumer = KafkaConsumer(
        "kp",
        bootstrap_servers=cluster.node(3).bootstrap,
        group_id="kp-readers",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < 60 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
        consumer.commit()
    finally:
        consumer.close()
    assert sorted(got) == [b"kp-%03d" % i for i in range(60)]


def _kafkajs(bootstrap: str, topic: str) -> dict[str, object]:
    """tests/integration/node/kafkajs_roundtrip.js against C{bootstrap}: what it did."""
    node = shutil.which("node")
    assert node is not None, "install Node.js (Debian package nodejs)"
    assert os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kafkajs")), "npm ci in " + NODE_DIR
    result = subprocess.run(
        [node, os.path.join(NODE_DIR, "kafkajs_roundtrip.js"), bootstrap, topic, "roundtrip"],
        cwd=NODE_DIR,
        env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-4000:]
    out = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert isinstance(out, dict)
    return out


def test_kafkajs_through_each_broker(cluster: Cluster) -> None:
    """kafkajs, bootstrapped from each broker in turn, creates, produces and consumes in a group."""
    for node in cluster.nodes:
        topic = f"js-{node.node_id}"
        out = _kafkajs(node.bootstrap, topic)
        assert out["created"] is True
        assert out["sent"] == 20
        partitions = out["partitions"]
        assert isinstance(partitions, list)
        assert {p["leader"] for p in partitions} == ALL
        received = out["received"]
        assert isinstance(received, list)
        assert sorted(int(m["value"].split("-")[1]) for m in received) == list(range(20))
        assert all(m["headers"] == {"n": m["value"].split("-")[1]} for m in received)
