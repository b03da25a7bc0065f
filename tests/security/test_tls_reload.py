"""Dynamic SSL store updates: Kafka's validation of the keys, which listeners, compatible certs."""

from __future__ import annotations

from OpenSSL import SSL
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.dynamic import validate_dynamic
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.security.ssl_config import SslConfigError, read_ssl_settings
from kafkatwist.security.tls import ServerTLS, build_context
from kafkatwist.security.tls_reload import TlsReconfiguration, check_compatible
from kafkatwist.storage.kraft import run_now
from tests.security.certs import shared_pki


class ValidationTests(SynchronousTestCase):
    """DynamicBrokerConfig.validateConfigs for the SSL keys."""

    def test_only_with_listener_prefix(self) -> None:
        """ssl.keystore.* without a listener prefix is refused, with Kafka's message."""
        error = self.assertRaises(
            KafkaError, validate_dynamic, {"ssl.keystore.location": "/k"}, True
        )
        self.assertEqual(error.code, ErrorCode.INVALID_REQUEST)
        self.assertEqual(
            error.message,
            "These security configs can be dynamically updated only per-listener using the "
            "listener prefix: Set(ssl.keystore.location)",
        )
        validate_dynamic({"listener.name.ssl.ssl.keystore.location": "/k"}, True)

    def test_not_at_cluster_level(self) -> None:
        """A listener's key store is per broker: refused as the cluster default."""
        error = self.assertRaises(
            KafkaError, validate_dynamic, {"listener.name.ssl.ssl.keystore.location": "/k"}, False
        )
        self.assertIn("Cannot update these configs at default cluster level", error.message)


class ReconfigurationTests(SynchronousTestCase):
    """TlsReconfiguration.prepare and check_compatible."""

    def reconfiguration(self) -> tuple[TlsReconfiguration, ServerTLS]:
        props = {"ssl.keystore.type": "PEM", "ssl.keystore.location": shared_pki().server.keystore}
        server = ServerTLS(build_context(read_ssl_settings(props, "SSL")))
        return TlsReconfiguration(props, {"SSL": server}, run_now), server

    def test_affected(self) -> None:
        """Only the listeners whose own ssl keys were written are rebuilt."""
        reconfiguration, _ = self.reconfiguration()
        self.assertEqual(reconfiguration.affected(["listener.name.ssl.ssl.key.password"]), ["SSL"])
        self.assertEqual(reconfiguration.affected(["listener.name.other.ssl.key.password"]), [])

    def test_prepare_then_commit(self) -> None:
        """The new context is built first and used only once committed."""
        reconfiguration, server = self.reconfiguration()
        new = {"listener.name.ssl.ssl.keystore.location": shared_pki().renewed.keystore}
        commit = self.successResultOf(
            Deferred.fromCoroutine(reconfiguration.prepare({}, new, list(new)))
        )
        self.assertEqual(server.current.certificate, shared_pki().server.cert)
        commit()
        self.assertEqual(server.current.certificate, shared_pki().renewed.cert)

    def test_sasl_ssl_reload_keeps_client_auth(self) -> None:
        """A SASL_SSL listener's rebuilt context still ignores the broker-wide ssl.client.auth."""
        p = shared_pki()
        props = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": p.server.keystore,
            "ssl.client.auth": "required",
        }
        server = ServerTLS(build_context(read_ssl_settings(props, "SASL_SSL", sasl=True)))
        reconfiguration = TlsReconfiguration(
            props, {"SASL_SSL": server}, run_now, frozenset({"SASL_SSL"})
        )
        new = {"listener.name.sasl_ssl.ssl.keystore.location": p.renewed.keystore}
        commit = self.successResultOf(
            Deferred.fromCoroutine(reconfiguration.prepare({}, new, list(new)))
        )
        commit()
        self.assertEqual(server.current.certificate, p.renewed.cert)
        self.assertEqual(server.current.context.get_verify_mode(), SSL.VERIFY_NONE)

    def test_incompatible(self) -> None:
        """Another subject is refused unless ssl.allow.dn.changes is true."""
        p = shared_pki()
        self.assertRaises(
            SslConfigError, check_compatible, {}, "SSL", p.server.cert, p.impostor.cert
        )
        allowed = {"listener.name.ssl.ssl.allow.dn.changes": "true"}
        check_compatible(allowed, "SSL", p.server.cert, p.impostor.cert)
        check_compatible({}, "SSL", p.server.cert, p.renewed.cert)
