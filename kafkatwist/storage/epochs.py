"""A partition log's leader epoch cache and its checkpoint (Kafka's ``LeaderEpochFileCache``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from attrs import define
from twisted.python.failure import Failure

from kafkatwist.storage.checkpoints import EpochEntry, write_leader_epoch_checkpoint
from kafkatwist.storage.executor import SerialExecutor


class LeaderEpochCache:
    """
    Leader epochs and the offset each began at (Kafka's ``LeaderEpochFileCache``).

    Only the in-memory rules live here; L{PartitionLog} persists the entries
    to ``leader-epoch-checkpoint``.
    """

    def __init__(self, entries: Iterable[EpochEntry] = ()) -> None:
        self._entries: list[EpochEntry] = list(entries)

    @property
    def entries(self) -> tuple[EpochEntry, ...]:
        """The entries, oldest first."""
        return tuple(self._entries)

    @property
    def latest_epoch(self) -> int | None:
        """The newest epoch, or C{None} when empty."""
        return self._entries[-1].epoch if self._entries else None

    def assign(self, epoch: int, start_offset: int) -> bool:
        """
        Record that C{epoch} starts at C{start_offset}; return whether anything changed.

        As in Kafka, nothing changes when C{epoch} is already the latest
        with an earlier or equal start; otherwise entries whose epoch or
        start offset is not below the new one are dropped first.
        """
        if epoch < 0 or start_offset < 0:
            return False
        if self._entries:
            latest = self._entries[-1]
            if latest.epoch == epoch and start_offset >= latest.start_offset:
                return False
        while self._entries and (
            self._entries[-1].epoch >= epoch or self._entries[-1].start_offset >= start_offset
        ):
            self._entries.pop()
        self._entries.append(EpochEntry(epoch, start_offset))
        return True

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """
        Kafka's ``endOffsetFor``: the epoch at or below C{epoch} and the offset where it ended.

        The latest epoch ends at C{log_end_offset}. An unknown or too-new
        epoch gives C{(-1, -1)}.
        """
        if epoch < 0 or not self._entries:
            return (-1, -1)
        if self._entries[-1].epoch == epoch:
            return (epoch, log_end_offset)
        higher = next((e for e in self._entries if e.epoch > epoch), None)
        if higher is None:
            return (-1, -1)
        floor = None
        for e in self._entries:
            if e.epoch <= epoch:
                floor = e
        if floor is None:
            return (epoch, higher.start_offset)
        return (floor.epoch, higher.start_offset)

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch in force at C{offset} (Kafka's ``epochForOffset``), or C{None}."""
        found = None
        for e in self._entries:
            if e.start_offset > offset:
                break
            found = e.epoch
        return found

    def truncate_from_end(self, end_offset: int) -> bool:
        """Drop entries starting at or after C{end_offset}; return whether anything changed."""
        before = len(self._entries)
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()
        return len(self._entries) != before

    def truncate_from_start(self, start_offset: int) -> bool:
        """
        Drop entries wholly before C{start_offset}; the one in force there now starts at it.

        Kafka's ``truncateFromStart``.
        """
        below = [i for i, e in enumerate(self._entries) if e.start_offset <= start_offset]
        if not below:
            return False
        last = below[-1]
        kept = EpochEntry(self._entries[last].epoch, start_offset)
        changed = last > 0 or self._entries[last] != kept
        self._entries[: last + 1] = [kept]
        return changed


@define(eq=False)
class LeaderEpochFile:
    """
    A L{LeaderEpochCache} kept in ``leader-epoch-checkpoint`` (Kafka's ``LeaderEpochFileCache``).

    Changes are written soon after they happen, through the log's executor,
    off the reactor thread, without an fsync (as Kafka does since KAFKA-15046:
    an fsync per change stalls produce under disk load); the next flush
    writes them again with one, so they are durable with the data.
    """

    cache: LeaderEpochCache
    _path: str
    _executor: SerialExecutor
    _on_error: Callable[[Failure, str], None]
    dirty: bool = False
    _write_queued: bool = False
    #: The file holds the entries, but they were written without an fsync.
    unsynced: bool = False

    def take_for_write(self) -> tuple[EpochEntry, ...] | None:
        """The entries to write with an fsync if not durable yet (then clean), else C{None}."""
        if not self.dirty and not self.unsynced:
            return None
        self.dirty = self.unsynced = False
        return self.cache.entries

    @property
    def needs_write(self) -> bool:
        """Whether the file is not yet durably up to date."""
        return self.dirty or self.unsynced

    def prepare_close(self, sync: bool) -> None:
        """
        Before the log closes: with C{sync}, rewrite the file with an fsync.

        Without, the caller syncs the file system afterwards, so only a
        change not yet written needs writing.
        """
        self.unsynced = False
        self.dirty |= sync

    def assign(self, epoch: int, start_offset: int) -> None:
        """L{LeaderEpochCache.assign}, writing the checkpoint soon if the cache changed."""
        if self.cache.assign(epoch, start_offset):
            self.changed()

    def truncate_from_start(self, start_offset: int) -> None:
        """L{LeaderEpochCache.truncate_from_start}, writing the checkpoint soon if it changed."""
        if self.cache.truncate_from_start(start_offset):
            self.changed()

    def changed(self) -> None:
        """Write the checkpoint soon (Kafka writes it on every change)."""
        self.dirty = True
        if self._write_queued:
            return
        self._write_queued = True

        def prepare() -> Callable[[], None]:
            self._write_queued = False
            if not self.dirty:
                return lambda: None
            self.dirty, self.unsynced = False, True
            return partial(
                write_leader_epoch_checkpoint, self._path, self.cache.entries, sync=False
            )

        self._executor.submit(prepare).addErrback(self._on_error, "leader-epoch-checkpoint write")
