"""SASL_PLAINTEXT with real clients: PLAIN and SCRAM, refusals as the clients see them, KIP-368.

The broker serves one SASL_PLAINTEXT listener with PLAIN (users from the
listener's JAAS config), SCRAM-SHA-256 and SCRAM-SHA-512 (credentials
created by confluent-kafka's AdminClient, authenticated as the PLAIN admin).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from typing import Any

import pytest
import pytest_twisted
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin does not re-export these (mypy's no_implicit_reexport).
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kafkatwist.messages.sasl_handshake import SaslHandshakeRequest
from tests.integration.confluent_clients import client_security, consume, produce, value_of
from tests.integration.harness import RunningBroker, in_thread, start_broker, stop_broker
from tests.integration.raw import RawClient
from tests.security.certs import Pki, pem_stores, shared_pki
from tests.support import request_frame

JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_admin="admin-secret" user_alice="alice-secret";'
)


def sasl_properties(mechanisms: str = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512") -> dict[str, str]:
    """server.properties of a broker whose one listener is SASL_PLAINTEXT."""
    return {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": mechanisms,
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "num.partitions": "1",
    }


def sasl_ssl_properties(
    pki: Pki, mechanisms: str = "PLAIN,SCRAM-SHA-512", **more: str
) -> dict[str, str]:
    """server.properties of a broker with one SASL_SSL listener (the PEM stores of C{pki})."""
    return {
        "listeners": "SASL_SSL://127.0.0.1:0",
        "sasl.enabled.mechanisms": mechanisms,
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
        "num.partitions": "1",
        **pem_stores(pki, **more),
    }


async def start_sasl(tmp_path: Any, **extra: str) -> RunningBroker:
    props = sasl_properties()
    props.update({k.replace("_", "."): v for k, v in extra.items()})
    return await start_broker(str(tmp_path / "logs"), props)


def sasl_admin(bootstrap: str, security: dict[str, Any] | None = None) -> AdminClient:
    """An AdminClient authenticated as the PLAIN admin (or with the C{security} settings)."""
    if security is None:
        security = client_security("SASL_PLAINTEXT", sasl=("PLAIN", "admin", "admin-secret"))
    return AdminClient({"bootstrap.servers": bootstrap, **security})


def create_scram_user(
    bootstrap: str,
    user: str,
    password: str,
    mechanism: ScramMechanism,
    admin_security: dict[str, Any] | None = None,
) -> Any:
    """
    AdminClient.alter_user_scram_credentials, then describe_user_scram_credentials.

    @param admin_security: The admin's security settings (default: the PLAIN
        admin over SASL_PLAINTEXT).
    """
    client = sasl_admin(bootstrap, admin_security)
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(mechanism, 4096), password.encode()
    )
    for future in client.alter_user_scram_credentials([upsert]).values():
        future.result(10)
    futures = client.describe_user_scram_credentials([user])
    assert isinstance(futures, dict)
    described = futures[user].result(10)
    return [(info.mechanism, info.iterations) for info in described.scram_credential_infos]


def confluent_refusal(bootstrap: str, config: dict[str, Any]) -> str:
    """What librdkafka reports when the broker refuses its authentication (its log line)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger(f"rdkafka-{time.monotonic()}")
    logger.addHandler(Collect())
    errors: list[KafkaError] = []
    producer = Producer(
        {"bootstrap.servers": bootstrap, "logger": logger, "error_cb": errors.append, **config}
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("SASL" in r for r in records):
        producer.poll(0.2)
    return "\n".join(records)


def roundtrip_confluent(bootstrap: str, topic: str, config: dict[str, Any]) -> list[bytes]:
    """Produce three messages and read them back, over SASL."""
    reports = produce(bootstrap, topic, [{"value": f"v{i}".encode()} for i in range(3)], config)
    assert [r[0] for r in reports] == [None] * 3, reports
    return [value_of(m) for m in consume(bootstrap, [(topic, 0, 0)], 3, extra=config)]


@pytest_twisted.ensureDeferred
async def test_confluent_plain(tmp_path: Any) -> None:
    """librdkafka with PLAIN produces and consumes; a wrong password gets Kafka's message."""
    running = await start_sasl(tmp_path)
    try:
        config = client_security("SASL_PLAINTEXT", sasl=("PLAIN", "alice", "alice-secret"))
        values = await in_thread(roundtrip_confluent, running.bootstrap, "plain-topic", config)
        assert values == [b"v0", b"v1", b"v2"]
        refused = await in_thread(
            confluent_refusal,
            running.bootstrap,
            client_security("SASL_PLAINTEXT", sasl=("PLAIN", "alice", "nope")),
        )
        assert "Authentication failed: Invalid username or password" in refused, refused
    finally:
        await stop_broker(running)


@pytest_twisted.ensureDeferred
async def test_confluent_scram_512_survives_restart(tmp_path: Any) -> None:
    """
    SCRAM-SHA-512 users made with AdminClient authenticate, also after a restart; wrong ones fail.
    """
    running = await start_sasl(tmp_path)
    config = client_security("SASL_PLAINTEXT", sasl=("SCRAM-SHA-512", "carol", "carol-secret"))
    try:
        infos = await in_thread(
            create_scram_user,
            running.bootstrap,
            "carol",
            "carol-secret",
            ScramMechanism.SCRAM_SHA_512,
        )
        assert infos == [(ScramMechanism.SCRAM_SHA_512, 4096)]
        values = await in_thread(roundtrip_confluent, running.bootstrap, "scram-topic", config)
        assert values == [b"v0", b"v1", b"v2"]
        refused = await in_thread(
            confluent_refusal,
            running.bootstrap,
            client_security("SASL_PLAINTEXT", sasl=("SCRAM-SHA-512", "carol", "wrong")),
        )
        assert (
            "Authentication failed during authentication due to invalid credentials with "
            "SASL mechanism SCRAM-SHA-512" in refused
        ), refused
    finally:
        await stop_broker(running)
    running = await start_broker(running.log_dir, sasl_properties())
    try:
        reports = await in_thread(
            produce, running.bootstrap, "scram-topic", [{"value": b"after"}], config
        )
        assert [(r[0], r[2]) for r in reports] == [(None, 3)]
    finally:
        await stop_broker(running)


@pytest_twisted.ensureDeferred
async def test_wrong_mechanism(tmp_path: Any) -> None:
    """A mechanism the listener does not enable: the clients see UNSUPPORTED_SASL_MECHANISM."""
    props = sasl_properties("PLAIN")
    running = await start_broker(str(tmp_path / "logs"), props)
    try:
        refused = await in_thread(
            confluent_refusal,
            running.bootstrap,
            client_security("SASL_PLAINTEXT", sasl=("SCRAM-SHA-512", "alice", "alice-secret")),
        )
        assert "Unsupported SASL mechanism: broker's supported mechanisms: PLAIN" in refused
        try:
            await asyncio_deferred(
                create_conn(
                    "127.0.0.1",
                    running.port,
                    security_protocol="SASL_PLAINTEXT",
                    sasl_mechanism="SCRAM-SHA-256",
                    sasl_plain_username="alice",
                    sasl_plain_password="alice-secret",
                )
            )
        except UnsupportedSaslMechanismError:
            pass
        else:
            raise AssertionError("aiokafka connected with a mechanism the broker does not enable")
    finally:
        await stop_broker(running)


def asyncio_deferred(coro: Any) -> Any:
    """Run an asyncio coroutine to completion in a thread (aiokafka needs its own loop)."""
    return in_thread(asyncio.run, coro)


def kafka_python_roundtrip(bootstrap: str, topic: str, sasl: dict[str, Any]) -> list[bytes]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, **sasl)
    for i in range(3):
        producer.send(topic, f"k{i}".encode()).get(10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=5000, **sasl)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values = [m.value for _, m in zip(range(3), consumer, strict=False)]
    consumer.close()
    return values


def kafka_python_refusal(bootstrap: str, sasl: dict[str, Any]) -> str:
    """kafka-python's logged reason for failing to connect."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect()
    logging.getLogger("kafka").addHandler(handler)
    try:
        KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000, **sasl)
    except Exception as e:
        records.append(f"{type(e).__name__}: {e}")
    finally:
        logging.getLogger("kafka").removeHandler(handler)
    return "\n".join(records)


@pytest_twisted.ensureDeferred
async def test_kafka_python_plain_and_scram_256(tmp_path: Any) -> None:
    """
    kafka-python with PLAIN and SCRAM-SHA-256 round-trips; a wrong password is
    SaslAuthenticationFailed.
    """
    running = await start_sasl(tmp_path)
    try:
        await in_thread(
            create_scram_user,
            running.bootstrap,
            "dave",
            "dave-secret",
            ScramMechanism.SCRAM_SHA_256,
        )
        for mechanism, user, password in (
            ("PLAIN", "alice", "alice-secret"),
            ("SCRAM-SHA-256", "dave", "dave-secret"),
        ):
            sasl = {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": mechanism,
                "sasl_plain_username": user,
                "sasl_plain_password": password,
            }
            topic = f"kp-{mechanism}"
            values = await in_thread(kafka_python_roundtrip, running.bootstrap, topic, sasl)
            assert values == [b"k0", b"k1", b"k2"]
            sasl["sasl_plain_password"] = "wrong"
            refused = await in_thread(kafka_python_refusal, running.bootstrap, sasl)
            assert "SaslAuthenticationFailed" in refused, refused
            assert "Authentication failed" in refused, refused
    finally:
        await stop_broker(running)


async def aiokafka_roundtrip(bootstrap: str, topic: str, sasl: dict[str, Any]) -> list[bytes]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **sasl)
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"a{i}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **sasl
    )
    await consumer.start()
    try:
        return [(await consumer.getone()).value for _ in range(3)]
    finally:
        await consumer.stop()


async def aiokafka_refusal(port: int, sasl: dict[str, Any]) -> str:
    try:
        await create_conn("127.0.0.1", port, **sasl)
    except SaslAuthenticationFailed as e:
        return str(e)
    raise AssertionError("aiokafka connected with a wrong password")


@pytest_twisted.ensureDeferred
async def test_aiokafka_plain_and_scram_256(tmp_path: Any) -> None:
    """
    aiokafka with PLAIN and SCRAM-SHA-256 round-trips; a wrong password is SaslAuthenticationFailed.
    """
    running = await start_sasl(tmp_path)
    try:
        await in_thread(
            create_scram_user,
            running.bootstrap,
            "erin",
            "erin-secret",
            ScramMechanism.SCRAM_SHA_256,
        )
        for mechanism, user, password, message in (
            (
                "PLAIN",
                "alice",
                "alice-secret",
                "Authentication failed: Invalid username or password",
            ),
            (
                "SCRAM-SHA-256",
                "erin",
                "erin-secret",
                "Authentication failed during authentication due to invalid credentials with "
                "SASL mechanism SCRAM-SHA-256",
            ),
        ):
            sasl = {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": mechanism,
                "sasl_plain_username": user,
                "sasl_plain_password": password,
            }
            topic = f"aio-{mechanism}"
            values = await in_thread(
                asyncio.run, aiokafka_roundtrip(running.bootstrap, topic, sasl)
            )
            assert values == [b"a0", b"a1", b"a2"]
            sasl["sasl_plain_password"] = "wrong"
            refused = await in_thread(asyncio.run, aiokafka_refusal(running.port, sasl))
            assert message in refused, refused
    finally:
        await stop_broker(running)


def raw_before_authentication(port: int, tls: ssl.SSLContext | None = None) -> dict[str, Any]:
    """
    Over a raw socket (TLS with C{tls}): ApiVersions is answered, Metadata before authentication
    closes, and the unframed v0 flow (SaslHandshake v0, then a raw PLAIN token) authenticates.
    """
    out: dict[str, Any] = {}
    client = RawClient(port, tls=tls)
    client.send(request_frame(18, 0, 1, b""))
    reply = client.recv_frame()
    out["api_versions"] = None if reply is None else struct.unpack(">ih", reply[:6])
    client.send(request_frame(3, 1, 2, b"\xff\xff\xff\xff"))
    out["metadata"] = client.recv_frame()
    other = RawClient(port, tls=tls)
    other.send(request_frame(0, 3, 1, b"\xff\xff\x00\x01\x00\x00\x03\xe8\x00\x00\x00\x00"))
    out["produce"] = other.recv_frame()
    garbage = RawClient(port, tls=tls)
    garbage.send(struct.pack(">i", 4) + b"GET ")
    out["garbage_closed"] = garbage.closed_by_peer()
    old = RawClient(port, tls=tls)
    old.send(request_frame(17, 0, 1, SaslHandshakeRequest(mechanism="PLAIN")))
    reply = old.recv_frame()
    out["handshake_v0"] = None if reply is None else struct.unpack(">ih", reply[:6])
    token = b"\0alice\0alice-secret"
    old.send(struct.pack(">i", len(token)) + token)
    out["v0_token_reply"] = old.recv_frame()
    old.send(request_frame(3, 1, 2, b"\xff\xff\xff\xff"))
    reply = old.recv_frame()
    out["v0_metadata"] = None if reply is None else struct.unpack(">i", reply[:4])
    return out


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest_twisted.ensureDeferred
async def test_raw_socket_gate(tmp_path: Any, protocol: str) -> None:
    """
    Nothing but ApiVersions and SASL is served before authentication: the rest closes the
    connection (over TLS too, once the handshake is done); the unframed v0 flow authenticates.
    """
    tls = None
    if protocol == "SASL_SSL":
        pki = shared_pki()
        running = await start_broker(str(tmp_path / "logs"), sasl_ssl_properties(pki))
        tls = ssl.create_default_context(cafile=pki.ca_file)
    else:
        running = await start_sasl(tmp_path)
    try:
        out = await in_thread(raw_before_authentication, running.port, tls)
    finally:
        await stop_broker(running)
    assert out == {
        "api_versions": (1, 0),
        "metadata": None,
        "produce": None,
        "garbage_closed": True,
        "handshake_v0": (1, 0),
        "v0_token_reply": b"",
        "v0_metadata": (2,),
    }


def keep_producing(
    bootstrap: str, config: dict[str, Any], seconds: float
) -> tuple[list[Any], Producer]:
    """
    Produce one message every 0.2 s for C{seconds}; each delivery's error (None:
    delivered), and the producer (still connected).
    """
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, **config})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        producer.produce("reauth", b"x", on_delivery=lambda err, msg: errors.append(err))
        producer.poll(0.2)
    assert producer.flush(10) == 0
    return errors, producer


@pytest_twisted.ensureDeferred
async def test_confluent_reauthenticates(tmp_path: Any) -> None:
    """
    With connections.max.reauth.ms=1500, librdkafka re-authenticates on its connections and keeps
    producing.
    """
    running = await start_sasl(tmp_path, connections_max_reauth_ms="1500")
    try:
        config = client_security("SASL_PLAINTEXT", sasl=("PLAIN", "alice", "alice-secret"))
        errors, producer = await in_thread(
            keep_producing, running.bootstrap, config, 5.0, timeout=40
        )
        factory = running.service.factory
        assert factory is not None
        reauthentications = [
            p.sasl.reauthentications for p in factory.connections if p.sasl is not None
        ]
        del producer
    finally:
        await stop_broker(running)
    assert len(errors) >= 20 and set(errors) == {None}, errors
    assert max(reauthentications) >= 2, reauthentications
