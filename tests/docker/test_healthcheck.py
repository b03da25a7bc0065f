"""Tests for L{kafkatwist.healthcheck} without a broker (tests/integration has those with one)."""

from __future__ import annotations

import os
import socket
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.values import ConfigError
from kafkatwist.healthcheck import HealthError, main, probe, target_from_properties


class TargetTests(SynchronousTestCase):
    """L{target_from_properties}: the client listener, on loopback when it binds a wildcard."""

    def test_image_defaults(self) -> None:
        """The image's listener on every interface is probed on 127.0.0.1."""
        text = (
            "listeners=PLAINTEXT://0.0.0.0:9092\nadvertised.listeners=PLAINTEXT://localhost:9092\n"
        )
        self.assertEqual(target_from_properties(text), ("127.0.0.1", 9092, False))

    def test_kafka_default(self) -> None:
        """Without listeners, Kafka's default C{PLAINTEXT://:9092} is probed on 127.0.0.1."""
        self.assertEqual(target_from_properties(""), ("127.0.0.1", 9092, False))

    def test_controller_listener_skipped(self) -> None:
        """The controller listener is not the one probed."""
        text = (
            "listeners=CONTROLLER://:9093,PLAINTEXT://:9092\ncontroller.listener.names=CONTROLLER\n"
        )
        self.assertEqual(target_from_properties(text), ("127.0.0.1", 9092, False))

    def test_tls_listener(self) -> None:
        """An SSL listener is probed over TLS, at its own host."""
        text = "listeners=SSL://broker.local:9093\n"
        self.assertEqual(target_from_properties(text), ("broker.local", 9093, True))

    def test_ipv6_wildcard(self) -> None:
        """C{[::]} is probed on C{::1}."""
        self.assertEqual(
            target_from_properties("listeners=PLAINTEXT://[::]:9092\n")[:2], ("::1", 9092)
        )

    def test_invalid(self) -> None:
        """Properties no broker would start with are a L{ConfigError}."""
        self.assertRaises(ConfigError, target_from_properties, "listeners=nonsense\n")


class ProbeFailureTests(SynchronousTestCase):
    """L{probe} and L{main} when nothing answers."""

    def closed_port(self) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        return port

    def test_refused(self) -> None:
        """A port nobody listens on is a L{HealthError} naming it."""
        port = self.closed_port()
        e = self.assertRaises(HealthError, probe, ("127.0.0.1", port, False), 2.0)
        self.assertIn(f"127.0.0.1:{port}", str(e))

    def test_main_unhealthy(self) -> None:
        """L{main} exits 1 for an address nobody answers at."""
        self.assertEqual(main([f"127.0.0.1:{self.closed_port()}"]), 1)

    def test_main_missing_file(self) -> None:
        """L{main} exits 1 when the properties file does not exist."""
        with tempfile.TemporaryDirectory() as directory:
            self.assertEqual(main([os.path.join(directory, "missing.properties")]), 1)
