"""The in-memory state of a partition's leader over PostgreSQL, and what is answered from it.

As the file engine's L{kafkatwist.storage.partition_log.PartitionLog}: the log
start and end offsets, the high watermark (here: the committed end), the
producer state, the leader epoch cache, the aborted transactions and a tail
cache of recent batches (L{kafkatwist.postgres.tail}), loaded from PostgreSQL
(L{PgLogState.apply_loaded}) when the broker becomes leader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from attrs import Factory, define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres import log_sql as sql
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.log_append import PgProducerStateTable, collect_aborted
from kafkatwist.postgres.notifier import DataNotifier, DataState
from kafkatwist.postgres.tail import TailCache
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage.checkpoints import EpochEntry
from kafkatwist.storage.epochs import LeaderEpochCache
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.storage.waiters import HighWatermarkWaiters
from kafkatwist.wire.batch import read_end_txn_marker

T = TypeVar("T")

#: Bytes of recent batches each leader keeps in memory for tailing reads.
DEFAULT_TAIL_BYTES = 1024 * 1024


@define(eq=False)
class PgLogState:
    """
    What the leader of a partition keeps in memory, and the answers read from it.

    L{kafkatwist.postgres.log.PgPartitionLog} adds appends, reads and deletes.
    """

    topic: str
    partition: int
    config: LogConfig
    _db: Database
    _clock: ReactorTime
    _node_id: int
    #: The partition as the tables key it, and the leader epoch this log appends at.
    key: sql.PartitionKey
    leader_epoch: int
    _log_start_offset: int = 0
    _high_watermark: int = 0
    _log_end_offset: int = 0
    _size: int = 0
    _epochs: LeaderEpochCache = Factory(LeaderEpochCache)
    _producer_state: ProducerStateTable = Factory(PgProducerStateTable)
    _aborted: list[AbortedTxn] = Factory(list)
    tail_bytes: int = DEFAULT_TAIL_BYTES
    #: Announces the state to the followers after each commit (None: nobody listens).
    _notifier: DataNotifier | None = None
    _tail: TailCache = field(init=False)
    _waiters: HighWatermarkWaiters = Factory(HighWatermarkWaiters)
    _stale: bool = False
    _reload_waiting: list[Deferred[None]] | None = None
    _deposed: str | None = None
    _offline: str | None = None
    _closed: bool = False
    _appended_bytes: int = 0
    #: The active (virtual) segment: where it starts, its bytes, when it began (clock ms).
    _active_base: int = 0
    _active_bytes: int = 0
    _active_since_ms: int = 0
    #: How many times the state was read from PostgreSQL (the cleaner checks it).
    loads: int = 0

    _log = Logger()

    def __attrs_post_init__(self) -> None:
        self._tail = TailCache(self.tail_bytes)

    def apply_loaded(self, loaded: sql.LoadedPartition) -> None:
        """Take the state PostgreSQL holds (at load, and again when the log was stale)."""
        self._log_start_offset = loaded.log_start_offset
        self._high_watermark = self._log_end_offset = loaded.next_offset
        self._size = loaded.size_bytes
        self._epochs = LeaderEpochCache(loaded.epochs)
        self._epochs.truncate_from_start(loaded.log_start_offset)
        state = PgProducerStateTable()
        for batch in loaded.producer_batches:
            header = batch.header
            marker = None
            if batch.data is not None:
                marker = read_end_txn_marker(batch.data, 0, header)
            state.replay_batch(header, header.base_offset, marker)
        state.on_high_watermark(loaded.next_offset)
        self._producer_state = state
        self._aborted = list(loaded.aborted)
        self._tail.clear()
        self._stale = False
        self._active_base, self._active_bytes = loaded.next_offset, 0
        self.loads += 1
        self._active_since_ms = now_ms(self._clock)

    # -- state -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """C{topic-partition}, for messages."""
        return f"{self.topic}-{self.partition}"

    @property
    def producer_state(self) -> ProducerStateTable:
        """The producer state (empty while the log is stale: see the module docstring)."""
        return self._producer_state

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets (appends in flight included)."""
        return self._log_end_offset

    @property
    def high_watermark(self) -> int:
        """The committed end: what consumers may read."""
        return self._high_watermark

    @property
    def appended_bytes(self) -> int:
        return self._appended_bytes

    @property
    def last_stable_offset(self) -> int:
        return self._producer_state.last_stable_offset(self._high_watermark, self._log_start_offset)

    def ongoing_transactions(self) -> list[tuple[int, int, int]]:
        return self._producer_state.ongoing_transactions()

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions overlapping C{[fetch_offset, upper_bound)} (from memory)."""
        return collect_aborted(self._aborted, fetch_offset, upper_bound)

    @property
    def latest_epoch(self) -> int | None:
        return self._epochs.latest_epoch

    @property
    def epoch_entries(self) -> tuple[EpochEntry, ...]:
        return self._epochs.entries

    @property
    def is_offline(self) -> bool:
        return self._offline is not None

    @property
    def is_serving(self) -> bool:
        """Whether the log still serves (not deposed, offline or closed)."""
        return self._deposed is None and self._offline is None and not self._closed

    @property
    def is_stale(self) -> bool:
        """Whether the next append reloads the state first (a write's outcome is unknown)."""
        return self._stale

    @property
    def size_in_bytes(self) -> int:
        return self._size

    @property
    def active_segment_base(self) -> int:
        """
        Where the active segment starts: the cleaner cleans below it (Kafka's active segment).

        There are no segment files; the leader rolls a virtual one as Kafka
        rolls a file (C{segment.bytes}, C{segment.ms}), and at its election.
        """
        return self._active_base

    @property
    def active_segment_bytes(self) -> int:
        """The bytes appended to the active segment."""
        return self._active_bytes

    def _roll_if_due(self, base_offset: int, size: int) -> None:
        """Count an append of C{size} bytes at C{base_offset}, rolling first if it is due."""
        if self._active_bytes > 0:
            now = now_ms(self._clock)
            full = self._active_bytes + size > self.config.segment_bytes
            if full or now - self._active_since_ms >= self.config.segment_ms:
                self._active_base, self._active_bytes = base_offset, 0
                self._active_since_ms = now
        self._active_bytes += size

    def cleaned(self, start: int, end: int, size_delta: int, aborted: Sequence[AbortedTxn]) -> None:
        """
        The cleaner replaced the batches of C{[start, end)} (committed); reactor thread.

        The size follows; the tail cache forgets the batches below C{end} (reads
        of them go to PostgreSQL, which has the cleaned ones); the aborted
        transactions whose markers lie in the range are the cleaner's C{aborted}.
        """
        self._size += size_delta
        self._tail.drop_below(end)
        kept = [a for a in self._aborted if not start <= a.last_offset < end]
        self._aborted = sorted([*kept, *aborted], key=lambda a: a.last_offset)

    def end_offset_for_epoch(self, epoch: int) -> Deferred[tuple[int, int]]:
        return self._answer(lambda: self._epochs.end_offset_for(epoch, self._log_end_offset))

    def epoch_for_offset(self, offset: int) -> Deferred[int]:
        def lookup() -> int:
            epoch = self._epochs.epoch_for_offset(offset)
            return -1 if epoch is None else epoch

        return self._answer(lookup)

    def _check_usable(self) -> None:
        if self._deposed is not None:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, self._deposed)
        if self._offline is not None:
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{self.name}: {self._offline}")
        if self._closed:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, f"{self.name} is closed")

    def _answer(self, compute: Callable[[], T]) -> Deferred[T]:
        try:
            self._check_usable()
            return succeed(compute())
        except KafkaError as e:
            return fail(e)

    def _run(self, work: Callable[..., T], *args: object) -> Deferred[T]:
        return self._db.run(partial(work, *args))

    def data_state(self) -> DataState:
        """The state the followers learn (L{kafkatwist.postgres.notifier})."""
        return DataState(
            self.topic, self.partition, self._high_watermark, self.last_stable_offset,
            self._log_start_offset, self._appended_bytes,
        )  # fmt: skip

    def _announce(self) -> None:
        if self._notifier is not None and self._deposed is None:
            self._notifier.announce(self.data_state)

    def _depose(self, reason: str) -> None:
        if self._deposed is None:
            self._deposed = reason
            self._waiters.fail_all(KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, reason))

    def _advance_log_start(self, offset: int) -> None:
        if offset <= self._log_start_offset:
            return
        self._log_start_offset = offset
        self._epochs.truncate_from_start(offset)
        self._producer_state.on_log_start_offset(offset)
        self._tail.drop_below(offset)
        self._aborted = [a for a in self._aborted if a.last_offset >= offset]
        self._announce()
