"""TLS for SSL listeners: an OpenSSL context from a listener's C{ssl.*} settings, and its principal.

L{load_tls} reads the key store and trust store a listener's
L{SslSettings} name (PEM, with an encrypted PKCS#8 key or not, or PKCS#12;
read with C{cryptography}) and builds a pyOpenSSL context as Kafka's
C{DefaultSslEngineFactory} configures its C{SSLEngine}: the enabled
protocols, the cipher suites (JSSE/IANA names, mapped to OpenSSL's for
TLS 1.2; TLS 1.3 suites keep their names), and C{ssl.client.auth}
(C{required}: a client without a trusted certificate is refused in the
handshake; C{requested}: a certificate is asked for, and checked when sent).
L{ServerTLS} hands the context to Twisted's TLS transport
(C{TLSMemoryBIOFactory}); L{ServerTLS.reload} swaps in a new one for later
connections. L{TlsPrincipalBuilder} is Kafka's C{DefaultKafkaPrincipalBuilder}
for SSL: C{User:} and the mapped (C{ssl.principal.mapping.rules}) RFC 2253
subject of the client certificate, or C{User:ANONYMOUS} without one.

Loading reads files: call it at start-up (or from a thread), not on the reactor.
"""

from __future__ import annotations

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementer  # type: ignore[import-untyped]

from kafkatwist.security.principal import ANONYMOUS, USER_TYPE, KafkaPrincipal
from kafkatwist.security.ssl_config import SslConfigError, SslSettings
from kafkatwist.security.ssl_principal import SslPrincipalMapper
from kafkatwist.security.x500 import rfc2253_name

#: JSSE (IANA) names of the TLS 1.2 suites OpenSSL has, and OpenSSL's names for them.
IANA_TO_OPENSSL = {
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "DHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256": "DHE-RSA-AES256-SHA256",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256": "DHE-RSA-AES128-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA": "DHE-RSA-AES256-SHA",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA": "DHE-RSA-AES128-SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256": "AES256-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
}
#: The TLS 1.3 suites (the same names in JSSE and OpenSSL).
TLS13_SUITES = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    }
)
#: The private keys a TLS server can sign with.
_SERVER_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
_VERSIONS = {"TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}


@frozen
class KeyMaterial:
    """A private key and its certificate chain, leaf first."""

    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]


def _read(path: str, what: str, listener: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SslConfigError(
            f"listener {listener}: cannot read the {what} {path}: {e.strerror or e}"
        ) from None


def _pem_key(data: bytes, password: str | None, where: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(
            data, None if password is None else password.encode()
        )
    except TypeError as e:  # encrypted without a password, or a password for a plain key
        raise SslConfigError(f"{where}: {e} (ssl.key.password)") from None
    except ValueError as e:
        raise SslConfigError(f"{where}: cannot load the private key: {e}") from None


def _pem_certs(data: bytes, where: str) -> tuple[x509.Certificate, ...]:
    try:
        certs = tuple(x509.load_pem_x509_certificates(data))
    except ValueError as e:
        raise SslConfigError(f"{where}: no PEM certificate could be read: {e}") from None
    return certs


def load_keystore(s: SslSettings) -> KeyMaterial:
    """The key and chain of C{s}'s key store (checked by L{read_ssl_settings} already)."""
    if s.keystore_key is not None and s.keystore_certificate_chain is not None:
        where = f"listener {s.listener}: ssl.keystore.key"
        key = _pem_key(s.keystore_key.encode(), s.key_password, where)
        chain_where = f"listener {s.listener}: ssl.keystore.certificate.chain"
        chain = _pem_certs(s.keystore_certificate_chain.encode(), chain_where)
        return KeyMaterial(key, chain)
    path = s.keystore_location or ""
    data = _read(path, "key store", s.listener)
    where = f"listener {s.listener}: ssl.keystore.location {path}"
    if s.keystore_type == "PEM":
        return KeyMaterial(_pem_key(data, s.key_password, where), _pem_certs(data, where))
    try:
        password = (s.keystore_password or "").encode()
        loaded = pkcs12.load_key_and_certificates(data, password)
    except ValueError as e:
        raise SslConfigError(
            f"{where}: Failed to load SSL keystore {path} of type PKCS12: {e} "
            "(ssl.keystore.password)"
        ) from None
    p12_key, cert, extra = loaded
    if p12_key is None or cert is None:
        raise SslConfigError(f"{where}: the PKCS12 key store holds no private key entry")
    return KeyMaterial(p12_key, (cert, *extra))


def load_truststore(s: SslSettings) -> tuple[x509.Certificate, ...] | None:
    """The certificates C{s} trusts, or None for the system's default trust."""
    if s.truststore_certificates is not None:
        where = f"listener {s.listener}: ssl.truststore.certificates"
        return _pem_certs(s.truststore_certificates.encode(), where)
    if s.truststore_location is None:
        return None
    path = s.truststore_location
    data = _read(path, "trust store", s.listener)
    where = f"listener {s.listener}: ssl.truststore.location {path}"
    if s.truststore_type == "PEM":
        return _pem_certs(data, where)
    password = None if s.truststore_password is None else s.truststore_password.encode()
    try:
        store = pkcs12.load_pkcs12(data, password)
    except ValueError as e:
        raise SslConfigError(
            f"{where}: Failed to load SSL keystore {path} of type PKCS12: {e} "
            "(ssl.truststore.password)"
        ) from None
    certs = [c.certificate for c in store.additional_certs]
    if store.cert is not None:
        certs.insert(0, store.cert.certificate)
    return tuple(certs)


def openssl_ciphers(s: SslSettings) -> tuple[str, str]:
    """C{ssl.cipher.suites} as OpenSSL's TLS 1.2 cipher list and TLS 1.3 suite list."""
    tls12, tls13 = [], []
    for suite in s.cipher_suites:
        if suite in TLS13_SUITES:
            tls13.append(suite)
        elif suite in IANA_TO_OPENSSL:
            tls12.append(IANA_TO_OPENSSL[suite])
        else:
            raise SslConfigError(
                f"listener {s.listener}: ssl.cipher.suites: unknown or unsupported cipher "
                f"suite {suite}"
            )
    return ":".join(tls12), ":".join(tls13)


@frozen
class ServerContext:
    """A listener's OpenSSL context and the certificate it presents."""

    context: SSL.Context
    certificate: x509.Certificate


def build_context(s: SslSettings) -> ServerContext:
    """
    A server context for C{s}: its key store, trust store, protocols, ciphers and client auth.

    @raise SslConfigError: for a file that cannot be read or a store, key or
        password that does not load, in one line naming the setting.
    """
    material = load_keystore(s)
    trusted = load_truststore(s)
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    versions = sorted(_VERSIONS[p] for p in s.enabled_protocols)
    ctx.set_min_proto_version(versions[0])
    ctx.set_max_proto_version(versions[-1])
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
    tls12, tls13 = openssl_ciphers(s)
    try:
        if s.cipher_suites:
            # An empty list for one version leaves that version without suites, as in JSSE.
            ctx.set_cipher_list(tls12.encode() or b"aNULL:!aNULL")
            ctx.set_tls13_ciphersuites(tls13.encode())
        if not isinstance(material.key, _SERVER_KEYS):
            raise SslConfigError(
                f"listener {s.listener}: unsupported private key type {type(material.key).__name__}"
            )
        ctx.use_privatekey(material.key)
        ctx.use_certificate(material.chain[0])
        for extra in material.chain[1:]:
            ctx.add_extra_chain_cert(extra)
        ctx.check_privatekey()
    except SSL.Error as e:
        raise SslConfigError(f"listener {s.listener}: cannot use the key store: {e}") from None
    if trusted is None:
        ctx.set_default_verify_paths()
    else:
        store = ctx.get_cert_store()
        if store is None:
            raise SslConfigError(f"listener {s.listener}: OpenSSL gave no certificate store")
        for cert in trusted:
            store.add_cert(crypto.X509.from_cryptography(cert))
    if s.client_auth == "required":
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
    elif s.client_auth == "requested":
        ctx.set_verify(SSL.VERIFY_PEER)
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    # Session resumption needs an id context when client certificates are verified.
    ctx.set_session_id(f"kafkatwist-{s.listener}".encode()[:32])
    return ServerContext(ctx, material.chain[0])


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLS:
    """The TLS connections of one listener, from a context that L{reload} may replace."""

    def __init__(self, current: ServerContext) -> None:
        self.current = current

    def serverConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        """A connection for a new client, with the current context."""
        return SSL.Connection(self.current.context, None)

    def reload(self, current: ServerContext) -> None:
        """Later connections use C{current}; established ones keep theirs."""
        self.current = current


@frozen
class TlsPrincipalBuilder:
    """Kafka's C{DefaultKafkaPrincipalBuilder} for SSL connections."""

    mapper: SslPrincipalMapper

    def principal(self, peer: crypto.X509 | None) -> KafkaPrincipal:
        """
        C{User:<mapped subject>} for a client certificate, L{ANONYMOUS} without one.

        @raise ValueError: when no mapping rule applies, or the subject cannot be read.
        """
        if peer is None:
            return ANONYMOUS
        der = peer.to_cryptography().subject.public_bytes()
        subject = rfc2253_name(der)
        return KafkaPrincipal(USER_TYPE, self.mapper.name(subject))
