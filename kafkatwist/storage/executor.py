"""Running a partition log's blocking jobs (fsync, checkpoints, closing files) in order.

C{run_blocking} is injected: production passes a C{deferToThreadPool}
wrapper, tests pass one that runs the job at once. L{SerialExecutor} runs
one log's jobs through it one at a time, in submission order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from attrs import Factory, define
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

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


#: One job's outcome: C{(True, value)} or C{(False, failure)}.
_Outcome = tuple[bool, Any]


@define(eq=False)
class BatchingRunBlocking:
    """
    A C{run_blocking} that can gather many small jobs into a few worker-thread jobs.

    Normally it passes each job straight to C{run_blocking}. While
    L{batching} is on (the log manager turns it on to close thousands of
    logs), jobs wait until L{dispatch}, which runs them in at most
    C{max_jobs} thread-pool jobs, each running its share one after another;
    their Deferreds then fire on the calling thread, and the jobs those
    callbacks queued are dispatched in turn. A thread hop per job costs a
    few milliseconds under the GIL; a hop per batch does not.
    """

    _run_blocking: RunBlocking
    max_jobs: int = 8
    batching: bool = False
    _pending: list[tuple[Callable[[], object], Deferred[object]]] = Factory(list)

    #: Set by the first L{dispatch} of a batching round: from then on a job
    #: that arrives outside L{_deliver} (from a callback of some other
    #: Deferred) is dispatched at once, or it would wait for ever.
    _dispatched: bool = False
    #: Set while L{_deliver} runs callbacks: it dispatches what they queue, once.
    _delivering: bool = False

    def __call__(self, fn: Callable[[], T], /) -> Deferred[T]:
        if not self.batching:
            return self._run_blocking(fn)
        d: Deferred[Any] = Deferred()
        self._pending.append((fn, d))
        if self._dispatched and not self._delivering:
            self.dispatch()
        return d

    def dispatch(self) -> None:
        """Run every waiting job now, in at most C{max_jobs} worker-thread jobs."""
        self._dispatched = True
        while self._pending:
            pending, self._pending = self._pending, []
            count = max(min(self.max_jobs, len(pending)), 1)
            size = -(-len(pending) // count)
            for start in range(0, len(pending), size):
                chunk = pending[start : start + size]
                d = self._run_blocking(partial(_run_all, [fn for fn, _ in chunk]))
                d.addBoth(self._deliver, [waiter for _, waiter in chunk])

    def stop_batching(self) -> None:
        """Pass later jobs straight through, and run the waiting ones now."""
        self.batching = False
        self.dispatch()
        self._dispatched = False

    def _deliver(self, outcomes: object, waiters: list[Deferred[object]]) -> None:
        self._delivering = True
        try:
            if isinstance(outcomes, Failure):
                for d in waiters:
                    d.errback(outcomes)
            else:
                assert isinstance(outcomes, list)
                for (ok, value), d in zip(outcomes, waiters, strict=True):
                    if ok:
                        d.callback(value)
                    else:
                        d.errback(value)
        finally:
            self._delivering = False
        self.dispatch()


def _run_all(jobs: list[Callable[[], object]]) -> list[_Outcome]:
    """Run each job in turn (in a worker thread); collect what each returned or raised."""
    outcomes: list[_Outcome] = []
    for job in jobs:
        try:
            outcomes.append((True, job()))
        except Exception:
            outcomes.append((False, Failure()))  # type: ignore[no-untyped-call]
    return outcomes
