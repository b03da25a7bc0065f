"""In-memory partition logs, with the same interface as the file-backed ones.

Used by handler tests (their Deferreds fire at once, so ``successResultOf``
works without a reactor) and usable as a throw-away broker. Batches are kept
as the bytes that would have been written to a segment; reads return whole
batches, starting at the one that holds the requested offset.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, succeed

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.wire import records as wire_records


@frozen
class AppendInfo:
    """Where an append landed."""

    base_offset: int
    last_offset: int
    log_append_time_ms: int
    log_start_offset: int


@frozen
class ReadResult:
    """Whole batches read from a log: buffers to send as they are."""

    buffers: list[Any]
    size: int


@frozen
class MemoryLogConfig:
    """The few topic settings the memory log honours."""

    max_message_bytes: int = 1048588
    message_timestamp_type: str = "CreateTime"

    @classmethod
    def from_topic_configs(cls, overrides: Mapping[str, str]) -> MemoryLogConfig:
        return cls(
            max_message_bytes=int(overrides.get("max.message.bytes", 1048588)),
            message_timestamp_type=overrides.get("message.timestamp.type", "CreateTime"),
        )


@define
class MemoryPartitionLog:
    """One partition's batches, in memory."""

    topic: str
    partition: int
    config: MemoryLogConfig = field(factory=MemoryLogConfig)
    directory: str = ""
    log_start_offset: int = 0
    log_end_offset: int = 0
    #: (base offset, last offset, max timestamp, batch bytes), in offset order.
    _batches: list[tuple[int, int, int, bytes]] = field(factory=list)
    _bases: list[int] = field(factory=list)
    _waiters: list[tuple[int, Deferred[None]]] = field(factory=list)
    #: (epoch, start offset) pairs, as a leader-epoch-checkpoint holds them.
    epochs: list[tuple[int, int]] = field(factory=list)

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
            buf, batches, self.log_end_offset, leader_epoch=leader_epoch,
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

    def append_batches(self, data: bytes, *, leader_epoch: int = 0, now_ms: int = 0) -> Deferred[AppendInfo]:
        """Append client-style batches (any base offset), e.g. from tests."""
        batches = wire_records.validate_produce_records(
            data, max_batch_bytes=1 << 30, allow_multiple_batches=True
        )
        return self.append(memoryview(data), batches, leader_epoch=leader_epoch, now_ms=now_ms)

    def read(
        self, offset: int, max_bytes: int, *, max_offset: int | None = None, min_one_message: bool = True
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
        return ReadResult(out, size)

    def add_waiter(self, offset: int) -> Deferred[None]:
        """A Deferred fired once the log end offset moves past C{offset}."""
        if self.log_end_offset > offset:
            return succeed(None)
        entry: tuple[int, Deferred[None]]
        d: Deferred[None] = Deferred(lambda _d: self._waiters.remove(entry) if entry in self._waiters else None)
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


@define
class MemoryLogManager:
    """Partition logs by (topic, partition), in memory."""

    logs: dict[tuple[str, int], MemoryPartitionLog] = field(factory=dict)

    def load(self) -> Deferred[None]:
        return succeed(None)

    def get(self, topic: str, partition: int) -> MemoryPartitionLog | None:
        return self.logs.get((topic, partition))

    def create(self, topic: str, partition: int, overrides: Mapping[str, str] | None = None) -> MemoryPartitionLog:
        log = self.logs.get((topic, partition))
        if log is None:
            log = self.logs[(topic, partition)] = MemoryPartitionLog(
                topic, partition, MemoryLogConfig.from_topic_configs(overrides or {})
            )
        return log

    def delete_topic(self, topic: str) -> Deferred[None]:
        for key in [k for k in self.logs if k[0] == topic]:
            del self.logs[key]
        return succeed(None)

    def close(self) -> Deferred[None]:
        return succeed(None)
