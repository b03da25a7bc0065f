"""LogCleaner: runs cleaning passes on the injected clock, a bounded number at a time.

Kafka's C{LogCleaner} and its C{CleanerThread}s, on Twisted: instead of
threads that loop, one scheduler on the reactor thread keeps up to
``log.cleaner.threads`` passes running. Each round it reads the settings
again (L{CleanerConfig}: dynamic updates apply), asks the
L{LogCleanerManager} for the filthiest cleanable log while a slot is free,
and starts C{clean_log} on it; the blocking file work of a pass runs in the
cleaner's own worker pool (C{run_blocking}, as many threads as
``log.cleaner.threads``), so serving clients never waits for it. A round
that finds nothing waits ``log.cleaner.backoff.ms``; a finished pass starts
the next round at once.

Each pass gets ``log.cleaner.dedupe.buffer.size / log.cleaner.threads``
bytes of offset map (Kafka's per-thread C{SkimpyOffsetMap}) and a
C{throttle(n)} callback that its worker calls after each C{n} bytes read or
written: it applies ``log.cleaner.io.max.bytes.per.second`` (L{Throttler},
shared by all passes) and aborts the pass when the cleaner stops (Kafka's
C{checkDone}).

A pass that fails because its log was closed, deleted or went offline
meanwhile is abandoned (one log line, no checkpoint change); any other
failure is logged with its traceback and the partition is left alone
until it is deleted (Kafka's uncleanable partitions). A finished pass
moves the partition's checkpoint to where the pass stopped and logs one
line: partition, bytes before and after, records kept of those read, time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Generic, Protocol, TypeVar

from attrs import Factory, define, field
from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime, RunBlocking, now_ms
from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage.cleaner.clean import CleanStats
from kafkatwist.storage.cleaner.manager import TopicPartition
from kafkatwist.storage.cleaner.throttle import Throttler
from kafkatwist.storage.swap import CleaningAbortedError

__all__ = [
    "ChosenLog",
    "CleanLog",
    "CleanableLog",
    "CleanerManager",
    "LogCleaner",
    "RunningCleaner",
]


class CleanableLog(Protocol):
    """What the scheduler reads of a log (a file engine or a PostgreSQL partition log)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def config(self) -> LogConfig: ...
    @property
    def is_offline(self) -> bool: ...


L = TypeVar("L", bound=CleanableLog)
L_co = TypeVar("L_co", bound=CleanableLog, covariant=True)
L_contra = TypeVar("L_contra", bound=CleanableLog, contravariant=True)


class ChosenLog(Protocol[L_co]):
    """The log a manager chose to clean, and where its pass starts (L{LogToClean})."""

    @property
    def log(self) -> L_co: ...
    @property
    def partition(self) -> TopicPartition: ...
    @property
    def first_dirty_offset(self) -> int: ...


class CleanerManager(Protocol[L]):
    """The bookkeeping the scheduler asks (L{LogCleanerManager} for the file engine)."""

    def load(self) -> Deferred[None]: ...
    def checkpoint_of(self, topic: str, partition: int) -> int | None: ...
    def grab_filthiest(self, now_ms: int) -> ChosenLog[L] | None: ...
    def done_cleaning(self, topic: str, partition: int, end_offset: int) -> Deferred[None]: ...
    def abandon(self, topic: str, partition: int, *, uncleanable: bool = False) -> None: ...
    def is_current(self, log: L) -> bool: ...
    def write_checkpoints(self) -> Deferred[None]: ...


class RunningCleaner(Protocol):
    """What a broker shows of its cleaner, whatever its engine (tests and metrics read it)."""

    @property
    def running(self) -> bool: ...
    @property
    def passes(self) -> Mapping[TopicPartition, Deferred[None]]: ...
    @property
    def cleaned(self) -> int: ...
    def checkpoint_of(self, topic: str, partition: int) -> int | None: ...


class CleanLog(Protocol[L_contra]):
    """L{kafkatwist.storage.cleaner.clean_log}: one cleaning pass over one log."""

    def __call__(
        self,
        log: L_contra,
        *,
        first_dirty_offset: int,
        now_ms: int,
        offset_map_bytes: int,
        run_blocking: RunBlocking,
        throttle: Callable[[int], None] | None = None,
        delete_retention_ms: int = ...,
        min_compaction_lag_ms: int = ...,
        load_factor: float = ...,
        io_buffer_bytes: int = ...,
    ) -> Deferred[CleanStats]: ...


@define(eq=False)
class LogCleaner(Generic[L]):
    """
    The log cleaner of one broker; L{start} after the logs load, L{stop} before they close.

    @ivar passes: the passes running, by partition.
    @ivar cleaned: how many passes finished (for tests and the benchmark).
    """

    _manager: CleanerManager[L]
    _clock: ReactorTime
    _settings: Callable[[], CleanerConfig]
    _clean: CleanLog[L]
    _run_blocking: RunBlocking
    _throttler: Throttler
    #: Told the thread count at each round (the worker pool follows a dynamic update).
    resize: Callable[[int], object] | None = None
    passes: dict[TopicPartition, Deferred[None]] = Factory(dict)
    cleaned: int = 0
    _timer: DelayedCall | None = None
    _running: bool = False
    _in_round: bool = False
    _threads: int = -1
    #: Set when stopping: wakes a throttled worker at once.
    _wake: threading.Event = field(factory=threading.Event)

    _log = Logger()

    @classmethod
    def create(
        cls,
        manager: CleanerManager[L],
        clock: ReactorTime,
        settings: Callable[[], CleanerConfig],
        clean: CleanLog[L],
        run_blocking: RunBlocking,
        *,
        sleep: Callable[[float], object] | None = None,
        resize: Callable[[int], object] | None = None,
    ) -> LogCleaner[L]:
        """
        A cleaner whose throttle reads C{clock} and sleeps with C{sleep}.

        By default a throttled worker sleeps on an event that L{stop} sets,
        so stopping never waits for a throttle.
        """
        wake = threading.Event()
        throttler = Throttler(settings().io_max_bytes_per_second, clock.seconds, sleep or wake.wait)
        return cls(
            manager, clock, settings, clean, run_blocking, throttler, resize=resize, wake=wake
        )

    @property
    def running(self) -> bool:
        return self._running

    def checkpoint_of(self, topic: str, partition: int) -> int | None:
        """Where the next pass over C{topic}-C{partition} starts (its checkpoint), if known."""
        return self._manager.checkpoint_of(topic, partition)

    def start(self) -> Deferred[None]:
        """Read the checkpoints, then start the first round."""
        self._running = True
        self._wake.clear()
        d = self._manager.load()
        d.addCallback(lambda _: self._schedule(0))
        return d

    def wake(self) -> None:
        """Start a round now (a manager learned that a log became cleanable)."""
        self._schedule(0)

    def _schedule(self, delay_s: float) -> None:
        if not self._running:
            return
        if self._timer is not None and self._timer.active():
            if self._timer.getTime() <= self._clock.seconds() + delay_s:
                return
            self._timer.cancel()
        self._timer = self._clock.callLater(delay_s, self._round)

    def _round(self) -> None:
        """Start passes while slots are free and logs are cleanable; then back off."""
        self._timer = None
        if not self._running or self._in_round:
            return
        self._in_round = True
        config = self._settings()
        try:
            self._throttler.rate = config.io_max_bytes_per_second
            if self.resize is not None and config.threads != self._threads:
                self.resize(config.threads)
            self._threads = config.threads
            started = 0
            while config.runs and started < config.threads and len(self.passes) < config.threads:
                chosen = self._manager.grab_filthiest(now_ms(self._clock))
                if chosen is None or not self._running:
                    break
                started += 1
                self._start_pass(chosen, config)
        except Exception:
            self._log.failure("Choosing a log to clean failed")
        finally:
            self._in_round = False
        self._schedule(config.backoff_ms / 1000.0)

    def _start_pass(self, chosen: ChosenLog[L], config: CleanerConfig) -> None:
        key = chosen.partition
        started = self._clock.seconds()
        log_config = chosen.log.config
        try:
            d = self._clean(
                chosen.log,
                first_dirty_offset=chosen.first_dirty_offset,
                now_ms=now_ms(self._clock),
                offset_map_bytes=config.dedupe_buffer_per_thread,
                run_blocking=self._run_blocking,
                throttle=self._throttle,
                delete_retention_ms=log_config.delete_retention_ms,
                min_compaction_lag_ms=log_config.min_compaction_lag_ms,
                load_factor=config.io_buffer_load_factor,
                io_buffer_bytes=config.io_buffer_per_thread,
            )
        except Exception:
            self._failed(Failure(), chosen)  # type: ignore[no-untyped-call]
            return
        done: Deferred[None] = d.addCallbacks(
            self._cleaned,
            self._failed,
            callbackArgs=(chosen, started),
            errbackArgs=(chosen,),
        )
        self.passes[key] = done
        done.addBoth(self._pass_over, key)

    def _throttle(self, observed: int) -> None:
        """A pass's callback, in its worker thread: abort if stopping, else throttle."""
        if not self._running:
            raise CleaningAbortedError("the log cleaner is stopping")
        self._throttler.maybe_throttle(observed)
        if not self._running:
            raise CleaningAbortedError("the log cleaner is stopping")

    def _cleaned(self, stats: CleanStats, chosen: ChosenLog[L], started: float) -> None:
        log = chosen.log
        if stats.aborted or not self._manager.is_current(log):
            self._manager.abandon(log.topic, log.partition)
            self._log.info("Cleaning {name} was abandoned", name=log.name)
            return
        self.cleaned += 1
        self._manager.done_cleaning(log.topic, log.partition, stats.first_dirty_offset_after)
        self._log.info(
            "Cleaned {name}: {before} bytes -> {after} bytes, {kept}/{read} records kept, "
            "dirty from offset {first_dirty} now from {next_dirty}, in {seconds:.3f}s",
            name=log.name,
            before=stats.bytes_read,
            after=stats.bytes_written,
            kept=stats.records_kept,
            read=stats.records_read,
            first_dirty=chosen.first_dirty_offset,
            next_dirty=stats.first_dirty_offset_after,
            seconds=self._clock.seconds() - started,
        )

    def _failed(self, failure: Failure, chosen: ChosenLog[L]) -> None:
        log = chosen.log
        if (
            isinstance(failure.value, CleaningAbortedError)
            or not self._manager.is_current(log)
            or log.is_offline
        ):
            self._manager.abandon(log.topic, log.partition)
            self._log.info(
                "Cleaning {name} was abandoned: {reason}",
                name=log.name,
                reason=failure.getErrorMessage(),
            )
            return
        self._manager.abandon(log.topic, log.partition, uncleanable=True)
        self._log.failure(
            "Cleaning {name} failed; it is not cleaned again until it is deleted",
            failure,
            name=log.name,
        )

    def _pass_over(self, _: object, key: TopicPartition) -> None:
        self.passes.pop(key, None)
        self._schedule(0)

    def stop(self) -> Deferred[None]:
        """
        Stop choosing logs, abort the running passes, wait for them, write the checkpoints.

        A pass is aborted at its next throttle call (its worker raises
        L{CleaningAbortedError}; the cleaned files it leaves are removed at the
        next load, as Kafka's recovery does).
        """
        self._running = False
        self._wake.set()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        running = list(self.passes.values())
        d = DeferredList(running, consumeErrors=True)
        return d.addCallback(lambda _: self._manager.write_checkpoints())
