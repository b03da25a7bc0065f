"""Record batches as a real client encodes them (kafka-python's DefaultRecordBatchBuilder).

Tests use these instead of kafkatwist's own encoder, so what the broker
stores and answers is checked against bytes a client really sends.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

T0 = 1_700_000_000_000

RecordTuple = tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes]]]


def client_batch(
    seq: int = -1,
    count: int = 1,
    *,
    producer_id: int = -1,
    epoch: int = -1,
    codec: int = 0,
    timestamp: int = T0,
    records: Sequence[RecordTuple] | None = None,
    is_transactional: bool = False,
) -> bytes:
    """One batch of C{count} records (or C{records}), encoded by kafka-python."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=is_transactional,
        producer_id=producer_id,
        producer_epoch=epoch,
        base_sequence=seq,
        batch_size=1 << 24,
    )
    if records is None:
        records = [(b"key-%d" % i, b"value-%d " % i * 8, [("h", b"%d" % i)]) for i in range(count)]
    for i, (key, value, headers) in enumerate(records):
        builder.append(i, timestamp=timestamp + i, key=key, value=value, headers=list(headers))
    batch = bytes(builder.build())
    # kafka-python sends a batch uncompressed when compression does not shrink it.
    if batch[22] & 0x07 != codec:
        raise ValueError(f"records too small to be sent with codec {codec}")
    return batch


def client_decode(
    batch: bytes,
) -> list[tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """(offset, timestamp, key, value, headers) of each record, decoded by kafka-python."""
    return [
        (r.offset, r.timestamp, r.key, r.value, list(r.headers))
        for r in DefaultRecordBatch(bytearray(batch))
    ]
