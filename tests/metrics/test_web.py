"""Tests for the metrics site's pages (L{kafkatwist.metrics.web}) and its listener's config."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from kafkatwist.config.metrics_config import MetricsAddress, parse_metrics_listener
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.values import ConfigError
from kafkatwist.metrics.collector import BrokerCollector
from kafkatwist.metrics.web import (
    MAX_BODY,
    MAX_CONNECTIONS,
    HealthPage,
    MetricsPage,
    metrics_page,
    metrics_site,
)
from kafkatwist.storage.kraft import run_now
from tests.metrics.support import Metered, batch
from tests.storage.support import ManualRunBlocking


class Broken:
    """A collector that fails."""

    def collect(self) -> Iterator[Metric]:
        raise ValueError("broken")


class PageTests(SynchronousTestCase):
    """C{/metrics} renders the registry; C{/healthz} says ok or why not."""

    def setUp(self) -> None:
        m = self.m = Metered()
        self.successResultOf(m.broker.controller.create_topic("t", 1))
        self.successResultOf(m.produce("t", 0, batch(b"a", b"b")))
        self.page = metrics_page(m.broker, m.hook, lambda: {"PLAINTEXT": 1}, run_now)

    def render(self, request: DummyRequest) -> bytes:
        """Render C{/metrics} into C{request}; the body written."""
        self.assertEqual(self.page.render_GET(request), NOT_DONE_YET)
        self.assertEqual(request.finished, 1)
        return b"".join(request.written)

    def test_metrics_text(self) -> None:
        """Without an Accept header, the Prometheus text format."""
        request = DummyRequest([b"metrics"])
        body = self.render(request)
        content_type = request.responseHeaders.getRawHeaders(b"content-type")
        assert content_type is not None
        self.assertTrue(content_type[0].startswith(b"text/plain; version=0.0.4"))
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        samples = families["kafka_server_brokertopicmetrics_messagesin"].samples
        self.assertIn(2.0, [s.value for s in samples if s.labels == {"topic": "t"}])
        self.assertIn("process_cpu_seconds", families)

    def test_metrics_openmetrics(self) -> None:
        """A scraper asking for OpenMetrics gets it (ending with # EOF)."""
        request = DummyRequest([b"metrics"])
        request.requestHeaders.setRawHeaders(
            b"accept", [b"application/openmetrics-text; version=1.0.0"]
        )
        body = self.render(request)
        content_type = request.responseHeaders.getRawHeaders(b"content-type")
        assert content_type is not None
        self.assertTrue(content_type[0].startswith(b"application/openmetrics-text"))
        self.assertTrue(body.endswith(b"# EOF\n"))

    def test_client_gone(self) -> None:
        """A scraper that left before the text was rendered gets nothing written."""
        request = DummyRequest([b"metrics"])
        manual = ManualRunBlocking()
        page = MetricsPage(BrokerCollector(self.m.broker, self.m.hook, dict), (), manual)
        self.assertEqual(page.render_GET(request), NOT_DONE_YET)
        request.processingFailed(Failure(ConnectionDone()))
        manual.run_all()
        self.assertEqual((request.written, request.finished), ([], 0))

    def test_render_failure(self) -> None:
        """A collector that raises: 500, and the failure logged."""
        request = DummyRequest([b"metrics"])
        page = MetricsPage(BrokerCollector(self.m.broker, self.m.hook, dict), (Broken(),), run_now)
        self.assertEqual(page.render_GET(request), NOT_DONE_YET)
        self.assertEqual((request.responseCode, request.finished), (500, 1))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_healthy(self) -> None:
        """No problem: ok, with the default code (200)."""
        request = DummyRequest([b"healthz"])
        self.assertEqual(HealthPage(lambda: []).render_GET(request), b"ok\n")
        self.assertIsNone(request.responseCode)

    def test_unhealthy(self) -> None:
        """Problems: 503 and each reason on a line."""
        request = DummyRequest([b"healthz"])
        body = HealthPage(lambda: ["stopped", "x"]).render_GET(request)
        self.assertEqual((request.responseCode, body), (503, b"stopped\nx\n"))


class HostileClientTests(SynchronousTestCase):
    """The site over a transport: what a client sends cannot fill the disk or the memory."""

    def connect(self) -> tuple[StringTransport, Protocol]:
        """A connection to the metrics site (always healthy); its transport and protocol."""
        m = Metered()
        page = metrics_page(m.broker, m.hook, dict, run_now)
        site = metrics_site(page, list)
        protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))  # type: ignore[arg-type]
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        return transport, protocol

    def test_get(self) -> None:
        """A plain GET of /healthz is answered, the connection kept open."""
        transport, protocol = self.connect()
        protocol.dataReceived(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK"))
        self.assertTrue(transport.value().endswith(b"ok\n"))
        self.assertFalse(transport.disconnecting)

    def test_small_body_ignored(self) -> None:
        """A request with a small body is answered as without one."""
        transport, protocol = self.connect()
        protocol.dataReceived(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK"))

    def test_declared_large_body(self) -> None:
        """A Content-Length over L{MAX_BODY} is answered 413 and the connection closed at once."""
        transport, protocol = self.connect()
        protocol.dataReceived(
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1 << 40)
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)

    def test_endless_chunked_body(self) -> None:
        """
        A chunked body is not spooled to a temporary file (twisted.web's default):
        past L{MAX_BODY} the connection is answered 413 and closed.
        """
        transport, protocol = self.connect()
        protocol.dataReceived(
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (4096, b"x" * 4096)
        for _ in range(MAX_BODY // 4096 + 1):
            protocol.dataReceived(chunk)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)
        protocol.dataReceived(chunk * 4)  # what was already on its way is dropped
        self.assertEqual(transport.value().count(b"HTTP/1.1"), 1)

    def test_connections_limited(self) -> None:
        """Past L{MAX_CONNECTIONS} open connections a new one is refused until one ends."""
        m = Metered()
        site = metrics_site(metrics_page(m.broker, m.hook, dict, run_now), list)
        address = IPv4Address("TCP", "127.0.0.1", 5000)
        opened = []
        for _ in range(MAX_CONNECTIONS):
            protocol = site.buildProtocol(address)  # type: ignore[arg-type]
            assert protocol is not None
            protocol.makeConnection(StringTransport())
            opened.append(protocol)
        self.assertIsNone(site.buildProtocol(address))  # type: ignore[arg-type]
        opened[0].connectionLost(Failure(ConnectionDone()))
        self.assertIsNotNone(site.buildProtocol(address))  # type: ignore[arg-type]


class ListenerConfigTests(SynchronousTestCase):
    """C{kafkatwist.metrics.listener}: off by default, C{[http://]host:port}."""

    def test_off_by_default(self) -> None:
        """Unset or empty: no listener."""
        self.assertEqual(BrokerConfig.from_properties({}).metrics_listener, "")
        self.assertIsNone(parse_metrics_listener(""))

    def test_forms(self) -> None:
        """With or without the scheme; an empty host is every interface; IPv6 bracketed."""
        self.assertEqual(
            parse_metrics_listener("http://127.0.0.1:9404"), MetricsAddress("127.0.0.1", 9404)
        )
        self.assertEqual(parse_metrics_listener("127.0.0.1:0/"), MetricsAddress("127.0.0.1", 0))
        self.assertEqual(parse_metrics_listener(":9404"), MetricsAddress("", 9404))
        self.assertEqual(parse_metrics_listener("[::1]:9404"), MetricsAddress("::1", 9404))

    def test_endpoints(self) -> None:
        """The Twisted endpoint: an interface when a host is given, colons escaped."""
        self.assertEqual(MetricsAddress("127.0.0.1", 0).endpoint(), "tcp:0:interface=127.0.0.1")
        self.assertEqual(MetricsAddress("", 9404).endpoint(), "tcp:9404")
        self.assertEqual(MetricsAddress("::1", 1).endpoint(), "tcp:1:interface=\\:\\:1")

    def test_refused(self) -> None:
        """A malformed value stops the start with Kafka's config error message."""
        for bad in ("9404", "https://h:1", "h:port", "h:70000", "::1:9404"):
            with self.assertRaises(ConfigError) as caught:
                BrokerConfig.from_properties({"kafkatwist.metrics.listener": bad})
            self.assertIn("kafkatwist.metrics.listener", str(caught.exception))
