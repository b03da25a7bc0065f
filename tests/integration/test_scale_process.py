"""Process tests at scale: many partitions under a low descriptor limit, restarts, CreateTopics.

The broker runs as a child process (``twistd --nodaemon kafkatwist``) with its
``RLIMIT_NOFILE`` lowered, so that a broker holding several descriptors per
partition runs out of them; the full 10,000-partition figure is in
``bench/bench_scale.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it

from tests.integration.child import ChildBroker, free_port

#: The child's descriptor limit, and how many partitions it must hold under it.
NOFILE = 600
TOPICS = 4
PER_TOPIC = 100


def _create(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(60)


def _produce_one_each(bootstrap: str, topics: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 20})
    for name in topics:
        for p in range(PER_TOPIC):
            producer.produce(name, b"v", partition=p)
    assert producer.flush(60) == 0


def _end_offsets(bootstrap: str, topics: list[str]) -> list[int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    latest = OffsetSpec.latest()
    request = {TopicPartition(t, p): latest for t in topics for p in range(PER_TOPIC)}
    futures = admin.list_offsets(request, request_timeout=60)
    return [future.result(60).offset for future in futures.values()]


def _topic_names(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return set(admin.list_topics(timeout=20).topics)


def test_many_partitions_under_a_low_descriptor_limit(tmp_path: Path) -> None:
    """
    400 partitions under a 600-descriptor limit: create, produce to each, clean restart and
    SIGKILL restart all succeed, holding about one descriptor per partition at rest.
    """
    log_dir = str(tmp_path / "logs")
    port = free_port()
    topics = [f"many-{i}" for i in range(TOPICS)]
    child = ChildBroker(log_dir, port, nofile=NOFILE)
    child.start()
    try:
        base = child.open_descriptors()
        for name in topics:
            _create(child.bootstrap, name, PER_TOPIC)
        _produce_one_each(child.bootstrap, topics)
        time.sleep(0.5)
        per_partition = (child.open_descriptors() - base) / (TOPICS * PER_TOPIC)
        assert per_partition <= 1.2, per_partition
        assert _end_offsets(child.bootstrap, topics) == [1] * (TOPICS * PER_TOPIC)
    finally:
        assert child.terminate(timeout=30) == 0, child.output()
    assert os.path.exists(os.path.join(log_dir, ".kafka_cleanshutdown"))

    again = ChildBroker(log_dir, port, nofile=NOFILE)
    again.start()
    try:
        assert "Loaded 400 partitions" in again.output(), again.output()
        assert "after a clean shutdown" in again.output(), again.output()
        per_partition = (again.open_descriptors() - base) / (TOPICS * PER_TOPIC)
        assert per_partition <= 1.2, per_partition
        assert _end_offsets(again.bootstrap, topics) == [1] * (TOPICS * PER_TOPIC)
        _produce_one_each(again.bootstrap, topics)
    finally:
        again.kill()

    crashed = ChildBroker(log_dir, port, nofile=NOFILE)
    crashed.start()
    try:
        output = crashed.output()
        assert "Loaded 400 partitions" in output and "after an unclean shutdown" in output, output
        assert "Could not open" not in output, output
        assert _end_offsets(crashed.bootstrap, topics) == [2] * (TOPICS * PER_TOPIC)
    finally:
        assert crashed.terminate(timeout=30) == 0, crashed.output()


def test_new_log_dir_is_not_an_unclean_shutdown(tmp_path: Path) -> None:
    """A first start on a brand-new log dir logs a new dir, not an unclean shutdown."""
    child = ChildBroker(str(tmp_path / "logs"))
    child.start()
    try:
        output = child.output()
        assert "Loaded 0 partitions" in output and "(a new log dir)" in output, output
        assert "unclean" not in output, output
    finally:
        assert child.terminate() == 0, child.output()
    again = ChildBroker(str(tmp_path / "logs"))
    again.start()
    try:
        assert "after a clean shutdown" in again.output(), again.output()
    finally:
        assert again.terminate() == 0, again.output()


def test_create_topics_out_of_descriptors_leaves_nothing(tmp_path: Path) -> None:
    """
    A topic with more partitions than descriptors left fails with KAFKA_STORAGE_ERROR and leaves
    no half-created topic behind, before or after a restart; the broker keeps serving.
    """
    log_dir = str(tmp_path / "logs")
    port = free_port()
    child = ChildBroker(log_dir, port, nofile=NOFILE)
    child.start()
    try:
        admin = AdminClient({"bootstrap.servers": child.bootstrap})
        future = admin.create_topics([NewTopic("too-big", 2 * NOFILE, 1)])["too-big"]
        try:
            future.result(60)
        except KafkaException as e:
            error = e.args[0]
            assert error.name() == "KAFKA_STORAGE_ERROR", error
            assert "Error while creating log" in error.str(), error
        else:
            raise AssertionError("creating 1200 partitions under 600 descriptors succeeded")
        assert "Creating topic too-big failed" in child.output(), child.output()
        assert "too-big" not in _topic_names(child.bootstrap)
        assert not [name for name in os.listdir(log_dir) if name.startswith("too-big-")]
        _create(child.bootstrap, "small", 3)
        assert "small" in _topic_names(child.bootstrap)
    finally:
        assert child.terminate(timeout=30) == 0, child.output()
    again = ChildBroker(log_dir, port, nofile=NOFILE)
    again.start()
    try:
        names = _topic_names(again.bootstrap)
        assert "too-big" not in names and "small" in names, names
    finally:
        assert again.terminate(timeout=30) == 0, again.output()
