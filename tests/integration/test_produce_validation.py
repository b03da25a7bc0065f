"""Raw-socket tests: a real broker refuses malformed produced batches as Kafka does.

Each batch of L{tests.wire.malformed.CASES} (a valid CRC around bad records,
garbage compressed data, a wrong record count, 2^31-1 records, a control
batch) is sent by hand over a TCP connection to a broker on 127.0.0.1; the
answer must carry Kafka's error code and an error message, nothing may be
stored, and the next valid batch must get offset 0. The decompression bombs
(1 GiB of zeros in a 32 KB zstd batch and in a 1 MB gzip one) must be
refused without stalling another client. A record 2 hours ahead of the
broker's clock is INVALID_TIMESTAMP, by hand and from confluent-kafka.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any, cast

import pytest
import pytest_twisted
from confluent_kafka import KafkaError, Producer
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from kafkatwist.errors import ErrorCode
from kafkatwist.messages.api_versions import ApiVersionsRequest
from kafkatwist.messages.produce import PartitionProduceResponse, ProduceResponse
from kafkatwist.storage.interfaces import IPartitionLog
from tests.apis.test_produce_idempotent import produce_request
from tests.client_batches import client_batch, timed_batch
from tests.integration import harness
from tests.integration.harness import RunningBroker
from tests.support import decode_reply, request_frame
from tests.wire.malformed import CASES, batch_of, gzip_bomb, record, zstd_bomb


def exchange(port: int, frame: bytes, timeout: float = 30.0) -> bytes:
    """Send one framed request on a new connection; the response without its size."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(frame)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(1 << 16)
            if not chunk:
                raise AssertionError("connection closed before the response")
            data += chunk
        return data[4:]


def produce(port: int, topic: str, batch: bytes, version: int = 9) -> PartitionProduceResponse:
    """Produce C{batch} to partition 0 of C{topic} over a raw socket; the partition's answer."""
    frame = request_frame(0, version, 7, produce_request({(topic, 0): batch}, acks=1))
    _, response = decode_reply(exchange(port, frame), ProduceResponse, version)
    part: PartitionProduceResponse = response.responses[0].partition_responses[0]
    return part


def log(broker: RunningBroker, topic: str) -> IPartitionLog:
    found = broker.broker.logs.get(topic, 0)
    assert found is not None
    return found


async def create(broker: RunningBroker, topic: str, **configs: str) -> None:
    await broker.broker.controller.create_topic(topic, 1, configs=configs or None)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest_twisted.ensureDeferred
async def test_malformed_batch_refused(broker: RunningBroker, name: str) -> None:
    """A malformed batch gets Kafka's code and a message, is not stored, and logs one line."""
    build, code = CASES[name]
    lines: list[str] = []

    def observe(event: LogEvent) -> None:
        text = formatEvent(event)
        if text.startswith("Refused a produce"):
            lines.append(text)

    await create(broker, "v")
    globalLogPublisher.addObserver(cast(ILogObserver, observe))
    try:
        answer = await harness.in_thread(produce, broker.port, "v", build())
    finally:
        globalLogPublisher.removeObserver(cast(ILogObserver, observe))
    assert answer.error_code == code
    assert answer.error_message
    assert answer.base_offset == -1
    assert log(broker, "v").log_end_offset == 0
    assert len(lines) == 1 and "v-0" in lines[0], lines
    good = await harness.in_thread(produce, broker.port, "v", client_batch(count=2))
    assert (good.error_code, good.base_offset) == (0, 0)


@pytest_twisted.ensureDeferred
async def test_record_errors_for_keyless_records_on_compacted_topic(broker: RunningBroker) -> None:
    """From Produce v8 a compacted topic's keyless records are listed in record_errors."""
    await create(broker, "compacted", **{"cleanup.policy": "compact"})
    batch = batch_of(record(), record(None, index=1))
    answer = await harness.in_thread(produce, broker.port, "compacted", batch, 8)
    assert answer.error_code == ErrorCode.INVALID_RECORD
    assert [e.batch_index for e in answer.record_errors] == [1]
    assert "without key" in (answer.record_errors[0].batch_index_error_message or "")
    assert log(broker, "compacted").log_end_offset == 0


def api_versions_latency(port: int, until: list[bool]) -> float:
    """Send ApiVersions on one connection until C{until} is set; the slowest answer in seconds."""
    slowest = 0.0
    frame = request_frame(18, 3, 1, ApiVersionsRequest("t", "1"))
    deadline = time.monotonic() + 60
    while not until and time.monotonic() < deadline:
        start = time.monotonic()
        exchange(port, frame)
        slowest = max(slowest, time.monotonic() - start)
        time.sleep(0.005)
    return slowest


@pytest_twisted.ensureDeferred
async def test_bombs_refused_without_stalling_others(broker: RunningBroker) -> None:
    """1 GiB of zeros in a 32 KB zstd or 1 MB gzip batch is refused; other clients keep answers."""
    bombs = {"zstd": zstd_bomb(1 << 30), "gzip": gzip_bomb(1 << 30)}
    assert len(bombs["zstd"]) < 40_000 and len(bombs["gzip"]) < 1_048_588
    for name, bomb in bombs.items():
        topic = f"bomb-{name}"
        await create(broker, topic)
        done: list[bool] = []
        other = harness.in_thread(api_versions_latency, broker.port, done)
        started = time.monotonic()
        answer: Any = await harness.in_thread(produce, broker.port, topic, bomb)
        elapsed = time.monotonic() - started
        done.append(True)
        slowest = await other
        assert answer.error_code == ErrorCode.INVALID_RECORD, name
        assert "decompress to more than" in (answer.error_message or "")
        assert log(broker, topic).log_end_offset == 0
        assert elapsed < 10, (name, elapsed)
        assert slowest < 1.0, (name, slowest)


@pytest_twisted.ensureDeferred
async def test_record_two_hours_ahead_refused(broker: RunningBroker) -> None:
    """A raw v8 produce of a record 2 hours ahead gets INVALID_TIMESTAMP and its record error."""
    await create(broker, "ahead")
    now = int(time.time() * 1000)
    batch = timed_batch([now, now + 2 * 3_600_000])
    answer = await harness.in_thread(produce, broker.port, "ahead", batch, 8)
    assert answer.error_code == ErrorCode.INVALID_TIMESTAMP
    assert answer.error_message == "One or more records have been rejected due to invalid timestamp"
    assert [e.batch_index for e in answer.record_errors] == [1]
    message = answer.record_errors[0].batch_index_error_message or ""
    assert message.startswith(f"Timestamp {now + 2 * 3_600_000} of message with offset 1 is out")
    assert log(broker, "ahead").log_end_offset == 0


def produce_with_timestamps(bootstrap: str, topic: str, timestamps: list[int]) -> list[int]:
    """Produce one message per timestamp with confluent-kafka; each delivery's error code."""
    codes: list[int] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "retries": 0})
    for timestamp in timestamps:
        producer.produce(
            topic,
            b"v",
            timestamp=timestamp,
            on_delivery=lambda err, _msg: codes.append(0 if err is None else err.code()),
        )
        producer.flush(15)
    return codes


@pytest_twisted.ensureDeferred
async def test_confluent_kafka_gets_invalid_timestamp(broker: RunningBroker) -> None:
    """confluent-kafka producing a message 2 hours ahead gets INVALID_TIMESTAMP; now is accepted."""
    await create(broker, "clients")
    now = int(time.time() * 1000)
    codes = await harness.in_thread(
        produce_with_timestamps, broker.bootstrap, "clients", [now + 2 * 3_600_000, now]
    )
    assert codes == [KafkaError.INVALID_TIMESTAMP, 0]
    assert log(broker, "clients").log_end_offset == 1
