"""The SQL of a partition log in PostgreSQL: blocking work run in L{Database} threads.

Every function here takes a psycopg connection and runs inside the one
transaction L{kafkatwist.postgres.db.Database.run} opens for it. Tables
(L{kafkatwist.postgres.schema}): C{partitions} (the fence: leader, leader
epoch, log start offset, next offset, size in bytes), C{batches} (one row per
record batch: Kafka's bytes and the header fields as columns),
C{leader_epochs} and C{aborted_txns}.

Nothing here works per record: rows are batches, and the one look-up that
must look inside a batch (ListOffsets by time) reads the records' timestamp
deltas with the compiled walker, in this worker thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from attrs import frozen

from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.checkpoints import EpochEntry
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.wire.batch import (
    BatchHeader,
    parse_batch_header,
)

#: The channel a partition's leader announces its new state on (L{kafkatwist.postgres.notifier}).
DATA_CHANNEL = "kafkatwist_data"
#: Rows a read fetches at a time while its byte budget lasts.
READ_PAGE_ROWS = 64
#: The producer state keeps this many batches per producer (Kafka's NUM_BATCHES_TO_RETAIN).
RETAINED_BATCHES = 5
#: The control-batch bit of the attributes column.
_CONTROL = 0x20
_TRANSACTIONAL = 0x10


class NotLeader(KafkaError):
    """The fence refused: this broker is not the partition's leader at this epoch."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.NOT_LEADER_OR_FOLLOWER, message)


class OffsetMismatch(KafkaError):
    """The fence's next offset is not the one this leader expected: its state is stale."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.KAFKA_STORAGE_ERROR, message)


@frozen
class PartitionKey:
    """A partition as the tables key it, with the topic's name for messages and NOTIFY."""

    topic: str
    topic_id: uuid.UUID
    partition: int

    @property
    def params(self) -> dict[str, object]:
        return {"t": self.topic_id, "p": self.partition}

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"


@frozen
class ProducerBatch:
    """A stored batch the producer state is rebuilt from: its header, and a marker's bytes."""

    header: BatchHeader
    data: bytes | None


@frozen
class LoadedPartition:
    """A partition's state as PostgreSQL holds it (L{load_partition})."""

    log_start_offset: int
    next_offset: int
    size_bytes: int
    epochs: list[EpochEntry]
    producer_batches: list[ProducerBatch]
    aborted: list[AbortedTxn]


@frozen
class AppendWork:
    """
    The rows of one append transaction: a group of appends to one partition.

    @ivar rows: Per batch: base offset, last offset, leader epoch, base and max
        timestamp, producer id, epoch and base sequence, record count,
        attributes, size, and the batch bytes (offsets patched in).
    """

    key: PartitionKey
    node_id: int
    leader_epoch: int
    expected_base: int
    count: int
    size: int
    rows: Sequence[tuple[Any, ...]]
    epochs: Sequence[EpochEntry]
    aborted: Sequence[AbortedTxn]


_FENCE = """
    UPDATE partitions SET next_offset = next_offset + %(n)s, size_bytes = size_bytes + %(size)s
    WHERE topic_id = %(t)s AND partition = %(p)s AND leader = %(leader)s
      AND leader_epoch = %(epoch)s
    RETURNING next_offset - %(n)s
"""

_INSERT_BATCH = """
    INSERT INTO batches (topic_id, partition, base_offset, last_offset, leader_epoch,
        base_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence,
        record_count, attributes, size, data)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %b)
"""


def append_batches(work: AppendWork, conn: psycopg.Connection[Any]) -> None:
    """
    The append transaction: the fence, the batch rows, new epochs and aborted transactions.

    Sent pipelined (one round trip before the commit). No NOTIFY: the
    leader sends it after the commit (L{kafkatwist.postgres.notifier}).

    @raise NotLeader: The C{partitions} row has another leader or epoch (or none).
    @raise OffsetMismatch: Its next offset is not C{expected_base}.
    """
    key = work.key
    fence_params = {**key.params, "n": work.count, "size": work.size}
    fence_params.update(leader=work.node_id, epoch=work.leader_epoch)
    try:
        row = _append_pipelined(work, conn, fence_params)
    except psycopg.errors.UniqueViolation as e:
        raise OffsetMismatch(f"{key.name}: offsets from {work.expected_base} are taken") from e
    if row is None:
        raise NotLeader(
            f"{key.name}: broker {work.node_id} is not the leader at epoch {work.leader_epoch}"
        )
    if row[0] != work.expected_base:
        raise OffsetMismatch(
            f"{key.name}: the next offset is {row[0]}, this leader expected {work.expected_base}"
        )


def _append_pipelined(
    work: AppendWork, conn: psycopg.Connection[Any], fence_params: dict[str, object]
) -> tuple[Any, ...] | None:
    key = work.key
    t, p = key.topic_id, key.partition
    with conn.pipeline():
        fence = conn.execute(_FENCE, fence_params)
        with conn.cursor() as cur:
            cur.executemany(_INSERT_BATCH, [(t, p, *row) for row in work.rows])
            if work.epochs:
                cur.executemany(
                    "INSERT INTO leader_epochs (topic_id, partition, epoch, start_offset)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (topic_id, partition, epoch)"
                    " DO UPDATE SET start_offset = excluded.start_offset",
                    [(t, p, e.epoch, e.start_offset) for e in work.epochs],
                )
            if work.aborted:
                cur.executemany(
                    "INSERT INTO aborted_txns (topic_id, partition, last_offset, producer_id,"
                    " first_offset, last_stable_offset) VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (t, p, a.last_offset, a.producer_id, a.first_offset, a.last_stable_offset)
                        for a in work.aborted
                    ],
                )
        return fence.fetchone()


def load_partition(
    key: PartitionKey, node_id: int, leader_epoch: int, conn: psycopg.Connection[Any]
) -> LoadedPartition:
    """
    What a new leader loads: the fence row, the epoch cache, producer state batches, aborts.

    The producer state comes from the last L{RETAINED_BATCHES} data batches
    of each producer, its last control batch (with its bytes: the marker)
    and the first transactional batch after that (an open transaction).

    @raise NotLeader: The row names another leader or epoch, or is missing.
    """
    row = conn.execute(
        "SELECT leader, leader_epoch, log_start_offset, next_offset, size_bytes FROM partitions"
        " WHERE topic_id = %(t)s AND partition = %(p)s FOR SHARE",
        key.params,
    ).fetchone()
    if row is None or row[0] != node_id or row[1] != leader_epoch:
        found = "no row" if row is None else f"leader {row[0]} at epoch {row[1]}"
        raise NotLeader(f"{key.name}: PostgreSQL has {found}, not {node_id} at {leader_epoch}")
    epochs = [
        EpochEntry(epoch, start)
        for epoch, start in conn.execute(
            "SELECT epoch, start_offset FROM leader_epochs"
            " WHERE topic_id = %(t)s AND partition = %(p)s ORDER BY epoch",
            key.params,
        )
    ]
    producer_batches = [
        ProducerBatch(parse_batch_header(bytes(head)), None if data is None else bytes(data))
        for head, data in conn.execute(_PRODUCER_BATCHES, {**key.params, "k": RETAINED_BATCHES})
    ]
    aborted = [
        AbortedTxn(pid, first, last, lso)
        for pid, first, last, lso in conn.execute(
            "SELECT producer_id, first_offset, last_offset, last_stable_offset FROM aborted_txns"
            " WHERE topic_id = %(t)s AND partition = %(p)s AND last_offset >= %(start)s"
            " ORDER BY last_offset",
            {**key.params, "start": row[2]},
        )
    ]
    return LoadedPartition(row[2], row[3], row[4], epochs, producer_batches, aborted)


_PRODUCER_BATCHES = f"""
    WITH p AS (
        SELECT base_offset, producer_id, attributes FROM batches
        WHERE topic_id = %(t)s AND partition = %(p)s AND producer_id >= 0
    ), ranked AS (
        SELECT base_offset, row_number() OVER (
            PARTITION BY producer_id ORDER BY base_offset DESC) AS rn
        FROM p WHERE attributes & {_CONTROL} = 0
    ), last_control AS (
        SELECT producer_id, max(base_offset) AS at FROM p
        WHERE attributes & {_CONTROL} <> 0 GROUP BY producer_id
    ), open_txn AS (
        SELECT p.producer_id, min(p.base_offset) AS at FROM p
        LEFT JOIN last_control c ON c.producer_id = p.producer_id
        WHERE p.attributes & {_CONTROL | _TRANSACTIONAL} = {_TRANSACTIONAL}
          AND p.base_offset > coalesce(c.at, -1)
        GROUP BY p.producer_id
    ), chosen AS (
        SELECT base_offset FROM ranked WHERE rn <= %(k)s
        UNION SELECT at FROM last_control
        UNION SELECT at FROM open_txn
    )
    SELECT substring(b.data FROM 1 FOR 61),
           CASE WHEN b.attributes & {_CONTROL} <> 0 THEN b.data END
    FROM batches b JOIN chosen c ON c.base_offset = b.base_offset
    WHERE b.topic_id = %(t)s AND b.partition = %(p)s
    ORDER BY b.base_offset
"""

#: The rows from the batch holding %(o)s on (the one with the greatest base offset <= it).
FROM_HOLDING = """
    topic_id = %(t)s AND partition = %(p)s AND base_offset >= coalesce((
        SELECT max(base_offset) FROM batches
        WHERE topic_id = %(t)s AND partition = %(p)s AND base_offset <= %(o)s), %(o)s)
"""


def read_batches(
    key: PartitionKey,
    offset: int,
    limit_offset: int,
    max_bytes: int,
    min_one_message: bool,
    conn: psycopg.Connection[Any],
) -> tuple[list[bytes], int]:
    """
    Whole batches from the one holding C{offset}, below C{limit_offset}, at most C{max_bytes}.

    With C{min_one_message} the first batch comes whole however large.
    @return: The batches and their total size.
    """
    buffers: list[bytes] = []
    size = 0
    at = offset
    while True:
        rows = conn.execute(
            f"SELECT base_offset, last_offset, size, data FROM batches WHERE {FROM_HOLDING}"
            " AND base_offset < %(limit)s ORDER BY base_offset LIMIT %(n)s",
            {**key.params, "o": at, "limit": limit_offset, "n": READ_PAGE_ROWS},
            binary=True,
        ).fetchall()
        for _, last, length, data in rows:
            if size + length > max_bytes and not (min_one_message and not buffers):
                return buffers, size
            buffers.append(bytes(data))
            size += length
            at = last + 1
        if len(rows) < READ_PAGE_ROWS or at >= limit_offset:
            return buffers, size


def delete_before(
    key: PartitionKey,
    node_id: int,
    leader_epoch: int,
    offset: int,
    conn: psycopg.Connection[Any],
) -> tuple[int, int]:
    """
    Move the log start offset up to C{offset}; delete the batches wholly below it.

    Set-based: one DELETE over the primary key range, the fence row updated in
    the same statement. @return: The new log start offset and size in bytes.
    @raise NotLeader: This broker no longer leads the partition at this epoch.
    """
    row = conn.execute(
        """
        WITH gone AS (
            DELETE FROM batches WHERE topic_id = %(t)s AND partition = %(p)s
              AND base_offset < %(o)s AND last_offset < %(o)s
            RETURNING size
        ), aborts AS (
            DELETE FROM aborted_txns WHERE topic_id = %(t)s AND partition = %(p)s
              AND last_offset < %(o)s
        )
        UPDATE partitions SET log_start_offset = greatest(log_start_offset, %(o)s),
            size_bytes = size_bytes - (SELECT coalesce(sum(size), 0) FROM gone)
        WHERE topic_id = %(t)s AND partition = %(p)s AND leader = %(leader)s
          AND leader_epoch = %(epoch)s
        RETURNING log_start_offset, size_bytes
        """,
        {**key.params, "o": offset, "leader": node_id, "epoch": leader_epoch},
    ).fetchone()
    if row is None:
        raise NotLeader(f"{key.name}: broker {node_id} is not the leader at epoch {leader_epoch}")
    return int(row[0]), int(row[1])


def retention_limits(config: LogConfig, now_ms: int) -> tuple[int | None, int | None] | None:
    """C{(time cutoff, bytes kept)} by the delete policy (C{None}: unlimited), or C{None}."""
    if "delete" not in config.cleanup_policy.split(","):
        return None
    cutoff = now_ms - config.retention_ms if config.retention_ms >= 0 else None
    keep = config.retention_bytes if config.retention_bytes >= 0 else None
    return None if cutoff is None and keep is None else (cutoff, keep)


def retention_start(
    key: PartitionKey,
    start: int,
    end: int,
    size_bytes: int,
    cutoff_ms: int | None,
    retention_bytes: int | None,
    conn: psycopg.Connection[Any],
) -> int:
    """
    The log start offset retention asks for (at most C{end}); C{start} if none.

    By time: the first batch whose max timestamp is at or after C{cutoff_ms}
    (C{end} if none is). By size: the first batch from which the log holds at
    most C{retention_bytes} (a running sum over the prefix that goes, no more).
    """
    new_start = start
    if cutoff_ms is not None:
        row = conn.execute(
            "SELECT base_offset FROM batches WHERE topic_id = %(t)s AND partition = %(p)s"
            " AND max_timestamp >= %(cut)s ORDER BY base_offset LIMIT 1",
            {**key.params, "cut": cutoff_ms},
        ).fetchone()
        new_start = end if row is None else max(start, int(row[0]))
    if retention_bytes is not None and size_bytes > retention_bytes:
        row = conn.execute(
            """
            SELECT base_offset FROM (
                SELECT base_offset, size, sum(size) OVER (ORDER BY base_offset) AS cum
                FROM batches WHERE topic_id = %(t)s AND partition = %(p)s
            ) s WHERE %(total)s - cum + size <= %(keep)s ORDER BY base_offset LIMIT 1
            """,
            {**key.params, "total": size_bytes, "keep": retention_bytes},
        ).fetchone()
        new_start = max(new_start, end if row is None else int(row[0]))
    return min(new_start, end)


def delete_topic_data(topic_ids: Sequence[uuid.UUID], conn: psycopg.Connection[Any]) -> int:
    """
    Delete the batches, epochs and aborts of deleted topics; return how many topics.

    C{topic_ids} and every topic whose epochs remain without C{partitions} rows
    (RemoveTopicRecord deleted them; whichever broker deletes comes first).
    A topic that still has C{partitions} rows is never touched.
    """
    rows = conn.execute(
        "SELECT DISTINCT topic_id FROM leader_epochs e WHERE NOT EXISTS"
        " (SELECT 1 FROM partitions p WHERE p.topic_id = e.topic_id)"
    ).fetchall()
    candidates = {row[0] for row in rows} | set(topic_ids)
    live = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT topic_id FROM partitions WHERE topic_id = ANY(%s)",
            (list(candidates),),
        )
    }
    doomed = sorted(candidates - live)
    if doomed:
        for table in ("batches", "leader_epochs", "aborted_txns"):
            conn.execute(f"DELETE FROM {table} WHERE topic_id = ANY(%s)", (doomed,))  # noqa: S608
    return len(doomed)
