"""The protocol trace as a request hook: each request and response, decoded, as a JSON line.

Two lines per exchange: C{"kind": "request"} when the request is received
(before its handler: a request that waits, such as a long-polling Fetch,
shows at once) and C{"kind": "response"} once it is answered, with the
response's size and the latency. Both carry the envelope::

    time           when (the broker's clock, ISO 8601 UTC, milliseconds)
    kind           "request" or "response"
    peer           the client's address, host:port
    listener       the listener's name (PLAINTEXT...)
    principal      the client's principal (User:ANONYMOUS...)
    clientId       the request header's client id
    correlationId  the request header's correlation id
    api, apiKey, apiVersion
    size           the frame's size in bytes (header included, length prefix not)
    latencyMs      (response) from the request's decoding to its encoded answer
    body           the request or response (L{kafkatwist.trace.render}); null
                   for an acks=0 Produce's absent response

A line longer than C{max_line_bytes} characters keeps its envelope, its
body replaced by null and C{"bodyChars"} saying how long it was. Requests
that never reach the hooks (one that does not decode, an unsupported
version) close the connection with a log line of their own and are not traced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

from attrs import define
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kafkatwist.clock import ReactorTime
from kafkatwist.config.trace_config import TraceConfig
from kafkatwist.hooks import Exchange
from kafkatwist.trace.render import Json, render
from kafkatwist.trace.sink import Sink

__all__ = ["TraceFilter", "TraceHook"]

_ENCODE: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


@define(frozen=True)
class TraceFilter:
    """
    Which exchanges the trace shows: all when a set is empty.

    @ivar apis: API names, lower-case, and API keys as decimal strings.
    @ivar client_ids: Client ids.
    """

    apis: frozenset[str] = frozenset()
    client_ids: frozenset[str] = frozenset()

    def matches(self, exchange: Exchange) -> bool:
        apis, client_ids = self.apis, self.client_ids
        if apis and not (exchange.api_name.lower() in apis or str(exchange.api_key) in apis):
            return False
        return not client_ids or exchange.header.client_id in client_ids


@define(eq=False)
class TraceHook:
    """
    A request hook writing the trace's lines to a L{Sink}.

    Registered in C{broker.hooks} only when the trace is on: off, it costs nothing.
    """

    _clock: ReactorTime
    _sink: Sink
    _filter: TraceFilter = TraceFilter()
    _max_line_bytes: int = 1048576

    _log = Logger()

    @classmethod
    def from_config(cls, config: TraceConfig, clock: ReactorTime, sink: Sink) -> TraceHook:
        """The hook C{config} describes, writing to C{sink}."""
        return cls(clock, sink, TraceFilter(config.apis, config.client_ids), config.max_line_bytes)

    def received(self, exchange: Exchange) -> Deferred[None] | None:
        if self._filter.matches(exchange):
            self._emit(exchange, "request")
        return None

    def answered(self, exchange: Exchange) -> None:
        if self._filter.matches(exchange):
            self._emit(exchange, "response")

    def close(self) -> Deferred[None]:
        """Write what is pending and release the sink."""
        return self._sink.close()

    def _emit(self, exchange: Exchange, kind: str) -> None:
        try:
            line = self.line(exchange, kind)
        except Exception:
            # A trace that cannot render must never fail the request it shows.
            self._log.failure(
                "Cannot trace {api} v{version} {kind}",
                api=exchange.api_name,
                version=exchange.api_version,
                kind=kind,
            )
            return
        self._sink.write(line)

    def line(self, exchange: Exchange, kind: str) -> str:
        """The JSON line of C{exchange}'s request (C{kind} "request") or response."""
        header, session = exchange.header, exchange.session
        when = datetime.fromtimestamp(self._clock.seconds(), UTC)
        envelope: dict[str, Json] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "kind": kind,
            "peer": exchange.peer,
            "listener": session.listener,
            "principal": str(session.principal),
            "clientId": header.client_id,
            "correlationId": header.correlation_id,
            "api": exchange.api_name,
            "apiKey": header.api_key,
            "apiVersion": header.api_version,
        }
        if kind == "request":
            envelope["size"] = exchange.request_size
            message: object | None = exchange.request
        else:
            envelope["size"] = exchange.response_size
            envelope["latencyMs"] = round((exchange.finished - exchange.started) * 1000, 3)
            message = exchange.response
        body = None if message is None else _ENCODE(render(message, header.api_version))
        head = _ENCODE(envelope)
        if body is None:
            return head[:-1] + ',"body":null}'
        if len(head) + len(body) + 8 > self._max_line_bytes:
            return head[:-1] + f',"body":null,"bodyChars":{len(body)}}}'
        return head[:-1] + ',"body":' + body + "}"
