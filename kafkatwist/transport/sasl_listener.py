"""The SASL setup of a SASL_PLAINTEXT or SASL_SSL listener, for its factory."""

from __future__ import annotations

from twisted.logger import Logger

from kafkatwist.apis.api_versions import SPEC as API_VERSIONS
from kafkatwist.clock import ReactorTime
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.security.sasl import SaslListener, image_credentials
from kafkatwist.security.sasl_config import sasl_listener_config
from kafkatwist.storage.interfaces import IMetadataStore

#: The protocols whose clients authenticate with SASL.
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})

_log = Logger()


def sasl_listener(
    config: BrokerConfig, listener: str, clock: ReactorTime, metadata: IMetadataStore
) -> SaslListener | None:
    """
    The SASL setup of C{listener}; None unless its protocol is SASL_PLAINTEXT or SASL_SSL.

    Mechanisms it enables but kafkatwist cannot serve are logged once and left out.

    @raise SaslConfigError: when it cannot be served
        (L{kafkatwist.transport.listeners.check_listeners} says so first).
    """
    if config.security_protocol(listener) not in SASL_PROTOCOLS:
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
