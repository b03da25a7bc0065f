"""Request hooks: what metrics, the protocol trace and fault injection see of each request.

A hook is registered in L{kafkatwist.broker.Broker.hooks} (at any time: the
dispatcher reads the list once per request, when it decodes it, so a hook
registered meanwhile starts with the next request). With none registered the
dispatcher builds nothing and calls nothing: hooks are free when off.

For each request that decodes (one that does not closes the connection before
any hook sees it) the dispatcher calls, in registration order:

* L{RequestHook.received} before the handler. It may
  - return None: go on;
  - return a Deferred: the handler waits for it (a delay, a pause);
  - raise L{KafkaError}: the request is answered with the API's error response
    with that code (the handler does not run); the later hooks still see the
    request (the first KafkaError is the answer), and every hook the answer;
  - raise L{ProtocolViolation}: the connection is closed, with one log line;
  - raise L{ConnectionReset}: the connection is aborted (an RST, no FIN).
* L{RequestHook.answered} once the response is encoded (or, for an acks=0
  Produce, once handled: C{response} None). It must not raise. It may
  return a Deferred: the response is sent once it fires (a late response:
  the handler's work is done, its answer comes late). Every hook sees the
  exchange first; then the reply waits for each returned Deferred.
"""

from __future__ import annotations

from typing import Protocol

from attrs import define
from twisted.internet.defer import Deferred

from kafkatwist.security.session import Session
from kafkatwist.wire.header import RequestHeader


@define(eq=False)
class Exchange:
    """
    One request and its response, as hooks see them.

    @ivar header: The request header (API key and version, correlation id, client id).
    @ivar api_name: The API's name (C{Produce}, C{Fetch}...).
    @ivar session: The connection's listener, principal and client host.
    @ivar peer: The client's address as C{host:port}.
    @ivar request: The decoded request (an attrs model of L{kafkatwist.messages}).
    @ivar request_size: The request frame's size in bytes (header included, prefix not).
    @ivar started: C{time.perf_counter()} when the frame was decoded.
    @ivar response: The response model, once answered (None for no response).
    @ivar response_size: The encoded response's size in bytes (header included), once answered.
    @ivar finished: C{time.perf_counter()} once answered.
    """

    header: RequestHeader
    api_name: str
    session: Session
    peer: str
    request: object
    request_size: int
    started: float
    response: object | None = None
    response_size: int = 0
    finished: float = 0.0

    @property
    def api_key(self) -> int:
        return self.header.api_key

    @property
    def api_version(self) -> int:
        return self.header.api_version


class RequestHook(Protocol):
    """Something that sees every request (metrics, the trace, fault injection)."""

    def received(self, exchange: Exchange) -> Deferred[None] | None:
        """Before the handler: see the module's docstring for what it may do."""

    def answered(self, exchange: Exchange) -> Deferred[None] | None:
        """After the response is encoded (C{exchange.response} and C{response_size} set)."""


__all__ = ["Exchange", "RequestHook"]
