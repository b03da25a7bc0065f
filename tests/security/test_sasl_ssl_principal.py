"""SASL_SSL: TLS first, then SASL; the principal is SASL's, never the client certificate's.

The client side is pyOpenSSL over memory BIOs; Kafka requests are encoded by aiokafka.
"""

from __future__ import annotations

import tempfile
from typing import cast

from aiokafka.protocol.admin import SaslAuthenticateRequest_v1, SaslHandShakeRequest_v1
from aiokafka.protocol.metadata import MetadataRequest_v1
from OpenSSL import SSL, crypto
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import (
    IAddress,
    IOpenSSLServerConnectionCreator,
    IProtocolFactory,
    IReactorTime,
)
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, api_versions
from kafkatwist.security.principal import ANONYMOUS, KafkaPrincipal
from kafkatwist.security.sasl import SaslListener, image_credentials
from kafkatwist.security.sasl_config import sasl_listener_config
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.listeners import listener_tls
from kafkatwist.transport.pool import RequestMemoryPool
from kafkatwist.transport.tls_protocol import TlsServerFactory
from tests.brokers import make_broker
from tests.security.certs import make_pki, pem_stores
from tests.security.test_sasl_connection import PLAIN_JAAS, encoded
from tests.support import unframe


class SaslSslTests(SynchronousTestCase):
    """A client with a trusted certificate (mTLS required) on a SASL_SSL listener."""

    def setUp(self) -> None:
        pki = make_pki(tempfile.mkdtemp(prefix="kafkatwist-sasl-ssl-"))
        props = {
            **pem_stores(pki, **{"listener.name.sasl_ssl.ssl.client.auth": "required"}),
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
        }
        broker = make_broker()
        self.clock = clock = Clock()
        tls = listener_tls(props, "SASL_SSL", sasl=True)
        sasl = SaslListener(
            sasl_listener_config(props, "SASL_SSL"),
            image_credentials(broker.metadata),
            clock,
            api_versions.SPEC.versions,
        )
        self.factory = TlsServerFactory(
            Dispatcher(REGISTRY, broker),
            tls.principals,
            1 << 20,
            RequestMemoryPool(),
            clock=clock,
            listener_name="SASL_SSL",
            security_protocol="SASL_SSL",
            sasl=sasl,
        )
        wrapped = TLSMemoryBIOFactory(
            cast(IOpenSSLServerConnectionCreator, tls.server),
            False,
            cast(IProtocolFactory, self.factory),
            clock=cast(IReactorTime, clock),
        )
        peer = cast(IAddress, IPv4Address("TCP", "10.0.0.1", 40000))
        self.server = wrapped.buildProtocol(peer)
        self.transport = StringTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 9094),
            peerAddress=IPv4Address("TCP", "10.0.0.1", 40000),
        )
        self.server.makeConnection(self.transport)
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.use_certificate(crypto.X509.from_cryptography(pki.alice.cert))
        context.use_privatekey_file(pki.alice.key_file)
        self.client = SSL.Connection(context, None)
        self.client.set_connect_state()
        self._pump()
        (self.protocol,) = self.factory.connections

    def _pump(self) -> None:
        """Move bytes both ways until neither side has more to say."""
        for _ in range(20):
            try:
                self.client.do_handshake()
            except SSL.WantReadError:
                pass
            try:
                out = self.client.bio_read(1 << 20)
            except SSL.WantReadError:
                out = b""
            if out:
                self.server.dataReceived(out)
            self.clock.advance(0)  # Twisted's TLS transport flushes small writes on the clock
            back = self.transport.value()
            self.transport.clear()
            if back:
                self.client.bio_write(back)
            if not out and not back:
                return

    def request(self, struct: object, cid: int) -> list[bytes]:
        """Send one request over TLS; the frames answered."""
        self.client.sendall(encoded(struct, cid))
        self._pump()
        data = b""
        while True:
            try:
                data += self.client.recv(1 << 20)
            except (SSL.WantReadError, SSL.ZeroReturnError):
                break
        return unframe(data)

    def test_certificate_is_not_the_principal(self) -> None:
        """After the TLS handshake with alice's certificate the session is still anonymous."""
        session = self.protocol.session
        self.assertEqual((session.principal, session.authenticated), (ANONYMOUS, False))

    def test_requests_before_sasl_close(self) -> None:
        """A Metadata over the established TLS, before SASL, is not answered: closed."""
        self.assertEqual(self.request(MetadataRequest_v1(None), 1), [])
        self.assertTrue(self.server.disconnecting)  # the TLS layer is closing

    def test_sasl_names_the_principal(self) -> None:
        """PLAIN over the TLS session makes the principal SASL's user, not the certificate's."""
        self.assertEqual(len(self.request(SaslHandShakeRequest_v1("PLAIN"), 1)), 1)
        token = b"\0bob\0bob-secret"
        self.assertEqual(len(self.request(SaslAuthenticateRequest_v1(token), 2)), 1)
        session = self.protocol.session
        self.assertEqual(session.principal, KafkaPrincipal("User", "bob"))
        self.assertTrue(session.authenticated)
        self.assertEqual(len(self.request(MetadataRequest_v1(None), 3)), 1)

    def test_disconnect_closes_the_tls_connection(self) -> None:
        """The broker stopping (C{disconnect}) closes a TLS connection: close_notify, then TCP."""
        self.protocol.disconnect()
        self._pump()
        with self.assertRaises(SSL.ZeroReturnError):  # the server's close_notify
            self.client.recv(1 << 20)
        self.assertTrue(self.transport.disconnecting)

    def test_close_does_not_wait_for_the_client(self) -> None:
        """
        A connection the broker closes is closed at the TCP level once its
        close_notify is written, as Kafka's C{SslTransportLayer.close}: a
        client that never answers it keeps no socket open.
        """
        self.assertEqual(self.request(MetadataRequest_v1(None), 1), [])  # refused: closed
        with self.assertRaises(SSL.ZeroReturnError):
            self.client.recv(1 << 20)
        self.assertTrue(self.transport.disconnecting)
