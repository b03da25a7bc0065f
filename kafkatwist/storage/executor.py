"""Running a partition log's blocking jobs (fsync, checkpoints, closing files) in order.

C{run_blocking} is injected: production passes a C{deferToThreadPool}
wrapper, tests pass one that runs the job at once. L{SerialExecutor} runs
one log's jobs through it one at a time, in submission order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from attrs import Factory, define
from twisted.internet.defer import Deferred

from kafkatwist.clock import RunBlocking

T = TypeVar("T")

#: A job: called on the reactor thread when its turn comes, returns the blocking function.
Job = Callable[[], Callable[[], object]]


@define
class SerialExecutor:
    """
    Runs blocking jobs through C{run_blocking} one at a time, in submission order.

    C{submit(prepare)} queues C{prepare}; when the previous job has finished,
    C{prepare()} runs on the calling (reactor) thread and returns the
    blocking function, so a job can capture state at the moment it starts.
    Works with a synchronous C{run_blocking} too (jobs then complete inside
    C{submit}).
    """

    _run_blocking: RunBlocking
    _queue: deque[tuple[Job, Deferred[object]]] = Factory(deque)
    _busy: bool = False
    _pumping: bool = False

    def submit(self, prepare: Job) -> Deferred[object]:
        """Queue a job; the Deferred fires with the blocking function's result."""
        d: Deferred[object] = Deferred()
        self._queue.append((prepare, d))
        self._pump()
        return d

    @property
    def idle(self) -> bool:
        """Whether no job is running or queued."""
        return not self._busy and not self._queue

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            while not self._busy and self._queue:
                prepare, d = self._queue.popleft()
                self._busy = True
                try:
                    blocking = prepare()
                    running = self._run_blocking(blocking)
                except BaseException:
                    self._busy = False
                    d.errback()
                    continue
                running.addBoth(self._finished, d)
        finally:
            self._pumping = False

    def _finished(self, result: object, d: Deferred[object]) -> None:
        self._busy = False
        d.callback(result)
        self._pump()


@define(eq=False)
class FlushJob:
    """
    One queued fsync, shared by every flush requested before it starts (group commit).

    @ivar seq: Its number; high watermark gates up to it open when it completes.
    @ivar target: The log end offset when it started: the new recovery point.
    """

    seq: int
    waiters: list[Deferred[None]] = Factory(list)
    target: int = 0


def chain(d: Deferred[T]) -> Deferred[T]:
    """A new Deferred with C{d}'s result, leaving C{d} usable for other callers."""
    out: Deferred[T] = Deferred()

    def relay(result: Any) -> Any:
        out.callback(result)
        return result

    d.addBoth(relay)
    d.addErrback(lambda _: None)
    return out
