"""Magic 0 and 1 message sets: the codec, up-conversion and down-conversion (issue 14).

Messages are built and parsed with kafka-python's legacy record classes
(C{kafka.record.legacy_records}: LegacyRecordBatchBuilder and
LegacyRecordBatch), an implementation independent of ours; converted v2
batches are parsed with its DefaultRecordBatch.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Sequence

import lz4.frame
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.compression import GZIP, LZ4, NONE, SNAPPY, ZSTD
from kafkatwist.wire.downconvert import down_convert, fetch_magic, fit
from kafkatwist.wire.legacy import (
    break_lz4_header,
    encode_message,
    fix_lz4_header,
    read_message_set,
    xxh32,
)
from kafkatwist.wire.record import NewRecord, build_batch, decode_batch_records
from kafkatwist.wire.upconvert import has_wrapper, is_legacy, up_convert
from tests.client_batches import client_batch

TS = 1_700_000_000_000
#: A magic 0 message at offset 0, key null, value "hi", written out by hand from
#: the protocol guide's layout: offset, size 16, CRC-32 0xfd6ebddb of the
#: following bytes, magic 0, attributes 0, key -1, value length 2, "hi".
GOLDEN_V0 = bytes.fromhex(
    "0000000000000000"  # offset
    "00000010"  # message size
    "fd6ebddb"  # crc
    "00"  # magic
    "00"  # attributes
    "ffffffff"  # key: null
    "00000002"  # value length
    "6869"  # "hi"
)


def legacy(magic: int, codec: int = 0, count: int = 3, key: bool = True) -> bytes:
    """A message set from kafka-python's builder: keys k0.., values v0.., timestamps TS+i."""
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for i in range(count):
        builder.append(i, TS + i if magic else None, b"k%d" % i if key else None, b"v%d" % i)
    return bytes(builder.build())


def v2_records(batch: bytes) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(offset, timestamp, key, value) of a v2 batch, parsed by kafka-python."""
    parsed = DefaultRecordBatch(bytearray(batch))
    assert parsed.validate_crc()
    return [(r.offset, r.timestamp, r.key, r.value) for r in parsed]


def old_records(data: bytes) -> list[tuple[int, int | None, bytes | None, bytes | None]]:
    """(offset, timestamp, key, value) of a magic 0/1 message set, parsed by kafka-python."""
    records = MemoryRecords(data)
    out: list[tuple[int, int | None, bytes | None, bytes | None]] = []
    while records.has_next():
        batch = records.next_batch()
        assert batch is not None
        out.extend((r.offset, r.timestamp, r.key, r.value) for r in batch)
    return out


def codec_of(batch: bytes) -> int:
    return parse_batch_header(batch).compression


def refused(case: SynchronousTestCase, code: ErrorCode, data: bytes, **kwargs: object) -> str:
    """Assert that up-converting C{data} raises C{code}; its message."""
    options: dict[str, object] = {"compression_type": "producer", "max_message_bytes": 1 << 20}
    options.update(kwargs)
    e = case.assertRaises(RecordsError, up_convert, data, **options)
    case.assertEqual(e.code, code)
    return e.message or ""


def rewrap(magic: int, codec: int, inner: bytes, *, value: bytes | None = None) -> bytes:
    """A wrapper message around C{inner} (compressed with C{codec}), or around C{value}."""
    if value is None:
        value = gzip.compress(inner) if codec == GZIP else inner
    return encode_message(0, magic, codec, TS if magic else -1, None, value)


class CodecTests(SynchronousTestCase):
    """Reading and writing single messages."""

    def test_golden_v0(self) -> None:
        """The hand-written magic 0 message is what both implementations write and read."""
        self.assertEqual(zlib.crc32(GOLDEN_V0[16:]), 0xFD6EBDDB)
        self.assertEqual(encode_message(0, 0, 0, -1, None, b"hi"), GOLDEN_V0)
        builder = LegacyRecordBatchBuilder(0, 0, 1024)
        builder.append(0, None, None, b"hi")
        self.assertEqual(bytes(builder.build()), GOLDEN_V0)
        [(pos, m)] = read_message_set(GOLDEN_V0)
        self.assertEqual((pos, m.offset, m.magic, m.key, m.value), (0, 0, 0, None, b"hi"))
        self.assertEqual(m.timestamp, -1)

    def test_same_bytes_as_kafka_python(self) -> None:
        """encode_message writes kafka-python's bytes for magic 0 and 1, null keys included."""
        for magic in (0, 1):
            for key in (b"k", None, b""):
                with self.subTest(magic=magic, key=key):
                    builder = LegacyRecordBatchBuilder(magic, 0, 1024)
                    builder.append(7, TS if magic else None, key, b"value")
                    theirs = bytes(builder.build())
                    self.assertEqual(encode_message(7, magic, 0, TS, key, b"value"), theirs)

    def test_reads_kafka_python_sets(self) -> None:
        """Every field of kafka-python's messages is read back, with its position."""
        data = legacy(1, count=4)
        messages = read_message_set(data)
        self.assertEqual([m.offset for _, m in messages], [0, 1, 2, 3])
        self.assertEqual([m.timestamp for _, m in messages], [TS, TS + 1, TS + 2, TS + 3])
        self.assertEqual([m.key for _, m in messages], [b"k0", b"k1", b"k2", b"k3"])
        self.assertEqual(messages[1][0], len(data) // 4)

    def test_corrupt_messages(self) -> None:
        """A CRC mismatch, a short size, a truncated set or stray bytes are CORRUPT_MESSAGE."""
        data = bytearray(legacy(0))
        data[-1] ^= 1
        bad_crc = bytes(data)
        too_short = struct.pack(">qi", 0, 10) + bytes(10)
        cases = {
            "crc": bad_crc,
            "short": too_short,
            "truncated": legacy(0)[:-3],
            "stray": encode_message(0, 0, 0, -1, None, b"x")[:-1] + b"\x00\x00",
        }
        for name, case in cases.items():
            with self.subTest(name):
                e = self.assertRaises(RecordsError, read_message_set, case)
                self.assertEqual(e.code, ErrorCode.CORRUPT_MESSAGE)
        self.assertIn(
            "Record is corrupt (stored crc", refused(self, ErrorCode.CORRUPT_MESSAGE, bad_crc)
        )

    def test_xxh32(self) -> None:
        """XXH32 gives the reference vectors and lz4's own frame header checksums."""
        self.assertEqual(xxh32(b""), 0x02CC5D05)
        self.assertEqual(xxh32(b"abc"), 0x32D153FF)
        self.assertEqual(xxh32(b"Nobody inspects the spammish repetition"), 0xE2293B2F)
        for data, size in ((b"hello" * 9, True), (b"x", False)):
            frame = lz4.frame.compress(data, store_size=size)
            end = 15 if size else 7
            self.assertEqual(frame[end - 1], (xxh32(frame[4 : end - 1]) >> 8) & 0xFF)

    def test_lz4_headers(self) -> None:
        """Kafka 0.8's checksum covers the magic number; fixing it gives lz4's frame back."""
        frame = lz4.frame.compress(b"payload" * 20, block_linked=False, store_size=False)
        broken = break_lz4_header(frame)
        self.assertEqual(broken[6], (xxh32(frame[:6]) >> 8) & 0xFF)
        self.assertNotEqual(broken[6], frame[6])
        self.assertEqual(broken[:6] + broken[7:], frame[:6] + frame[7:])
        self.assertEqual(fix_lz4_header(broken), frame)
        self.assertEqual(fix_lz4_header(b"not lz4"), b"not lz4")


class UpConvertTests(SynchronousTestCase):
    """Magic 0/1 message sets become one v2 batch (Kafka 3.9's LogValidator)."""

    def convert(self, data: bytes, compression: str = "producer") -> bytes:
        return up_convert(data, compression_type=compression, max_message_bytes=1 << 20)

    def test_plain_messages(self) -> None:
        """Plain messages keep key, value and (magic 1) timestamp; magic 0 gets -1."""
        v0 = self.convert(legacy(0))
        self.assertEqual(v2_records(v0), [(i, -1, b"k%d" % i, b"v%d" % i) for i in range(3)])
        v1 = self.convert(legacy(1))
        self.assertEqual(v2_records(v1), [(i, TS + i, b"k%d" % i, b"v%d" % i) for i in range(3)])
        header = parse_batch_header(v1)
        self.assertEqual(
            (header.producer_id, header.base_offset, header.max_timestamp), (-1, 0, TS + 2)
        )
        self.assertEqual(codec_of(v1), NONE)

    def test_wrappers_keep_their_codec(self) -> None:
        """gzip, snappy and lz4 wrappers (kafka-python's) become batches of the same codec."""
        for magic, codec in ((0, GZIP), (0, SNAPPY), (1, GZIP), (1, SNAPPY), (1, LZ4)):
            with self.subTest(magic=magic, codec=codec):
                data = legacy(magic, codec, count=5)
                self.assertTrue(has_wrapper(data))
                batch = self.convert(data)
                self.assertEqual(codec_of(batch), codec)
                ts = [TS + i if magic else -1 for i in range(5)]
                self.assertEqual(
                    v2_records(batch), [(i, ts[i], b"k%d" % i, b"v%d" % i) for i in range(5)]
                )

    def test_magic0_lz4_broken_checksum(self) -> None:
        """A magic 0 lz4 wrapper with Kafka 0.8's header checksum is read as Kafka reads it."""
        frame = lz4.frame.compress(legacy(0), block_linked=False, store_size=False)
        data = rewrap(0, LZ4, b"", value=break_lz4_header(frame))
        batch = self.convert(data)
        self.assertEqual([r[3] for r in v2_records(batch)], [b"v0", b"v1", b"v2"])
        self.assertEqual(codec_of(batch), LZ4)

    def test_topic_codec(self) -> None:
        """The topic's compression.type wins over the producer's, as targetCompression."""
        self.assertEqual(codec_of(self.convert(legacy(0), "gzip")), GZIP)
        self.assertEqual(codec_of(self.convert(legacy(1, SNAPPY), "uncompressed")), NONE)
        self.assertEqual(codec_of(self.convert(legacy(1, SNAPPY), "zstd")), ZSTD)

    def test_mixed_set(self) -> None:
        """Plain messages and wrappers in one set become one batch, in order."""
        data = legacy(1, count=2) + legacy(1, GZIP, count=2)
        batch = self.convert(data)
        self.assertEqual([r[3] for r in v2_records(batch)], [b"v0", b"v1", b"v0", b"v1"])
        self.assertEqual(codec_of(batch), GZIP)

    def test_null_keys_and_values(self) -> None:
        """Null keys and values stay null."""
        data = encode_message(0, 1, 0, TS, None, None)
        self.assertEqual(v2_records(self.convert(data)), [(0, TS, None, None)])

    def test_refusals(self) -> None:
        """Each thing Kafka 3.9 refuses in a message set is refused with its code."""
        inner_v0 = legacy(0)
        nested = legacy(1, GZIP)
        damaged = bytearray(inner_v0)
        damaged[-1] ^= 1
        cases = [
            (ErrorCode.INVALID_RECORD, b"", {}),
            (ErrorCode.INVALID_TIMESTAMP, encode_message(0, 1, 0x08, TS, None, b"x"), {}),
            (ErrorCode.INVALID_RECORD, rewrap(1, GZIP, inner_v0), {}),  # inner magic 0
            (ErrorCode.INVALID_RECORD, rewrap(1, GZIP, nested), {}),  # nested wrapper
            (ErrorCode.INVALID_RECORD, rewrap(0, GZIP, b""), {}),  # no inner message
            (ErrorCode.INVALID_RECORD, encode_message(0, 0, GZIP, -1, None, None), {}),
            (ErrorCode.CORRUPT_MESSAGE, rewrap(0, GZIP, bytes(damaged)), {}),
            (ErrorCode.CORRUPT_MESSAGE, rewrap(0, GZIP, b"", value=b"not gzip"), {}),
            (ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, rewrap(1, ZSTD, b"", value=b"x"), {}),
            (ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, rewrap(1, 6, b"", value=b"x"), {}),
            (ErrorCode.MESSAGE_TOO_LARGE, legacy(1), {"max_message_bytes": 30}),
            (
                ErrorCode.INVALID_RECORD,
                legacy(0) + build_batch([(None, b"x")], base_timestamp=TS),
                {},
            ),
        ]
        for code, data, options in cases:
            with self.subTest(code=code, data=data[:40]):
                refused(self, code, data, **options)

    def test_decompressed_bound(self) -> None:
        """Wrappers may not decompress past the bound of one batch (32 x max.message.bytes)."""
        builder = LegacyRecordBatchBuilder(1, GZIP, 1 << 24)
        for i in range(3000):
            builder.append(i, TS, None, bytes(1000))
        message = refused(
            self, ErrorCode.INVALID_RECORD, bytes(builder.build()), max_message_bytes=20_000
        )
        self.assertIn("decompress to more than", message)

    def test_is_legacy(self) -> None:
        """Magic 0 and 1 sets are told from v2 batches by the byte where both keep the magic."""
        self.assertTrue(is_legacy(legacy(0)))
        self.assertTrue(is_legacy(legacy(1)))
        self.assertFalse(is_legacy(build_batch([(None, b"x")], base_timestamp=TS)))
        self.assertFalse(is_legacy(b""))
        self.assertFalse(has_wrapper(legacy(1)))


def v2(
    records: Sequence[tuple[bytes | None, bytes | None]], *, offset: int, codec: int = 0
) -> bytes:
    """A v2 batch at C{offset}, written by kafka-python's DefaultRecordBatchBuilder."""
    headers = [("h", b"x")]
    batch = client_batch(codec=codec, timestamp=TS, records=[(k, v, headers) for k, v in records])
    data = bytearray(batch)
    struct.pack_into(">q", data, 0, offset)  # the base offset is outside the CRC
    return bytes(data)


class DownConvertTests(SynchronousTestCase):
    """Stored v2 batches become magic 0/1 messages (Kafka 3.9's RecordsUtil.downConvert)."""

    def test_fetch_magic(self) -> None:
        """Fetch v0-v1 read magic 0, v2-v3 magic 1, v4+ v2 batches as stored."""
        self.assertEqual([fetch_magic(v) for v in range(6)], [0, 0, 1, 1, None, None])

    def test_plain_batches(self) -> None:
        """Records become messages at their absolute offsets; magic 1 keeps timestamps."""
        data = v2([(b"a", b"1"), (None, b"2")], offset=10) + v2([(b"c", None)], offset=12)
        got0 = old_records(fit(down_convert([data], 0, 10), 1 << 20))
        self.assertEqual(
            got0, [(10, None, b"a", b"1"), (11, None, None, b"2"), (12, None, b"c", None)]
        )
        got1 = old_records(b"".join(down_convert([data], 1, 11)))
        self.assertEqual(got1, [(11, TS + 1, None, b"2"), (12, TS, b"c", None)])

    def test_compressed_batches(self) -> None:
        """A compressed batch becomes one wrapper of its codec, inner offsets as its magic wants."""
        records = [(b"k%d" % i, b"v" * 100) for i in range(5)]
        for codec in (GZIP, SNAPPY, LZ4):
            for magic in (0, 1):
                if codec == LZ4 and magic == 0:
                    continue  # kafka-python needs xxhash: see test_magic0_lz4_wrapper
                with self.subTest(codec=codec, magic=magic):
                    [wrapper] = down_convert([v2(records, offset=100, codec=codec)], magic, 102)
                    [(_, message)] = read_message_set(wrapper)
                    self.assertEqual((message.codec, message.offset), (codec, 104))
                    got = old_records(wrapper)
                    self.assertEqual(
                        [(r[0], r[2]) for r in got], [(102, b"k2"), (103, b"k3"), (104, b"k4")]
                    )
                    if magic:
                        self.assertEqual([r[1] for r in got], [TS + 2, TS + 3, TS + 4])

    def test_magic0_lz4_wrapper(self) -> None:
        """A magic 0 lz4 wrapper carries Kafka 0.8's header checksum and absolute inner offsets."""
        [wrapper] = down_convert(
            [v2([(b"k", b"v" * 99), (b"l", b"w" * 99)], offset=5, codec=LZ4)], 0, 0
        )
        [(_, message)] = read_message_set(wrapper)
        assert message.value is not None
        self.assertEqual(message.value[6], (xxh32(message.value[:6]) >> 8) & 0xFF)
        inner = read_message_set(lz4.frame.decompress(fix_lz4_header(message.value)))
        self.assertEqual(
            [(m.offset, m.magic, m.key) for _, m in inner], [(5, 0, b"k"), (6, 0, b"l")]
        )

    def test_control_and_zstd(self) -> None:
        """Control batches are dropped; a zstd batch is UNSUPPORTED_COMPRESSION_TYPE."""
        marker = bytearray(
            build_batch(
                [(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")],
                base_timestamp=TS,
                is_control=True,
                is_transactional=True,
                base_offset=3,
            )
        )
        data = v2([(None, b"x")], offset=2) + bytes(marker)
        self.assertEqual([r[0] for r in old_records(b"".join(down_convert([data], 1, 0)))], [2])
        zstd = build_batch([(None, b"x")], base_timestamp=TS, compression=ZSTD)
        e = self.assertRaises(RecordsError, down_convert, [zstd], 1, 0)
        self.assertEqual(e.code, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)

    def test_log_append_time(self) -> None:
        """A LogAppendTime batch gives magic 1 messages its append time and the type bit."""
        batch = build_batch(
            [NewRecord(None, b"a", (), TS), NewRecord(None, b"b", (), TS + 5)],
            base_timestamp=TS,
            timestamp_type=1,
        )
        stamped = bytearray(batch)
        struct.pack_into(
            ">q", stamped, 35, TS + 999
        )  # maxTimestamp: the append time (CRC not checked)
        for codec_batch in (bytes(stamped),):
            [messages] = down_convert([codec_batch], 1, 0)
            found = [m for _, m in read_message_set(messages)]
            self.assertEqual(
                [(m.timestamp, m.log_append_time) for m in found], [(TS + 999, True)] * 2
            )
        self.assertEqual(decode_batch_records(batch)[0].timestamp, TS + 5)

    def test_fit(self) -> None:
        """The first batch's messages go whole; the rest are cut at the limit."""
        parts = [b"a" * 50, b"b" * 30, b"c" * 30]
        self.assertEqual(fit(parts, 10), b"a" * 50)
        self.assertEqual(fit(parts, 60), b"a" * 50 + b"b" * 10)
        self.assertEqual(fit(parts, 1000), b"".join(parts))
        self.assertEqual(fit([], 1000), b"")
