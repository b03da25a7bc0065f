"""A blocking raw-socket Kafka client, for hostile-client tests and benches.

It frames requests with kafkatwist's own codec and reads the replies off a
plain socket, so a test can do what real clients never do: pipeline without
reading, send corrupt bytes, send a header no client library would.
"""

from __future__ import annotations

import socket
import ssl
import struct
from typing import TypeVar

from kafkatwist.messages.create_topics import (
    CreatableTopic,
    CreateTopicsRequest,
    CreateTopicsResponse,
)
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchTopic
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from tests.support import decode_reply, request_frame

_Response = TypeVar("_Response")

FETCH_VERSION = 11
PRODUCE_VERSION = 9


class RawClient:
    """One connection to a broker on 127.0.0.1 (over TLS when given a client context)."""

    def __init__(self, port: int, timeout: float = 10.0, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = sock if tls is None else tls.wrap_socket(sock, server_hostname="127.0.0.1")
        self._next_id = 0

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_exactly(self, n: int) -> bytes | None:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(min(n - len(data), 1 << 20))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def recv_frame(self) -> bytes | None:
        """The next reply frame (without its prefix); None when the broker closed."""
        prefix = self._recv_exactly(4)
        if prefix is None:
            return None
        (length,) = struct.unpack(">i", prefix)
        return self._recv_exactly(length)

    def call(
        self,
        api_key: int,
        version: int,
        body: object,
        response_cls: type[_Response],
        client_id: str | None = "raw",
    ) -> _Response:
        """Send one request and decode its reply."""
        correlation_id = self.next_id()
        self.send(request_frame(api_key, version, correlation_id, body, client_id=client_id))
        reply = self.recv_frame()
        if reply is None:
            raise AssertionError("the broker closed the connection")
        got, response = decode_reply(reply, response_cls, version)
        if got != correlation_id:
            raise AssertionError(f"correlation id {got}, expected {correlation_id}")
        return response

    def closed_by_peer(self) -> bool:
        """Whether the broker closes the connection before answering anything else."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLEOFError):
            return True

    def close(self) -> None:
        self.sock.close()


def create_topic(client: RawClient, name: str, partitions: int = 1) -> None:
    """Create a topic; fails unless the broker answers NONE."""
    request = CreateTopicsRequest(
        topics=(CreatableTopic(name=name, num_partitions=partitions, replication_factor=1),)
    )
    response = client.call(19, 5, request, CreateTopicsResponse)
    [result] = response.topics
    if result.error_code:
        raise AssertionError(f"CreateTopics {name}: error {result.error_code}")


def produce_request(topic: str, batch: bytes, acks: int = -1, partition: int = 0) -> ProduceRequest:
    """A Produce request carrying one batch to one partition."""
    return ProduceRequest(
        acks=acks,
        timeout_ms=10000,
        topic_data=(
            TopicProduceData(
                name=topic,
                partition_data=(PartitionProduceData(index=partition, records=batch),),
            ),
        ),
    )


def produce(client: RawClient, topic: str, batch: bytes) -> int:
    """Produce one batch with acks=1; the partition's error code."""
    response = client.call(0, PRODUCE_VERSION, produce_request(topic, batch, 1), ProduceResponse)
    return response.responses[0].partition_responses[0].error_code


def fetch_frame(topic: str, correlation_id: int, max_bytes: int) -> bytes:
    """A framed Fetch of partition 0 from offset 0, up to C{max_bytes}, without waiting."""
    request = FetchRequest(
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=max_bytes,
        topics=(
            FetchTopic(
                topic=topic,
                partitions=(
                    FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=max_bytes),
                ),
            ),
        ),
    )
    return request_frame(1, FETCH_VERSION, correlation_id, request, client_id="raw")


def rss_kib(pid: int) -> int:
    """The resident set size of process C{pid}, in KiB (/proc/<pid>/status VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")
