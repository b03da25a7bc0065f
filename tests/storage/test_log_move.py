"""Moving a partition's log between log dirs (kafkatwist.storage.log_move, AlterReplicaLogDirs)."""

from __future__ import annotations

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import alter_replica_log_dirs, describe_log_dirs
from kafkatwist.clock import RunBlocking
from kafkatwist.config.log_config import LogConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_replica_log_dirs import (
    AlterReplicaLogDir,
    AlterReplicaLogDirsRequest,
    AlterReplicaLogDirTopic,
)
from kafkatwist.messages.describe_log_dirs import DescribeLogDirsRequest
from kafkatwist.storage.log_move import MOVING_MARKER, sync_tree
from kafkatwist.storage.manager import LogManager
from kafkatwist.wire import schema
from tests.brokers import call, make_broker
from tests.storage.support import (
    ManualRunBlocking,
    append_batches,
    batch,
    fired,
    run_now,
    stored_batches,
    temp_dir,
)


def manager(dirs: list[str], run_blocking: RunBlocking = run_now) -> LogManager:
    """A log manager over C{dirs}, loaded when its jobs run at once."""
    logs = LogManager(dirs, lambda _: LogConfig(), clock=Clock(), run_blocking=run_blocking)
    loading = logs.load()
    if run_blocking is run_now:
        fired(loading)
    return logs


class LogMoveTests(SynchronousTestCase):
    def setUp(self) -> None:
        root = temp_dir(self)
        self.dirs = [os.path.join(root, "a"), os.path.join(root, "b")]

    def test_move_keeps_data_and_appends(self) -> None:
        """Batches appended during the copy are in the moved log; the old dir is gone."""
        jobs = ManualRunBlocking()
        logs = manager(self.dirs, jobs)
        jobs.run_all()
        log = logs.create("t", 0, LogConfig())
        self.assertEqual(logs.log_dir_of("t", 0), self.dirs[0])
        for _ in range(3):
            append_batches(log, batch(5))
        jobs.run_all()
        moving = logs.move_replica("t", 0, self.dirs[1])
        copy, copied = jobs.pending.pop(0)
        copy()  # the bulk copy, while the log is live
        fired(append_batches(log, batch(2)))  # appended after the copy: caught up later
        jobs.run_all()
        copied.callback(None)
        jobs.run_all()
        fired(moving)
        moved = logs.get("t", 0)
        assert moved is not None
        self.assertIsNot(moved, log)
        self.assertEqual(logs.log_dir_of("t", 0), self.dirs[1])
        self.assertEqual(moved.directory, os.path.join(self.dirs[1], "t-0"))
        self.assertEqual(moved.log_end_offset, 17)
        jobs.run_all()
        self.assertEqual(len(stored_batches(moved)), 4)
        self.assertFalse(os.path.exists(os.path.join(self.dirs[0], "t-0")))
        self.assertEqual([n for n in os.listdir(self.dirs[0]) if n.startswith("t-")], [])
        # the old log refuses appends (retriable), the new one takes them
        failure = self.failureResultOf(append_batches(log, batch(1)))
        self.assertEqual(failure.value.code, ErrorCode.KAFKA_STORAGE_ERROR)
        fired(append_batches(moved, batch(1)))
        jobs.run_all()
        self.assertEqual(moved.log_end_offset, 18)
        closing = logs.close()
        jobs.run_all()
        fired(closing)
        # a restart finds the partition in its new dir only
        again = manager(self.dirs)
        self.assertEqual(again.log_dir_of("t", 0), self.dirs[1])
        reopened = again.get("t", 0)
        assert reopened is not None
        self.assertEqual(reopened.log_end_offset, 18)
        fired(again.close())

    def test_move_to_same_dir_is_nothing(self) -> None:
        """Moving a log to the dir it is in changes nothing."""
        logs = manager(self.dirs)
        log = logs.create("t", 0, LogConfig())
        fired(logs.move_replica("t", 0, self.dirs[0]))
        self.assertIs(logs.get("t", 0), log)
        fired(logs.close())

    def test_crash_after_commit(self) -> None:
        """A source dir with the marker whose target holds the partition is removed at load."""
        logs = manager(self.dirs)
        fired(append_batches(logs.create("t", 0, LogConfig()), batch(4)))
        fired(logs.close())
        source = os.path.join(self.dirs[0], "t-0")
        sync_tree(source, os.path.join(self.dirs[1], "t-0"))
        with open(os.path.join(source, MOVING_MARKER), "w") as f:
            f.write(self.dirs[1])
        again = manager(self.dirs)
        self.assertEqual(again.log_dir_of("t", 0), self.dirs[1])
        self.assertFalse(os.path.exists(source))
        log = again.get("t", 0)
        assert log is not None
        self.assertEqual(log.log_end_offset, 4)
        fired(again.close())

    def test_crash_before_commit(self) -> None:
        """An uncommitted future copy is removed at load, and the source stays the log."""
        logs = manager(self.dirs)
        fired(append_batches(logs.create("t", 0, LogConfig()), batch(4)))
        fired(logs.close())
        source = os.path.join(self.dirs[0], "t-0")
        future = os.path.join(self.dirs[1], "t-0.0123abcd-future")
        sync_tree(source, future)
        with open(os.path.join(source, MOVING_MARKER), "w") as f:
            f.write(self.dirs[1])
        again = manager(self.dirs)
        self.assertEqual(again.log_dir_of("t", 0), self.dirs[0])
        self.assertFalse(os.path.exists(future))
        self.assertFalse(os.path.exists(os.path.join(source, MOVING_MARKER)))
        log = again.get("t", 0)
        assert log is not None
        self.assertEqual(log.log_end_offset, 4)
        fired(again.close())


class AlterReplicaLogDirsTests(SynchronousTestCase):
    def setUp(self) -> None:
        root = temp_dir(self)
        self.dirs = [os.path.join(root, "a"), os.path.join(root, "b")]
        config = BrokerConfig(log_dirs=tuple(self.dirs))
        self.broker = make_broker(log_dir=self.dirs[0], config=config, log_dirs=self.dirs)
        self.successResultOf(self.broker.controller.create_topic("t", 2))

    def alter(
        self, path: str, topic: str, partitions: tuple[int, ...], version: int = 2
    ) -> list[tuple[int, int]]:
        request = AlterReplicaLogDirsRequest(
            dirs=(AlterReplicaLogDir(path, (AlterReplicaLogDirTopic(topic, partitions),)),)
        )
        response = self.successResultOf(
            call(self.broker, alter_replica_log_dirs.SPEC, request, version)
        )
        schema.encode_bytes(response, version)
        return [(p.partition_index, p.error_code) for r in response.results for p in r.partitions]

    def placed(self) -> dict[tuple[str, int], str]:
        response = self.successResultOf(
            call(self.broker, describe_log_dirs.SPEC, DescribeLogDirsRequest(topics=None), 4)
        )
        return {
            (t.name, p.partition_index): r.log_dir
            for r in response.results
            for t in r.topics
            for p in t.partitions
        }

    def test_move_and_describe(self) -> None:
        """A moved partition is described under its new dir; its records stay readable."""
        log = self.broker.logs.get("t", 0)
        assert log is not None
        fired(append_batches(log, batch(3)))
        source = self.broker.logs.log_dir_of("t", 0)
        target = next(d for d in self.dirs if d != source)
        self.assertEqual(self.alter(target + "/", "t", (0,)), [(0, 0)])
        self.assertEqual(self.placed()[("t", 0)], os.path.abspath(target))
        moved = self.broker.logs.get("t", 0)
        assert moved is not None
        self.assertEqual((moved.log_end_offset, len(stored_batches(moved))), (3, 1))
        # partition.metadata came along
        self.assertTrue(os.path.exists(os.path.join(target, "t-0", "partition.metadata")))

    def test_errors(self) -> None:
        """An unknown dir is LOG_DIR_NOT_FOUND; unknown partitions UNKNOWN_TOPIC_OR_PARTITION."""
        self.assertEqual(
            self.alter("/nowhere", "t", (0, 1), version=1),
            [(0, ErrorCode.LOG_DIR_NOT_FOUND), (1, ErrorCode.LOG_DIR_NOT_FOUND)],
        )
        self.assertEqual(
            self.alter(self.dirs[1], "t", (7,)), [(7, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
        )
        self.assertEqual(
            self.alter(self.dirs[1], "nope", (0,)), [(0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
        )

    def test_versions(self) -> None:
        """Versions 1-2 are served (Kafka 4 removed v0)."""
        spec = alter_replica_log_dirs.SPEC
        self.assertEqual((spec.versions.lowest, spec.versions.highest), (1, 2))
