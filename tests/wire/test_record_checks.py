"""Tests for the record pass of produce validation: the walkers, bounded decompression, verdicts."""

from __future__ import annotations

import os
import tracemalloc

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire import record_checks, walk
from kafkatwist.wire.batch import RECORDS_OFFSET, parse_batch_header
from kafkatwist.wire.compression import compress
from kafkatwist.wire.inflate import TooLarge, inflate
from kafkatwist.wire.record_checks import (
    INLINE_DECOMPRESSED_BYTES,
    RecordErrors,
    check_records,
    decompressed_limit,
)
from kafkatwist.wire.validator import validate_produce_records
from tests.client_batches import T0, client_batch
from tests.wire.malformed import CASES, batch_of, gzip_bomb, record, zstd_bomb

try:
    from kafkatwist.wire._walk import walk as c_walk  # type: ignore[import-not-found]
except ImportError:
    c_walk = None

WALKERS = {"python": walk.py_walk, **({"c": c_walk} if c_walk is not None else {})}
MAX_MESSAGE_BYTES = 1048588


def walked(walker: walk.Walker, body: bytes, count: int, keys: bool, max_errors: int) -> object:
    """C{walker}'s answer on a CreateTime topic whose clock and bounds refuse some of C{body}."""
    return walker(body, count, keys, max_errors, T0, T0, False, True, T0 + 1, 0, 0)


def verdict(batch: bytes, **kw: object) -> ErrorCode | None:
    """The error code validation answers for C{batch}, or None when it is accepted."""
    try:
        batches = validate_produce_records(batch, max_batch_bytes=MAX_MESSAGE_BYTES)
        check_records(batch, batches, max_message_bytes=MAX_MESSAGE_BYTES, **kw)  # type: ignore[arg-type]
    except RecordsError as e:
        return e.code
    return None


class CompiledWalkerTests(SynchronousTestCase):
    def test_compiled_in_ci(self) -> None:
        """In CI the compiled walker is built and in use, so a silent fallback cannot hide."""
        if os.environ.get("CI") != "true":
            raise self.skipTest("only asserted when CI=true")
        self.assertTrue(walk.COMPILED)
        self.assertIsNotNone(c_walk)


class RefusedCaseTests(SynchronousTestCase):
    def test_each_case_refused_with_kafkas_code(self) -> None:
        """Every malformed batch is refused with the code Kafka answers for it."""
        for name, (build, code) in CASES.items():
            with self.subTest(name):
                self.assertEqual(verdict(build()), code)

    def test_each_case_refused_by_the_python_walker(self) -> None:
        """The pure-Python fallback refuses every case with the same code."""
        self.patch(record_checks, "walk_records", walk.py_walk)
        for name, (build, code) in CASES.items():
            with self.subTest(name):
                self.assertEqual(verdict(build()), code)

    def test_valid_batches_accepted(self) -> None:
        """Client-made batches in every codec, with nulls and headers, pass."""
        records = [
            (b"k", b"v" * 300, [("h1", b"x"), ("\u00e9t\u00e9", b"")]),
            (None, None, []),
            (b"", b"", [("n", b"")]),
        ]
        for codec in range(5):
            with self.subTest(codec=codec):
                self.assertIsNone(verdict(client_batch(codec=codec, records=records)))

    def test_keyless_records_on_compacted_topic(self) -> None:
        """Keyless records are refused on a compacted topic, each listed in record_errors."""
        batch = batch_of(record(), record(None, index=1), record(None, index=2))
        batches = validate_produce_records(batch, max_batch_bytes=MAX_MESSAGE_BYTES)
        with self.assertRaises(RecordErrors) as raised:
            check_records(
                batch,
                batches,
                max_message_bytes=MAX_MESSAGE_BYTES,
                keys_required=True,
                partition="t-0",
            )
        self.assertEqual([i for i, _ in raised.exception.record_errors], [1, 2])
        self.assertEqual(raised.exception.code, ErrorCode.INVALID_RECORD)
        self.assertIn("Compacted topic cannot accept message without key", str(raised.exception))
        self.assertIsNone(verdict(batch))

    def test_large_compressed_batch_left_for_a_worker(self) -> None:
        """Inline, a batch needing more than the reactor's share is returned for a worker thread."""
        batch = zstd_bomb(4 * INLINE_DECOMPRESSED_BYTES)
        batches = validate_produce_records(batch, max_batch_bytes=MAX_MESSAGE_BYTES)
        checked = check_records(batch, batches, max_message_bytes=MAX_MESSAGE_BYTES, inline=True)
        self.assertEqual(checked.later, [0])
        self.assertEqual(checked.batches, batches)
        again = check_records(batch, batches, max_message_bytes=MAX_MESSAGE_BYTES)
        self.assertEqual(again.later, [])


class WalkerAgreementTests(SynchronousTestCase):
    def test_same_answer_for_every_case(self) -> None:
        """The C and Python walkers give the same answer for each case's records."""
        for name, (build, _) in CASES.items():
            batch = build()
            header = parse_batch_header(batch)
            if header.compression or header.records_count > 1000:
                continue
            body = batch[RECORDS_OFFSET:]
            answers = {
                n: walked(w, body, header.records_count, True, 10) for n, w in WALKERS.items()
            }
            with self.subTest(name):
                self.assertEqual(len(set(map(repr, answers.values()))), 1, answers)

    def test_every_truncation_and_byte(self) -> None:
        """Both walkers agree on every truncation and every single-byte change of a batch."""
        body = client_batch(records=[(b"k", b"value", [("h", b"1")]), (None, b"x" * 200, [])])[
            RECORDS_OFFSET:
        ]
        for cut in range(len(body) + 1):
            got = {n: repr(walked(w, body[:cut], 2, True, 10)) for n, w in WALKERS.items()}
            self.assertEqual(len(set(got.values())), 1, (cut, got))
        for pos in range(0, len(body), 3):
            for value in (0x00, 0x01, 0x7F, 0x80, 0xFF):
                mutated = body[:pos] + bytes([value]) + body[pos + 1 :]
                got = {n: repr(walked(w, mutated, 2, False, 10)) for n, w in WALKERS.items()}
                self.assertEqual(len(set(got.values())), 1, (pos, value, got))


class InflateTests(SynchronousTestCase):
    def test_round_trip_every_codec(self) -> None:
        """What each codec compresses comes back intact within the limit."""
        data = b"".join(b"record %d " % i for i in range(5000))
        for codec in range(5):
            with self.subTest(codec=codec):
                self.assertEqual(inflate(codec, compress(codec, data), len(data)), data)

    def test_one_byte_over_the_limit(self) -> None:
        """One byte more than the limit is TooLarge, in every codec."""
        data = bytes(300_000)
        for codec in range(1, 5):
            with self.subTest(codec=codec):
                with self.assertRaises(TooLarge):
                    inflate(codec, compress(codec, data), len(data) - 1)

    def test_concatenated_gzip_members(self) -> None:
        """Two gzip members decode as one stream, like Java's GZIPInputStream."""
        self.assertEqual(inflate(1, compress(1, b"ab") + compress(1, b"cd"), 10), b"abcd")

    def test_trailing_garbage_is_corrupt(self) -> None:
        """Bytes after the last frame that are not a frame are CORRUPT_MESSAGE."""
        for codec in (1, 3, 4):
            for junk in (b"junkjunk", b"\xff\xff"):
                with self.subTest(codec=codec, junk=junk):
                    with self.assertRaises(RecordsError) as raised:
                        inflate(codec, compress(codec, b"abc" * 100) + junk, 1000)
                    self.assertEqual(raised.exception.code, ErrorCode.CORRUPT_MESSAGE)

    def test_bombs_use_memory_bounded_by_the_limit(self) -> None:
        """A 256 MiB zstd and gzip bomb is refused having held about the limit, not 256 MiB."""
        limit = decompressed_limit(MAX_MESSAGE_BYTES)
        for bomb in (zstd_bomb(256 << 20), gzip_bomb(256 << 20)):
            header = parse_batch_header(bomb)
            tracemalloc.start()
            try:
                with self.assertRaises(TooLarge):
                    inflate(header.compression, bomb[RECORDS_OFFSET:], limit)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            self.assertLess(peak, 2 * limit + (4 << 20))
