"""Fuzzing produce validation against an independent decoder (kafka-python's record classes).

Valid batches are built by kafka-python's C{DefaultRecordBatchBuilder} in
every codec, then mutated at random: bytes of the (compressed) records
section overwritten, bytes of the decompressed records overwritten and
recompressed, the declared count changed, the records section cut or
extended; the CRC is then fixed so that the mutation reaches the record
checks. Whatever kafkatwist accepts must decode cleanly with kafka-python
(CRC, every record) with the declared number of records; and the C and
Python walkers must agree on every mutated records section.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import RecordsError
from kafkatwist.wire import walk
from kafkatwist.wire.batch import RECORDS_OFFSET, parse_batch_header
from kafkatwist.wire.compression import compress, decompress
from kafkatwist.wire.record_checks import check_records
from kafkatwist.wire.validator import validate_produce_records
from tests.client_batches import client_batch
from tests.wire.malformed import rebatch

try:
    from kafkatwist.wire._walk import walk as c_walk  # type: ignore[import-not-found]
except ImportError:
    c_walk = None

MAX = 1048588
_text = st.text(max_size=6)
_bytes = st.none() | st.binary(max_size=40)
records = st.lists(
    st.tuples(_bytes, _bytes, st.lists(st.tuples(_text, st.binary(max_size=8)), max_size=3)),
    min_size=1,
    max_size=6,
)
edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4)


def built(
    recs: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]], codec: int
) -> bytes:
    """A client batch of C{recs}, in C{codec} when compression shrinks them (else uncompressed)."""
    try:
        return client_batch(codec=codec, records=recs)
    except ValueError:
        return client_batch(codec=0, records=recs)


def overwrite(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    """C{data} with byte C{pos % len} set to C{value} for each change."""
    out = bytearray(data)
    for pos, value in changes:
        if out:
            out[pos % len(out)] = value
    return bytes(out)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A client batch broken in one of several ways, with a correct CRC."""
    batch = built(draw(records), draw(st.integers(0, 4)))
    header = parse_batch_header(batch)
    body = batch[RECORDS_OFFSET:]
    kind = draw(st.sampled_from(["wire", "inner", "count", "cut", "extend"]))
    count = header.records_count
    if kind == "wire":
        body = overwrite(body, draw(edits))
    elif kind == "inner":
        inner = decompress(header.compression, body)
        body = compress(header.compression, overwrite(inner, draw(edits)))
    elif kind == "count":
        count = draw(st.sampled_from([count - 1, count + 1, 2**31 - 1])) or 1
    elif kind == "cut":
        body = body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    else:
        body += draw(st.binary(min_size=1, max_size=8))
    return rebatch(batch, body, count=count)


def accepted(batch: bytes) -> bool:
    """Whether kafkatwist's produce validation accepts C{batch}."""
    try:
        batches = validate_produce_records(batch, max_batch_bytes=MAX)
        check_records(batch, batches, max_message_bytes=MAX)
    except RecordsError:
        return False
    return True


class FuzzTests(SynchronousTestCase):
    @settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated())
    def test_accepted_batches_decode_with_kafka_python(self, batch: bytes) -> None:
        """Every mutated batch kafkatwist accepts decodes with kafka-python, record for record."""
        if not accepted(batch):
            return
        decoded = DefaultRecordBatch(bytearray(batch))
        self.assertTrue(decoded.validate_crc())
        got = list(decoded)
        self.assertEqual(len(got), parse_batch_header(batch).records_count)

    @settings(max_examples=300, deadline=None)
    @given(mutated())
    def test_walkers_agree(self, batch: bytes) -> None:
        """The compiled and the Python walker give the same verdict on every mutation."""
        if c_walk is None:
            return
        header = parse_batch_header(batch)
        try:
            body = decompress(header.compression, batch[RECORDS_OFFSET:])
        except RecordsError:
            return
        count = min(header.records_count, 10_000)
        args = (body, count, True, 5, header.base_timestamp, header.max_timestamp)
        clock = (header.timestamp_type == 1, True, header.base_timestamp + 2, 1, 1)
        self.assertEqual(repr(c_walk(*args, *clock)), repr(walk.py_walk(*args, *clock)))
