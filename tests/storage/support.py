"""Shared helpers for the storage tests: temp dirs, run_blocking fakes, batch builders."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.clock import RunBlocking
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.loader import open_partition_log
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.results import AppendInfo
from kafkatwist.wire.batch import BatchHeader, iter_batches
from kafkatwist.wire.record import NewRecord, build_batch
from kafkatwist.wire.validator import validate_produce_records

T = TypeVar("T")

#: The real Kafka 4.0 log dir; tests that use it skip when it is absent.
FIXTURE_LOGS = "/work/shared/fixtures/kraft-combined-logs"


def run_now(fn: Callable[[], T]) -> Deferred[T]:
    """A synchronous run_blocking: run C{fn} at once."""
    return maybeDeferred(fn)


class ManualRunBlocking:
    """A run_blocking that queues jobs until the test runs them, to prove ordering."""

    def __init__(self) -> None:
        # Jobs of any result type wait in one queue: each pairs with its own Deferred.
        self.pending: list[tuple[Callable[[], Any], Deferred[Any]]] = []

    def __call__(self, fn: Callable[[], T]) -> Deferred[T]:
        d: Deferred[T] = Deferred()
        self.pending.append((fn, d))
        return d

    def run_one(self) -> None:
        """Run the oldest queued job and fire its Deferred."""
        fn, d = self.pending.pop(0)
        maybeDeferred(fn).chainDeferred(d)

    def run_all(self) -> int:
        """Run jobs until none are queued (jobs may queue more); how many ran."""
        ran = 0
        while self.pending:
            self.run_one()
            ran += 1
        return ran


def temp_dir(case: SynchronousTestCase) -> str:
    """A fresh directory removed after the test."""
    path = tempfile.mkdtemp(prefix="kafkatwist-storage-")
    case.addCleanup(shutil.rmtree, path, True)
    return path


def batch(
    count: int = 3,
    *,
    timestamp: int = 1_000,
    value_size: int = 10,
    timestamps: list[int] | None = None,
    **kwargs: Any,
) -> bytes:
    """A producer batch of C{count} records (base offset 0), values of C{value_size} bytes."""
    if timestamps is not None:
        stamped = [
            NewRecord(b"k%d" % i, b"v" * value_size, (), ts) for i, ts in enumerate(timestamps)
        ]
        return build_batch(stamped, base_timestamp=min(timestamps), **kwargs)
    pairs = [(b"k%d" % i, bytes([65 + i % 26]) * value_size) for i in range(count)]
    return build_batch(pairs, base_timestamp=timestamp, **kwargs)


def validated(buf: bytes) -> list[tuple[int, BatchHeader]]:
    """The (position, header) list that Produce validation returns for C{buf}."""
    return validate_produce_records(buf, max_batch_bytes=10**9, allow_multiple_batches=True)


def open_log(
    case: SynchronousTestCase,
    directory: str | None = None,
    config: LogConfig | None = None,
    *,
    clock: Clock | None = None,
    run_blocking: RunBlocking = run_now,
    recover: bool = False,
    **kwargs: Any,
) -> PartitionLog:
    """Open a log in C{directory} (default: a fresh temp dir) and close it after the test."""
    if directory is None:
        directory = os.path.join(temp_dir(case), "topic-0")
    log = open_partition_log(
        directory,
        "topic",
        0,
        config or LogConfig(),
        clock=clock or Clock(),
        run_blocking=run_blocking,
        recover=recover,
        **kwargs,
    )
    case.addCleanup(_close_quietly, log)
    return log


def _close_quietly(log: PartitionLog) -> None:
    log.close().addErrback(lambda _: None)


def append(
    case: SynchronousTestCase, log: PartitionLog, buf: bytes, *, epoch: int = 0, now_ms: int = 0
) -> AppendInfo:
    """Append C{buf} and return the AppendInfo (the Deferred must have fired)."""
    return case.successResultOf(log.append(buf, validated(buf), leader_epoch=epoch, now_ms=now_ms))


def fired(d: Deferred[T]) -> T:
    """The result of an already-fired Deferred; its failure is raised."""
    results: list[T] = []
    failures: list[Failure] = []
    d.addCallbacks(results.append, failures.append)
    if failures:
        failures[0].raiseException()
    assert results, "the Deferred has not fired"
    return results[0]


def append_batches(
    log: IPartitionLog, data: bytes, *, leader_epoch: int = 0, now_ms: int = 0
) -> Deferred[AppendInfo]:
    """Validate client-style batches (any base offset) and append them."""
    batches = validate_produce_records(data, max_batch_bytes=1 << 30, allow_multiple_batches=True)
    return log.append(memoryview(data), batches, leader_epoch=leader_epoch, now_ms=now_ms)


def stored_batches(log: IPartitionLog) -> list[bytes]:
    """Every stored batch from the log start, as bytes (as the segment files hold them)."""
    result = fired(log.read(log.log_start_offset, 1 << 62, max_offset=log.log_end_offset))
    data = b"".join(bytes(b) for b in result.buffers)
    return [data[pos : pos + h.size] for pos, h in iter_batches(data)]


def read_bytes(log: PartitionLog, offset: int, max_bytes: int = 10**9, **kwargs: Any) -> bytes:
    """The concatenated bytes of a read."""
    result = fired(log.read(offset, max_bytes, **kwargs))
    data = b"".join(bytes(b) for b in result.buffers)
    assert len(data) == result.size
    return data


def headers(data: bytes) -> list[BatchHeader]:
    """The batch headers in C{data}."""
    return [h for _, h in iter_batches(data)]


def segment_file_bytes(log: PartitionLog) -> bytes:
    """All segment files of C{log}, concatenated in order."""
    out = b""
    for segment in log.segments:
        with open(segment.log_path, "rb") as f:
            out += f.read()
    return out


def error_code(case: SynchronousTestCase, d: Deferred[T]) -> ErrorCode:
    """The code of the L{KafkaError} that C{d} failed with."""
    error = case.failureResultOf(d, KafkaError).value
    assert isinstance(error, KafkaError)
    return error.code
