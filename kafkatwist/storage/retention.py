"""Which segments retention deletes, and how their files go (Kafka's retention in ``UnifiedLog``).

Kafka's rules, kept by L{deletable_segments}: oldest first, stopping at the
first segment that must stay; never a segment holding offsets at or above
the high watermark; never an empty active segment. The predicates are
Kafka's three reasons: ``retention.ms`` (L{retention_ms_breached}),
``retention.bytes`` (L{retention_size_breached}) and the log start offset
having moved past a whole segment (L{log_start_offset_breached}, after
DeleteRecords or the other two).

L{SegmentDeleter} is Kafka's asynchronous segment deletion: the files are
renamed with ``.deleted`` at once, closed on the log's executor, and removed
after ``file.delete.delay.ms`` on the injected clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial

from attrs import Factory, define
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage import swap
from kafkatwist.storage.checkpoints import DELETED_SUFFIX, SNAPSHOT_SUFFIX, file_name
from kafkatwist.storage.executor import SerialExecutor
from kafkatwist.storage.files import unlink_all
from kafkatwist.storage.local_log import LocalLog
from kafkatwist.storage.segment import Segment
from kafkatwist.storage.swap import CleanedSegment
from kafkatwist.storage.txn_index import TXN_INDEX_SUFFIX

#: Whether a segment may go, given the one after it (C{None} for the active segment).
SegmentPredicate = Callable[[Segment, "Segment | None"], bool]


def retention_ms_breached(config: LogConfig, now_ms: int) -> SegmentPredicate:
    """``retention.ms``: the segment's largest timestamp is older than the retention time."""

    def breached(segment: Segment, _: Segment | None) -> bool:
        return now_ms - segment.largest_timestamp() > config.retention_ms

    return breached


def retention_size_breached(config: LogConfig, size_in_bytes: int) -> SegmentPredicate:
    """``retention.bytes``: the oldest segments whose removal keeps the log above the limit."""
    excess = size_in_bytes - config.retention_bytes

    def breached(segment: Segment, _: Segment | None) -> bool:
        nonlocal excess
        if excess - segment.size >= 0:
            excess -= segment.size
            return True
        return False

    return breached


def log_start_offset_breached(log_start_offset: int) -> SegmentPredicate:
    """The whole segment lies below the log start offset."""

    def breached(_: Segment, following: Segment | None) -> bool:
        return following is not None and following.base_offset <= log_start_offset

    return breached


def deletable_segments(
    segments: Sequence[Segment],
    high_watermark: int,
    log_end_offset: int,
    predicate: SegmentPredicate,
) -> list[Segment]:
    """Kafka's ``deletableSegments``: the oldest segments that C{predicate} accepts."""
    deletable: list[Segment] = []
    for i, segment in enumerate(segments):
        following = segments[i + 1] if i + 1 < len(segments) else None
        upper = following.base_offset if following is not None else log_end_offset
        if high_watermark < upper or not predicate(segment, following):
            break
        if following is None and segment.size == 0:
            break
        deletable.append(segment)
    return deletable


@define(eq=False)
class SegmentDeleter:
    """
    Deletes the files of segments a log no longer holds, Kafka's way.

    C{on_error(reason)} is told when a blocking step fails (the log then
    goes offline).
    """

    _directory: str
    _name: str
    _clock: ReactorTime
    _executor: SerialExecutor
    _on_error: Callable[[str], None]
    _pending: dict[DelayedCall, list[str]] = Factory(dict)

    _log = Logger()

    def delete(self, doomed: Sequence[Segment], delay_ms: int, *, snapshots: bool = True) -> None:
        """
        Rename the segments' files (with snapshots, ``.txnindex``) ``.deleted``; remove them later.

        With C{snapshots=False} the producer snapshots stay (the cleaner's swap).

        @raise OSError: A rename failed.
        """
        renamed: list[str] = []
        for segment in doomed:
            segment.close_maps()
            renamed.extend(segment.rename_for_deletion())
            for suffix in (SNAPSHOT_SUFFIX, TXN_INDEX_SUFFIX)[0 if snapshots else 1 :]:
                path = os.path.join(self._directory, file_name(segment.base_offset, suffix))
                try:
                    os.rename(path, path + DELETED_SUFFIX)
                    renamed.append(path + DELETED_SUFFIX)
                except FileNotFoundError:
                    pass
            self._log.info(
                "Deleting segment {file} of {name}", file=segment.log_path, name=self._name
            )
        closing = list(doomed)

        def close_all() -> Callable[[], None]:
            def close() -> None:
                for segment in closing:
                    segment.close_files()

            return close

        self._executor.submit(close_all).addErrback(self._failed, "closing deleted segments")
        call = self._clock.callLater(delay_ms / 1000.0, self._remove, renamed)
        self._pending[call] = renamed

    def _remove(self, paths: list[str]) -> None:
        for call, pending in list(self._pending.items()):
            if pending is paths:
                del self._pending[call]
        self._executor.submit(lambda: partial(unlink_all, paths)).addErrback(
            self._failed, "removing deleted segments"
        )

    def cancel_pending(self) -> list[str]:
        """Cancel the scheduled removals (the log is closing); return the files to remove now."""
        paths = [p for pending in self._pending.values() for p in pending]
        for call in list(self._pending):
            if call.active():
                call.cancel()
        self._pending.clear()
        return paths

    def _failed(self, failure: Failure, what: str) -> None:
        self._on_error(f"{what} failed: {failure.getErrorMessage()}")


@define(eq=False)
class LogRetention:
    """
    Deletes a partition log's old segments (Kafka's ``UnifiedLog.deleteOldSegments``).

    C{roll(now_ms)} starts a new active segment when every segment must go;
    C{advance_log_start(offset)} moves the log start offset up to the first
    remaining segment after a deletion; C{on_error(reason)} takes the log
    offline when a file operation fails.
    """

    _local: LocalLog
    _deleter: SegmentDeleter
    _roll: Callable[[int], object]
    _advance_log_start: Callable[[int], None]
    _on_error: Callable[[str], None]

    def delete_old_segments(
        self, predicate: SegmentPredicate, config: LogConfig, high_watermark: int, now_ms: int
    ) -> int:
        """Delete the oldest segments C{predicate} accepts; return how many."""
        segments = self._local.segments
        deletable = deletable_segments(
            segments, high_watermark, self._local.log_end_offset, predicate
        )
        if not deletable:
            return 0
        try:
            if len(deletable) == len(segments):
                self._roll(now_ms)
            self._local.remove(deletable)
            self._deleter.delete(deletable, config.file_delete_delay_ms)
        except OSError as e:
            self._on_error(f"segment deletion failed: {e}")
            return 0
        self._advance_log_start(self._local.segments[0].base_offset)
        return len(deletable)

    def delete_records_before(
        self,
        offset: int,
        config: LogConfig,
        log_start_offset: int,
        high_watermark: int,
        now_ms: int,
    ) -> None:
        """
        DeleteRecords: move the log start offset up to C{offset} (-1: the high watermark).

        Then delete the segments wholly below it (Kafka's
        ``UnifiedLog.deleteRecordsOnLocalLog``); an C{offset} at or below
        C{log_start_offset} changes nothing.

        @raise KafkaError: C{OFFSET_OUT_OF_RANGE} if C{offset} is above
            C{high_watermark} (or negative other than -1).
        """
        if offset == -1:
            offset = high_watermark
        if offset < 0 or offset > high_watermark:
            raise KafkaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"cannot delete records before {offset}: high watermark is {high_watermark}",
            )
        if offset > log_start_offset:
            self._advance_log_start(offset)
            self.delete_old_segments(
                log_start_offset_breached(offset), config, high_watermark, now_ms
            )

    def replace_segments(
        self, cleaned: CleanedSegment, old: Sequence[Segment], delete_delay_ms: int
    ) -> None:
        """
        The cleaner's swap of C{cleaned} for C{old} (L{swap.replace_segments}).

        @raise CleaningAbortedError: C{old} are no longer all in the log.
        @raise KafkaError: C{KAFKA_STORAGE_ERROR} when a rename failed (the log goes offline).
        """

        def rename_old(doomed: Sequence[Segment]) -> None:
            self._deleter.delete(doomed, delete_delay_ms, snapshots=False)

        try:
            swap.replace_segments(self._local, rename_old, cleaned, old)
        except OSError as e:
            self._on_error(f"segment swap failed: {e}")
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"segment swap failed: {e}") from None

    def cancel_pending(self) -> list[str]:
        """Cancel the scheduled file removals (the log closes); return the files to remove."""
        return self._deleter.cancel_pending()

    def apply(
        self,
        config: LogConfig,
        high_watermark: int,
        log_start_offset: Callable[[], int],
        now_ms: int,
    ) -> int:
        """
        Delete old segments by ``retention.ms``, ``retention.bytes`` and the log start offset.

        The first two only when ``cleanup.policy`` includes ``delete``.

        @return: The number of segments deleted.
        """
        deleted = 0
        if config.deletes and config.retention_ms >= 0:
            deleted += self.delete_old_segments(
                retention_ms_breached(config, now_ms), config, high_watermark, now_ms
            )
        if config.deletes and config.retention_bytes >= 0:
            size = self._local.size_in_bytes
            if size > config.retention_bytes:
                deleted += self.delete_old_segments(
                    retention_size_breached(config, size), config, high_watermark, now_ms
                )
        deleted += self.delete_old_segments(
            log_start_offset_breached(log_start_offset()), config, high_watermark, now_ms
        )
        return deleted
