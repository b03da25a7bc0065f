"""The segments of one partition log and the byte-level work on them (Kafka's ``LocalLog``).

L{LocalLog} knows the ordered segments (the last one active) and the log end
offset. It writes assigned batches to the active segment, rolls, reads whole
batches across segments (on the reactor thread without waiting for the disk,
or as a job for the read pool: L{kafkatwist.storage.reads}; the timestamp
look-ups over its segments are L{kafkatwist.storage.timestamps}). Offsets
that need policy (the log start offset, the high watermark, epochs, producer
state, flushing) belong to L{kafkatwist.storage.partition_log.PartitionLog}.

Errors from the files come out as C{OSError}; the partition log turns them
into C{KAFKA_STORAGE_ERROR} and goes offline.
"""

from __future__ import annotations

import bisect
import errno
import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial

from attrs import Factory, define, field

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.producers.transactions import CompletedTxn
from kafkatwist.storage.files import Writev, unlink_all, write_all
from kafkatwist.storage.nowait import NoWaitPread
from kafkatwist.storage.reads import (
    SegmentView,
    checked_lookup,
    read_segments,
    read_snapshots,
    snapshots_for,
)
from kafkatwist.storage.segment import Segment
from kafkatwist.storage.txn_index import AbortedTxn, TxnIndexes
from kafkatwist.wire.batch import BatchHeader
from kafkatwist.wire.validator import AssignedOffsets

INT32_MAX = 2**31 - 1


def check_batch_sizes(config: LogConfig, batches: Sequence[tuple[int, BatchHeader]]) -> int:
    """
    The total size of batches about to be appended, checked against the config.

    @raise KafkaError: C{MESSAGE_TOO_LARGE} for a batch over
        ``max.message.bytes``, C{RECORD_LIST_TOO_LARGE} for more than
        ``segment.bytes`` in one append.
    """
    total = 0
    for _, header in batches:
        if header.size > config.max_message_bytes:
            raise KafkaError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"batch of {header.size} bytes exceeds max.message.bytes "
                f"{config.max_message_bytes}",
            )
        total += header.size
    if total > config.segment_bytes:
        raise KafkaError(
            ErrorCode.RECORD_LIST_TOO_LARGE,
            f"{total} bytes exceed segment.bytes {config.segment_bytes}",
        )
    return total


@define(eq=False)
class LocalLog:
    """
    The segments of one partition dir, oldest first, and the log end offset.

    @ivar directory: ``<log.dir>/<topic>-<partition>``.
    @ivar txn_indexes: The aborted transactions of the segments (``.txnindex``).
    """

    directory: str
    _segments: list[Segment]
    log_end_offset: int
    txn_indexes: TxnIndexes = Factory(lambda self: TxnIndexes(self.directory), takes_self=True)
    #: Bytes written by L{write} since the log was opened (a counter for long-poll estimates).
    appended_bytes: int = field(init=False, default=0)
    _bases: list[int] = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._bases = [s.base_offset for s in self._segments]

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The segments, oldest first (the last one is active)."""
        return tuple(self._segments)

    @property
    def active(self) -> Segment:
        """The segment appends go to."""
        return self._segments[-1]

    @property
    def size_in_bytes(self) -> int:
        """The total size of the segment files."""
        return sum(s.size for s in self._segments)

    def segment_index(self, offset: int) -> int:
        """The index of the segment holding C{offset} (the first one below every base)."""
        return max(bisect.bisect_right(self._bases, offset) - 1, 0)

    def segments_from(self, offset: int) -> list[Segment]:
        """The segment holding C{offset} and every later one."""
        return self._segments[self.segment_index(offset) :]

    def _segment_end(self, i: int) -> int:
        return self._bases[i + 1] if i + 1 < len(self._bases) else self.log_end_offset

    # -- append ----------------------------------------------------------------

    def should_roll(
        self, config: LogConfig, size: int, assigned: AssignedOffsets, batch_count: int, now: int
    ) -> bool:
        """Kafka's ``shouldRoll``: size, age, index room, or relative-offset overflow."""
        segment = self._segments[-1]
        if segment.size == 0:
            return False
        return (
            segment.size > config.segment_bytes - size
            or segment.time_waited_for_roll(now, assigned.max_timestamp) > config.segment_ms
            or segment.index_room() < batch_count
            or assigned.last_offset - segment.base_offset > INT32_MAX
        )

    def roll(self, config: LogConfig, now_ms: int) -> Segment:
        """Close the active segment for appends and start a new one at the log end offset."""
        self._segments[-1].on_become_inactive()
        new = Segment.create(self.directory, self.log_end_offset, config, now_ms)
        self._segments.append(new)
        self._bases.append(new.base_offset)
        return new

    def write(
        self,
        writev: Writev,
        assigned: AssignedOffsets,
        batches: Sequence[tuple[int, BatchHeader]],
        total: int,
        append_time: int | None,
    ) -> None:
        """
        Write assigned batches to the active segment, then index them once per batch.

        @raise OSError: The write failed; whatever part of it reached the
            file is cut off again (best effort) before the error propagates.
        """
        segment = self._segments[-1]
        position = segment.size
        try:
            written = write_all(writev, segment.fd, assigned.pieces)
            if written != total:
                raise OSError(errno.EIO, f"wrote {written} of {total} bytes")
        except OSError:
            try:
                os.ftruncate(segment.fd, segment.size)
            except OSError:
                pass
            raise
        self.appended_bytes += total
        offset = assigned.base_offset
        for _, header in batches:
            last = offset + header.last_offset_delta
            batch_max = header.max_timestamp if append_time is None else append_time
            segment.index_batch(position, last, batch_max, header.size)
            segment.size = position = position + header.size
            offset = last + 1
        self.log_end_offset = assigned.next_offset

    def index_aborted(self, completed: Sequence[tuple[CompletedTxn, int]]) -> None:
        """
        Index the aborted transactions among those whose markers the active segment just got.

        C{completed}: each transaction with the LSO it completed at
        (L{kafkatwist.producers.state.ProducerStateTable.on_appended}).

        @raise OSError: Writing the ``.txnindex`` failed.
        """
        for txn, lso in completed:
            if txn.is_aborted:
                entry = AbortedTxn(txn.producer_id, txn.first_offset, txn.last_offset, lso)
                self.txn_indexes.append(self._segments[-1].base_offset, entry)

    # -- reads -----------------------------------------------------------------

    def check_read_offset(self, offset: int, log_start_offset: int, name: str) -> None:
        """
        Refuse to read from below C{log_start_offset} or past the log end offset.

        @raise KafkaError: C{OFFSET_OUT_OF_RANGE}.
        """
        if offset < log_start_offset or offset > self.log_end_offset:
            raise KafkaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"offset {offset} is outside [{log_start_offset}, {self.log_end_offset}] "
                f"for {name}",
            )

    def read(
        self,
        offset: int,
        max_bytes: int,
        limit_offset: int,
        min_one_message: bool,
        nowait: NoWaitPread,
    ) -> tuple[list[bytes], int]:
        """
        Whole batches from the one holding C{offset}, up to C{limit_offset} and C{max_bytes}.

        The reactor's attempt (L{kafkatwist.storage.reads}): C{RWF_NOWAIT}
        reads and index look-ups checked with C{mincore}. With
        C{min_one_message} the first batch comes whole however large it
        is. Reads continue into following segments while the budget allows.

        @return: The buffers and their total size.
        @raise WouldBlock: Some of it is not in the page cache.
        @raise OSError: A read failed.
        """
        views = (view for view, _, _ in self._views(offset, nowait))
        return read_segments(views, nowait, offset, max_bytes, limit_offset, min_one_message)

    def _views(self, offset: int, nowait: NoWaitPread) -> Iterator[tuple[SegmentView, str, int]]:
        """The segments from the one holding C{offset}, each as a view (with its index), lazily."""
        segments = self._segments
        last = len(segments) - 1
        for i in range(self.segment_index(offset), last + 1):
            segment = segments[i]
            index = segment.offset_index
            lookup = checked_lookup(index, nowait, i == last)
            view = SegmentView(
                segment.base_offset,
                self._segment_end(i),
                segment.size,
                segment.read_fd(),
                segment.window_size,
                lookup,
            )
            yield view, index.path, index.entries

    def cold_read(
        self,
        offset: int,
        max_bytes: int,
        limit_offset: int,
        min_one_message: bool,
        nowait: NoWaitPread,
    ) -> Callable[[], tuple[list[bytes], int]]:
        """
        The read L{read} would do, as a function to run in a worker thread.

        Takes L{SegmentSnapshot}s now (on the reactor thread): the worker
        reads through descriptors of its own and closes them.
        """
        snapshots = snapshots_for(self._views(offset, nowait), max_bytes)
        return partial(read_snapshots, snapshots, offset, max_bytes, limit_offset, min_one_message)

    # -- deletion and closing --------------------------------------------------

    def close_job(self, also_remove: Sequence[str]) -> Callable[[], None]:
        """
        Unmap every index now; return the blocking close of every file.

        The returned function appends the active segment's final time index
        entry and trims its indexes (Kafka's C{LogSegment.close}: file work,
        kept off the reactor thread), closes every file and removes
        C{also_remove} (pending ``.deleted`` files). Run it on the log's
        executor, after the last flush.
        """
        segments = list(self._segments)
        for segment in segments:
            segment.close_maps()

        def close_files() -> None:
            try:
                segments[-1].on_become_inactive()
            finally:
                for segment in segments:
                    segment.close_files()
            unlink_all(also_remove)

        return close_files

    def remove(self, doomed: Sequence[Segment]) -> None:
        """Drop segments from the list (their files are the caller's to delete)."""
        gone = {id(s) for s in doomed}
        self._segments = [s for s in self._segments if id(s) not in gone]
        self._bases = [s.base_offset for s in self._segments]
        self.txn_indexes.drop(s.base_offset for s in doomed)

    def replace(self, new: Segment, old: Sequence[Segment], txns: list[AbortedTxn]) -> None:
        """Put a cleaned segment in place of C{old} in the list (the swap renamed the files)."""
        gone = {id(s) for s in old}
        kept = [s for s in self._segments if id(s) not in gone]
        at = bisect.bisect_left([s.base_offset for s in kept], new.base_offset)
        kept.insert(at, new)
        self._segments = kept
        self._bases = [s.base_offset for s in kept]
        self.txn_indexes.drop(s.base_offset for s in old)
        self.txn_indexes.remember(new.base_offset, txns)
