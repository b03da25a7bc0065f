"""Raw-socket tests: a real broker closes idle connections (``connections.max.idle.ms``)."""

from __future__ import annotations

import socket
import time

import pytest
import pytest_twisted

from kafkatwist.messages.api_versions import ApiVersionsRequest
from tests.integration import harness
from tests.integration.harness import RunningBroker
from tests.integration.test_produce_validation import exchange
from tests.support import request_frame


def seconds_until_closed(port: int, first: bytes) -> float:
    """Connect, send C{first}, read until the broker closes; the seconds that took."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(first)
        while s.recv(1 << 16):
            pass
    return time.monotonic() - start


def api_versions_frame() -> bytes:
    """A framed ApiVersions v3 request."""
    return request_frame(18, 3, 1, ApiVersionsRequest("t", "1"))


@pytest.mark.broker_properties({"connections.max.idle.ms": "300"})
@pytest_twisted.ensureDeferred
async def test_idle_connection_closed(broker: RunningBroker) -> None:
    """A connection silent for connections.max.idle.ms is closed; a busy one is answered."""
    silent = await harness.in_thread(seconds_until_closed, broker.port, b"")
    assert 0.25 < silent < 5
    answered = await harness.in_thread(seconds_until_closed, broker.port, api_versions_frame())
    assert 0.25 < answered < 5
    assert await harness.in_thread(exchange, broker.port, api_versions_frame())
