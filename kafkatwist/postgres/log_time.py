"""ListOffsets by time over the C{batches} table: through its time index, then one batch's records.

The first batch (by offset) whose max timestamp reaches the target is found
through the C{batches_by_time} index; only inside that batch are the records'
timestamp deltas read (the compiled walker, in the database worker thread,
decompressing within the produce limit), never a whole partition's records.
"""

from __future__ import annotations

from typing import Any

import psycopg

from kafkatwist.errors import ErrorCode, KafkaError, RecordsError
from kafkatwist.postgres.log_sql import FROM_HOLDING, PartitionKey
from kafkatwist.storage.results import OffsetAndTimestamp
from kafkatwist.wire.batch import (
    COMPRESSION_CODEC_MASK,
    LOG_APPEND_TIME,
    RECORDS_OFFSET,
    BatchHeader,
    parse_batch_header,
)
from kafkatwist.wire.inflate import TooLarge, inflate
from kafkatwist.wire.walk import find_timestamp


def offset_for_time(
    key: PartitionKey,
    timestamp: int,
    exact_max: bool,
    start: int,
    high_watermark: int,
    limit: int,
    conn: psycopg.Connection[Any],
) -> OffsetAndTimestamp | None:
    """
    ListOffsets by time: the first record with a timestamp >= C{timestamp} in [start, HW).

    Through the C{batches_by_time} index: the first batch (by offset) whose max
    timestamp reaches C{timestamp}, then its records. With C{exact_max}, the
    first record of the batch with the largest timestamp (MAX_TIMESTAMP).
    C{limit} bounds what a compressed batch may decompress to.
    """
    at = start
    while at < high_watermark:
        if exact_max:
            row = conn.execute(
                f"SELECT data FROM batches WHERE {FROM_HOLDING} AND base_offset < %(hw)s"
                " ORDER BY max_timestamp DESC, base_offset LIMIT 1",
                {**key.params, "o": at, "hw": high_watermark},
                binary=True,
            ).fetchone()
        else:
            row = conn.execute(
                f"SELECT data FROM batches WHERE {FROM_HOLDING} AND base_offset < %(hw)s"
                " AND max_timestamp >= %(ts)s ORDER BY base_offset LIMIT 1",
                {**key.params, "o": at, "hw": high_watermark, "ts": timestamp},
                binary=True,
            ).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        header = parse_batch_header(data)
        target = header.max_timestamp if exact_max else timestamp
        if exact_max and target < 0:
            return None
        found = _search_batch(data, header, target, exact_max, at, limit)
        if found is not None:
            return found if found.offset < high_watermark else None
        if exact_max:
            return None
        at = header.last_offset + 1
    return None


def _search_batch(
    data: bytes, header: BatchHeader, target: int, exact: bool, min_offset: int, limit: int
) -> OffsetAndTimestamp | None:
    epoch = header.partition_leader_epoch
    if header.timestamp_type == LOG_APPEND_TIME:
        if header.max_timestamp < target or (exact and header.max_timestamp != target):
            return None
        return OffsetAndTimestamp(max(header.base_offset, min_offset), header.max_timestamp, epoch)
    codec = header.attributes & COMPRESSION_CODEC_MASK
    body: bytes | bytearray | memoryview = memoryview(data)[RECORDS_OFFSET:]
    try:
        if codec:
            body = inflate(codec, body, limit)
        min_delta = max(min_offset - header.base_offset, 0)
        found = find_timestamp(
            body, header.records_count, header.base_timestamp, target, exact, min_delta
        )
    except (TooLarge, RecordsError, ValueError) as e:
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot decode stored batch: {e}") from None
    if found is None:
        return None
    delta, ts = found
    return OffsetAndTimestamp(header.base_offset + delta, ts, epoch)
