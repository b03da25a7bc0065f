"""The metrics listener: C{/metrics} (Prometheus) and C{/healthz}, served by twisted.web.

Started by L{kafkatwist.transport.service.BrokerService} when
C{kafkatwist.metrics.listener} is set (L{start_metrics}); then, and only
then, the L{MetricsHook} is added to the broker's request hooks. Both pages
are rendered on the reactor thread, from the broker's live state (not
C{prometheus_client}'s own HTTP server, whose thread would race the reactor).

C{/metrics} answers the Prometheus text format, or OpenMetrics when the
scraper asks for it (C{Accept}), from a registry of the broker's own (the
broker collector and C{prometheus_client}'s process, platform and GC
collectors). C{/healthz} answers 200 C{ok} while the broker serves: started,
every listener bound, the logs loaded and the group and transaction
coordinators loaded; else 503 with the reasons, one a line.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from io import BytesIO
from typing import Protocol, cast

from attrs import define, field
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IAddress
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.web.http import Request as TwistedRequest
from twisted.web.http_headers import Headers
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from kafkatwist.broker import Broker
from kafkatwist.clock import RunBlocking
from kafkatwist.config.listeners import host_port
from kafkatwist.config.metrics_config import parse_metrics_listener
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.metrics.collector import BrokerCollector
from kafkatwist.metrics.hook import MetricsHook
from kafkatwist.transport.connection import Connection
from kafkatwist.transport.listeners import BoundListener, ListeningPort

__all__ = [
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MetricsServer",
    "ServedBroker",
    "health_problems",
    "metrics_page",
    "metrics_site",
    "start_metrics",
]

_log = Logger()

#: Neither page reads a request body: a larger one is answered 413 and its connection closed.
MAX_BODY = 64 * 1024
#: Open connections at most (scrapers and probes are few): beyond, a new one is closed at once.
MAX_CONNECTIONS = 64
_TOO_LARGE = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class ServedBroker(Protocol):
    """What the metrics listener reads of the broker service (L{BrokerService})."""

    config: BrokerConfig
    listeners: list[BoundListener]
    run_blocking: RunBlocking

    @property
    def running(self) -> bool | int:
        """Whether the service is started (Twisted's C{IService.running})."""

    @property
    def ready(self) -> Deferred[ListeningPort]:
        """Fires once the broker serves."""

    @property
    def broker(self) -> Broker:
        """The broker's services."""


def health_problems(service: ServedBroker) -> list[str]:
    """Why the broker does not serve (none: healthy)."""
    if not service.running:
        return ["stopped"]
    if not service.ready.called:
        return ["starting: loading the metadata and the logs"]
    bound = {b.name for b in service.listeners}
    problems = [
        f"listener {listener.name} is not listening"
        for listener in service.config.broker_listeners()
        if listener.name not in bound
    ]
    broker = service.broker
    if broker.groups.loading:
        problems.append("the group coordinator is loading __consumer_offsets")
    if broker.transactions.loading:
        problems.append("the transaction coordinator is loading __transaction_state")
    return problems


class PageRequest(Protocol):
    """What the pages use of a request (twisted.web's C{Request}, or a test's C{DummyRequest})."""

    requestHeaders: Headers
    responseHeaders: Headers

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        """Set the response's status."""

    def write(self, data: bytes) -> None:
        """Write part of the body."""

    def finish(self) -> None:
        """End the response."""

    def notifyFinish(self) -> Deferred[None]:
        """Fires when the response is sent; fails if the connection is lost first."""


@define(eq=False)
class Snapshot:
    """A collector of metrics collected before, then of collectors that may run in any thread."""

    metrics: list[Metric]
    others: Sequence[Collector]

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics
        for collector in self.others:
            yield from collector.collect()


class MetricsPage(Resource):
    """
    C{/metrics}: the metrics in the format the scraper accepts.

    The broker's metrics are collected on the reactor thread (they read its
    live state); the text is rendered in C{run_blocking} (a thread: its
    cost grows with the partitions, 3 samples each), with the process
    collectors, which read only C{/proc}.
    """

    isLeaf = True

    def __init__(
        self, broker: Collector, others: Sequence[Collector], run_blocking: RunBlocking
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
        self._broker = broker
        self._others = others
        self._run_blocking = run_blocking

    def render_GET(self, request: PageRequest) -> int:
        accept = b",".join(request.requestHeaders.getRawHeaders(b"accept") or ()).decode("latin-1")
        encoder, content_type = choose_encoder(accept)
        snapshot = Snapshot(list(self._broker.collect()), self._others)
        gone: list[Failure] = []
        request.notifyFinish().addErrback(gone.append)

        def send(body: bytes) -> None:
            if gone:
                return
            request.responseHeaders.setRawHeaders(b"content-type", [content_type.encode()])
            request.write(body)
            request.finish()

        def failed(failure: Failure) -> None:
            _log.failure("Rendering /metrics failed", failure)
            if not gone:
                request.setResponseCode(500)
                request.finish()

        self._run_blocking(lambda: encoder(snapshot)).addCallbacks(send, failed)
        return NOT_DONE_YET


class HealthPage(Resource):
    """C{/healthz}: 200 C{ok}, or 503 and the reasons."""

    isLeaf = True

    def __init__(self, problems: Callable[[], list[str]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
        self._problems = problems

    def render_GET(self, request: PageRequest) -> bytes:
        request.responseHeaders.setRawHeaders(b"content-type", [b"text/plain; charset=utf-8"])
        problems = self._problems()
        if problems:
            request.setResponseCode(503)
            return "".join(p + "\n" for p in problems).encode()
        return b"ok\n"


class _Root(Resource):
    """The site's root: its pages, and twisted.web's escaped 404 for anything else."""

    def getChild(self, path: bytes, request: object) -> IResource:
        return notFound()


class _Request(Request):
    """
    A request whose body stays in memory, up to L{MAX_BODY} bytes.

    twisted.web spools a body of unknown or large size to a temporary file,
    as much as the client sends: a client could fill the disk. Neither page
    reads a body, so one over L{MAX_BODY} is answered 413 and the
    connection closed; what was already on its way is dropped.
    """

    _refused = False
    _body: BytesIO

    def gotLength(self, length: int | None) -> None:
        self.content = self._body = BytesIO()
        if length is not None and length > MAX_BODY:
            self._refuse()

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        if self._body.tell() + len(data) > MAX_BODY:
            self._refuse()
            return
        self._body.write(data)

    def process(self) -> None:
        if not self._refused:
            super().process()  # type: ignore[no-untyped-call, unused-ignore]

    def _refuse(self) -> None:
        self._refused = True
        transport = cast(Connection, self.channel.transport)
        transport.writeSequence((_TOO_LARGE,))
        transport.loseConnection()


class _Site(Site):
    """A quiet site (no access log) whose requests keep no large body (L{_Request})."""

    noisy = False
    requestFactory = _Request

    def log(self, request: TwistedRequest) -> None:
        """No access log: a scrape every few seconds would fill it."""


class _Connections(WrappingFactory):
    """A site's factory that knows its open connections and refuses more than L{MAX_CONNECTIONS}."""

    def buildProtocol(self, addr: IAddress | None) -> ProtocolWrapper | None:  # type: ignore[override]
        if len(self.protocols) >= MAX_CONNECTIONS:
            return None  # the reactor closes the connection
        return super().buildProtocol(addr)


def metrics_site(metrics: MetricsPage, problems: Callable[[], list[str]]) -> WrappingFactory:
    """
    The site (C{/metrics} and C{/healthz}), wrapped to know its open
    connections (keep-alive scrapers), which L{MetricsServer.stop} closes,
    and to keep them few (L{MAX_CONNECTIONS}).
    """
    root = _Root()  # type: ignore[no-untyped-call, unused-ignore]
    root.putChild(b"metrics", cast(IResource, metrics))
    root.putChild(b"healthz", cast(IResource, HealthPage(problems)))
    return _Connections(_Site(cast(IResource, root)))  # type: ignore[no-untyped-call, unused-ignore]


def metrics_page(
    broker: Broker,
    hook: MetricsHook,
    connections: Callable[[], Mapping[str, int]],
    run_blocking: RunBlocking,
) -> MetricsPage:
    """C{/metrics}: the broker's metrics and the process's (CPU, memory, GC, Python)."""
    return MetricsPage(
        BrokerCollector(broker, hook, connections),
        (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR),
        run_blocking,
    )


@define(eq=False)
class MetricsServer:
    """A listening metrics site, and the hook it added to the broker."""

    broker: Broker = field(repr=False)
    hook: MetricsHook
    site: WrappingFactory
    listening: ListeningPort

    @property
    def port(self) -> int:
        """The port bound (the one asked for, or the free one port 0 found)."""
        return self.listening.getHost().port

    async def stop(self) -> None:
        """Stop listening, close the open connections and remove the hook."""
        if self.hook in self.broker.hooks:
            self.broker.hooks.remove(self.hook)
        stopped = self.listening.stopListening()
        for connection in list(self.site.protocols):
            connection.transport.loseConnection()
        if stopped is not None:
            await stopped


def _topic_name(broker: Broker) -> Callable[[str, uuid.UUID], str | None]:
    """The name of a topic, by name or id, if it is in the broker's current metadata image."""

    def name(name: str, topic_id: uuid.UUID) -> str | None:
        image = broker.metadata.image
        if name:
            return name if name in image.topics else None
        topic = image.topics_by_id.get(topic_id)
        return None if topic is None else topic.name

    return name


async def start_metrics(reactor: object, service: ServedBroker) -> MetricsServer | None:
    """
    Listen on C{kafkatwist.metrics.listener} and add the metrics hook; None when it is unset.

    @raise twisted.internet.error.CannotListenError: when the address cannot be bound.
    """
    address = parse_metrics_listener(service.config.metrics_listener)
    if address is None:
        return None
    broker = service.broker
    hook = MetricsHook(_topic_name(broker))

    def connections() -> dict[str, int]:
        return {b.name: len(b.factory.connections) for b in service.listeners}

    page = metrics_page(broker, hook, connections, service.run_blocking)
    site = metrics_site(page, lambda: health_problems(service))
    listening: ListeningPort = await serverFromString(  # type: ignore[no-untyped-call, unused-ignore]
        reactor, address.endpoint()
    ).listen(site)
    broker.hooks.append(hook)
    host = listening.getHost()
    _log.info(
        "kafkatwist metrics on http://{address}/metrics and /healthz",
        address=host_port(host.host, host.port),
    )
    return MetricsServer(broker, hook, site, listening)
