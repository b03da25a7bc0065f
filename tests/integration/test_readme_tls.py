"""README's TLS snippets work as pasted: a twistd broker from its server.properties, its clients.

Only the paths (the test's certificates, made here), the log directory and
the ports change; the broker is a twistd process (every listener served
from the properties file), the clients confluent-kafka with the README's
client properties.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from kafkatwist.config.java_properties import parse_properties
from tests.integration.child import REPO, ChildBroker, free_port
from tests.security.certs import make_pki

README = (REPO / "README.md").read_text()


def snippet(label: str, language: str = "properties") -> str:
    """The fenced block (C{language}) that follows C{<!-- readme-test: label -->} in README.md."""
    match = re.search(
        rf"<!-- readme-test: {re.escape(label)} -->\n```{language}\n(.*?)```", README, re.S
    )
    assert match is not None, f"README has no {label} snippet"
    return match.group(1)


def localize(text: str, pki_dir: str, ssl_port: int) -> str:
    """The snippet with the test's certificate paths and port (client.* is alice's)."""
    text = text.replace("/etc/kafka/tls/client.", f"{pki_dir}/alice.")
    text = text.replace("/etc/kafka/tls/", f"{pki_dir}/")
    return text.replace(":9093", f":{ssl_port}")


def start(tmp_path: Path, server: str) -> ChildBroker:
    """A twistd broker from C{server} (its first listener's address given by --listen)."""
    path = tmp_path / "server.properties"
    path.write_text(server)
    child = ChildBroker(str(tmp_path / "logs"))
    child.extra = [str(path)]
    child.start()
    return child


def round_trip(client: dict[str, Any]) -> list[bytes]:
    """Produce three messages with the client settings and read them back."""
    topic = f"readme-{uuid.uuid4().hex[:8]}"
    producer = Producer({**client, "socket.timeout.ms": 10000})
    for i in range(3):
        producer.produce(topic, f"m{i}".encode())
    assert producer.flush(20) == 0
    consumer = Consumer({**client, "group.id": "readme", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        got: list[bytes] = []
        for _ in range(100):
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got.append(msg.value() or b"")
            if len(got) == 3:
                break
        return got
    finally:
        consumer.close()


def client_settings(label: str, pki_dir: str, port: int) -> dict[str, Any]:
    """The README's client snippet C{label} as confluent-kafka settings."""
    return dict(parse_properties(localize(snippet(label), pki_dir, port)))


def test_readme_tls(tmp_path: Path) -> None:
    """The TLS server.properties and client settings of README work as pasted."""
    pki = make_pki(str(tmp_path / "pki"))
    port = free_port()
    server = localize(snippet("tls-server"), pki.directory, port)
    child = start(tmp_path, server)
    try:
        client = client_settings("tls-client", pki.directory, port)
        assert round_trip(client) == [b"m0", b"m1", b"m2"]
        md = AdminClient(client).list_topics(timeout=10)
        brokers: list[tuple[str | None, int]] = [(b.host, b.port) for b in md.brokers.values()]
        assert brokers == [("127.0.0.1", port)]
    finally:
        assert child.terminate() == 0


def test_readme_mtls(tmp_path: Path) -> None:
    """The mTLS additions of README: the client with its certificate in, one without it refused."""
    pki = make_pki(str(tmp_path / "pki"))
    port = free_port()
    server = localize(snippet("tls-server") + snippet("mtls-server"), pki.directory, port)
    child = start(tmp_path, server)
    try:
        client = client_settings("mtls-client", pki.directory, port)
        assert round_trip(client) == [b"m0", b"m1", b"m2"]
        anonymous = client_settings("tls-client", pki.directory, port)
        with pytest.raises(KafkaException):
            AdminClient(anonymous).list_topics(timeout=4)
    finally:
        assert child.terminate() == 0
