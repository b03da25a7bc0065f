"""Tests for the timestamp checks of the record pass (Kafka 4.0's ``validateTimestamp``, KIP-937).

Batches come from kafka-python's C{DefaultRecordBatchBuilder} (an encoder
independent of kafkatwist's) with chosen record timestamps; expected
messages are Kafka's, from C{LogValidator.validateTimestamp} and
C{processRecordErrors}.
"""

from __future__ import annotations

from kafka.record.default_records import DefaultRecordBatch
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.wire import record_checks, walk
from kafkatwist.wire.batch import RECORDS_OFFSET, parse_batch_header
from kafkatwist.wire.primitives import encode_varint, encode_varlong
from kafkatwist.wire.record_checks import (
    CheckedRecords,
    RecordErrors,
    TimestampCheck,
    check_records,
)
from kafkatwist.wire.validator import assign_offsets, validate_produce_records
from tests.client_batches import T0, timed_batch, with_header

try:
    from kafkatwist.wire._walk import walk as c_walk  # type: ignore[import-not-found]
except ImportError:
    c_walk = None

MAX = 1048588
LONG_MAX = (1 << 63) - 1
HOUR = 3_600_000
#: Kafka 4.0's defaults: no bound in the past, one hour in the future.
DEFAULTS = TimestampCheck(now_ms=T0)
KAFKA_DEFAULTS = TimestampCheck(now_ms=T0, after_max_ms=HOUR)


def check(batch: bytes, timestamps: TimestampCheck, **kw: object) -> CheckedRecords:
    """Both validation passes over C{batch}."""
    batches = validate_produce_records(batch, max_batch_bytes=MAX)
    return check_records(batch, batches, max_message_bytes=MAX, timestamps=timestamps, **kw)  # type: ignore[arg-type]


def range_message(timestamp: int, offset: int, low: int, high: int) -> str:
    """Kafka's C{validateTimestamp} message for a record out of range."""
    return (
        f"Timestamp {timestamp} of message with offset {offset} is out of range. "
        f"The timestamp should be within [{low}, {high}]"
    )


class TimestampRangeTests(SynchronousTestCase):
    def refused(self, batch: bytes, timestamps: TimestampCheck, **kw: object) -> RecordErrors:
        """The RecordErrors that checking C{batch} raises."""
        with self.assertRaises(RecordErrors) as raised:
            check(batch, timestamps, **kw)
        error: RecordErrors = raised.exception
        return error

    def test_record_two_hours_ahead_refused(self) -> None:
        """With Kafka's defaults a record 2 hours ahead is INVALID_TIMESTAMP, listed by index."""
        e = self.refused(timed_batch([T0, T0 + 2 * HOUR, T0 + 1]), KAFKA_DEFAULTS)
        self.assertEqual(e.code, ErrorCode.INVALID_TIMESTAMP)
        self.assertEqual(
            e.message, "One or more records have been rejected due to invalid timestamp"
        )
        low = T0 - LONG_MAX
        self.assertEqual(e.record_errors, [(1, range_message(T0 + 2 * HOUR, 1, low, T0 + HOUR))])
        self.assertIn("Timestamp 1700007200000 of message with offset 1", str(e))

    def test_bounds_are_inclusive(self) -> None:
        """A record just after.max.ms ahead or before.max.ms behind passes; 1 ms more does not."""
        bounds = TimestampCheck(now_ms=T0, before_max_ms=1000, after_max_ms=HOUR)
        check(timed_batch([T0 - 1000, T0 + HOUR]), bounds)
        e = self.refused(timed_batch([T0 - 1001, T0, T0 + HOUR + 1]), bounds)
        self.assertEqual(
            e.record_errors,
            [
                (0, range_message(T0 - 1001, 0, T0 - 1000, T0 + HOUR)),
                (2, range_message(T0 + HOUR + 1, 2, T0 - 1000, T0 + HOUR)),
            ],
        )

    def test_old_record_refused_by_before_max(self) -> None:
        """message.timestamp.before.max.ms refuses a record older than it allows."""
        bounds = TimestampCheck(now_ms=T0, before_max_ms=HOUR, after_max_ms=HOUR)
        e = self.refused(timed_batch([T0 - 2 * HOUR]), bounds)
        self.assertEqual(e.code, ErrorCode.INVALID_TIMESTAMP)
        self.assertEqual([i for i, _ in e.record_errors], [0])

    def test_python_walker_refuses_alike(self) -> None:
        """The pure-Python walker gives the same record errors."""
        batch = timed_batch([T0, T0 + 2 * HOUR])
        compiled = self.refused(batch, KAFKA_DEFAULTS)
        self.patch(record_checks, "walk_records", walk.py_walk)
        python = self.refused(batch, KAFKA_DEFAULTS)
        self.assertEqual(
            (python.code, python.record_errors), (compiled.code, compiled.record_errors)
        )

    def test_no_timestamp_is_not_checked(self) -> None:
        """A record whose timestamp is -1 (NO_TIMESTAMP) passes whatever the bounds, as in Kafka."""
        check(timed_batch([-1]), TimestampCheck(now_ms=T0, before_max_ms=0, after_max_ms=0))

    def test_log_append_time_topic_not_checked(self) -> None:
        """On a LogAppendTime topic no record timestamp is checked (the broker stamps the batch)."""
        lat = TimestampCheck(log_append_time=True, now_ms=T0, before_max_ms=0, after_max_ms=0)
        checked = check(timed_batch([T0 + 100 * HOUR, 5]), lat)
        self.assertEqual(checked.later, [])

    def test_compressed_records_checked(self) -> None:
        """The records of a compressed batch are checked once decompressed, in every codec."""
        for codec in (1, 2, 3, 4):
            with self.subTest(codec=codec):
                batch = timed_batch([T0 + i for i in range(20)] + [T0 + 3 * HOUR], codec=codec)
                self.assertEqual(parse_batch_header(batch).compression, codec)
                e = self.refused(batch, KAFKA_DEFAULTS)
                self.assertEqual([i for i, _ in e.record_errors], [20])

    def test_key_errors_and_timestamp_errors_together(self) -> None:
        """A compacted topic lists key errors too, and the code is still INVALID_TIMESTAMP."""
        batch = timed_batch([T0, T0 + 5 * HOUR, T0 + 5 * HOUR], keys=[b"k", None, b"k"])
        e = self.refused(batch, KAFKA_DEFAULTS, keys_required=True, partition="c-0")
        self.assertEqual(e.code, ErrorCode.INVALID_TIMESTAMP)
        self.assertEqual(
            e.record_errors,
            [
                (1, "Compacted topic cannot accept message without key in topic partition c-0."),
                (2, range_message(T0 + 5 * HOUR, 2, T0 - LONG_MAX, T0 + HOUR)),
            ],
        )

    def test_totals_counted_past_the_listed_errors(self) -> None:
        """1,500 keyless records list 1,000 errors, and the message counts all 1,500."""
        batch = timed_batch([T0] * 1500, keys=[None] * 1500)
        e = self.refused(batch, KAFKA_DEFAULTS, keys_required=True, partition="c-0")
        self.assertEqual(e.code, ErrorCode.INVALID_RECORD)
        self.assertEqual(len(e.record_errors), walk.MAX_RECORD_ERRORS)
        self.assertIn("due to 1500 record errors in total", e.message or "")

    def test_log_append_time_flag_from_a_producer(self) -> None:
        """A producer's LogAppendTime flag is refused per record on a LogAppendTime topic."""
        batch = with_header(timed_batch([T0, T0 + 1]), attributes=0x08)
        lat = TimestampCheck(log_append_time=True, now_ms=T0)
        e = self.refused(batch, lat)
        self.assertEqual(e.code, ErrorCode.INVALID_TIMESTAMP)
        record = f"DefaultRecord(offset=1, timestamp={T0 + 1}, key=5 bytes, value=50 bytes)"
        self.assertEqual(
            e.record_errors[1],
            (
                1,
                f"Invalid timestamp type in message {record}. Producer should not set "
                "timestamp type to LogAppendTime.",
            ),
        )

    def test_log_append_time_flag_on_create_time_topic(self) -> None:
        """On a CreateTime topic the flag is cleared and maxTimestamp kept, as Kafka does."""
        batch = with_header(timed_batch([T0, T0 + 1]), attributes=0x08)
        checked = check(batch, KAFKA_DEFAULTS)
        header = checked.batches[0][1]
        self.assertEqual((header.attributes, header.max_timestamp), (0, T0 + 1))


class MaxTimestampTests(SynchronousTestCase):
    def test_lying_header_stored_with_true_max_timestamp(self) -> None:
        """A lying maxTimestamp is stored as the largest record timestamp, with a good CRC."""
        honest = timed_batch([T0 + 5, T0 + 9, T0 + 2])
        batch = with_header(honest, max_timestamp=T0 - 1000)
        checked = check(batch, DEFAULTS)
        self.assertEqual(checked.batches[0][1].max_timestamp, T0 + 9)
        assigned = assign_offsets(batch, checked.batches, 40, leader_epoch=3)
        stored = b"".join(bytes(p) for p in assigned.pieces)
        decoded = DefaultRecordBatch(bytearray(stored))
        self.assertTrue(decoded.validate_crc())
        self.assertEqual((decoded.max_timestamp, decoded.base_offset), (T0 + 9, 40))
        self.assertEqual(assigned.max_timestamp, T0 + 9)
        self.assertEqual(stored[RECORDS_OFFSET:], honest[RECORDS_OFFSET:])
        self.assertEqual(stored[16:], honest[16:])

    def test_honest_header_not_rewritten(self) -> None:
        """A right maxTimestamp keeps the batch's bytes: a new prefix and a view of the rest."""
        batch = timed_batch([T0 + 5, T0 + 9])
        checked = check(batch, DEFAULTS)
        assigned = assign_offsets(batch, checked.batches, 0, leader_epoch=0)
        self.assertEqual(len(assigned.pieces), 2)
        self.assertIsInstance(assigned.pieces[1], memoryview)

    def test_max_timestamp_ignores_timestamps_below_minus_one(self) -> None:
        """As Kafka's maxBatchTimestamp (which starts at -1), only larger timestamps count."""
        checked = check(with_header(timed_batch([-5]), max_timestamp=7), DEFAULTS)
        self.assertEqual(checked.batches[0][1].max_timestamp, -1)


def raw_record(delta: int, index: int) -> bytes:
    """A hand-encoded record with timestamp delta C{delta} and a 1-byte key."""
    body = b"\x00" + encode_varlong(delta) + encode_varint(index) + b"\x02k\x02v\x00"
    return encode_varint(len(body)) + body


class WalkerTimestampAgreementTests(SynchronousTestCase):
    def test_extremes_agree(self) -> None:
        """Both walkers give the same answer where Java's long arithmetic wraps around."""
        if c_walk is None:
            raise self.skipTest("the compiled walker is not built")
        edges = [-(1 << 63), -(1 << 62), -2, -1, 0, 1, T0, (1 << 62), LONG_MAX]
        body = b"".join(raw_record(d, i) for i, d in enumerate(edges))
        for base in (-(1 << 63), -1, 0, T0, LONG_MAX):
            for now in (0, T0, LONG_MAX, -(1 << 63)):
                for before, after in ((LONG_MAX, LONG_MAX), (HOUR, HOUR), (0, 0)):
                    for lat in (False, True):
                        args = (body, len(edges), True, 5, base, T0, lat, True, now, before, after)
                        with self.subTest(base=base, now=now, bounds=(before, after), lat=lat):
                            self.assertEqual(repr(c_walk(*args)), repr(walk.py_walk(*args)))
