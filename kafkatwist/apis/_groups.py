"""Helpers shared by the group APIs: the coordinator and the client host."""

from __future__ import annotations

from kafkatwist.apis._spec import RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.coordinator import GroupCoordinator


def coordinator_of(ctx: RequestContext) -> GroupCoordinator:
    """The broker's group coordinator; COORDINATOR_NOT_AVAILABLE without one."""
    coordinator: GroupCoordinator | None = ctx.broker.extras.get("groups")
    if coordinator is None:
        raise KafkaError(
            ErrorCode.COORDINATOR_NOT_AVAILABLE, "The group coordinator is not running"
        )
    return coordinator


def client_host(ctx: RequestContext) -> str:
    """The client's address as Kafka reports it (``InetAddress.toString``: ``/127.0.0.1``)."""
    host = ctx.peer.rsplit(":", 1)[0] if ctx.peer else ""
    return "/" + host.strip("[]")
