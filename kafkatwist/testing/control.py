"""
A test's broker: a L{BrokerService} on a loopback port, its L{Faults} and its clock.

L{start_test_broker} starts one on the reactor (in the test's process, or
in the broker child of L{kafkatwist.testing.child}); L{ControlledBroker.call}
runs a control call named by a string with JSON arguments, the one entry
point both use, so that a method added to L{Faults} is reachable from
either with no change here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeAlias

from attrs import define
from twisted.internet.defer import Deferred

from kafkatwist.clock import ReactorTime
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.testing.clock import JumpClock
from kafkatwist.testing.faults import Faults
from kafkatwist.transport.service import BrokerService, ServiceReactor

#: A JSON value, as control calls take and return them.
JSON: TypeAlias = "None | bool | int | float | str | list[JSON] | dict[str, JSON]"

#: What a test broker runs with unless the test says otherwise: a consumer
#: group's first rebalance starts at once (Kafka's own tests do the same).
DEFAULT_PROPERTIES: Mapping[str, str] = {"group.initial.rebalance.delay.ms": "0", "node.id": "1"}


def broker_properties(log_dir: str, port: int, overrides: Mapping[str, str]) -> dict[str, str]:
    """The server properties of a test broker on 127.0.0.1:C{port} (0: any free port)."""
    props = dict(DEFAULT_PROPERTIES)
    props.update(overrides)
    props["log.dirs"] = log_dir
    props.setdefault("listeners", f"PLAINTEXT://127.0.0.1:{port}")
    return props


@define(eq=False)
class ControlledBroker:
    """
    A started test broker.

    @ivar clock: The broker's time: the reactor, or a L{JumpClock} a test moves forward.
    """

    service: BrokerService
    faults: Faults
    clock: ReactorTime
    jump: JumpClock | None

    @property
    def port(self) -> int:
        """The first listener's port."""
        return self.service.listeners[0].port.getHost().port

    @property
    def metrics_port(self) -> int | None:
        """The metrics listener's port (C{kafkatwist.metrics.listener}), None when off."""
        metrics = self.service.metrics
        return None if metrics is None else metrics.port

    def call(self, name: str, args: list[JSON], kwargs: dict[str, JSON]) -> Deferred[JSON]:
        """
        Run the control call C{name}: C{faults.<method>}, C{advance} or C{create_topic}.

        @return: a Deferred with its JSON result; it fails with C{ValueError} for an unknown call.
        """
        return Deferred.fromCoroutine(self._call(name, args, kwargs))

    async def _call(self, name: str, args: list[JSON], kwargs: dict[str, JSON]) -> JSON:
        prefix, _, method = name.partition(".")
        if prefix == "faults" and method and not method.startswith("_") and method != "install":
            try:
                target = getattr(self.faults, method)
            except AttributeError:
                raise ValueError(f"Faults has no method {method!r}") from None
            result: JSON = target(*args, **kwargs)
            return result
        if name == "advance" and len(args) == 1 and isinstance(args[0], int | float):
            self.advance(args[0])
            return None
        if name == "create_topic":
            topic, partitions, config = (
                kwargs.get("name"),
                kwargs.get("partitions", 1),
                kwargs.get("config"),
            )
            if not (isinstance(topic, str) and isinstance(partitions, int)):
                raise ValueError(f"create_topic needs a name and a partition count, not {kwargs}")
            configs = (
                {str(k): str(v) for k, v in (config or {}).items()}
                if isinstance(config, dict)
                else None
            )
            await self.service.broker.controller.create_topic(topic, partitions, configs=configs)
            return None
        raise ValueError(f"unknown control call {name!r}")

    def advance(self, seconds: float) -> None:
        """Move the broker's clock C{seconds} forward (it must be a L{JumpClock})."""
        if self.jump is None:
            raise ValueError("the broker has no test clock: start it with clock=True")
        self.jump.advance(seconds)

    def kill(self) -> None:
        """Stop at once, as SIGKILL would: nothing flushed or closed cleanly, every timer gone."""
        if self.jump is not None:
            self.jump.stop()
        self.service.kill()


async def start_test_broker(
    reactor: ServiceReactor,
    log_dir: str,
    *,
    port: int = 0,
    properties: Mapping[str, str] = {},
    clock: bool = True,
) -> ControlledBroker:
    """
    Start a broker on C{127.0.0.1:port} over C{log_dir} and install its L{Faults}.

    @param clock: Give the broker a L{JumpClock} (tests can L{ControlledBroker.advance} it).
        A crashed in-process broker's timers are stopped through it, so the
        in-process fixture always asks for one.
    """
    config = BrokerConfig.from_properties(broker_properties(log_dir, port, properties))
    jump = JumpClock(reactor) if clock else None
    service = BrokerService(config, None, reactor, clock=jump)
    service.startService()
    await service.ready
    faults = Faults.install(service)
    return ControlledBroker(service, faults, reactor if jump is None else jump, jump)


def encode(message: Mapping[str, JSON]) -> bytes:
    """One line of the control channel."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


__all__ = [
    "DEFAULT_PROPERTIES",
    "JSON",
    "ControlledBroker",
    "broker_properties",
    "start_test_broker",
]
