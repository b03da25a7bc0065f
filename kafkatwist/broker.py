"""Broker: the state every handler shares (config, clock, metadata, logs)."""

from __future__ import annotations

from typing import Any

from attrs import define, field


@define
class Broker:
    """The broker's collaborators, built by L{kafkatwist.service.BrokerService}."""

    config: Any
    #: An IReactorTime: the injected clock.
    clock: Any
    node_id: int = 1
    cluster_id: str = ""
    #: The advertised host, or None to use the address the client connected to.
    advertised_host: str | None = None
    advertised_port: int = 9092
    metadata: Any = None
    logs: Any = None
    extras: dict[str, Any] = field(factory=dict)
