"""The cluster metadata log in PostgreSQL: one shared log, an image in every broker.

Kafka's ``__cluster_metadata`` becomes the table C{metadata_log}: one row per
appended batch, at its base offset, holding the same record-batch bytes
L{kafkatwist.storage.kraft.KRaftMetadataStore} writes to its segments (and
encoded by its functions). Every broker replays the table into its own
L{MetadataImage} at L{PgMetadataStore.load} and then follows it: an append
NOTIFYs ``kafkatwist_metadata`` with the new end offset, and each broker
reads the rows past its own end, applies them and tells its subscribers. After
the LISTEN connection is made again (PostgreSQL restarted, the network
broke) notifications may have been lost, so the store reads the table again.

Appends are optimistic, as a controller that is no longer active would be
told by Kafka's raft layer. An append holds an advisory lock for its
transaction and checks that nothing was written past the offset its image
ends at. If another broker wrote first, the image was stale when the caller
built its records: the missing rows are read in that same transaction and
applied, and the append fails with C{NOT_CONTROLLER}, which Kafka's clients
retry (against the now caught-up image). Writers that are not client
requests use L{PgMetadataStore.append_when}: their records are rebuilt from
the caught-up image and the append retried.

The fence: the C{partitions} rows every data append checks follow the
partition records in the same transaction as the metadata row, exactly as
L{MetadataImage} applies them (L{fence_statements}).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg
from attrs import define, field, frozen
from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime, now_ms
from kafkatwist.errors import ErrorCode, KafkaError, ProtocolViolation, RecordsError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.postgres.db import Database, notify
from kafkatwist.storage.kraft import (
    MetadataImage,
    decode_metadata_record,
    encode_metadata_record,
    random_kafka_uuid,
    uuid_to_kafka,
)
from kafkatwist.wire.record import build_batch, decode_batch_records

#: The channel appends NOTIFY, with the log's new end offset as the payload.
METADATA_CHANNEL = "kafkatwist_metadata"
#: The advisory lock key every metadata append holds for its transaction ("ktmeta").
APPEND_LOCK = 0x6B746D657461
#: Seconds before reading the table again after a failed catch-up.
RESYNC_RETRY_SECONDS = 1.0
#: How many times L{PgMetadataStore.append_when} rebuilds its records before giving up.
MAX_ATTEMPTS = 20

#: A SQL statement and its parameters.
Statement = tuple[str, tuple[Any, ...]]

_INSERT_PARTITION = (
    "INSERT INTO partitions (topic_id, partition, leader, leader_epoch) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (topic_id, partition)"
    " DO UPDATE SET leader = EXCLUDED.leader, leader_epoch = EXCLUDED.leader_epoch"
)
_CHANGE_LEADER = (
    "UPDATE partitions SET leader = %s, leader_epoch = leader_epoch + 1"
    " WHERE topic_id = %s AND partition = %s"
)
_DELETE_TOPIC = "DELETE FROM partitions WHERE topic_id = %s"
_READ_ROWS = (
    "SELECT base_offset, last_offset, epoch, batch FROM metadata_log"
    " WHERE base_offset >= %s ORDER BY base_offset"
)
_INSERT_ROW = (
    "INSERT INTO metadata_log (base_offset, last_offset, epoch, written_by, batch)"
    " VALUES (%s, %s, %s, %s, %s)"
)

_log = Logger()


class MetadataConflict(KafkaError):
    """
    Another broker appended to the metadata log first (C{NOT_CONTROLLER}: retry).

    By the time this is raised the store has applied the other broker's rows.
    """

    def __init__(self, message: str = "Another broker changed the metadata first; retry.") -> None:
        super().__init__(ErrorCode.NOT_CONTROLLER, message)


@frozen
class LogRow:
    """One row of C{metadata_log}, decoded: its offsets, epoch and records."""

    base_offset: int
    #: The offset after its last record.
    next_offset: int
    epoch: int
    #: The decoded records (those of unknown types left out).
    records: tuple[Any, ...]
    #: What could not be decoded, for the log.
    problems: tuple[str, ...] = ()


def decode_row(base_offset: int, last_offset: int, epoch: int, batch: bytes) -> LogRow:
    """Decode one row's batch; an undecodable batch or record is skipped with a problem."""
    problems: list[str] = []
    records: list[Any] = []
    try:
        for rec in decode_batch_records(batch):
            if rec.value is None:
                continue
            try:
                record = decode_metadata_record(rec.value)
            except Exception as e:  # as KRaftMetadataStore: skip it, load the rest
                problems.append(f"skipped the undecodable record at {rec.offset}: {e}")
                continue
            if record is not None:  # None: a record type this broker does not know
                records.append(record)
    except (ProtocolViolation, RecordsError) as e:
        problems.append(f"skipped the undecodable batch at {base_offset}: {e}")
    return LogRow(base_offset, last_offset + 1, epoch, tuple(records), tuple(problems))


def read_rows(conn: psycopg.Connection[Any], from_offset: int) -> list[LogRow]:
    """The rows at or past C{from_offset}, decoded, in offset order (blocking)."""
    rows = conn.execute(_READ_ROWS, (from_offset,)).fetchall()
    return [decode_row(base, last, epoch, bytes(batch)) for base, last, epoch, batch in rows]


def fence_statements(image: MetadataImage, records: Iterable[Any]) -> list[Statement]:
    """
    The C{partitions} changes C{records} make when applied to C{image}, in order.

    The rules are L{MetadataImage.apply}'s: a PartitionRecord of a known topic
    inserts (or replaces) the row with its leader and leader epoch; a
    PartitionChangeRecord of a known partition naming a leader (not -2) sets
    it and bumps the leader epoch by one; RemoveTopicRecord deletes the
    topic's rows. Records the image ignores change nothing.
    """
    partitions: dict[uuid.UUID, set[int]] = {}

    def known(topic_id: uuid.UUID) -> set[int] | None:
        if topic_id not in partitions:
            topic = image.topics_by_id.get(topic_id)
            if topic is None:
                return None
            partitions[topic_id] = set(topic.partitions)
        return partitions[topic_id]

    out: list[Statement] = []
    for record in records:
        if isinstance(record, mr.TopicRecord):
            partitions[record.topic_id] = set()
        elif isinstance(record, mr.PartitionRecord):
            indexes = known(record.topic_id)
            if indexes is not None:
                indexes.add(record.partition_id)
                params = (record.topic_id, record.partition_id, record.leader, record.leader_epoch)
                out.append((_INSERT_PARTITION, params))
        elif isinstance(record, mr.PartitionChangeRecord):
            indexes = known(record.topic_id)
            if indexes is not None and record.partition_id in indexes and record.leader != -2:
                out.append((_CHANGE_LEADER, (record.leader, record.topic_id, record.partition_id)))
        elif isinstance(record, mr.RemoveTopicRecord):
            known(record.topic_id)
            partitions.pop(record.topic_id, None)
            out.append((_DELETE_TOPIC, (record.topic_id,)))
    return out


def execute_statements(conn: psycopg.Connection[Any], statements: Sequence[Statement]) -> None:
    """Run C{statements} in order, runs of one statement as one C{executemany} (blocking)."""
    start = 0
    while start < len(statements):
        sql = statements[start][0]
        end = start
        while end < len(statements) and statements[end][0] == sql:
            end += 1
        with conn.cursor() as cur:
            cur.executemany(sql, [params for _, params in statements[start:end]])
        start = end


def cluster_id(db: Database) -> Deferred[str]:
    """The cluster id (table C{cluster}), made by the first broker to ask."""
    candidate = uuid_to_kafka(random_kafka_uuid())

    def work(conn: psycopg.Connection[Any]) -> str:
        conn.execute(
            "INSERT INTO cluster (id, cluster_id) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
            (candidate,),
        )
        row = conn.execute("SELECT cluster_id FROM cluster WHERE id = 1").fetchone()
        assert row is not None
        return str(row[0])

    return db.run(work)


#: Builds the records to append from the current image; None or empty: nothing to write.
Build = Callable[[MetadataImage], Sequence[Any] | None]


@define
class PgMetadataStore:
    """
    The metadata store of one broker over the shared C{metadata_log} table.

    Reads and appends of this broker run one at a time (a L{DeferredLock}),
    so the image only changes between them, on the reactor thread.

    @ivar node_id: This broker, recorded as each row's C{written_by}.
    """

    _db: Database
    node_id: int
    _clock: ReactorTime
    image: MetadataImage = field(factory=MetadataImage, init=False)
    #: The offset after the last applied record (the log end as this broker knows it).
    next_offset: int = field(default=0, init=False)
    #: The epoch stamped on appended batches: the highest one read.
    epoch: int = field(default=1, init=False)
    _lock: DeferredLock = field(factory=DeferredLock, init=False)
    _subscribers: list[Callable[[Sequence[Any]], None]] = field(factory=list, init=False)
    #: Those waiting for the catch-up that is queued and has not started reading yet.
    _sync_waiters: list[Deferred[None]] | None = field(default=None, init=False)
    _following: bool = field(default=False, init=False)
    _stopped: bool = field(default=False, init=False)
    _retry: DelayedCall | None = field(default=None, init=False)
    #: The end of the last row applied that this store did not just write (another
    #: broker's, or one read back from the table): L{append} compares it with the end
    #: its caller's image had.
    _foreign_end: int = field(default=0, init=False)

    # -- reading ----------------------------------------------------------------------------

    def load(self) -> Deferred[MetadataImage]:
        """Replay the whole table into a new image, then follow the log (LISTEN)."""

        def replay() -> Deferred[MetadataImage]:
            return self._db.run(lambda conn: read_rows(conn, 0)).addCallback(replayed)

        def replayed(rows: list[LogRow]) -> MetadataImage:
            self.image, self.next_offset = MetadataImage(), 0
            self._apply(rows, tell=False)
            if not self._following:
                # The listener's first callback (None) catches up with rows
                # written between this read and the LISTEN.
                self._following = True
                self._db.listen(METADATA_CHANNEL, self._notified)
            return self.image

        return self._lock.run(replay)

    def _notified(self, payload: str | None) -> None:
        """A NOTIFY (the writer's new end offset), or None after a (re)connection."""
        if payload is not None:
            try:
                if int(payload) <= self.next_offset:
                    return  # our own append, or one already read
            except ValueError:
                _log.warn("Ignored the bad metadata notification {p!r}", p=payload)
                return
        self.sync()

    def sync(self) -> Deferred[None]:
        """
        Read and apply the rows other brokers appended; fires once done.

        Calls coalesce: while one is queued (not yet reading), a call waits
        for it. A failure (PostgreSQL away) is logged and the read retried
        after L{RESYNC_RETRY_SECONDS}; the Deferred fires all the same.
        """
        waiter: Deferred[None] = Deferred()
        if self._stopped:
            return succeed(None)
        if self._sync_waiters is not None:
            self._sync_waiters.append(waiter)
            return waiter
        self._sync_waiters = [waiter]

        def read() -> Deferred[None]:
            waiters, self._sync_waiters = self._sync_waiters or [], None
            if self._stopped:
                return succeed(None).addBoth(done, waiters)
            start = self.next_offset
            d = self._db.run(lambda conn: read_rows(conn, start))
            return d.addCallback(self._apply).addErrback(failed).addBoth(done, waiters)

        def failed(f: Failure) -> None:
            _log.warn("Reading the metadata log failed: {e}; retrying", e=f.getErrorMessage())
            if not self._stopped and (self._retry is None or not self._retry.active()):
                self._retry = self._clock.callLater(RESYNC_RETRY_SECONDS, self.sync)

        def done(_: object, waiters: list[Deferred[None]]) -> None:
            for w in waiters:
                w.callback(None)

        self._lock.run(read).addErrback(
            lambda f: _log.failure("Catching up with the metadata log failed", f)
        )
        return waiter

    def _apply(self, rows: Sequence[LogRow], tell: bool = True, *, own: bool = False) -> None:
        """Apply rows past the image's end in order; tell the subscribers per row."""
        for row in rows:
            if row.next_offset <= self.next_offset:
                continue
            if row.base_offset != self.next_offset:
                _log.error(
                    "Metadata log: expected offset {expected}, found a row at {base}",
                    expected=self.next_offset,
                    base=row.base_offset,
                )
            for problem in row.problems:
                _log.error("Metadata log: {problem}", problem=problem)
            self._apply_records(row.records)
            self.next_offset = row.next_offset
            if not own:
                self._foreign_end = row.next_offset
            self.epoch = max(self.epoch, row.epoch)
            if tell:
                self._tell(row.records)

    def _apply_records(self, records: Sequence[Any]) -> None:
        for record in records:
            try:
                self.image.apply(record)
            except Exception:
                _log.failure("Metadata log: skipped a record that did not apply: {r!r}", r=record)

    def _tell(self, records: Sequence[Any]) -> None:
        for callback in self._subscribers:
            try:
                callback(records)
            except Exception:
                _log.failure("A metadata subscriber failed")

    # -- writing ----------------------------------------------------------------------------

    def append(self, records: Iterable[Any]) -> Deferred[MetadataImage]:
        """
        Write C{records} as one batch; fires with the image once applied.

        Fails with L{MetadataConflict} (C{NOT_CONTROLLER}) when another broker
        appended first (the image is caught up by then), and with
        L{kafkatwist.postgres.db.DatabaseUnavailable} when PostgreSQL is away.
        The caller built C{records} from the image as it is now: if other
        brokers' rows are applied before their turn comes (a catch-up queued
        ahead of them), they fail with L{MetadataConflict} too, unwritten.
        """
        batch = list(records)
        seen = self.next_offset

        def attempt() -> Deferred[MetadataImage]:
            if self._foreign_end > seen:
                raise MetadataConflict()
            return self._attempt(batch).addCallback(conflicted)

        def conflicted(written: bool) -> MetadataImage:
            if not written:
                raise MetadataConflict()
            return self.image

        return self._lock.run(attempt)

    def append_when(self, build: Build) -> Deferred[MetadataImage]:
        """
        Append the records C{build(image)} makes, rebuilding them after each conflict.

        For writers that are not client requests (producer id blocks, the
        feature bootstrap, the controller's duties): C{build} is called with
        the caught-up image, may return None (or nothing) to write nothing,
        and is called again after another broker's rows were applied.
        """

        def attempt(tries: int) -> Deferred[MetadataImage]:
            records = build(self.image)
            if not records:
                return succeed(self.image)
            return self._attempt(list(records)).addCallback(retry, tries)

        def retry(written: bool, tries: int) -> MetadataImage | Deferred[MetadataImage]:
            if written:
                return self.image
            if tries + 1 >= MAX_ATTEMPTS:
                raise MetadataConflict(f"Gave up after {MAX_ATTEMPTS} conflicting appends.")
            return attempt(tries + 1)

        return self._lock.run(attempt, 0)

    def _attempt(self, records: list[Any]) -> Deferred[bool]:
        """
        One append transaction (under the local lock): True once written and applied.

        False when another broker's rows came first: they are applied instead.
        """
        base, epoch, node = self.next_offset, self.epoch, self.node_id
        batch = build_batch(
            [(None, encode_metadata_record(r), ()) for r in records],
            base_offset=base,
            base_timestamp=now_ms(self._clock),
            partition_leader_epoch=epoch,
        )
        last = base + len(records) - 1
        fence = fence_statements(self.image, records)

        def work(conn: psycopg.Connection[Any]) -> list[LogRow]:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            missing = read_rows(conn, base)
            if missing:
                return missing
            conn.execute(_INSERT_ROW, (base, last, epoch, node, batch))
            execute_statements(conn, fence)
            notify(conn, METADATA_CHANNEL, str(last + 1))
            return []

        def done(missing: list[LogRow]) -> bool:
            if missing:
                _log.info(
                    "Metadata log: another broker appended at {base}; caught up to {end}",
                    base=base,
                    end=missing[-1].next_offset,
                )
                self._apply(missing)
                return False
            self._apply([LogRow(base, last + 1, epoch, tuple(records))], own=True)
            return True

        def unknown(f: Failure) -> Failure:
            # The commit may have happened (DatabaseUnavailable during COMMIT):
            # read the table again rather than trust next_offset.
            self.sync()
            return f

        return self._db.run(work).addCallbacks(done, unknown)

    # -- the rest of IMetadataStore ------------------------------------------------------------

    def subscribe(self, callback: Callable[[Sequence[Any]], None]) -> None:
        """Call C{callback(records)} after each batch is applied, this broker's or another's."""
        self._subscribers.append(callback)

    def topic_configs(self, name: str) -> Mapping[str, str]:
        topic = self.image.topics.get(name)
        return topic.configs if topic else {}

    def close(self) -> None:
        """
        Stop following: no catch-up starts from now on (call before L{Database.stop}).

        The LISTEN connection itself stops with L{Database.stop}.
        """
        self._stopped = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()


__all__ = [
    "METADATA_CHANNEL",
    "LogRow",
    "MetadataConflict",
    "PgMetadataStore",
    "cluster_id",
    "decode_row",
    "fence_statements",
    "read_rows",
]
