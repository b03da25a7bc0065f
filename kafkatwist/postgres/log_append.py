"""A partition log's appends on their way to PostgreSQL: rows, and one transaction at a time.

L{batch_rows} turns validated batches into the rows of C{batches}, per
batch: C{assign_offsets} patches baseOffset and partitionLeaderEpoch (outside
the CRC) and each batch's pieces are joined into the one buffer psycopg sends
as a binary C{bytea} parameter (and the tail cache keeps).

L{AppendQueue} writes them: one transaction at a time per partition (offsets
are assigned in order, so their rows must commit in order); appends queued
while one is in flight go together in the next (group commit, at most
L{GROUP_BYTES}).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

from attrs import Factory, define, frozen
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres import log_sql as sql
from kafkatwist.postgres.db import Database
from kafkatwist.producers.entry import BatchMetadata
from kafkatwist.producers.state import ProducerStateError, ProducerStateTable
from kafkatwist.storage.checkpoints import EpochEntry
from kafkatwist.storage.results import AppendInfo
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.wire.batch import TIMESTAMP_TYPE_MASK, BatchHeader, read_end_txn_marker
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.validator import AssignedOffsets, assign_offsets

#: At most this many bytes of queued appends go into one transaction.
GROUP_BYTES = 8 * 1024 * 1024

#: A batch as the tail cache keeps it: base offset, last offset, bytes.
TailBatch = tuple[int, int, bytes]


@define
class PgProducerStateTable(ProducerStateTable):
    """
    A partition's producer state whose duplicates must be committed ones.

    The table sees appends in flight (the next request's sequence checks need
    them), but a retry of a batch whose transaction has not committed yet must
    not be acknowledged as a duplicate: that transaction may still fail. Such
    a retry gets C{REQUEST_TIMED_OUT} (retriable: what Kafka answers when a
    produce is not done in time); the client's next retry finds it committed
    (a duplicate) or, if it failed, appends it.
    """

    high_watermark: int = 0

    def on_high_watermark(self, high_watermark: int) -> None:
        super().on_high_watermark(high_watermark)
        self.high_watermark = high_watermark

    def check_append(
        self, headers: Iterable[BatchHeader], *, next_offset: int = -1, partition: str = ""
    ) -> BatchMetadata | None:
        found = super().check_append(headers, next_offset=next_offset, partition=partition)
        if found is not None and found.last_offset >= self.high_watermark:
            raise ProducerStateError(
                ErrorCode.REQUEST_TIMED_OUT,
                f"the batch at offsets {found.first_offset}..{found.last_offset} of {partition}"
                " is still being written; retry",
            )
        return found


@frozen
class Duplicate:
    """A retried batch already in the log: its offsets and timestamp (Kafka answers them)."""

    first_offset: int
    last_offset: int
    timestamp: int

    def with_start(self, log_start_offset: int) -> AppendInfo:
        """The Produce answer: the original batch's offsets."""
        return AppendInfo(self.first_offset, self.last_offset, self.timestamp, log_start_offset)


def check_again(
    state: ProducerStateTable,
    buf: Buffer,
    batches: Sequence[tuple[int, BatchHeader]],
    next_offset: int,
    partition: str,
) -> Duplicate | None:
    """
    Check an append's batches against a reloaded producer state.

    The first checks (L{kafkatwist.topics.partitions.Partitions}) ran against
    the emptied state of a stale log, so they proved nothing: data batches
    are checked again, and so are markers (their producer and coordinator
    epochs: a zombie coordinator's marker is refused here, as Kafka's
    C{appendEndTxnMarker} refuses it). A marker's transaction version is not
    in its batch: its epoch is checked as versions 0 and 1 check it.

    @return: The duplicate the first batch repeats, or C{None} to append.
    @raise KafkaError: The producer state refuses the batches.
    """
    headers = [h for _, h in batches if h.producer_id >= 0 and not h.is_control]
    try:
        for pos, h in batches:
            marker = read_end_txn_marker(buf, pos, h) if h.producer_id >= 0 else None
            if marker is not None:
                state.check_marker(
                    h.producer_id,
                    h.producer_epoch,
                    marker.coordinator_epoch,
                    offset=next_offset,
                    partition=partition,
                )
        if not headers:
            return None
        found = state.check_append(headers, next_offset=next_offset, partition=partition)
    except ProducerStateError as e:
        raise KafkaError(e.code, e.message) from None
    if found is None:
        return None
    return Duplicate(found.first_offset, found.last_offset, found.timestamp)


def collect_aborted(
    aborted: Sequence[AbortedTxn], fetch_offset: int, upper_bound: int
) -> list[AbortedTxn]:
    """The aborted transactions (marker order) overlapping C{[fetch_offset, upper_bound)}."""
    found: list[AbortedTxn] = []
    for txn in aborted:
        if txn.last_offset < fetch_offset:
            continue
        if txn.first_offset < upper_bound:
            found.append(txn)
        if txn.last_stable_offset >= upper_bound:
            break
    return found


@frozen
class PendingAppend:
    """One append waiting for its transaction: its rows and what to answer."""

    rows: list[tuple[object, ...]]
    tail: list[TailBatch]
    epoch: EpochEntry | None
    aborted: list[AbortedTxn]
    info: AppendInfo
    done: Deferred[AppendInfo]


def batch_rows(
    buf: Buffer,
    batches: Sequence[tuple[int, BatchHeader]],
    base_offset: int,
    leader_epoch: int,
    append_time: int | None,
) -> tuple[AssignedOffsets, list[tuple[object, ...]], list[TailBatch]]:
    """
    Assign offsets from C{base_offset}; the C{batches} rows (without the key) and tail entries.

    A row: base offset, last offset, leader epoch, base and max timestamp,
    producer id, epoch and base sequence, record count, attributes, size, bytes.
    """
    assigned = assign_offsets(
        buf, batches, base_offset, leader_epoch=leader_epoch, log_append_time_ms=append_time
    )
    pieces = assigned.pieces
    rows: list[tuple[object, ...]] = []
    tail: list[TailBatch] = []
    offset = base_offset
    for i, (_, h) in enumerate(batches):
        data = b"".join((pieces[2 * i], pieces[2 * i + 1]))
        last = offset + h.last_offset_delta
        if append_time is None:
            max_ts, attributes = h.max_timestamp, h.attributes
        else:
            max_ts, attributes = append_time, h.attributes | TIMESTAMP_TYPE_MASK
        rows.append((
            offset, last, leader_epoch, h.base_timestamp, max_ts, h.producer_id,
            h.producer_epoch, h.base_sequence, h.records_count, attributes, h.size, data,
        ))  # fmt: skip
        tail.append((offset, last, data))
        offset = last + 1
    return assigned, rows, tail


@define(eq=False)
class AppendQueue:
    """
    The appends of one partition log, written one transaction at a time, in order.

    C{committed(group, end)} and C{failed(failure, group + queued)} are the
    log's: a failure fails everything queued too (their offsets followed the
    failed ones).
    """

    _db: Database
    key: sql.PartitionKey
    node_id: int
    leader_epoch: int
    _committed: Callable[[list[PendingAppend], int], None]
    _failed: Callable[[Failure, list[PendingAppend]], None]
    _queue: list[PendingAppend] = Factory(list)
    writing: bool = False
    _drained: list[Deferred[None]] = Factory(list)

    def push(self, pending: PendingAppend) -> None:
        """Queue an append; write it now if no transaction is in flight."""
        self._queue.append(pending)
        self._write_next()

    def drained(self) -> Deferred[None]:
        """Fires once no transaction is in flight."""
        d: Deferred[None] = Deferred()
        if self.writing:
            self._drained.append(d)
        else:
            d.callback(None)
        return d

    def _write_next(self) -> None:
        if self.writing or not self._queue:
            return
        queue = self._queue
        group: list[PendingAppend] = []
        size = 0
        while queue and (not group or size + queue[0].info.size <= GROUP_BYTES):
            pending = queue.pop(0)
            group.append(pending)
            size += pending.info.size
        first, end = group[0].info.base_offset, group[-1].info.last_offset + 1
        work = sql.AppendWork(
            key=self.key,
            node_id=self.node_id,
            leader_epoch=self.leader_epoch,
            expected_base=first,
            count=end - first,
            size=size,
            rows=[row for p in group for row in p.rows],
            epochs=[p.epoch for p in group if p.epoch is not None],
            aborted=[a for p in group for a in p.aborted],
        )
        self.writing = True
        d = self._db.run(partial(sql.append_batches, work))
        d.addCallbacks(self._done, self._error, callbackArgs=(group, end), errbackArgs=(group,))

    def _done(self, _: None, group: list[PendingAppend], end: int) -> None:
        self.writing = False
        self._committed(group, end)
        self._write_next()
        self._fire_drained()

    def _error(self, failure: Failure, group: list[PendingAppend]) -> None:
        self.writing = False
        queued, self._queue = self._queue, []
        self._failed(failure, group + queued)
        self._fire_drained()

    def _fire_drained(self) -> None:
        if not self.writing:
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)
