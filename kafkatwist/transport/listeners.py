"""The broker's listeners: which can be served, their TLS, binding each, and what each advertises.

Every listener of C{listeners} but the controller ones is bound, each with its
own L{KafkaServerFactory} (its name and protocol in every connection's
L{Session}); a SASL listener's authenticates its clients first
(L{kafkatwist.transport.sasl_listener}); an SSL or SASL_SSL listener's
factory is wrapped in Twisted's C{TLSMemoryBIOFactory} with the context
its C{ssl.*} settings give (L{kafkatwist.security.tls}). What a listener advertises (Metadata,
FindCoordinator, DescribeCluster) is its C{advertised.listeners} entry, else
the address its client connected to and its bound port (Kafka advertises
each client the endpoint of the listener it came in on).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Protocol, cast

from attrs import frozen
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator, IProtocolFactory
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from kafkatwist.apis import REGISTRY
from kafkatwist.broker import Broker
from kafkatwist.clock import ReactorTime, RunBlocking
from kafkatwist.config.listeners import endpoint_string
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.security.sasl_config import SaslConfigError, sasl_listener_config
from kafkatwist.security.ssl_config import SslConfigError, listener_prefix, read_ssl_settings
from kafkatwist.security.ssl_principal import SslPrincipalMapper
from kafkatwist.security.tls import ServerTLS, TlsPrincipalBuilder, build_context
from kafkatwist.security.tls_reload import TlsReconfiguration
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.pool import RequestMemoryPool
from kafkatwist.transport.protocol import KafkaServerFactory
from kafkatwist.transport.sasl_listener import SASL_PROTOCOLS, sasl_listener
from kafkatwist.transport.tls_protocol import TlsServerFactory

#: What kafkatwist can serve: every protocol of Kafka's C{SecurityProtocol}.
SERVED_PROTOCOLS = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})
_ANY_HOSTS = ("", "0.0.0.0", "::")
_log = Logger()


class StartupError(Exception):
    """A start-up failure that one line explains (no traceback): its C{str()}."""


class ListeningPort(Protocol):
    """The listening port, as the service uses it (C{IListeningPort})."""

    def getHost(self) -> IPv4Address | IPv6Address:
        """The bound address."""

    def stopListening(self) -> Deferred[None] | None:
        """Stop listening; may fire once the port is closed."""


def check_protocol(listener: str, protocol: str) -> None:
    """
    Refuse a listener whose security protocol kafkatwist cannot serve.

    @raise StartupError: for a protocol not in L{SERVED_PROTOCOLS}.
    """
    if protocol not in SERVED_PROTOCOLS:
        raise StartupError(
            f"listener {listener} uses security protocol {protocol}, which kafkatwist cannot "
            f"serve (only {', '.join(sorted(SERVED_PROTOCOLS))}; "
            "see listener.security.protocol.map)"
        )


def check_listeners(config: BrokerConfig) -> None:
    """
    Refuse listeners that cannot be served: SSL listeners whose C{ssl.*}
    settings are wrong, SASL listeners without a mechanism kafkatwist serves
    or without PLAIN users (L{kafkatwist.security.sasl_config}).

    Reads no file (L{listener_tls} loads the stores).

    @raise StartupError: naming the first such listener.
    """
    for listener in config.broker_listeners():
        protocol = config.security_protocol(listener.name)
        check_protocol(listener.name, protocol)
        if protocol in SASL_PROTOCOLS:
            try:
                sasl_listener_config(config.properties, listener.name)
            except SaslConfigError as e:
                raise StartupError(str(e)) from None
        if protocol in ("SSL", "SASL_SSL"):
            try:
                settings = read_ssl_settings(
                    config.properties, listener.name, sasl=protocol == "SASL_SSL"
                )
                SslPrincipalMapper.from_rules(settings.principal_mapping_rules)
            except ValueError as e:
                raise StartupError(str(e)) from None


@frozen
class ListenerTLS:
    """An SSL listener's TLS: its connections' context and its principal builder."""

    server: ServerTLS
    principals: TlsPrincipalBuilder


def listener_tls(props: Mapping[str, str], listener: str, *, sasl: bool = False) -> ListenerTLS:
    """
    Load C{listener}'s key and trust stores and build its context (reads files: start-up only).

    @param sasl: C{listener} is SASL_SSL (L{read_ssl_settings}).
    @raise StartupError: for a bad setting, file, store or password, in one line.
    """
    if sasl and props.get("ssl.client.auth", "none").strip().lower() != "none":
        if listener_prefix(listener) + "ssl.client.auth" not in props:
            _log.warn(
                "Broker configuration 'ssl.client.auth' is applied only to SSL listeners: "
                "listener {listener} (SASL_SSL) asks for no client certificate unless "
                "listener.name.{name}.ssl.client.auth is set",
                listener=listener,
                name=listener.lower(),
            )
    try:
        settings = read_ssl_settings(props, listener, sasl=sasl)
        mapper = SslPrincipalMapper.from_rules(settings.principal_mapping_rules)
        return ListenerTLS(ServerTLS(build_context(settings)), TlsPrincipalBuilder(mapper))
    except (SslConfigError, ValueError) as e:
        raise StartupError(str(e)) from None


def all_listener_tls(config: BrokerConfig) -> dict[str, ListenerTLS]:
    """The TLS of every SSL listener, by name."""
    return {
        listener.name: listener_tls(
            config.properties,
            listener.name,
            sasl=config.security_protocol(listener.name) == "SASL_SSL",
        )
        for listener in config.broker_listeners()
        if config.security_protocol(listener.name) in ("SSL", "SASL_SSL")
    }


async def start_tls_reconfiguration(
    config: BrokerConfig,
    configs: ConfigResolver,
    tls: Mapping[str, ListenerTLS],
    run_blocking: RunBlocking,
) -> TlsReconfiguration | None:
    """
    The SSL listeners' dynamic store updates, with those already in the metadata log applied.

    @raise StartupError: when a stored dynamic store does not load.
    """
    if not tls:
        return None
    reconfiguration = TlsReconfiguration(
        config.properties,
        {name: t.server for name, t in tls.items()},
        run_blocking,
        frozenset(name for name in tls if config.security_protocol(name) == "SASL_SSL"),
    )
    layers = configs.layers()
    try:
        commit = await reconfiguration.prepare(
            layers.cluster_default, layers.per_broker, layers.per_broker, compatible=False
        )
    except (SslConfigError, ValueError) as e:
        raise StartupError(f"dynamic config: {e}") from None
    commit()
    return reconfiguration


def factory_maker(
    config: BrokerConfig, clock: ReactorTime, broker: Broker, metadata: IMetadataStore
) -> Callable[[str, str, ListenerTLS | None], KafkaServerFactory]:
    """
    Make each listener's factory: one dispatcher and request memory pool for
    them all; a SASL listener's authenticates with the credentials of C{metadata}.
    """
    dispatcher = Dispatcher(REGISTRY, broker)
    memory = RequestMemoryPool(config.queued_max_request_bytes)

    def make(name: str, protocol: str, tls: ListenerTLS | None) -> KafkaServerFactory:
        sasl = sasl_listener(config, name, clock, metadata)
        if tls is not None:
            return TlsServerFactory(
                dispatcher,
                tls.principals,
                config.socket_request_max_bytes,
                memory,
                clock=clock,
                idle_ms=config.connections_max_idle_ms,
                listener_name=name,
                security_protocol=protocol,
                sasl=sasl,
            )
        return KafkaServerFactory(
            dispatcher,
            config.socket_request_max_bytes,
            memory,
            clock=clock,
            idle_ms=config.connections_max_idle_ms,
            listener_name=name,
            security_protocol=protocol,
            sasl=sasl,
        )

    return make


@frozen
class BoundListener:
    """A listener being served: its name, protocol, factory and port."""

    name: str
    security_protocol: str
    factory: KafkaServerFactory
    port: ListeningPort
    tls: ListenerTLS | None


async def bind_listeners(
    reactor: object,
    config: BrokerConfig,
    endpoint: str | None,
    make_factory: Callable[[str, str, ListenerTLS | None], KafkaServerFactory],
    tls: Mapping[str, ListenerTLS],
) -> list[BoundListener]:
    """
    Bind every broker listener; C{endpoint}, when given, replaces the first one's address.

    A failure stops the ports already bound before it is raised.
    """
    bound: list[BoundListener] = []
    try:
        for i, listener in enumerate(config.broker_listeners()):
            protocol = config.security_protocol(listener.name)
            listener_tls_ = tls.get(listener.name)
            factory = make_factory(listener.name, protocol, listener_tls_)
            served = cast(IProtocolFactory, factory)
            if listener_tls_ is not None:
                creator = cast(IOpenSSLServerConnectionCreator, listener_tls_.server)
                served = cast(IProtocolFactory, TLSMemoryBIOFactory(creator, False, served))
            description = endpoint if endpoint is not None and i == 0 else None
            where = description or endpoint_string(listener)
            port: ListeningPort = await serverFromString(  # type: ignore[no-untyped-call, unused-ignore]
                reactor, where
            ).listen(served)
            bound.append(BoundListener(listener.name, protocol, factory, port, listener_tls_))
    except BaseException:
        for b in bound:
            stopped = b.port.stopListening()
            if stopped is not None:
                await stopped
        raise
    return bound


def registered_addresses(
    advertised: Mapping[str, tuple[str | None, int]], bound: list[BoundListener]
) -> dict[str, tuple[str, int]]:
    """
    What other brokers give clients for this one: each advertised address, with a host.

    A listener that advertises "the address the client used" (no
    C{advertised.listeners}) is registered with the address it is bound to,
    or the machine's fully qualified name when bound to every address (as
    Kafka advertises an empty listener host).
    """
    out: dict[str, tuple[str, int]] = {}
    for b in bound:
        host, port = advertised[b.name]
        if host is None:
            bound_host = b.port.getHost().host
            host = socket.getfqdn() if bound_host in _ANY_HOSTS else bound_host
        out[b.name] = (host, port)
    return out


def advertised_addresses(
    config: BrokerConfig, bound: list[BoundListener]
) -> dict[str, tuple[str | None, int]]:
    """
    What each listener advertises: (host or None for the client's own address, port).

    Without C{advertised.listeners}, the bound port; with it, the listener's
    entry (port 0 meaning the bound port). A listener without an entry
    advertises its bound address, except a broker's only listener, which
    keeps L{BrokerConfig.advertised_address} (the first advertised entry).
    """
    out: dict[str, tuple[str | None, int]] = {}
    entries = {a.name: a for a in config.advertised_listeners}
    for b in bound:
        bound_port = b.port.getHost().port
        if not config.has_advertised_listeners():
            out[b.name] = (None, bound_port)
            continue
        entry = entries.get(b.name)
        if entry is None and len(bound) == 1:
            host, port = config.advertised_address()
        elif entry is None:
            host, port = None, 0
        else:
            host, port = (None if entry.host in _ANY_HOSTS else entry.host), entry.port
        out[b.name] = (host, port or bound_port)
    return out
