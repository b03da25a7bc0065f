"""Which listeners the service can serve, and the SASL setup of a SASL_PLAINTEXT one.

Kept out of L{kafkatwist.transport.service} (at its size limit): the service
asks L{unservable_listener} before starting and L{sasl_listener} for the
factory of the listener it binds.
"""

from __future__ import annotations

from twisted.logger import Logger

from kafkatwist.apis.api_versions import SPEC as API_VERSIONS
from kafkatwist.clock import ReactorTime
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.security.sasl import SaslListener, image_credentials
from kafkatwist.security.sasl_config import SaslConfigError, sasl_listener_config
from kafkatwist.storage.interfaces import IMetadataStore

#: The security protocols kafkatwist serves (SSL and SASL_SSL need TLS).
SERVED_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT")

_log = Logger()


def unservable_listener(config: BrokerConfig) -> str | None:
    """
    Why the first listener kafkatwist cannot serve cannot be served, or None.

    A listener needs a protocol of L{SERVED_PROTOCOLS}
    (C{listener.security.protocol.map}); a SASL_PLAINTEXT one also needs a
    mechanism kafkatwist serves, and PLAIN needs its users
    (L{kafkatwist.security.sasl_config}).
    """
    for listener in config.broker_listeners():
        protocol = config.security_protocol(listener.name)
        if protocol not in SERVED_PROTOCOLS:
            return (
                f"listener {listener.name} uses security protocol {protocol}, which kafkatwist "
                f"cannot serve (only {', '.join(SERVED_PROTOCOLS)}; "
                "see listener.security.protocol.map)"
            )
        if protocol == "SASL_PLAINTEXT":
            try:
                sasl_listener_config(config.properties, listener.name)
            except SaslConfigError as e:
                return str(e)
    return None


def sasl_listener(
    config: BrokerConfig, listener: str, clock: ReactorTime, metadata: IMetadataStore
) -> SaslListener | None:
    """
    The SASL setup of C{listener}; None unless its protocol is SASL_PLAINTEXT.

    Mechanisms it enables but kafkatwist cannot serve are logged once and left out.

    @raise SaslConfigError: when it cannot be served (L{unservable_listener} says so first).
    """
    if config.security_protocol(listener) != "SASL_PLAINTEXT":
        return None
    sasl = sasl_listener_config(config.properties, listener)
    if sasl.ignored:
        _log.warn(
            "Listener {listener}: SASL mechanisms {ignored} are enabled but kafkatwist cannot "
            "serve them; serving {served}",
            listener=listener,
            ignored=", ".join(sasl.ignored),
            served=", ".join(sasl.mechanisms),
        )
    return SaslListener(sasl, image_credentials(metadata), clock, API_VERSIONS.versions)
