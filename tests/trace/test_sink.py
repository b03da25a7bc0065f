"""Tests for where the trace's lines go (L{kafkatwist.trace.sink})."""

from __future__ import annotations

import os

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.storage.kraft import run_now
from kafkatwist.trace.sink import FLUSH_CHARS, FileSink, LogSink
from tests.storage.support import ManualRunBlocking, temp_dir


class FileSinkTests(SynchronousTestCase):
    def setUp(self) -> None:
        # Not self.mktemp(): under pytest that writes into the checkout.
        self.directory = temp_dir(self)
        self.path = os.path.join(self.directory, "trace.jsonl")
        self.clock = Clock()

    def content(self) -> str:
        with open(self.path, encoding="utf-8") as f:
            return f.read()

    def test_lines_appended(self) -> None:
        """Lines wait for the interval, then go with their newlines; closing closes the file."""
        sink = FileSink(self.path, run_now, self.clock)
        sink.write('{"a":1}')
        sink.write('{"b":2}')
        self.assertFalse(os.path.exists(self.path))
        self.clock.advance(FileSink.interval)
        self.assertEqual(self.content(), '{"a":1}\n{"b":2}\n')
        sink.write('{"c":3}')
        self.successResultOf(sink.close())
        self.assertEqual(self.content(), '{"a":1}\n{"b":2}\n{"c":3}\n')
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_appends_to_an_existing_file(self) -> None:
        """The file is appended to, not truncated (a restart keeps the earlier trace)."""
        with open(self.path, "w", encoding="utf-8") as f:
            f.write("old\n")
        sink = FileSink(self.path, run_now, self.clock)
        sink.write("new")
        self.successResultOf(sink.close())
        self.assertEqual(self.content(), "old\nnew\n")

    def test_many_characters_go_at_once(self) -> None:
        """A megabyte of lines waiting starts a job without waiting for the interval."""
        jobs = ManualRunBlocking()
        sink = FileSink(self.path, jobs, self.clock)
        sink.write("x" * (FLUSH_CHARS - 10))
        self.assertEqual(jobs.pending, [])
        sink.write("y" * 10)
        self.assertEqual(len(jobs.pending), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_lines_wait_for_the_writer_then_go_together(self) -> None:
        """While a job writes, lines wait; one later job writes them all."""
        jobs = ManualRunBlocking()
        sink = FileSink(self.path, jobs, self.clock)
        sink.write("1")
        self.clock.advance(FileSink.interval)
        sink.write("2")
        sink.write("3")
        self.assertEqual(len(jobs.pending), 1)
        jobs.run_one()
        self.assertEqual(jobs.pending, [])
        self.clock.advance(FileSink.interval)
        self.assertEqual(len(jobs.pending), 1)
        jobs.run_one()
        self.assertEqual(self.content(), "1\n2\n3\n")

    def test_close_waits_for_the_writer(self) -> None:
        """Close writes what waits at once and fires once it is written and the file closed."""
        jobs = ManualRunBlocking()
        sink = FileSink(self.path, jobs, self.clock)
        sink.write("1")
        self.clock.advance(FileSink.interval)
        sink.write("2")
        closed = sink.close()
        self.assertNoResult(closed)
        jobs.run_all()
        self.successResultOf(closed)
        self.assertEqual(self.content(), "1\n2\n")

    def test_drops_when_the_writer_lags(self) -> None:
        """Beyond max_pending characters, lines are dropped, then counted in a line."""
        jobs = ManualRunBlocking()
        sink = FileSink(self.path, jobs, self.clock, max_pending=12)
        sink.write("first")
        self.clock.advance(FileSink.interval)  # "first" goes to the writer
        sink.write("123456")
        sink.write("7890123")  # over 12 waiting: dropped
        jobs.run_one()
        sink.write("after")
        self.clock.advance(FileSink.interval)
        jobs.run_all()
        self.assertEqual(self.content(), 'first\n123456\n{"kind": "dropped", "lines": 1}\nafter\n')

    def test_write_failure_logged_once(self) -> None:
        """A file that cannot be written is logged once; writing goes on (and fails) quietly."""
        path = os.path.join(self.directory, "missing-dir", "trace.jsonl")
        sink = FileSink(path, run_now, self.clock)
        with capturedLogs() as events:
            sink.write("1")
            self.clock.advance(FileSink.interval)
            sink.write("2")
            self.clock.advance(FileSink.interval)
        self.assertEqual(len([e for e in events if e.get("log_failure") is not None]), 1)
        self.assertEqual(len(self.flushLoggedErrors(FileNotFoundError)), 1)
        self.successResultOf(sink.close())


class LogSinkTests(SynchronousTestCase):
    def test_one_event_per_line(self) -> None:
        """Each line is one log event of namespace kafkatwist.trace that formats as the line."""
        with capturedLogs() as events:
            LogSink().write('{"kind":"request","body":{"Topics":[]}}')
        self.assertEqual([e["log_namespace"] for e in events], ["kafkatwist.trace"])
        self.assertEqual(formatEvent(events[0]), '{"kind":"request","body":{"Topics":[]}}')
        self.successResultOf(LogSink().close())
