"""Tests for kafkatwist.storage.manager: loading, creation, deletion, periodic work, shutdown."""

from __future__ import annotations

import os
import shutil

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.manager import LogManager, parse_partition_dir

from .support import (
    FIXTURE_LOGS,
    ManualRunBlocking,
    append,
    batch,
    headers,
    read_bytes,
    run_now,
    temp_dir,
)

SMALL = LogConfig(segment_bytes=500, index_interval_bytes=100)


def _manager(
    case: SynchronousTestCase, dirs: list[str], clock: Clock | None = None, **kwargs: object
) -> LogManager:
    manager = LogManager(
        dirs,
        kwargs.pop("log_config", lambda topic: SMALL),  # type: ignore[arg-type]
        clock=clock or Clock(),
        run_blocking=kwargs.pop("run_blocking", run_now),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )
    return manager


def _filled(case: SynchronousTestCase, directory: str) -> LogManager:
    manager = _manager(case, [directory])
    case.successResultOf(manager.load())
    for partition in range(3):
        log = manager.create("orders", partition, SMALL)
        for i in range(6):
            append(case, log, batch(2, value_size=40, timestamp=1000 + i), epoch=1)
    return manager


class LoadTests(SynchronousTestCase):
    """Loading log dirs at start-up."""

    def test_clean_shutdown_round_trip(self) -> None:
        """Close writes checkpoints and the marker; the next load trusts the files, removes it."""
        directory = temp_dir(self)
        manager = _filled(self, directory)
        ends = {key: manager.get(*key).log_end_offset for key in manager.partitions()}  # type: ignore[union-attr]
        self.successResultOf(manager.close())
        self.assertTrue(cp.has_clean_shutdown(directory))
        points = cp.read_offset_checkpoint(os.path.join(directory, cp.RECOVERY_POINT_CHECKPOINT))
        self.assertEqual(points, ends)
        again = _manager(self, [directory])
        self.successResultOf(again.load())
        self.assertFalse(cp.has_clean_shutdown(directory))
        for key, end in ends.items():
            log = again.get(*key)
            assert log is not None
            self.assertTrue(log.recovery.clean)
            self.assertEqual(log.recovery.recovered_segments, ())
            self.assertEqual(log.log_end_offset, end)
        self.successResultOf(again.close())

    def test_unclean_load_recovers_and_logs(self) -> None:
        """Without the marker every partition is recovered and each truncation is logged."""
        directory = temp_dir(self)
        manager = _filled(self, directory)
        log = manager.get("orders", 1)
        assert log is not None
        self.successResultOf(manager.checkpoint())
        image = os.path.join(temp_dir(self), "image")
        shutil.copytree(directory, image)
        self.successResultOf(manager.close())
        segment = sorted(
            n for n in os.listdir(os.path.join(image, "orders-1")) if n.endswith(".log")
        )[-1]
        path = os.path.join(image, "orders-1", segment)
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size - 3)
        again = _manager(self, [image])
        with capturedLogs() as events:
            self.successResultOf(again.load())
        recovered = again.get("orders", 1)
        assert recovered is not None
        self.assertFalse(recovered.recovery.clean)
        self.assertEqual(recovered.log_end_offset, 10)
        messages = [e for e in events if "truncated" in e.get("log_format", "")]
        self.assertEqual(len(messages), 1)
        self.assertEqual(
            (messages[0]["file"], messages[0]["offset"], messages[0]["name"]),
            (path, 10, "orders-1"),
        )
        self.assertEqual(again.get("orders", 0).log_end_offset, 12)  # type: ignore[union-attr]
        self.successResultOf(again.close())

    def test_skips_metadata_and_removes_deleted_dirs(self) -> None:
        """__cluster_metadata-0 is left alone; -delete dirs are removed; other names are ignored."""
        directory = temp_dir(self)
        metadata = os.path.join(directory, "__cluster_metadata-0")
        os.makedirs(metadata)
        with open(os.path.join(metadata, "00000000000000000000.log"), "wb") as f:
            f.write(b"not ours")
        os.makedirs(os.path.join(directory, "gone-0.0123456789abcdef0123456789abcdef-delete"))
        os.makedirs(os.path.join(directory, "lost+found"))
        manager = _manager(self, [directory])
        self.successResultOf(manager.load())
        self.assertEqual(manager.partitions(), [])
        self.assertEqual(os.listdir(metadata), ["00000000000000000000.log"])
        self.assertNotIn("gone-0.0123456789abcdef0123456789abcdef-delete", os.listdir(directory))

    def test_bounded_recovery_pool(self) -> None:
        """No more than recovery_threads_per_data_dir partitions of a dir are opened at once."""
        directory = temp_dir(self)
        for p in range(5):
            os.makedirs(os.path.join(directory, f"t-{p}"))
        manual = ManualRunBlocking()
        manager = _manager(self, [directory], run_blocking=manual, recovery_threads_per_data_dir=2)
        d = manager.load()
        manual.run_one()  # the directory scan
        self.assertEqual(len(manual.pending), 2)
        manual.run_all()
        self.successResultOf(d)
        self.assertEqual(len(manager.partitions()), 5)

    def test_kafka_fixture(self) -> None:
        """The real Kafka 4.0 log dir loads: foo-0 is recovered, the metadata log untouched."""
        if not os.path.isdir(FIXTURE_LOGS):
            raise self.skipTest("the Kafka fixture is not present")
        directory = os.path.join(temp_dir(self), "logs")
        shutil.copytree(FIXTURE_LOGS, directory)
        for root, _, files in os.walk(directory):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        manager = _manager(self, [directory], log_config=lambda topic: LogConfig())
        self.successResultOf(manager.load())
        self.assertEqual(manager.partitions(), [("foo", 0)])
        log = manager.get("foo", 0)
        assert log is not None
        self.assertEqual(log.log_end_offset, 1)
        self.assertEqual(headers(read_bytes(log, 0))[0].records_count, 1)
        self.assertEqual(
            sorted(os.listdir(os.path.join(directory, "__cluster_metadata-0"))),
            ["00000000000000000000.log", "partition.metadata"],
        )
        self.successResultOf(manager.close())


class CreateDeleteTests(SynchronousTestCase):
    """Creating and deleting partitions."""

    def test_create_layout_and_overrides(self) -> None:
        """create makes <dir>/<topic>-<partition> with an empty segment and the given config."""
        directory = temp_dir(self)
        manager = _manager(self, [directory])
        self.successResultOf(manager.load())
        config = LogConfig.from_topic_configs(
            SMALL, {"retention.ms": "1234", "segment.bytes": "1048576"}
        )
        log = manager.create("events", 3, config)
        self.assertEqual(log.directory, os.path.join(directory, "events-3"))
        self.assertEqual((log.config.retention_ms, log.config.segment_bytes), (1234, 1048576))
        self.assertIn("00000000000000000000.log", os.listdir(log.directory))
        self.assertIs(manager.create("events", 3, SMALL), log)
        self.successResultOf(manager.close())

    def test_spreads_over_dirs(self) -> None:
        """New partitions go to the log dir holding the fewest."""
        dirs = [temp_dir(self), temp_dir(self)]
        manager = _manager(self, dirs)
        self.successResultOf(manager.load())
        placed = [
            manager.log_dir_of("t", manager.create("t", p, SMALL).partition) for p in range(4)
        ]
        self.assertEqual(placed, [dirs[0], dirs[1], dirs[0], dirs[1]])
        self.successResultOf(manager.close())

    def test_log_config_callable_and_update(self) -> None:
        """Logs opened at load take the log_config callable's config; update_config replaces it."""
        directory = temp_dir(self)
        configs = {"a": LogConfig(flush_messages=1)}
        first = _manager(self, [directory])
        self.successResultOf(first.load())
        first.create("a", 0, SMALL)
        first.create("b", 0, SMALL)
        self.successResultOf(first.close())
        manager = _manager(self, [directory], log_config=lambda t: configs.get(t, SMALL))
        self.successResultOf(manager.load())
        self.assertEqual(manager.get("a", 0).config.flush_messages, 1)  # type: ignore[union-attr]
        self.assertEqual(manager.get("b", 0).config, SMALL)  # type: ignore[union-attr]
        manager.update_config("a", LogConfig(flush_messages=5))
        self.assertEqual(manager.get("a", 0).config.flush_messages, 5)  # type: ignore[union-attr]
        self.assertEqual(manager.get("b", 0).config, SMALL)  # type: ignore[union-attr]
        self.successResultOf(manager.close())

    def test_delete_topic(self) -> None:
        """delete_topic closes the logs and removes their dirs."""
        directory = temp_dir(self)
        manager = _filled(self, directory)
        manager.create("keep", 0, SMALL)
        self.successResultOf(manager.delete_topic("orders"))
        self.assertIsNone(manager.get("orders", 0))
        self.assertEqual(sorted(os.listdir(directory)), ["keep-0"])
        self.successResultOf(manager.close())
        points = cp.read_offset_checkpoint(os.path.join(directory, cp.RECOVERY_POINT_CHECKPOINT))
        self.assertEqual(list(points), [("keep", 0)])


class PeriodicTests(SynchronousTestCase):
    """Retention, flushes and checkpoints on the injected clock."""

    def test_retention_and_checkpoints(self) -> None:
        """The periodic service applies retention and writes checkpoints as the clock advances."""
        clock = Clock()
        directory = temp_dir(self)
        config = LogConfig(segment_bytes=500, retention_ms=60_000, file_delete_delay_ms=0)
        manager = _manager(self, [directory], clock=clock)
        self.successResultOf(manager.load())
        log = manager.create("old", 0, config)
        for i in range(8):
            append(self, log, batch(2, value_size=60, timestamp=i))
        segments = len(log.segments)
        self.assertGreater(segments, 2)
        manager.start_periodic()
        clock.advance(60)
        starts = cp.read_offset_checkpoint(os.path.join(directory, cp.LOG_START_OFFSET_CHECKPOINT))
        self.assertEqual(starts, {("old", 0): 0})
        clock.advance(300)
        self.assertEqual(len(log.segments), 1)
        self.assertEqual(log.log_start_offset, log.log_end_offset)
        clock.advance(60)
        starts = cp.read_offset_checkpoint(os.path.join(directory, cp.LOG_START_OFFSET_CHECKPOINT))
        self.assertEqual(starts, {("old", 0): 16})
        self.successResultOf(manager.close())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_flush_ms(self) -> None:
        """Logs whose flush.ms elapsed are flushed by the periodic check."""
        clock = Clock()
        directory = temp_dir(self)
        config = LogConfig(flush_ms=5000)
        manager = _manager(self, [directory], clock=clock, initial_task_delay_ms=0)
        self.successResultOf(manager.load())
        log = manager.create("f", 0, config)
        append(self, log, batch(1), now_ms=0)
        manager.start_periodic()
        clock.advance(4)
        self.assertEqual(log.recovery_point, 0)
        clock.advance(1)
        self.assertEqual(log.recovery_point, 1)
        self.successResultOf(manager.close())

    def test_initial_delay(self) -> None:
        """The first periodic run waits InitialTaskDelayMs (30 s), as Kafka's scheduler does."""
        clock = Clock()
        directory = temp_dir(self)
        config = LogConfig(segment_bytes=500, retention_ms=60_000, file_delete_delay_ms=0)
        manager = _manager(self, [directory], clock=clock)
        self.successResultOf(manager.load())
        log = manager.create("old", 0, config)
        for i in range(8):
            append(self, log, batch(2, value_size=60, timestamp=i))
        clock.advance(1_000_000)  # every segment is now far past retention.ms
        segments = len(log.segments)
        manager.start_periodic()
        clock.advance(29.9)
        self.assertEqual(len(log.segments), segments)
        clock.advance(0.1)
        self.assertEqual(len(log.segments), 1)
        self.successResultOf(manager.close())
        self.assertEqual(clock.getDelayedCalls(), [])


class CloseTests(SynchronousTestCase):
    """Shutdown."""

    def test_offline_log_means_no_marker(self) -> None:
        """A dir with a log that failed writes gets checkpoints but no clean-shutdown marker."""
        directory = temp_dir(self)
        manager = _filled(self, directory)
        log = manager.get("orders", 0)
        assert log is not None
        log._go_offline("test: disk gone")
        self.successResultOf(manager.close())
        self.assertFalse(cp.has_clean_shutdown(directory))
        self.flushLoggedErrors()


class NameTests(SynchronousTestCase):
    """Partition dir names."""

    def test_parse(self) -> None:
        """<topic>-<partition> parses, including topics with dashes; other names do not."""
        self.assertEqual(parse_partition_dir("my-topic-12"), ("my-topic", 12))
        self.assertIsNone(parse_partition_dir("foo-x"))
        self.assertIsNone(parse_partition_dir("foo-0.abcdef-future"))
        self.assertIsNone(parse_partition_dir("lost+found"))
