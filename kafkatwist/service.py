"""BrokerService: owns the stores, loads them, then opens the listener."""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from kafkatwist.apis import REGISTRY
from kafkatwist.broker import Broker
from kafkatwist.dispatch import Dispatcher
from kafkatwist.protocol import KafkaServerFactory


class BrokerService(Service):
    """
    The broker as a Twisted service.

    C{startService} loads the metadata and the logs and only then listens, so
    no request is served from a half-loaded state. C{stopService} stops
    listening, then closes the logs, and returns a Deferred.
    """

    _log = Logger()

    def __init__(self, config: Any, endpoint: str, reactor: Any) -> None:
        self.config = config
        self.endpoint = endpoint
        self.reactor = reactor
        self.broker = Broker(config=config, clock=reactor, node_id=getattr(config, "node_id", 1))
        self.factory: KafkaServerFactory | None = None
        self.port: Any = None
        self.ready: Deferred[Any] | None = None

    def startService(self) -> None:
        super().startService()
        self.ready = self._start()
        self.ready.addErrback(self._start_failed)

    def _start_failed(self, failure: Any) -> None:
        self._log.failure("kafkatwist failed to start", failure)
        if self.reactor.running:
            self.reactor.stop()

    @inlineCallbacks
    def _start(self) -> Any:
        dispatcher = Dispatcher(REGISTRY, self.broker)
        max_size = getattr(self.config, "socket_request_max_bytes", 104857600)
        self.factory = KafkaServerFactory(dispatcher, max_size)
        endpoint = serverFromString(self.reactor, self.endpoint)
        self.port = yield endpoint.listen(self.factory)
        address = self.port.getHost()
        host, port = self._advertised(address.port)
        self.broker.advertised_host = host
        self.broker.advertised_port = port
        self._log.info(
            "kafkatwist listening on {host}:{port}", host=address.host, port=address.port
        )
        return self.port

    def _advertised(self, bound_port: int) -> tuple[str | None, int]:
        advertised = getattr(self.config, "advertised_address", None)
        if advertised is None:
            return None, bound_port
        host, port = advertised()
        return host, port or bound_port

    def stopService(self) -> Deferred[None]:
        super().stopService()
        if self.port is None:
            return succeed(None)
        port, self.port = self.port, None
        d: Deferred[None] = Deferred.fromCoroutine(self._stop(port))
        return d

    async def _stop(self, port: Any) -> None:
        await port.stopListening()
        if self.factory is not None:
            for conn in list(self.factory.connections):
                conn.transport.loseConnection()
