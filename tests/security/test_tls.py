"""A listener's ssl.* settings (Kafka's per-listener overrides and checks) and its TLS context."""

from __future__ import annotations

import os

from OpenSSL import SSL, crypto
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.principal import ANONYMOUS, KafkaPrincipal
from kafkatwist.security.ssl_config import SslConfigError, read_ssl_settings
from kafkatwist.security.ssl_principal import SslPrincipalMapper
from kafkatwist.security.tls import (
    TlsPrincipalBuilder,
    build_context,
    load_keystore,
    load_truststore,
    openssl_ciphers,
)
from tests.security.certs import PASSWORD, pem_stores, shared_pki


class SettingsTests(SynchronousTestCase):
    """read_ssl_settings: Kafka's defaults, listener overrides and its store checks."""

    def test_listener_override(self) -> None:
        """listener.name.<lower-case name>.ssl.* wins over ssl.* for that listener only."""
        props = pem_stores(
            shared_pki(),
            **{
                "ssl.client.auth": "requested",
                "listener.name.internal.ssl.client.auth": "required",
            },
        )
        self.assertEqual(read_ssl_settings(props, "INTERNAL").client_auth, "required")
        self.assertEqual(read_ssl_settings(props, "SSL").client_auth, "requested")

    def test_sasl_ssl_client_auth_only_with_listener_prefix(self) -> None:
        """
        A SASL_SSL listener ignores the broker-wide ssl.client.auth: only its
        listener-prefixed one asks for certificates (Kafka's C{ChannelBuilders}, KIP-684).
        """
        props = pem_stores(shared_pki(), **{"ssl.client.auth": "required"})
        self.assertEqual(read_ssl_settings(props, "SASL_SSL", sasl=True).client_auth, "none")
        self.assertEqual(read_ssl_settings(props, "SSL").client_auth, "required")
        own = {**props, "listener.name.sasl_ssl.ssl.client.auth": "requested"}
        self.assertEqual(read_ssl_settings(own, "SASL_SSL", sasl=True).client_auth, "requested")

    def test_defaults(self) -> None:
        """Kafka's defaults: TLSv1.2 and TLSv1.3, no client auth, DEFAULT mapping, all ciphers."""
        s = read_ssl_settings(pem_stores(shared_pki()), "SSL")
        self.assertEqual(s.enabled_protocols, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual((s.client_auth, s.principal_mapping_rules), ("none", "DEFAULT"))
        self.assertEqual((s.protocol, s.cipher_suites), ("TLSv1.3", ()))

    def test_refusals(self) -> None:
        """Kafka's messages for inconsistent stores; JKS and old protocols are not served."""
        p = shared_pki()
        cases = [
            ({}, "needs a key store"),
            (pem_stores(p, **{"ssl.keystore.type": "JKS"}), "JKS is not supported"),
            (
                pem_stores(p, **{"ssl.keystore.password": "x"}),
                "cannot be specified with PEM format",
            ),
            (
                pem_stores(p, **{"ssl.keystore.key": "k"}),
                "SSL private key is specified, but certificate chain is not specified.",
            ),
            (
                pem_stores(p, **{"ssl.truststore.password": "x"}),
                "SSL trust store password cannot be specified for PEM format.",
            ),
            (pem_stores(p, **{"ssl.client.auth": "maybe"}), "ssl.client.auth"),
            (pem_stores(p, **{"ssl.enabled.protocols": "TLSv1.1"}), "ssl.enabled.protocols"),
            (
                {"ssl.keystore.type": "PKCS12", "ssl.keystore.location": p.server_p12},
                "SSL key store is specified, but key store password is not specified.",
            ),
        ]
        for props, needle in cases:
            error = self.assertRaises(SslConfigError, read_ssl_settings, props, "SSL")
            self.assertIn(needle, str(error))
            self.assertTrue(str(error).startswith("listener SSL: "), str(error))


class ContextTests(SynchronousTestCase):
    """build_context over real files made by the test PKI."""

    def test_pem_file(self) -> None:
        """A PEM file holding the key and the chain loads, leaf first."""
        p = shared_pki()
        material = load_keystore(read_ssl_settings(pem_stores(p), "SSL"))
        self.assertEqual(material.chain[0], p.server.cert)
        self.assertEqual(material.chain[1], p.ca)
        built = build_context(read_ssl_settings(pem_stores(p), "SSL"))
        self.assertIsInstance(built.context, SSL.Context)
        self.assertEqual(built.certificate, p.server.cert)

    def test_encrypted_pkcs8(self) -> None:
        """An encrypted PKCS#8 key loads with ssl.key.password and not without."""
        p = shared_pki()
        with open(p.encrypted_key_file) as f:
            key = f.read()
        with open(p.server.cert_file) as f:
            chain = f.read()
        props = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.key": key,
            "ssl.keystore.certificate.chain": chain,
        }
        good = read_ssl_settings({**props, "ssl.key.password": PASSWORD}, "SSL")
        self.assertEqual(load_keystore(good).chain[0], p.server.cert)
        for wrong in ({}, {"ssl.key.password": "nope"}):
            settings = read_ssl_settings({**props, **wrong}, "SSL")
            error = self.assertRaises(SslConfigError, build_context, settings)
            self.assertIn("ssl.keystore.key", str(error))

    def test_pkcs12(self) -> None:
        """PKCS12 key and trust stores load with their passwords; a wrong one is refused."""
        p = shared_pki()
        props = {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": p.server_p12,
            "ssl.keystore.password": PASSWORD,
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": p.truststore_p12,
            "ssl.truststore.password": PASSWORD,
        }
        settings = read_ssl_settings(props, "SSL")
        self.assertEqual(load_keystore(settings).chain[0], p.server.cert)
        self.assertEqual(load_truststore(settings), (p.ca,))
        bad = read_ssl_settings({**props, "ssl.keystore.password": "wrong"}, "SSL")
        error = self.assertRaises(SslConfigError, build_context, bad)
        self.assertIn("ssl.keystore.password", str(error))

    def test_missing_file(self) -> None:
        """A key store that cannot be read is one line naming the file."""
        path = os.path.join(shared_pki().directory, "absent.pem")
        settings = read_ssl_settings(
            pem_stores(shared_pki(), **{"ssl.keystore.location": path}), "SSL"
        )
        error = self.assertRaises(SslConfigError, build_context, settings)
        self.assertIn(f"cannot read the key store {path}", str(error))

    def test_ciphers(self) -> None:
        """JSSE names map to OpenSSL's for TLS 1.2; TLS 1.3 suites keep theirs; others refused."""
        props = pem_stores(
            shared_pki(),
            **{
                "ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384"
            },
        )
        self.assertEqual(
            openssl_ciphers(read_ssl_settings(props, "SSL")),
            ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384"),
        )
        bad = read_ssl_settings(
            pem_stores(shared_pki(), **{"ssl.cipher.suites": "TLS_FAKE"}), "SSL"
        )
        self.assertRaises(SslConfigError, build_context, bad)


class PrincipalTests(SynchronousTestCase):
    """TlsPrincipalBuilder: Kafka's DefaultKafkaPrincipalBuilder for SSL."""

    def test_principal(self) -> None:
        """The mapped RFC 2253 subject; ANONYMOUS without a certificate."""
        p = shared_pki()
        builder = TlsPrincipalBuilder(SslPrincipalMapper.from_rules("DEFAULT"))
        cert = crypto.X509.from_cryptography(p.alice.cert)
        self.assertEqual(
            builder.principal(cert), KafkaPrincipal("User", "CN=alice,OU=eng,O=Acme,C=US")
        )
        self.assertEqual(builder.principal(None), ANONYMOUS)
        strict = TlsPrincipalBuilder(SslPrincipalMapper.from_rules("RULE:^CN=bob$/bob/"))
        self.assertRaises(ValueError, strict.principal, cert)
