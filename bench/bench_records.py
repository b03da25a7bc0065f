# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Micro-benchmark: Produce-path validate_produce_records + check_records + assign_offsets.

Run: /work/venv/bin/python bench/bench_records.py [--python-walker]

Each iteration does what the Produce handler does for one partition: validate
the request's records (header unpack, checks, CRC-32C over the batch), walk
every record (L{kafkatwist.wire.record_checks.check_records}: the compiled walker,
or with --python-walker the pure-Python one) and assign offsets (new prefix +
memoryview of the body).  Batches are built once, uncompressed, from
incompressible values, outside the timed loop.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkatwist.wire import record_checks, walk
from kafkatwist.wire.crc32c import IMPLEMENTATION
from kafkatwist.wire.record import build_batch
from kafkatwist.wire.record_checks import check_records
from kafkatwist.wire.validator import assign_offsets, validate_produce_records

MAX_BATCH_BYTES = 64 * 1024 * 1024


def make_batch(total_bytes: int, value_size: int = 1000) -> bytes:
    """Build one uncompressed batch of about C{total_bytes}."""
    rng = random.Random(0)
    count = max(1, total_bytes // (value_size + 20))
    records = [(b"key-%d" % i, rng.randbytes(value_size)) for i in range(count)]
    return build_batch(
        records,
        base_timestamp=1_700_000_000_000,
        producer_id=1,
        producer_epoch=0,
        base_sequence=0,
    )


def run(batch: bytes, seconds: float, log_append_time_ms: int | None) -> tuple[float, float]:
    """Return (MB/s, microseconds per batch) for validate + assign_offsets."""
    iterations = 0
    offset = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            batches = validate_produce_records(batch, max_batch_bytes=MAX_BATCH_BYTES)
            check_records(batch, batches, max_message_bytes=MAX_BATCH_BYTES)
            result = assign_offsets(
                batch,
                batches,
                offset,
                leader_epoch=3,
                log_append_time_ms=log_append_time_ms,
            )
            offset = result.next_offset
        iterations += 50
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - start
    return len(batch) * iterations / elapsed / 1e6, elapsed / iterations * 1e6


def main() -> None:
    if "--python-walker" in sys.argv:
        setattr(record_checks, "walk_records", walk.py_walk)  # noqa: B010 (not re-exported)
    compiled = getattr(record_checks, "walk_records") is not walk.py_walk  # noqa: B009
    walker = "compiled" if compiled else "pure Python"
    print(
        f"crc32c implementation: {IMPLEMENTATION}; record walker: {walker}; "
        f"python {sys.version.split()[0]}"
    )
    for label, size, value_size in (
        ("16 KiB", 16 * 1024, 1000),
        ("1 MiB", 1024 * 1024, 1000),
        ("1 MiB/100", 1024 * 1024, 100),
    ):
        batch = make_batch(size, value_size)
        for mode, lat in (("CreateTime", None), ("LogAppendTime", 1_700_000_000_123)):
            mb_s, us = run(batch, 1.0, lat)
            print(
                f"{label:>9} batch ({len(batch):>8} B) {mode:<13}: "
                f"{mb_s:9.0f} MB/s  {us:8.2f} us/batch"
            )


if __name__ == "__main__":
    main()
