"""What the two telemetry APIs share: the client attributes subscriptions match."""

from __future__ import annotations

from kafkatwist.apis._spec import RequestContext


def client_attributes(ctx: RequestContext) -> dict[str, str]:
    """
    The attributes of the requesting client (Kafka's C{ClientMetricsInstanceMetadata}).

    The client id, the source address and port of the connection and the
    client software its ApiVersions request named; the instance id is added
    by the manager.
    """
    host, _, port = ctx.peer.rpartition(":")
    attributes = {"client_id": ctx.header.client_id or ""}
    if host:
        attributes["client_source_address"] = host.strip("[]")
        attributes["client_source_port"] = port
    software = ctx.broker.telemetry.software(ctx.peer)
    if software is not None:
        attributes["client_software_name"], attributes["client_software_version"] = software
    return attributes


__all__ = ["client_attributes"]
