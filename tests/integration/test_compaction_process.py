"""SIGKILL during log cleaning: a broker killed while it cleans loses nothing compaction keeps.

The broker runs as a child process with small segments, a 100 ms cleaner
backoff and the cleaner's I/O throttled, so that a pass lasts long enough
to be killed in the middle (or in its swap). Each cycle writes more updates
of the same keys, waits a random moment, SIGKILLs the broker and restarts
it; at the end every key reads back with the latest value acknowledged for
it (and nothing else: the deleted keys stay deleted), and the cleaner has
finished passes in between.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.integration.child import ChildBroker, free_port

KEYS = 300
SEGMENT_BYTES = 65_536
#: Most of a segment (Kafka refuses a batch larger than segment.bytes): the
#: record that carries it starts a new segment after any other batch.
ROLL_VALUE = b"r" * (SEGMENT_BYTES - 4096)

OVERRIDES = [
    f"--override=log.segment.bytes={SEGMENT_BYTES}",
    "--override=log.cleaner.backoff.ms=100",
    "--override=log.cleaner.dedupe.buffer.size=16777216",
    # About 1 MB/s read plus written: a pass over a few hundred KB takes a good part of a second.
    "--override=log.cleaner.io.max.bytes.per.second=1000000",
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


def consume_keyed(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    """Every record of partition 0 from offset 0, as (key, value)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list[tuple[bytes, bytes | None]] = []
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
            key = msg.key()
            assert key is not None
            out.append((key, msg.value()))
    finally:
        consumer.close()
    return out


def test_sigkill_while_cleaning_keeps_latest_values(tmp_path: Path) -> None:
    """Kills during cleaning, again and again: every key keeps its latest acknowledged value."""
    log_dir = str(tmp_path / "logs")
    child = ChildBroker(log_dir, free_port(), OVERRIDES)
    child.start()
    topic = "compacted"
    create_topic(child.bootstrap, topic, TOPIC_CONFIGS)
    latest: dict[bytes, bytes | None] = {}
    rng = random.Random(12)
    outputs: list[str] = []
    round_ = 0
    errors: list[object] = []
    try:
        for _cycle in range(4):
            producer = Producer(
                {"bootstrap.servers": child.bootstrap, "acks": "all", "linger.ms": 5}
            )
            errors.clear()

            def delivered(err: object, msg: object) -> None:
                if err is not None:
                    errors.append(err)
                else:
                    latest[msg.key()] = msg.value()  # type: ignore[attr-defined]

            for _ in range(12):
                round_ += 1
                for k in range(KEYS):
                    key = b"key-%04d" % k
                    deleted = k % 7 == 3 and round_ % 5 == 0
                    value = None if deleted else b"v-%06d-%s" % (round_, key)
                    producer.produce(
                        topic, key=key, value=value, partition=0, on_delivery=delivered
                    )
                producer.poll(0)
            assert producer.flush(30) == 0
            assert errors == []
            # A record of most of a segment rolls the log: the updates become cleanable.
            # Then a kill at a random moment of the passes that follow.
            producer.produce(topic, key=b"roll", value=ROLL_VALUE, partition=0)
            assert producer.flush(30) == 0
            latest[b"roll"] = ROLL_VALUE
            time.sleep(rng.uniform(0.05, 0.8))
            child.kill()
            outputs.append(child.output())
            child.start()
        # After the last restart, a pass finishes over what the kills left.
        deadline = time.monotonic() + 20
        while "Cleaned compacted-0" not in child.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        records = consume_keyed(child.bootstrap, topic)
    finally:
        outputs.append(child.output())
        child.terminate()
    output = "".join(outputs)
    assert "Cleaned compacted-0" in outputs[-1], output[-3000:]
    seen: dict[bytes, bytes | None] = {}
    for key, value in records:
        seen[key] = value
    live = {k: v for k, v in latest.items() if v is not None}
    assert {k: v for k, v in seen.items() if v is not None} == live
    assert "Traceback" not in output, output[-3000:]
