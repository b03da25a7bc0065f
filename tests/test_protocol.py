"""Tests for L{kafkatwist.transport.protocol}: framing, ordering, pausing and connection loss."""

from __future__ import annotations

import struct
from typing import NoReturn

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis._spec import RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.messages.produce import ProduceRequest, ProduceResponse
from kafkatwist.transport.protocol import (
    DEFAULT_MAX_REQUEST_SIZE,
    KafkaServerFactory,
    KafkaServerProtocol,
)
from tests.support import (
    ProduceHandler,
    connect,
    decode_reply,
    frame,
    load_hex,
    produce_request,
    request_frame,
    server_factory,
    unframe,
)


def api_versions_request(correlation_id: int, version: int = 4) -> bytes:
    """A framed ApiVersions request."""
    return request_frame(18, version, correlation_id, ApiVersionsRequest(), client_id="t")


def _text(events: object) -> list[str]:
    return [formatEvent(e) for e in events]  # type: ignore[attr-defined]


class ProtocolCase(SynchronousTestCase):
    """A protocol over a StringTransport, with a controllable Produce handler."""

    max_request_size = 1 << 20

    def setUp(self) -> None:
        self.handler = ProduceHandler()
        self.factory = server_factory(self.handler, self.max_request_size)
        self.protocol, self.transport = connect(self.factory)

    def replies(self) -> list[bytes]:
        """The frames written so far (cleared afterwards)."""
        out = unframe(self.transport.value())
        self.transport.clear()
        return out

    def produce_ids(self) -> list[int]:
        """Correlation ids of the Produce replies written so far, in order."""
        out = []
        for reply in self.replies():
            correlation_id, body = decode_reply(reply, ProduceResponse, 11)
            self.assertEqual(body.responses[0].name, str(correlation_id))
            out.append(correlation_id)
        return out


class FramingTests(ProtocolCase):
    """Length-prefixed framing."""

    def test_byte_at_a_time(self) -> None:
        """A request delivered one byte per call is answered once, after its last byte."""
        data = load_hex("api_versions_v4_request")
        for i in range(len(data) - 1):
            self.protocol.dataReceived(data[i : i + 1])
            self.assertEqual(self.transport.value(), b"")
        self.protocol.dataReceived(data[-1:])
        [reply] = self.replies()
        correlation_id, body = decode_reply(reply, ApiVersionsResponse, 4)
        self.assertEqual(correlation_id, 177586623)
        self.assertEqual(body.error_code, 0)

    def test_byte_at_a_time_pipelined(self) -> None:
        """Several requests delivered byte by byte are each answered as they complete."""
        data = b"".join(api_versions_request(i) for i in range(3))
        for i in range(len(data)):
            self.protocol.dataReceived(data[i : i + 1])
        ids = [decode_reply(r, ApiVersionsResponse, 4)[0] for r in self.replies()]
        self.assertEqual(ids, [0, 1, 2])

    def test_many_frames_in_one_chunk(self) -> None:
        """Many frames in one dataReceived are all answered, in order."""
        data = b"".join(
            api_versions_request(i) if i % 2 else produce_request(i) for i in range(200)
        )
        self.protocol.dataReceived(data)
        replies = self.replies()
        self.assertEqual(len(replies), 200)
        for i, reply in enumerate(replies):
            cls, version = (ApiVersionsResponse, 4) if i % 2 else (ProduceResponse, 11)
            self.assertEqual(decode_reply(reply, cls, version)[0], i)

    def test_chunks_split_anywhere(self) -> None:
        """Frames split at arbitrary points, including inside the prefix, reassemble."""
        data = b"".join(api_versions_request(i) for i in range(5))
        for size in (2, 3, 5, 7, 13, 37):
            for i in range(0, len(data), size):
                self.protocol.dataReceived(data[i : i + size])
            ids = [decode_reply(r, ApiVersionsResponse, 4)[0] for r in self.replies()]
            self.assertEqual(ids, [0, 1, 2, 3, 4])

    def test_empty_data(self) -> None:
        """An empty read does nothing."""
        self.protocol.dataReceived(b"")
        self.assertEqual(self.transport.value(), b"")
        self.assertFalse(self.transport.disconnecting)

    def test_frame_at_the_limit(self) -> None:
        """A frame exactly MAX_LENGTH long is accepted."""
        payload = api_versions_request(5)[4:]
        self.protocol.MAX_LENGTH = len(payload)
        self.protocol.dataReceived(frame(payload))
        self.assertEqual(len(self.replies()), 1)
        self.assertFalse(self.transport.disconnecting)

    def test_oversize_prefix(self) -> None:
        """A length prefix above the limit closes the connection with a log line."""
        with capturedLogs() as events:
            self.protocol.dataReceived(struct.pack(">i", self.max_request_size + 1) + b"x" * 10)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")
        [line] = [t for t in _text(events) if "Closing" in t]
        self.assertIn("10.0.0.1:40000", line)
        self.assertIn(str(self.max_request_size + 1), line)
        self.assertIn(str(self.max_request_size), line)

    def test_negative_prefix(self) -> None:
        """A negative length prefix closes the connection with a log line."""
        with capturedLogs() as events:
            self.protocol.dataReceived(b"\xff\xff\xff\xff")
        self.assertTrue(self.transport.disconnecting)
        [line] = [t for t in _text(events) if "Closing" in t]
        self.assertIn("-1", line)

    def test_oversize_after_good_frames(self) -> None:
        """Frames before a bad prefix are answered; nothing after it is."""
        data = api_versions_request(1) + struct.pack(">i", -5) + api_versions_request(2)
        self.protocol.dataReceived(data)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual([decode_reply(r, ApiVersionsResponse, 4)[0] for r in self.replies()], [1])

    def test_nothing_read_after_closing(self) -> None:
        """Once a bad prefix has closed the connection, later bytes are not served."""
        self.protocol.dataReceived(struct.pack(">i", -5))
        self.protocol.dataReceived(api_versions_request(2))
        self.assertEqual(self.transport.value(), b"")

    def test_default_limit(self) -> None:
        """The default limit is Kafka's socket.request.max.bytes, 100 MiB."""
        self.assertEqual(DEFAULT_MAX_REQUEST_SIZE, 100 * 1024 * 1024)
        factory = KafkaServerFactory(self.factory.dispatcher)
        protocol, _ = connect(factory)
        self.assertEqual(protocol.MAX_LENGTH, DEFAULT_MAX_REQUEST_SIZE)

    def test_violation_closes(self) -> None:
        """An unknown API key closes the connection and later frames are not served."""
        data = request_frame(75, 0, 9, b"\x00") + api_versions_request(1)
        with capturedLogs() as events:
            self.protocol.dataReceived(data)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")
        [line] = [t for t in _text(events) if "Closing" in t]
        self.assertIn("10.0.0.1:40000", line)
        self.assertIn("75", line)

    def test_peer_and_connections(self) -> None:
        """The protocol knows its peer and is tracked by the factory while connected."""
        self.assertEqual(self.protocol.peer, "10.0.0.1:40000")
        self.assertEqual(self.protocol.local_host, "127.0.0.1")
        self.assertIn(self.protocol, self.factory.connections)
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertNotIn(self.protocol, self.factory.connections)


class OrderingTests(ProtocolCase):
    """One request at a time per connection, answered in order."""

    def test_pending_pauses(self) -> None:
        """A pending request pauses the transport; no second reply until it fires."""
        self.handler.hold = True
        self.protocol.dataReceived(produce_request(1))
        self.assertEqual(self.transport.producerState, "paused")
        self.assertEqual(self.transport.value(), b"")
        # Bytes already read still arrive while paused; they wait their turn.
        self.protocol.dataReceived(produce_request(2) + api_versions_request(3))
        self.assertEqual(self.handler.seen, [1])
        self.assertEqual(self.transport.value(), b"")

        self.handler.waiting[0].callback(None)
        self.assertEqual(self.produce_ids(), [1])
        self.assertEqual(self.handler.seen, [1, 2])
        self.assertEqual(self.transport.producerState, "paused")

        self.handler.hold = False
        self.handler.waiting[1].callback(None)
        replies = self.replies()
        self.assertEqual(decode_reply(replies[0], ProduceResponse, 11)[0], 2)
        self.assertEqual(decode_reply(replies[1], ApiVersionsResponse, 4)[0], 3)
        self.assertEqual(self.transport.producerState, "producing")

    def test_pipelined_in_order(self) -> None:
        """Pipelined requests are answered strictly in request order."""
        self.handler.hold = True
        self.protocol.dataReceived(b"".join(produce_request(i) for i in range(10)))
        for i in range(10):
            self.assertEqual(self.handler.seen, list(range(i + 1)))
            self.assertEqual(self.transport.producerState, "paused")
            self.handler.waiting[i].callback(None)
            self.assertEqual(self.produce_ids(), [i])
        self.assertEqual(self.transport.producerState, "producing")

    def test_synchronous_replies_do_not_pause(self) -> None:
        """A request answered at once never pauses the transport."""
        self.protocol.dataReceived(produce_request(1))
        self.assertEqual(self.transport.producerState, "producing")
        self.assertEqual(self.produce_ids(), [1])

    def test_acks_zero_writes_nothing(self) -> None:
        """A handler returning None writes nothing and the next request is served."""
        self.protocol.dataReceived(produce_request(1, acks=0) + produce_request(2))
        self.assertEqual(self.produce_ids(), [2])
        self.assertEqual(self.handler.seen, [1, 2])

    def test_pending_acks_zero(self) -> None:
        """A pending request that ends with no response resumes and serves the next one."""
        self.handler.hold = True
        self.protocol.dataReceived(produce_request(1, acks=0) + produce_request(2))
        self.assertEqual(self.transport.producerState, "paused")
        self.handler.waiting[0].callback(None)
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.handler.seen, [1, 2])
        self.handler.waiting[1].callback(None)
        self.assertEqual(self.produce_ids(), [2])
        self.assertEqual(self.transport.producerState, "producing")

    def test_connection_lost_cancels(self) -> None:
        """Losing the connection cancels the pending request and writes nothing."""
        self.handler.hold = True
        self.protocol.dataReceived(produce_request(1) + produce_request(2))
        waiting = self.handler.waiting[0]
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(waiting.called)
        self.assertEqual(self.handler.cancelled, [1])
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.handler.seen, [1])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_late_reply_after_loss(self) -> None:
        """A reply that arrives after the connection is gone is dropped."""

        class Stubborn(ProduceHandler):
            async def __call__(
                self, ctx: RequestContext, request: ProduceRequest
            ) -> ProduceResponse | None:
                try:
                    return await super().__call__(ctx, request)
                except CancelledError:
                    return await super().__call__(ctx, request)

        handler = Stubborn()
        handler.hold = True
        protocol, transport = connect(server_factory(handler))
        protocol.dataReceived(produce_request(1))
        protocol.connectionLost(Failure(ConnectionDone()))
        handler.hold = False
        handler.waiting[1].callback(None)
        self.assertEqual(transport.value(), b"")

    def test_late_reply_while_disconnecting(self) -> None:
        """A reply that arrives after the server started closing the connection is dropped."""
        self.handler.hold = True
        self.protocol.dataReceived(produce_request(1) + produce_request(2))
        self.transport.loseConnection()
        self.handler.waiting[0].callback(None)
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.handler.seen, [1])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_handler_crash_keeps_connection(self) -> None:
        """An unexpected handler error gets UNKNOWN_SERVER_ERROR; the connection stays."""
        self.handler.raising = RuntimeError("boom")
        self.protocol.dataReceived(produce_request(1))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        [reply] = self.replies()
        correlation_id, body = decode_reply(reply, ProduceResponse, 11)
        self.assertEqual(correlation_id, 1)
        self.assertEqual(body, ProduceResponse())
        self.assertFalse(self.transport.disconnecting)
        self.handler.raising = None
        self.protocol.dataReceived(produce_request(2))
        self.assertEqual(self.produce_ids(), [2])

    def test_dispatch_failure_closes(self) -> None:
        """A failure the dispatcher cannot answer is logged and closes the connection."""

        def broken(request: ProduceRequest, version: int, code: ErrorCode) -> NoReturn:
            raise ValueError("no error response")

        spec = self.factory.dispatcher.specs[0]
        import attrs

        self.factory.dispatcher.specs[0] = attrs.evolve(spec, error_response=broken)
        self.handler.raising = RuntimeError("boom")
        self.protocol.dataReceived(produce_request(1) + produce_request(2))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.handler.seen, [1])


class FuzzTests(SynchronousTestCase):
    """Arbitrary byte streams never make the protocol raise."""

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.binary(max_size=64), max_size=8), st.data())
    def test_arbitrary_stream(self, garbage: list[bytes], data: st.DataObject) -> None:
        """Valid frames mixed with garbage, cut anywhere, are served or close the connection."""
        frames = [api_versions_request(1), produce_request(2), *garbage]
        stream = b"".join(data.draw(st.permutations(frames)))
        protocol, transport = connect(server_factory(max_request_size=4096))
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            protocol.dataReceived(stream[start:end])
        unframe(transport.value())
        self.assertEqual(self.flushLoggedErrors(), [])


class ManyConnectionsTests(SynchronousTestCase):
    """Connections are independent."""

    def test_hundreds_of_string_transports(self) -> None:
        """Hundreds of connections with pending requests are each answered correctly."""
        handler = ProduceHandler()
        handler.hold = True
        factory = server_factory(handler)
        conns = [connect(factory, port=20000 + i) for i in range(300)]
        for i, (protocol, _) in enumerate(conns):
            protocol.dataReceived(produce_request(i) + api_versions_request(10000 + i))
        self.assertEqual(len(factory.connections), 300)
        self.assertEqual(len(handler.waiting), 300)
        handler.hold = False
        for i in reversed(range(300)):
            handler.waiting[i].callback(None)
        for i, (_, transport) in enumerate(conns):
            first, second = unframe(transport.value())
            self.assertEqual(decode_reply(first, ProduceResponse, 11)[0], i)
            self.assertEqual(decode_reply(second, ApiVersionsResponse, 4)[0], 10000 + i)
            self.assertEqual(transport.producerState, "producing")

    def test_iosim(self) -> None:
        """Hundreds of clients served through iosim's fake transports, in order."""
        factory = server_factory()

        class Client(Int32StringReceiver):
            def __init__(self) -> None:
                self.received: list[bytes] = []

            def stringReceived(self, data: bytes) -> None:
                self.received.append(data)

        pairs = []
        for i in range(200):
            client, server, pump = connectedServerAndClient(
                lambda: factory.buildProtocol(None), Client
            )
            pump.clientIO.write(b"".join(api_versions_request(i * 10 + j) for j in range(3)))
            pairs.append((client, pump))
        self.assertEqual(len(factory.connections), 200)
        for _, pump in pairs:
            pump.flush()
        for i, (client, _) in enumerate(pairs):
            ids = [decode_reply(r, ApiVersionsResponse, 4)[0] for r in client.received]
            self.assertEqual(ids, [i * 10, i * 10 + 1, i * 10 + 2])
            body = decode_reply(client.received[0], ApiVersionsResponse, 4)[1]
            self.assertEqual(body.error_code, ErrorCode.NONE)


class _BytesOnlyTransport(StringTransport):
    """A StringTransport that, like Twisted's socket transports, accepts bytes only."""

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            raise TypeError("Data must be bytes")
        super().write(data)

    def writeSequence(self, seq: list[bytes]) -> None:
        for data in seq:
            self.write(data)


class _FixedReply:
    """A dispatcher answering every frame with the same chunks."""

    def __init__(self, chunks: list[object]) -> None:
        self.chunks = chunks

    def dispatch(
        self,
        frame: bytes,
        peer: str = "",
        local_host: str | None = None,
        logged: set[str] | None = None,
        throttle: object = None,
        session: object = None,
    ) -> object:
        return succeed(self.chunks)


class ReplyTypesTests(SynchronousTestCase):
    """Replies made of buffers other than bytes (file reads, request slices)."""

    def connect(self, chunks: list[object]) -> tuple[KafkaServerProtocol, _BytesOnlyTransport]:
        factory = KafkaServerFactory(_FixedReply(chunks))  # type: ignore[arg-type]
        protocol = factory.buildProtocol(None)
        transport = _BytesOnlyTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_memoryview_and_bytearray_chunks(self) -> None:
        """memoryview and bytearray chunks reach a bytes-only transport as bytes, framed."""
        protocol, transport = self.connect(
            [b"\x00\x00\x00\x07", memoryview(b"abcdefgh")[:3], bytearray(b"xy")]
        )
        protocol.dataReceived(frame(b"\x00\x12\x00\x04\x00\x00\x00\x07\xff\xff\x00"))
        self.assertEqual(transport.value(), struct.pack(">i", 9) + b"\x00\x00\x00\x07abcxy")

    def test_write_failure_closes_the_connection(self) -> None:
        """A reply that cannot be written closes that connection with a logged failure."""
        protocol, transport = self.connect([object()])
        protocol.dataReceived(frame(b"\x00\x12\x00\x04\x00\x00\x00\x07\xff\xff\x00"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
