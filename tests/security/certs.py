"""Certificates for the TLS tests, made with C{cryptography} when a test asks (never committed).

L{make_pki} writes, into a directory: a CA, a server certificate for
C{127.0.0.1}/C{localhost}, client certificates (one with a distinguished
name in several parts), an expired client certificate, a client certificate
from a CA nobody trusts, the server key as encrypted PKCS#8, and PKCS#12
key and trust stores. Keys are EC P-256: quick to make.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey

#: The password of every encrypted key and store L{make_pki} writes.
PASSWORD = "changeit"


def name(**parts: str) -> x509.Name:
    """A Name from C{C}, C{O}, C{OU}, C{CN} (in that order, as openssl and keytool write them)."""
    oids = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME}
    oids.update({"OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME})
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in parts.items()])


def new_key() -> PrivateKey:
    """A fresh EC P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def certificate(
    subject: x509.Name,
    key: PrivateKey,
    issuer: tuple[x509.Certificate, PrivateKey] | None = None,
    *,
    ca: bool = False,
    server: bool = False,
    expired: bool = False,
) -> x509.Certificate:
    """A certificate for C{key}, signed by C{issuer} (self-signed without one)."""
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    issuer_name, signer = (subject, key) if issuer is None else (issuer[0].subject, issuer[1])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        purpose = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    if server:
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def pem_cert(*certs: x509.Certificate) -> bytes:
    """The certificates, PEM."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def pem_key(key: PrivateKey, password: str | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@frozen
class Identity:
    """A key, its certificate and the files holding them (key+chain PEM, cert PEM, key PEM)."""

    key: PrivateKey
    cert: x509.Certificate
    keystore: str  # the key and the certificate chain, one PEM file (ssl.keystore.location)
    cert_file: str
    key_file: str


@frozen
class Pki:
    """Everything L{make_pki} wrote."""

    directory: str
    ca: x509.Certificate
    ca_file: str
    server: Identity
    renewed: Identity  # the server's subject and names, a new key and certificate
    impostor: Identity  # a server certificate for another subject
    alice: Identity  # CN=alice,OU=eng,O=Acme,C=US
    bob: Identity  # CN=bob
    expired: Identity
    stranger: Identity  # from a CA nobody trusts
    stranger_ca_file: str
    encrypted_key_file: str  # the server key, encrypted PKCS#8 (PASSWORD)
    server_p12: str  # the server's key and chain, PKCS#12 (PASSWORD)
    truststore_p12: str  # the CA, PKCS#12 (PASSWORD)


def _write(directory: str, filename: str, data: bytes) -> str:
    path = os.path.join(directory, filename)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _identity(
    directory: str,
    label: str,
    subject: x509.Name,
    issuer: tuple[x509.Certificate, PrivateKey],
    **kinds: bool,
) -> Identity:
    key = new_key()
    cert = certificate(subject, key, issuer, **kinds)
    chain = pem_cert(cert, issuer[0])
    return Identity(
        key,
        cert,
        _write(directory, f"{label}.keystore.pem", pem_key(key) + chain),
        _write(directory, f"{label}.crt", chain),
        _write(directory, f"{label}.key", pem_key(key)),
    )


def make_pki(directory: str) -> Pki:
    """Make and write every certificate the TLS tests use into C{directory}."""
    os.makedirs(directory, exist_ok=True)
    ca_key = new_key()
    ca = certificate(name(O="kafkatwist tests", CN="Test CA"), ca_key, ca=True)
    issuer = (ca, ca_key)
    other_key = new_key()
    other_ca = certificate(name(CN="Untrusted CA"), other_key, ca=True)
    server = _identity(directory, "server", name(CN="localhost"), issuer, server=True)
    renewed = _identity(directory, "renewed", name(CN="localhost"), issuer, server=True)
    impostor = _identity(directory, "impostor", name(CN="impostor"), issuer, server=True)
    alice_name = name(C="US", O="Acme", OU="eng", CN="alice")
    alice = _identity(directory, "alice", alice_name, issuer)
    bob = _identity(directory, "bob", name(CN="bob"), issuer)
    expired = _identity(directory, "expired", name(CN="old"), issuer, expired=True)
    stranger = _identity(directory, "stranger", name(CN="stranger"), (other_ca, other_key))
    encryption = serialization.BestAvailableEncryption(PASSWORD.encode())
    server_p12 = pkcs12.serialize_key_and_certificates(
        b"server", server.key, server.cert, [ca], encryption
    )
    trust_p12 = pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(ca, b"ca")], encryption)
    return Pki(
        directory=directory,
        ca=ca,
        ca_file=_write(directory, "ca.crt", pem_cert(ca)),
        server=server,
        renewed=renewed,
        impostor=impostor,
        alice=alice,
        bob=bob,
        expired=expired,
        stranger=stranger,
        stranger_ca_file=_write(directory, "stranger-ca.crt", pem_cert(other_ca)),
        encrypted_key_file=_write(directory, "server.encrypted.key", pem_key(server.key, PASSWORD)),
        server_p12=_write(directory, "server.p12", server_p12),
        truststore_p12=_write(directory, "truststore.p12", trust_p12),
    )


def pem_stores(pki: Pki, **more: str) -> dict[str, str]:
    """ssl.* properties: the server's PEM key store, the CA as PEM trust store, and C{more}."""
    return {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": pki.server.keystore,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": pki.ca_file,
        **more,
    }


_SHARED: list[Pki] = []


def shared_pki() -> Pki:
    """One L{make_pki} per process in a temporary directory, for the tests that only read it."""
    if not _SHARED:
        _SHARED.append(make_pki(tempfile.mkdtemp(prefix="kafkatwist-pki-")))
    return _SHARED[0]
