"""Tests for LeadershipTracker: elections and resignations from the metadata image."""

from __future__ import annotations

import tempfile
import uuid

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.cluster.local import LeadershipTracker
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage.kraft import KRaftMetadataStore

TOPIC_ID = uuid.UUID("00000000-0000-0000-0000-0000000000b2")


class Recorder:
    """An ILeadershipListener that keeps what it was told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, int, int]] = []

    def on_election(self, topic: str, partition: int, leader_epoch: int) -> None:
        self.told.append(("elected", topic, partition, leader_epoch))

    def on_resignation(self, topic: str, partition: int) -> None:
        self.told.append(("resigned", topic, partition, -1))


class TrackerTests(SynchronousTestCase):
    """The tracker over a real metadata store (the file engine's, in a temporary directory)."""

    def setUp(self) -> None:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.store = KRaftMetadataStore(directory.name)
        self.successResultOf(self.store.load())
        self.prepared: list[tuple[str, int, int]] = []
        self.failures = 1

    def prepare(self, topic: str, partition: int, epoch: int) -> Deferred[object]:
        """Load the log: the first C{self.failures} attempts fail as with PostgreSQL away."""
        self.prepared.append((topic, partition, epoch))
        if self.failures:
            self.failures -= 1
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, "PostgreSQL is unavailable"))
        return succeed(None)

    def test_failed_prepare_is_retried(self) -> None:
        """An election whose prepare failed is not told, and the next change tries it again."""
        tracker = LeadershipTracker(self.store, 1, self.prepare)
        listener = Recorder()
        tracker.add_listener(listener)
        self.store.subscribe(tracker.changed)
        self.successResultOf(
            self.store.append(
                [
                    mr.TopicRecord(name="t", topic_id=TOPIC_ID),
                    mr.PartitionRecord(
                        partition_id=0,
                        topic_id=TOPIC_ID,
                        replicas=(1,),
                        isr=(1,),
                        removing_replicas=(),
                        adding_replicas=(),
                        leader=1,
                        leader_epoch=4,
                        partition_epoch=0,
                        directories=(),
                    ),
                ]
            )
        )
        self.assertEqual(listener.told, [])
        self.assertEqual(len(self.flushLoggedErrors(KafkaError)), 1)
        tracker.changed()
        self.assertEqual(listener.told, [("elected", "t", 0, 4)])
        self.assertEqual(self.prepared, [("t", 0, 4), ("t", 0, 4)])
        tracker.changed()
        self.assertEqual(len(self.prepared), 2)

    def test_settled_fires_once_the_elections_are_told(self) -> None:
        """C{settled} waits for the elections whose C{prepare} (a log load) is still running."""
        loading: Deferred[object] = Deferred()
        tracker = LeadershipTracker(self.store, 1, lambda topic, partition, epoch: loading)
        listener = Recorder()
        tracker.add_listener(listener)
        self.successResultOf(tracker.settled())
        self.successResultOf(
            self.store.append(
                [
                    mr.TopicRecord(name="t", topic_id=TOPIC_ID),
                    mr.PartitionRecord(
                        partition_id=0,
                        topic_id=TOPIC_ID,
                        replicas=(1,),
                        isr=(1,),
                        leader=1,
                        leader_epoch=3,
                    ),
                ]
            )
        )
        tracker.changed()
        settled = tracker.settled()
        self.assertNoResult(settled)
        loading.callback(None)
        self.successResultOf(settled)
        self.assertEqual(listener.told, [("elected", "t", 0, 3)])
