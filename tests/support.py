"""Helpers shared by the tests: framing, golden hex files, request builders, fakes."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.broker import Broker
from kafkatwist.messages.produce import (
    PartitionProduceResponse,
    ProduceRequest,
    ProduceResponse,
    TopicProduceResponse,
)
from kafkatwist.transport.dispatch import Dispatcher, Reply
from kafkatwist.transport.protocol import KafkaServerFactory, KafkaServerProtocol
from kafkatwist.wire import schema
from kafkatwist.wire.header import (
    RequestHeader,
    decode_response_header,
    encode_request_header,
    request_header_version,
    response_header_version,
)
from kafkatwist.wire.primitives import Reader, Writer
from kafkatwist.wire.versions import VersionRange

FIXTURES = Path(__file__).resolve().parent / "fixtures"

_PREFIX = struct.Struct(">i")


def frame(payload: bytes) -> bytes:
    """Prefix C{payload} with its int32 length, as on the wire."""
    return _PREFIX.pack(len(payload)) + payload


def unframe(data: bytes) -> list[bytes]:
    """Split a stream of length-prefixed frames; it must hold whole frames only."""
    frames = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise ValueError(f"{len(data) - pos} stray bytes at offset {pos}")
        (length,) = _PREFIX.unpack_from(data, pos)
        end = pos + 4 + length
        if end > len(data):
            raise ValueError(f"frame at offset {pos} is truncated")
        frames.append(data[pos + 4 : end])
        pos = end
    return frames


def parse_hex(text: str) -> bytes:
    """Bytes from commented hex: C{#} starts a comment, whitespace is ignored."""
    digits = "".join(line.split("#", 1)[0] for line in text.splitlines())
    return bytes.fromhex("".join(digits.split()))


def load_hex(name: str) -> bytes:
    """The bytes of C{tests/fixtures/<name>.hex}."""
    return parse_hex((FIXTURES / f"{name}.hex").read_text())


def request_frame(
    api_key: int,
    api_version: int,
    correlation_id: int,
    body: bytes | Any = b"",
    *,
    client_id: str | None = "kafka-tester",
    flexible: bool | None = None,
    framed: bool = True,
) -> bytes:
    """
    A request: header (at the version Kafka's rules give) and body.

    C{body} is raw bytes, or a model encoded at C{api_version}. C{flexible}
    is taken from the model when not given.
    """
    if not isinstance(body, (bytes, bytearray)):
        if flexible is None:
            flexible = api_version in schema.message_info(type(body)).flexible
        body = schema.encode_bytes(body, api_version)
    w = Writer()
    header = RequestHeader(api_key, api_version, correlation_id, client_id)
    encode_request_header(w, header, request_header_version(api_key, api_version, bool(flexible)))
    payload = w.getvalue() + bytes(body)
    return frame(payload) if framed else payload


_Response = TypeVar("_Response")


def decode_reply(
    reply: Reply | bytes, response_cls: type[_Response], version: int
) -> tuple[int, _Response]:
    """Decode a response (without its length prefix): C{(correlation_id, model)}."""
    if reply is None:
        raise AssertionError("no response was due")
    data = reply if isinstance(reply, bytes) else b"".join(bytes(c) for c in reply)
    info = schema.message_info(response_cls)
    r = Reader(data)
    correlation_id = decode_response_header(
        r, response_header_version(info.api_key or 0, version in info.flexible)
    )
    body = schema.decode(response_cls, version, r)
    if r.remaining:
        raise ValueError(f"{r.remaining} trailing bytes after the response")
    return correlation_id, body


def make_broker() -> Broker:
    """A loaded broker with no topics (see tests.brokers), on a fake clock."""
    from tests.brokers import make_broker as loaded_broker

    return loaded_broker(clock=Clock())


def make_dispatcher(registry: Iterable[ApiSpec] | None = None) -> Dispatcher:
    """A dispatcher over C{registry} (the real REGISTRY by default)."""
    if registry is None:
        from kafkatwist.apis import REGISTRY

        registry = REGISTRY
    return Dispatcher(registry, make_broker())


def connect(
    factory: KafkaServerFactory, host: str = "10.0.0.1", port: int = 40000
) -> tuple[KafkaServerProtocol, StringTransport]:
    """A protocol from C{factory}, connected to a fresh C{StringTransport}."""
    from twisted.internet.address import IPv4Address

    protocol = factory.buildProtocol(None)
    transport = StringTransport(
        hostAddress=IPv4Address("TCP", "127.0.0.1", 9092),
        peerAddress=IPv4Address("TCP", host, port),
    )
    protocol.makeConnection(transport)
    return protocol, transport


class ProduceHandler:
    """
    A controllable Produce handler for protocol and dispatch tests.

    Requests with C{acks=0} get no response. Otherwise, while C{hold} is
    true, each request waits on a Deferred appended to C{waiting}, which
    the test fires; C{raising} makes it raise instead. The response echoes
    the correlation id as the first topic's name so replies can be matched.
    """

    def __init__(self) -> None:
        self.hold = False
        self.raising: BaseException | None = None
        self.waiting: list[Deferred[None]] = []
        self.seen: list[int] = []
        self.cancelled: list[int] = []

    async def __call__(
        self, ctx: RequestContext, request: ProduceRequest
    ) -> ProduceResponse | None:
        self.seen.append(ctx.header.correlation_id)
        if self.hold:
            d: Deferred[None] = Deferred()
            self.waiting.append(d)
            try:
                await d
            except CancelledError:
                self.cancelled.append(ctx.header.correlation_id)
                raise
        if self.raising is not None:
            raise self.raising
        if request.acks == 0:
            return None
        return ProduceResponse(
            responses=(
                TopicProduceResponse(
                    name=str(ctx.header.correlation_id),
                    partition_responses=(PartitionProduceResponse(index=0, base_offset=7),),
                ),
            )
        )


def produce_error_response(request: ProduceRequest, version: int, code: int) -> ProduceResponse:
    """Produce's error response: the code on every requested partition."""
    return ProduceResponse(
        responses=tuple(
            TopicProduceResponse(
                name=t.name,
                partition_responses=tuple(
                    PartitionProduceResponse(index=p.index, error_code=int(code))
                    for p in t.partition_data
                ),
            )
            for t in request.topic_data
        )
    )


PRODUCE_VERSIONS = VersionRange(3, 11)


def produce_spec(handler: ProduceHandler, versions: VersionRange = PRODUCE_VERSIONS) -> ApiSpec:
    """A Produce spec around a test handler."""
    return ApiSpec(
        api_key=0,
        versions=versions,
        request=ProduceRequest,
        response=ProduceResponse,
        handle=handler,
        error_response=produce_error_response,
    )


def produce_request(correlation_id: int, acks: int = -1, version: int = 11) -> bytes:
    """A framed Produce request with no topics."""
    return request_frame(0, version, correlation_id, ProduceRequest(acks=acks, timeout_ms=1000))


def server_factory(
    handler: ProduceHandler | None = None, max_request_size: int = 1 << 20
) -> KafkaServerFactory:
    """A server factory over the real ApiVersions plus a controllable Produce."""
    from kafkatwist.apis import api_versions

    handler = ProduceHandler() if handler is None else handler
    dispatcher = Dispatcher((api_versions.SPEC, produce_spec(handler)), make_broker())
    return KafkaServerFactory(dispatcher, max_request_size)
