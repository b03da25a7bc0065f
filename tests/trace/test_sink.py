"""Tests for where the trace's lines go (L{kafkatwist.trace.sink})."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.trace.sink import FileSink, LogSink


class HeldJobs:
    """A C{run_blocking} whose jobs wait until the test runs them."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Deferred[Any]]] = []

    def __call__(self, fn: Callable[[], Any]) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.jobs.append((fn, d))
        return d

    def run_one(self) -> None:
        fn, d = self.jobs.pop(0)
        try:
            result = fn()
        except Exception as e:
            d.errback(e)
        else:
            d.callback(result)


def run_now(fn: Callable[[], Any]) -> Deferred[Any]:
    """A C{run_blocking} running the job at once."""
    return maybeDeferred(fn)


class FileSinkTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = self.mktemp()

    def content(self) -> str:
        with open(self.path, encoding="utf-8") as f:
            return f.read()

    def test_lines_appended(self) -> None:
        """Each line is written with its newline; closing closes the file."""
        sink = FileSink(self.path, run_now)
        sink.write('{"a":1}')
        sink.write('{"b":2}')
        self.successResultOf(sink.close())
        self.assertEqual(self.content(), '{"a":1}\n{"b":2}\n')

    def test_appends_to_an_existing_file(self) -> None:
        """The file is appended to, not truncated (a restart keeps the earlier trace)."""
        with open(self.path, "w", encoding="utf-8") as f:
            f.write("old\n")
        sink = FileSink(self.path, run_now)
        sink.write("new")
        self.successResultOf(sink.close())
        self.assertEqual(self.content(), "old\nnew\n")

    def test_lines_wait_for_the_writer_then_go_together(self) -> None:
        """While a job writes, lines wait; the next job writes them all at once."""
        jobs = HeldJobs()
        sink = FileSink(self.path, jobs)
        sink.write("1")
        sink.write("2")
        sink.write("3")
        self.assertEqual(len(jobs.jobs), 1)
        jobs.run_one()
        self.assertEqual(len(jobs.jobs), 1)
        jobs.run_one()
        self.assertEqual(jobs.jobs, [])
        self.assertEqual(self.content(), "1\n2\n3\n")

    def test_close_waits_for_the_writer(self) -> None:
        """Close fires once what is pending is written and the file closed."""
        jobs = HeldJobs()
        sink = FileSink(self.path, jobs)
        sink.write("1")
        sink.write("2")
        closed = sink.close()
        self.assertNoResult(closed)
        while jobs.jobs:
            jobs.run_one()
        self.successResultOf(closed)
        self.assertEqual(self.content(), "1\n2\n")

    def test_drops_when_the_writer_lags(self) -> None:
        """Beyond max_pending characters, lines are dropped, then counted in a line."""
        jobs = HeldJobs()
        sink = FileSink(self.path, jobs, max_pending=10)
        sink.write("first")  # goes to the writer at once
        sink.write("123456")
        sink.write("7890123")  # over 10 pending: dropped
        jobs.run_one()
        sink.write("after")
        while jobs.jobs:
            jobs.run_one()
        self.assertEqual(self.content(), 'first\n123456\n{"kind": "dropped", "lines": 1}\nafter\n')

    def test_write_failure_logged_once(self) -> None:
        """A file that cannot be written is logged once; writing goes on (and fails) quietly."""
        path = os.path.join(self.mktemp(), "missing-dir", "trace.jsonl")
        sink = FileSink(path, run_now)
        with capturedLogs() as events:
            sink.write("1")
            sink.write("2")
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
