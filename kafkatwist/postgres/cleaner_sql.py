"""The log cleaner's blocking work on PostgreSQL: reading batches, mapping keys, replacing rows.

Each function runs in a worker thread of the cleaner's own L{Database}
(never the reactor thread, never the append path's connections), inside the
one transaction L{Database.run} opens. The per-batch and per-record work is
the file engine's: L{OffsetMap} (its per-record kernels in C) and
L{filter_batch} (Kafka's C{filterTo}); here only the rows change:

- L{build_offset_map}: the dirty range's batches, read in pages of whole
  rows, mapped (Kafka's C{buildOffsetMap}; aborted transactional batches
  skipped; the map stops where it fills);
- L{clean_chunk}: the batches of a range read and filtered, then, in the same
  transaction, the changed rows replaced: the fence row is locked and checked
  first (this broker, this leader epoch: a deposed leader changes nothing),
  the removed and rebuilt batches are deleted by base offset (a count that
  differs from what was read means the log changed: the pass stops), the
  rebuilt ones inserted (same base and last offsets), the range's aborted
  transactions replaced by the ones whose markers stay, the size updated and,
  for the last chunk of a pass, the cleaner checkpoint written. Batches the
  filter keeps byte for byte are not written at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from attrs import define, frozen

from kafkatwist.postgres.log_sql import NotLeader, PartitionKey
from kafkatwist.storage.cleaner.batches import FilterContext, Throttle, filter_batch, index_batch
from kafkatwist.storage.cleaner.offset_map import OffsetMap
from kafkatwist.storage.cleaner.txn import CleanedTransactionMetadata
from kafkatwist.storage.swap import CleaningAbortedError
from kafkatwist.storage.txn_index import AbortedTxn
from kafkatwist.wire.batch import BatchHeader, parse_batch_header

#: Rows read per statement.
PAGE_ROWS = 256


@frozen
class Fence:
    """The partition and the leadership a pass runs under (checked where it writes)."""

    key: PartitionKey
    node_id: int
    leader_epoch: int


def read_rows(
    conn: psycopg.Connection[Any],
    key: PartitionKey,
    start: int,
    end: int,
    throttle: Throttle | None,
    page_rows: int = PAGE_ROWS,
) -> Iterator[tuple[BatchHeader, memoryview]]:
    """The batches whose base offset is in C{[start, end)}, in offset order, page by page."""
    at = start
    while at < end:
        rows = conn.execute(
            "SELECT base_offset, data FROM batches WHERE topic_id = %(t)s AND partition = %(p)s"
            " AND base_offset >= %(o)s AND base_offset < %(e)s ORDER BY base_offset LIMIT %(n)s",
            {**key.params, "o": at, "e": end, "n": page_rows},
            binary=True,
        ).fetchall()
        if throttle is not None:
            throttle(sum(len(data) for _, data in rows))
        for base, data in rows:
            view = memoryview(data)
            yield parse_batch_header(view), view
            at = base + 1
        if len(rows) < page_rows:
            return


@define
class MapResult:
    """What building the map read, and where the dirty range really ends."""

    first_uncleanable: int
    records_read: int = 0
    bytes_read: int = 0
    full: bool = False


def first_uncleanable(
    conn: psycopg.Connection[Any], key: PartitionKey, start: int, end: int, newer_than_ms: int
) -> int:
    """The first batch of C{[start, end)} with a record newer than C{newer_than_ms}, else C{end}."""
    row = conn.execute(
        "SELECT min(base_offset) FROM batches WHERE topic_id = %(t)s AND partition = %(p)s"
        " AND base_offset >= %(s)s AND base_offset < %(e)s AND max_timestamp > %(ts)s",
        {**key.params, "s": start, "e": end, "ts": newer_than_ms},
    ).fetchone()
    return end if row is None or row[0] is None else int(row[0])


def build_offset_map(
    omap: OffsetMap,
    key: PartitionKey,
    start: int,
    end: int,
    aborted: Sequence[AbortedTxn],
    compaction_lag_cutoff_ms: int | None,
    throttle: Throttle | None,
    max_message_bytes: int,
    conn: psycopg.Connection[Any],
) -> MapResult:
    """
    Kafka's C{buildOffsetMap} over the rows of C{[start, end)}.

    With C{compaction_lag_cutoff_ms} (``min.compaction.lag.ms``) the range
    first ends at the first batch holding a record newer than it.
    """
    if compaction_lag_cutoff_ms is not None:
        end = first_uncleanable(conn, key, start, end, compaction_lag_cutoff_ms)
    result = MapResult(end)
    txns = CleanedTransactionMetadata()
    txns.add_aborted_transactions(aborted)
    for header, batch in read_rows(conn, key, start, end, throttle):
        result.bytes_read += header.size
        read, full = index_batch(omap, txns, header, batch, start, end, max_message_bytes)
        result.records_read += read
        if full:
            result.full = True
            return result
    omap.update_latest_offset(end - 1)
    return result


@frozen
class ChunkResult:
    """
    One chunk of a pass (one transaction): where the next starts, and what changed.

    @ivar bytes_read: The size of the chunk's batches before.
    @ivar bytes_written: Their size after (the kept batches, changed or not).
    @ivar size_delta: How the partition's size changed.
    @ivar aborted: The aborted transactions whose markers stay in the range.
    """

    start: int
    next_start: int
    bytes_read: int
    bytes_written: int
    rows_replaced: int
    records_read: int
    records_kept: int
    size_delta: int
    aborted: list[AbortedTxn]


_INSERT = """
    INSERT INTO batches (topic_id, partition, base_offset, last_offset, leader_epoch,
        base_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence,
        record_count, attributes, size, data)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %b)
"""


def clean_chunk(
    fence: Fence,
    ctx: FilterContext,
    start: int,
    end: int,
    max_bytes: int,
    checkpoint: int | None,
    throttle: Throttle | None,
    conn: psycopg.Connection[Any],
) -> ChunkResult:
    """
    Clean the batches from C{start} (below C{end}, about C{max_bytes} of them) in one transaction.

    C{checkpoint} is written with the chunk if it reaches C{end} (the last of the pass).

    @raise NotLeader: The fence row names another leader or epoch.
    @raise CleaningAbortedError: The rows changed meanwhile (retention, DeleteRecords).
    """
    key = fence.key
    next_start = end
    read_bytes = written = records_read = records_kept = 0
    deleted: list[int] = []
    new_rows: list[tuple[object, ...]] = []
    removed_bytes = added_bytes = 0
    for header, batch in read_rows(conn, key, start, end, throttle):
        if read_bytes >= max_bytes:
            next_start = header.base_offset
            break
        out = filter_batch(header, batch, ctx)
        read_bytes += header.size
        records_read += out.records_read
        records_kept += out.records_kept
        written += len(out.data)
        if out.data is batch:
            continue
        deleted.append(header.base_offset)
        removed_bytes += header.size
        if out.data:
            data = bytes(out.data)
            h = parse_batch_header(data)
            added_bytes += h.size
            new_rows.append((
                key.topic_id, key.partition, h.base_offset, h.last_offset,
                h.partition_leader_epoch, h.base_timestamp, h.max_timestamp, h.producer_id,
                h.producer_epoch, h.base_sequence, h.records_count, h.attributes, h.size, data,
            ))  # fmt: skip
    aborted = ctx.transactions.take_cleaned_index()
    done = next_start >= end
    if deleted or (done and checkpoint is not None):
        delta = added_bytes - removed_bytes
        _replace(conn, fence, start, next_start, deleted, new_rows, aborted, delta,
                 checkpoint if done else None)  # fmt: skip
        if throttle is not None:
            throttle(added_bytes)
    return ChunkResult(
        start, next_start, read_bytes, written, len(deleted), records_read, records_kept,
        added_bytes - removed_bytes, aborted,
    )  # fmt: skip


def _replace(
    conn: psycopg.Connection[Any],
    fence: Fence,
    start: int,
    end: int,
    deleted: list[int],
    new_rows: list[tuple[object, ...]],
    aborted: list[AbortedTxn],
    size_delta: int,
    checkpoint: int | None,
) -> None:
    """The write of L{clean_chunk}: fence first (the row stays locked to the commit)."""
    key = fence.key
    row = conn.execute(
        "SELECT leader, leader_epoch, log_start_offset FROM partitions"
        " WHERE topic_id = %(t)s AND partition = %(p)s FOR NO KEY UPDATE",
        key.params,
    ).fetchone()
    if row is None or row[0] != fence.node_id or row[1] != fence.leader_epoch:
        found = "no row" if row is None else f"leader {row[0]} at epoch {row[1]}"
        raise NotLeader(
            f"{key.name}: not cleaned: PostgreSQL has {found}, "
            f"not {fence.node_id} at {fence.leader_epoch}"
        )
    if row[2] > start:
        raise CleaningAbortedError(f"{key.name}: the log start moved to {row[2]} meanwhile")
    if deleted:
        gone = conn.execute(
            "DELETE FROM batches WHERE topic_id = %(t)s AND partition = %(p)s"
            " AND base_offset = ANY(%(o)s)",
            {**key.params, "o": deleted},
        ).rowcount
        if gone != len(deleted):
            raise CleaningAbortedError(f"{key.name}: batches were deleted meanwhile")
    with conn.cursor() as cur:
        if new_rows:
            cur.executemany(_INSERT, new_rows)
        cur.execute(
            "DELETE FROM aborted_txns WHERE topic_id = %(t)s AND partition = %(p)s"
            " AND last_offset >= %(s)s AND last_offset < %(e)s",
            {**key.params, "s": start, "e": end},
        )
        if aborted:
            cur.executemany(
                "INSERT INTO aborted_txns (topic_id, partition, last_offset, producer_id,"
                " first_offset, last_stable_offset) VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (key.topic_id, key.partition, a.last_offset, a.producer_id, a.first_offset,
                     a.last_stable_offset)
                    for a in aborted
                ],
            )  # fmt: skip
    conn.execute(
        "UPDATE partitions SET size_bytes = size_bytes + %(d)s,"
        " cleaner_checkpoint = coalesce(%(c)s, cleaner_checkpoint)"
        " WHERE topic_id = %(t)s AND partition = %(p)s",
        {**key.params, "d": size_delta, "c": checkpoint},
    )


def write_checkpoint(fence: Fence, checkpoint: int, conn: psycopg.Connection[Any]) -> None:
    """Write the cleaner checkpoint alone (a pass with nothing to clean), fenced."""
    key = fence.key
    row = conn.execute(
        "UPDATE partitions SET cleaner_checkpoint = %(c)s WHERE topic_id = %(t)s"
        " AND partition = %(p)s AND leader = %(l)s AND leader_epoch = %(e)s RETURNING 1",
        {**key.params, "c": checkpoint, "l": fence.node_id, "e": fence.leader_epoch},
    ).fetchone()
    if row is None:
        raise NotLeader(f"{key.name}: broker {fence.node_id} is not the leader")


@frozen
class CleanerState:
    """A partition's cleaner checkpoint and the bytes below it (what a new leader starts from)."""

    checkpoint: int | None
    clean_bytes: int


def load_cleaner_state(key: PartitionKey, conn: psycopg.Connection[Any]) -> CleanerState:
    """The checkpoint kept in C{partitions}, and the size of the batches below it."""
    row = conn.execute(
        "SELECT cleaner_checkpoint FROM partitions WHERE topic_id = %(t)s AND partition = %(p)s",
        key.params,
    ).fetchone()
    checkpoint = None if row is None or row[0] is None else int(row[0])
    if checkpoint is None:
        return CleanerState(None, 0)
    size = conn.execute(
        "SELECT coalesce(sum(size), 0) FROM batches WHERE topic_id = %(t)s AND partition = %(p)s"
        " AND base_offset < %(c)s",
        {**key.params, "c": checkpoint},
    ).fetchone()
    return CleanerState(checkpoint, int(size[0]) if size else 0)
