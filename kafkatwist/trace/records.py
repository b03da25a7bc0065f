"""Record payloads summarised from their batch headers: sizes, counts, offsets, producers, flags.

A C{records} field (a Produce request's data, a Fetch response's, ShareFetch's...)
is summarised, never dumped: the summary reads the 61-byte header of each
batch (L{kafkatwist.wire.batch.parse_batch_header}) and skips its body, so it
costs one C{struct} unpack per batch, never decompresses and never looks at
a record. Magic 0 and 1 message sets (a down-converted Fetch) are counted as
legacy messages (shallow: a compressed wrapper counts once). Bytes after the
last complete batch (a Fetch cut at C{max_bytes}) are counted as partial.
This module is sans-io.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from kafkatwist.wire.batch import (
    LENGTH_OFFSET,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    MAGIC_V2,
    MIN_BATCH_LENGTH,
    NO_PRODUCER_ID,
    byte_view,
    parse_batch_header,
)
from kafkatwist.wire.compression import CODEC_NAMES
from kafkatwist.wire.primitives import Buffer

__all__ = ["summarize_records"]

_INT32: Final = struct.Struct(">i")
#: The smallest legacy message (Kafka's C{LegacyRecord.RECORD_OVERHEAD_V0}).
_MIN_LEGACY_LENGTH: Final = 14
#: JSON values: what a summary holds.
Summary = dict[str, int | str | None]


def summarize_records(records: Buffer | Sequence[Buffer] | None) -> Summary | None:
    """
    The summary of a records field (None for a null one).

    Keys (camelCase, as Kafka's record batch documentation names the header fields):
    C{sizeInBytes}, C{batches}, C{records}, C{baseOffset} and C{lastOffset} (the
    first batch's base offset, the last batch's last offset), C{compression}
    (the codecs seen, comma-separated), C{producerId}, C{producerEpoch} and
    C{baseSequence} (of the first batch), C{producers} (how many distinct
    producer ids), C{transactional} and C{control} (how many batches have the
    flag); C{legacyMessages} and C{partialBytes} only when not zero. A field
    made of several buffers (a Fetch answered from several segments) is
    walked buffer by buffer: each holds whole batches.
    """
    if records is None:
        return None
    pieces = (records,) if isinstance(records, bytes | bytearray | memoryview) else records
    walk = _Walk()
    for piece in pieces:
        walk.piece(byte_view(piece))
    return walk.summary()


class _Walk:
    """The running totals of one records field."""

    def __init__(self) -> None:
        self.size = self.batches = self.records = self.legacy = self.partial = 0
        self.transactional = self.control = 0
        self.base_offset: int | None = None
        self.last_offset: int | None = None
        self.codecs: dict[str, None] = {}
        self.first_producer: tuple[int, int, int] | None = None
        self.producers: set[int] = set()

    def piece(self, mv: memoryview) -> None:
        """Add the batches of one buffer."""
        end = len(mv)
        self.size += end
        pos = 0
        while end - pos > MAGIC_OFFSET:
            (length,) = _INT32.unpack_from(mv, pos + LENGTH_OFFSET)
            size = length + LOG_OVERHEAD
            if length < _MIN_LEGACY_LENGTH or size > end - pos:
                break
            if mv[pos + MAGIC_OFFSET] == MAGIC_V2 and length >= MIN_BATCH_LENGTH:
                self.batch(mv, pos)
            else:
                self.legacy += 1
            pos += size
        self.partial += end - pos

    def batch(self, mv: memoryview, pos: int) -> None:
        """Add one v2 batch, from its header."""
        h = parse_batch_header(mv, pos)
        self.batches += 1
        self.records += h.records_count
        if self.base_offset is None:
            self.base_offset = h.base_offset
        self.last_offset = h.last_offset
        self.codecs[CODEC_NAMES.get(h.compression, str(h.compression))] = None
        if self.first_producer is None:
            self.first_producer = (h.producer_id, h.producer_epoch, h.base_sequence)
        if h.producer_id != NO_PRODUCER_ID:
            self.producers.add(h.producer_id)
        self.transactional += h.is_transactional
        self.control += h.is_control

    def summary(self) -> Summary:
        producer_id, epoch, sequence = self.first_producer or (NO_PRODUCER_ID, -1, -1)
        out: Summary = {
            "sizeInBytes": self.size,
            "batches": self.batches,
            "records": self.records,
            "baseOffset": self.base_offset,
            "lastOffset": self.last_offset,
            "compression": ",".join(self.codecs) or None,
            "producerId": producer_id,
            "producerEpoch": epoch,
            "baseSequence": sequence,
            "producers": len(self.producers),
            "transactional": self.transactional,
            "control": self.control,
        }
        if self.legacy:
            out["legacyMessages"] = self.legacy
        if self.partial:
            out["partialBytes"] = self.partial
        return out
