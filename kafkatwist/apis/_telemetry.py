"""What the two telemetry APIs share: the client attributes subscriptions match."""

from __future__ import annotations

from kafkatwist.apis._spec import RequestContext


def client_attributes(ctx: RequestContext) -> dict[str, str]:
    """
    The attributes of the requesting client (Kafka's C{ClientMetricsInstanceMetadata}).

    The client id and the source address and port of the connection; the
    instance id is added by the manager.
    """
    host, _, port = ctx.peer.rpartition(":")
    attributes = {"client_id": ctx.header.client_id or ""}
    if host:
        attributes["client_source_address"] = host.strip("[]")
        attributes["client_source_port"] = port
    return attributes


__all__ = ["client_attributes"]
