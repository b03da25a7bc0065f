"""Transaction markers across brokers: the coordinator asks, each partition's leader writes.

Kafka's transaction coordinator sends WriteTxnMarkers to the leader of every
partition of a transaction and completes the transaction
(CompleteCommit/CompleteAbort) once every leader answered. Here the request
is a row of table C{txn_markers}, one per (partition, producer), and a
NOTIFY:

- the coordinator's L{PgMarkerDelivery} upserts the rows of a transaction's
  partitions and NOTIFYs C{kafkatwist_txn_markers} (payload
  ``topic_id:partition``); its C{write} fires once those rows are gone;
- each broker's L{kafkatwist.postgres.marker_service.PgMarkerService}
  LISTENs, writes the markers of the partitions it leads through
  L{Partitions.write_txn_marker}, deletes their rows and NOTIFYs
  C{kafkatwist_txn_markers_done} (payload: the producer id); the
  coordinator then reads which of its rows remain.

Nothing is lost to a missed notification: after each (re)connection of a
LISTEN both sides read the table again; a broker drains a partition's rows
when it is elected its leader; and while rows are pending the coordinator
checks them every C{sweep_ms}, notifying their partitions again (the rows of
a partition with no live leader wait for its next leader). Rows of a
deleted topic are dropped, as Kafka drops a deleted partition from the
pending markers. A marker written twice (a row written again after a failed
delete) is harmless: a marker for a producer with no open transaction
changes nothing. A request never replaces a pending row of a newer
coordinator epoch: a zombie coordinator (deposed while it was paused) could
otherwise turn the current coordinator's abort into its own stale commit.

The markers of the partitions this very broker leads skip the table: they
are written at once through L{LocalMarkers} (the broker's
L{kafkatwist.postgres.marker_service.PgMarkerService}), as the file engine's
L{kafkatwist.transactions.markers.MarkerWriter} writes them. That is one
append instead of five transactions and two NOTIFY hops, and the last
stable offset moves as soon as the marker is appended, not a wake-up later.
A partition whose leader moved meanwhile (or that answers a retriable
error) goes to the table for its next leader.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import psycopg
from attrs import define, field, frozen
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.postgres.db import Database, notify
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.transactions.markers import MarkerWrite

#: Wakes the partitions' leaders: payload ``topic_id:partition``.
MARKERS_CHANNEL = "kafkatwist_txn_markers"
#: Wakes the coordinators: payload, the producer id whose markers were written.
DONE_CHANNEL = "kafkatwist_txn_markers_done"

_UPSERT = """
    INSERT INTO txn_markers (topic_id, partition, producer_id, producer_epoch,
                             coordinator_epoch, commit, transaction_version, coordinator)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET
        producer_epoch = EXCLUDED.producer_epoch,
        coordinator_epoch = EXCLUDED.coordinator_epoch,
        commit = EXCLUDED.commit,
        transaction_version = EXCLUDED.transaction_version,
        coordinator = EXCLUDED.coordinator
    WHERE txn_markers.coordinator_epoch <= EXCLUDED.coordinator_epoch
"""


@frozen
class Marker:
    """One row of C{txn_markers}: a marker wanted in one partition."""

    topic_id: uuid.UUID
    partition: int
    producer_id: int
    producer_epoch: int
    coordinator_epoch: int
    commit: bool
    transaction_version: int


class LocalMarkers(Protocol):
    """Writes the markers of the partitions this broker leads, without the table."""

    def write_led(self, topic: str, marker: Marker) -> Deferred[bool]:
        """
        Write C{marker} in C{topic} if its partition is led here.

        @return: True once written or given up; False when it must go
            through the table (not led here, or a retriable error). Never fails.
        """


def key(topic_id: uuid.UUID, partition: int) -> str:
    """The payload of L{MARKERS_CHANNEL} naming a partition."""
    return f"{topic_id}:{partition}"


@define(eq=False)
class _Pending:
    producer_id: int
    partitions: set[tuple[uuid.UUID, int]]
    done: Deferred[None] = field(factory=Deferred)
    #: The rows are committed: a check started after this sees them.
    stored: bool = False


@define(eq=False)
class PgMarkerDelivery:
    """
    The coordinator's side: a L{kafkatwist.transactions.markers.MarkerDelivery} over PostgreSQL.

    C{start} LISTENs for completions; C{write} fires once every row of the
    marker is gone (written by the partitions' leaders, or dropped with its
    topic).

    @ivar local: Writes the markers of the partitions this broker leads
        directly (set once the broker is built; None: every marker goes
        through the table).
    """

    _db: Database
    _metadata: IMetadataStore
    _clock: ReactorTime
    node_id: int
    sweep_ms: int = 1000
    retry_backoff_ms: int = 100
    local: LocalMarkers | None = None
    _waiting: dict[int, list[_Pending]] = field(factory=dict, init=False)
    _sweep: DelayedCall | None = field(default=None, init=False)
    _timers: set[DelayedCall] = field(factory=set, init=False)
    _stopped: bool = field(default=False, init=False)
    _log = Logger()

    def start(self) -> None:
        """LISTEN for completions."""
        self._db.listen(DONE_CHANNEL, self._on_done)

    def stop(self) -> None:
        """Stop checking and retrying; writes not completed never fire."""
        self._stopped = True
        timers, self._timers = self._timers, set()
        if self._sweep is not None:
            timers.add(self._sweep)
            self._sweep = None
        for timer in timers:
            if timer.active():
                timer.cancel()

    @property
    def pending(self) -> int:
        """Markers (one per transaction) not yet written everywhere."""
        return sum(len(p) for p in self._waiting.values())

    def write(
        self,
        partitions: Iterable[tuple[str, int]],
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        transaction_version: int = 0,
    ) -> MarkerWrite:
        """
        Ask the leaders of C{partitions} for the marker (see L{MarkerWrite}).

        The partitions led here are written first, at once; C{here} fires
        when that is done and the rest (and those that failed here) are
        stored for their leaders.
        """
        image = self._metadata.image
        targets: list[tuple[str, Marker]] = []
        for topic, partition in sorted(partitions):
            state = image.topics.get(topic)
            if state is None or partition not in state.partitions:
                self._log.info(
                    "Not writing the marker of producer {pid} to {topic}-{partition}: "
                    "the partition no longer exists",
                    pid=producer_id,
                    topic=topic,
                    partition=partition,
                )
                continue
            marker = Marker(
                state.topic_id,
                partition,
                producer_id,
                producer_epoch,
                coordinator_epoch,
                commit,
                transaction_version,
            )
            targets.append((topic, marker))
        local = self.local
        if local is None or not targets:
            return MarkerWrite(self._store([marker for _, marker in targets]), succeed(None))
        done: Deferred[None] = Deferred()

        def stored_rest(written: list[bool]) -> None:
            rest = [marker for (_, marker), ok in zip(targets, written, strict=True) if not ok]
            self._store(rest).chainDeferred(done)

        tries = [
            local.write_led(topic, marker).addErrback(self._local_failed)
            for topic, marker in targets
        ]
        here = gatherResults(tries).addCallback(stored_rest)
        return MarkerWrite(done, here)

    def _local_failed(self, f: Failure) -> bool:
        self._log.failure("Writing a marker here failed; its leader writes it from the table", f)
        return False

    def _store(self, rows: list[Marker]) -> Deferred[None]:
        """Store C{rows} for their partitions' leaders; fires once they are all gone."""
        if not rows:
            return succeed(None)
        pending = _Pending(rows[0].producer_id, {(r.topic_id, r.partition) for r in rows})
        self._waiting.setdefault(pending.producer_id, []).append(pending)
        self._insert(rows, pending)
        self._arm_sweep()
        return pending.done

    def _insert(self, rows: list[Marker], pending: _Pending) -> None:
        node_id = self.node_id

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    _UPSERT,
                    [
                        (
                            r.topic_id,
                            r.partition,
                            r.producer_id,
                            r.producer_epoch,
                            r.coordinator_epoch,
                            r.commit,
                            r.transaction_version,
                            node_id,
                        )
                        for r in rows
                    ],
                )
            for topic_id, partition in sorted({(r.topic_id, r.partition) for r in rows}):
                notify(conn, MARKERS_CHANNEL, key(topic_id, partition))

        def failed(f: Failure) -> None:
            if self._stopped:
                return
            self._log.warn(
                "Storing the markers of producer {pid} failed ({error}); trying again",
                pid=rows[0].producer_id,
                error=f.value,
            )
            self._later(self.retry_backoff_ms, self._insert, rows, pending)

        def stored(_: None) -> None:
            pending.stored = True
            self._check([pending.producer_id])

        self._db.run(work).addCallbacks(stored, failed)

    def _on_done(self, payload: str | None) -> None:
        if payload is None:
            self._check(list(self._waiting))
            return
        try:
            producer_id = int(payload)
        except ValueError:
            self._log.warn("Ignored a malformed {channel} payload", channel=DONE_CHANNEL)
            return
        if producer_id in self._waiting:
            self._check([producer_id])

    def _check(self, producer_ids: list[int], renotify: bool = False) -> None:
        """Read which rows of C{producer_ids} remain; fire the writes with none left."""
        if not producer_ids or self._stopped:
            return
        live = [t.topic_id for t in self._metadata.image.topics.values()]
        # Only writes whose rows were committed before the SELECT below can be judged.
        judged = {id(w) for pid in producer_ids for w in self._waiting.get(pid, []) if w.stored}

        def work(conn: psycopg.Connection[Any]) -> set[tuple[uuid.UUID, int, int]]:
            # Rows of deleted topics have no leader to write them: dropped.
            conn.execute(
                "DELETE FROM txn_markers WHERE producer_id = ANY(%s) AND NOT (topic_id = ANY(%s))",
                (producer_ids, live),
            )
            cur = conn.execute(
                "SELECT topic_id, partition, producer_id FROM txn_markers"
                " WHERE producer_id = ANY(%s)",
                (producer_ids,),
            )
            remaining = {(r[0], r[1], r[2]) for r in cur.fetchall()}
            if renotify:
                for topic_id, partition in sorted({(t, p) for t, p, _ in remaining}):
                    notify(conn, MARKERS_CHANNEL, key(topic_id, partition))
            return remaining

        def checked(remaining: set[tuple[uuid.UUID, int, int]]) -> None:
            for producer_id in producer_ids:
                left = {(t, p) for t, p, pid in remaining if pid == producer_id}
                waiting = self._waiting.get(producer_id, [])
                done = [w for w in waiting if id(w) in judged and not (w.partitions & left)]
                if not done:
                    continue
                still = [w for w in waiting if w not in done]
                if still:
                    self._waiting[producer_id] = still
                else:
                    del self._waiting[producer_id]
                for w in done:
                    w.done.callback(None)

        def failed(f: Failure) -> None:
            self._log.warn("Checking the pending markers failed: {error}", error=f.value)

        self._db.run(work).addCallbacks(checked, failed)

    def _arm_sweep(self) -> None:
        if self._sweep is None and not self._stopped:
            self._sweep = self._clock.callLater(self.sweep_ms / 1000.0, self._sweep_now)

    def _sweep_now(self) -> None:
        self._sweep = None
        if self._waiting:
            self._check(list(self._waiting), renotify=True)
            self._arm_sweep()

    def _later(self, ms: int, fn: Callable[..., None], *args: object) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            if not self._stopped:
                fn(*args)

        timer = self._clock.callLater(ms / 1000.0, fire)
        self._timers.add(timer)
