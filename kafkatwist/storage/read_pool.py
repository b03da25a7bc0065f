"""Where a partition read runs: on the reactor thread, or in the bounded read pool.

L{LogReader} serves L{kafkatwist.storage.partition_log.PartitionLog.read}:
it tries the read on the reactor thread (L{LocalLog.read}, which raises
L{WouldBlock} rather than wait for the disk, see L{kafkatwist.storage.reads});
when it would block, the whole read of that partition goes to L{ReadPool}.

L{ReadPool} is shared by every log: at most C{threads} reads (Kafka's
``num.io.threads``, default 8) run in its worker threads at once; the rest
wait in its queue, holding neither a descriptor nor a buffer (the segments
are snapshotted when a read's turn comes, on the reactor thread). Each read
is bounded by the fetch's byte budget, so the bytes in flight are at most
C{threads} reads' worth plus the answers waiting to be sent.

L{LogReads} counts one log's reads in the pool, so that closing the log
waits for them: reads still queued then fail with C{KAFKA_STORAGE_ERROR}
when their turn comes, running ones finish (through their own descriptors).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, TypeVar

from attrs import Factory, define, field
from twisted.internet.defer import Deferred, DeferredSemaphore, fail, succeed
from twisted.python.failure import Failure

from kafkatwist.clock import RunBlocking
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.local_log import LocalLog
from kafkatwist.storage.nowait import NoWaitPread, WouldBlock
from kafkatwist.storage.reads import DEFAULT_IO_THREADS
from kafkatwist.storage.results import ReadResult

T = TypeVar("T")
R = TypeVar("R")

#: What a read found: the buffers and their total size.
Found = tuple[list[bytes], int]


@define(eq=False)
class ReadPool:
    """
    The bounded pool cold reads run in, shared by every log, with counters.

    C{run_blocking} runs a job in a worker thread (a pool of C{threads}
    threads in production); at most C{threads} jobs are handed to it at
    once, the rest wait here.

    @ivar nowait: The reactor's C{RWF_NOWAIT} reads (one reused buffer).
    @ivar on_reactor: Reads answered on the reactor thread.
    @ivar in_pool: Reads that went to the pool.
    """

    _run_blocking: RunBlocking
    threads: int = DEFAULT_IO_THREADS
    nowait: NoWaitPread = Factory(NoWaitPread)
    on_reactor: int = 0
    in_pool: int = 0
    _slots: DeferredSemaphore = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._slots = DeferredSemaphore(max(self.threads, 1))

    @property
    def running(self) -> int:
        """Reads running in a worker now."""
        return max(self.threads, 1) - self._slots.tokens

    @property
    def queued(self) -> int:
        """Reads waiting for a worker."""
        return len(self._slots.waiting)

    def run(self, prepare: Callable[[], Callable[[], T]]) -> Deferred[T]:
        """
        When a worker is free: C{prepare()} on the reactor thread, then what it returns in the pool.

        A failure of C{prepare} (the log closed meanwhile...) fails the Deferred.
        """
        self.in_pool += 1

        def start() -> Deferred[T]:
            try:
                blocking = prepare()
            except Exception:
                return fail()
            return self._run_blocking(blocking)

        return self._slots.run(start)


@define(eq=False)
class LogReads:
    """One log's reads in the pool: counted, so that closing the log can wait for them."""

    _pool: ReadPool
    in_flight: int = 0
    _idle: list[Deferred[None]] = Factory(list)

    def run(self, prepare: Callable[[], Callable[[], T]], finish: Callable[[T], R]) -> Deferred[R]:
        """L{ReadPool.run}, then C{finish} on the reactor thread."""
        self.in_flight += 1
        d = self._pool.run(prepare).addCallback(finish)
        return d.addBoth(self._done)

    def _done(self, result: R) -> R:
        self.in_flight -= 1
        if not self.in_flight:
            waiting, self._idle = self._idle, []
            for d in waiting:
                d.callback(None)
        return result

    def drained(self) -> Deferred[None]:
        """Fires once no read of this log is queued or running."""
        if not self.in_flight:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idle.append(d)
        return d


class ReadState(Protocol):
    """The part of a partition log a read reports (L{PartitionLog} is one)."""

    @property
    def name(self) -> str: ...
    @property
    def log_start_offset(self) -> int: ...
    @property
    def log_end_offset(self) -> int: ...
    @property
    def high_watermark(self) -> int: ...
    @property
    def last_stable_offset(self) -> int: ...


@define(eq=False)
class LogReader:
    """
    One log's reads: on the reactor while cached, else in the pool (L{PartitionLog.read}).

    C{check_usable()} raises L{KafkaError} when the log is offline or closed;
    C{go_offline(reason)} takes it offline after a failed read.
    """

    _local: LocalLog
    _pool: ReadPool
    _state: ReadState
    _check_usable: Callable[[], None]
    _go_offline: Callable[[str], None]
    _in_pool: LogReads = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._in_pool = LogReads(self._pool)

    def drained(self) -> Deferred[None]:
        """Fires once none of the log's reads is queued or running in the pool."""
        return self._in_pool.drained()

    def read(
        self, offset: int, max_bytes: int, max_offset: int | None, min_one: bool
    ) -> Deferred[ReadResult]:
        """See L{PartitionLog.read}."""
        args = (offset, max_bytes, max_offset, min_one)
        try:
            self._check_usable()
            return succeed(self._read(*args))
        except KafkaError as e:
            return fail(e)
        except WouldBlock:
            d = self._in_pool.run(partial(self._prepare_cold, *args), self._result)
            return d.addErrback(self._failed)

    def _limit(self, offset: int, max_offset: int | None) -> int:
        state = self._state
        self._local.check_read_offset(offset, state.log_start_offset, state.name)
        if max_offset is None:
            return state.high_watermark
        return min(max_offset, state.log_end_offset)

    def _read(
        self, offset: int, max_bytes: int, max_offset: int | None, min_one: bool
    ) -> ReadResult:
        limit = self._limit(offset, max_offset)
        try:
            found = self._local.read(offset, max_bytes, limit, min_one, self._pool.nowait)
        except OSError as e:
            raise self._error(e) from None
        self._pool.on_reactor += 1
        return self._result(found)

    def _prepare_cold(
        self, offset: int, max_bytes: int, max_offset: int | None, min_one: bool
    ) -> Callable[[], Found]:
        self._check_usable()
        limit = self._limit(offset, max_offset)
        try:
            return self._local.cold_read(offset, max_bytes, limit, min_one, self._pool.nowait)
        except OSError as e:
            raise self._error(e) from None

    def _result(self, found: Found) -> ReadResult:
        s = self._state
        hw, lso = s.high_watermark, s.last_stable_offset
        return ReadResult(found[0], found[1], hw, lso, s.log_start_offset, s.log_end_offset)

    def _failed(self, failure: Failure) -> ReadResult:
        error = failure.value
        if isinstance(error, OSError):
            raise self._error(error)
        failure.raiseException()
        raise AssertionError("unreachable")

    def _error(self, e: OSError) -> KafkaError:
        self._go_offline(f"read failed: {e}")
        return KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"read failed: {e}")
