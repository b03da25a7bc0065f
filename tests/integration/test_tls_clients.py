"""TLS listeners with real clients: confluent-kafka and kcat over SSL and mTLS, and the refusals.

Certificates are made per test (L{tests.security.certs}). Every broker here
has an SSL listener, most a PLAINTEXT one beside it.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_twisted
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from kafkatwist.security.principal import KafkaPrincipal
from tests.integration import confluent_clients as cc
from tests.integration.harness import (
    RunningBroker,
    in_thread,
    require_executable,
    run_java,
    run_process,
    running_broker,
    wait_until,
)
from tests.security.certs import PASSWORD, Pki, make_pki, pem_stores

TWO_LISTENERS = {
    "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL",
}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A CA and certificates for this test."""
    return make_pki(str(tmp_path / "pki"))


def server_props(pki: Pki, **more: str) -> dict[str, str]:
    """PLAINTEXT and SSL listeners, the SSL one with the PEM key store and the CA as trust store."""
    return {**TWO_LISTENERS, **pem_stores(pki, **more)}


def ssl_client(pki: Pki, identity: str | None = None, ca: str | None = None) -> dict[str, Any]:
    """librdkafka's SSL settings (L{cc.client_security}), failing fast (5 s socket timeout)."""
    return {**cc.client_security("SSL", pki, identity, ca_file=ca), "socket.timeout.ms": 5000}


def running(tmp_path: Path, props: dict[str, str]) -> AbstractAsyncContextManager[RunningBroker]:
    """A broker over C{tmp_path}/logs with C{props}, for C{async with}."""
    return running_broker(str(tmp_path / "logs"), props)


def principals(broker: RunningBroker, listener: str) -> list[KafkaPrincipal]:
    """The principals of the listener's open connections, as the broker set them."""
    [bound] = [b for b in broker.service.listeners if b.name == listener]
    return [conn.session.principal for conn in bound.factory.connections]


def broker_ports(bootstrap: str, config: dict[str, Any]) -> list[tuple[str | None, int]]:
    """(host, port) of every broker Metadata lists, asked through C{bootstrap}."""
    md = AdminClient({"bootstrap.servers": bootstrap, **config}).list_topics(timeout=10)
    return [(b.host, b.port) for b in md.brokers.values()]


def refused(bootstrap: str, config: dict[str, Any]) -> str:
    """The error a client gets when it cannot get Metadata (it must not get it)."""
    client = AdminClient({"bootstrap.servers": bootstrap, **config})
    with pytest.raises(KafkaException) as caught:
        client.list_topics(timeout=4)
    return str(caught.value)


@pytest_twisted.ensureDeferred
async def test_produce_consume_over_ssl(tmp_path: Path, pki: Pki, topic_name: str) -> None:
    """confluent-kafka produces and consumes over SSL, and Metadata gives each listener's port."""
    async with running(tmp_path, server_props(pki)) as broker:
        ssl_port, plain_port = broker.ports["SSL"], broker.ports["PLAINTEXT"]
        assert ssl_port != plain_port
        client = ssl_client(pki)
        messages: list[dict[str, Any]] = [{"value": f"m{i}".encode()} for i in range(50)]
        reports = await in_thread(
            cc.produce, broker.bootstrap_of("SSL"), topic_name, messages, extra=client
        )
        assert [(err, offset) for err, _, offset in reports] == [(None, i) for i in range(50)]
        got = await in_thread(
            cc.consume, broker.bootstrap_of("SSL"), [(topic_name, 0, 0)], 50, extra=client
        )
        assert [cc.value_of(m) for m in got] == [m["value"] for m in messages]
        # Each listener advertises itself to its own clients.
        ssl_brokers = await in_thread(broker_ports, broker.bootstrap_of("SSL"), client)
        assert ssl_brokers == [("127.0.0.1", ssl_port)]
        plain_brokers = await in_thread(broker_ports, broker.bootstrap_of("PLAINTEXT"), {})
        assert plain_brokers == [("127.0.0.1", plain_port)]
        # The PLAINTEXT clients see what the SSL ones wrote.
        plain = await in_thread(cc.consume, broker.bootstrap, [(topic_name, 0, 0)], 50)
        assert len(plain) == 50


@pytest_twisted.ensureDeferred
async def test_mtls_principal(tmp_path: Path, pki: Pki, topic_name: str) -> None:
    """With ssl.client.auth=required the principal is the mapped certificate subject."""
    props = server_props(
        pki,
        **{
            "listener.name.ssl.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/U,DEFAULT",
        },
    )
    async with running(tmp_path, props) as broker:

        def connect(identity: str) -> Producer:
            producer = Producer(
                {"bootstrap.servers": broker.bootstrap_of("SSL"), **ssl_client(pki, identity)}
            )
            producer.produce(topic_name, identity.encode())
            assert producer.flush(10) == 0
            return producer

        # Both stay connected while the broker's sessions are looked at.
        held = [await in_thread(connect, "alice"), await in_thread(connect, "bob")]
        await wait_until(lambda: len(set(principals(broker, "SSL"))) == 2)
        assert set(principals(broker, "SSL")) == {
            KafkaPrincipal("User", "ALICE@ENG"),
            KafkaPrincipal("User", "CN=bob"),
        }
        assert len(held) == 2


@pytest_twisted.ensureDeferred
async def test_requested_without_certificate_is_anonymous(tmp_path: Path, pki: Pki) -> None:
    """ssl.client.auth=requested lets a client without a certificate in, as User:ANONYMOUS."""
    async with running(tmp_path, server_props(pki, **{"ssl.client.auth": "requested"})) as broker:
        client = AdminClient({"bootstrap.servers": broker.bootstrap_of("SSL"), **ssl_client(pki)})
        md = await in_thread(client.list_topics, timeout=10)
        assert md.brokers[1].port == broker.ports["SSL"]
        # librdkafka may reconnect (bootstrap, then the advertised broker): wait for one.
        await wait_until(lambda: bool(principals(broker, "SSL")))
        assert set(principals(broker, "SSL")) == {KafkaPrincipal("User", "ANONYMOUS")}


@pytest_twisted.ensureDeferred
async def test_refusals(tmp_path: Path, pki: Pki) -> None:
    """Untrusted server, no client certificate, expired or untrusted client ones: all refused."""
    lines: list[str] = []

    def observe(event: LogEvent) -> None:
        text = formatEvent(event)
        if "TLS handshake failed" in text:
            lines.append(text)

    async with running(tmp_path, server_props(pki, **{"ssl.client.auth": "required"})) as broker:
        observer = cast(ILogObserver, observe)
        globalLogPublisher.addObserver(observer)
        try:
            bootstrap = broker.bootstrap_of("SSL")
            # The client does not trust the server's CA.
            error = await in_thread(
                refused, bootstrap, ssl_client(pki, "alice", pki.stranger_ca_file)
            )
            assert "_TRANSPORT" in error
            for identity in (None, "expired", "stranger"):
                lines.clear()
                error = await in_thread(refused, bootstrap, ssl_client(pki, identity))
                assert "_TRANSPORT" in error
                # The broker logged why, one line per refused connection.
                assert lines
                assert all("on listener SSL" in line for line in lines)
            # A trusted client still gets in.
            ok = await in_thread(broker_ports, bootstrap, ssl_client(pki, "alice"))
            assert ok == [("127.0.0.1", broker.ports["SSL"])]
        finally:
            globalLogPublisher.removeObserver(observer)


@pytest_twisted.ensureDeferred
async def test_pkcs12_stores_and_inline_pem(tmp_path: Path, pki: Pki, topic_name: str) -> None:
    """A PKCS12 key and trust store (mTLS), and an inline encrypted PEM key, both serve."""
    props = {
        **TWO_LISTENERS,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": pki.server_p12,
        "ssl.keystore.password": PASSWORD,
        "ssl.key.password": PASSWORD,
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": pki.truststore_p12,
        "ssl.truststore.password": PASSWORD,
        "ssl.client.auth": "required",
    }
    async with running(tmp_path, props) as broker:
        reports = await in_thread(
            cc.produce,
            broker.bootstrap_of("SSL"),
            topic_name,
            [{"value": b"p12"}],
            extra=ssl_client(pki, "alice"),
        )
        assert [err for err, _, _ in reports] == [None]
    with open(pki.encrypted_key_file) as f:
        key = f.read()
    with open(pki.server.cert_file) as f:
        chain = f.read()
    with open(pki.ca_file) as f:
        ca = f.read()
    inline = {
        **TWO_LISTENERS,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.key": key,
        "ssl.keystore.certificate.chain": chain,
        "ssl.key.password": PASSWORD,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": ca,
        "ssl.enabled.protocols": "TLSv1.2",
        "ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    }
    async with running_broker(str(tmp_path / "logs2"), inline) as again:
        got = await in_thread(broker_ports, again.bootstrap_of("SSL"), ssl_client(pki))
        assert got == [("127.0.0.1", again.ports["SSL"])]


@pytest_twisted.ensureDeferred
async def test_large_fetch_over_tls(tmp_path: Path, pki: Pki, topic_name: str) -> None:
    """Fetches of many megabytes over TLS arrive whole (the connection's backpressure holds)."""
    async with running(tmp_path, server_props(pki)) as broker:
        client = ssl_client(pki)
        value = bytes(range(256)) * 2048  # 512 KiB
        messages: list[dict[str, Any]] = [{"value": value} for _ in range(48)]
        await in_thread(
            cc.produce,
            broker.bootstrap_of("SSL"),
            topic_name,
            messages,
            extra={**client, "message.max.bytes": 2_000_000, "batch.size": 1_000_000},
            timeout=60,
        )
        extra = {**client, "fetch.max.bytes": 50_000_000, "max.partition.fetch.bytes": 30_000_000}
        got = await in_thread(
            cc.consume,
            broker.bootstrap_of("SSL"),
            [(topic_name, 0, 0)],
            48,
            timeout=40,
            extra=extra,
        )
        assert len(got) == 48
        assert all(cc.value_of(m) == value for m in got)


@pytest_twisted.ensureDeferred
async def test_kcat_over_ssl(tmp_path: Path, pki: Pki, topic_name: str) -> None:
    """kcat produces and consumes over SSL, with a client certificate."""
    kcat = require_executable("kcat", "run ./test.sh (it installs kcat) or apt-get install kcat")
    async with running(tmp_path, server_props(pki, **{"ssl.client.auth": "required"})) as broker:
        ssl = [
            "-b",
            broker.bootstrap_of("SSL"),
            "-X",
            "security.protocol=ssl",
            "-X",
            f"ssl.ca.location={pki.ca_file}",
            "-X",
            f"ssl.certificate.location={pki.alice.cert_file}",
            "-X",
            f"ssl.key.location={pki.alice.key_file}",
        ]
        (await run_process([kcat, *ssl, "-P", "-t", topic_name], stdin=b"one\ntwo\n")).check()
        result = await run_process([kcat, *ssl, "-C", "-e", "-o", "0", "-t", topic_name])
        assert result.check().stdout.splitlines() == [b"one", b"two"]


@pytest_twisted.ensureDeferred
async def test_java_client_mtls(tmp_path: Path, pki: Pki, topic_name: str) -> None:
    """The Java client 4.3 over mTLS with PEM stores, checking the broker's host name."""
    props = server_props(pki, **{"ssl.client.auth": "required"})
    async with running(tmp_path, props) as broker:
        security = [
            "security.protocol=SSL",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={pki.ca_file}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={pki.alice.keystore}",
            "ssl.endpoint.identification.algorithm=https",
        ]
        classes = str(tmp_path / "classes")
        os.makedirs(classes)
        lines = await run_java(
            "TlsClient", [broker.bootstrap_of("SSL"), topic_name, *security], classes
        )
        assert lines == [
            f"node 127.0.0.1:{broker.ports['SSL']}",
            "produced 3",
            "consumed java0,java1,java2",
        ]


@pytest_twisted.ensureDeferred
async def test_kafka_python_over_ssl(tmp_path: Path, pki: Pki, topic_name: str) -> None:
    """kafka-python produces and consumes over SSL with a client certificate."""
    async with running(tmp_path, server_props(pki, **{"ssl.client.auth": "required"})) as broker:
        settings = {
            "bootstrap_servers": broker.bootstrap_of("SSL"),
            "security_protocol": "SSL",
            "ssl_cafile": pki.ca_file,
            "ssl_certfile": pki.bob.cert_file,
            "ssl_keyfile": pki.bob.key_file,
        }

        def round_trip() -> list[bytes]:
            producer = KafkaProducer(**settings)
            for i in range(3):
                producer.send(topic_name, f"kp{i}".encode()).get(timeout=20)
            producer.close()
            consumer = KafkaConsumer(
                **settings, auto_offset_reset="earliest", consumer_timeout_ms=10000
            )
            consumer.assign([KpTopicPartition(topic_name, 0)])
            got = [m.value for _, m in zip(range(3), consumer, strict=False)]
            consumer.close()
            return got

        assert await in_thread(round_trip, timeout=60) == [b"kp0", b"kp1", b"kp2"]
