"""Tests for L{kafkatwist.transport.banner}: the version line and the start-up line."""

from __future__ import annotations

import platform

from twisted.copyright import version as twisted_version
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist import __version__
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.storage.kraft import run_now
from kafkatwist.transport.banner import (
    advertised_urls,
    log_started,
    started_line,
    version_line,
)
from kafkatwist.transport.service import BrokerService
from tests.storage.support import temp_dir


class VersionLineTests(SynchronousTestCase):
    """Tests for L{version_line}."""

    def test_names_every_version(self) -> None:
        """The line gives kafkatwist's version first, then Twisted's and Python's."""
        self.assertEqual(
            version_line(),
            f"kafkatwist {__version__} "
            f"(Twisted {twisted_version}, Python {platform.python_version()})",
        )


class AdvertisedUrlsTests(SynchronousTestCase):
    """Tests for L{advertised_urls}."""

    def test_forms(self) -> None:
        """A host-less entry names the client's host; an IPv6 host is bracketed."""
        self.assertEqual(
            advertised_urls(
                {"PLAINTEXT": (None, 9092), "SSL": ("::1", 9093), "SASL": ("kafka", 9094)}
            ),
            "PLAINTEXT://<host the client used>:9092,SSL://[::1]:9093,SASL://kafka:9094",
        )


class StartedLineTests(SynchronousTestCase):
    """Tests for L{started_line} and L{log_started} over a started L{BrokerService}."""

    def started(self, **properties: str) -> BrokerService:
        """A broker service started on a memory reactor over a fresh log dir."""
        self.log_dir = temp_dir(self)
        config = BrokerConfig.from_properties({"log.dirs": self.log_dir, **properties})
        service = BrokerService(
            config, "tcp:19092:interface=127.0.0.1", MemoryReactorClock(), run_blocking=run_now
        )
        service.startService()
        self.successResultOf(service.ready)
        self.addCleanup(lambda: self.successResultOf(service.stopService()))
        return service

    def test_line(self) -> None:
        """The line names the version, the file, the node id, the bound and advertised listeners."""
        service = self.started(
            **{
                "node.id": "3",
                "listeners": "PLAINTEXT://127.0.0.1:19092",
                "advertised.listeners": "PLAINTEXT://localhost:29092",
            }
        )
        # The memory reactor binds every IPv4 listener to 0.0.0.0.
        self.assertEqual(
            started_line(service, "/etc/kafka/server.properties"),
            f"kafkatwist {__version__} started: properties /etc/kafka/server.properties, "
            "node.id 3, listeners PLAINTEXT://0.0.0.0:19092, "
            f"advertised PLAINTEXT://localhost:29092, log.dirs {self.log_dir}",
        )

    def test_without_file_or_advertised(self) -> None:
        """No file reads "none"; without advertised.listeners, clients are told their own host."""
        service = self.started()
        self.assertEqual(
            started_line(service, None),
            f"kafkatwist {__version__} started: properties none, node.id 1, "
            "listeners PLAINTEXT://0.0.0.0:19092, "
            f"advertised PLAINTEXT://<host the client used>:19092, log.dirs {self.log_dir}",
        )

    def test_logged_once(self) -> None:
        """L{log_started} logs the line once at info and passes the port on."""
        service = self.started()
        port = object()
        with capturedLogs() as events:
            result = log_started(port, service, "server.properties")
        self.assertIs(result, port)
        self.assertEqual(
            [formatEvent(e) for e in events], [started_line(service, "server.properties")]
        )
        self.assertEqual(events[0]["log_namespace"], "kafkatwist.transport.banner")
