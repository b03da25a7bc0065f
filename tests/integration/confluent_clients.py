"""confluent-kafka (librdkafka) helpers for the integration tests: admin calls, produce, consume.

Each helper blocks; tests run them with L{tests.integration.harness.in_thread}.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin does not re-export these (mypy's no_implicit_reexport).
from confluent_kafka.admin._metadata import PartitionMetadata
from confluent_kafka.cimpl import NewTopic

from tests.security.certs import Pki

ProduceArgs = dict[str, Any]
"""Keyword arguments of one C{Producer.produce} call (value, key, headers, partition, ...)."""

DeliveryReport = tuple[KafkaError | None, int | None, int | None]
"""C{(error, partition, offset)} from one delivery report."""


def client_security(
    protocol: str,
    pki: Pki | None = None,
    identity: str | None = None,
    *,
    ca_file: str | None = None,
    sasl: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """
    librdkafka's security settings: C{security.protocol}, then what it needs.

    @param pki: The test certificates: its CA is trusted (SSL, SASL_SSL).
    @param identity: The name of the C{pki} certificate the client presents
        (C{"alice"}), or None for none.
    @param ca_file: The CA file to trust instead of C{pki}'s.
    @param sasl: (mechanism, user, password), for SASL_PLAINTEXT and SASL_SSL.
    """
    config: dict[str, Any] = {"security.protocol": protocol}
    ca = ca_file or (pki.ca_file if pki is not None else None)
    if ca is not None:
        config["ssl.ca.location"] = ca
    if identity is not None:
        assert pki is not None
        who = getattr(pki, identity)
        config.update({"ssl.certificate.location": who.cert_file, "ssl.key.location": who.key_file})
    if sasl is not None:
        mechanism, user, password = sasl
        config.update(
            {"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}
        )
    return config


def admin(bootstrap: str) -> AdminClient:
    """An AdminClient for the broker at C{bootstrap}."""
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def outcomes(
    client: AdminClient, futures: Mapping[str, Future[Any]], timeout: float = 10
) -> dict[str, int]:
    """Each admin future's error code (0 for success); C{client} is kept alive meanwhile."""
    out = {}
    for name, future in futures.items():
        try:
            future.result(timeout)
            out[name] = 0
        except KafkaException as e:
            out[name] = e.args[0].code()
    return out


def topic_partitions(bootstrap: str, name: str) -> dict[int, PartitionMetadata] | None:
    """The partitions list_topics reports for one topic, or None when absent."""
    md = admin(bootstrap).list_topics(timeout=10)
    topic = md.topics.get(name)
    return None if topic is None else dict(topic.partitions)


def create(bootstrap: str, *topics: NewTopic, validate_only: bool = False) -> dict[str, int]:
    """Create C{topics}; each one's error code (0 for success)."""
    client = admin(bootstrap)
    return outcomes(
        client,
        client.create_topics(list(topics), operation_timeout=10, validate_only=validate_only),
    )


def produce(
    bootstrap: str,
    topic: str,
    messages: list[ProduceArgs],
    extra: dict[str, Any] | None = None,
    **config: Any,
) -> list[DeliveryReport]:
    """
    Produce C{messages} (Producer.produce keyword arguments).

    @return: (error, partition, offset) per delivery report, in report order
        (the order of the messages within each partition).
    """
    reports: list[DeliveryReport] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config, **(extra or {})})
    for m in messages:
        producer.produce(
            topic,
            on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())),
            **m,
        )
    remaining = producer.flush(15)
    assert remaining == 0, f"{remaining} messages still queued"
    return reports


def consume(
    bootstrap: str,
    assignments: list[tuple[str, int, int]],
    count: int,
    timeout: float = 10,
    extra: dict[str, Any] | None = None,
) -> list[Message]:
    """Read C{count} messages from explicit (topic, partition, offset) assignments."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "kafkatwist-assign-only",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            **(extra or {}),
        }
    )
    try:
        consumer.assign([TopicPartition(t, p, o) for t, p, o in assignments])
        got: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            got.append(msg)
        return got
    finally:
        consumer.close()


def value_of(msg: Message) -> bytes:
    """The value of C{msg}, which must not be null."""
    value = msg.value()
    assert value is not None, "null value"
    return value
