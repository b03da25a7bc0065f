"""Where trace lines go: the Twisted log, or a file written off the reactor thread."""

from __future__ import annotations

from functools import partial
from typing import IO, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime, RunBlocking

__all__ = ["FileSink", "LogSink", "Sink"]

#: Lines waiting for the writer beyond this many characters are dropped (and counted).
MAX_PENDING = 64 * 1024 * 1024
#: This many characters waiting start a write at once.
FLUSH_CHARS = 1024 * 1024


class Sink(Protocol):
    """Takes trace lines (without their newline)."""

    def write(self, line: str) -> None:
        """Take one line; never blocks, never raises."""

    def close(self) -> Deferred[None]:
        """Write what is pending and release the destination."""


#: The trace's log (a module global: a Logger in a class takes the class's name).
_trace_log = Logger(namespace="kafkatwist.trace")


class LogSink:
    """Each line as one Twisted log event (namespace C{kafkatwist.trace}, format C{{trace}})."""

    def write(self, line: str) -> None:
        _trace_log.info("{trace}", trace=line)

    def close(self) -> Deferred[None]:
        return succeed(None)


class FileSink:
    """
    Lines appended to a file by C{run_blocking} jobs, one job at a time, a few times a second.

    Lines wait in memory and go together in one job: L{interval} seconds after
    the first of them, or at once when L{FLUSH_CHARS} characters wait (waking
    a thread per line would cost more than the line). The file is opened (for
    appending) by the first job. Should the writer fall behind by
    C{max_pending} characters, newer lines are dropped and a line saying how
    many follows once it catches up.
    """

    _log = Logger()

    #: Seconds a line may wait for the writer.
    interval = 0.2

    def __init__(
        self,
        path: str,
        run_blocking: RunBlocking,
        clock: ReactorTime,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.path = path
        self._run_blocking = run_blocking
        self._clock = clock
        self._max_pending = max_pending
        self._file: IO[str] | None = None
        self._pending: list[str] = []
        self._pending_chars = 0
        self._dropped = 0
        self._writing = False
        self._closing = False
        self._timer: DelayedCall | None = None
        self._idle: list[Deferred[None]] = []
        self._failed = False

    def write(self, line: str) -> None:
        if self._pending_chars + len(line) > self._max_pending:
            self._dropped += 1
            return
        if self._dropped:
            note = f'{{"kind": "dropped", "lines": {self._dropped}}}'
            self._dropped = 0
            self._pending.append(note)
        self._pending.append(line)
        self._pending_chars += len(line)
        if not self._writing:
            self._schedule()

    def _schedule(self) -> None:
        """Start a job now if enough waits (or closing), else once the interval is up."""
        if self._closing or self._pending_chars >= FLUSH_CHARS:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._next()
        elif self._timer is None:
            self._timer = self._clock.callLater(self.interval, self._due)

    def _due(self) -> None:
        self._timer = None
        if not self._writing and self._pending:
            self._next()

    def _next(self) -> None:
        lines, self._pending, self._pending_chars = self._pending, [], 0
        lines.append("")
        self._writing = True
        d = self._run_blocking(partial(self._append, "\n".join(lines)))
        d.addCallbacks(self._written, self._write_failed)

    def _append(self, text: str) -> None:
        """In the writer's thread: open the file once, append C{text}, flush."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._file.write(text)
        self._file.flush()

    def _written(self, _: object) -> None:
        self._writing = False
        if self._pending:
            self._schedule()
            return
        idle, self._idle = self._idle, []
        for d in idle:
            d.callback(None)

    def _write_failed(self, failure: Failure) -> None:
        if not self._failed:
            self._failed = True
            self._log.failure("Cannot write the protocol trace to {path}", failure, path=self.path)
        self._written(None)

    def close(self) -> Deferred[None]:
        """Write what is pending now, then close the file (in a C{run_blocking} job)."""
        self._closing = True
        if self._pending and not self._writing:
            self._schedule()
        done: Deferred[None] = Deferred()
        if self._writing:
            self._idle.append(done)
        else:
            done.callback(None)
        return done.addCallback(lambda _: self._run_blocking(self._close))

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
