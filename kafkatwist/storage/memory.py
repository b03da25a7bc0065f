"""In-memory partition logs, with the same interface as the file-backed ones.

Used by handler tests (their Deferreds fire at once, so ``successResultOf``
works without a reactor) and usable as a throw-away broker. Batches are kept
as the bytes that would have been written to a segment; reads return whole
batches, starting at the one that holds the requested offset.

Each batch plays the part of a segment for the offset and log APIs:
``delete_records_before`` drops the batches wholly below the new log start,
as the file engine deletes whole segments, and the lookups work from the
per-batch metadata (base and last offset, max timestamp, the leader-epoch
cache), decoding the records of one batch only when a timestamp must be
matched to the exact record inside it.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, succeed

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.results import AppendInfo, OffsetAndTimestamp, ReadResult
from kafkatwist.wire import records as wire_records

#: Kafka's ``UNDEFINED_EPOCH`` and ``UNDEFINED_EPOCH_OFFSET`` (EpochEndOffset).
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


@define
class MemoryPartitionLog:
    """One partition's batches, in memory."""

    topic: str
    partition: int
    #: Of the settings, the memory log applies C{message_timestamp_type};
    #: Produce checks C{max_message_bytes} against it.
    config: LogConfig = field(factory=LogConfig)
    directory: str = ""
    log_start_offset: int = 0
    log_end_offset: int = 0
    #: (base offset, last offset, max timestamp, batch bytes), in offset order.
    _batches: list[tuple[int, int, int, bytes]] = field(factory=list)
    _bases: list[int] = field(factory=list)
    _waiters: list[tuple[int, Deferred[None]]] = field(factory=list)
    #: (epoch, start offset) pairs, as a leader-epoch-checkpoint holds them.
    epochs: list[tuple[int, int]] = field(factory=list)
    #: The running maximum of the batches' max timestamps (monotonic, so bisectable).
    _max_so_far: list[int] = field(factory=list)
    _size: int = 0

    @property
    def high_watermark(self) -> int:
        return self.log_end_offset

    @property
    def last_stable_offset(self) -> int:
        return self.log_end_offset

    def append(
        self, buf: Any, batches: list[tuple[int, Any]], *, leader_epoch: int, now_ms: int
    ) -> Deferred[AppendInfo]:
        append_time = now_ms if self.config.message_timestamp_type == "LogAppendTime" else None
        assigned = wire_records.assign_offsets(
            buf,
            batches,
            self.log_end_offset,
            leader_epoch=leader_epoch,
            log_append_time_ms=append_time,
        )
        # One copy out of the request buffer (join takes the memoryviews as
        # they are); a request's single batch is stored without slicing again.
        data = b"".join(assigned.pieces)
        pos = 0
        for _, header in batches:
            size = header.size
            batch = data if size == len(data) else data[pos : pos + size]
            h = wire_records.parse_batch_header(batch)
            self._batches.append((h.base_offset, h.last_offset, h.max_timestamp, batch))
            self._bases.append(h.base_offset)
            previous = self._max_so_far[-1] if self._max_so_far else h.max_timestamp
            self._max_so_far.append(max(previous, h.max_timestamp))
            self._size += size
            pos += size
        if not self.epochs or self.epochs[-1][0] < leader_epoch:
            self.epochs.append((leader_epoch, assigned.base_offset))
        self.log_end_offset = assigned.next_offset
        self._wake()
        return succeed(
            AppendInfo(
                base_offset=assigned.base_offset,
                last_offset=assigned.last_offset,
                log_append_time_ms=append_time if append_time is not None else -1,
                log_start_offset=self.log_start_offset,
            )
        )

    def append_batches(
        self, data: bytes, *, leader_epoch: int = 0, now_ms: int = 0
    ) -> Deferred[AppendInfo]:
        """Append client-style batches (any base offset), e.g. from tests."""
        batches = wire_records.validate_produce_records(
            data, max_batch_bytes=1 << 30, allow_multiple_batches=True
        )
        return self.append(memoryview(data), batches, leader_epoch=leader_epoch, now_ms=now_ms)

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> ReadResult:
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE)
        limit = self.log_end_offset if max_offset is None else max_offset
        i = max(bisect.bisect_right(self._bases, offset) - 1, 0)
        out: list[Any] = []
        size = 0
        while i < len(self._batches):
            base, last, _, batch = self._batches[i]
            if last < offset:
                i += 1
                continue
            if base >= limit:
                break
            if size + len(batch) > max_bytes and not (min_one_message and not out):
                break
            out.append(batch)
            size += len(batch)
            i += 1
        return ReadResult(
            out,
            size,
            high_watermark=self.high_watermark,
            last_stable_offset=self.last_stable_offset,
            log_start_offset=self.log_start_offset,
            log_end_offset=self.log_end_offset,
        )

    def add_waiter(self, offset: int) -> Deferred[None]:
        """A Deferred fired once the log end offset moves past C{offset}."""
        if self.log_end_offset > offset:
            return succeed(None)
        entry: tuple[int, Deferred[None]]
        d: Deferred[None] = Deferred(
            lambda _d: self._waiters.remove(entry) if entry in self._waiters else None
        )
        entry = (offset, d)
        self._waiters.append(entry)
        return d

    def _wake(self) -> None:
        ready = [w for w in self._waiters if self.log_end_offset > w[0]]
        self._waiters = [w for w in self._waiters if w not in ready]
        for _, d in ready:
            d.callback(None)

    def batches(self) -> list[bytes]:
        """The stored batches, as they would sit in a segment."""
        return [b for *_, b in self._batches]

    def size_bytes(self) -> int:
        """The bytes the stored batches take, as the segment files would."""
        return self._size

    def offset_for_timestamp(self, timestamp: int) -> OffsetAndTimestamp | None:
        """
        The first record at or after the log start whose timestamp is >= C{timestamp}.

        Kafka's ``UnifiedLog.fetchOffsetByTimestamp`` for a target time: the
        first batch whose max timestamp reaches the target, then the first
        record in it at or past both the target and the log start offset
        (``FileRecords.searchForTimestamp``), moving on to the next batch
        if that batch only had such records below the log start.

        @return: the offset and timestamp of that record, or None.
        """
        start = self.log_start_offset
        for i in range(bisect.bisect_left(self._max_so_far, timestamp), len(self._batches)):
            _base, last, max_ts, batch = self._batches[i]
            if max_ts < timestamp or last < start:
                continue
            for record in wire_records.decode_batch_records(batch, check_crc=False):
                if record.timestamp >= timestamp and record.offset >= start:
                    return OffsetAndTimestamp(record.offset, record.timestamp)
        return None

    def max_timestamp(self) -> OffsetAndTimestamp | None:
        """
        The record with the largest timestamp (KIP-734), the earliest on a tie.

        As Kafka: the first batch whose max timestamp is the log's largest,
        then the first record of that batch carrying it
        (``RecordBatch.offsetOfMaxTimestamp``).

        @return: the offset and timestamp, or None for an empty log.
        """
        if not self._batches:
            return None
        largest = self._max_so_far[-1]
        i = bisect.bisect_left(self._max_so_far, largest)
        batch = self._batches[i][3]
        for record in wire_records.decode_batch_records(batch, check_crc=False):
            if record.timestamp == largest:
                return OffsetAndTimestamp(record.offset, largest)
        return None

    def delete_records_before(self, offset: int) -> int:
        """
        Advance the log start offset to C{offset} (DeleteRecords); the new log start.

        An offset at or below the current log start changes nothing. Batches
        wholly below the new start are dropped, and the leader-epoch cache
        is truncated from the start as Kafka's ``truncateFromStart`` does:
        the entry covering the new start now starts there.

        @raise KafkaError: OFFSET_OUT_OF_RANGE beyond the high watermark.
        """
        if offset > self.high_watermark:
            raise KafkaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"Cannot increment the log start offset to {offset} of partition "
                f"{self.topic}-{self.partition} since it is larger than the high watermark "
                f"{self.high_watermark}",
            )
        if offset <= self.log_start_offset:
            return self.log_start_offset
        self.log_start_offset = offset
        keep = 0
        while keep < len(self._batches) and self._batches[keep][1] < offset:
            keep += 1
        if keep:
            self._size -= sum(len(b) for *_, b in self._batches[:keep])
            del self._batches[:keep]
            del self._bases[:keep]
            self._max_so_far = list(itertools.accumulate((b[2] for b in self._batches), max))
        covered = [e for e in self.epochs if e[1] <= offset]
        if covered:
            self.epochs = [(covered[-1][0], offset)] + [e for e in self.epochs if e[1] > offset]
        return offset

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """
        The leader-epoch cache's answer for C{epoch}: (epoch, end offset).

        Kafka's ``LeaderEpochFileCache.endOffsetFor``: the latest epoch ends at
        the log end offset; an older one at the start offset of the next
        higher epoch, reported with the largest epoch <= the requested one
        (or the requested epoch itself if it predates every cached epoch).
        An undefined (-1) or unknown larger epoch gives (-1, -1).
        """
        if epoch == UNDEFINED_EPOCH or not self.epochs:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if self.epochs[-1][0] == epoch:
            return epoch, self.log_end_offset
        epochs = [e for e, _ in self.epochs]
        higher = bisect.bisect_right(epochs, epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return epoch, self.epochs[0][1]
        return self.epochs[higher - 1][0], self.epochs[higher][1]

    def epoch_for_offset(self, offset: int) -> int:
        """The leader epoch of the batch holding C{offset} (from the epoch cache), or -1."""
        starts = [s for _, s in self.epochs]
        i = bisect.bisect_right(starts, offset)
        return self.epochs[i - 1][0] if i else UNDEFINED_EPOCH


@define
class MemoryLogManager:
    """Partition logs by (topic, partition), in memory."""

    logs: dict[tuple[str, int], MemoryPartitionLog] = field(factory=dict)

    def load(self) -> Deferred[None]:
        return succeed(None)

    def get(self, topic: str, partition: int) -> MemoryPartitionLog | None:
        return self.logs.get((topic, partition))

    def create(
        self, topic: str, partition: int, config: LogConfig | None = None
    ) -> MemoryPartitionLog:
        log = self.logs.get((topic, partition))
        if log is None:
            log = self.logs[(topic, partition)] = MemoryPartitionLog(
                topic, partition, config or LogConfig()
            )
        return log

    def update_config(self, topic: str, config: LogConfig) -> None:
        """Give every open log of C{topic} this config."""
        for (name, _partition), log in self.logs.items():
            if name == topic:
                log.config = config

    def delete_topic(self, topic: str) -> Deferred[None]:
        for key in [k for k in self.logs if k[0] == topic]:
            del self.logs[key]
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)
