"""Helpers shared by the group APIs: the coordinator and the client host."""

from __future__ import annotations

from kafkatwist.apis._spec import RequestContext
from kafkatwist.groups.coordinator import GroupCoordinator


def coordinator_of(ctx: RequestContext) -> GroupCoordinator:
    """The broker's group coordinator."""
    return ctx.broker.groups


def client_host(ctx: RequestContext) -> str:
    """The client's address as Kafka reports it (``InetAddress.toString``: ``/127.0.0.1``)."""
    host = ctx.peer.rsplit(":", 1)[0] if ctx.peer else ""
    return "/" + host.strip("[]")
