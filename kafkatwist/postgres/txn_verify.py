"""Asking another broker's transaction coordinator to verify or add partitions (KIP-890).

A partition leader that receives a transactional Produce (or a group
coordinator a TxnOffsetCommit) checks its partitions with the producer's
transaction coordinator: Kafka's C{AddPartitionsToTxnManager} sends it an
AddPartitionsToTxn (v4+, verify only; from transaction version 2 it adds
them). When that coordinator is another broker, the request travels
through PostgreSQL: a row of C{txn_verifications} and a NOTIFY on
C{kafkatwist_txn_verify} (payload ``node:request id``); the coordinator's
broker answers in the row and NOTIFYs C{kafkatwist_txn_verified}
(payload ``requester:request id``); the requester reads the answer and
deletes the row.

A coordinator that does not answer within C{timeout_ms} (it died; its
partitions move) is COORDINATOR_NOT_AVAILABLE, as Kafka answers when the
coordinator cannot be reached; Produce turns it into a retriable error.
After each reconnection of its LISTENs a broker reads the table again: the
requests addressed to it, and the answers it waits for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from attrs import define, field
from psycopg.types.json import Jsonb
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.errors import ErrorCode
from kafkatwist.postgres.db import Database, notify

#: Wakes a coordinator: payload ``node:request id``.
VERIFY_CHANNEL = "kafkatwist_txn_verify"
#: Wakes a requester: payload ``requester:request id``.
VERIFIED_CHANNEL = "kafkatwist_txn_verified"

Partition = tuple[str, int]
#: The local coordinator's check: (transactional id, producer id, epoch, partitions, add).
Serve = Callable[[str, int, int, Sequence[Partition], bool], "Deferred[dict[Partition, ErrorCode]]"]


@define(eq=False)
class _Waiter:
    partitions: list[Partition]
    done: Deferred[dict[Partition, ErrorCode]] = field(factory=Deferred)
    timer: DelayedCall | None = None


@define(eq=False)
class PgTxnVerifier:
    """
    Both sides of cross-broker partition verification, for one broker.

    C{ensure} asks the coordinator on broker C{node_id}; requests addressed
    to this broker are answered with C{serve} (this broker's coordinator).
    """

    _db: Database
    _clock: ReactorTime
    node_id: int
    _serve: Serve
    timeout_ms: int = 5000
    _waiting: dict[uuid.UUID, _Waiter] = field(factory=dict, init=False)
    _stopped: bool = field(default=False, init=False)
    _log = Logger()

    def start(self) -> None:
        """LISTEN for requests and answers."""
        self._db.listen(VERIFY_CHANNEL, self._on_request)
        self._db.listen(VERIFIED_CHANNEL, self._on_answer)

    def stop(self) -> None:
        """Stop answering; pending requests fail COORDINATOR_NOT_AVAILABLE."""
        self._stopped = True
        for request_id in list(self._waiting):
            self._finish(request_id, None)

    # -- the requester's side ----------------------------------------------------------------

    def ensure(
        self,
        node_id: int,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Sequence[Partition],
        add: bool,
    ) -> Deferred[dict[Partition, ErrorCode]]:
        """The coordinator on C{node_id}'s answer for each partition (see the module)."""
        request_id = uuid.uuid4()
        waiter = _Waiter(list(partitions))
        self._waiting[request_id] = waiter
        waiter.timer = self._clock.callLater(
            self.timeout_ms / 1000.0, self._finish, request_id, None
        )
        me = self.node_id
        wanted = Jsonb([[t, p] for t, p in partitions])

        def work(conn: psycopg.Connection[Any]) -> None:
            conn.execute(
                "INSERT INTO txn_verifications (request_id, coordinator, requester,"
                " transactional_id, producer_id, producer_epoch, partitions, add)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    request_id,
                    node_id,
                    me,
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    wanted,
                    add,
                ),
            )
            notify(conn, VERIFY_CHANNEL, f"{node_id}:{request_id}")

        def failed(f: Failure) -> None:
            self._log.warn(
                "Asking broker {node} to verify failed: {error}", node=node_id, error=f.value
            )
            self._finish(request_id, None)

        self._db.run(work).addErrback(failed)
        return waiter.done

    def _on_answer(self, payload: str | None) -> None:
        if payload is None:
            ids = list(self._waiting)
        else:
            node, _, request = payload.partition(":")
            try:
                if int(node) != self.node_id:
                    return
                ids = [uuid.UUID(request)]
            except ValueError:
                self._log.warn("Ignored a malformed {channel} payload", channel=VERIFIED_CHANNEL)
                return
        ids = [i for i in ids if i in self._waiting]
        if not ids:
            return

        def work(conn: psycopg.Connection[Any]) -> list[tuple[uuid.UUID, Any]]:
            cur = conn.execute(
                "DELETE FROM txn_verifications WHERE request_id = ANY(%s)"
                " AND answer IS NOT NULL RETURNING request_id, answer",
                (ids,),
            )
            return [(r[0], r[1]) for r in cur.fetchall()]

        def answered(rows: list[tuple[uuid.UUID, Any]]) -> None:
            for request_id, answer in rows:
                codes = {(t, p): ErrorCode(c) for t, p, c in answer}
                self._finish(request_id, codes)

        def failed(f: Failure) -> None:
            self._log.warn("Reading verification answers failed: {error}", error=f.value)

        self._db.run(work).addCallbacks(answered, failed)

    def _finish(self, request_id: uuid.UUID, codes: dict[Partition, ErrorCode] | None) -> None:
        waiter = self._waiting.pop(request_id, None)
        if waiter is None:
            return
        if waiter.timer is not None and waiter.timer.active():
            waiter.timer.cancel()
        if codes is None:
            codes = dict.fromkeys(waiter.partitions, ErrorCode.COORDINATOR_NOT_AVAILABLE)
            # Nobody reads an answer that may still come.
            self._db.run(
                lambda conn: conn.execute(
                    "DELETE FROM txn_verifications WHERE request_id = %s", (request_id,)
                )
            ).addErrback(lambda f: None)
        for tp in waiter.partitions:
            codes.setdefault(tp, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        waiter.done.callback(codes)

    # -- the coordinator's side --------------------------------------------------------------

    def _on_request(self, payload: str | None) -> None:
        if self._stopped:
            return
        request: uuid.UUID | None = None
        if payload is not None:
            node, _, text = payload.partition(":")
            try:
                if int(node) != self.node_id:
                    return
                request = uuid.UUID(text)
            except ValueError:
                self._log.warn("Ignored a malformed {channel} payload", channel=VERIFY_CHANNEL)
                return
        me = self.node_id

        def work(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            sql = (
                "SELECT request_id, requester, transactional_id, producer_id, producer_epoch,"
                " partitions, add FROM txn_verifications WHERE coordinator = %s"
                " AND answer IS NULL"
            )
            if request is None:
                return conn.execute(sql, (me,)).fetchall()
            return conn.execute(sql + " AND request_id = %s", (me, request)).fetchall()

        def serve_all(rows: list[tuple[Any, ...]]) -> None:
            for row in rows:
                self._serve_one(*row)

        def failed(f: Failure) -> None:
            self._log.warn("Reading verification requests failed: {error}", error=f.value)

        self._db.run(work).addCallbacks(serve_all, failed)

    def _serve_one(
        self,
        request_id: uuid.UUID,
        requester: int,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: list[list[Any]],
        add: bool,
    ) -> None:
        wanted = [(str(t), int(p)) for t, p in partitions]

        def answer(codes: dict[Partition, ErrorCode]) -> Deferred[None]:
            rows = Jsonb([[t, p, int(c)] for (t, p), c in codes.items()])

            def work(conn: psycopg.Connection[Any]) -> None:
                conn.execute(
                    "UPDATE txn_verifications SET answer = %s WHERE request_id = %s",
                    (rows, request_id),
                )
                notify(conn, VERIFIED_CHANNEL, f"{requester}:{request_id}")

            return self._db.run(work)

        def failed(f: Failure) -> None:
            self._log.warn(
                "Answering the verification of {tid} failed: {error}",
                tid=transactional_id,
                error=f.value,
            )

        d = self._serve(transactional_id, producer_id, producer_epoch, wanted, add)
        d.addCallback(answer).addErrback(failed)
