"""offsets.retention.minutes runs on the injected clock, also for groups loaded at start."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.groups import records as rec
from kafkatwist.wire.record import decode_batch_records
from tests.brokers import log_of, metadata_of
from tests.groups.support import GroupBroker
from tests.storage.support import stored_batches

SETTINGS: dict[str, Any] = {
    "offsets_topic_num_partitions": 1,
    "offsets_retention_minutes": 60,
    "offsets_retention_check_interval_ms": 60_000,
}


class LoadedRetentionTests(SynchronousTestCase):
    def test_loaded_empty_group_offsets_expire_with_tombstones(self) -> None:
        """After a restart, advancing the Clock past retention expires loaded offsets and
        writes their tombstones (the offset, then the group)."""
        gb = GroupBroker(**SETTINGS)
        gb.topic("t", 2)
        self.successResultOf(gb.commit("idle", {("t", 0): 3, ("t", 1): 4}))
        self.successResultOf(gb.commit("fresh", {("t", 0): 5}))
        again = GroupBroker(logs=gb.broker.logs, log_dir=metadata_of(gb.broker).log_dir, **SETTINGS)
        self.successResultOf(again.coordinator.start())
        self.assertEqual(again.committed("idle", "t", [0, 1]), {0: 3, 1: 4})
        self.assertEqual(len(again.clock.getDelayedCalls()), 1)
        again.advance(59 * 60_000)
        self.assertEqual(again.committed("idle", "t", [0, 1]), {0: 3, 1: 4})
        again.advance(2 * 60_000)
        self.assertEqual(again.committed("idle", "t", [0, 1]), {0: -1, 1: -1})
        self.assertEqual(again.committed("fresh", "t", [0]), {0: -1})
        log = log_of(again.broker, rec.OFFSETS_TOPIC, 0)
        tombstones = [
            r.key
            for batch in stored_batches(log)
            for r in decode_batch_records(batch)
            if r.value is None
        ]
        self.assertEqual(
            sorted(tombstones),
            sorted(
                [
                    rec.offset_commit_key("idle", "t", 0),
                    rec.offset_commit_key("idle", "t", 1),
                    rec.group_metadata_key("idle"),
                    rec.offset_commit_key("fresh", "t", 0),
                    rec.group_metadata_key("fresh"),
                ]
            ),
        )
        # Nothing left to expire: the check is no longer armed.
        self.assertEqual(again.clock.getDelayedCalls(), [])
