"""Tests for opening logs: clean opens, unclean recovery, rebuilt indexes, real Kafka files."""

from __future__ import annotations

import os
import shutil

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage import checkpoints as cp
from kafkatwist.storage.loader import open_partition_log
from kafkatwist.wire.batch import iter_batches

from .support import (
    FIXTURE_LOGS,
    append,
    batch,
    headers,
    open_log,
    read_bytes,
    run_now,
    segment_file_bytes,
    temp_dir,
)

CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def _crash_image(case: SynchronousTestCase, config: LogConfig = CONFIG, **kwargs: object) -> str:
    """A partition dir copied while its log is still open, as a crash would leave it."""
    log = open_log(case, config=config, **kwargs)  # type: ignore[arg-type]
    for i in range(10):
        append(case, log, batch(1 + i % 3, value_size=40 + i, timestamp=1000 + i), epoch=i // 4)
    image = os.path.join(temp_dir(case), "image")
    shutil.copytree(log.directory, image)
    return image


def _restore(case: SynchronousTestCase, image: str) -> str:
    target = os.path.join(temp_dir(case), "topic-0")
    shutil.copytree(image, target)
    return target


def _last_segment(directory: str) -> str:
    return os.path.join(
        directory, sorted(n for n in os.listdir(directory) if n.endswith(".log"))[-1]
    )


class TornTailTests(SynchronousTestCase):
    """Unclean recovery cuts whatever follows the last valid batch."""

    def test_every_byte_of_the_last_batch(self) -> None:
        """Cut anywhere inside the last batch, recovery keeps exactly the batches before it."""
        image = _crash_image(self)
        last = _last_segment(image)
        with open(last, "rb") as f:
            data = f.read()
        positions = [pos for pos, _ in _batches(data)]
        start = positions[-1]
        last_base = headers(data[start:])[0].base_offset
        for cut in range(start, len(data)):
            directory = _restore(self, image)
            segment = _last_segment(directory)
            with open(segment, "r+b") as f:
                f.truncate(cut)
            log = open_log(self, directory, CONFIG, recover=True)
            self.assertEqual(log.log_end_offset, last_base, cut)
            self.assertEqual(os.path.getsize(segment), start, cut)
            if cut > start:
                [truncation] = log.recovery.truncations
                self.assertEqual(
                    (
                        truncation.file,
                        truncation.position,
                        truncation.offset,
                        truncation.bytes_removed,
                    ),
                    (segment, start, last_base, cut - start),
                )
            else:
                self.assertEqual(log.recovery.truncations, ())
            self.assertEqual(read_bytes(log, 0), segment_file_bytes(log))
            self.assertEqual(append(self, log, batch(1)).base_offset, last_base)
            self.successResultOf(log.close())

    def test_corrupt_crc_in_last_batch(self) -> None:
        """A batch whose CRC does not match is cut with everything after it."""
        directory = _restore(self, _crash_image(self))
        segment = _last_segment(directory)
        with open(segment, "rb") as f:
            data = f.read()
        start = [pos for pos, _ in _batches(data)][-1]
        corrupt = bytearray(data)
        corrupt[start + 70] ^= 0x01
        with open(segment, "wb") as f:
            f.write(corrupt)
        log = open_log(self, directory, CONFIG, recover=True)
        [truncation] = log.recovery.truncations
        self.assertIn("CRC", truncation.reason)
        self.assertEqual(truncation.position, start)
        self.assertEqual(os.path.getsize(segment), start)

    def test_zero_filled_tail(self) -> None:
        """Zeros after the last batch (a preallocated or unwritten tail) are cut."""
        directory = _restore(self, _crash_image(self))
        segment = _last_segment(directory)
        size = os.path.getsize(segment)
        with open(segment, "ab") as f:
            f.write(bytes(4096))
        log = open_log(self, directory, CONFIG, recover=True)
        [truncation] = log.recovery.truncations
        self.assertEqual((truncation.position, truncation.bytes_removed), (size, 4096))
        self.assertIn("length 0", truncation.reason)

    def test_corrupt_middle_segment_deletes_later_ones(self) -> None:
        """Corruption in an older unflushed segment truncates it and removes the later segments."""
        directory = _restore(self, _crash_image(self))
        names = sorted(n for n in os.listdir(directory) if n.endswith(".log"))
        self.assertGreater(len(names), 2)
        first = os.path.join(directory, names[0])
        with open(first, "rb") as f:
            second_batch = _batches(f.read())[1][0]
        with open(first, "r+b") as f:
            f.seek(second_batch + 30)
            f.write(b"\xff\xff")
        log = open_log(self, directory, CONFIG, recover=True)
        self.assertEqual(len(log.segments), 1)
        self.assertEqual(len(log.recovery.deleted_segments), len(names) - 1)
        self.assertEqual([n for n in os.listdir(directory) if n.endswith(".log")], [names[0]])
        self.assertEqual(log.log_end_offset, 1)
        self.assertEqual(log.recovery.truncations[0].position, second_batch)
        info = append(self, log, batch(1))
        self.assertEqual(info.base_offset, log.log_end_offset - 1)

    def test_recovery_point_limits_the_scan(self) -> None:
        """Only segments holding offsets at or after the recovery point are validated."""
        image = _crash_image(self)
        directory = _restore(self, image)
        bases: list[int] = []
        for name in os.listdir(directory):
            if name.endswith(".log"):
                offset = cp.offset_from_file_name(name)
                assert offset is not None, name
                bases.append(offset)
        bases.sort()
        log = open_log(self, directory, CONFIG, recover=True, recovery_point=bases[-1])
        self.assertEqual(len(log.recovery.recovered_segments), 1)
        self.assertEqual(log.recovery_point, bases[-1])
        self.assertEqual(read_bytes(log, 0), segment_file_bytes(log))


class IndexRepairTests(SynchronousTestCase):
    """Clean opens trust the files but rebuild missing or corrupt indexes."""

    def _closed_log(self) -> tuple[str, bytes]:
        log = open_log(self, config=CONFIG)
        for i in range(10):
            append(self, log, batch(2, value_size=40, timestamp=1000 + i))
        self.successResultOf(log.close())
        first = log.segments[0]
        with open(first.index_path, "rb") as f:
            return log.directory, f.read()

    def test_clean_open_scans_nothing(self) -> None:
        """A cleanly closed log opens without validating or rebuilding anything."""
        directory, _ = self._closed_log()
        log = open_log(self, directory, CONFIG)
        report = log.recovery
        self.assertTrue(report.clean)
        self.assertEqual((report.recovered_segments, report.rebuilt_indexes), ((), ()))
        self.assertEqual((log.log_end_offset, log.recovery_point), (20, 20))

    def test_missing_indexes_rebuilt(self) -> None:
        """Deleted index files are rebuilt, byte for byte as they were."""
        directory, index_bytes = self._closed_log()
        for name in os.listdir(directory):
            if name.endswith((".index", ".timeindex")):
                os.unlink(os.path.join(directory, name))
        log = open_log(self, directory, CONFIG)
        self.assertEqual(len(log.recovery.rebuilt_indexes), len(log.segments))
        with open(log.segments[0].index_path, "rb") as f:
            self.assertEqual(f.read(), index_bytes)
        self.assertEqual(headers(read_bytes(log, 13))[0].base_offset, 12)

    def test_corrupt_index_rebuilt(self) -> None:
        """An index whose entries point outside the log is rebuilt."""
        directory, index_bytes = self._closed_log()
        path = os.path.join(directory, cp.file_name(0, ".index"))
        with open(path, "wb") as f:
            f.write(b"\x00\x00\x00\x05\x7f\x00\x00\x00")
        log = open_log(self, directory, CONFIG)
        self.assertEqual(log.recovery.rebuilt_indexes, (log.segments[0].log_path,))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), index_bytes)

    def test_leftovers_removed(self) -> None:
        """.deleted files and index files without a segment are removed on open."""
        directory, _ = self._closed_log()
        for name in ("00000000000000000099.log.deleted", "00000000000000000777.index"):
            open(os.path.join(directory, name), "wb").close()
        open_log(self, directory, CONFIG)
        names = os.listdir(directory)
        self.assertNotIn("00000000000000000099.log.deleted", names)
        self.assertNotIn("00000000000000000777.index", names)


class StateRecoveryTests(SynchronousTestCase):
    """Leader epochs and producer state after a crash."""

    def test_epochs_rebuilt_and_truncated(self) -> None:
        """Recovery re-derives epochs from batches and drops entries beyond the log end."""
        directory = _restore(self, _crash_image(self))
        with open(os.path.join(directory, cp.LEADER_EPOCH_CHECKPOINT), "w") as f:
            f.write("0\n2\n0 0\n9 100000\n")
        log = open_log(self, directory, CONFIG, recover=True)
        self.assertEqual(
            log.epoch_entries,
            (cp.EpochEntry(0, 0), cp.EpochEntry(1, 7), cp.EpochEntry(2, 15)),
        )

    def test_producer_state_from_snapshot_and_replay(self) -> None:
        """Producer state comes back from the latest snapshot plus the batches after it."""
        table = ProducerStateTable()
        log = open_log(self, config=CONFIG, producer_state=table)
        for i in range(12):
            pid = 100 + i % 3
            data = batch(
                2, value_size=60, producer_id=pid, producer_epoch=0, base_sequence=2 * (i // 3)
            )
            append(self, log, data)
        snapshots = [n for n in os.listdir(log.directory) if n.endswith(".snapshot")]
        self.assertTrue(snapshots)
        directory = os.path.join(temp_dir(self), "copy")
        shutil.copytree(log.directory, directory)
        restored = ProducerStateTable()
        open_log(self, directory, CONFIG, recover=True, producer_state=restored)
        self.assertEqual(restored.snapshot_entries(), table.snapshot_entries())

    def test_corrupt_snapshot_falls_back(self) -> None:
        """A corrupt latest snapshot is deleted and the state rebuilt from earlier data."""
        table = ProducerStateTable()
        log = open_log(self, config=CONFIG, producer_state=table)
        for i in range(12):
            data = batch(2, value_size=60, producer_id=5, producer_epoch=0, base_sequence=2 * i)
            append(self, log, data)
        directory = os.path.join(temp_dir(self), "copy")
        shutil.copytree(log.directory, directory)
        latest = sorted(n for n in os.listdir(directory) if n.endswith(".snapshot"))[-1]
        with open(os.path.join(directory, latest), "r+b") as f:
            f.seek(20)
            f.write(b"\xee")
        with open(os.path.join(directory, cp.file_name(10**6, ".snapshot")), "wb") as f:
            f.write(cp.encode_producer_snapshot([]))
        restored = ProducerStateTable()
        reopened = open_log(self, directory, CONFIG, recover=True, producer_state=restored)
        self.assertEqual(restored.snapshot_entries(), table.snapshot_entries())
        self.assertEqual(len(reopened.recovery.notes), 1)
        self.assertNotIn(cp.file_name(10**6, ".snapshot"), os.listdir(directory))


class RealFilesTests(SynchronousTestCase):
    """Logs written by other programs."""

    def test_kafka_fixture(self) -> None:
        """A partition written by Kafka 4.0 (no index files) opens, reads back, takes appends."""
        source = os.path.join(FIXTURE_LOGS, "foo-0")
        if not os.path.isdir(source):
            raise self.skipTest("the Kafka fixture is not present")
        directory = os.path.join(temp_dir(self), "foo-0")
        shutil.copytree(source, directory)
        os.chmod(directory, 0o755)
        for name in os.listdir(directory):
            os.chmod(os.path.join(directory, name), 0o644)
        with open(os.path.join(source, "00000000000000000000.log"), "rb") as f:
            original = f.read()
        log = open_partition_log(
            directory, "foo", 0, LogConfig(), clock=Clock(), run_blocking=run_now, recover=True
        )
        self.addCleanup(log.close)
        self.assertEqual((log.log_start_offset, log.log_end_offset), (0, 1))
        self.assertEqual(read_bytes(log, 0), original)
        self.assertEqual(log.epoch_entries, (cp.EpochEntry(0, 0),))
        self.assertEqual(self.successResultOf(log.offset_for_timestamp(0)).timestamp, 1726045973899)  # type: ignore[union-attr]
        self.assertTrue(os.path.exists(os.path.join(directory, "00000000000000000000.index")))
        self.assertEqual(append(self, log, batch(1)).base_offset, 1)

    def test_empty_segment_without_indexes(self) -> None:
        """The CodeCrafters layout, an empty segment and no index files, opens as an empty log."""
        directory = os.path.join(temp_dir(self), "bar-0")
        os.makedirs(directory)
        open(os.path.join(directory, "00000000000000000000.log"), "wb").close()
        for recover in (False, True):
            log = open_log(self, directory, recover=recover)
            self.assertEqual((log.log_start_offset, log.log_end_offset), (0, 0))
            self.assertEqual(self.successResultOf(log.read(0, 100)).size, 0)
            self.successResultOf(log.close())
        log = open_log(self, directory)
        self.assertEqual(append(self, log, batch(2)).last_offset, 1)

    def test_batches_without_indexes(self) -> None:
        """A segment of batches without index files (as test harnesses write) is indexed."""
        directory = os.path.join(temp_dir(self), "baz-0")
        os.makedirs(directory)
        data = b"".join(
            bytes(batch(2, value_size=300, base_offset=2 * i, timestamp=10 * i)) for i in range(30)
        )
        with open(os.path.join(directory, "00000000000000000000.log"), "wb") as f:
            f.write(data)
        log = open_log(self, directory, LogConfig(index_interval_bytes=1000))
        self.assertEqual(log.log_end_offset, 60)
        self.assertGreater(log.segments[0].offset_index.entries, 5)
        self.assertEqual(headers(read_bytes(log, 41, 1))[0].base_offset, 40)
        self.assertEqual(self.successResultOf(log.offset_for_timestamp(95)).offset, 20)  # type: ignore[union-attr]


def _batches(data: bytes) -> list[tuple[int, object]]:
    return list(iter_batches(data))
