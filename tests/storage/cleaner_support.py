"""Helpers for the cleaner tests: keyed batches, an independent decoder of segment files, a pass."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from attrs import frozen
from kafka.record.memory_records import MemoryRecords
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.log_config import LogConfig
from kafkatwist.storage.cleaner import CleanStats, clean_log
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.wire.record import NewRecord, build_batch

from .support import append, open_log, run_now

#: A small compacted log: segments roll after about 1 KiB.
COMPACT = LogConfig(segment_bytes=1024, cleanup_policy="compact", index_interval_bytes=100)


@frozen
class Decoded:
    """One record as kafka-python reads it from a segment file, with its batch's facts."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    batch_base: int
    batch_last: int
    codec: int
    control: bool


def kv(
    pairs: Sequence[tuple[bytes | None, bytes | None]], *, ts: int = 1_000, **kwargs: Any
) -> bytes:
    """A batch of keyed records, timestamps C{ts}, C{ts}+1, ..."""
    records = [NewRecord(k, v, (), ts + i) for i, (k, v) in enumerate(pairs)]
    return build_batch(records, base_timestamp=ts, **kwargs)


def compacted_log(
    case: SynchronousTestCase, config: LogConfig = COMPACT, **kwargs: Any
) -> PartitionLog:
    """A fresh compacted log with small segments."""
    return open_log(case, config=config, clock=kwargs.pop("clock", Clock()), **kwargs)


def fill(
    case: SynchronousTestCase,
    log: PartitionLog,
    rounds: int,
    keys: int,
    *,
    codec: int = 0,
    per_batch: int = 4,
) -> dict[bytes, tuple[int, bytes]]:
    """Write C{rounds} updates of C{keys} keys; return each key's latest (offset, value)."""
    latest: dict[bytes, tuple[int, bytes]] = {}
    n = 0
    for r in range(rounds):
        for start in range(0, keys, per_batch):
            pairs = [
                (b"key-%d" % k, b"value-%d-%d" % (k, r))
                for k in range(start, min(start + per_batch, keys))
            ]
            info = append(case, log, kv(pairs, ts=1_000 + n, compression=codec), now_ms=1_000 + n)
            for i, (k, v) in enumerate(pairs):
                assert k is not None and v is not None
                latest[k] = (info.base_offset + i, v)
            n += len(pairs)
    return latest


def decode_files(paths: Sequence[str]) -> list[Decoded]:
    """Every record of the given ``.log`` files, through kafka-python, CRCs checked."""
    out: list[Decoded] = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        records = MemoryRecords(data)
        assert records.valid_bytes() == len(data), f"{path}: trailing bytes"
        while records.has_next():
            batch = records.next_batch()
            assert batch.validate_crc(), f"{path}: CRC mismatch at {batch.base_offset}"
            for rec in batch:
                out.append(
                    Decoded(
                        rec.offset,
                        rec.key,
                        rec.value,
                        rec.timestamp,
                        batch.base_offset,
                        batch.last_offset,
                        batch.compression_type,
                        batch.is_control_batch,
                    )
                )
    return out


def decode_log(log: PartitionLog) -> list[Decoded]:
    """Every record of the log's segment files."""
    return decode_files([s.log_path for s in log.segments])


def clean(
    case: SynchronousTestCase,
    log: PartitionLog,
    *,
    now_ms: int = 10_000,
    first_dirty_offset: int = 0,
    offset_map_bytes: int = 1 << 20,
    **kwargs: Any,
) -> CleanStats:
    """One synchronous cleaning pass; its stats."""
    d = clean_log(
        log,
        first_dirty_offset=first_dirty_offset,
        now_ms=now_ms,
        offset_map_bytes=offset_map_bytes,
        run_blocking=kwargs.pop("run_blocking", run_now),
        **kwargs,
    )
    return case.successResultOf(d)


def dir_names(log: PartitionLog) -> list[str]:
    """The partition dir's file names, sorted."""
    return sorted(os.listdir(log.directory))
