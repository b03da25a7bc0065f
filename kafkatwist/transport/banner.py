"""What the broker says about itself: its version line and the one line logged once it serves."""

from __future__ import annotations

import platform
from collections.abc import Mapping

from twisted.copyright import version as twisted_version
from twisted.logger import Logger

from kafkatwist import __version__
from kafkatwist.config.listeners import host_port
from kafkatwist.transport.listeners import BoundListener
from kafkatwist.transport.service import BrokerService

_log = Logger()

#: How an advertised listener without a host reads: Metadata names the host the client used.
CLIENTS_HOST = "<host the client used>"


def version_line() -> str:
    """C{kafkatwist X.Y.Z (Twisted A.B.C, Python D.E.F)}: what C{--version} prints."""
    return (
        f"kafkatwist {__version__} (Twisted {twisted_version}, Python {platform.python_version()})"
    )


def _url(name: str, host: str | None, port: int) -> str:
    """C{NAME://host:port}, an IPv6 host in brackets, no host as L{CLIENTS_HOST}."""
    return f"{name}://{host_port(CLIENTS_HOST if host is None else host, port)}"


def bound_urls(listeners: list[BoundListener]) -> str:
    """Every listener as served: its name, the address bound and the actual port."""
    urls = []
    for bound in listeners:
        address = bound.port.getHost()
        urls.append(_url(bound.name, address.host, address.port))
    return ",".join(urls)


def advertised_urls(advertised: Mapping[str, tuple[str | None, int]]) -> str:
    """Every listener as Metadata advertises it."""
    return ",".join(_url(name, host, port) for name, (host, port) in advertised.items())


def started_line(service: BrokerService, properties: str | None) -> str:
    """
    The start-up line of a broker that serves: version, properties file, node id, listeners.

    @param properties: The properties file read at start-up, or None.
    """
    config = service.config
    return (
        f"kafkatwist {__version__} started: properties {properties or 'none'}, "
        f"node.id {config.node_id}, listeners {bound_urls(service.listeners)}, "
        f"advertised {advertised_urls(service.broker.advertised_listeners)}, "
        f"log.dirs {','.join(service.log_dirs)}"
    )


def log_started(
    port: object, service: BrokerService, properties: str | None, log: Logger = _log
) -> object:
    """Log L{started_line} once C{service} serves (a callback on its C{ready}); returns C{port}."""
    log.info("{line}", line=started_line(service, properties))
    return port
