"""Client quotas with real clients: the Java admin's quota calls, and a throttled producer."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import pytest_twisted
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from kafka.protocol.admin import AlterClientQuotasRequest, AlterClientQuotasResponse

from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_java,
    start_broker,
    stop_broker,
)
from tests.integration.raw import RawClient
from tests.support import request_frame

JAVA_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java", "QuotaAdmin.java")


async def quota_admin(running: RunningBroker, command: str, classes: str) -> list[str]:
    """Compile QuotaAdmin.java into C{classes} (once), run one command; its output lines."""
    return await run_java("QuotaAdmin", [running.bootstrap, command], classes, timeout=90)


EVERY_QUOTA = [
    "ENTITY client-id=<default> request_percentage=50.5",
    "ENTITY client-id=app,user=ANONYMOUS consumer_byte_rate=2048.0 producer_byte_rate=1024.0",
    "ENTITY ip=127.0.0.1 connection_creation_rate=10.0",
    "ENTITY user=<default> producer_byte_rate=4096.0",
    "END",
]


@pytest_twisted.ensureDeferred
async def test_java_admin_alters_and_describes_quotas(tmp_path: Any) -> None:
    """kafka-clients 4.3's Admin sets, filters, removes quotas, and finds them after a restart."""
    log_dir = str(tmp_path / "logs")
    classes = str(tmp_path / "classes")
    running = await start_broker(log_dir)
    try:
        lines = await quota_admin(running, "set", classes)
    finally:
        await stop_broker(running)
    assert lines[0] == "COUNT 0"  # validate_only wrote nothing
    assert lines[1:6] == EVERY_QUOTA
    assert lines[6:8] == ["ENTITY user=<default> producer_byte_rate=4096.0", "END"]
    assert lines[8] == "ERROR InvalidRequestException Invalid configuration key nope"
    assert lines[9:] == [
        "ENTITY client-id=app,user=ANONYMOUS producer_byte_rate=1024.0",
        "END",
    ]
    running = await start_broker(log_dir)
    try:
        after = await quota_admin(running, "describe", classes)
    finally:
        await stop_broker(running)
    expected = list(EVERY_QUOTA)
    expected[1] = "ENTITY client-id=app,user=ANONYMOUS producer_byte_rate=1024.0"
    assert after == expected


QUOTA = 200_000  # producer_byte_rate, bytes per second
CLIENT_ID = "throttled-producer"


def set_quota(
    port: int, client_id: str = CLIENT_ID, key: str = "producer_byte_rate", value: float = QUOTA
) -> None:
    """Set a quota of a client-id through AlterClientQuotas encoded by kafka-python."""
    request = AlterClientQuotasRequest(
        entries=[
            AlterClientQuotasRequest.EntryData(
                entity=[
                    AlterClientQuotasRequest.EntryData.EntityData(
                        entity_type="client-id", entity_name=client_id
                    )
                ],
                ops=[
                    AlterClientQuotasRequest.EntryData.OpData(
                        key=key, value=float(value), remove=False
                    )
                ],
            )
        ],
        validate_only=False,
    )
    client = RawClient(port)
    try:
        client.send(request_frame(49, 1, 1, request.encode(version=1), flexible=True))
        reply = client.recv_frame()
        assert reply is not None
        # The response header v1: correlation id and an empty tagged-field section.
        response = AlterClientQuotasResponse.decode(reply[5:], version=1)
        assert [e.error_code for e in response.entries] == [0]
    finally:
        client.close()


def produce_for(
    bootstrap: str, topic: str, seconds: float
) -> tuple[list[tuple[float, int]], list[int]]:
    """
    Produce 10 KB records as fast as librdkafka lets us for C{seconds}.

    @return: when each record was acknowledged (seconds since the start)
        with its size, and the throttle times (ms) librdkafka reported (its
        C{throttle_cb}).
    """
    throttles: list[int] = []
    acks: list[tuple[float, int]] = []
    start = time.monotonic()

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            acks.append((time.monotonic() - start, len(msg.value())))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": CLIENT_ID,
            "linger.ms": 5,
            "batch.size": 65536,
            # A small queue: the loop waits on it rather than queueing a GB.
            "queue.buffering.max.kbytes": 1024,
            "throttle_cb": lambda event: throttles.append(int(event.throttle_time * 1000)),
        }
    )
    value = b"x" * 10_000
    while time.monotonic() - start < seconds:
        try:
            producer.produce(topic, value, on_delivery=delivered)
        except BufferError:
            producer.poll(0.01)
        producer.poll(0)
    # What is still queued is dropped (its deliveries fail and are not counted).
    producer.purge(in_queue=True, in_flight=False)
    producer.flush(30)
    return acks, throttles


@pytest.mark.broker_properties({"quota.window.num": "3", "quota.window.size.seconds": "1"})
@pytest_twisted.ensureDeferred
async def test_producer_over_its_byte_rate_is_throttled(
    broker: RunningBroker, topic_name: str
) -> None:
    """
    confluent-kafka producing flat out at a 200 KB/s quota is held to that rate.

    Unthrottled, librdkafka sends tens of MB/s over loopback. With 3 windows
    of 1 s, Kafka's rate spreads the first records over 2 s (quota * 2 s go
    out at once) and forgets samples after 3 s; from then on the broker's
    throttles (each response's throttle_time_ms, the connection muted that
    long) hold the producer to the quota. Measured from 3 s to 9 s, the
    acknowledged bytes per second are within 25% of 200 KB/s; at no time
    were more bytes acknowledged than the quota allows; and librdkafka
    reported the throttling.
    """
    await broker.broker.controller.create_topic(topic_name, 1)
    await in_thread(set_quota, broker.port)
    assert broker.broker.quotas.produce.quota("ANONYMOUS", CLIENT_ID) == QUOTA
    acks, throttles = await in_thread(produce_for, broker.bootstrap, topic_name, 9.0, timeout=90)
    assert throttles and max(throttles) > 0, throttles
    steady = sum(size for at, size in acks if 3.0 <= at < 9.0) / 6.0
    assert QUOTA * 0.75 <= steady <= QUOTA * 1.25, (steady, len(acks))
    # Never more than the windows allow: by time t, quota * (t + 2 s) (the rate's
    # minimum window), plus the one request that went over and was throttled.
    total = 0
    for at, size in acks:
        total += size
        assert total <= QUOTA * (at + 2.0) + 70_000, (at, total)


CONSUMER_QUOTA = 500_000  # consumer_byte_rate, bytes per second


def consume_all(
    bootstrap: str, topic: str, total: int
) -> tuple[list[tuple[float, int]], list[int]]:
    """
    Read C{total} bytes of values from the start of partition 0 with a throttled client id.

    @return: when each record arrived (seconds since the first poll) with its
        size, and the throttle times (ms) librdkafka reported.
    """
    throttles: list[int] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",
            "client.id": "throttled-consumer",
            "enable.auto.commit": False,
            "throttle_cb": lambda event: throttles.append(int(event.throttle_time * 1000)),
            # Fetches of about 100 KB: small against the quota's windows.
            "fetch.max.bytes": 100_000,
            "message.max.bytes": 100_000,
            "max.partition.fetch.bytes": 100_000,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[tuple[float, int]] = []
    start = time.monotonic()
    seen = 0
    try:
        while seen < total and time.monotonic() - start < 60:
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            value = msg.value()
            assert value is not None
            seen += len(value)
            got.append((time.monotonic() - start, len(value)))
    finally:
        consumer.close()
    return got, throttles


def produce_bytes(bootstrap: str, topic: str, count: int) -> None:
    """Produce C{count} records of 10 KB (no quota on this client)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 50_000})
    for _ in range(count):
        producer.produce(topic, b"y" * 10_000)
        producer.poll(0)
    assert producer.flush(30) == 0


@pytest.mark.broker_properties({"quota.window.num": "3", "quota.window.size.seconds": "1"})
@pytest_twisted.ensureDeferred
async def test_consumer_over_its_byte_rate_is_throttled(
    broker: RunningBroker, topic_name: str
) -> None:
    """
    confluent-kafka reading 4 MB at a 500 KB/s consumer_byte_rate gets about 500 KB/s.

    The consumer fetches about 100 KB at a time (with fetches as large as
    the windows allow, quota * (3 - 1) s = 1 MB, Kafka's rate admits one
    per window and the rate falls well under the quota, in Kafka as here).
    A fetch over the quota is answered empty with its throttle time and the
    connection muted. By time t at most quota * (t + 2 s) plus one fetch
    can have arrived, and from 2 s to the end the rate is within 25% of the
    quota.
    """
    await broker.broker.controller.create_topic(topic_name, 1)
    await in_thread(produce_bytes, broker.bootstrap, topic_name, 400)
    await in_thread(
        set_quota, broker.port, "throttled-consumer", "consumer_byte_rate", CONSUMER_QUOTA
    )
    got, throttles = await in_thread(
        consume_all, broker.bootstrap, topic_name, 4_000_000, timeout=90
    )
    assert sum(size for _, size in got) == 4_000_000
    assert throttles and max(throttles) > 0, throttles
    total = 0
    for at, size in got:
        total += size
        assert total <= CONSUMER_QUOTA * (at + 2.0) + 1_100_000, (at, total)
    end = got[-1][0]
    late = sum(size for at, size in got if at >= 2.0)
    steady = late / (end - 2.0)
    assert CONSUMER_QUOTA * 0.75 <= steady <= CONSUMER_QUOTA * 1.25, (steady, end)
