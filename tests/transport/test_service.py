"""Tests for L{kafkatwist.transport.service.BrokerService}: building, starting and stopping."""

from __future__ import annotations

import os
from typing import cast

import attrs
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IAddress, IProtocolFactory
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import ILogObserver, LogEvent, Logger, LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.groups.coordinator import GroupCoordinator
from kafkatwist.producers.ids import ProducerIdAllocator
from kafkatwist.storage.checkpoints import CLEAN_SHUTDOWN_FILE
from kafkatwist.storage.kraft import KRaftMetadataStore, run_now
from kafkatwist.storage.lock import LogDirError, LogDirLockedError
from kafkatwist.topics.controller import Controller
from kafkatwist.topics.partitions import Partitions
from kafkatwist.transport.protocol import KafkaServerFactory
from kafkatwist.transport.service import BrokerService, StartupError
from tests.storage.support import temp_dir

ENDPOINT = "tcp:0:interface=127.0.0.1"


class _Reactor(MemoryReactorClock):
    """A memory reactor with a clock; C{listen_error} makes listening fail."""

    def __init__(self) -> None:
        super().__init__()
        self.listen_error: Exception | None = None

    def listenTCP(
        self, port: int, factory: IProtocolFactory, backlog: int = 50, interface: str = ""
    ) -> object:
        if self.listen_error is not None:
            raise self.listen_error
        return super().listenTCP(port, factory, backlog, interface)


class _Port:
    """A listening port whose C{stopListening} fires only when the test says so."""

    def __init__(self) -> None:
        self.stopping: Deferred[None] | None = None

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 9092)

    def stopListening(self) -> Deferred[None]:
        self.stopping = Deferred()
        return self.stopping


class BrokerServiceTests(SynchronousTestCase):
    """C{startService} builds and starts every service; C{stopService} stops them in order."""

    def setUp(self) -> None:
        self.log_dir = temp_dir(self)
        self.reactor = _Reactor()
        self.reactor.advance(1_700_000_000)

    def service(self, **properties: str) -> BrokerService:
        config = BrokerConfig.from_properties({"log.dirs": self.log_dir, **properties})
        return BrokerService(config, ENDPOINT, self.reactor, run_blocking=run_now)

    def started(self, **properties: str) -> BrokerService:
        service = self.service(**properties)
        service.startService()
        self.successResultOf(service.ready)
        return service

    def test_builds_every_service(self) -> None:
        """Once ready, the broker holds every service, built over the loaded stores."""
        service = self.started()
        broker = service.broker
        self.assertIsInstance(broker.metadata, KRaftMetadataStore)
        self.assertIsInstance(broker.partitions, Partitions)
        self.assertIsInstance(broker.controller, Controller)
        self.assertIsInstance(broker.groups, GroupCoordinator)
        self.assertIsInstance(broker.producer_ids, ProducerIdAllocator)
        self.assertEqual(broker.broker_loggers.levels, {"root": "INFO"})
        self.assertEqual(broker.node_id, 1)
        with open(os.path.join(self.log_dir, "meta.properties"), encoding="utf-8") as f:
            self.assertIn(f"cluster.id={broker.cluster_id}", f.read())
        self.successResultOf(service.stopService())

    def test_not_built_before_start(self) -> None:
        """The broker is built when the service starts, not before."""
        self.assertRaises(RuntimeError, lambda: self.service().broker)

    def test_listens_after_loading(self) -> None:
        """It listens on the endpoint with a factory dispatching to the broker it built."""
        service = self.started()
        [(port, factory, _backlog, interface)] = self.reactor.tcpServers
        self.assertEqual((port, interface), (0, "127.0.0.1"))
        self.assertIsInstance(factory, KafkaServerFactory)
        self.assertIs(factory.dispatcher.broker, service.broker)
        self.assertEqual(
            (service.broker.advertised_host, service.broker.advertised_port), (None, 0)
        )
        self.successResultOf(service.stopService())

    def test_starts_services(self) -> None:
        """The group coordinator has replayed and serves; the logs' periodic work is scheduled."""
        service = self.started()
        self.assertFalse(service.broker.groups.loading)
        self.assertTrue(self.reactor.getDelayedCalls())
        self.successResultOf(service.stopService())

    def test_topics_survive_restart(self) -> None:
        """A restarted service over the same log dir recovers topics and their logs."""
        service = self.started()
        self.successResultOf(service.broker.controller.create_topic("t", 2))
        self.successResultOf(service.broker.groups.ensure_offsets_topic())
        self.successResultOf(service.stopService())
        again = self.started()
        self.assertEqual(sorted(again.broker.metadata.image.topics["t"].partitions), [0, 1])
        self.assertIsNotNone(again.broker.logs.get("t", 1))
        # The coordinator replayed __consumer_offsets (its reads answer at once).
        self.assertIn("__consumer_offsets", again.broker.metadata.image.topics)
        self.assertFalse(again.broker.groups.loading)
        self.successResultOf(again.stopService())

    def test_advertised_listeners(self) -> None:
        """advertised.listeners, when set, is what Metadata tells clients."""
        service = self.started(
            **{
                "listeners": "PLAINTEXT://127.0.0.1:9092",
                "advertised.listeners": "PLAINTEXT://kafka.example:19092",
            }
        )
        self.assertEqual(
            (service.broker.advertised_host, service.broker.advertised_port),
            ("kafka.example", 19092),
        )
        self.successResultOf(service.stopService())

    def events(self) -> list[LogEvent]:
        """Capture what the service logs."""
        events: list[LogEvent] = []
        self.patch(BrokerService, "_log", Logger(observer=cast(ILogObserver, events.append)))
        return events

    def test_failing_start_is_reported(self) -> None:
        """A port in use fails C{ready}, logs one line naming the address, stops the reactor."""
        self.reactor.listen_error = CannotListenError("127.0.0.1", 9092, OSError(98, "in use"))
        self.reactor.running = True
        events = self.events()
        service = self.service()
        service.startService()
        self.failureResultOf(service.ready, CannotListenError)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(
            [formatEvent(e) for e in events if e["log_level"] == LogLevel.critical],
            ["kafkatwist: cannot listen on 127.0.0.1:9092: in use"],
        )
        self.assertTrue(all("log_failure" not in e for e in events))
        self.assertTrue(self.reactor.hasStopped)
        self.successResultOf(service.stopService())

    def test_bug_keeps_traceback(self) -> None:
        """An unexpected exception at start is logged with its traceback: it is a bug."""
        self.reactor.listen_error = RuntimeError("a bug")
        self.reactor.running = True
        service = self.service()
        service.startService()
        self.failureResultOf(service.ready, RuntimeError)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(self.reactor.hasStopped)
        self.successResultOf(service.stopService())

    def test_unusable_log_dir_is_reported(self) -> None:
        """A log dir that is a file fails C{ready} with one line naming it, stopping the reactor."""
        path = os.path.join(self.log_dir, "a-file")
        with open(path, "w") as f:
            f.write("not a directory")
        events = self.events()
        config = BrokerConfig.from_properties({"log.dirs": path})
        service = BrokerService(config, ENDPOINT, self.reactor, run_blocking=run_now)
        service.startService()
        self.failureResultOf(service.ready, LogDirError)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(
            [formatEvent(e) for e in events if e["log_level"] == LogLevel.critical],
            [f"kafkatwist: cannot use log dir {path}: Not a directory"],
        )
        # The reactor has not started yet (twistd starts services first): it stops once it runs.
        self.assertFalse(self.reactor.hasStopped)
        self.reactor.run()
        self.assertTrue(self.reactor.hasStopped)

    def test_one_broker_per_log_dir(self) -> None:
        """A second service on a locked log dir fails with Kafka's message; a stop unlocks it."""
        first = self.started()
        events = self.events()
        second = self.service()
        second.startService()
        self.failureResultOf(second.ready, LogDirLockedError)
        self.assertEqual(
            [formatEvent(e) for e in events if e["log_level"] == LogLevel.critical],
            [
                f"kafkatwist: Failed to acquire lock on file .lock in {self.log_dir}. A Kafka "
                "instance in another process or thread is using this directory."
            ],
        )
        self.successResultOf(second.stopService())
        self.successResultOf(first.stopService())
        self.successResultOf(self.started().stopService())

    def test_every_log_dir_is_locked(self) -> None:
        """Each of several log dirs is locked, not only the metadata dir."""
        other = temp_dir(self)
        first = self.started(**{"log.dirs": f"{self.log_dir},{other}"})
        second = self.service(**{"log.dirs": other})
        second.startService()
        failure = self.failureResultOf(second.ready, LogDirLockedError)
        self.assertEqual(failure.value.path, other)
        self.successResultOf(first.stopService())

    def test_unservable_listener(self) -> None:
        """A listener that cannot be served (SASL_SSL, only GSSAPI) fails the start, naming it."""
        self.reactor.running = True
        events = self.events()
        service = self.service(listeners="SASL_SSL://127.0.0.1:0")
        service.startService()
        self.failureResultOf(service.ready, StartupError)
        [line] = [formatEvent(e) for e in events if e["log_level"] == LogLevel.critical]
        self.assertIn("listener SASL_SSL enables SASL mechanisms GSSAPI", line)
        self.assertFalse(os.path.exists(os.path.join(self.log_dir, "meta.properties")))

    def test_stop_in_order(self) -> None:
        """Stopping waits for the listener to close, then drops connections, groups, then logs."""
        service = self.started()
        assert service.factory is not None
        # IPv4Address implements IAddress, which mypy cannot see without the zope plugin.
        address: IAddress = IPv4Address("TCP", "127.0.0.1", 5555)  # type: ignore[assignment]
        connection = service.factory.buildProtocol(address)
        transport = StringTransport()
        connection.makeConnection(transport)
        port = _Port()
        service.listeners[0] = attrs.evolve(service.listeners[0], port=port)
        stopped = service.stopService()
        self.assertIsInstance(stopped, Deferred)
        self.assertNoResult(stopped)
        self.assertFalse(transport.disconnecting)
        # The coordinator's expiry timer and the logs' periodic work are still scheduled.
        self.assertTrue(self.reactor.getDelayedCalls())
        self.assertFalse(os.path.exists(os.path.join(self.log_dir, CLEAN_SHUTDOWN_FILE)))
        assert port.stopping is not None
        port.stopping.callback(None)
        self.successResultOf(stopped)
        self.assertTrue(transport.disconnecting)
        self.assertTrue(os.path.exists(os.path.join(self.log_dir, CLEAN_SHUTDOWN_FILE)))
        self.assertFalse(self.reactor.getDelayedCalls())
