"""Session: what a connection is to the authorizer (Kafka's C{RequestContext} security fields)."""

from __future__ import annotations

import ipaddress

from attrs import define

from kafkatwist.security.principal import ANONYMOUS, KafkaPrincipal


@define
class Session:
    """
    The security state of one connection, shared by its requests.

    @ivar listener: The listener's name (C{listeners}), upper-case, e.g. C{PLAINTEXT}.
    @ivar security_protocol: The listener's protocol (C{listener.security.protocol.map}).
    @ivar principal: Who the client is: L{ANONYMOUS} until TLS or SASL says otherwise.
    @ivar client_host: The client's IP address, as ACL hosts match it (C{""} when
        unknown): in Java's C{InetAddress.getHostAddress} form (L{java_host_address}).
    @ivar authenticated: False while a SASL listener waits for the client to
        authenticate: then only ApiVersions and the SASL APIs are served.
    """

    listener: str = "PLAINTEXT"
    security_protocol: str = "PLAINTEXT"
    principal: KafkaPrincipal = ANONYMOUS
    client_host: str = ""
    authenticated: bool = True


def java_host_address(host: str) -> str:
    """
    An IP address as Java's C{InetAddress.getHostAddress} writes it, which
    Kafka's authorizer compares ACL hosts with (C{StandardAuthorizerData}).

    IPv4 as is; IPv6 as eight lower-case hex groups without leading zeros
    and without C{::} compression (C{::1} is C{0:0:0:0:0:0:0:1}), a scope
    kept after C{%}; an IPv4-mapped IPv6 address as its IPv4 address (Java
    makes it an C{Inet4Address}). Anything that is not an IP address is
    returned unchanged.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    packed = address.packed
    text = ":".join(f"{int.from_bytes(packed[i : i + 2], 'big'):x}" for i in range(0, 16, 2))
    return f"{text}%{address.scope_id}" if address.scope_id else text
