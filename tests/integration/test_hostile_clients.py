"""Raw-socket clients that misbehave, against a broker in a child process.

A client that pipelines Fetches and never reads must not make the broker
buffer their responses (issue 10, item 1); an acks=0 Produce that fails must
close the connection, and a client id that is not UTF-8 must be answered, as
Kafka does (item 9).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.wire import schema
from kafkatwist.wire.header import RequestHeader, encode_request_header
from kafkatwist.wire.primitives import Writer
from tests.client_batches import client_batch
from tests.integration.child import ChildBroker
from tests.integration.raw import (
    PRODUCE_VERSION,
    RawClient,
    create_topic,
    fetch_frame,
    produce,
    produce_request,
    rss_kib,
)
from tests.support import decode_reply, frame, request_frame

MiB = 1024 * 1024

#: Records of this size, four to a topic, fill one 1 MiB Fetch with three batches.
_VALUE_SIZE = 300_000


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChildBroker]:
    """One broker process for the module's tests."""
    broker = ChildBroker(str(tmp_path_factory.mktemp("hostile") / "logs"))
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


def _api_versions(client: RawClient) -> ApiVersionsResponse:
    request = ApiVersionsRequest(client_software_name="raw", client_software_version="1")
    return client.call(18, 3, request, ApiVersionsResponse)


def _fill(port: int, topic: str) -> None:
    """Create C{topic} holding four batches of one 300 kB record each (1.2 MB)."""
    client = RawClient(port)
    try:
        create_topic(client, topic)
        for _ in range(4):
            batch = client_batch(records=[(None, os.urandom(_VALUE_SIZE), [])])
            assert produce(client, topic, batch) == 0
    finally:
        client.close()


def test_unread_fetches_hold_one_response(child: ChildBroker) -> None:
    """1,000 pipelined 1 MiB Fetches never read keep RSS growth under 10 MiB; others are served."""
    assert child.process is not None
    pid = child.process.pid
    _fill(child.port, "unread")
    other = RawClient(child.port)
    # Warm the Fetch path up (a reply read whole) before the baseline.
    other.send(fetch_frame("unread", 1, MiB))
    reply = other.recv_frame()
    assert reply is not None and len(reply) > 3 * _VALUE_SIZE
    _api_versions(other)
    time.sleep(0.3)
    base = rss_kib(pid)

    hostile = RawClient(child.port)
    requests = b"".join(fetch_frame("unread", i, MiB) for i in range(1000))
    # The broker may stop reading before all of it is sent: send from a thread.
    sender = threading.Thread(target=hostile.send, args=(requests,), daemon=True)
    sender.start()
    peak, answers = base, 0
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        assert _api_versions(other).error_code == 0
        answers += 1
        peak = max(peak, rss_kib(pid))
        if peak - base > 100 * 1024:
            break  # Far past the bound: no need to let it grow further.
        time.sleep(0.02)
    growth_mib = (peak - base) / 1024
    print(f"broker RSS {base / 1024:.1f} MiB, peak growth {growth_mib:.1f} MiB, {answers} answers")
    assert growth_mib < 10, f"RSS grew by {growth_mib:.1f} MiB"
    assert answers >= 20
    hostile.close()
    other.close()


def test_acks_zero_error_closes(child: ChildBroker) -> None:
    """An acks=0 Produce whose batch is corrupt closes the connection, with one log line."""
    _fill_small(child.port, "acks0")
    client = RawClient(child.port)
    batch = bytearray(client_batch(count=3))
    batch[-1] ^= 0xFF  # The CRC no longer matches.
    client.send(request_frame(0, PRODUCE_VERSION, 7, produce_request("acks0", bytes(batch), 0)))
    client.send(request_frame(18, 3, 8, ApiVersionsRequest("raw", "1")))
    assert client.closed_by_peer()
    client.close()
    deadline = time.monotonic() + 5
    while "acks=0" not in child.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in child.output().splitlines() if "acks=0" in line]
    assert len(lines) == 1, lines
    assert "acks0-0: CORRUPT_MESSAGE" in lines[0]
    assert "Closing connection" in lines[0]


def test_acks_zero_success_stays_open(child: ChildBroker) -> None:
    """An acks=0 Produce that succeeds gets no reply and the connection stays open."""
    _fill_small(child.port, "acks0-ok")
    client = RawClient(child.port)
    request = produce_request("acks0-ok", client_batch(count=3), 0)
    client.send(request_frame(0, PRODUCE_VERSION, 7, request))
    assert _api_versions(client).error_code == 0
    client.close()


def _fill_small(port: int, topic: str) -> None:
    client = RawClient(port)
    try:
        create_topic(client, topic)
    finally:
        client.close()


def test_client_id_not_utf8(child: ChildBroker) -> None:
    """A client id that is not valid UTF-8 is decoded leniently and the request answered."""
    w = Writer()
    encode_request_header(w, RequestHeader(18, 3, 42, None), 2)
    header = bytearray(w.getvalue())
    # Replace the null client id (int16 -1) by 4 bytes that are not UTF-8.
    assert header[8:10] == b"\xff\xff"
    header[8:10] = b"\x00\x04\xff\xfe\xc3\x28"
    body = schema.encode_bytes(ApiVersionsRequest("raw", "1"), 3)
    client = RawClient(child.port)
    client.send(frame(bytes(header) + body))
    reply = client.recv_frame()
    assert reply is not None, "the broker closed the connection"
    correlation_id, response = decode_reply(reply, ApiVersionsResponse, 3)
    assert (correlation_id, response.error_code) == (42, 0)
    assert _api_versions(client).error_code == 0
    client.close()


def test_pipelined_after_unread_are_answered_in_order(tmp_path: Path) -> None:
    """A client that reads late still gets every pipelined reply, in order."""
    broker = ChildBroker(str(tmp_path / "logs"))
    broker.start()
    try:
        _fill(broker.port, "late")
        client = RawClient(broker.port)
        client.send(b"".join(fetch_frame("late", i, MiB) for i in range(1, 21)))
        time.sleep(0.5)
        for i in range(1, 21):
            reply = client.recv_frame()
            assert reply is not None
            assert int.from_bytes(reply[:4], "big") == i
        client.close()
    finally:
        broker.kill()


def test_partial_requests_bounded_by_queued_max_request_bytes(tmp_path: Path) -> None:
    """Clients holding half-sent large requests make the broker hold at most the pool's bytes."""
    limit = 4 * MiB
    broker = ChildBroker(
        str(tmp_path / "logs"), extra=[f"--override=queued.max.request.bytes={limit}"]
    )
    broker.start()
    assert broker.process is not None
    pid = broker.process.pid
    hostile: list[RawClient] = []
    try:
        other = RawClient(broker.port)
        assert _api_versions(other).error_code == 0
        time.sleep(0.3)
        base = rss_kib(pid)
        half = b"\0" * (5 * MiB)

        def send_half(client: RawClient) -> None:
            # A 10 MiB Produce of which only the prefix and half the body come.
            try:
                client.send((10 * MiB).to_bytes(4, "big") + half)
            except OSError:
                pass  # Closed at the end of the test while blocked.

        for _ in range(20):
            client = RawClient(broker.port, timeout=30)
            hostile.append(client)
            threading.Thread(target=send_half, args=(client,), daemon=True).start()
        peak = base
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            peak = max(peak, rss_kib(pid))
            time.sleep(0.02)
        growth_mib = (peak - base) / 1024
        print(f"broker RSS {base / 1024:.1f} MiB, peak growth {growth_mib:.1f} MiB")
        # The pool, one request being finished, one read per connection, slack.
        assert growth_mib < 4 + 10 + 20 * 0.0625 + 8, f"RSS grew by {growth_mib:.1f} MiB"
        for client in hostile:
            client.close()
        # Their memory is released: everyone is served again.
        for _ in range(5):
            assert _api_versions(other).error_code == 0
        other.close()
    finally:
        for client in hostile:
            client.close()
        broker.kill()
