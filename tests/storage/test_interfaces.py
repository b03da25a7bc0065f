"""The file engine satisfies the storage Protocols of L{kafkatwist.storage.interfaces}."""

from __future__ import annotations

import inspect
import os
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore, IPartitionLog
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.partition_log import PartitionLog

from .support import open_log, run_now, temp_dir


def as_protocols(
    log: PartitionLog, manager: LogManager, store: KRaftMetadataStore
) -> tuple[IPartitionLog, ILogManager, IMetadataStore]:
    """The engine's objects typed as the Protocols: mypy checks that each one conforms."""
    return log, manager, store


def _members(protocol: type) -> dict[str, Any]:
    """The attributes a Protocol declares (methods and properties), by name."""
    return {
        name: value
        for name, value in vars(protocol).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }


class ProtocolTests(SynchronousTestCase):
    """Every declared member exists on the file engine, with the declared parameters."""

    def setUp(self) -> None:
        directory = temp_dir(self)
        self.manager = LogManager(
            [directory], lambda topic: LogConfig(), clock=Clock(), run_blocking=run_now
        )
        self.successResultOf(self.manager.load())
        self.addCleanup(self.manager.close)
        self.log = open_log(self, os.path.join(directory, "t-0"))
        self.store = KRaftMetadataStore(temp_dir(self), clock=Clock())
        self.successResultOf(self.store.load())

    def check(self, protocol: type, instance: object) -> None:
        for name, declared in _members(protocol).items():
            self.assertTrue(hasattr(instance, name), f"{type(instance).__name__} lacks {name}")
            actual = getattr(type(instance), name, None)
            if callable(declared) and callable(actual):
                self.assertEqual(
                    list(inspect.signature(actual).parameters),
                    list(inspect.signature(declared).parameters),
                    f"{type(instance).__name__}.{name} differs from {protocol.__name__}",
                )

    def test_partition_log(self) -> None:
        """PartitionLog has every member of IPartitionLog."""
        self.check(IPartitionLog, self.log)

    def test_log_manager(self) -> None:
        """LogManager has every member of ILogManager."""
        self.check(ILogManager, self.manager)

    def test_metadata_store(self) -> None:
        """KRaftMetadataStore has every member of IMetadataStore."""
        self.check(IMetadataStore, self.store)

    def test_typed_view(self) -> None:
        """The objects pass through the Protocol-typed function unchanged."""
        log, manager, store = as_protocols(self.log, self.manager, self.store)
        self.assertIs(log, self.log)
        self.assertEqual(log.log_end_offset, 0)
        self.assertIsNone(manager.get("t", 0))
        self.assertIs(store.image, self.store.image)
