"""Fetch from a follower over PostgreSQL (KIP-392): every replica serves consumers.

In Kafka a follower holds a copy of the leader's log and serves consumer
fetches from it once the leader names it as the consumer's preferred read
replica. Here every broker reads the one copy in PostgreSQL: a follower's
view of a partition (L{PgFollowerLog}) reads the batches the leader
committed, and learns the high watermark, last stable offset and log start
offset from the leader's C{kafkatwist_data} NOTIFYs
(L{kafkatwist.postgres.notifier}), after an initial read of the partition's
row. A long-polling fetch parked on a follower is woken by those NOTIFYs:
no polling, so a produce on the leader reaches a consumer of the follower
within milliseconds. When the LISTEN connection comes back (notifications
may have been missed) every view reads its state again.

What a view knows is never ahead of PostgreSQL, and at most a NOTIFY behind:
a fetch from beyond its high watermark first reads the state again
(L{PgFollowerLog.catch_up}), so OFFSET_OUT_OF_RANGE means what it means on
the leader. Everything else a consumer might ask a follower (ListOffsets,
OffsetForLeaderEpoch, DeleteRecords, Produce) goes to the leader, as in Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from attrs import Factory, define
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres import log_sql as sql
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.follower_sql import (
    CommittedState,
    committed_state,
    committed_states,
    read_committed,
)
from kafkatwist.postgres.log_append import collect_aborted
from kafkatwist.postgres.notifier import DataState, parse_data_payload
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage.checkpoints import EpochEntry
from kafkatwist.storage.executor import chain
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.results import AppendInfo, OffsetAndTimestamp, ReadResult
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.storage.waiters import HighWatermarkWaiters
from kafkatwist.wire.batch import BatchHeader
from kafkatwist.wire.primitives import Buffer

#: What a view adds to its appended-bytes counter when it cannot tell what an
#: advance brought (a new leader's counter): more than any C{min_bytes}, so a
#: parked fetch reads rather than waits.
UNKNOWN_BYTES = 1 << 31


@define(eq=False)
class PgFollowerLog:
    """
    A follower's view of one partition, read from PostgreSQL (the module docstring).

    An L{IFollowerLog}: the reads and the waiters of L{IPartitionLog}; what
    only a leader does fails with C{NOT_LEADER_OR_FOLLOWER}.
    """

    key: sql.PartitionKey
    config: LogConfig
    _db: Database
    _log_start_offset: int = 0
    _high_watermark: int = 0
    _last_stable_offset: int = 0
    _appended_bytes: int = 0
    #: The leader's appended-bytes counter at its last NOTIFY (None: not heard yet).
    _leader_appended: int | None = None
    #: The aborted transactions reads have found, by (producer id, first offset).
    _aborted: dict[tuple[int, int], AbortedTxn] = Factory(dict)
    _aborted_sorted: list[AbortedTxn] = Factory(list)
    _waiters: HighWatermarkWaiters = Factory(HighWatermarkWaiters)
    _producer_state: ProducerStateTable = Factory(ProducerStateTable)
    #: Whether the state was read from PostgreSQL at least once.
    _loaded: bool = False
    #: The reads of the state under way: each waits for the one started after it was asked.
    _refreshing: list[Deferred[None]] | None = None
    _deleted: bool = False
    _closed: bool = False

    _log = Logger()

    @property
    def name(self) -> str:
        return self.key.name

    # -- what the leader tells -----------------------------------------------------

    def learn(self, hw: int, lso: int, start: int, leader_appended: int | None) -> None:
        """
        Take a state from a NOTIFY (with the leader's counter) or a read (without).

        In any order: the high watermark and log start offset only grow; the
        last stable offset goes with the highest high watermark seen.
        """
        moved = hw > self._high_watermark
        if moved:
            self._high_watermark = hw
            self._last_stable_offset = lso
        elif hw == self._high_watermark:
            self._last_stable_offset = max(self._last_stable_offset, lso)
        if start > self._log_start_offset:
            self._log_start_offset = start
            self._aborted = {k: a for k, a in self._aborted.items() if a.last_offset >= start}
            self._aborted_sorted = sorted(self._aborted.values(), key=lambda a: a.last_offset)
        before, self._leader_appended = self._leader_appended, leader_appended
        if leader_appended is not None and before is not None and leader_appended >= before:
            self._appended_bytes += leader_appended - before
        elif moved:
            self._appended_bytes += UNKNOWN_BYTES
        if moved:
            self._waiters.release(self._high_watermark)

    def learn_read(self, state: CommittedState | None) -> None:
        self._loaded = True
        if state is None:
            self._deleted = True
            self._waiters.fail_all(KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, self.name))
            return
        self.learn(state.high_watermark, state.last_stable_offset, state.log_start_offset, None)

    def refresh(self) -> Deferred[None]:
        """Read the state from PostgreSQL (joining a read under way, if any)."""
        d: Deferred[None] = Deferred()
        if self._refreshing is not None:
            self._refreshing.append(d)
            return d
        self._refreshing = [d]
        read = self._db.run(partial(committed_state, self.key))

        def done(result: CommittedState | None | Failure) -> None:
            waiting, self._refreshing = self._refreshing or [], None
            if isinstance(result, Failure):
                for w in waiting:
                    w.errback(result)
                return
            self.learn_read(result)
            for w in waiting:
                w.callback(None)

        read.addBoth(done)
        return d

    def catch_up(self, offset: int) -> Deferred[None]:
        """Fires once the view knows the state (read first if it is behind C{offset} or new)."""
        if self._deleted or self._closed:
            return fail(KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, f"{self.name} is gone"))
        if self._loaded and offset <= self._high_watermark:
            return succeed(None)
        return self.refresh()

    # -- IPartitionLog: what a follower answers ------------------------------------

    @property
    def producer_state(self) -> ProducerStateTable:
        """Empty: the producer state is the leader's."""
        return self._producer_state

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The committed end: a follower over PostgreSQL has nothing uncommitted."""
        return self._high_watermark

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @property
    def appended_bytes(self) -> int:
        return self._appended_bytes

    @property
    def last_stable_offset(self) -> int:
        return self._last_stable_offset

    def ongoing_transactions(self) -> list[tuple[int, int, int]]:
        return []

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborts overlapping C{[fetch_offset, upper_bound)} among those reads found."""
        return collect_aborted(self._aborted_sorted, fetch_offset, upper_bound)

    @property
    def latest_epoch(self) -> int | None:
        return None

    @property
    def epoch_entries(self) -> tuple[EpochEntry, ...]:
        return ()

    @property
    def is_offline(self) -> bool:
        return False

    @property
    def size_in_bytes(self) -> int:
        return 0

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> Deferred[ReadResult]:
        """Whole batches from the one holding C{offset}, from PostgreSQL, below the HW."""
        if offset < self._log_start_offset or offset > self._high_watermark:
            return fail(
                KafkaError(
                    ErrorCode.OFFSET_OUT_OF_RANGE,
                    f"offset {offset} is outside [{self._log_start_offset}, "
                    f"{self._high_watermark}] for {self.name}",
                )
            )
        hw = self._high_watermark
        limit = hw if max_offset is None else min(max_offset, hw)
        if offset >= limit:
            return succeed(self._result([], 0))
        d = self._db.run(
            partial(read_committed, self.key, offset, limit, max_bytes, min_one_message)
        )
        return d.addCallback(self._read)

    def _read(self, found: tuple[list[bytes], int, list[AbortedTxn]]) -> ReadResult:
        buffers, size, aborted = found
        if aborted:
            for txn in aborted:
                self._aborted[(txn.producer_id, txn.first_offset)] = txn
            self._aborted_sorted = sorted(self._aborted.values(), key=lambda a: a.last_offset)
        return self._result(buffers, size)

    def _result(self, buffers: list[bytes], size: int) -> ReadResult:
        return ReadResult(
            buffers=buffers,
            size=size,
            high_watermark=self._high_watermark,
            last_stable_offset=self._last_stable_offset,
            log_start_offset=self._log_start_offset,
            log_end_offset=self._high_watermark,
        )

    def add_waiter(self, offset: int) -> Deferred[int]:
        """Fires with the high watermark once a NOTIFY (or read) moves it past C{offset}."""
        if self._high_watermark > offset or self._closed or self._deleted:
            return succeed(self._high_watermark)
        return self._waiters.add(offset)

    def close(self) -> None:
        """Fire the waiters with the high watermark (the broker stops)."""
        self._closed = True
        self._waiters.fire_all(self._high_watermark)

    # -- what only the leader does ---------------------------------------------------

    def _not_leader(self) -> KafkaError:
        return KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, f"{self.name}: this is a follower")

    def append(
        self,
        buf: Buffer,
        batches: Sequence[tuple[int, BatchHeader]],
        *,
        leader_epoch: int,
        now_ms: int,
    ) -> Deferred[AppendInfo]:
        return fail(self._not_leader())

    def fail_disk(self, error: OSError) -> Deferred[None]:
        return succeed(None)

    def offset_for_timestamp(self, timestamp: int) -> Deferred[OffsetAndTimestamp | None]:
        return fail(self._not_leader())

    def max_timestamp(self) -> Deferred[OffsetAndTimestamp | None]:
        return fail(self._not_leader())

    def end_offset_for_epoch(self, epoch: int) -> Deferred[tuple[int, int]]:
        return fail(self._not_leader())

    def epoch_for_offset(self, offset: int) -> Deferred[int]:
        return fail(self._not_leader())

    def delete_records_before(self, offset: int) -> Deferred[int]:
        return fail(self._not_leader())

    def flush(self) -> Deferred[None]:
        return succeed(None)


@define(eq=False)
class PgFollowerLogs:
    """
    This broker's follower views, made on demand, and the LISTEN that moves them.

    An L{IFollowerLogs}: C{broker.followers} on the PostgreSQL engine.
    """

    _db: Database
    _log_config: Callable[[str], LogConfig]
    _views: dict[tuple[str, int], PgFollowerLog] = Factory(dict)
    _started: bool = False

    _log = Logger()

    def start(self) -> None:
        """LISTEN C{kafkatwist_data} (its own connection, in a thread of its own)."""
        if not self._started:
            self._started = True
            self._db.listen(sql.DATA_CHANNEL, self._notified)

    def follower_log(self, topic: TopicState, partition: int) -> PgFollowerLog:
        """The view of C{topic}-C{partition} (made now if new, its state read in the background)."""
        key = (topic.name, partition)
        view = self._views.get(key)
        if view is None or view.key.topic_id != topic.topic_id:
            pkey = sql.PartitionKey(topic.name, topic.topic_id, partition)
            view = PgFollowerLog(pkey, self._log_config(topic.name), self._db)
            self._views[key] = view
            chain(view.refresh()).addErrback(self._unread, view)
        return view

    def _notified(self, payload: str | None) -> None:
        if payload is None:
            self._resync()
            return
        try:
            state: DataState = parse_data_payload(payload)
        except ValueError:
            self._log.warn("Ignoring a malformed kafkatwist_data payload {p!r}", p=payload)
            return
        view = self._views.get((state.topic, state.partition))
        if view is not None:
            view.learn(
                state.high_watermark,
                state.last_stable_offset,
                state.log_start_offset,
                state.appended_bytes,
            )

    def _resync(self) -> None:
        """The LISTEN connection is (back) up: notifications may have been missed."""
        views = list(self._views.values())
        if not views:
            return
        d = self._db.run(partial(committed_states, [v.key for v in views]))

        def read(states: list[CommittedState | None]) -> None:
            for view, state in zip(views, states, strict=True):
                view.learn_read(state)

        d.addCallbacks(read, self._unread, errbackArgs=(None,))

    def _unread(self, failure: Failure, view: PgFollowerLog | None) -> None:
        # The next fetch reads again (catch_up); a resync comes with the next connection.
        self._log.info(
            "Follower state of {name} not read: {error}",
            name="every partition" if view is None else view.name,
            error=failure.getErrorMessage(),
        )

    def close(self) -> None:
        """Fire every parked fetch's waiter (the broker stops)."""
        views, self._views = list(self._views.values()), {}
        for view in views:
            view.close()
