"""The SQL of a follower's view of a partition (L{kafkatwist.postgres.follower}).

Blocking work run in L{kafkatwist.postgres.db.Database} threads, each inside
the one transaction the database opens for it. A follower reads what the
leader committed: the C{partitions} row (log start, next offset), the
batches, and the C{aborted_txns} rows a read_committed consumer needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from attrs import frozen

from kafkatwist.postgres import log_sql as sql
from kafkatwist.storage.txn_index import AbortedTxn

#: The attributes' transactional and control bits (Kafka's batch attributes).
_TRANSACTIONAL = 0x10
_CONTROL = 0x20
#: Where a batch's attributes are (after base offset, length, leader epoch, magic and CRC).
_ATTRIBUTES_LOW_BYTE = 22


@frozen
class CommittedState:
    """A partition as PostgreSQL holds it: what its leader committed."""

    log_start_offset: int
    high_watermark: int
    last_stable_offset: int


#: The first offset of the oldest open transaction: per producer, its first
#: transactional batch after its last control batch (marker).
_FIRST_OPEN = f"""
    WITH p AS (
        SELECT base_offset, producer_id, attributes FROM batches
        WHERE topic_id = %(t)s AND partition = %(p)s AND producer_id >= 0
          AND attributes & {_TRANSACTIONAL | _CONTROL} <> 0
    ), last_control AS (
        SELECT producer_id, max(base_offset) AS at FROM p
        WHERE attributes & {_CONTROL} <> 0 GROUP BY producer_id
    )
    SELECT min(p.base_offset) FROM p LEFT JOIN last_control c ON c.producer_id = p.producer_id
    WHERE p.attributes & {_TRANSACTIONAL | _CONTROL} = {_TRANSACTIONAL}
      AND p.base_offset > coalesce(c.at, -1)
"""


def committed_state(key: sql.PartitionKey, conn: psycopg.Connection[Any]) -> CommittedState | None:
    """The partition's committed state; C{None} if it has no C{partitions} row (deleted)."""
    row = conn.execute(
        "SELECT log_start_offset, next_offset FROM partitions"
        " WHERE topic_id = %(t)s AND partition = %(p)s",
        key.params,
    ).fetchone()
    if row is None:
        return None
    start, end = int(row[0]), int(row[1])
    first_open = conn.execute(_FIRST_OPEN, key.params).fetchone()
    lso = end if first_open is None or first_open[0] is None else int(first_open[0])
    return CommittedState(start, end, min(max(lso, start), end))


def committed_states(
    keys: Sequence[sql.PartitionKey], conn: psycopg.Connection[Any]
) -> list[CommittedState | None]:
    """L{committed_state} of each of C{keys}, in one transaction (a resync)."""
    return [committed_state(key, conn) for key in keys]


def read_committed(
    key: sql.PartitionKey,
    offset: int,
    limit_offset: int,
    max_bytes: int,
    min_one_message: bool,
    conn: psycopg.Connection[Any],
) -> tuple[list[bytes], int, list[AbortedTxn]]:
    """
    Whole batches from the one holding C{offset} below C{limit_offset}, and their aborts.

    The aborted transactions overlapping the batches read are looked up only
    when a transactional batch was read (none can concern the others).
    """
    buffers, size = sql.read_batches(key, offset, limit_offset, max_bytes, min_one_message, conn)
    if not any(b[_ATTRIBUTES_LOW_BYTE] & _TRANSACTIONAL for b in buffers):
        return buffers, size, []
    aborted = [
        AbortedTxn(pid, first, last, lso)
        for pid, first, last, lso in conn.execute(
            "SELECT producer_id, first_offset, last_offset, last_stable_offset FROM aborted_txns"
            " WHERE topic_id = %(t)s AND partition = %(p)s AND last_offset >= %(o)s"
            " AND first_offset < %(limit)s ORDER BY last_offset",
            {**key.params, "o": offset, "limit": limit_offset},
        )
    ]
    return buffers, size, aborted
