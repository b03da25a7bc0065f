"""Session: what a connection is to the authorizer (Kafka's C{RequestContext} security fields)."""

from __future__ import annotations

from attrs import define

from kafkatwist.security.principal import ANONYMOUS, KafkaPrincipal


@define
class Session:
    """
    The security state of one connection, shared by its requests.

    @ivar listener: The listener's name (C{listeners}), upper-case, e.g. C{PLAINTEXT}.
    @ivar security_protocol: The listener's protocol (C{listener.security.protocol.map}).
    @ivar principal: Who the client is: L{ANONYMOUS} until TLS or SASL says otherwise.
    @ivar client_host: The client's IP address, as ACL hosts match it (C{""} when unknown).
    @ivar authenticated: False while a SASL listener waits for the client to
        authenticate: then only ApiVersions and the SASL APIs are served.
    """

    listener: str = "PLAINTEXT"
    security_protocol: str = "PLAINTEXT"
    principal: KafkaPrincipal = ANONYMOUS
    client_host: str = ""
    authenticated: bool = True
