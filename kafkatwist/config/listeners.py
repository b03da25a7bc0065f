"""Listeners: C{listeners} and C{listener.security.protocol.map}, parsed as Kafka parses them.

Kafka's C{EndPoint} regex, C{ListenerName.normalised}, C{Csv.parseCsvMap}
and C{KafkaConfig.effectiveListenerSecurityProtocolMap}. Sans-io.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from attrs import frozen

from kafkatwist.config.broker_configs import BROKER_CONFIGS
from kafkatwist.config.values import ConfigError

# --- listeners ---------------------------------------------------------------


@frozen
class Listener:
    """One entry of C{listeners}: C{NAME://host:port}; an empty host means every interface."""

    name: str
    host: str
    port: int


# Kafka's EndPoint regex (core/src/main/scala/kafka/cluster/EndPoint.scala), matched in full.
_LISTENER_RE = re.compile(r"(.*)://\[?([0-9a-zA-Z\-%._:]*?)\]?:(-?[0-9]+)")


def parse_listeners(value: str, key: str = "listeners") -> tuple[Listener, ...]:
    """
    Parse a comma-separated listener list such as C{PLAINTEXT://:9092,CONTROLLER://:9093}.

    Names are upper-cased, as Kafka's C{ListenerName.normalised} does. IPv6
    hosts may be bracketed (C{PLAINTEXT://[::1]:9092}).

    @param key: the config key to name in errors.
    @raise ConfigError: for an empty list, a malformed entry, a port outside
        0-65535, or a repeated listener name.
    """
    items = [item.strip() for item in value.split(",")]
    if not any(items):
        raise ConfigError(key, value, "at least one listener is required")
    listeners = []
    for item in items:
        match = _LISTENER_RE.fullmatch(item)
        if match is None or not match.group(1):
            raise ConfigError(key, value, f"{item!r} is not of the form NAME://host:port")
        port = int(match.group(3))
        if not 0 <= port <= 65535:
            raise ConfigError(key, value, f"port {port} is not between 0 and 65535")
        listeners.append(Listener(match.group(1).upper(), match.group(2), port))
    names = [listener.name for listener in listeners]
    if len(set(names)) != len(names):
        raise ConfigError(key, value, "each listener must have a different name")
    return tuple(listeners)


def endpoint_string(listener: Listener) -> str:
    """
    A Twisted server endpoint string for C{listener}.

    An empty host listens on every IPv4 interface
    (C{tcp:9092:interface=0.0.0.0}); an IPv6 host uses C{tcp6} with the
    colons escaped (C{tcp6:9092:interface=\\:\\:}).
    """
    host = listener.host or "0.0.0.0"
    kind = "tcp6" if ":" in host else "tcp"
    interface = host.replace("\\", "\\\\").replace(":", "\\:")
    return f"{kind}:{listener.port}:interface={interface}"


def host_port(host: str, port: int) -> str:
    """C{host:port}, an IPv6 host in brackets (C{[::1]:9092}), as a URL writes it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- listener.security.protocol.map -----------------------------------------

#: Kafka's C{SecurityProtocol} names.
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SSL_OR_SASL = frozenset(SECURITY_PROTOCOLS) - {"PLAINTEXT"}
MAP_KEY = "listener.security.protocol.map"


def parse_security_protocol_map(value: str, key: str = MAP_KEY) -> dict[str, str]:
    """
    Parse C{listener.security.protocol.map}: C{NAME:PROTOCOL,...}, as Kafka's C{Csv.parseCsvMap}.

    Listener names are upper-cased (C{ListenerName.normalised}) and so are
    protocols (C{SecurityProtocol.forName}); a repeated name keeps its last
    protocol and trailing commas are ignored, as in Kafka. A blank value is
    an empty map.

    @raise ConfigError: for an entry without C{:} or with an empty name, or a
        protocol that is not one of L{SECURITY_PROTOCOLS}.
    """
    mapping: dict[str, str] = {}
    if not value.strip():
        return mapping
    items = [item.strip() for item in value.split(",")]
    while not items[-1]:  # Java's String.split drops trailing empty strings
        items.pop()
    for item in items:
        name, colon, protocol = item.strip().rpartition(":")
        if not colon or not name.strip():
            raise ConfigError(key, value, f"{item.strip()!r} is not of the form NAME:PROTOCOL")
        protocol = protocol.strip().upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(key, value, f"Invalid security protocol `{protocol}`")
        mapping[name.strip().upper()] = protocol
    return mapping


def effective_protocol_map(
    merged: Mapping[str, str], listeners: tuple[Listener, ...], controller_names: tuple[str, ...]
) -> dict[str, str]:
    """
    Kafka's C{KafkaConfig.effectiveListenerSecurityProtocolMap}.

    When C{listener.security.protocol.map} is not set, Kafka's default
    (each protocol mapped to itself) also maps the controller listener names
    to PLAINTEXT, unless a listener or controller listener is named like
    SSL or SASL_* (then they must be mapped by hand).
    """
    if MAP_KEY in merged:
        return parse_security_protocol_map(merged[MAP_KEY])
    mapping = parse_security_protocol_map(BROKER_CONFIGS[MAP_KEY].default or "")
    names = {listener.name for listener in listeners} | set(controller_names)
    if not names & _SSL_OR_SASL:
        for name in controller_names:
            mapping.setdefault(name, "PLAINTEXT")
    return mapping


def check_protocols(
    key: str, raw: str | None, listeners: tuple[Listener, ...], mapping: Mapping[str, str]
) -> None:
    """Every listener name needs a protocol (Kafka's C{listenerListToEndPoints})."""
    for listener in listeners:
        if listener.name not in mapping:
            raise ConfigError(
                key,
                raw,
                f"No security protocol defined for listener {listener.name} "
                f"(map it in {MAP_KEY}, e.g. {listener.name}:PLAINTEXT)",
            )
