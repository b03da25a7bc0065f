"""One partition's log in PostgreSQL, held by its leader (L{IPartitionLog} over the tables).

The leader keeps the partition's state in memory exactly like the file
engine's L{kafkatwist.storage.partition_log.PartitionLog}: the log end
offset, the log start offset, the producer state, the leader epoch cache, the
aborted transactions, and a tail cache of recent batches
(L{kafkatwist.postgres.tail}). L{kafkatwist.postgres.manager.PgLogManager}
loads it when the broker becomes leader.

Appends (per batch, never per record): offsets are assigned at once from the
log end offset (C{assign_offsets}: baseOffset and partitionLeaderEpoch
patched, outside the CRC), the producer state and epoch cache updated at
once (so the next request's checks see them, as in the file engine), and
the batches queued. One transaction at a time per partition writes the
queue: the fence (C{partitions} row: leader, leader epoch, next offset), the
batch rows, new epochs and aborted transactions; appends queued meanwhile go
together in the next one (group commit). The high watermark is the committed
end: an acknowledgement means the transaction committed. After the commit
the followers are told (L{kafkatwist.postgres.notifier}: a NOTIFY of its own).

Failures:

- the fence refuses (another leader or epoch): the log is deposed; every
  append, read and waiter fails with C{NOT_LEADER_OR_FOLLOWER};
- anything else (L{DatabaseUnavailable}, whose commit may or may not have
  happened): the log is stale; what was not acknowledged fails with a
  retriable error, the producer state is emptied (so no check trusts it), and
  the next append first reloads the state from PostgreSQL and checks its
  batches against it again: a retried idempotent batch whose commit did
  happen is then a duplicate, answered with its original offsets.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres import log_sql as sql
from kafkatwist.postgres.log_append import (
    AppendQueue,
    PendingAppend,
    PgProducerStateTable,
    batch_rows,
    check_again,
)
from kafkatwist.postgres.log_state import PgLogState
from kafkatwist.postgres.log_time import offset_for_time
from kafkatwist.storage.checkpoints import EpochEntry
from kafkatwist.storage.local_log import check_batch_sizes
from kafkatwist.storage.results import AppendInfo, OffsetAndTimestamp, ReadResult
from kafkatwist.storage.timestamps import (
    EARLIEST_LOCAL_TIMESTAMP,
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    MAX_TIMESTAMP,
)
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.wire.batch import NO_TIMESTAMP, BatchHeader
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.record_checks import decompressed_limit


@define(eq=False)
class PgPartitionLog(PgLogState):
    """
    The log of one partition this broker leads, over PostgreSQL (see the module docstring).

    Made by L{kafkatwist.postgres.manager.PgLogManager} (loaded, or empty for a
    topic being created); used on the reactor thread; every database call runs
    in L{Database}'s threads.
    """

    _appends: AppendQueue = field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._appends = self._queue()

    def _queue(self) -> AppendQueue:
        return AppendQueue(
            self._db, self.key, self._node_id, self.leader_epoch, self._committed,
            self._write_failed,
        )  # fmt: skip

    @property
    def is_bound(self) -> bool:
        """Whether the log knows its topic id and leader epoch (a new topic's learns them later)."""
        return self.leader_epoch >= 0

    def bind(self, topic_id: uuid.UUID, leader_epoch: int) -> None:
        """A new topic's empty log becomes the leader's, at C{leader_epoch} (nothing to load)."""
        self.key = sql.PartitionKey(self.topic, topic_id, self.partition)
        self.leader_epoch = leader_epoch
        self._appends = self._queue()

    # -- append ------------------------------------------------------------------

    def append(
        self,
        buf: Buffer,
        batches: Sequence[tuple[int, BatchHeader]],
        *,
        leader_epoch: int,
        now_ms: int,
    ) -> Deferred[AppendInfo]:
        """
        Append validated batches: offsets now, acknowledged once their transaction commits.

        C{leader_epoch} is the image's; the batches are stamped with (and
        fenced by) the epoch this log was loaded at, which the image had then.
        """
        try:
            self._check_usable()
            if not self.is_bound:
                raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, f"{self.name} is not ready")
            total = check_batch_sizes(self.config, batches)
        except KafkaError as e:
            return fail(e)
        if self._stale or self._reload_waiting is not None:
            return self._after_reload().addCallback(
                lambda _: self._recheck(buf, batches, now_ms, total)
            )
        return self._enqueue(buf, batches, now_ms, total)

    def _enqueue(
        self, buf: Buffer, batches: Sequence[tuple[int, BatchHeader]], now_ms: int, total: int
    ) -> Deferred[AppendInfo]:
        base = self._log_end_offset
        if not batches:
            return succeed(AppendInfo(base, base - 1, -1, self._log_start_offset))
        append_time = now_ms if self.config.log_append_time else None
        epoch = self.leader_epoch
        assigned, rows, tail = batch_rows(buf, batches, base, epoch, append_time)
        completed = self._producer_state.on_appended(buf, batches, base)
        aborted = [
            AbortedTxn(txn.producer_id, txn.first_offset, txn.last_offset, lso)
            for txn, lso in completed
            if txn.is_aborted
        ]
        new_epoch = EpochEntry(epoch, base) if self._epochs.assign(epoch, base) else None
        self._log_end_offset = assigned.next_offset
        info = AppendInfo(
            base_offset=base,
            last_offset=assigned.last_offset,
            log_append_time_ms=-1 if append_time is None else append_time,
            log_start_offset=self._log_start_offset,
            max_timestamp=assigned.max_timestamp,
            size=total,
        )
        pending = PendingAppend(rows, tail, new_epoch, aborted, info, Deferred())
        self._appends.push(pending)
        return pending.done

    def _committed(self, group: list[PendingAppend], end: int) -> None:
        size = sum(p.info.size for p in group)
        self._appended_bytes += size
        self._size += size
        for pending in group:
            self._tail.add(pending.tail)
            self._aborted.extend(pending.aborted)
            self._roll_if_due(pending.info.base_offset, pending.info.size)
        if end > self._high_watermark:
            self._high_watermark = end
            self._producer_state.on_high_watermark(end)
        for pending in group:
            pending.done.callback(pending.info)
        self._waiters.release(self._high_watermark)
        self._announce()

    def _write_failed(self, failure: Failure, failed: list[PendingAppend]) -> None:
        error = failure.value
        if isinstance(error, sql.NotLeader):
            self._depose(str(error.message))
        else:
            if not isinstance(error, KafkaError):
                self._log.failure("Append to {name} failed", failure, name=self.name)
                error = KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"append failed: {error}")
            self._make_stale()
        for pending in failed:
            pending.done.errback(error)

    def _make_stale(self) -> None:
        self._stale = True
        self._producer_state = PgProducerStateTable()
        self._log_end_offset = self._high_watermark

    # -- reloading a stale log ---------------------------------------------------

    def _after_reload(self) -> Deferred[None]:
        """Fires once the state is reloaded (in order with other appends waiting for it)."""
        waiter: Deferred[None] = Deferred()
        if self._reload_waiting is not None:
            self._reload_waiting.append(waiter)
            return waiter
        self._reload_waiting = [waiter]
        d = self.reload()

        def done(result: object) -> None:
            waiting, self._reload_waiting = self._reload_waiting or [], None
            for w in waiting:
                if isinstance(result, Failure):
                    w.errback(result.value)
                else:
                    w.callback(None)

        d.addBoth(done)
        return waiter

    def reload(self) -> Deferred[None]:
        """Read the state again from PostgreSQL (waiting for a write in flight first)."""
        if self._appends.writing:
            return self._appends.drained().addCallback(lambda _: self.reload())
        d = self._run(sql.load_partition, self.key, self._node_id, self.leader_epoch)

        def loaded(state: sql.LoadedPartition) -> None:
            self.apply_loaded(state)
            self._log.info(
                "Reloaded {name} from PostgreSQL: next offset {end}", name=self.name,
                end=self._high_watermark,
            )  # fmt: skip
            self._waiters.release(self._high_watermark)

        def failed(failure: Failure) -> Failure:
            if isinstance(failure.value, sql.NotLeader):
                self._depose(str(failure.value.message))
            return failure

        return d.addCallbacks(loaded, failed)

    def _recheck(
        self, buf: Buffer, batches: Sequence[tuple[int, BatchHeader]], now_ms: int, total: int
    ) -> Deferred[AppendInfo]:
        """Check the batches against the reloaded producer state, then append (or answer)."""
        try:
            self._check_usable()
        except KafkaError as e:
            return fail(e)
        if self._stale:
            return self.append(buf, batches, leader_epoch=self.leader_epoch, now_ms=now_ms)
        try:
            duplicate = check_again(
                self._producer_state, buf, batches, self._log_end_offset, self.name
            )
        except KafkaError as e:
            return fail(e)
        if duplicate is not None:
            return succeed(duplicate.with_start(self._log_start_offset))
        return self._enqueue(buf, batches, now_ms, total)

    # -- reads -------------------------------------------------------------------

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> Deferred[ReadResult]:
        """Whole batches from the one holding C{offset}: from the tail cache, else PostgreSQL."""
        try:
            self._check_usable()
            if offset < self._log_start_offset or offset > self._log_end_offset:
                raise KafkaError(
                    ErrorCode.OFFSET_OUT_OF_RANGE,
                    f"offset {offset} is outside [{self._log_start_offset}, "
                    f"{self._log_end_offset}] for {self.name}",
                )
        except KafkaError as e:
            return fail(e)
        limit = (
            self._high_watermark if max_offset is None else min(max_offset, self._high_watermark)
        )
        if offset >= limit:
            return succeed(self._result([], 0))
        if self._tail.covers(offset):
            return succeed(
                self._result(*self._tail.read(offset, max_bytes, limit, min_one_message))
            )
        d = self._run(sql.read_batches, self.key, offset, limit, max_bytes, min_one_message)
        return d.addCallback(lambda found: self._result(*found))

    def _result(self, buffers: list[bytes], size: int) -> ReadResult:
        return ReadResult(
            buffers=buffers,
            size=size,
            high_watermark=self._high_watermark,
            last_stable_offset=self.last_stable_offset,
            log_start_offset=self._log_start_offset,
            log_end_offset=self._log_end_offset,
        )

    def add_waiter(self, offset: int) -> Deferred[int]:
        """Fires with the high watermark once it passes C{offset} (local commits); cancellable."""
        if self._deposed is not None:
            return fail(KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, self._deposed))
        if self._offline is not None:
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline))
        if self._high_watermark > offset or self._closed:
            return succeed(self._high_watermark)
        return self._waiters.add(offset)

    def offset_for_timestamp(self, timestamp: int) -> Deferred[OffsetAndTimestamp | None]:
        """ListOffsets: special timestamps from memory, others through the time index."""
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
            epoch = self._epochs.epoch_for_offset(self._log_start_offset)
            start = self._log_start_offset
            return self._answer(
                lambda: OffsetAndTimestamp(start, NO_TIMESTAMP, -1 if epoch is None else epoch)
            )
        if timestamp == LATEST_TIMESTAMP:
            latest = self._epochs.latest_epoch
            hw = self._high_watermark
            return self._answer(
                lambda: OffsetAndTimestamp(hw, NO_TIMESTAMP, -1 if latest is None else latest)
            )
        if timestamp < 0 and timestamp != MAX_TIMESTAMP:
            return self._answer(lambda: None)
        try:
            self._check_usable()
        except KafkaError as e:
            return fail(e)
        limit = decompressed_limit(self.config.max_message_bytes)
        exact = timestamp == MAX_TIMESTAMP
        start, hw = self._log_start_offset, self._high_watermark
        return self._run(offset_for_time, self.key, timestamp, exact, start, hw, limit)

    def max_timestamp(self) -> Deferred[OffsetAndTimestamp | None]:
        """ListOffsets C{MAX_TIMESTAMP} (-3)."""
        return self.offset_for_timestamp(MAX_TIMESTAMP)

    # -- deletion ----------------------------------------------------------------

    def delete_records_before(self, offset: int) -> Deferred[int]:
        """DeleteRecords: move the log start offset to C{offset} (-1: the HW); fires with it."""
        try:
            self._check_usable()
        except KafkaError as e:
            return fail(e)
        if offset == -1:
            offset = self._high_watermark
        if offset < 0 or offset > self._high_watermark:
            return fail(
                KafkaError(
                    ErrorCode.OFFSET_OUT_OF_RANGE,
                    f"cannot delete records before {offset}: high watermark is "
                    f"{self._high_watermark}",
                )
            )
        return self._delete_before(offset)

    def _delete_before(self, offset: int) -> Deferred[int]:
        if offset <= self._log_start_offset:
            return succeed(self._log_start_offset)
        d = self._run(sql.delete_before, self.key, self._node_id, self.leader_epoch, offset)

        def deleted(result: tuple[int, int]) -> int:
            start, self._size = result
            self._advance_log_start(start)
            return self._log_start_offset

        def failed(failure: Failure) -> Failure:
            if isinstance(failure.value, sql.NotLeader):
                self._depose(str(failure.value.message))
            return failure

        return d.addCallbacks(deleted, failed)

    def apply_retention(self, now_ms: int) -> Deferred[int]:
        """Delete by ``retention.ms`` / ``.bytes`` (set-based); fires with the log start offset."""
        limits = sql.retention_limits(self.config, now_ms)
        if self._deposed or self._offline or self._closed or limits is None:
            return succeed(self._log_start_offset)
        cutoff, keep = limits
        start, end, size = self._log_start_offset, self._high_watermark, self._size
        d = self._run(sql.retention_start, self.key, start, end, size, cutoff, keep)
        return d.addCallback(self._delete_before)

    # -- the rest of IPartitionLog -----------------------------------------------

    def flush(self) -> Deferred[None]:
        """Every acknowledged append is committed: fires once appends in flight are."""
        return self._appends.drained()

    def fail_disk(self, error: OSError) -> Deferred[None]:
        """The test affordance: the log goes offline (C{KAFKA_STORAGE_ERROR} from now on)."""
        if self._offline is None:
            self._offline = f"storage failed: {error}"
            self._waiters.fail_all(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._offline))
        return succeed(None)

    def resign(self) -> None:
        """This broker no longer leads the partition: waiters fail NOT_LEADER_OR_FOLLOWER."""
        self._depose(f"{self.name}: broker {self._node_id} resigned leadership")

    def close(self) -> Deferred[None]:
        """Wait for appends in flight, then fire the waiters with the high watermark."""
        done = self.flush()

        def closed(_: object) -> None:
            self._closed = True
            self._waiters.fire_all(self._high_watermark)

        return done.addCallback(closed)
