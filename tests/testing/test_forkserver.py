"""Tests for L{kafkatwist.testing.forkserver}'s view of a child process."""

from __future__ import annotations

import subprocess

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.testing.forkserver import alive, running


class RunningTests(SynchronousTestCase):
    def test_reaped_between_open_and_read(self) -> None:
        """A process reaped after its stat file was opened has ended (its read fails: ESRCH)."""
        proc = subprocess.Popen(["sleep", "30"])
        self.addCleanup(proc.wait)
        with open(f"/proc/{proc.pid}/stat", encoding="ascii") as stat:
            proc.kill()
            proc.wait()
            self.assertFalse(running(stat))

    def test_runs_then_ends(self) -> None:
        """A sleeping process runs; once killed and reaped it does not."""
        proc = subprocess.Popen(["sleep", "30"])
        self.assertTrue(alive(proc.pid))
        proc.kill()
        proc.wait()
        self.assertFalse(alive(proc.pid))
