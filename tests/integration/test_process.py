"""Process-level tests: the real twistd plugin, graceful stops and crashes.

The broker runs as a child process (``twistd --nodaemon kafkatwist``), as a
user runs it; clients talk to it over loopback.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

# confluent_kafka.admin re-exports NewTopic without marking it (upstream typing gap).
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kafkatwist.apis import REGISTRY
from tests.integration.child import ChildBroker, free_port

#: ApiVersions v4, correlation id 0x50b2a730, client "kafka-cli" 0.1: the hand-made
#: request in the course's starter README (../shared/challenge/starter-README.md).
API_VERSIONS_V4 = bytes.fromhex(
    "000000230012000450b2a73000096b61666b612d636c69000a6b61666b612d636c6904302e3100"
)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def _api_versions(port: int) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Send the starter README's request; decode the v4 answer by hand."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(API_VERSIONS_V4)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        body = _recv_exactly(sock, size)
    correlation_id, error_code = struct.unpack_from(">ih", body, 0)
    count = body[6] - 1  # a compact array length (fits one byte here)
    keys = [struct.unpack_from(">hhh", body, 7 + 7 * i) for i in range(count)]
    # Each entry ends with an empty tagged-field section.
    assert all(body[7 + 7 * i + 6] == 0 for i in range(count))
    return correlation_id, error_code, keys


def test_twistd_plugin_answers_api_versions(tmp_path: Path) -> None:
    """The twistd plugin, started as a program, answers ApiVersions v4 with exactly its APIs."""
    child = ChildBroker(str(tmp_path / "logs"))
    port = child.start()
    try:
        correlation_id, error_code, keys = _api_versions(port)
    finally:
        assert child.terminate() == 0
    assert correlation_id == 0x50B2A730
    assert error_code == 0
    expected = sorted((s.api_key, s.advertised.lowest, s.advertised.highest) for s in REGISTRY)
    assert sorted(keys) == expected


def _produce(bootstrap: str, topic: str, values: list[bytes], **config: object) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", **config})
    for v in values:
        producer.produce(topic, v, partition=0)
    assert producer.flush(20) == 0


def _consume_all(bootstrap: str, topic: str, partition: int = 0) -> list[tuple[int, bytes]]:
    """Every record of one partition, as (offset, value)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, partition, 0)])
    out: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            error = msg.error()
            if error:
                if error.code() == -191:  # _PARTITION_EOF
                    break
                raise AssertionError(f"consume error: {error}")
            offset, value = msg.offset(), msg.value()
            assert offset is not None and value is not None, (offset, value)
            out.append((offset, value))
    finally:
        consumer.close()
    return out


def _create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(15)


def test_graceful_stop_then_clean_restart(tmp_path: Path) -> None:
    """
    SIGTERM exits 0 with the clean-shutdown marker; the restart recovers nothing and serves the
    data.
    """
    log_dir = str(tmp_path / "logs")
    child = ChildBroker(log_dir)
    child.start()
    _create_topic(child.bootstrap, "kept")
    values = [f"message-{i}".encode() for i in range(100)]
    _produce(child.bootstrap, "kept", values)
    started = time.monotonic()
    assert child.terminate(timeout=10) == 0, child.output()
    assert time.monotonic() - started < 5
    assert os.path.exists(os.path.join(log_dir, ".kafka_cleanshutdown"))
    again = ChildBroker(log_dir)
    again.start()
    try:
        assert "after a clean shutdown" in again.output()
        assert "Truncat" not in again.output() and "recovered" not in again.output().lower()
        assert [v for _, v in _consume_all(again.bootstrap, "kept")] == values
    finally:
        assert again.terminate() == 0
    # The marker is consumed at start-up and written again by the clean stop.
    assert os.path.exists(os.path.join(log_dir, ".kafka_cleanshutdown"))


def test_sigkill_loses_no_acknowledged_message(tmp_path: Path) -> None:
    """
    A broker SIGKILLed repeatedly under idempotent acks=all producers keeps every
    acknowledged message exactly once, at contiguous offsets.
    """
    log_dir = str(tmp_path / "logs")
    port = free_port()
    child = ChildBroker(log_dir, port)
    child.start()
    topic = "crash"
    _create_topic(child.bootstrap, topic)
    acked: dict[bytes, int] = {}
    failed: list[tuple[bytes, str]] = []
    lock = threading.Lock()

    def delivered(err: object, msg: object) -> None:
        with lock:
            if err is None:
                acked[msg.value()] = msg.offset()  # type: ignore[attr-defined]
            else:
                failed.append((msg.value(), str(err)))  # type: ignore[attr-defined]

    producer = Producer(
        {
            "bootstrap.servers": child.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "message.timeout.ms": 120000,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 200,
            "retry.backoff.ms": 20,
        }
    )
    rng = random.Random(7)
    sent = 0

    def produce_for(seconds: float) -> None:
        nonlocal sent
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(50):
                producer.produce(topic, b"v%08d" % sent, partition=0, on_delivery=delivered)
                sent += 1
            producer.poll(0.005)

    try:
        for _ in range(5):
            produce_for(rng.uniform(0.3, 1.0))
            child.kill()
            produce_for(0.2)  # queued while the broker is down
            child.start()
        produce_for(0.5)
        assert producer.flush(90) == 0
    finally:
        output = child.output()
    assert failed == [], failed[:5]
    assert len(acked) == sent
    records = _consume_all(child.bootstrap, topic)
    child.terminate()
    offsets = [o for o, _ in records]
    assert offsets == list(range(len(records))), "offsets are not contiguous"
    values = [v for _, v in records]
    assert len(values) == len(set(values)), "a message is stored twice"
    stored = dict((v, o) for o, v in records)
    missing = [v for v in acked if v not in stored]
    assert missing == [], (missing[:5], output[-2000:])
    assert all(stored[v] == o for v, o in acked.items()), "an ack named the wrong offset"


def test_consume_a_large_log_in_small_fetches(tmp_path: Path) -> None:
    """Tens of thousands of records read back through many size-limited fetches of segment files."""
    child = ChildBroker(str(tmp_path / "logs"))
    child.start()
    try:
        _create_topic(child.bootstrap, "big")
        values = [b"%06d" % i + b"x" * 94 for i in range(30000)]
        # Batches much smaller than the fetch limits: each read ends inside a batch.
        producer = Producer(
            {"bootstrap.servers": child.bootstrap, "linger.ms": 5, "batch.size": 8192, "acks": 1}
        )
        for v in values:
            producer.produce("big", v, partition=0)
            producer.poll(0)
        assert producer.flush(30) == 0
        consumer = Consumer(
            {
                "bootstrap.servers": child.bootstrap,
                "group.id": "unused",
                "enable.auto.commit": False,
                # Fetch limits that end inside batches, so reads are trimmed.
                "fetch.max.bytes": 70000,
                "message.max.bytes": 70000,
                "max.partition.fetch.bytes": 50000,
            }
        )
        consumer.assign([TopicPartition("big", 0, 0)])
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < len(values) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                value = msg.value()
                assert value is not None
                got.append(value)
        consumer.close()
        assert got == values
    finally:
        assert child.terminate() == 0
