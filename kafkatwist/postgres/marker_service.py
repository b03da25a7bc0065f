"""A broker's side of cross-broker transaction markers: writing those of the partitions it leads.

The coordinator's side and the table are described in
L{kafkatwist.postgres.markers}: this broker drains the C{txn_markers} rows of
the partitions it leads, writes each marker through
L{Partitions.write_txn_marker}, deletes the rows and NOTIFYs
C{kafkatwist_txn_markers_done}. The coordinator of this broker hands it
the markers of the partitions led here directly (L{PgMarkerService.write_led}).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from attrs import define, field
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres.db import Database, notify
from kafkatwist.postgres.markers import DONE_CHANNEL, MARKERS_CHANNEL, Marker
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.topics.partitions import Partitions

#: Marker write errors after which the leader tries again (Kafka's completion handler's).
RETRIABLE = frozenset(
    {
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
        ErrorCode.LEADER_NOT_AVAILABLE,
    }
)

#: Kafka's group coordinator topic: its markers also end pending transactional offsets.
OFFSETS_TOPIC = "__consumer_offsets"

#: Called once a marker is in ``__consumer_offsets``: (partition, producer id, commit).
OffsetsMarkerHook = Callable[[int, int, bool], None]


@define(eq=False)
class PgMarkerService:
    """
    A broker's side: writes the requested markers of the partitions it leads.

    An L{kafkatwist.cluster.interfaces.ILeadershipListener} (register it with
    the broker's cluster): a partition's rows are drained when this broker
    is elected its leader, on each NOTIFY naming it, and after each
    reconnection of the LISTEN. Elections (many at start) are gathered into
    one read of the partitions that have rows. The markers of one partition
    are written one after the other, in producer id order.
    """

    _db: Database
    _metadata: IMetadataStore
    _partitions: Partitions
    _clock: ReactorTime
    on_offsets_marker: OffsetsMarkerHook | None = None
    retry_backoff_ms: int = 100
    _led: set[tuple[str, int]] = field(factory=set, init=False)
    #: Partitions being drained; True when a wake-up came meanwhile (drain again).
    _busy: dict[tuple[str, int], bool] = field(factory=dict, init=False)
    _timers: set[DelayedCall] = field(factory=set, init=False)
    _resync: DelayedCall | None = field(default=None, init=False)
    _stopped: bool = field(default=False, init=False)
    _log = Logger()

    def start(self) -> None:
        """LISTEN for marker requests."""
        self._db.listen(MARKERS_CHANNEL, self._on_notify)

    def stop(self) -> None:
        """Stop draining and retrying."""
        self._stopped = True
        timers, self._timers = self._timers, set()
        if self._resync is not None:
            timers.add(self._resync)
            self._resync = None
        for timer in timers:
            if timer.active():
                timer.cancel()

    def on_election(self, topic: str, partition: int, leader_epoch: int) -> None:
        self._led.add((topic, partition))
        if self._resync is None and not self._stopped:
            self._resync = self._clock.callLater(0, self._drain_stored)

    def on_resignation(self, topic: str, partition: int) -> None:
        self._led.discard((topic, partition))

    def _drain_stored(self) -> None:
        """Drain every led partition that has rows (one read for them all)."""
        self._resync = None

        def work(conn: psycopg.Connection[Any]) -> list[tuple[uuid.UUID, int]]:
            cur = conn.execute("SELECT DISTINCT topic_id, partition FROM txn_markers")
            return [(r[0], r[1]) for r in cur.fetchall()]

        def drain(stored: list[tuple[uuid.UUID, int]]) -> None:
            by_id = self._metadata.image.topics_by_id
            for topic_id, partition in stored:
                state = by_id.get(topic_id)
                if state is not None and (state.name, partition) in self._led:
                    self._drain((state.name, partition))

        def failed(f: Failure) -> None:
            self._log.warn(
                "Reading the stored markers failed ({error}); trying again", error=f.value
            )
            if self._resync is None and not self._stopped:
                self._resync = self._clock.callLater(
                    self.retry_backoff_ms / 1000.0, self._drain_stored
                )

        self._db.run(work).addCallbacks(drain, failed)

    def _on_notify(self, payload: str | None) -> None:
        if payload is None:
            if self._resync is None and not self._stopped:
                self._resync = self._clock.callLater(0, self._drain_stored)
            return
        topic_id, _, partition = payload.partition(":")
        try:
            state = self._metadata.image.topics_by_id.get(uuid.UUID(topic_id))
            index = int(partition)
        except ValueError:
            self._log.warn("Ignored a malformed {channel} payload", channel=MARKERS_CHANNEL)
            return
        if state is not None and (state.name, index) in self._led:
            self._drain((state.name, index))

    def _drain(self, key: tuple[str, int]) -> None:
        if self._stopped:
            return
        if key in self._busy:
            self._busy[key] = True
            return
        self._busy[key] = False
        d = Deferred.fromCoroutine(self._drain_once(key))

        def finished(result: bool | Failure) -> None:
            again = self._busy.pop(key, False)
            if isinstance(result, Failure):
                self._log.warn(
                    "Writing the markers of {topic}-{partition} failed ({error}); trying again",
                    topic=key[0],
                    partition=key[1],
                    error=result.value,
                )
                self._later(key)
            elif result:
                self._later(key)
            elif again:
                self._drain(key)

        d.addBoth(finished)

    async def _drain_once(self, key: tuple[str, int]) -> bool:
        """Write the partition's rows; True when some must be tried again later."""
        state = self._metadata.image.topics.get(key[0])
        if state is None or key not in self._led:
            return False
        topic_id = state.topic_id
        rows = await self._db.run(lambda conn: _select(conn, topic_id, key[1]))
        written: list[Marker] = []
        retry = False
        for row in rows:
            if key not in self._led or self._stopped:
                break
            if not await self._write(key, row):
                retry = True
                break
            written.append(row)
        if written:
            await self._db.run(lambda conn: _delete(conn, written))
        return retry

    def write_led(self, topic: str, marker: Marker) -> Deferred[bool]:
        """
        Write C{marker} at once if this broker leads its partition (the coordinator's shortcut).

        @return: True once written (or given up for a non-retriable error, as
            a drained row is); False when the partition's leader must write
            it from the table: it is not led here, or a retriable error came.
        """
        key = (topic, marker.partition)
        if key not in self._led or self._stopped:
            return succeed(False)
        return Deferred.fromCoroutine(self._write(key, marker))

    async def _write(self, key: tuple[str, int], row: Marker) -> bool:
        """Write one marker; False after a retriable error (else written or given up)."""
        try:
            await self._partitions.write_txn_marker(
                key[0],
                key[1],
                row.producer_id,
                row.producer_epoch,
                row.coordinator_epoch,
                row.commit,
                transaction_version=row.transaction_version,
            )
        except KafkaError as e:
            if e.code in RETRIABLE:
                return False
            self._log.warn(
                "Gave up the marker of producer {pid} to {topic}-{partition}: {error}",
                pid=row.producer_id,
                topic=key[0],
                partition=key[1],
                error=e,
            )
        else:
            if key[0] == OFFSETS_TOPIC and self.on_offsets_marker is not None:
                self.on_offsets_marker(key[1], row.producer_id, row.commit)
        return True

    def _later(self, key: tuple[str, int]) -> None:
        if self._stopped or key not in self._led:
            return

        def fire() -> None:
            self._timers.discard(timer)
            self._drain(key)

        timer = self._clock.callLater(self.retry_backoff_ms / 1000.0, fire)
        self._timers.add(timer)


def _select(conn: psycopg.Connection[Any], topic_id: uuid.UUID, partition: int) -> list[Marker]:
    cur = conn.execute(
        "SELECT producer_id, producer_epoch, coordinator_epoch, commit, transaction_version"
        " FROM txn_markers WHERE topic_id = %s AND partition = %s ORDER BY producer_id",
        (topic_id, partition),
    )
    return [Marker(topic_id, partition, *row) for row in cur.fetchall()]


def _delete(conn: psycopg.Connection[Any], rows: list[Marker]) -> None:
    """Delete the rows written (unless asked for again since); wake the coordinators."""
    with conn.cursor() as cur:
        cur.executemany(
            "DELETE FROM txn_markers WHERE topic_id = %s AND partition = %s"
            " AND producer_id = %s AND producer_epoch = %s AND coordinator_epoch = %s"
            " AND commit = %s",
            [
                (
                    r.topic_id,
                    r.partition,
                    r.producer_id,
                    r.producer_epoch,
                    r.coordinator_epoch,
                    r.commit,
                )
                for r in rows
            ],
        )
    for producer_id in sorted({r.producer_id for r in rows}):
        notify(conn, DONE_CHANNEL, str(producer_id))
