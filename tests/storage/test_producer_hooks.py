"""Tests for a partition log's producer state hooks and producer snapshots."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage import checkpoints as cp
from kafkatwist.wire.batch import BatchHeader

from .support import (
    append,
    batch,
    open_log,
    temp_dir,
)


class ProducerHookTests(SynchronousTestCase):
    """The producer state hooks and snapshots."""

    def test_hook_sees_each_batch_with_assigned_offsets(self) -> None:
        """on_batch_appended is called once per batch with the batch's assigned base offset."""
        seen = []

        class Hook(ProducerStateTable):
            def on_batch_appended(self, header: BatchHeader, base_offset: int) -> None:
                seen.append((header.records_count, base_offset))
                super().on_batch_appended(header, base_offset)

        log = open_log(self, producer_state=Hook())
        append(self, log, batch(2) + batch(3))
        append(self, log, batch(1))
        self.assertEqual(seen, [(2, 0), (3, 2), (1, 5)])

    def test_snapshot_on_close_of_a_large_active_segment(self) -> None:
        """Closing a log whose active segment exceeds REPLAY_AT_LOAD_BYTES writes a snapshot."""
        directory = os.path.join(temp_dir(self), "topic-0")
        log = open_log(self, directory, producer_state=ProducerStateTable())
        for seq in range(0, 12, 3):
            append(
                self,
                log,
                batch(3, value_size=500, producer_id=7, producer_epoch=1, base_sequence=seq),
            )
        self.assertGreater(log.segments[-1].size, cp.REPLAY_AT_LOAD_BYTES)
        self.successResultOf(log.close())
        [entry] = cp.read_producer_snapshot(log.producer_snapshot_path(12))
        self.assertEqual(
            (entry.producer_epoch, entry.last_sequence, entry.last_offset), (1, 11, 11)
        )

    def test_small_active_segment_replays_instead_of_a_close_snapshot(self) -> None:
        """
        Snapshots are written on roll; closing with a small active segment writes none.

        See L{cp.REPLAY_AT_LOAD_BYTES}: the roll snapshot plus the small
        segment's batch headers give the same producer state when reopened.
        """
        table = ProducerStateTable()
        directory = os.path.join(temp_dir(self), "topic-0")
        log = open_log(self, directory, LogConfig(segment_bytes=300), producer_state=table)
        for seq in range(0, 12, 3):
            append(
                self,
                log,
                batch(3, value_size=40, producer_id=7, producer_epoch=1, base_sequence=seq),
            )
        rolled = log.segments[1].base_offset
        self.assertTrue(os.path.exists(log.producer_snapshot_path(rolled)))
        self.assertEqual(
            cp.read_producer_snapshot(log.producer_snapshot_path(rolled))[0].producer_id, 7
        )
        self.successResultOf(log.close())
        self.assertFalse(os.path.exists(log.producer_snapshot_path(12)))
        reopened = open_log(self, directory, LogConfig(segment_bytes=300))
        [entry] = reopened.producer_state.snapshot_entries()
        self.assertEqual(
            (entry.producer_epoch, entry.last_sequence, entry.last_offset), (1, 11, 11)
        )
        self.assertEqual(entry.offset_delta, 2)
