"""Real clients through the faults a test injects (L{kafkatwist.testing.faults}).

Each test starts a broker on a loopback port (the C{broker} fixture, or
L{running_broker} where the test restarts it), installs L{Faults} in its
service and drives confluent-kafka (librdkafka) or kafka-python through the
fault: retried errors, a connection closed or reset under the client, a
paused broker, a failed disk.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
import pytest_twisted
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AIOKafkaPartition
from attrs import define
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaPythonPartition

from kafkatwist.hooks import Exchange
from kafkatwist.testing.faults import Faults
from tests.brokers import log_of
from tests.integration.harness import RunningBroker, in_thread, running_broker, wait_until

COUNT = 20


def values(prefix: str, count: int = COUNT) -> list[bytes]:
    return [f"{prefix} {i}".encode() for i in range(count)]


def produce(bootstrap: str, topic: str, sent: list[bytes], **config: Any) -> list[Any]:
    """Produce C{sent} to partition 0 with librdkafka; each delivery's error or offset."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config})
    outcomes: list[Any] = []

    def delivered(err: Any, msg: Any) -> None:
        outcomes.append(err if err is not None else msg.offset())

    for value in sent:
        producer.produce(topic, value=value, partition=0, on_delivery=delivered)
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} messages neither delivered nor failed"
    return outcomes


def consume_reporting(bootstrap: str, topic: str, count: int) -> tuple[list[bytes], list[int]]:
    """
    The first C{count} values of partition 0 with librdkafka (assigned, no group), and the
    codes of the errors it reported on the way.
    """
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "faults", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    errors: list[int] = []
    try:
        while len(got) < count:
            for msg in consumer.consume(count, timeout=0.5):
                error = msg.error()
                if error is None:
                    got.append(msg.value() or b"")
                else:
                    errors.append(error.code())
    finally:
        consumer.close()
    return got, errors


def consume(bootstrap: str, topic: str, count: int) -> list[bytes]:
    """The first C{count} values of partition 0 with librdkafka; no error on the way."""
    got, errors = consume_reporting(bootstrap, topic, count)
    assert not errors, errors
    return got


@define
class ProduceCount:
    """A request hook counting the Produce requests the broker received."""

    count: int = 0

    def received(self, exchange: Exchange) -> None:
        self.count += exchange.api_key == 0

    def answered(self, exchange: Exchange) -> None:
        pass


async def create(running: RunningBroker, topic: str, partitions: int = 1) -> None:
    await running.broker.controller.create_topic(topic, partitions)


@pytest_twisted.ensureDeferred
async def test_idempotent_producer_retries_not_leader(
    broker: RunningBroker, topic_name: str
) -> None:
    """An idempotent librdkafka producer retries NOT_LEADER_OR_FOLLOWER; each record lands once."""
    await create(broker, topic_name)
    faults = Faults.install(broker.service)
    faults.fail_next("Produce", "NOT_LEADER_OR_FOLLOWER", count=3)
    sent = values("idempotent")
    outcomes = await in_thread(
        produce, broker.bootstrap, topic_name, sent, **{"enable.idempotence": True}
    )
    assert sorted(outcomes) == list(range(COUNT))
    assert faults.pending() == 0
    assert log_of(broker.broker, topic_name, 0).log_end_offset == COUNT
    assert await in_thread(consume, broker.bootstrap, topic_name, COUNT) == sent


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "plain"])
@pytest_twisted.ensureDeferred
async def test_late_produce_response_retried(
    broker: RunningBroker, topic_name: str, idempotent: bool
) -> None:
    """
    A Produce appended but answered after librdkafka's request timeout is retried: the
    idempotent producer's retry is a recognised duplicate (each record once); a plain
    producer's is appended again (each record twice: at least once).
    """
    await create(broker, topic_name)
    faults = Faults.install(broker.service)
    faults.delay_response_next("Produce", 3.0)
    sent = values("late", 3)
    requests = ProduceCount()
    broker.broker.hooks.append(requests)
    # librdkafka times a ProduceRequest out after socket.timeout.ms (request.timeout.ms is
    # the broker's ack timeout), then disconnects and retries.
    config = {"enable.idempotence": idempotent, "socket.timeout.ms": 1000, "linger.ms": 50}
    outcomes = await in_thread(produce, broker.bootstrap, topic_name, sent, **config)
    assert all(isinstance(offset, int) for offset in outcomes), outcomes
    assert faults.pending() == 0
    assert requests.count >= 2
    copies = 1 if idempotent else 2
    assert log_of(broker.broker, topic_name, 0).log_end_offset == 3 * copies
    assert await in_thread(consume, broker.bootstrap, topic_name, 3 * copies) == sent * copies


@pytest_twisted.ensureDeferred
async def test_consumer_through_fetch_errors(broker: RunningBroker, topic_name: str) -> None:
    """A librdkafka consumer gets through injected Fetch errors and reads everything, in order."""
    await create(broker, topic_name)
    sent = values("fetched")
    assert sorted(await in_thread(produce, broker.bootstrap, topic_name, sent)) == list(
        range(COUNT)
    )
    faults = Faults.install(broker.service)
    faults.fail_next("Fetch", "NOT_LEADER_OR_FOLLOWER", count=2)
    faults.fail_next("Fetch", "UNKNOWN_SERVER_ERROR")
    got, errors = await in_thread(consume_reporting, broker.bootstrap, topic_name, COUNT)
    # librdkafka retries NOT_LEADER_OR_FOLLOWER quietly (after a metadata refresh) and
    # reports the unknown error to the application, fetching on.
    assert (got, errors) == (sent, [KafkaError.UNKNOWN])
    assert faults.pending() == 0


def kafka_python_producer(bootstrap: str, **config: Any) -> KafkaProducer:
    """A kafka-python producer (acks=1, no idempotence), made off the reactor: it bootstraps."""
    return KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0, **config)


def kafka_python_round(bootstrap: str, producer: KafkaProducer, topic: str, value: bytes) -> int:
    """Send one record with C{producer} (reconnecting if it must); its offset."""
    return int(producer.send(topic, value=value, partition=0).get(timeout=20).offset)


def kafka_python_read(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        consumer.assign([KafkaPythonPartition(topic, 0)])
        consumer.seek(KafkaPythonPartition(topic, 0), 0)
        got: list[bytes] = []
        while len(got) < count:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
        return got
    finally:
        consumer.close()


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
@pytest_twisted.ensureDeferred
async def test_kafka_python_reconnects_after_drop(
    broker: RunningBroker, topic_name: str, reset: bool
) -> None:
    """kafka-python's producer, its connections closed or reset under it, reconnects and sends."""
    await create(broker, topic_name)
    faults = Faults.install(broker.service)
    producer = await in_thread(kafka_python_producer, broker.bootstrap)
    try:
        first = await in_thread(kafka_python_round, broker.bootstrap, producer, topic_name, b"a")
        factory = broker.service.listeners[0].factory
        before = {conn.peer for conn in factory.connections}
        assert faults.drop_connections(reset=reset) == len(before) >= 1
        second = await in_thread(kafka_python_round, broker.bootstrap, producer, topic_name, b"b")
        # The send went over a new connection: none of the dropped ones is left.
        assert not before & {conn.peer for conn in factory.connections}
    finally:
        await in_thread(producer.close, 5)
    assert (first, second) == (0, 1)
    assert await in_thread(kafka_python_read, broker.bootstrap, topic_name, 2) == [b"a", b"b"]


async def aiokafka_read_across_drop(
    bootstrap: str, topic: str, ready: threading.Event, dropped: threading.Event
) -> list[bytes]:
    """An aiokafka consumer: read one record, wait for the test's drop, read one more."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = AIOKafkaPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got: list[bytes] = []
        while len(got) < 2:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(r.value or b"" for r in records)
            if got and not ready.is_set():
                ready.set()
            while ready.is_set() and not dropped.is_set():
                await asyncio.sleep(0.05)
        return got
    finally:
        await consumer.stop()


@pytest_twisted.ensureDeferred
async def test_aiokafka_consumer_reads_on_after_reset(
    broker: RunningBroker, topic_name: str
) -> None:
    """An aiokafka consumer, its connections reset while it polls, reconnects and reads on."""
    await create(broker, topic_name)
    await in_thread(produce, broker.bootstrap, topic_name, [b"a"])
    faults = Faults.install(broker.service)
    ready, dropped = threading.Event(), threading.Event()

    def consume_in_loop() -> list[bytes]:
        reading = aiokafka_read_across_drop(broker.bootstrap, topic_name, ready, dropped)
        return asyncio.run(asyncio.wait_for(reading, 25))

    reading = in_thread(consume_in_loop)
    await wait_until(ready.is_set)
    assert faults.drop_connections(reset=True) >= 1
    dropped.set()
    await in_thread(produce, broker.bootstrap, topic_name, [b"b"])
    assert await reading == [b"a", b"b"]


def socket_end(port: int, connected: list[socket.socket]) -> str:
    """Connect, let the test drop the connection, and say how it ended: FIN or RST."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        connected.append(sock)
        try:
            data = sock.recv(1)
        except ConnectionResetError:
            return "RST"
        return "FIN" if data == b"" else f"data {data!r}"


@pytest.mark.parametrize(("reset", "end"), [(False, "FIN"), (True, "RST")])
@pytest_twisted.ensureDeferred
async def test_drop_is_a_fin_reset_an_rst(broker: RunningBroker, reset: bool, end: str) -> None:
    """A client socket sees drop_connections end with a FIN, and with reset an RST."""
    faults = Faults.install(broker.service)
    connected: list[socket.socket] = []
    ended = in_thread(socket_end, broker.port, connected)
    factory = broker.service.listeners[0].factory
    await wait_until(lambda: bool(connected and factory.connections))
    assert faults.drop_connections(reset=reset) == 1
    assert await ended == end


def produce_while_paused(bootstrap: str, topic: str) -> list[Any]:
    """A producer whose record times out (message.timeout.ms) while the broker holds it."""
    return produce(
        bootstrap,
        topic,
        [b"held"],
        **{"message.timeout.ms": 1500, "request.timeout.ms": 1000, "enable.idempotence": False},
    )


@pytest_twisted.ensureDeferred
async def test_paused_broker_client_times_out_then_resumes(
    broker: RunningBroker, topic_name: str
) -> None:
    """Paused, a librdkafka produce times out; resumed, the broker answers again."""
    await create(broker, topic_name)
    await in_thread(produce, broker.bootstrap, topic_name, [b"before"])
    faults = Faults.install(broker.service)
    faults.pause()
    [outcome] = await in_thread(produce_while_paused, broker.bootstrap, topic_name)
    assert isinstance(outcome, KafkaError), outcome
    assert outcome.code() in (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT), outcome
    faults.resume()
    assert faults.held() == 0
    [offset] = await in_thread(produce, broker.bootstrap, topic_name, [b"after"])
    assert isinstance(offset, int)
    assert (await in_thread(consume, broker.bootstrap, topic_name, offset + 1))[-1] == b"after"


@pytest_twisted.ensureDeferred
async def test_paused_broker_client_waits(broker: RunningBroker, topic_name: str) -> None:
    """A kafka-python send waits while the broker is paused and completes once it resumes."""
    await create(broker, topic_name)
    producer = await in_thread(kafka_python_producer, broker.bootstrap, request_timeout_ms=60000)
    try:
        await in_thread(kafka_python_round, broker.bootstrap, producer, topic_name, b"a")
        faults = Faults.install(broker.service)
        faults.pause()
        sending = in_thread(kafka_python_round, broker.bootstrap, producer, topic_name, b"b")
        await wait_until(lambda: faults.held() >= 1)
        assert not sending.called
        faults.resume()
        assert await sending == 1
    finally:
        await in_thread(producer.close, 5)


def produce_no_retries(bootstrap: str, topic: str, sent: list[bytes]) -> list[Any]:
    """Produce with acks=all and no retries: a retriable broker error is the delivery's error."""
    return produce(bootstrap, topic, sent, **{"enable.idempotence": False, "retries": 0})


@pytest_twisted.ensureDeferred
async def test_disk_failure_then_restart(tmp_path: Any, topic_name: str) -> None:
    """A failed disk gives a producer KAFKA_STORAGE_ERROR; after a restart, acked data is intact."""
    log_dir = str(tmp_path / "logs")
    sent = values("durable", 5)
    async with running_broker(log_dir) as running:
        await create(running, topic_name, 2)
        assert await in_thread(produce_no_retries, running.bootstrap, topic_name, sent) == list(
            range(5)
        )
        faults = Faults.install(running.service)
        faults.fail_disk(topic_name, 0, "EIO")
        await wait_until(lambda: faults.disk_failed(topic_name, 0))
        assert not faults.disk_failed(topic_name, 1)
        [refused] = await in_thread(produce_no_retries, running.bootstrap, topic_name, [b"x"])
        assert isinstance(refused, KafkaError), refused
        assert refused.code() == KafkaError.KAFKA_STORAGE_ERROR
        assert log_of(running.broker, topic_name, 0).log_end_offset == 5
    async with running_broker(log_dir) as restarted:
        assert not log_of(restarted.broker, topic_name, 0).is_offline
        assert await in_thread(consume, restarted.bootstrap, topic_name, 5) == sent
        after = await in_thread(produce_no_retries, restarted.bootstrap, topic_name, [b"more"])
        assert after == [5]
