"""The values a partition log answers with: appends, reads, offset look-ups, recovery reports."""

from __future__ import annotations

from attrs import frozen

from kafkatwist.storage.index import NO_TIMESTAMP


@frozen
class AppendInfo:
    """
    The outcome of one append (the fields Produce's response needs).

    @ivar log_append_time_ms: The broker's timestamp when the topic uses
        LogAppendTime, else -1.
    """

    base_offset: int
    last_offset: int
    log_append_time_ms: int
    log_start_offset: int
    max_timestamp: int = NO_TIMESTAMP
    size: int = 0


@frozen
class ReadResult:
    """
    Whole record batches read from a log.

    @ivar buffers: C{bytes} holding byte-identical batches from the segment
        files, in order; send them as they are (transports take bytes only).
    @ivar size: Their total length in bytes.
    """

    buffers: list[bytes]
    size: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    log_end_offset: int


@frozen
class OffsetAndTimestamp:
    """
    An answer to ListOffsets.

    The offset, its record's timestamp (-1 if none) and its batch's leader
    epoch (-1 if unknown).
    """

    offset: int
    timestamp: int
    leader_epoch: int = -1


@frozen
class Truncation:
    """
    What recovery cut from a segment.

    The file, the byte position of the cut, the offset where the segment now
    ends, the bytes removed and why.
    """

    file: str
    position: int
    offset: int
    bytes_removed: int
    reason: str


@frozen
class RecoveryReport:
    """
    What L{PartitionLog.open} found and repaired.

    @ivar clean: Whether the log was opened trusting its files.
    @ivar recovered_segments: Segment files that were fully validated.
    @ivar rebuilt_indexes: Segment files whose indexes were rebuilt because
        they were missing or corrupt.
    @ivar truncations: Torn or corrupt tails that were cut off.
    @ivar deleted_segments: Segment files removed because they followed a
        truncation.
    @ivar notes: Other findings (corrupt checkpoint or snapshot files).
    """

    clean: bool
    recovered_segments: tuple[str, ...] = ()
    rebuilt_indexes: tuple[str, ...] = ()
    truncations: tuple[Truncation, ...] = ()
    deleted_segments: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@frozen
class SegmentInfo:
    """An inactive segment as the cleaner manager sees it (dirty ratio, compaction lags)."""

    base_offset: int
    next_offset: int
    size: int
    largest_timestamp: int
