"""SIGKILL during log cleaning: a broker killed while it cleans loses nothing compaction keeps.

The broker runs as a child process with small segments, a 100 ms cleaner
backoff and the cleaner's I/O throttled to 2 MB/s, so that a pass over a
cycle's 3.6 MB of updates lasts a few seconds (Kafka's throttler only acts
once 300 ms of work have passed). Each cycle writes twelve rounds of
updates of the same keys, rolls the log, waits for the pass that follows to
write its first ``.cleaned`` file, SIGKILLs the broker at a chosen moment
after that (while it copies segments, around a swap) and restarts it. At the end every key
reads back with the latest value acknowledged for it (deleted keys stay
deleted), and a last pass finishes over what the kills left.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource

from tests.integration.child import ChildBroker, free_port
from tests.integration.txn_clients import READ_UNCOMMITTED, Record, read_all

KEYS = 300
ROUNDS = 12
VALUE = 1000
#: When each cycle's kill comes, in seconds after the pass has written its first
#: ``.cleaned`` file (so the kill lands in a pass, whatever the machine's speed).
KILL_AFTER = (0.0, 0.8, 0.3, 1.5)
SEGMENT_BYTES = 65_536
#: Most of a segment (Kafka refuses a batch larger than segment.bytes): the
#: record that carries it starts a new segment after any other batch.
ROLL_VALUE = b"r" * (SEGMENT_BYTES - 4096)

OVERRIDES = [
    f"--override=log.segment.bytes={SEGMENT_BYTES}",
    "--override=log.cleaner.backoff.ms=100",
    "--override=log.cleaner.dedupe.buffer.size=16777216",
    "--override=log.cleaner.io.max.bytes.per.second=2000000",
]

TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "3600000",
}


def create_topic(bootstrap: str, topic: str, configs: Mapping[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1, config=dict(configs))]).values():
        future.result(15)


def set_ratio(bootstrap: str, topic: str, ratio: str) -> None:
    """IncrementalAlterConfigs: C{topic}'s ``min.cleanable.dirty.ratio``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entry = ConfigEntry(
        "min.cleanable.dirty.ratio", ratio, incremental_operation=AlterConfigOpType.SET
    )
    resource = ConfigResource("TOPIC", topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(15)


def keyed(records: list[Record]) -> list[tuple[bytes, bytes | None]]:
    """C{(key, value)} of each record read, every one keyed (the topic is compacted)."""
    out = []
    for _, _, key, value in records:
        assert key is not None
        out.append((key, value))
    return out


def leftovers(log_dir: str, topic: str) -> list[str]:
    """The cleaner's files a kill left in the partition dir (.cleaned, .swap)."""
    directory = os.path.join(log_dir, f"{topic}-0")
    return sorted(n for n in os.listdir(directory) if n.endswith((".cleaned", ".swap")))


def wait_for_a_pass(log_dir: str, topic: str, timeout: float = 30.0) -> None:
    """Return once a cleaning pass has written a file of its own (or after C{timeout})."""
    deadline = time.monotonic() + timeout
    while not leftovers(log_dir, topic) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_sigkill_while_cleaning_keeps_latest_values(tmp_path: Path) -> None:
    """Kills during cleaning passes, again and again: every key keeps its latest value."""
    log_dir = str(tmp_path / "logs")
    child = ChildBroker(log_dir, free_port(), OVERRIDES)
    child.start()
    topic = "compacted"
    create_topic(child.bootstrap, topic, TOPIC_CONFIGS)
    latest: dict[bytes, bytes | None] = {}
    errors: list[object] = []
    interrupted: list[list[str]] = []
    outputs: list[str] = []

    def delivered(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)
        else:
            latest[msg.key()] = msg.value()  # type: ignore[attr-defined]

    try:
        for cycle, kill_after in enumerate(KILL_AFTER):
            producer = Producer(
                {
                    "bootstrap.servers": child.bootstrap,
                    "acks": "all",
                    "linger.ms": 5,
                    "batch.size": 16384,
                }
            )
            for r in range(ROUNDS):
                for k in range(KEYS):
                    key = b"key-%04d" % k
                    deleted = k % 7 == 3 and r == ROUNDS - 1 and cycle % 2 == 0
                    value = None if deleted else (b"%d-%d-" % (cycle, r)) + b"v" * VALUE
                    producer.produce(
                        topic, key=key, value=value, partition=0, on_delivery=delivered
                    )
                producer.poll(0)
            # A record of most of a segment rolls the log: the updates become cleanable.
            producer.produce(
                topic, key=b"roll", value=ROLL_VALUE, partition=0, on_delivery=delivered
            )
            assert producer.flush(30) == 0
            assert errors == []
            wait_for_a_pass(log_dir, topic)
            time.sleep(kill_after)
            child.kill()
            interrupted.append(leftovers(log_dir, topic))
            outputs.append(child.output())
            child.start()
        # After the last restart, one more roll makes sure a pass runs, and finishes,
        # over what the kills left.
        producer = Producer({"bootstrap.servers": child.bootstrap, "acks": "all"})
        producer.produce(topic, key=b"roll", value=ROLL_VALUE, partition=0, on_delivery=delivered)
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 30
        while "Cleaned compacted-0" not in child.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        records = keyed(read_all(child.bootstrap, topic, 1, READ_UNCOMMITTED, timeout=30))
    finally:
        outputs.append(child.output())
        child.terminate()
    output = "".join(outputs)
    assert "Cleaned compacted-0" in outputs[-1], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    seen: dict[bytes, list[bytes | None]] = {}
    for key, value in records:
        seen.setdefault(key, []).append(value)
    live = {k: v for k, v in latest.items() if v is not None}
    assert {k: v[-1] for k, v in seen.items() if v[-1] is not None} == live
    # Cleaned: at most one value per key besides what the last pass could not reach.
    assert len(records) < 3 * KEYS, len(records)
    # The kills did land in passes: some left a pass's .cleaned files behind.
    assert any(interrupted), interrupted


def test_sigterm_during_a_pass_stops_cleanly(tmp_path: Path) -> None:
    """SIGTERM in the middle of a pass: the pass is aborted, the stop is clean and quick."""
    log_dir = str(tmp_path / "logs")
    child = ChildBroker(log_dir, free_port(), OVERRIDES)
    child.start()
    topic = "compacted"
    # Not cleaned while it is written (a ratio above 1 is never reached): one long pass later.
    create_topic(child.bootstrap, topic, {**TOPIC_CONFIGS, "min.cleanable.dirty.ratio": "1"})
    producer = Producer({"bootstrap.servers": child.bootstrap, "linger.ms": 5, "batch.size": 16384})
    # 10.8 MB: more than the 300 ms of unthrottled work Kafka's throttler allows a pass.
    for r in range(3 * ROUNDS):
        for k in range(KEYS):
            producer.produce(topic, key=b"key-%04d" % k, value=b"%d-" % r + b"v" * VALUE)
        producer.poll(0)
    producer.produce(topic, key=b"roll", value=ROLL_VALUE, partition=0)
    assert producer.flush(30) == 0
    set_ratio(child.bootstrap, topic, "0.01")
    wait_for_a_pass(log_dir, topic)  # the pass (several seconds at 2 MB/s) is under way
    started = time.monotonic()
    assert child.terminate(timeout=15) == 0, child.output()[-3000:]
    assert time.monotonic() - started < 10
    assert "Cleaning compacted-0 was abandoned" in child.output(), child.output()[-3000:]
    assert os.path.exists(os.path.join(log_dir, ".kafka_cleanshutdown"))
    assert leftovers(log_dir, topic) == []
    again = ChildBroker(log_dir, free_port(), OVERRIDES)
    again.start()
    try:
        assert "after a clean shutdown" in again.output()
        deadline = time.monotonic() + 60
        while "Cleaned compacted-0" not in again.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "Cleaned compacted-0" in again.output(), again.output()[-3000:]
        records = keyed(read_all(again.bootstrap, topic, 1, READ_UNCOMMITTED, timeout=30))
    finally:
        assert again.terminate() == 0
    latest = {key: value for key, value in records}
    assert latest == {b"roll": ROLL_VALUE} | {
        b"key-%04d" % k: b"%d-" % (3 * ROUNDS - 1) + b"v" * VALUE for k in range(KEYS)
    }
    assert len(records) == KEYS + 1
