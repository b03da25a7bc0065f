"""A listener's C{ssl.*} settings, read as Kafka reads them. Sans-io.

Kafka gives every listener the broker's C{ssl.*} configs overridden by its
own C{listener.name.<name>.ssl.*} (the name lower-cased: C{ListenerName.configPrefix},
C{AbstractConfig.valuesWithPrefixOverride}). The checks and messages are those
of Kafka's C{DefaultSslEngineFactory.createKeystore}/C{createTruststore}.
C{ssl.endpoint.identification.algorithm} is accepted and unused: a broker
checks host names only as a client of other brokers, which kafkatwist never is.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

#: Kafka's C{SslClientAuth} values.
CLIENT_AUTH = ("required", "requested", "none")
#: The protocols kafkatwist serves (Kafka's default C{ssl.enabled.protocols}).
PROTOCOLS = ("TLSv1.2", "TLSv1.3")
#: What C{ssl.protocol} may name (the JSSE C{SSLContext} protocols).
CONTEXT_PROTOCOLS = ("TLS", "TLSv1.2", "TLSv1.3")
STORE_TYPES = ("PEM", "PKCS12")

#: Kafka's defaults for the keys read here.
DEFAULTS = {
    "ssl.protocol": "TLSv1.3",
    "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
    "ssl.keystore.type": "JKS",
    "ssl.truststore.type": "JKS",
    "ssl.client.auth": "none",
    "ssl.endpoint.identification.algorithm": "https",
    "ssl.principal.mapping.rules": "DEFAULT",
    "ssl.cipher.suites": "",
}


class SslConfigError(ValueError):
    """A listener's ssl settings cannot be served: C{str()} says which and why, in one line."""


def listener_prefix(listener: str) -> str:
    """Kafka's C{ListenerName.configPrefix}: C{listener.name.<lower-case name>.}."""
    return f"listener.name.{listener.lower()}."


def listener_value(props: Mapping[str, str], listener: str, key: str) -> str | None:
    """C{key} for C{listener}: its C{listener.name.<name>.} override, else the broker's value."""
    prefixed = listener_prefix(listener) + key
    if prefixed in props:
        return props[prefixed]
    return props.get(key)


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@frozen
class SslSettings:
    """One listener's effective C{ssl.*} values (passwords included: never log this)."""

    listener: str
    protocol: str
    enabled_protocols: tuple[str, ...]
    cipher_suites: tuple[str, ...]
    client_auth: str
    principal_mapping_rules: str
    endpoint_identification_algorithm: str
    keystore_type: str
    keystore_location: str | None
    keystore_password: str | None
    key_password: str | None
    keystore_key: str | None
    keystore_certificate_chain: str | None
    truststore_type: str
    truststore_location: str | None
    truststore_password: str | None
    truststore_certificates: str | None


def read_ssl_settings(
    props: Mapping[str, str], listener: str, *, sasl: bool = False
) -> SslSettings:
    """
    The C{ssl.*} settings of C{listener} from the broker's properties.

    @param sasl: C{listener} is SASL_SSL: then only its own
        C{listener.name.<name>.ssl.client.auth} asks for client certificates,
        never the broker-wide C{ssl.client.auth} (Kafka's C{ChannelBuilders}, KIP-684).

    @raise SslConfigError: for a value Kafka's validators refuse, or one
        kafkatwist cannot serve (a JKS store, a protocol other than TLSv1.2
        and TLSv1.3), with Kafka's message where Kafka has one.
    """

    def get(key: str) -> str | None:
        value = listener_value(props, listener, key)
        if value is None:
            return DEFAULTS.get(key)
        return value

    def blank_is_none(key: str) -> str | None:
        value = get(key)
        return value if value else None

    if sasl:
        client_auth = props.get(listener_prefix(listener) + "ssl.client.auth") or "none"
    else:
        client_auth = get("ssl.client.auth") or "none"
    client_auth = client_auth.strip().lower()
    if client_auth not in CLIENT_AUTH:
        raise SslConfigError(
            f"listener {listener}: Invalid value {client_auth} for configuration ssl.client.auth: "
            f"String must be one of: {', '.join(CLIENT_AUTH)}"
        )
    protocols = _list(get("ssl.enabled.protocols") or "")
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise SslConfigError(
            f"listener {listener}: ssl.enabled.protocols {','.join(protocols)!r}: "
            f"kafkatwist serves only {' and '.join(PROTOCOLS)}"
        )
    protocol = (get("ssl.protocol") or "TLSv1.3").strip()
    if protocol not in CONTEXT_PROTOCOLS:
        raise SslConfigError(
            f"listener {listener}: ssl.protocol {protocol} is not one of "
            f"{', '.join(CONTEXT_PROTOCOLS)}"
        )
    settings = SslSettings(
        listener=listener,
        protocol=protocol,
        enabled_protocols=protocols,
        cipher_suites=_list(get("ssl.cipher.suites") or ""),
        client_auth=client_auth,
        principal_mapping_rules=get("ssl.principal.mapping.rules") or "DEFAULT",
        endpoint_identification_algorithm=get("ssl.endpoint.identification.algorithm") or "",
        keystore_type=(get("ssl.keystore.type") or "JKS").strip().upper(),
        keystore_location=blank_is_none("ssl.keystore.location"),
        keystore_password=blank_is_none("ssl.keystore.password"),
        key_password=blank_is_none("ssl.key.password"),
        keystore_key=blank_is_none("ssl.keystore.key"),
        keystore_certificate_chain=blank_is_none("ssl.keystore.certificate.chain"),
        truststore_type=(get("ssl.truststore.type") or "JKS").strip().upper(),
        truststore_location=blank_is_none("ssl.truststore.location"),
        truststore_password=blank_is_none("ssl.truststore.password"),
        truststore_certificates=blank_is_none("ssl.truststore.certificates"),
    )
    _check_keystore(settings)
    _check_truststore(settings)
    return settings


def _fail(settings: SslSettings, message: str) -> SslConfigError:
    return SslConfigError(f"listener {settings.listener}: {message}")


def _check_keystore(s: SslSettings) -> None:
    """Kafka's C{createKeystore} checks; a server needs a keystore, so none is an error too."""
    if s.keystore_key is not None:
        if s.keystore_type != "PEM":
            raise _fail(
                s,
                "SSL private key can be specified only for PEM, but key store type is "
                f"{s.keystore_type}.",
            )
        if s.keystore_certificate_chain is None:
            raise _fail(s, "SSL private key is specified, but certificate chain is not specified.")
        if s.keystore_location is not None:
            raise _fail(s, "Both SSL key store location and separate private key are specified.")
        if s.keystore_password is not None:
            raise _fail(
                s,
                "SSL key store password cannot be specified with PEM format, only key password "
                "may be specified.",
            )
        return
    if s.keystore_certificate_chain is not None:
        raise _fail(s, "SSL certificate chain is specified, but private key is not specified")
    if s.keystore_location is None:
        raise _fail(
            s,
            "an SSL listener needs a key store: set ssl.keystore.location (PEM or PKCS12), or "
            "ssl.keystore.key and ssl.keystore.certificate.chain (PEM)",
        )
    if s.keystore_type not in STORE_TYPES:
        raise _fail(
            s,
            f"ssl.keystore.type {s.keystore_type} is not supported by kafkatwist "
            f"(use {' or '.join(STORE_TYPES)})",
        )
    if s.keystore_type == "PEM" and s.keystore_password is not None:
        raise _fail(
            s,
            "SSL key store password cannot be specified with PEM format, only key password may "
            "be specified",
        )
    if s.keystore_type == "PKCS12" and s.keystore_password is None:
        raise _fail(s, "SSL key store is specified, but key store password is not specified.")


def _check_truststore(s: SslSettings) -> None:
    """Kafka's C{createTruststore} checks."""
    if s.truststore_certificates is not None:
        if s.truststore_type != "PEM":
            raise _fail(
                s,
                "SSL trust store certs can be specified only for PEM, but trust store type is "
                f"{s.truststore_type}.",
            )
        if s.truststore_location is not None:
            raise _fail(
                s, "Both SSL trust store location and separate trust certificates are specified."
            )
        if s.truststore_password is not None:
            raise _fail(s, "SSL trust store password cannot be specified for PEM format.")
        return
    if s.truststore_location is None:
        if s.truststore_password is not None:
            raise _fail(
                s, "SSL trust store is not specified, but trust store password is specified."
            )
        return
    if s.truststore_type not in STORE_TYPES:
        raise _fail(
            s,
            f"ssl.truststore.type {s.truststore_type} is not supported by kafkatwist "
            f"(use {' or '.join(STORE_TYPES)})",
        )
    if s.truststore_type == "PEM" and s.truststore_password is not None:
        raise _fail(s, "SSL trust store password cannot be specified for PEM format.")
