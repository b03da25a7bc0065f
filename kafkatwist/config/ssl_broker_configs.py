"""The broker's C{ssl.*} keys, as Kafka's C{SslConfigs} and C{BrokerSecurityConfigs} define them.

L{kafkatwist.config.broker_configs} adds these rows to its table, so
DescribeConfigs shows them (passwords and PEM keys as null: they are
C{PASSWORD}, hence sensitive) and C{server.properties} may set them. The
key and trust store keys are per-broker dynamic (Kafka's
C{SslConfigs.RECONFIGURABLE_CONFIGS}); the others are read-only. Each may
also be set for one listener as C{listener.name.<name>.ssl.*}
(L{kafkatwist.security.ssl_config}).
"""

from __future__ import annotations

from kafkatwist.config.values import (
    TYPE_BOOLEAN,
    TYPE_LIST,
    TYPE_PASSWORD,
    TYPE_STRING,
    Validator,
    one_of,
)

#: Kafka's C{SslConfigs.RECONFIGURABLE_CONFIGS}: updatable per broker at run time.
RECONFIGURABLE = frozenset(
    {
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.key.password",
        "ssl.keystore.key",
        "ssl.keystore.certificate.chain",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
    }
)

# (name, type, default, documentation, validator)
# fmt: off
SSL_BROKER_ROWS: tuple[tuple[str, int, str | None, str, Validator | None], ...] = (
    ("ssl.protocol", TYPE_STRING, "TLSv1.3", "The TLS protocol of the SSLContext.", None),
    ("ssl.provider", TYPE_STRING, None, "The security provider (unused).", None),
    ("ssl.enabled.protocols", TYPE_LIST, "TLSv1.2,TLSv1.3",
     "The protocols enabled for TLS connections.", None),
    ("ssl.cipher.suites", TYPE_LIST, "", "The cipher suites (JSSE names); all when empty.", None),
    ("ssl.keystore.type", TYPE_STRING, "JKS", "The key store's format (PEM or PKCS12 here).",
     None),
    ("ssl.keystore.location", TYPE_STRING, None, "The key store file.", None),
    ("ssl.keystore.password", TYPE_PASSWORD, None, "The key store's password.", None),
    ("ssl.key.password", TYPE_PASSWORD, None, "The private key's password.", None),
    ("ssl.keystore.key", TYPE_PASSWORD, None, "The private key, PEM (PKCS#8).", None),
    ("ssl.keystore.certificate.chain", TYPE_PASSWORD, None, "The certificate chain, PEM.",
     None),
    ("ssl.truststore.type", TYPE_STRING, "JKS", "The trust store's format (PEM or PKCS12 here).",
     None),
    ("ssl.truststore.location", TYPE_STRING, None, "The trust store file.", None),
    ("ssl.truststore.password", TYPE_PASSWORD, None, "The trust store's password.", None),
    ("ssl.truststore.certificates", TYPE_PASSWORD, None, "The trusted certificates, PEM.",
     None),
    ("ssl.keymanager.algorithm", TYPE_STRING, "SunX509", "The key manager algorithm (unused).",
     None),
    ("ssl.trustmanager.algorithm", TYPE_STRING, "PKIX",
     "The trust manager algorithm (unused).", None),
    ("ssl.endpoint.identification.algorithm", TYPE_STRING, "https",
     "Host name verification of the server certificate: a client-side check; accepted.", None),
    ("ssl.secure.random.implementation", TYPE_STRING, None,
     "The SecureRandom implementation (unused).", None),
    ("ssl.engine.factory.class", TYPE_STRING, None, "A custom SSLEngine factory (unused).",
     None),
    ("ssl.client.auth", TYPE_STRING, "none", "Whether clients must present a certificate.",
     one_of("required", "requested", "none")),
    ("ssl.allow.dn.changes", TYPE_BOOLEAN, "false",
     "Whether a dynamically updated key store may change the certificate's subject.", None),
    ("ssl.allow.san.changes", TYPE_BOOLEAN, "false",
     "Whether it may change the certificate's subject alternative names.", None),
    ("ssl.principal.mapping.rules", TYPE_STRING, "DEFAULT",
     "Rules mapping a client certificate's distinguished name to a principal name.", None),
)
# fmt: on

#: The keys kafkatwist reads (with or without a C{listener.name.<name>.} prefix).
SSL_USED_KEYS = frozenset(
    name for name, _type, _default, doc, _check in SSL_BROKER_ROWS if "(unused)" not in doc
)
