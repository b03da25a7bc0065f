"""BrokerService and the log cleaner: started after the logs load, stopped before they close."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.storage.checkpoints import CLEANER_OFFSET_CHECKPOINT, read_offset_checkpoint
from kafkatwist.storage.kraft import run_now
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.transport.service import BrokerService
from tests.storage.support import append, batch, temp_dir
from tests.transport.test_service import ENDPOINT, _Reactor


class CleanerServiceTests(SynchronousTestCase):
    """The cleaner as part of the broker service."""

    def setUp(self) -> None:
        self.log_dir = temp_dir(self)
        self.reactor = _Reactor()
        self.reactor.advance(1_700_000_000)

    def started(self, **properties: str) -> BrokerService:
        config = BrokerConfig.from_properties({"log.dirs": self.log_dir, **properties})
        service = BrokerService(config, ENDPOINT, self.reactor, run_blocking=run_now)
        service.startService()
        self.successResultOf(service.ready)
        return service

    def test_cleaner_runs_with_the_broker(self) -> None:
        """A started broker cleans a compacted topic on its clock; a clean stop checkpoints it."""
        service = self.started(**{"log.segment.bytes": "500", "log.cleaner.backoff.ms": "1000"})
        cleaner = service.cleaner
        assert cleaner is not None and cleaner.running
        broker = service.broker
        configs = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01"}
        self.successResultOf(broker.controller.create_topic("c", 1, configs=configs))
        log = broker.logs.get("c", 0)
        assert isinstance(log, PartitionLog)
        for i in range(12):
            append(self, log, batch(2, value_size=40, timestamp=1000 + i), epoch=0)
        before = log.size_in_bytes
        self.reactor.advance(1)
        self.assertEqual(cleaner.cleaned, 1)
        self.assertLess(log.size_in_bytes, before)
        active = log.segments[-1].base_offset
        self.successResultOf(service.stopService())
        self.assertFalse(cleaner.running)
        path = os.path.join(self.log_dir, CLEANER_OFFSET_CHECKPOINT)
        self.assertEqual(read_offset_checkpoint(path), {("c", 0): active})

    def test_disabled_cleaner(self) -> None:
        """log.cleaner.enable=false: the cleaner never cleans, and still stops cleanly."""
        service = self.started(**{"log.cleaner.enable": "false"})
        cleaner = service.cleaner
        assert cleaner is not None
        self.reactor.advance(60)
        self.assertEqual(cleaner.cleaned, 0)
        self.successResultOf(service.stopService())
