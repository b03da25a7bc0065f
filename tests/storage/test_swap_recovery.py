"""A crash at any point of a cleaning pass loses nothing compaction keeps (LogLoader's rules)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.storage.cleaner import clean_log
from kafkatwist.storage.loader import open_partition_log
from kafkatwist.storage.partition_log import PartitionLog

from .cleaner_support import COMPACT, Decoded, clean, compacted_log, decode_files, decode_log, fill
from .support import run_now, temp_dir


class Crash(Exception):
    """The process died here."""


def facts(records: list[Decoded]) -> set[tuple[int, bytes | None, bytes | None]]:
    """Offset, key and value of each record."""
    return {(r.offset, r.key, r.value) for r in records}


class SwapCrashTests(SynchronousTestCase):
    """Copy the partition dir at each rename of a pass (a SIGKILL there) and reopen the copy."""

    def build(self) -> PartitionLog:
        """A compacted log with several segments and many superseded records."""
        log = compacted_log(self)
        fill(self, log, rounds=10, keys=12)
        return log

    def crash_at(self, n: int | None, mangle: Callable[[str], None] | None = None) -> str:
        """
        Run a pass on a fresh log, copying its dir just before the C{n}th rename (C{None}: after).

        @return: The copy.
        """
        log = self.build()
        copy = os.path.join(temp_dir(self), "topic-0")
        real_rename = os.rename
        count = [0]

        def rename(src: str, dst: str) -> None:
            if count[0] == n:
                shutil.copytree(log.directory, copy)
                raise Crash()
            count[0] += 1
            real_rename(src, dst)

        self.patch(os, "rename", rename)
        d = clean_log(
            log, first_dirty_offset=0, now_ms=10_000, offset_map_bytes=1 << 20, run_blocking=run_now
        )
        self.patch(os, "rename", real_rename)
        if n is None:
            self.successResultOf(d)
            shutil.copytree(log.directory, copy)
        else:
            self.failureResultOf(d, Crash)
        self.renames = count[0]
        if mangle is not None:
            mangle(copy)
        return copy

    def reopen(self, directory: str) -> PartitionLog:
        """Open a crashed copy as after an unclean shutdown."""
        log = open_partition_log(
            directory, "topic", 0, COMPACT, clock=Clock(), run_blocking=run_now, recover=True
        )
        self.addCleanup(lambda: log.close().addErrback(lambda _: None))
        return log

    def test_every_rename(self) -> None:
        """Before, during and after the swap: every kept record is there, nothing else is new."""
        reference = self.build()
        original = facts(decode_log(reference))
        clean(self, reference, now_ms=10_000)
        cleaned = facts(decode_log(reference))
        self.crash_at(None)
        total = self.renames
        self.assertGreater(total, 8)
        for n in range(total + 1):
            log = self.reopen(self.crash_at(n if n < total else None))
            found = decode_log(log)
            got = facts(found)
            self.assertTrue(cleaned <= got, n)
            self.assertTrue(got <= original, n)
            offsets = [r.offset for r in found]
            self.assertEqual(offsets, sorted(set(offsets)), n)
            names = os.listdir(log.directory)
            self.assertFalse([x for x in names if x.endswith((".cleaned", ".swap"))], n)
            self.assertEqual(log.recovery.truncations, (), n)

    def test_torn_cleaned_file_is_rolled_back(self) -> None:
        """A crash while the .cleaned log was written (a torn file) leaves the old segments."""

        def tear(directory: str) -> None:
            for name in os.listdir(directory):
                if name.endswith(".log.cleaned"):
                    path = os.path.join(directory, name)
                    os.truncate(path, os.path.getsize(path) // 2)

        reference = self.build()
        original = facts(decode_log(reference))
        log = self.reopen(self.crash_at(0, tear))
        self.assertEqual(facts(decode_log(log)), original)

    def test_recovered_swap_segment_is_whole(self) -> None:
        """A swap finished by the loader holds exactly the cleaned segment's records."""
        reference = self.build()
        clean(self, reference, now_ms=10_000)
        first = reference.segments[0]
        expected = decode_files([first.log_path])
        # Crash after the first group's old files were renamed .deleted, before its swap ends.
        log = self.build()
        copy = os.path.join(temp_dir(self), "topic-0")
        real_rename = os.rename

        def rename(src: str, dst: str) -> None:
            if src.endswith(".log.swap"):
                shutil.copytree(log.directory, copy)
                raise Crash()
            real_rename(src, dst)

        self.patch(os, "rename", rename)
        d = clean_log(
            log, first_dirty_offset=0, now_ms=10_000, offset_map_bytes=1 << 20, run_blocking=run_now
        )
        self.patch(os, "rename", real_rename)
        self.failureResultOf(d, Crash)
        names = os.listdir(copy)
        self.assertTrue([x for x in names if x.endswith(".log.swap")])
        self.assertTrue([x for x in names if x.endswith(".deleted")])
        recovered = self.reopen(copy)
        self.assertEqual(facts(decode_files([recovered.segments[0].log_path])), facts(expected))
        self.assertTrue(any("interrupted swap" in note for note in recovered.recovery.notes))
