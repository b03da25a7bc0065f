"""Kafka connections over TLS: the principal from the client certificate, TCP settings underneath.

An SSL listener's L{KafkaServerFactory} is wrapped in Twisted's
C{TLSMemoryBIOFactory}: the protocol's transport is then the TLS layer,
which relays the protocol's pause/resume and producer registration to the
TCP connection, so the backpressure of L{KafkaServerProtocol} holds. No
request reaches the protocol before the handshake is complete; then
L{TlsServerProtocol.handshakeCompleted} sets the session's principal
(Kafka's C{DefaultKafkaPrincipalBuilder}: L{TlsPrincipalBuilder}). A failed
handshake (no certificate where C{ssl.client.auth=required}, an expired or
untrusted one, no common protocol or cipher) closes the connection with one
log line. A connection the broker closes sends its close_notify and closes
the TCP connection without waiting for the client's (L{TlsServerProtocol._close_tcp}).
"""

from __future__ import annotations

from twisted.internet import tcp
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import connectionDone
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped]

from kafkatwist.clock import ReactorTime
from kafkatwist.security.sasl import SaslListener
from kafkatwist.security.tls import TlsPrincipalBuilder
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.pool import RequestMemoryPool
from kafkatwist.transport.protocol import SEND_LIMIT, KafkaServerFactory, KafkaServerProtocol


@implementer(IHandshakeListener)
class TlsServerProtocol(KafkaServerProtocol):
    """A client connection of an SSL listener."""

    factory: TlsServerFactory
    _handshake_done = False

    def connectionMade(self) -> None:
        super().connectionMade()
        tls = self.transport
        if isinstance(tls, TLSMemoryBIOProtocol):
            tcp_transport = tls.transport
            if isinstance(tcp_transport, tcp.Connection):
                tcp_transport.SEND_LIMIT = SEND_LIMIT
                tcp_transport.setTcpNoDelay(True)

    def handshakeCompleted(self) -> None:
        """
        The handshake is done: the session's principal is the client
        certificate's, unless the listener is SASL_SSL (SASL names it then).
        """
        self._handshake_done = True
        if self.factory.sasl is not None:
            return
        tls = self.transport
        peer = tls.getPeerCertificate() if isinstance(tls, TLSMemoryBIOProtocol) else None
        try:
            self.session.principal = self.factory.principals.principal(peer)
        except ValueError as e:
            self._log.warn(
                "Closing connection from {peer}: no principal for its certificate: {reason}",
                peer=self.peer,
                reason=str(e),
            )
            self._close()

    def _close(self) -> None:
        super()._close()
        self._close_tcp()

    def disconnect(self) -> None:
        super().disconnect()
        self._close_tcp()

    def _close_tcp(self) -> None:
        """
        Close the TCP connection under the TLS layer, which has written its close_notify.

        Twisted's TLS transport would keep the socket open until the client
        answers with its own close_notify, for ever if it never does; Kafka
        (C{SslTransportLayer.close}) does not wait for it.
        """
        tls = self.transport
        if isinstance(tls, TLSMemoryBIOProtocol) and tls.transport is not None:
            tls.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self._handshake_done:
            self._log.info(
                "Closing connection from {peer}: TLS handshake failed on listener {listener}: "
                "{reason}",
                peer=self.peer,
                listener=self.factory.listener_name,
                reason=reason.getErrorMessage(),
            )
        super().connectionLost(reason)


class TlsServerFactory(KafkaServerFactory):
    """
    The factory of an SSL or SASL_SSL listener: L{KafkaServerFactory} with
    the principal builder (and, for SASL_SSL, its SASL setup).
    """

    protocol = TlsServerProtocol

    def __init__(
        self,
        dispatcher: Dispatcher,
        principals: TlsPrincipalBuilder,
        max_request_size: int,
        memory: RequestMemoryPool,
        *,
        clock: ReactorTime | None = None,
        idle_ms: int = -1,
        listener_name: str = "SSL",
        security_protocol: str = "SSL",
        sasl: SaslListener | None = None,
    ) -> None:
        super().__init__(
            dispatcher,
            max_request_size,
            memory,
            clock=clock,
            idle_ms=idle_ms,
            listener_name=listener_name,
            security_protocol=security_protocol,
            sasl=sasl,
        )
        self.principals = principals
