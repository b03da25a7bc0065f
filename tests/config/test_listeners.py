"""Tests for C{listeners}: parsing, security protocols, listen endpoint, advertised address."""

from __future__ import annotations

from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.listeners import host_port
from kafkatwist.config.properties import (
    BrokerConfig,
    ConfigError,
    Listener,
    parse_listeners,
    parse_security_protocol_map,
)


class ParseListenersTests(SynchronousTestCase):
    """Tests for L{parse_listeners}."""

    def test_kraft_combined(self) -> None:
        """The CodeCrafters listener list parses into two listeners with empty hosts."""
        self.assertEqual(
            parse_listeners("PLAINTEXT://:9092,CONTROLLER://:9093"),
            (Listener("PLAINTEXT", "", 9092), Listener("CONTROLLER", "", 9093)),
        )

    def test_host(self) -> None:
        """An explicit host is kept."""
        self.assertEqual(
            parse_listeners("PLAINTEXT://localhost:9092"),
            (Listener("PLAINTEXT", "localhost", 9092),),
        )

    def test_ipv6(self) -> None:
        """A bracketed IPv6 host is kept without its brackets."""
        self.assertEqual(
            parse_listeners("PLAINTEXT://[::1]:9092"), (Listener("PLAINTEXT", "::1", 9092),)
        )

    def test_whitespace_and_case(self) -> None:
        """Entries are trimmed and names upper-cased, as Kafka normalises them."""
        self.assertEqual(
            parse_listeners(" plaintext://127.0.0.1:0 , ext://h:1 "),
            (Listener("PLAINTEXT", "127.0.0.1", 0), Listener("EXT", "h", 1)),
        )

    def test_malformed(self) -> None:
        """Malformed entries raise ConfigError naming the key."""
        for value in ("", "PLAINTEXT", "://:9092", "PLAINTEXT://:", "PLAINTEXT://:x", "a:9092"):
            error = self.assertRaises(ConfigError, parse_listeners, value, "advertised.listeners")
            self.assertEqual(error.key, "advertised.listeners")

    def test_port_range(self) -> None:
        """A port outside 0-65535 raises ConfigError."""
        self.assertRaises(ConfigError, parse_listeners, "PLAINTEXT://:65536")
        self.assertRaises(ConfigError, parse_listeners, "PLAINTEXT://:-1")

    def test_duplicate_names(self) -> None:
        """Two listeners with one name raise ConfigError."""
        self.assertRaises(ConfigError, parse_listeners, "A://:1,a://:2")


class EndpointTests(SynchronousTestCase):
    """Tests for L{BrokerConfig.listen_endpoint} and L{BrokerConfig.advertised_address}."""

    def endpoint(self, listeners: str, controller: str = "") -> str:
        """The listen endpoint for these C{listeners} (and controller listener names)."""
        props = {"listeners": listeners}
        if controller:
            props["controller.listener.names"] = controller
        return BrokerConfig.from_properties(props).listen_endpoint()

    def test_any_host(self) -> None:
        """An empty host listens on every IPv4 interface."""
        self.assertEqual(self.endpoint("PLAINTEXT://:9092"), "tcp:9092:interface=0.0.0.0")

    def test_explicit_host(self) -> None:
        """An explicit host becomes the interface."""
        self.assertEqual(self.endpoint("PLAINTEXT://127.0.0.1:0"), "tcp:0:interface=127.0.0.1")
        self.assertEqual(
            self.endpoint("PLAINTEXT://localhost:19092"), "tcp:19092:interface=localhost"
        )

    def test_ipv6(self) -> None:
        """An IPv6 host uses tcp6 with its colons escaped."""
        self.assertEqual(self.endpoint("PLAINTEXT://[::]:9092"), "tcp6:9092:interface=\\:\\:")
        self.assertEqual(self.endpoint("PLAINTEXT://[::1]:9092"), "tcp6:9092:interface=\\:\\:1")

    def test_skips_controller_listener(self) -> None:
        """A controller listener listed first is skipped."""
        self.assertEqual(
            self.endpoint("CONTROLLER://:9093,PLAINTEXT://:9092", "CONTROLLER"),
            "tcp:9092:interface=0.0.0.0",
        )

    def test_endpoint_strings_parse(self) -> None:
        """Twisted's serverFromString accepts the strings with the intended interface and port."""
        reactor = MemoryReactor()
        for listeners, interface in [
            ("PLAINTEXT://:9092", "0.0.0.0"),
            ("PLAINTEXT://[::1]:9092", "::1"),
        ]:
            endpoint = serverFromString(reactor, self.endpoint(listeners))
            endpoint.listen(Factory())
            port, _factory, _backlog, bound = reactor.tcpServers[-1]
            self.assertEqual((port, bound), (9092, interface))

    def test_advertised_defaults_to_listener(self) -> None:
        """Without advertised.listeners, the serving listener's host and port are advertised."""
        config = BrokerConfig.from_properties({"listeners": "PLAINTEXT://myhost:9092"})
        self.assertEqual(config.advertised_address(), ("myhost", 9092))

    def test_advertised_any_host_is_none(self) -> None:
        """Empty, C{0.0.0.0} and C{::} hosts are advertised as None (use the connected address)."""
        for listeners in ("PLAINTEXT://:9092", "PLAINTEXT://0.0.0.0:9092", "PLAINTEXT://[::]:9092"):
            config = BrokerConfig.from_properties({"listeners": listeners})
            self.assertEqual(config.advertised_address(), (None, 9092))

    def test_advertised_port_zero(self) -> None:
        """Port 0 is advertised as 0, meaning the port bound at run time."""
        config = BrokerConfig.from_properties({"listeners": "PLAINTEXT://127.0.0.1:0"})
        self.assertEqual(config.advertised_address(), ("127.0.0.1", 0))

    def test_advertised_by_name(self) -> None:
        """The advertised listener with the serving listener's name is chosen."""
        config = BrokerConfig.from_properties(
            {
                "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "controller.listener.names": "CONTROLLER",
                "advertised.listeners": "OTHER://other:1,PLAINTEXT://public.example:19092",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                "OTHER:PLAINTEXT",
            }
        )
        self.assertEqual(config.advertised_address(), ("public.example", 19092))

    def test_advertised_fallback_to_first(self) -> None:
        """Without a same-named advertised listener, the first non-controller one is chosen."""
        config = BrokerConfig.from_properties(
            {
                "listeners": "PLAINTEXT://:9092",
                "advertised.listeners": "EXTERNAL://ext:1",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
            }
        )
        self.assertEqual(config.advertised_address(), ("ext", 1))


class SecurityProtocolMapTests(SynchronousTestCase):
    """Tests for L{parse_security_protocol_map} and the effective map of L{BrokerConfig}."""

    def test_parse(self) -> None:
        """Names and protocols are upper-cased and trimmed; the last of a repeated name wins."""
        self.assertEqual(
            parse_security_protocol_map(" client : plaintext ,Ssl:SSL, client:SASL_SSL"),
            {"CLIENT": "SASL_SSL", "SSL": "SSL"},
        )
        self.assertEqual(parse_security_protocol_map("  "), {})
        self.assertEqual(parse_security_protocol_map("A:PLAINTEXT,,"), {"A": "PLAINTEXT"})

    def test_parse_errors(self) -> None:
        """An entry without a colon or name, or an unknown protocol, raises ConfigError."""
        for value in ("PLAINTEXT", ",A:PLAINTEXT", "A:SSL,,B:SSL", ":SSL", "A:TLS", "A:TRACE"):
            error = self.assertRaises(ConfigError, parse_security_protocol_map, value)
            self.assertEqual(error.key, "listener.security.protocol.map")
        error = self.assertRaises(ConfigError, parse_security_protocol_map, "A:tls")
        self.assertIn("Invalid security protocol `TLS`", str(error))

    def test_default_map(self) -> None:
        """By default each protocol name maps to itself, and controller listeners to PLAINTEXT."""
        config = BrokerConfig.from_properties(
            {
                "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "controller.listener.names": "CONTROLLER",
            }
        )
        self.assertEqual(
            dict(config.listener_security_protocol_map),
            {
                "PLAINTEXT": "PLAINTEXT",
                "SSL": "SSL",
                "SASL_PLAINTEXT": "SASL_PLAINTEXT",
                "SASL_SSL": "SASL_SSL",
                "CONTROLLER": "PLAINTEXT",
            },
        )
        self.assertEqual(config.security_protocol("plaintext"), "PLAINTEXT")
        self.assertEqual(BrokerConfig().security_protocol("SSL"), "SSL")

    def test_protocols_of_listeners(self) -> None:
        """Each listener resolves through the map; SSL and SASL names keep their protocol."""
        for listeners, name, protocol in [
            ("SSL://:9093", "SSL", "SSL"),
            ("SASL_PLAINTEXT://:9094", "SASL_PLAINTEXT", "SASL_PLAINTEXT"),
            ("sasl_ssl://:9095", "SASL_SSL", "SASL_SSL"),
        ]:
            config = BrokerConfig.from_properties({"listeners": listeners})
            self.assertEqual(config.security_protocol(name), protocol)

    def test_unknown_listener_name(self) -> None:
        """A listener the map does not name is a ConfigError on listeners, as in Kafka."""
        for listeners in ("FOO://:9092", "http://:8080", "PLAINTEXT://:9092,CONTROLLER://:9093"):
            error = self.assertRaises(
                ConfigError, BrokerConfig.from_properties, {"listeners": listeners}
            )
            self.assertEqual(error.key, "listeners")
            self.assertIn("No security protocol defined for listener", str(error))

    def test_unknown_advertised_name(self) -> None:
        """An advertised listener the map does not name is a ConfigError on advertised.listeners."""
        error = self.assertRaises(
            ConfigError,
            BrokerConfig.from_properties,
            {"advertised.listeners": "EXTERNAL://ext:1"},
        )
        self.assertEqual(error.key, "advertised.listeners")
        self.assertIn("EXTERNAL", str(error))

    def test_explicit_map(self) -> None:
        """An explicit map names the listeners; controller names are then not added."""
        config = BrokerConfig.from_properties(
            {
                "listeners": "CLIENT://:9092,CONTROLLER://:9093",
                "controller.listener.names": "CONTROLLER",
                "listener.security.protocol.map": "client:plaintext,CONTROLLER:PLAINTEXT",
            }
        )
        self.assertEqual(config.security_protocol("CLIENT"), "PLAINTEXT")
        self.assertRaises(
            ConfigError,
            BrokerConfig.from_properties,
            {
                "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "controller.listener.names": "CONTROLLER",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT",
            },
        )

    def test_controller_not_defaulted_next_to_ssl(self) -> None:
        """As in Kafka, controller names get no default protocol when a listener is SSL or SASL."""
        error = self.assertRaises(
            ConfigError,
            BrokerConfig.from_properties,
            {
                "listeners": "SSL://:9092,CONTROLLER://:9093",
                "controller.listener.names": "CONTROLLER",
            },
        )
        self.assertIn("listener CONTROLLER", str(error))


class HostPortTests(SynchronousTestCase):
    """Tests for L{host_port}."""

    def test_forms(self) -> None:
        """A name or IPv4 address is written as is, an IPv6 address in brackets."""
        self.assertEqual(host_port("127.0.0.1", 9092), "127.0.0.1:9092")
        self.assertEqual(host_port("broker.local", 1), "broker.local:1")
        self.assertEqual(host_port("::1", 9404), "[::1]:9404")
