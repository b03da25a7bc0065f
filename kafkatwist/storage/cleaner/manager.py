"""LogCleanerManager: which compacted log to clean next; the ``cleaner-offset-checkpoint`` files.

Kafka's C{LogCleanerManager}, on the reactor thread (so without its lock):

- L{cleanable_offsets}: the dirty range of a log, from its checkpoint (reset
  to the log start offset when the checkpoint lies below it or beyond the
  log end, as Kafka does) up to the first uncleanable offset: the active
  segment, the last stable offset, and with ``min.compaction.lag.ms`` the
  first dirty segment holding a record newer than the lag;
- L{max_compaction_delay}: how long past ``max.compaction.lag.ms`` the
  oldest dirty record is (a log with a delay is cleaned below the ratio);
- L{LogToClean}: the clean and cleanable bytes and their ratio;
- L{LogCleanerManager.grab_filthiest}: Kafka's C{grabFilthiestCompactedLog},
  the log with the highest cleanable ratio above its
  ``min.cleanable.dirty.ratio`` (or one past its maximum lag), marked in
  progress;
- the checkpoints: one ``cleaner-offset-checkpoint`` per log dir (Kafka's
  offset checkpoint format), read at L{LogCleanerManager.load}, written
  after every pass (L{LogCleanerManager.done_cleaning}) and at a clean
  shutdown, keeping only partitions that are open (a deleted partition's
  entry goes, as Kafka's C{updateCheckpoints} filters by the open logs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import Protocol

from attrs import Factory, define, frozen
from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger

from kafkatwist.clock import RunBlocking
from kafkatwist.storage.checkpoints import (
    CLEANER_OFFSET_CHECKPOINT,
    CorruptCheckpointError,
    read_cleaner_offset_checkpoint,
    write_cleaner_offset_checkpoint,
)
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.segment import Segment

__all__ = [
    "CleanableLogs",
    "LogCleanerManager",
    "LogToClean",
    "OffsetsToClean",
    "cleanable_offsets",
    "max_compaction_delay",
]

TopicPartition = tuple[str, int]


class CleanableLogs(Protocol):
    """The logs the cleaner chooses from (the file engine's L{LogManager})."""

    @property
    def log_dirs(self) -> Sequence[str]:
        """Every log dir."""

    def all_logs(self) -> list[PartitionLog]:
        """Every open log."""

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        """The open log of C{topic}-C{partition}, or None."""

    def log_dir_of(self, topic: str, partition: int) -> str | None:
        """The log dir holding C{topic}-C{partition}."""


@frozen
class OffsetsToClean:
    """
    Kafka's C{OffsetsToClean}: the dirty range of a log.

    @ivar first_dirty_offset: where cleaning starts (inclusive).
    @ivar first_uncleanable_offset: where it must stop (exclusive).
    @ivar force_update_checkpoint: the checkpoint was invalid and is reset
        to C{first_dirty_offset}.
    """

    first_dirty_offset: int
    first_uncleanable_offset: int
    force_update_checkpoint: bool


def _segments_overlapping(segments: Sequence[Segment], start: int, end: int) -> list[Segment]:
    """Kafka's C{logSegments(from, to)}: the segment holding C{start}, then those below C{end}."""
    if start >= end:
        return []
    first = 0
    for i, segment in enumerate(segments):
        if segment.base_offset <= start:
            first = i
    return [s for s in segments[first:] if s.base_offset < end]


def _dirty_inactive(log: PartitionLog, first_dirty_offset: int) -> list[Segment]:
    """Kafka's C{nonActiveLogSegmentsFrom(firstDirtyOffset)}."""
    segments = log.segments
    return _segments_overlapping(segments, first_dirty_offset, segments[-1].base_offset)


def cleanable_offsets(log: PartitionLog, checkpoint: int | None, now_ms: int) -> OffsetsToClean:
    """Kafka's C{LogCleanerManager.cleanableOffsets} (see the module docstring)."""
    start = log.log_start_offset
    first_dirty = start if checkpoint is None else checkpoint
    force = False
    if first_dirty < start or first_dirty > log.log_end_offset:
        first_dirty, force = start, True
    bounds = [log.last_stable_offset, log.segments[-1].base_offset]
    lag = max(log.config.min_compaction_lag_ms, 0)
    if lag > 0:
        for segment in _dirty_inactive(log, first_dirty):
            if segment.largest_timestamp() > now_ms - lag:
                bounds.append(segment.base_offset)
                break
    return OffsetsToClean(first_dirty, max(first_dirty, min(bounds)), force)


def max_compaction_delay(log: PartitionLog, first_dirty_offset: int, now_ms: int) -> int:
    """
    Kafka's C{maxCompactionDelay}: how long the oldest dirty record is past its maximum lag.

    The lag is ``max.compaction.lag.ms``.

    Measured from the first batch timestamp of each dirty inactive segment;
    0 when none has passed it.
    """
    stamps = [
        ts
        for s in _dirty_inactive(log, first_dirty_offset)
        if (ts := s.first_batch_timestamp()) > 0
    ]
    if not stamps:
        return 0
    clean_until = now_ms - max(log.config.max_compaction_lag_ms, 0)
    earliest = min(stamps)
    return clean_until - earliest if earliest < clean_until else 0


@frozen
class LogToClean:
    """
    Kafka's C{LogToClean}: a compacted log and the sizes of its clean and cleanable parts.

    C{clean_bytes} are the segments below the first dirty offset,
    C{cleanable_bytes} those from the one holding it up to the first
    uncleanable segment (Kafka's C{calculateCleanableBytes}).
    """

    log: PartitionLog
    first_dirty_offset: int
    first_uncleanable_offset: int
    clean_bytes: int
    cleanable_bytes: int
    need_compaction_now: bool

    @classmethod
    def measure(
        cls, log: PartitionLog, offsets: OffsetsToClean, need_compaction_now: bool
    ) -> LogToClean:
        """The sizes of C{log}'s clean and cleanable parts for C{offsets}."""
        segments = log.segments
        first_dirty = offsets.first_dirty_offset
        clean = sum(s.size for s in segments if s.base_offset < first_dirty)
        uncleanable = _segments_overlapping(
            segments, offsets.first_uncleanable_offset, segments[-1].base_offset
        )
        first_uncleanable = uncleanable[0].base_offset if uncleanable else segments[-1].base_offset
        cleanable = sum(
            s.size
            for s in _segments_overlapping(
                segments, min(first_dirty, first_uncleanable), first_uncleanable
            )
        )
        return cls(log, first_dirty, first_uncleanable, clean, cleanable, need_compaction_now)

    @property
    def partition(self) -> TopicPartition:
        return (self.log.topic, self.log.partition)

    @property
    def total_bytes(self) -> int:
        return self.clean_bytes + self.cleanable_bytes

    @property
    def cleanable_ratio(self) -> float:
        """The dirty share of the log's inactive bytes (0 for an empty log)."""
        return self.cleanable_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def cleanable(self) -> bool:
        """Kafka's filter: past its maximum lag with bytes to clean, or above its ratio."""
        if self.need_compaction_now and self.cleanable_bytes > 0:
            return True
        return self.cleanable_ratio > self.log.config.min_cleanable_dirty_ratio


@define(eq=False)
class LogCleanerManager:
    """
    The cleaner's bookkeeping: logs in progress, uncleanable logs, checkpoints.

    @ivar dirtiest_ratio: the highest cleanable ratio of the last choice
        (Kafka's C{max-dirty-percent} gauge, as a fraction).
    """

    _logs: CleanableLogs
    _run_blocking: RunBlocking
    #: Log dir -> partition -> first dirty offset (the checkpoint files' contents).
    _checkpoints: dict[str, dict[TopicPartition, int]] = Factory(dict)
    _in_progress: set[TopicPartition] = Factory(set)
    #: Partitions whose pass failed unexpectedly (Kafka's C{uncleanablePartitions}).
    _uncleanable: set[TopicPartition] = Factory(set)
    #: The open logs as the last round saw them (to notice a partition created again).
    _seen: dict[TopicPartition, PartitionLog] = Factory(dict)
    dirtiest_ratio: float = 0.0

    _log = Logger()

    def load(self) -> Deferred[None]:
        """Read every log dir's ``cleaner-offset-checkpoint`` (a corrupt one reads as empty)."""
        reads = [
            self._run_blocking(partial(self._read, log_dir)) for log_dir in self._logs.log_dirs
        ]
        return DeferredList(reads, consumeErrors=True).addCallback(lambda _: None)

    def _read(self, log_dir: str) -> None:
        path = os.path.join(log_dir, CLEANER_OFFSET_CHECKPOINT)
        try:
            entries = read_cleaner_offset_checkpoint(log_dir)
        except (CorruptCheckpointError, OSError) as e:
            self._log.error("Failed to read {path}: {error}", path=path, error=e)
            entries = {}
        self._checkpoints[log_dir] = entries

    def checkpoint_of(self, topic: str, partition: int) -> int | None:
        """The first dirty offset checkpointed for C{topic}-C{partition}, if any."""
        log_dir = self._logs.log_dir_of(topic, partition)
        if log_dir is None:
            return None
        return self._checkpoints.get(log_dir, {}).get((topic, partition))

    @property
    def in_progress(self) -> frozenset[TopicPartition]:
        """The partitions being cleaned."""
        return frozenset(self._in_progress)

    def is_current(self, log: PartitionLog) -> bool:
        """Whether C{log} is still its partition's open log (not closed, deleted or replaced)."""
        return self._logs.get(log.topic, log.partition) is log

    def is_uncleanable(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self._uncleanable

    def grab_filthiest(self, now_ms: int) -> LogToClean | None:
        """
        Kafka's C{grabFilthiestCompactedLog}: the dirtiest cleanable log, now in progress.

        Every open, online log whose ``cleanup.policy`` includes
        ``compact`` and that is neither being cleaned nor uncleanable is
        measured; invalid checkpoints are reset (and written). Of the
        non-empty ones, those above their ``min.cleanable.dirty.ratio`` or
        past their ``max.compaction.lag.ms`` with bytes to clean compete;
        the highest ratio wins.
        """
        logs = self._logs.all_logs()
        self._maintain(logs)
        candidates: list[LogToClean] = []
        for log in logs:
            key = (log.topic, log.partition)
            if not log.config.compacts or log.is_offline:
                continue
            if key in self._in_progress or key in self._uncleanable:
                continue
            offsets = cleanable_offsets(log, self.checkpoint_of(*key), now_ms)
            if offsets.force_update_checkpoint:
                if not log.config.deletes:
                    self._log.warn(
                        "Resetting first dirty offset of {name} to log start offset {start} "
                        "since the checkpointed offset {offset} is invalid",
                        name=log.name,
                        start=offsets.first_dirty_offset,
                        offset=self.checkpoint_of(*key),
                    )
                self._set_checkpoint(key, offsets.first_dirty_offset)
            delay = max_compaction_delay(log, offsets.first_dirty_offset, now_ms)
            candidate = LogToClean.measure(log, offsets, delay > 0)
            if candidate.total_bytes > 0:
                candidates.append(candidate)
        self.dirtiest_ratio = max((c.cleanable_ratio for c in candidates), default=0.0)
        cleanable = [c for c in candidates if c.cleanable]
        if not cleanable:
            return None
        filthiest = max(cleanable, key=lambda c: c.cleanable_ratio)
        self._in_progress.add(filthiest.partition)
        return filthiest

    def done_cleaning(self, topic: str, partition: int, end_offset: int) -> Deferred[None]:
        """Kafka's C{doneCleaning}: checkpoint C{end_offset} and release the partition."""
        key = (topic, partition)
        self._in_progress.discard(key)
        if self._logs.get(topic, partition) is None:
            return self._write_all()
        return self._set_checkpoint(key, end_offset)

    def abandon(self, topic: str, partition: int, *, uncleanable: bool = False) -> None:
        """Release a partition whose pass did not finish; C{uncleanable} skips it from now on."""
        key = (topic, partition)
        self._in_progress.discard(key)
        if uncleanable:
            self._uncleanable.add(key)

    def _maintain(self, logs: list[PartitionLog]) -> None:
        """
        Forget what belongs to deleted partitions.

        Uncleanable marks go (Kafka's C{maintainUncleanablePartitions}), and
        checkpoint entries too (Kafka's C{LogManager} removes them when it
        deletes a log): of partitions no longer open, and of partitions
        whose log is not the one seen last round (deleted and created again:
        the new log starts dirty from its log start offset).
        """
        seen = {(log.topic, log.partition): log for log in logs}
        self._uncleanable = {key for key in self._uncleanable if key in seen}
        recreated = {key for key, log in self._seen.items() if seen.get(key, log) is not log}
        self._seen = seen
        for log_dir, entries in self._checkpoints.items():
            gone = [key for key in entries if key not in seen or key in recreated]
            for key in gone:
                del entries[key]
            if gone:
                self._write(log_dir)

    def _set_checkpoint(self, key: TopicPartition, offset: int) -> Deferred[None]:
        log_dir = self._logs.log_dir_of(*key)
        if log_dir is None:
            return self._write_all()
        self._checkpoints.setdefault(log_dir, {})[key] = offset
        return self._write(log_dir)

    def _write(self, log_dir: str) -> Deferred[None]:
        """Write one dir's checkpoint file, keeping only the partitions open in that dir."""
        entries = {
            key: offset
            for key, offset in self._checkpoints.get(log_dir, {}).items()
            if self._logs.log_dir_of(*key) == log_dir
        }
        self._checkpoints[log_dir] = entries
        path = os.path.join(log_dir, CLEANER_OFFSET_CHECKPOINT)
        d = self._run_blocking(partial(write_cleaner_offset_checkpoint, log_dir, entries))
        d.addErrback(
            lambda f: self._log.error(
                "Failed to write {path}: {error}", path=path, error=f.getErrorMessage()
            )
        )
        return d

    def _write_all(self) -> Deferred[None]:
        writes = [self._write(log_dir) for log_dir in self._logs.log_dirs]
        return DeferredList(writes, consumeErrors=True).addCallback(lambda _: None)

    def forget(self, topic: str, partition: int) -> Deferred[None]:
        """Drop a deleted partition's checkpoint (Kafka's C{updateCheckpoints}, removing)."""
        key = (topic, partition)
        self._uncleanable.discard(key)
        for entries in self._checkpoints.values():
            entries.pop(key, None)
        return self._write_all()

    def write_checkpoints(self) -> Deferred[None]:
        """Write every dir's checkpoint file (a clean shutdown)."""
        return self._write_all()
