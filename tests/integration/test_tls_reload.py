"""Dynamic key store updates of an SSL listener (Kafka's reconfigurable SslFactory), real clients.

The admin client (confluent-kafka) sets C{listener.name.ssl.ssl.keystore.location}
for broker 1 through the PLAINTEXT listener; a plain TLS client then sees
which certificate new connections get.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest_twisted
from confluent_kafka import KafkaException

# confluent_kafka.admin re-exports these without marking them (upstream typing gap).
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)
from cryptography import x509

from tests.integration.harness import in_thread, running_broker
from tests.security.certs import make_pki

KEY = "listener.name.ssl.ssl.keystore.location"


def served_certificate(port: int) -> x509.Certificate:
    """The certificate a new TLS connection to 127.0.0.1:C{port} is given."""
    return x509.load_pem_x509_certificate(ssl.get_server_certificate(("127.0.0.1", port)).encode())


def set_keystore(bootstrap: str, location: str) -> str | None:
    """Set KEY for broker 1; None on success, else the error's text."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})
    change = ConfigResource(
        "BROKER",
        "1",
        incremental_configs=[
            ConfigEntry(KEY, location, incremental_operation=AlterConfigOpType.SET)
        ],
    )
    try:
        admin.incremental_alter_configs([change])[change].result(10)
    except KafkaException as e:
        return str(e)
    return None


@pytest_twisted.ensureDeferred
async def test_keystore_reload(tmp_path: Path) -> None:
    """A renewed certificate is served to new connections; bad or foreign stores are refused."""
    pki = make_pki(str(tmp_path / "pki"))
    props = {
        "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL",
        "ssl.keystore.type": "PEM",
        KEY: pki.server.keystore,
    }
    async with running_broker(str(tmp_path / "logs"), props) as broker:
        port = broker.ports["SSL"]
        assert await in_thread(served_certificate, port) == pki.server.cert
        # A file that cannot be read, or a certificate for another subject: refused, unchanged.
        error = await in_thread(set_keystore, broker.bootstrap, str(tmp_path / "absent.pem"))
        assert error is not None and "INVALID_REQUEST" in error and "absent.pem" in error
        error = await in_thread(set_keystore, broker.bootstrap, pki.impostor.keystore)
        assert error is not None and "Keystore DistinguishedName does not match" in error
        assert await in_thread(served_certificate, port) == pki.server.cert
        # The renewed certificate (same subject and names, new key) is served from now on.
        assert await in_thread(set_keystore, broker.bootstrap, pki.renewed.keystore) is None
        assert await in_thread(served_certificate, port) == pki.renewed.cert
        # Setting the same location again re-reads the file (a renewal in place).
        Path(pki.renewed.keystore).write_bytes(Path(pki.server.keystore).read_bytes())
        assert await in_thread(set_keystore, broker.bootstrap, pki.renewed.keystore) is None
        assert await in_thread(served_certificate, port) == pki.server.cert
    # After a restart, the stored dynamic config names the key store in use.
    async with running_broker(
        str(tmp_path / "logs"), {**props, KEY: pki.impostor.keystore}
    ) as again:
        assert await in_thread(served_certificate, again.ports["SSL"]) == pki.server.cert
