"""Tests for a partition log's leader epoch cache and OffsetForLeaderEpoch."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.epochs import LeaderEpochCache

from .support import (
    append,
    batch,
    open_log,
)


class LeaderEpochTests(SynchronousTestCase):
    """The leader epoch cache and OffsetForLeaderEpoch."""

    def test_appends_record_epochs(self) -> None:
        """Each new epoch's first offset is recorded and written to leader-epoch-checkpoint."""
        log = open_log(self)
        append(self, log, batch(2), epoch=0)
        append(self, log, batch(2), epoch=0)
        append(self, log, batch(3), epoch=4)
        self.assertEqual(log.epoch_entries, (cp.EpochEntry(0, 0), cp.EpochEntry(4, 4)))
        with open(os.path.join(log.directory, cp.LEADER_EPOCH_CHECKPOINT)) as f:
            self.assertEqual(f.read(), "0\n2\n0 0\n4 4\n")
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(4)), (4, 7))
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(0)), (0, 4))
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(2)), (0, 4))
        self.assertEqual(self.successResultOf(log.end_offset_for_epoch(9)), (-1, -1))

    def test_cache_rules(self) -> None:
        """Kafka's rules: an older epoch truncates newer entries; lookups of unknown epochs."""
        cache = LeaderEpochCache([cp.EpochEntry(1, 10), cp.EpochEntry(3, 20)])
        self.assertFalse(cache.assign(3, 25))
        self.assertEqual(cache.end_offset_for(0, 99), (0, 10))
        self.assertEqual(cache.epoch_for_offset(15), 1)
        self.assertIsNone(cache.epoch_for_offset(5))
        self.assertTrue(cache.assign(2, 15))
        self.assertEqual(cache.entries, (cp.EpochEntry(1, 10), cp.EpochEntry(2, 15)))
        self.assertTrue(cache.truncate_from_end(15))
        self.assertEqual(cache.entries, (cp.EpochEntry(1, 10),))
