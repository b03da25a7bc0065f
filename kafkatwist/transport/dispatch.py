"""Dispatcher: header decode, registry lookup, version check, decode, handle, encode.

Kafka's rules (``RequestContext.parseRequest`` and ``SocketServer`` in Kafka):

* an unknown API key, an unsupported version of any API but ApiVersions, or a
  body that does not decode is a L{ProtocolViolation}: the connection closes;
* ApiVersions at an unsupported version is answered with a v0 body carrying
  UNSUPPORTED_VERSION and the supported keys (KIP-511);
* a session not yet authenticated (SASL) gets nothing but ApiVersions: any
  other frame is a L{ProtocolViolation} (the SASL authenticator keeps them
  away before; this is the last line);
* a handler's L{KafkaError} becomes the API's error response;
* any other exception is logged once and answered with UNKNOWN_SERVER_ERROR;
  the connection stays up;
* the handler runs timed (L{HandlingTimer}): its time is charged to the
  client's request quota (L{kafkatwist.apis._quotas}) and a throttle goes
  into the response's C{throttle_time_ms} and mutes the connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.logger import Logger

from kafkatwist.apis._quotas import request_throttle, with_throttle
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis.api_versions import build_response as api_versions_response
from kafkatwist.clock import HandlingTimer
from kafkatwist.errors import ErrorCode, KafkaError, ProtocolViolation
from kafkatwist.hooks import Exchange, RequestHook
from kafkatwist.security.session import Session
from kafkatwist.wire import schema
from kafkatwist.wire.header import (
    API_VERSIONS_KEY,
    RequestHeader,
    decode_request_header,
    encode_response_header,
    peek_key_and_version,
    request_header_version,
    response_header_version,
)
from kafkatwist.wire.primitives import Buffer, Reader, Writer

if TYPE_CHECKING:
    from kafkatwist.broker import Broker

#: A response as buffers for C{writeSequence}, or None when none is due.
Reply: TypeAlias = list[Buffer] | None


class Dispatcher:
    """Routes request frames to the registered API handlers."""

    _log = Logger()

    def __init__(self, registry: Iterable[ApiSpec], broker: Broker) -> None:
        self.specs: dict[int, ApiSpec] = {}
        for spec in registry:
            if spec.api_key in self.specs:
                raise ValueError(f"API key {spec.api_key} registered twice")
            self.specs[spec.api_key] = spec
        self.broker = broker

    def dispatch(
        self,
        frame: Buffer,
        peer: str = "",
        local_host: str | None = None,
        logged: set[str] | None = None,
        throttle: Callable[[int], None] | None = None,
        session: Session | None = None,
    ) -> Deferred[Reply]:
        """
        Handle one request frame (without its length prefix).

        @param logged: The connection's record of what it logged once
            (L{RequestContext.logged}); a new one when not given.
        @param throttle: Called with a throttle time in ms before the
            response is returned, when the handler found the client over a
            quota: the connection is to read nothing more for that long.
        @param session: The connection's security state (listener,
            principal, client host); a PLAINTEXT anonymous one when not given.

        @return: a Deferred firing with the response as a list of buffers, or
            None when no response is due (acks=0 Produce). It fails with
            L{ProtocolViolation} when the connection must close.
        """
        api_key, api_version = peek_key_and_version(frame)
        if session is not None and not session.authenticated and api_key != API_VERSIONS_KEY:
            # The SASL authenticator keeps these away; should one slip through, refuse it here.
            raise ProtocolViolation(f"API key {api_key} before SASL authentication completed")
        spec = self.specs.get(api_key)
        if spec is None:
            raise ProtocolViolation(f"unknown API key {api_key} (version {api_version})")
        reader = Reader(frame)
        if api_version not in spec.versions:
            if api_key == API_VERSIONS_KEY:
                header = decode_request_header(reader, 1)
                return succeed(self._unsupported_api_versions(spec, header))
            raise ProtocolViolation(
                f"unsupported version {api_version} of API key {api_key} ({spec.name})"
            )
        info = schema.message_info(spec.request)
        flexible = api_version in info.flexible
        header = decode_request_header(
            reader, request_header_version(api_key, api_version, flexible)
        )
        request: object = schema.decode(spec.request, api_version, reader)
        # The request quota's measure, only while some request quota exists.
        timer = HandlingTimer(self.broker.clock) if self.broker.quotas.request.enabled else None
        ctx = RequestContext(
            header=header,
            broker=self.broker,
            peer=peer,
            local_host=local_host,
            apis=self.specs,
            logged=set() if logged is None else logged,
            request_size=len(frame),
            timer=timer,
            session=Session() if session is None else session,
        )
        if self.broker.hooks:
            # One snapshot per request: a hook registered meanwhile sees the next request,
            # and every hook shown the answer was shown the request.
            hooks = tuple(self.broker.hooks)
            exchange = Exchange(
                header, spec.name, ctx.session, peer, request, len(frame), time.perf_counter()
            )
            handled = self._handle(spec, ctx, request, throttle, exchange, hooks)
        else:
            handled = self._handle(spec, ctx, request, throttle)
        return Deferred.fromCoroutine(handled if timer is None else timer.drive(handled))

    async def _handle(
        self,
        spec: ApiSpec,
        ctx: RequestContext,
        request: object,
        throttle: Callable[[int], None] | None,
        exchange: Exchange | None = None,
        hooks: tuple[RequestHook, ...] = (),
    ) -> Reply:
        version = ctx.header.api_version
        try:
            if exchange is not None:
                # Every hook sees the request, in order, each Deferred awaited in turn
                # (inline: a coroutine of its own cost a microsecond a request); the
                # first KafkaError is the answer, once the others have seen it.
                refused: KafkaError | None = None
                for hook in hooks:
                    try:
                        waiting = hook.received(exchange)
                    except KafkaError as e:
                        refused = refused or e
                        continue
                    if waiting is not None:
                        await waiting
                if refused is not None:
                    raise refused
            response = await spec.handle(ctx, request)
        except (ProtocolViolation, CancelledError):
            raise
        except KafkaError as e:
            response = spec.error_response(request, version, e.code)
        except Exception:
            response = self._server_error(
                "Unexpected error handling {api} v{version} from {peer}", spec, ctx, request
            )
        if response is not None:
            # The request quota, unless the handler charged it (Produce, Fetch).
            request_ms = request_throttle(ctx)
            if request_ms > 0:
                response = with_throttle(response, version, request_ms)
                ctx.throttle_ms = max(ctx.throttle_ms, request_ms)
        if ctx.throttle_ms > 0 and throttle is not None:
            # Kafka mutes the channel before the response is sent (KIP-219).
            throttle(ctx.throttle_ms)
        if response is None:
            reply = None
        else:
            try:
                reply = self._encode(spec, ctx.header, response)
            except Exception:
                response = self._server_error(
                    "Could not encode {api} v{version} response for {peer}", spec, ctx, request
                )
                reply = self._encode(spec, ctx.header, response)
        if exchange is not None:
            for late in self._answered(exchange, hooks, response, reply):
                await late
        return reply

    def _answered(
        self,
        exchange: Exchange,
        hooks: tuple[RequestHook, ...],
        response: object | None,
        reply: Reply,
    ) -> list[Deferred[None]]:
        """
        Show the answered exchange to every hook; one that raises is logged, not fatal.

        @return: The Deferreds the hooks returned: the reply waits for them.
        """
        exchange.response = response
        exchange.response_size = 0 if reply is None else sum(map(len, reply))
        exchange.finished = time.perf_counter()
        late = []
        for hook in hooks:
            try:
                waiting = hook.answered(exchange)
            except Exception:
                self._log.failure("Request hook {hook!r} failed", hook=hook)
            else:
                if waiting is not None:
                    late.append(waiting)
        return late

    def _server_error(
        self, what: str, spec: ApiSpec, ctx: RequestContext, request: object
    ) -> object:
        """Log the exception being handled with C{what}; the UNKNOWN_SERVER_ERROR response."""
        version = ctx.header.api_version
        self._log.failure(what, api=spec.name, version=version, peer=ctx.peer)
        return spec.error_response(request, version, ErrorCode.UNKNOWN_SERVER_ERROR)

    def _encode(self, spec: ApiSpec, header: RequestHeader, response: object) -> list[Buffer]:
        version = header.api_version
        flexible = version in schema.message_info(spec.response).flexible
        w = Writer()
        encode_response_header(
            w, header.correlation_id, response_header_version(spec.api_key, flexible)
        )
        schema.encode(response, version, w)
        return w.chunks()

    def _unsupported_api_versions(self, spec: ApiSpec, header: RequestHeader) -> list[Buffer]:
        """KIP-511: a v0 ApiVersions body with UNSUPPORTED_VERSION and the keys."""
        response = api_versions_response(self.specs.values(), ErrorCode.UNSUPPORTED_VERSION)
        w = Writer()
        encode_response_header(w, header.correlation_id, 0)
        schema.encode(response, 0, w)
        self._log.debug(
            "ApiVersions v{version} is unsupported; answered with v0", version=header.api_version
        )
        return w.chunks()
