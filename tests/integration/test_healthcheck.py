"""L{kafkatwist.healthcheck} against a real broker: PLAINTEXT, TLS and SASL listeners."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
import pytest_twisted

from kafkatwist.healthcheck import HealthError, main, probe
from tests.integration.harness import in_thread, running_broker
from tests.integration.test_sasl_clients import sasl_ssl_properties
from tests.security.certs import shared_pki


@pytest_twisted.ensureDeferred
async def test_plaintext(tmp_path: Any) -> None:
    """A serving broker answers the probe with its APIs; C{main} exits 0."""
    async with running_broker(str(tmp_path / "logs")) as broker:
        response = await in_thread(probe, ("127.0.0.1", broker.port, False))
        assert response.error_code == 0
        assert 18 in {api.api_key for api in response.api_keys}
        assert await in_thread(main, [f"127.0.0.1:{broker.port}"]) == 0


@pytest_twisted.ensureDeferred
async def test_properties_file(tmp_path: Any) -> None:
    """C{main} finds the listener in a properties file, as the image's HEALTHCHECK does."""
    async with running_broker(str(tmp_path / "logs")) as broker:
        path = tmp_path / "server.properties"
        path.write_text(f"listeners=PLAINTEXT://:{broker.port}\n")
        assert await in_thread(main, [str(path)]) == 0


@pytest_twisted.ensureDeferred
async def test_sasl_ssl(tmp_path: Any) -> None:
    """A SASL_SSL listener is probed over TLS and answers ApiVersions before authentication."""
    props = sasl_ssl_properties(shared_pki())
    async with running_broker(str(tmp_path / "logs"), props) as broker:
        response = await in_thread(probe, ("127.0.0.1", broker.port, True))
        assert response.error_code == 0


@pytest_twisted.ensureDeferred
async def test_not_kafka(tmp_path: Any) -> None:
    """Something that answers but is not Kafka fails the probe."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_nonsense() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=answer_nonsense, daemon=True)
    thread.start()
    try:
        with pytest.raises(HealthError):
            await in_thread(probe, ("127.0.0.1", port, False))
    finally:
        thread.join(5)
        server.close()
