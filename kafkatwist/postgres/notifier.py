"""A leader's wake-ups for the followers: ``NOTIFY kafkatwist_data`` after each commit.

The payload (L{DataState}) is a partition's state as its leader has it: the
high watermark, the last stable offset, the log start offset and the bytes
appended so far (for a parked fetch's estimate). The followers serving
fetches (L{kafkatwist.postgres.follower}) learn it from there.

The NOTIFY is sent after the append's commit, in a transaction of its own
with ``synchronous_commit`` off, never inside the append: PostgreSQL's
``PreCommit_Notify`` (async.c) holds a database-wide lock from before the
commit record until the transaction ends, through its WAL flush, so a NOTIFY
inside every append transaction serialises the appends of all partitions.
Lost one (PostgreSQL gone meanwhile)? The followers read the state again
when their LISTEN connection comes back.

L{DataNotifier} coalesces: at most one NOTIFY in flight per partition; what
is announced meanwhile is sent once it is done, with the state as it is then
(the latest wins).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
from attrs import Factory, define, frozen
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.postgres.db import Database, notify
from kafkatwist.postgres.log_sql import DATA_CHANNEL


@frozen
class DataState:
    """A partition's state as its leader announces it (C{kafkatwist_data}'s payload)."""

    topic: str
    partition: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    #: The leader's appended-bytes counter (it restarts with each new leader).
    appended_bytes: int

    def payload(self) -> str:
        """C{topic:partition:hw:lso:log start:appended bytes} (':' is no topic character)."""
        return (
            f"{self.topic}:{self.partition}:{self.high_watermark}:{self.last_stable_offset}"
            f":{self.log_start_offset}:{self.appended_bytes}"
        )


def parse_data_payload(payload: str) -> DataState:
    """The L{DataState} of a payload; C{ValueError} if malformed."""
    topic, partition, hw, lso, start, appended = payload.rsplit(":", 5)
    return DataState(topic, int(partition), int(hw), int(lso), int(start), int(appended))


def send_data_notify(payload: str, conn: psycopg.Connection[Any]) -> None:
    """The NOTIFY transaction: nothing to make durable, so its commit does not wait for the WAL."""
    conn.execute("SET LOCAL synchronous_commit TO off")
    notify(conn, DATA_CHANNEL, payload)


#: A partition, as the notifier keys it.
_Key = tuple[str, int]


@define(eq=False)
class DataNotifier:
    """Sends C{kafkatwist_data} NOTIFYs, one in flight per partition (module docstring)."""

    _db: Database
    _in_flight: set[_Key] = Factory(set)
    #: Per partition in flight: the state to announce once it is done.
    _again: dict[_Key, Callable[[], DataState]] = Factory(dict)

    _log = Logger()

    def announce(self, state: Callable[[], DataState]) -> None:
        """Announce a partition's state: C{state()} is called when the NOTIFY is sent."""
        current = state()
        key = (current.topic, current.partition)
        if key in self._in_flight:
            self._again[key] = state
            return
        self._send(key, current)

    def _send(self, key: _Key, state: DataState) -> None:
        self._in_flight.add(key)
        d = self._db.run(partial(send_data_notify, state.payload()))
        d.addErrback(self._failed, key)
        d.addCallback(self._sent, key)

    def _failed(self, failure: Failure, key: _Key) -> None:
        self._log.debug(
            "NOTIFY for {topic}-{partition} failed: {error}",
            topic=key[0],
            partition=key[1],
            error=failure.getErrorMessage(),
        )

    def _sent(self, _: None, key: _Key) -> None:
        self._in_flight.discard(key)
        again = self._again.pop(key, None)
        if again is not None:
            self._send(key, again())
