"""SASL_SSL with real clients: SCRAM-SHA-512 and PLAIN over TLS, the principal SASL's, refusals.

The broker serves one SASL_SSL listener (PEM key store and trust store made
per test by L{tests.security.certs}) with PLAIN (the listener's JAAS users,
C{admin} among them) and SCRAM-SHA-512 (credentials created by
confluent-kafka's AdminClient, authenticated as the PLAIN admin over the
same listener). The SASL_PLAINTEXT helpers of L{test_sasl_clients} are
reused with the TLS settings added.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest_twisted
from aiokafka.helpers import create_ssl_context
from confluent_kafka import Producer
from confluent_kafka.admin._scram import ScramMechanism

from kafkatwist.security.principal import KafkaPrincipal
from tests.integration.confluent_clients import client_security
from tests.integration.harness import (
    RunningBroker,
    in_thread,
    require_executable,
    run_process,
    start_broker,
    stop_broker,
    wait_until,
)
from tests.integration.test_sasl_clients import (
    aiokafka_refusal,
    aiokafka_roundtrip,
    confluent_refusal,
    create_scram_user,
    kafka_python_refusal,
    kafka_python_roundtrip,
    keep_producing,
    roundtrip_confluent,
    sasl_properties,
    sasl_ssl_properties,
)
from tests.integration.test_tls_clients import principals
from tests.security.certs import Pki

#: What librdkafka and the Java client see for a wrong SCRAM-SHA-512 password (Kafka's message).
SCRAM_REFUSED = (
    "Authentication failed during authentication due to invalid credentials with "
    "SASL mechanism SCRAM-SHA-512"
)


async def start_with_carol(tmp_path: Path, pki: Pki, **more: str) -> RunningBroker:
    """A SASL_SSL broker where the PLAIN admin has created the SCRAM-SHA-512 user C{carol}."""
    running = await start_broker(str(tmp_path / "logs"), sasl_ssl_properties(pki, **more))
    infos = await in_thread(
        create_scram_user,
        running.bootstrap,
        "carol",
        "carol-secret",
        ScramMechanism.SCRAM_SHA_512,
        # The admin's certificate matters only where ssl.client.auth=required.
        client_security("SASL_SSL", pki, "bob", sasl=("PLAIN", "admin", "admin-secret")),
    )
    assert infos == [(ScramMechanism.SCRAM_SHA_512, 4096)]
    return running


def held_producer(bootstrap: str, topic: str, config: dict[str, Any]) -> Producer:
    """A producer that delivered one message, returned still connected."""
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    producer.produce(topic, b"held")
    assert producer.flush(10) == 0
    return producer


@pytest_twisted.ensureDeferred
async def test_confluent_scram_512_over_sasl_ssl(tmp_path: Path, pki: Pki) -> None:
    """
    confluent-kafka with SCRAM-SHA-512 over TLS (and a client certificate, mTLS) round-trips as
    User:carol, not as its certificate's subject; a wrong password gets Kafka's message.
    """
    mtls = {"listener.name.sasl_ssl.ssl.client.auth": "required"}
    running = await start_with_carol(tmp_path, pki, **mtls)
    try:
        config = client_security(
            "SASL_SSL", pki, "alice", sasl=("SCRAM-SHA-512", "carol", "carol-secret")
        )
        values = await in_thread(roundtrip_confluent, running.bootstrap, "scram-ssl", config)
        assert values == [b"v0", b"v1", b"v2"]
        held = await in_thread(held_producer, running.bootstrap, "scram-ssl", config)
        await wait_until(lambda: bool(principals(running, "SASL_SSL")))
        assert set(principals(running, "SASL_SSL")) == {KafkaPrincipal("User", "carol")}
        del held
        wrong = client_security("SASL_SSL", pki, "alice", sasl=("SCRAM-SHA-512", "carol", "wrong"))
        refused = await in_thread(confluent_refusal, running.bootstrap, wrong)
        assert SCRAM_REFUSED in refused, refused
    finally:
        await stop_broker(running)


def kcat_args(kcat: str, bootstrap: str, settings: dict[str, Any]) -> list[str]:
    """kcat's command line with librdkafka C{settings} as C{-X} options."""
    args = [kcat, "-b", bootstrap]
    for key, value in settings.items():
        args += ["-X", f"{key}={value}"]
    return args


async def kcat_roundtrip(
    kcat: list[str], topic: str, env: dict[str, str] | None = None
) -> list[bytes]:
    """Produce two lines with kcat, then consume the topic from offset 0 to its end."""
    (await run_process([*kcat, "-P", "-t", topic], stdin=b"one\ntwo\n", env=env)).check()
    result = await run_process([*kcat, "-C", "-e", "-o", "0", "-t", topic], env=env)
    return result.check().stdout.splitlines()


def librdkafka_version(kcat_version: str) -> tuple[int, ...]:
    """The librdkafka version C{kcat -V} names (C{librdkafka 2.0.2 builtin...})."""
    match = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", kcat_version)
    assert match is not None, kcat_version
    return tuple(int(part) for part in match.groups())


def wheel_librdkafka(directory: Path) -> dict[str, str]:
    """
    An environment in which kcat loads the librdkafka that confluent-kafka's wheel bundles
    (through a C{librdkafka.so.1} link in C{directory}).
    """
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    [library] = libs.glob("librdkafka*.so*")
    directory.mkdir()
    (directory / "librdkafka.so.1").symlink_to(library)
    return {**os.environ, "LD_LIBRARY_PATH": str(directory)}


@pytest_twisted.ensureDeferred
async def test_kcat_sasl_ssl_scram_512(tmp_path: Path, pki: Pki) -> None:
    """
    kcat produces and consumes over SASL_SSL with SCRAM-SHA-512; a wrong password fails, and so
    does a librdkafka older than 2.6.1, whose final nonce repeats the client's (Kafka 4 refuses
    it too: CVE-2024-56128, librdkafka#4895).
    """
    kcat = require_executable("kcat", "run ./test.sh (it installs kcat) or apt-get install kcat")
    running = await start_with_carol(tmp_path, pki)
    try:
        settings = client_security("SASL_SSL", pki, sasl=("SCRAM-SHA-512", "carol", "carol-secret"))
        args = kcat_args(kcat, running.bootstrap, settings)
        env = wheel_librdkafka(tmp_path / "librdkafka")
        version = (await run_process([kcat, "-V"], env=env)).check().stdout.decode()
        assert librdkafka_version(version) >= (2, 6, 1), version
        assert await kcat_roundtrip(args, "kcat-scram", env) == [b"one", b"two"]
        wrong = kcat_args(kcat, running.bootstrap, {**settings, "sasl.password": "wrong"})
        result = await run_process([*wrong, "-L", "-m", "5"], env=env)
        assert result.returncode != 0
        assert SCRAM_REFUSED in result.stderr.decode(), result.stderr
        # kcat with the system's librdkafka: refused when that one repeats the nonce.
        system = (await run_process([kcat, "-V"])).check().stdout.decode()
        if librdkafka_version(system) < (2, 6, 1):
            result = await run_process([*args, "-L", "-m", "5"])
            assert result.returncode != 0
            assert SCRAM_REFUSED in result.stderr.decode(), result.stderr
        else:
            assert await kcat_roundtrip(args, "kcat-system") == [b"one", b"two"]
    finally:
        await stop_broker(running)


@pytest_twisted.ensureDeferred
async def test_kcat_sasl_plaintext_plain(tmp_path: Path) -> None:
    """kcat produces and consumes over SASL_PLAINTEXT with PLAIN; a wrong password fails."""
    kcat = require_executable("kcat", "run ./test.sh (it installs kcat) or apt-get install kcat")
    running = await start_broker(str(tmp_path / "logs"), sasl_properties())
    try:
        settings = client_security("SASL_PLAINTEXT", sasl=("PLAIN", "alice", "alice-secret"))
        args = kcat_args(kcat, running.bootstrap, settings)
        assert await kcat_roundtrip(args, "kcat-plain") == [b"one", b"two"]
        settings["sasl.password"] = "wrong"
        result = await run_process([*kcat_args(kcat, running.bootstrap, settings), "-L"])
        assert result.returncode != 0
        assert "Invalid username or password" in result.stderr.decode(), result.stderr
    finally:
        await stop_broker(running)


@pytest_twisted.ensureDeferred
async def test_kafka_python_and_aiokafka_over_sasl_ssl(tmp_path: Path, pki: Pki) -> None:
    """kafka-python and aiokafka with SCRAM-SHA-512 over TLS round-trip; wrong passwords fail."""
    running = await start_with_carol(tmp_path, pki)
    try:
        sasl: dict[str, Any] = {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "carol",
            "sasl_plain_password": "carol-secret",
        }
        kp = {**sasl, "ssl_cafile": pki.ca_file}
        values = await in_thread(kafka_python_roundtrip, running.bootstrap, "kp-ssl", kp)
        assert values == [b"k0", b"k1", b"k2"]
        refused = await in_thread(
            kafka_python_refusal, running.bootstrap, {**kp, "sasl_plain_password": "wrong"}
        )
        assert "SaslAuthenticationFailed" in refused, refused
        assert SCRAM_REFUSED in refused, refused
        aio = {**sasl, "ssl_context": create_ssl_context(cafile=pki.ca_file)}
        values = await in_thread(asyncio.run, aiokafka_roundtrip(running.bootstrap, "aio-ssl", aio))
        assert values == [b"a0", b"a1", b"a2"]
        aio["sasl_plain_password"] = "wrong"
        refused = await in_thread(asyncio.run, aiokafka_refusal(running.port, aio))
        assert SCRAM_REFUSED in refused, refused
    finally:
        await stop_broker(running)


@pytest_twisted.ensureDeferred
async def test_confluent_reauthenticates_over_tls(tmp_path: Path, pki: Pki) -> None:
    """
    With connections.max.reauth.ms=1500 on a SASL_SSL listener, librdkafka re-authenticates
    with SCRAM-SHA-512 on its TLS connections and keeps producing.
    """
    running = await start_with_carol(tmp_path, pki, **{"connections.max.reauth.ms": "1500"})
    try:
        config = client_security("SASL_SSL", pki, sasl=("SCRAM-SHA-512", "carol", "carol-secret"))
        errors, producer = await in_thread(
            keep_producing, running.bootstrap, config, 5.0, timeout=40
        )
        [listener] = running.service.listeners
        reauthentications = [
            p.sasl.reauthentications for p in listener.factory.connections if p.sasl is not None
        ]
        del producer
    finally:
        await stop_broker(running)
    assert len(errors) >= 20 and set(errors) == {None}, errors
    assert max(reauthentications) >= 2, reauthentications
