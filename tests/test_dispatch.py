"""Tests for L{kafkatwist.transport.dispatch} and the registry in L{kafkatwist.apis}."""

from __future__ import annotations

import struct

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, api_versions
from kafkatwist.apis._spec import ApiSpec, RequestContext, generic_error_response
from kafkatwist.errors import ErrorCode, KafkaError, ProtocolViolation
from kafkatwist.messages.api_versions import ApiVersion, ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.wire import schema
from kafkatwist.wire.versions import VersionRange
from tests.support import (
    ProduceHandler,
    connect,
    decode_reply,
    load_hex,
    make_broker,
    make_dispatcher,
    produce_spec,
    request_frame,
    server_factory,
    unframe,
)

PRODUCE = ProduceRequest(
    acks=-1,
    timeout_ms=100,
    topic_data=(
        TopicProduceData(
            name="t",
            partition_data=(
                PartitionProduceData(index=0, records=b""),
                PartitionProduceData(index=3, records=b""),
            ),
        ),
    ),
)


def payload(*args: object, **kwargs: object) -> bytes:
    """A request frame without its length prefix."""
    return request_frame(*args, framed=False, **kwargs)  # type: ignore[arg-type]


def listed(response: ApiVersionsResponse) -> list[tuple[int, int, int]]:
    """The (key, min, max) triples of an ApiVersions response."""
    return [(k.api_key, k.min_version, k.max_version) for k in response.api_keys]


def registered(registry: object) -> list[tuple[int, int, int]]:
    """The (key, min, max) triples a registry advertises, by key."""
    return sorted(
        (s.api_key, s.advertised.lowest, s.advertised.highest)
        for s in registry  # type: ignore[attr-defined]
    )


class DispatchCase(SynchronousTestCase):
    """A dispatcher over ApiVersions and a controllable Produce (v3-v11)."""

    def setUp(self) -> None:
        self.handler = ProduceHandler()
        self.registry = (api_versions.SPEC, produce_spec(self.handler, VersionRange(3, 11)))
        self.dispatcher = Dispatcher(self.registry, make_broker())

    def produce(
        self, correlation_id: int = 1, version: int = 11, request: ProduceRequest = PRODUCE
    ) -> tuple[int, ProduceResponse]:
        """Dispatch a Produce request and decode the reply."""
        reply = self.successResultOf(
            self.dispatcher.dispatch(payload(0, version, correlation_id, request), "p:1")
        )
        return decode_reply(reply, ProduceResponse, version)


class UnknownAndUnsupportedTests(DispatchCase):
    """Requests the registry cannot serve."""

    def test_unknown_key(self) -> None:
        """An unknown API key is a ProtocolViolation naming the key and version."""
        e = self.assertRaises(
            ProtocolViolation, self.dispatcher.dispatch, payload(75, 3, 1, b"\x00"), "p:1"
        )
        self.assertIn("75", str(e))
        self.assertIn("version 3", str(e))

    def test_unknown_key_closes_with_log(self) -> None:
        """Through the protocol, an unknown key closes with a log naming peer, key and version."""
        protocol, transport = connect(server_factory(), host="192.0.2.7", port=5555)
        with capturedLogs() as events:
            protocol.dataReceived(load_hex("starter_readme_requests")[-53:])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        lines = [formatEvent(e) for e in events if "Closing" in formatEvent(e)]
        self.assertEqual(len(lines), 1)
        self.assertIn("192.0.2.7:5555", lines[0])
        self.assertIn("unknown API key 75 (version 0)", lines[0])

    def test_api_versions_v5(self) -> None:
        """ApiVersions v5 is answered with a v0 body carrying error 35 and the key list."""
        reply = self.successResultOf(
            self.dispatcher.dispatch(payload(18, 5, 77, b"\x01\x01\x00", flexible=True))
        )
        assert reply is not None
        self.assertEqual(
            b"".join(reply),
            bytes.fromhex(
                "0000004d"  # correlation id, response header v0
                "0023"  # UNSUPPORTED_VERSION
                "00000002"
                "0000"
                "0003"
                "000b"
                "0012"
                "0000"
                "0004"
            ),
        )

    def test_starter_readme_version_0x674a(self) -> None:
        """The starter README's ApiVersions v0x674a gets error 35 and every registered key."""
        frame = unframe(load_hex("starter_readme_requests"))[0]
        reply = self.successResultOf(make_dispatcher().dispatch(frame))
        correlation_id, body = decode_reply(reply, ApiVersionsResponse, 0)
        self.assertEqual(correlation_id, 0x4F74D28B)
        self.assertEqual(body.error_code, ErrorCode.UNSUPPORTED_VERSION)
        self.assertEqual(listed(body), registered(REGISTRY))

    def test_api_versions_negative_version(self) -> None:
        """A negative ApiVersions version is also unsupported, not a crash."""
        reply = self.successResultOf(self.dispatcher.dispatch(payload(18, -1, 3, b"")))
        self.assertEqual(decode_reply(reply, ApiVersionsResponse, 0)[1].error_code, 35)

    def test_unsupported_version_of_another_api(self) -> None:
        """Any other API at an unsupported version is a ProtocolViolation."""
        for version in (0, 2, 12, 0x7FFF):
            with self.subTest(version=version):
                e = self.assertRaises(
                    ProtocolViolation, self.dispatcher.dispatch, payload(0, version, 1, b"")
                )
                self.assertIn(f"unsupported version {version}", str(e))
        self.assertEqual(self.handler.seen, [])

    def test_unsupported_version_closes(self) -> None:
        """Through the protocol, an unsupported Produce version closes the connection."""
        protocol, transport = connect(server_factory())
        with capturedLogs() as events:
            protocol.dataReceived(request_frame(0, 2, 1, b""))
        self.assertTrue(transport.disconnecting)
        self.assertTrue(any("unsupported version 2" in formatEvent(e) for e in events))

    def test_short_frame(self) -> None:
        """A frame too short for a header is a ProtocolViolation."""
        for frame in (b"", b"\x00", b"\x00\x12\x00\x04", b"\x00\x12\x00\x04\x00\x00\x00\x01\x00"):
            with self.subTest(frame=frame):
                self.assertRaises(ProtocolViolation, self.dispatcher.dispatch, frame)

    def test_truncated_body(self) -> None:
        """A body that does not decode is a ProtocolViolation, and the handler never runs."""
        frame = payload(0, 11, 1, PRODUCE)
        header_size = len(payload(0, 11, 1, b"", flexible=True))
        for end in range(header_size, len(frame)):
            self.assertRaises(ProtocolViolation, self.dispatcher.dispatch, frame[:end])
        self.assertEqual(self.handler.seen, [])

    def test_trailing_bytes_ignored(self) -> None:
        """Bytes after a complete body are ignored, as Kafka's parser ignores them."""
        frame = payload(18, 4, 9, ApiVersionsRequest()) + b"\x00\x01\x02"
        reply = self.successResultOf(self.dispatcher.dispatch(frame))
        self.assertEqual(decode_reply(reply, ApiVersionsResponse, 4)[0], 9)

    def test_duplicate_key(self) -> None:
        """A registry naming one key twice is refused."""
        self.assertRaises(
            ValueError, Dispatcher, (api_versions.SPEC, api_versions.SPEC), make_broker()
        )


class FuzzTests(DispatchCase):
    """Whatever the bytes, dispatch fails only with ProtocolViolation."""

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.sampled_from([0, 18, 75]),
        st.integers(-2, 20),
        st.integers(-(2**31), 2**31 - 1),
        st.binary(max_size=80),
    )
    def test_garbage_after_header(self, key: int, version: int, cid: int, body: bytes) -> None:
        """A header of a known or unknown key followed by garbage never raises anything else."""
        frame = struct.pack(">hhi", key, version, cid) + body
        try:
            d = self.dispatcher.dispatch(frame)
        except ProtocolViolation:
            return
        results: list[object] = []
        d.addBoth(results.append)
        [result] = results
        if isinstance(result, Failure):
            result.trap(ProtocolViolation)
        self.assertEqual(self.flushLoggedErrors(), [])


class HandlerOutcomeTests(DispatchCase):
    """What becomes of a handler's result, error or crash."""

    def test_success(self) -> None:
        """A handler's response is encoded at the request version behind the right header."""
        for version in (3, 8, 9, 11):
            with self.subTest(version=version):
                correlation_id, body = self.produce(100 + version, version)
                self.assertEqual(correlation_id, 100 + version)
                self.assertEqual(body.responses[0].name, str(100 + version))

    def test_no_response(self) -> None:
        """A handler returning None gives a reply of None."""
        frame = payload(0, 11, 1, attrs.evolve(PRODUCE, acks=0))
        self.assertIsNone(self.successResultOf(self.dispatcher.dispatch(frame)))

    def test_pending(self) -> None:
        """A handler awaiting a Deferred leaves the dispatch pending until it fires."""
        self.handler.hold = True
        d = self.dispatcher.dispatch(payload(0, 11, 4, PRODUCE))
        self.assertNoResult(d)
        self.handler.waiting[0].callback(None)
        self.assertEqual(decode_reply(self.successResultOf(d), ProduceResponse, 11)[0], 4)

    def test_kafka_error(self) -> None:
        """A KafkaError from the handler becomes the API's error response, with no logged error."""
        self.handler.raising = KafkaError(ErrorCode.INVALID_REQUEST, "nope")
        correlation_id, body = self.produce(5)
        self.assertEqual(correlation_id, 5)
        codes = [(p.index, p.error_code) for p in body.responses[0].partition_responses]
        self.assertEqual(codes, [(0, 42), (3, 42)])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_unexpected_exception(self) -> None:
        """An unexpected exception is logged once and answered with UNKNOWN_SERVER_ERROR."""
        self.handler.raising = ZeroDivisionError("oops")
        with capturedLogs() as events:
            correlation_id, body = self.produce(6)
        self.assertEqual(correlation_id, 6)
        codes = [p.error_code for p in body.responses[0].partition_responses]
        self.assertEqual(codes, [-1, -1])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        failures = [e for e in events if "log_failure" in e]
        self.assertEqual(len(failures), 1)
        self.assertIn("p:1", formatEvent(failures[0]))

    def test_unexpected_exception_keeps_connection(self) -> None:
        """Through the protocol, an unexpected exception leaves the connection open."""
        handler = ProduceHandler()
        protocol, transport = connect(server_factory(handler))
        handler.raising = RuntimeError("x")
        protocol.dataReceived(request_frame(0, 11, 1, PRODUCE))
        handler.raising = None
        protocol.dataReceived(request_frame(0, 11, 2, PRODUCE))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertFalse(transport.disconnecting)
        first, second = unframe(transport.value())
        self.assertEqual(
            decode_reply(first, ProduceResponse, 11)[1]
            .responses[0]
            .partition_responses[0]
            .error_code,
            -1,
        )
        self.assertEqual(decode_reply(second, ProduceResponse, 11)[0], 2)

    def test_handler_protocol_violation(self) -> None:
        """A ProtocolViolation raised by a handler fails the dispatch so the connection closes."""
        self.handler.raising = ProtocolViolation("bad")
        d = self.dispatcher.dispatch(payload(0, 11, 1, PRODUCE))
        self.failureResultOf(d, ProtocolViolation)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_unencodable_response(self) -> None:
        """A response that cannot be encoded is logged and replaced by the error response."""

        async def bad(ctx: RequestContext, request: ProduceRequest) -> ProduceResponse:
            return ProduceResponse(throttle_time_ms=2**40)

        dispatcher = Dispatcher(
            (attrs.evolve(produce_spec(self.handler), handle=bad),), make_broker()
        )
        reply = self.successResultOf(dispatcher.dispatch(payload(0, 11, 8, PRODUCE)))
        correlation_id, body = decode_reply(reply, ProduceResponse, 11)
        self.assertEqual(correlation_id, 8)
        self.assertEqual(body.responses[0].partition_responses[0].error_code, -1)
        self.assertEqual(len(self.flushLoggedErrors()), 1)

    def test_context(self) -> None:
        """The handler sees the header, broker, peer, local host and registry."""
        seen: list[RequestContext] = []

        async def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
            seen.append(ctx)
            return ApiVersionsResponse()

        spec = attrs.evolve(api_versions.SPEC, handle=handle)
        broker = make_broker()
        dispatcher = Dispatcher((spec,), broker)
        frame = payload(18, 3, 12, ApiVersionsRequest(), client_id="me")
        self.successResultOf(dispatcher.dispatch(frame, "1.2.3.4:5", "10.0.0.9"))
        [ctx] = seen
        self.assertEqual((ctx.header.correlation_id, ctx.header.client_id), (12, "me"))
        self.assertEqual(ctx.api_version, 3)
        self.assertIs(ctx.broker, broker)
        self.assertEqual((ctx.peer, ctx.local_host), ("1.2.3.4:5", "10.0.0.9"))
        self.assertEqual(set(ctx.apis), {18})

    def test_generic_error_response(self) -> None:
        """Without an error_response, the response's top-level error_code carries the code."""

        async def refuse(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
            raise KafkaError(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)

        spec = ApiSpec(
            api_key=18,
            versions=VersionRange(0, 4),
            request=ApiVersionsRequest,
            response=ApiVersionsResponse,
            handle=refuse,
        )
        dispatcher = Dispatcher((spec,), make_broker())
        reply = self.successResultOf(dispatcher.dispatch(payload(18, 4, 1, ApiVersionsRequest())))
        self.assertEqual(
            decode_reply(reply, ApiVersionsResponse, 4)[1], ApiVersionsResponse(error_code=31)
        )
        no_code = generic_error_response(ProduceResponse)
        self.assertEqual(no_code(PRODUCE, 11, ErrorCode.INVALID_REQUEST), ProduceResponse())

    def test_handler_deferred(self) -> None:
        """A handler may await a plain Deferred returned by storage."""
        d: Deferred[int] = Deferred()

        async def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
            code = await d
            return ApiVersionsResponse(error_code=code)

        dispatcher = Dispatcher((attrs.evolve(api_versions.SPEC, handle=handle),), make_broker())
        result = dispatcher.dispatch(payload(18, 0, 1, ApiVersionsRequest()))
        self.assertNoResult(result)
        d.callback(7)
        self.assertEqual(
            decode_reply(self.successResultOf(result), ApiVersionsResponse, 0)[1].error_code, 7
        )


class RegistryTests(SynchronousTestCase):
    """Sweeps over every registered API (STYLE.md section 3.5)."""

    def test_keys_unique(self) -> None:
        """Every registered spec has its own key, and its request and response match it."""
        keys = [s.api_key for s in REGISTRY]
        self.assertEqual(len(keys), len(set(keys)))
        for spec in REGISTRY:
            with self.subTest(api=spec.name):
                self.assertEqual(schema.message_info(spec.request).api_key, spec.api_key)
                self.assertEqual(schema.message_info(spec.response).api_key, spec.api_key)
                self.assertEqual(schema.message_info(spec.request).kind, "request")
                self.assertEqual(schema.message_info(spec.response).kind, "response")
                valid = schema.message_info(spec.request).valid
                self.assertEqual(spec.versions.intersect(valid), spec.versions)

    def test_empty_request_decodes(self) -> None:
        """Every spec decodes an empty (default) request at every supported version."""
        for spec in REGISTRY:
            for version in range(spec.versions.lowest, spec.versions.highest + 1):
                with self.subTest(api=spec.name, version=version):
                    data = schema.encode_bytes(spec.request(), version)
                    self.assertEqual(schema.decode(spec.request, version, data), spec.request())

    def test_error_response_encodes(self) -> None:
        """Every spec's error_response encodes at every supported version, for several codes."""
        codes = [
            ErrorCode.UNKNOWN_SERVER_ERROR,
            ErrorCode.INVALID_REQUEST,
            ErrorCode.UNSUPPORTED_VERSION,
        ]
        for spec in REGISTRY:
            for version in range(spec.versions.lowest, spec.versions.highest + 1):
                for code in codes:
                    with self.subTest(api=spec.name, version=version, code=code):
                        response = spec.error_response(spec.request(), version, code)
                        self.assertIsInstance(response, spec.response)
                        data = schema.encode_bytes(response, version)
                        self.assertEqual(schema.decode(spec.response, version, data), response)

    def test_empty_request_dispatches(self) -> None:
        """Every spec answers an empty request at every supported version with a decodable reply."""
        dispatcher = make_dispatcher()
        for spec in REGISTRY:
            for version in range(spec.versions.lowest, spec.versions.highest + 1):
                with self.subTest(api=spec.name, version=version):
                    d = dispatcher.dispatch(payload(spec.api_key, version, version, spec.request()))
                    reply = self.successResultOf(d)
                    if reply is None:
                        # Only an acks=0 Produce (the default request) goes unanswered.
                        self.assertEqual((spec.api_key, spec.request().acks), (0, 0))
                        continue
                    self.assertEqual(decode_reply(reply, spec.response, version)[0], version)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_api_versions_lists_registry(self) -> None:
        """ApiVersions v0-v4 lists exactly the registry's keys and ranges."""
        dispatcher = make_dispatcher()
        for version in range(0, 5):
            with self.subTest(version=version):
                d = dispatcher.dispatch(payload(18, version, 40 + version, ApiVersionsRequest()))
                correlation_id, body = decode_reply(
                    self.successResultOf(d), ApiVersionsResponse, version
                )
                self.assertEqual(correlation_id, 40 + version)
                self.assertEqual(body.error_code, 0)
                self.assertEqual(listed(body), registered(REGISTRY))
                self.assertIn((18, 0, 4), listed(body))

    def test_api_versions_follows_dispatcher_registry(self) -> None:
        """ApiVersions answers from the dispatcher's own registry, sorted by key."""
        registry = (produce_spec(ProduceHandler(), VersionRange(3, 11)), api_versions.SPEC)
        dispatcher = Dispatcher(registry, make_broker())
        d = dispatcher.dispatch(payload(18, 4, 1, ApiVersionsRequest()))
        body = decode_reply(self.successResultOf(d), ApiVersionsResponse, 4)[1]
        self.assertEqual(
            body.api_keys,
            (
                ApiVersion(api_key=0, min_version=3, max_version=11),
                ApiVersion(api_key=18, max_version=4),
            ),
        )

    def test_golden_api_versions_request(self) -> None:
        """The tester's ApiVersions v4 request gets a v4 answer with a v0 response header."""
        frame = unframe(load_hex("api_versions_v4_request"))[0]
        chunks = self.successResultOf(make_dispatcher().dispatch(frame))
        assert chunks is not None
        reply = b"".join(chunks)
        self.assertEqual(reply[:4], bytes.fromhex("0a95c1bf"))
        self.assertEqual(reply[4:6], b"\x00\x00")
        correlation_id, body = decode_reply(reply, ApiVersionsResponse, 4)
        self.assertEqual(listed(body), registered(REGISTRY))
