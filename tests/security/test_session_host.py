"""The session's client host is Java's C{InetAddress.getHostAddress} form, which ACL hosts match."""

from __future__ import annotations

from twisted.internet.address import IPv6Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY
from kafkatwist.apis._groups import client_host
from kafkatwist.security.acl import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.authorizer import StandardAuthorizer
from kafkatwist.security.principal import KafkaPrincipal
from kafkatwist.security.session import java_host_address
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.protocol import KafkaServerFactory
from tests.brokers import context, make_broker


class JavaHostAddressTests(SynchronousTestCase):
    """Kafka compares ACL hosts with C{getHostAddress()} strings."""

    def test_forms(self) -> None:
        """IPv6 uncompressed without leading zeros, mapped IPv4 as IPv4, scope kept."""
        self.assertEqual(java_host_address("::1"), "0:0:0:0:0:0:0:1")
        self.assertEqual(java_host_address("2001:DB8::0:1"), "2001:db8:0:0:0:0:0:1")
        self.assertEqual(java_host_address("fe80::1%eth0"), "fe80:0:0:0:0:0:0:1%eth0")
        self.assertEqual(java_host_address("::ffff:10.0.0.1"), "10.0.0.1")
        self.assertEqual(java_host_address("10.0.0.1"), "10.0.0.1")
        self.assertEqual(java_host_address(""), "")

    def test_ipv6_connection_matches_kafka_form_acl(self) -> None:
        """
        An IPv6 client's session host is C{0:0:0:0:0:0:0:1}: an ACL for that host applies,
        one written C{::1} does not (Kafka compares the strings).
        """
        factory = KafkaServerFactory(Dispatcher(REGISTRY, make_broker()))
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(
            StringTransport(
                hostAddress=IPv6Address("TCP", "::1", 9092),
                peerAddress=IPv6Address("TCP", "::1", 40000),
            )
        )
        host = protocol.session.client_host
        self.assertEqual(host, "0:0:0:0:0:0:0:1")
        alice = KafkaPrincipal("User", "alice")

        def acl(acl_host: str) -> AclBinding:
            return AclBinding(
                ResourceType.TOPIC,
                "t",
                PatternType.LITERAL,
                "User:alice",
                acl_host,
                AclOperation.READ,
                AclPermissionType.ALLOW,
            )

        kafka_form = StandardAuthorizer(acls=[acl("0:0:0:0:0:0:0:1")])
        self.assertTrue(
            kafka_form.authorize(alice, host, AclOperation.READ, ResourceType.TOPIC, "t")
        )
        compressed = StandardAuthorizer(acls=[acl("::1")])
        self.assertFalse(
            compressed.authorize(alice, host, AclOperation.READ, ResourceType.TOPIC, "t")
        )

    def test_group_member_host(self) -> None:
        """A group member's client host is Kafka's C{InetAddress.toString}: C{/0:0:0:0:0:0:0:1}."""
        broker = make_broker()
        ctx = context(broker, REGISTRY[0], 0)
        ctx.peer = "::1:40000"
        self.assertEqual(client_host(ctx), "/0:0:0:0:0:0:0:1")
        ctx.peer = "127.0.0.1:5555"
        self.assertEqual(client_host(ctx), "/127.0.0.1")
