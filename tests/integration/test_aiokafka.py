"""aiokafka against a loopback kafkatwist broker.

Each test runs one asyncio program in a thread with its own event loop
(``asyncio.run``), so the Twisted reactor keeps serving the broker meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_twisted
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.harness import RunningBroker, in_thread


def run_asyncio(main: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    """C{in_thread} for an asyncio coroutine function: a fresh loop in a fresh thread."""

    def run() -> Any:
        return asyncio.run(asyncio.wait_for(main(), timeout))

    return in_thread(run, timeout=timeout + 5)


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, partitions, 1)])
        assert [(t[0], t[1]) for t in response.topic_errors] == [(name, 0)]
    finally:
        await admin.close()


async def read(bootstrap: str, tps: list[TopicPartition], count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        got: list[Any] = []
        while len(got) < count:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(records)
        return got
    finally:
        await consumer.stop()


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
@pytest_twisted.ensureDeferred
async def test_round_trip(broker: RunningBroker, topic_name: str, codec: str | None) -> None:
    """AIOKafkaProducer sends keyed records with headers; AIOKafkaConsumer reads them back."""
    expected = [
        (
            i % 3,
            None if i % 6 == 1 else b"k%d" % i,
            None if i % 6 == 4 else b"v%d" % i * (i + 1),
            (("h", b"%d" % i),),
        )
        for i in range(30)
    ]

    async def main() -> tuple[list[Any], list[Any]]:
        await create_topic(broker.bootstrap, topic_name, 3)
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap, acks="all", compression_type=codec, linger_ms=5
        )
        await producer.start()
        try:
            sent = await asyncio.gather(
                *[
                    await producer.send(
                        topic_name, value, key=key, partition=p, headers=list(headers)
                    )
                    for p, key, value, headers in expected
                ]
            )
        finally:
            await producer.stop()
        got = await read(broker.bootstrap, [TopicPartition(topic_name, p) for p in range(3)], 30)
        return sent, got

    sent, got = await run_asyncio(main)
    assert sorted((m.partition, m.offset) for m in sent) == sorted(
        (i % 3, i // 3) for i in range(30)
    )
    got.sort(key=lambda r: (r.partition, r.offset))
    assert [(r.partition, r.key, r.value, tuple(r.headers)) for r in got] == sorted(
        expected, key=lambda e: e[0]
    )


@pytest_twisted.ensureDeferred
async def test_send_batch_and_highwater(broker: RunningBroker, topic_name: str) -> None:
    """A create_batch batch lands at offset 0; the consumer learns the high watermark."""

    async def main() -> tuple[Any, list[Any], int | None]:
        await create_topic(broker.bootstrap, topic_name, 1)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks=1)
        await producer.start()
        try:
            batch = producer.create_batch()
            for i in range(10):
                assert batch.append(key=None, value=b"batched-%d" % i, timestamp=None) is not None
            fut = await producer.send_batch(batch, topic_name, partition=0)
            meta = await fut
        finally:
            await producer.stop()
        tp = TopicPartition(topic_name, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, 0)
            got: list[Any] = []
            while len(got) < 10:
                got.extend((await consumer.getmany(tp, timeout_ms=500)).get(tp, []))
            return meta, got, consumer.highwater(tp)
        finally:
            await consumer.stop()

    meta, got, highwater = await run_asyncio(main)
    assert meta.offset == 0
    assert [(r.offset, r.value) for r in got] == [(i, b"batched-%d" % i) for i in range(10)]
    assert highwater == 10
