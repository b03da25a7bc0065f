"""Kafka's log cleaner for the partition logs in PostgreSQL (``cleanup.policy=compact``).

The scheduler is the file engine's L{LogCleaner} (``log.cleaner.*``, the
throttle, abandoned and uncleanable passes); L{PgCleanerManager} is its
manager over the logs this broker leads (only the leader cleans a
partition), and L{PgCleanerManager.clean} its pass, Kafka's C{Cleaner.clean}
over rows (L{kafkatwist.postgres.cleaner_sql}, in the cleaner's own
L{Database} threads):

1. the cleanable range: from the checkpoint (the first dirty offset, kept in
   C{partitions.cleaner_checkpoint}; the log start offset when it has none
   or it is out of range) to the first uncleanable offset, the lowest of the
   last stable offset, the high watermark, the active segment's base
   (L{PgLogState.active_segment_base}: a virtual segment rolled by
   C{segment.bytes} / C{segment.ms}, and at the election) and, with
   ``min.compaction.lag.ms``, the first batch holding a newer record;
2. the offset map over that range, ending where it fills;
3. the batches from the log start to the map's end, filtered chunk by chunk
   (each chunk one transaction, fenced: a deposed leader writes nothing);
   after each commit the leader's memory follows (size, tail cache, aborted
   transactions: L{PgLogState.cleaned}). The last chunk writes the new
   checkpoint.

Offsets never change: a kept or rebuilt batch keeps its base and last
offsets; producers' last batches and transaction markers are kept (empty
if need be) by Kafka's rules, as the file cleaner keeps them.

Choosing a log (Kafka's C{grabFilthiestCompactedLog}) is done from memory on
the reactor thread: the clean bytes are those the last pass left below the
checkpoint (read from PostgreSQL once when this broker becomes leader), the
cleanable bytes the rest but the active segment. ``max.compaction.lag.ms``
counts from when this manager first saw dirty bytes (not from the records'
timestamps, which it does not read). A pass that could clean nothing (the
LSO or the compaction lag holds it) is not retried until the high watermark
moves or the lag has passed.
"""

from __future__ import annotations

import time
from functools import partial

from attrs import Factory, define, frozen
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import RunBlocking
from kafkatwist.errors import KafkaError
from kafkatwist.postgres import cleaner_sql as sql
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.log import PgPartitionLog
from kafkatwist.postgres.manager import PgLogManager
from kafkatwist.storage.cleaner.batches import DEFAULT_IO_BUFFER_BYTES, FilterContext, Throttle
from kafkatwist.storage.cleaner.clean import DEFAULT_DELETE_RETENTION_MS, CleanStats
from kafkatwist.storage.cleaner.offset_map import DEFAULT_LOAD_FACTOR, OffsetMap
from kafkatwist.storage.cleaner.txn import (
    CleanedTransactionMetadata,
    last_records_of_active_producers,
)
from kafkatwist.storage.swap import CleaningAbortedError

__all__ = ["CHUNK_BYTES", "PgCleanerManager", "PgLogToClean"]

#: The batches one transaction of a pass reads (it locks the fence row only to write).
CHUNK_BYTES = 4 * 1024 * 1024

TopicPartition = tuple[str, int]


@frozen
class PgLogToClean:
    """Kafka's C{LogToClean} for a PostgreSQL log: its clean and cleanable bytes."""

    log: PgPartitionLog
    first_dirty_offset: int
    clean_bytes: int
    cleanable_bytes: int
    need_compaction_now: bool

    @property
    def partition(self) -> TopicPartition:
        return (self.log.topic, self.log.partition)

    @property
    def cleanable_ratio(self) -> float:
        total = self.clean_bytes + self.cleanable_bytes
        return self.cleanable_bytes / total if total else 0.0

    @property
    def cleanable(self) -> bool:
        """Past its maximum lag with bytes to clean, or above its ratio."""
        if self.need_compaction_now and self.cleanable_bytes > 0:
            return True
        return self.cleanable_ratio > self.log.config.min_cleanable_dirty_ratio


@define
class _Entry:
    """What the manager knows of one log it cleans (None until read from PostgreSQL)."""

    log: PgPartitionLog
    state: sql.CleanerState | None = None
    dirty_since_ms: int | None = None
    #: After a pass that cleaned nothing: the high watermark and time it saw.
    idle: tuple[int, int] | None = None


@define(eq=False)
class PgCleanerManager:
    """
    The cleaner's bookkeeping over the logs this broker leads, and its pass (module docstring).

    C{db} is the cleaner's own L{Database} (its passes never hold the
    connections appends use).
    """

    _logs: PgLogManager
    db: Database
    node_id: int
    chunk_bytes: int = CHUNK_BYTES
    _entries: dict[TopicPartition, _Entry] = Factory(dict)
    _in_progress: set[TopicPartition] = Factory(set)
    _uncleanable: set[TopicPartition] = Factory(set)
    dirtiest_ratio: float = 0.0

    _log = Logger()

    def load(self) -> Deferred[None]:
        """Nothing to read at start: a log's checkpoint is read when it is first seen."""
        return succeed(None)

    def checkpoint_of(self, topic: str, partition: int) -> int | None:
        entry = self._entries.get((topic, partition))
        return None if entry is None or entry.state is None else entry.state.checkpoint

    def is_current(self, log: PgPartitionLog) -> bool:
        return self._logs.get(log.topic, log.partition) is log and log.is_serving

    def write_checkpoints(self) -> Deferred[None]:
        """Every checkpoint was written with its pass's last transaction."""
        return succeed(None)

    def done_cleaning(self, topic: str, partition: int, end_offset: int) -> Deferred[None]:
        self._in_progress.discard((topic, partition))
        return succeed(None)

    def abandon(self, topic: str, partition: int, *, uncleanable: bool = False) -> None:
        key = (topic, partition)
        self._in_progress.discard(key)
        if uncleanable:
            self._uncleanable.add(key)

    def _cleanable_logs(self) -> list[PgPartitionLog]:
        logs = [log for log in self._logs.all_logs() if log.is_bound and log.is_serving]
        seen = {(log.topic, log.partition): log for log in logs}
        for key in [k for k, e in self._entries.items() if seen.get(k) is not e.log]:
            del self._entries[key]
            self._uncleanable.discard(key)
        return [log for log in logs if log.config.compacts]

    def _load(self, key: TopicPartition, entry: _Entry) -> None:
        def loaded(state: sql.CleanerState) -> None:
            if self._entries.get(key) is entry:
                entry.state = state

        def failed(failure: Failure) -> None:
            if self._entries.get(key) is entry:
                del self._entries[key]  # read again next round
            self._log.warn(
                "Reading the cleaner checkpoint of {name} failed: {error}",
                name=entry.log.name, error=failure.getErrorMessage(),
            )  # fmt: skip

        self.db.run(partial(sql.load_cleaner_state, entry.log.key)).addCallbacks(loaded, failed)

    def grab_filthiest(self, now_ms: int) -> PgLogToClean | None:
        """Kafka's C{grabFilthiestCompactedLog} over the loaded compacted logs."""
        candidates: list[PgLogToClean] = []
        for log in self._cleanable_logs():
            key = (log.topic, log.partition)
            if key in self._in_progress or key in self._uncleanable:
                continue
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(log)
                self._load(key, entry)
            if entry.state is not None:
                candidate = self._measure(entry, now_ms)
                if candidate is not None:
                    candidates.append(candidate)
        self.dirtiest_ratio = max((c.cleanable_ratio for c in candidates), default=0.0)
        cleanable = [c for c in candidates if c.cleanable]
        if not cleanable:
            return None
        filthiest = max(cleanable, key=lambda c: c.cleanable_ratio)
        self._in_progress.add(filthiest.partition)
        return filthiest

    def _measure(self, entry: _Entry, now_ms: int) -> PgLogToClean | None:
        log = entry.log
        assert entry.state is not None
        if entry.idle is not None:
            hw, at = entry.idle
            lag = max(log.config.min_compaction_lag_ms, 0)
            if log.high_watermark == hw and (lag == 0 or now_ms < at + lag):
                return None
            entry.idle = None
        start, checkpoint = log.log_start_offset, entry.state.checkpoint
        valid = checkpoint is not None and start <= checkpoint <= log.log_end_offset
        first_dirty = checkpoint if checkpoint is not None and valid else start
        clean = min(entry.state.clean_bytes, log.size_in_bytes) if valid else 0
        bound = min(log.last_stable_offset, log.active_segment_base)
        if bound <= first_dirty:
            cleanable = 0
        else:
            cleanable = max(log.size_in_bytes - clean - log.active_segment_bytes, 0)
        if cleanable == 0:
            entry.dirty_since_ms = None
        elif entry.dirty_since_ms is None:
            entry.dirty_since_ms = now_ms
        max_lag = max(log.config.max_compaction_lag_ms, 0)
        since = entry.dirty_since_ms
        need_now = since is not None and now_ms - since >= max_lag
        if clean + cleanable == 0:
            return None
        return PgLogToClean(log, first_dirty, clean, cleanable, need_now)

    # -- the pass --------------------------------------------------------------

    def clean(
        self,
        log: PgPartitionLog,
        *,
        first_dirty_offset: int,
        now_ms: int,
        offset_map_bytes: int,
        run_blocking: RunBlocking,
        throttle: Throttle | None = None,
        delete_retention_ms: int = DEFAULT_DELETE_RETENTION_MS,
        min_compaction_lag_ms: int = 0,
        load_factor: float = DEFAULT_LOAD_FACTOR,
        io_buffer_bytes: int = DEFAULT_IO_BUFFER_BYTES,
    ) -> Deferred[CleanStats]:
        """
        One pass over C{log} (module docstring), in the cleaner database's threads.

        C{run_blocking} is not used: every step is a database transaction.

        Fails with L{CleaningAbortedError} when this broker is no longer the
        leader (the fence refused), the database is unavailable, or the log
        changed under the pass; the checkpoint then stays where it was.
        """
        pass_ = _Pass(self, log, first_dirty_offset, now_ms, delete_retention_ms,
                      min_compaction_lag_ms, throttle)  # fmt: skip
        return ensureDeferred(pass_.run(offset_map_bytes, load_factor))

    def finished(self, log: PgPartitionLog, stats: CleanStats | None, hw: int, now_ms: int) -> None:
        """
        A pass over C{log} ended: with C{stats} if it moved the checkpoint.

        Without (nothing cleanable, or it failed) the log waits for its high
        watermark to move or its compaction lag to pass (no busy retry).
        """
        entry = self._entries.get((log.topic, log.partition))
        if entry is None or entry.log is not log:
            return
        if stats is None:
            entry.idle = (hw, now_ms)
            return
        entry.state = sql.CleanerState(stats.first_dirty_offset_after, stats.bytes_written)
        entry.dirty_since_ms = None


@define
class _Pass:
    """One cleaning pass over one log (L{PgCleanerManager.clean})."""

    _manager: PgCleanerManager
    _log: PgPartitionLog
    _first_dirty_offset: int
    _now_ms: int
    _delete_retention_ms: int
    _min_lag_ms: int
    _throttle: Throttle | None

    async def run(self, offset_map_bytes: int, load_factor: float) -> CleanStats:
        hw = self._log.high_watermark
        try:
            return await self._clean(offset_map_bytes, load_factor)
        except KafkaError as e:  # the fence refused, or the database is unavailable
            self._manager.finished(self._log, None, hw, self._now_ms)
            raise CleaningAbortedError(f"{self._log.name}: {e.message}") from None
        except CleaningAbortedError:
            self._manager.finished(self._log, None, hw, self._now_ms)
            raise

    def _check(self) -> None:
        if not self._manager.is_current(self._log):
            raise CleaningAbortedError(f"{self._log.name} is no longer led here")

    async def _clean(self, offset_map_bytes: int, load_factor: float) -> CleanStats:
        began = time.monotonic()
        log, manager = self._log, self._manager
        db = manager.db
        self._check()
        fence = sql.Fence(log.key, manager.node_id, log.leader_epoch)
        start, hw = log.log_start_offset, log.high_watermark
        first_dirty = self._first_dirty_offset
        if not start <= first_dirty <= log.log_end_offset:
            first_dirty = start
        bound = min(log.last_stable_offset, log.active_segment_base, hw)
        uncleanable = max(first_dirty, bound)
        max_message_bytes = log.config.max_message_bytes
        omap = OffsetMap(offset_map_bytes, load_factor)
        mapped = sql.MapResult(uncleanable)
        if uncleanable > first_dirty:
            cutoff = self._now_ms - self._min_lag_ms if self._min_lag_ms > 0 else None
            aborted = log.aborted_transactions(first_dirty, uncleanable)
            mapped = await db.run(
                partial(sql.build_offset_map, omap, log.key, first_dirty, uncleanable, aborted,
                        cutoff, self._throttle, max_message_bytes)
            )  # fmt: skip
        end = max(omap.latest_offset + 1, first_dirty)
        totals = [0, 0, 0, 0, 0]  # bytes read, written, records read, kept, chunks
        if end > first_dirty:
            self._check()
            ctx = FilterContext(
                omap, CleanedTransactionMetadata(),
                last_records_of_active_producers(log.producer_state), mapped.first_uncleanable,
                self._now_ms, self._delete_retention_ms, max_message_bytes,
            )  # fmt: skip
            ctx.transactions.add_aborted_transactions(log.aborted_transactions(start, end))
            at = start
            while at < end:
                work = partial(sql.clean_chunk, fence, ctx, at, end, manager.chunk_bytes, end,
                               self._throttle)  # fmt: skip
                loads = log.loads
                chunk = await db.run(work)
                self._check()
                if log.loads == loads:
                    log.cleaned(chunk.start, chunk.next_start, chunk.size_delta, chunk.aborted)
                else:  # a reload raced the chunk's commit: read the state again after it
                    await log.reload()
                for i, n in enumerate((chunk.bytes_read, chunk.bytes_written, chunk.records_read,
                                       chunk.records_kept, 1)):  # fmt: skip
                    totals[i] += n
                at = chunk.next_start
        elif end != self._first_dirty_offset:
            await db.run(partial(sql.write_checkpoint, fence, end))
        stats = CleanStats(
            log.name, totals[0], totals[1], totals[2], totals[3], end, time.monotonic() - began,
            False, mapped.bytes_read, mapped.records_read, mapped.full, totals[4],
            mapped.first_uncleanable,
        )  # fmt: skip
        manager.finished(log, stats if end > first_dirty else None, hw, self._now_ms)
        return stats
