"""C{kafkatwist.metrics.listener}: where the Prometheus endpoint and C{/healthz} listen.

kafkatwist's own key (Kafka has none: its metrics are JMX MBeans, which the
Prometheus JMX exporter serves). Empty, the default, means no metrics
listener and no metrics hook. A value is C{[http://]host:port}: an empty
host listens on every interface (as in Kafka's C{listeners}), an IPv6 host
is bracketed (C{[::1]:9404}), port 0 binds a free port (the service
exposes the one bound). L{kafkatwist.config.broker_configs} adds the row to
its table, so DescribeConfigs shows it and C{server.properties} may set it.
"""

from __future__ import annotations

from attrs import frozen

__all__ = [
    "METRICS_LISTENER",
    "METRICS_LISTENER_DOC",
    "MetricsAddress",
    "parse_metrics_listener",
    "validate_metrics_listener",
]

#: The key.
METRICS_LISTENER = "kafkatwist.metrics.listener"

_SCHEME = "http://"


@frozen
class MetricsAddress:
    """A parsed C{kafkatwist.metrics.listener}: the interface (empty: all) and the port."""

    host: str
    port: int

    def endpoint(self) -> str:
        """The Twisted server endpoint description (C{tcp:PORT:interface=HOST})."""
        if not self.host:
            return f"tcp:{self.port}"
        return f"tcp:{self.port}:interface={self.host.replace(':', chr(92) + ':')}"


def parse_metrics_listener(value: str) -> MetricsAddress | None:
    """
    Parse C{[http://]host:port}; None for the empty value (no metrics listener).

    @raise ValueError: naming what is wrong.
    """
    text = value.strip()
    if not text:
        return None
    if text.lower().startswith(_SCHEME):
        text = text[len(_SCHEME) :]
    elif "://" in text:
        raise ValueError("the only scheme is http://")
    text = text.rstrip("/")
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError("expected host:port, e.g. 127.0.0.1:9404")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError("an IPv6 host is written [addr]")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 host is written [addr]")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port {port_text!r}")
    if "/" in host or " " in host:
        raise ValueError(f"invalid host {host!r}")
    return MetricsAddress(host, int(port_text))


def validate_metrics_listener(value: str) -> str | None:
    """The config table's validator: None, or why the value is refused."""
    try:
        parse_metrics_listener(value)
    except ValueError as e:
        return str(e)
    return None


#: The key's documentation (DescribeConfigs).
METRICS_LISTENER_DOC = (
    "Where the Prometheus metrics (/metrics) and health (/healthz) endpoint listens, as "
    "[http://]host:port (an empty host: every interface; port 0: any free port). "
    "Empty (the default): no metrics listener, and nothing is measured."
)
