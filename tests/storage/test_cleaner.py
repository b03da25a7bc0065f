"""The log cleaner's pass over a real partition log (Kafka's ``Cleaner.clean``)."""

from __future__ import annotations

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage.checkpoints import (
    CLEANER_OFFSET_CHECKPOINT,
    CorruptCheckpointError,
    read_cleaner_offset_checkpoint,
    write_cleaner_offset_checkpoint,
)
from kafkatwist.storage.cleaner import DEFAULT_KERNELS, PYTHON_KERNELS
from kafkatwist.storage.loader import open_partition_log
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.wire.compression import GZIP, LZ4, NONE, SNAPPY, ZSTD

from .cleaner_support import (
    COMPACT,
    Decoded,
    clean,
    compacted_log,
    decode_files,
    decode_log,
    dir_names,
    fill,
    kv,
)
from .support import append, fired, run_now, temp_dir


def expected_after(before: list[Decoded], end: int) -> list[Decoded]:
    """What a pass ending at C{end} keeps: everything from C{end}, the latest per key below it."""
    latest: dict[bytes | None, int] = {}
    for r in before:
        if r.offset < end:
            latest[r.key] = max(latest.get(r.key, -1), r.offset)
    return [r for r in before if r.offset >= end or latest[r.key] == r.offset]


def facts(records: list[Decoded]) -> list[tuple[int, bytes | None, bytes | None, int]]:
    """Offset, key, value and timestamp of each record."""
    return [(r.offset, r.key, r.value, r.timestamp) for r in records]


class BasicCleaningTests(SynchronousTestCase):
    """Latest value per key, offsets preserved, readable by an independent decoder."""

    def test_latest_value_per_key_wins(self) -> None:
        """Below the cleaned end only each key's latest record stays, at its original offset."""
        log = compacted_log(self)
        fill(self, log, rounds=8, keys=10)
        self.assertGreater(len(log.segments), 3)
        before = decode_log(log)
        stats = clean(self, log)
        end = log.segments[-1].base_offset
        self.assertEqual(stats.first_dirty_offset_after, end)
        self.assertFalse(stats.aborted)
        self.assertEqual(facts(decode_log(log)), facts(expected_after(before, end)))

    def test_batches_keep_their_base_and_last_offsets(self) -> None:
        """A rebuilt batch keeps its base offset and last offset delta (Kafka's filterTo)."""
        log = compacted_log(self)
        fill(self, log, rounds=6, keys=8)
        original = {(r.batch_base, r.batch_last) for r in decode_log(log)}
        clean(self, log)
        for r in decode_log(log):
            self.assertIn((r.batch_base, r.batch_last), original)

    def test_active_segment_untouched(self) -> None:
        """The active segment's object and bytes stay as they were."""
        log = compacted_log(self)
        fill(self, log, rounds=6, keys=8)
        active = log.segments[-1]
        with open(active.log_path, "rb") as f:
            data = f.read()
        clean(self, log)
        self.assertIs(log.segments[-1], active)
        with open(active.log_path, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_compressed_batches(self) -> None:
        """Compressed batches are cleaned and recompressed with their own codec."""
        for codec in (GZIP, SNAPPY, LZ4, ZSTD):
            log = compacted_log(self)
            fill(self, log, rounds=8, keys=10, codec=codec, per_batch=5)
            before = decode_log(log)
            clean(self, log)
            end = log.segments[-1].base_offset
            after = decode_log(log)
            self.assertEqual(facts(after), facts(expected_after(before, end)), codec)
            self.assertEqual({r.codec for r in after}, {codec})

    def test_sizes_shrink_and_stats(self) -> None:
        """The stats count what was read and kept; the log gets smaller."""
        log = compacted_log(self)
        fill(self, log, rounds=10, keys=5)
        size = log.size_in_bytes
        stats = clean(self, log)
        self.assertLess(log.size_in_bytes, size)
        self.assertEqual(stats.bytes_read - stats.bytes_written, size - log.size_in_bytes)
        self.assertGreater(stats.records_read, stats.records_kept)
        self.assertEqual(stats.records_kept, len(decode_log(log)) - _active_records(log))

    def test_reopened_log_passes_the_loader_checks(self) -> None:
        """After cleaning, a reopened log rebuilds no index and reads and looks up as before."""
        log = compacted_log(self)
        fill(self, log, rounds=8, keys=10)
        clean(self, log)
        after = decode_log(log)
        directory = log.directory
        fired(log.close())
        reopened = open_partition_log(
            directory, "topic", 0, COMPACT, clock=Clock(), run_blocking=run_now, recover=False
        )
        self.addCleanup(reopened.close)
        self.assertEqual(reopened.recovery.rebuilt_indexes, ())
        self.assertEqual(facts(decode_log(reopened)), facts(after))
        for r in after:
            found = fired(reopened.offset_for_timestamp(r.timestamp))
            assert found is not None
            first = min(x.offset for x in after if x.timestamp >= r.timestamp)
            self.assertEqual(found.offset, first)
        for r in after:
            read = fired(reopened.read(r.offset, 1))
            self.assertEqual(len(read.buffers), 1)

    def test_recovery_of_a_cleaned_log(self) -> None:
        """A full recovery of the cleaned segments finds every batch valid."""
        log = compacted_log(self)
        fill(self, log, rounds=8, keys=10)
        clean(self, log)
        directory = log.directory
        fired(log.close())
        reopened = open_partition_log(
            directory, "topic", 0, COMPACT, clock=Clock(), run_blocking=run_now, recover=True
        )
        self.addCleanup(reopened.close)
        self.assertEqual(reopened.recovery.truncations, ())

    def test_no_cleaned_or_swap_files_remain(self) -> None:
        """After the pass only regular files and pending .deleted ones are there; those go later."""
        clock = Clock()
        config = LogConfig(segment_bytes=1024, cleanup_policy="compact", file_delete_delay_ms=1000)
        log = compacted_log(self, config, clock=clock)
        fill(self, log, rounds=6, keys=8)
        clean(self, log)
        names = dir_names(log)
        self.assertFalse([n for n in names if n.endswith((".cleaned", ".swap"))])
        self.assertTrue([n for n in names if n.endswith(".deleted")])
        clock.advance(1.0)
        self.assertFalse([n for n in dir_names(log) if n.endswith(".deleted")])

    def test_throttle_sees_every_byte(self) -> None:
        """The throttle is told of every chunk read and written."""
        log = compacted_log(self)
        fill(self, log, rounds=8, keys=10)
        seen: list[int] = []
        stats = clean(self, log, throttle=seen.append, io_buffer_bytes=700)
        total = stats.map_bytes_read + stats.bytes_read + stats.bytes_written
        self.assertGreaterEqual(sum(seen), total)
        self.assertGreater(len(seen), 10)

    def test_python_kernels_write_the_same_files(self) -> None:
        """The pure-Python kernels clean a log into byte-identical segments."""
        outputs = []
        for kernels in (DEFAULT_KERNELS, PYTHON_KERNELS):
            log = compacted_log(self)
            fill(self, log, rounds=6, keys=10, codec=GZIP)
            append(self, log, kv([(b"key-1", None)]))
            fill(self, log, rounds=2, keys=3)
            clean(self, log, kernels=kernels)
            data = []
            for segment in log.segments:
                with open(segment.log_path, "rb") as f:
                    data.append(f.read())
            outputs.append(data)
        self.assertEqual(outputs[0], outputs[1])

    def test_nothing_dirty(self) -> None:
        """A log whose dirty range is empty is left alone."""
        log = compacted_log(self)
        fill(self, log, rounds=2, keys=3)
        end = log.segments[-1].base_offset
        stats = clean(self, log, first_dirty_offset=end)
        self.assertEqual(stats.first_dirty_offset_after, end)
        self.assertEqual(stats.segments_cleaned, 0)

    def test_uncompressed_codec_recorded(self) -> None:
        """Uncompressed batches stay uncompressed."""
        log = compacted_log(self)
        fill(self, log, rounds=4, keys=4)
        clean(self, log)
        self.assertEqual({r.codec for r in decode_log(log)}, {NONE})


def _active_records(log: PartitionLog) -> int:
    """How many records the active segment holds."""
    return len(decode_files([log.segments[-1].log_path]))


class CleanerCheckpointTests(SynchronousTestCase):
    """``cleaner-offset-checkpoint``: Kafka's offset checkpoint format, one per log dir."""

    def test_format_and_round_trip(self) -> None:
        """Version 0, the count, then ``topic partition offset`` lines; read back as written."""
        log_dir = temp_dir(self)
        entries = {("topic", 0): 5, ("__consumer_offsets", 3): 17}
        write_cleaner_offset_checkpoint(log_dir, entries)
        with open(os.path.join(log_dir, CLEANER_OFFSET_CHECKPOINT), "rb") as f:
            self.assertEqual(f.read(), b"0\n2\n__consumer_offsets 3 17\ntopic 0 5\n")
        self.assertEqual(read_cleaner_offset_checkpoint(log_dir), entries)
        self.assertFalse([n for n in os.listdir(log_dir) if n.endswith(".tmp")])

    def test_missing_and_corrupt(self) -> None:
        """A missing file reads as empty; a malformed one is refused."""
        log_dir = temp_dir(self)
        self.assertEqual(read_cleaner_offset_checkpoint(log_dir), {})
        with open(os.path.join(log_dir, CLEANER_OFFSET_CHECKPOINT), "w") as f:
            f.write("0\n2\ntopic 0 5\n")
        self.assertRaises(CorruptCheckpointError, read_cleaner_offset_checkpoint, log_dir)
