"""Helpers for transaction tests of the file engine: transactional batches and markers."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.wire.batch import build_end_txn_marker, parse_batch_header

from .support import append, batch


def txn_data(
    case: SynchronousTestCase,
    log: PartitionLog,
    pid: int,
    seq: int,
    count: int = 2,
    value_size: int = 10,
) -> int:
    """Append a transactional batch of C{count} records of C{pid}; return its base offset."""
    buf = batch(
        count,
        producer_id=pid,
        producer_epoch=0,
        base_sequence=seq,
        is_transactional=True,
        value_size=value_size,
    )
    return append(case, log, buf).base_offset


def txn_marker(
    case: SynchronousTestCase, log: PartitionLog, pid: int, commit: bool, coordinator_epoch: int = 0
) -> int:
    """Append a commit or abort marker of C{pid} as the coordinator does; return its offset."""
    marker = build_end_txn_marker(pid, 0, coordinator_epoch, commit, 1_000)
    d = log.append(marker, [(0, parse_batch_header(marker))], leader_epoch=0, now_ms=1_000)
    return case.successResultOf(d).base_offset
