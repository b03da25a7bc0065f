"""Dynamic key and trust store updates of SSL listeners, as Kafka's reconfigurable C{SslFactory}.

IncrementalAlterConfigs / AlterConfigs of a listener's
C{listener.name.<name>.ssl.keystore.*} (or C{ssl.truststore.*}) for this
broker rebuild that listener's context for new connections; established
connections keep theirs. As in Kafka (C{DynamicBrokerConfig},
C{SslFactory.reconfigure}): the new stores are loaded and checked before
the change is written (a file that cannot be read, a wrong password: the
update is refused, nothing is written); the new certificate must keep the
old one's subject and subject alternative names unless
C{ssl.allow.dn.changes} / C{ssl.allow.san.changes} is true
(C{SslFactory.CertificateEntries.ensureCompatible}); setting a key again to
the same value reloads its file (Kafka rewrites the keys, KAFKA-14136, and
rebuilds a factory whose file changed), which is how a renewed certificate
is picked up. Stores are read in the broker's blocking pool, never on the
reactor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from attrs import define
from cryptography import x509

from kafkatwist.clock import RunBlocking
from kafkatwist.security.ssl_config import (
    SslConfigError,
    listener_prefix,
    listener_value,
    read_ssl_settings,
)
from kafkatwist.security.tls import ServerContext, ServerTLS, build_context


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return sorted(str(name) for name in san)


def check_compatible(
    props: Mapping[str, str], listener: str, old: x509.Certificate, new: x509.Certificate
) -> None:
    """
    Kafka's C{ensureCompatible}: the same subject and alternative names, unless allowed.

    @raise SslConfigError: naming what changed.
    """
    allow_dn = (listener_value(props, listener, "ssl.allow.dn.changes") or "").lower() == "true"
    allow_san = (listener_value(props, listener, "ssl.allow.san.changes") or "").lower() == "true"
    if not allow_dn and old.subject != new.subject:
        raise SslConfigError(
            f"listener {listener}: Keystore DistinguishedName does not match: "
            f"existing={old.subject.rfc4514_string()}, new={new.subject.rfc4514_string()}"
        )
    if not allow_san and _names(old) != _names(new):
        raise SslConfigError(
            f"listener {listener}: Keystore SubjectAltNames do not match: "
            f"existing={_names(old)}, new={_names(new)}"
        )


@define
class TlsReconfiguration:
    """The SSL listeners of this broker, whose stores dynamic configs may replace."""

    _static: Mapping[str, str]
    _servers: Mapping[str, ServerTLS]
    _run_blocking: RunBlocking
    #: The SASL_SSL listeners among C{_servers} (their C{ssl.client.auth} is their own).
    _sasl: frozenset[str] = frozenset()

    def affected(self, keys: Iterable[str]) -> list[str]:
        """The SSL listeners whose C{listener.name.<name>.ssl.*} keys are among C{keys}."""
        keys = list(keys)
        return [
            name
            for name in self._servers
            if any(k.startswith(listener_prefix(name) + "ssl.") for k in keys)
        ]

    async def prepare(
        self,
        cluster_default: Mapping[str, str],
        per_broker: Mapping[str, str],
        written: Iterable[str],
        *,
        compatible: bool = True,
    ) -> Callable[[], None]:
        """
        Load and check the stores C{per_broker} (this broker's new dynamic configs) give.

        @param written: the keys the request set (a key set again reloads its file).
        @param compatible: whether the new certificate must keep the old one's
            names (not at start-up, where Kafka builds its factory from the
            dynamic configs directly).
        @return: what makes new connections use them, to call once the configs are written.
        @raise SslConfigError: when a store does not load or its certificate is not compatible.
        """
        names = self.affected(written)
        if not names:
            return lambda: None
        props = {**self._static, **cluster_default, **per_broker}
        current = {name: self._servers[name].current for name in names}

        def build() -> dict[str, ServerContext]:
            built = {}
            for name in names:
                new = build_context(read_ssl_settings(props, name, sasl=name in self._sasl))
                if compatible:
                    check_compatible(props, name, current[name].certificate, new.certificate)
                built[name] = new
            return built

        contexts = await self._run_blocking(build)

        def commit() -> None:
            for name, context in contexts.items():
                self._servers[name].reload(context)

        return commit
