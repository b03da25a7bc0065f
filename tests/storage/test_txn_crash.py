"""A log manager restarted after a SIGKILL mid-transaction: transactions, LSO, .txnindex survive."""

from __future__ import annotations

import os
import shutil

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.partition_log import PartitionLog

from .support import append, batch, run_now, temp_dir
from .txn_support import txn_data, txn_marker

SMALL = LogConfig(segment_bytes=400, index_interval_bytes=100)


def _manager(directory: str) -> LogManager:
    return LogManager([directory], lambda topic: SMALL, clock=Clock(), run_blocking=run_now)


def _state(log: PartitionLog) -> tuple[object, ...]:
    """What a read_committed consumer depends on, and the index files' bytes."""
    files = {}
    for name in sorted(os.listdir(log.directory)):
        if name.endswith(".txnindex"):
            with open(os.path.join(log.directory, name), "rb") as f:
                files[name] = f.read()
    return (
        log.log_end_offset,
        log.ongoing_transactions(),
        log.last_stable_offset,
        log.aborted_transactions(0, log.log_end_offset),
        files,
    )


class CrashTests(SynchronousTestCase):
    """The files a SIGKILL leaves (no clean-shutdown marker) load back to the same state."""

    def run_until_kill(self, checkpoint_after: int | None) -> tuple[str, tuple[object, ...]]:
        """Write transactions; copy the dir as a kill would leave it; return the copy and state."""
        directory = temp_dir(self)
        manager = _manager(directory)
        self.successResultOf(manager.load())
        self.addCleanup(manager.close)
        log = manager.create("t", 0, SMALL)
        assert isinstance(log, PartitionLog)
        steps = [
            lambda: txn_data(self, log, 1, 0, value_size=60),
            lambda: txn_data(self, log, 2, 0, value_size=60),
            lambda: txn_marker(self, log, 1, commit=False),
            lambda: append(self, log, batch(2, value_size=60)),
            lambda: txn_data(self, log, 3, 0, value_size=60),
            lambda: txn_marker(self, log, 3, commit=False),
            lambda: txn_data(self, log, 2, 2, value_size=60),
            lambda: txn_data(self, log, 4, 0, value_size=60),
        ]
        for i, step in enumerate(steps):
            step()
            if checkpoint_after == i:
                self.successResultOf(log.flush())
                self.successResultOf(manager.checkpoint())
        image = os.path.join(temp_dir(self), "image")
        shutil.copytree(directory, image)
        self.assertFalse(cp.has_clean_shutdown(image))
        return image, _state(log)

    def restart(self, image: str) -> PartitionLog:
        manager = _manager(image)
        self.successResultOf(manager.load())
        self.addCleanup(manager.close)
        log = manager.get("t", 0)
        assert isinstance(log, PartitionLog)
        self.assertFalse(log.recovery.clean)
        return log

    def test_without_checkpoint(self) -> None:
        """Killed before any checkpoint: everything is recovered from the segments."""
        image, before = self.run_until_kill(None)
        self.assertEqual(_state(self.restart(image)), before)

    def test_after_checkpoints(self) -> None:
        """Killed after a flush and checkpoint mid-way: recovery from the recovery point agrees."""
        for point in range(8):
            image, before = self.run_until_kill(point)
            restarted = self.restart(image)
            after = _state(restarted)
            self.assertEqual(after, before, point)
            if point == 7:
                # The flushed segments were trusted, not recovered.
                recovered = len(restarted.recovery.recovered_segments)
                self.assertLess(recovered, len(restarted.segments))
            ongoing = after[1]
            assert isinstance(ongoing, list)
            self.assertEqual([pid for pid, _, _ in ongoing], [2, 4], point)
