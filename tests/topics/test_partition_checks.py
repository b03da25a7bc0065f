"""Tests for the record checks on the append path: worker threads and append order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.storage.results import AppendInfo
from kafkatwist.topics.partitions import CONVERT_INLINE_RECORDS, Partitions
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.validator import INLINE_DECOMPRESSED_BYTES, validate_produce_records
from tests.brokers import log_of, make_broker
from tests.client_batches import client_batch
from tests.storage.support import stored_batches
from tests.wire.malformed import zstd_bomb


class ManualThreads:
    """A C{run_blocking} whose calls wait until the test runs them."""

    def __init__(self) -> None:
        self.queue: list[tuple[Callable[[], Any], Deferred[Any]]] = []

    def __call__(self, fn: Callable[[], Any]) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.queue.append((fn, d))
        return d

    def run_all(self) -> None:
        while self.queue:
            fn, d = self.queue.pop(0)
            try:
                d.callback(fn())
            except RecordsError as e:
                d.errback(e)


class WorkerCheckTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.threads = ManualThreads()
        self.partitions = Partitions(
            self.broker.metadata,
            self.broker.logs,
            self.broker.configs.log_config,
            self.broker.clock,
            self.threads,
        )

    def append(self, batch: bytes, name: str = "t") -> Deferred[AppendInfo]:
        topic = self.broker.metadata.image.topics[name]
        log = self.partitions.open_log(topic, 0)
        batches = validate_produce_records(batch, max_batch_bytes=log.config.max_message_bytes)
        return self.partitions.append(topic, 0, log, batch, batches)

    def test_large_recompression_runs_in_worker(self) -> None:
        """A batch of many records to recompress for compression.type goes to a worker thread."""
        self.successResultOf(
            self.broker.controller.create_topic("z", 1, configs={"compression.type": "zstd"})
        )
        small = self.append(client_batch(count=5), "z")
        self.assertEqual(self.successResultOf(small).base_offset, 0)
        many = self.append(client_batch(count=CONVERT_INLINE_RECORDS + 1), "z")
        self.assertNoResult(many)
        self.threads.run_all()
        self.assertEqual(self.successResultOf(many).base_offset, 5)
        stored = stored_batches(log_of(self.broker, "z", 0))
        self.assertEqual([parse_batch_header(b).compression for b in stored], [4, 4])

    def test_large_compressed_batch_checked_in_worker_and_order_kept(self) -> None:
        """A batch too big for the reactor is checked in a worker; later appends wait for it."""
        big = zstd_bomb(2 * INLINE_DECOMPRESSED_BYTES)  # valid: one record of 2 MiB zeros
        first = self.append(big)
        second = self.append(client_batch(count=2))
        self.assertNoResult(first)
        self.assertNoResult(second)
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 0)
        self.threads.run_all()
        self.assertEqual(self.successResultOf(first).base_offset, 0)
        self.assertEqual(self.successResultOf(second).base_offset, 1)
        self.assertEqual(self.partitions._checking, {})

    def test_refused_in_worker_then_next_appended(self) -> None:
        """A bomb refused in the worker appends nothing; the append queued behind it proceeds."""
        first = self.append(zstd_bomb(64 << 20))
        second = self.append(client_batch(count=1))
        self.threads.run_all()
        failure = self.failureResultOf(first, RecordsError)
        self.assertEqual(failure.value.code, ErrorCode.INVALID_RECORD)
        self.assertEqual(self.successResultOf(second).base_offset, 0)
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 1)

    def test_marker_waits_for_append_in_worker(self) -> None:
        """A transaction marker does not overtake an append still checked in a worker thread."""
        big = zstd_bomb(2 * INLINE_DECOMPRESSED_BYTES)
        first = self.append(big)
        marker = self.partitions.write_txn_marker("t", 0, 77, 0, 0, True)
        self.assertNoResult(marker)
        self.threads.run_all()
        self.assertEqual(self.successResultOf(first).base_offset, 0)
        self.assertIsNone(self.successResultOf(marker))
        stored = stored_batches(log_of(self.broker, "t", 0))
        self.assertEqual([parse_batch_header(b).is_control for b in stored], [False, True])
