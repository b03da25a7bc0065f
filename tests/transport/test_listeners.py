"""Several listeners: each bound with its own factory and TLS, each advertising its own address."""

from __future__ import annotations

import os

from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.listeners import endpoint_string
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.storage.kraft import run_now
from kafkatwist.transport.protocol import KafkaServerFactory
from kafkatwist.transport.service import BrokerService, StartupError
from kafkatwist.transport.tls_protocol import TlsServerFactory
from tests.security.certs import PASSWORD, shared_pki
from tests.storage.support import temp_dir


def two_listeners(**more: str) -> dict[str, str]:
    """A PLAINTEXT listener on 9092 and an SSL one on 9093 with the test PKI's PEM key store."""
    return {
        "listeners": "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": shared_pki().server.keystore,
        **more,
    }


class ListenerTests(SynchronousTestCase):
    """BrokerService binds every listener of C{listeners}."""

    def setUp(self) -> None:
        self.log_dir = temp_dir(self)
        self.reactor = MemoryReactorClock()

    def service(self, endpoint: str | None = None, **props: str) -> BrokerService:
        config = BrokerConfig.from_properties({"log.dirs": self.log_dir, **props})
        return BrokerService(config, endpoint, self.reactor, run_blocking=run_now)

    def started(self, endpoint: str | None = None, **props: str) -> BrokerService:
        service = self.service(endpoint, **props)
        service.startService()
        self.successResultOf(service.ready)
        self.addCleanup(lambda: self.successResultOf(service.stopService()))
        return service

    def test_binds_each_listener(self) -> None:
        """Each listener gets its own named factory with its protocol; SSL is wrapped in TLS."""
        service = self.started(**two_listeners())
        [first, second] = self.reactor.tcpServers
        self.assertEqual(
            (first[0], first[3], second[0], second[3]), (9092, "127.0.0.1", 9093, "127.0.0.1")
        )
        plain, tls = first[1], second[1]
        self.assertIsInstance(plain, KafkaServerFactory)
        self.assertEqual((plain.listener_name, plain.security_protocol), ("PLAINTEXT", "PLAINTEXT"))
        self.assertIsInstance(tls, TLSMemoryBIOFactory)
        wrapped = tls.wrappedFactory
        self.assertIsInstance(wrapped, TlsServerFactory)
        self.assertEqual((wrapped.listener_name, wrapped.security_protocol), ("SSL", "SSL"))
        self.assertEqual([b.name for b in service.listeners], ["PLAINTEXT", "SSL"])
        self.assertIs(service.factory, plain)

    def test_each_listener_advertises_itself(self) -> None:
        """A client is told the address of the listener it came in on."""
        service = self.started(**two_listeners())
        broker = service.broker
        self.assertEqual(broker.address_for("PLAINTEXT", "10.0.0.1"), ("10.0.0.1", 9092))
        self.assertEqual(broker.address_for("SSL", "10.0.0.1"), ("10.0.0.1", 9093))

    def test_advertised_listeners_per_listener(self) -> None:
        """advertised.listeners entries apply by name; a listener without one advertises itself."""
        props = two_listeners(**{"advertised.listeners": "SSL://kafka.example:19093"})
        broker = self.started(**props).broker
        self.assertEqual(broker.address_for("SSL", "127.0.0.1"), ("kafka.example", 19093))
        # PLAINTEXT has no entry: its own bound address, never another listener's.
        self.assertEqual(broker.address_for("PLAINTEXT", "127.0.0.1"), ("127.0.0.1", 9092))
        props = two_listeners(
            **{"advertised.listeners": "PLAINTEXT://kafka.example:19092,SSL://:0"}
        )
        self.fresh()
        broker = self.started(**props).broker
        self.assertEqual(broker.address_for("PLAINTEXT", "127.0.0.1"), ("kafka.example", 19092))
        self.assertEqual(broker.address_for("SSL", "127.0.0.1"), ("127.0.0.1", 9093))

    def fresh(self) -> None:
        """A new log dir and reactor, for a second broker (the first is stopped at clean-up)."""
        self.log_dir = temp_dir(self)
        self.reactor = MemoryReactorClock()

    def test_endpoint_replaces_the_first_listener(self) -> None:
        """An explicit endpoint (tests, twistd --listen) serves the first listener; others bind."""
        self.started("tcp:0:interface=127.0.0.1", **two_listeners())
        ports = [(port, interface) for port, _, _, interface in self.reactor.tcpServers]
        self.assertEqual(ports, [(0, "127.0.0.1"), (9093, "127.0.0.1")])

    def test_bad_key_store_password(self) -> None:
        """A PKCS12 key store with a wrong password stops the start in one line, before the logs."""
        self.reactor.running = True
        service = self.service(
            **two_listeners(
                **{
                    "ssl.keystore.type": "PKCS12",
                    "ssl.keystore.location": shared_pki().server_p12,
                    "ssl.keystore.password": PASSWORD + "x",
                }
            )
        )
        service.startService()
        failure = self.failureResultOf(service.ready, StartupError)
        self.assertIn("listener SSL: ssl.keystore.location", str(failure.value))
        self.assertNotIn("\n", str(failure.value))
        self.assertFalse(os.path.exists(os.path.join(self.log_dir, "meta.properties")))
        self.assertEqual(self.reactor.tcpServers, [])

    def test_endpoint_string(self) -> None:
        """An empty host is every IPv4 interface; IPv6 hosts are escaped."""
        config = BrokerConfig.from_properties(
            {
                "listeners": "A://:9092,B://[::1]:9093",
                "listener.security.protocol.map": "A:PLAINTEXT,B:PLAINTEXT",
            }
        )
        a, b = config.listeners
        self.assertEqual(endpoint_string(a), "tcp:9092:interface=0.0.0.0")
        self.assertEqual(endpoint_string(b), "tcp6:9093:interface=\\:\\:1")
