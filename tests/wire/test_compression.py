"""Tests for kafkatwist.wire.compression, with reference libraries as oracles.

cramjam is the runtime implementation; the stdlib gzip module, python-snappy,
lz4 and zstandard are installed as test-only oracles for the framings that
Kafka's Java client and librdkafka write.
"""

from __future__ import annotations

import gzip
import io
import random
import struct

import lz4.frame
import snappy
import zstandard
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire import compression

CODECS = (compression.GZIP, compression.SNAPPY, compression.LZ4, compression.ZSTD)


def samples() -> list[bytes]:
    """Inputs of several sizes, compressible and not, across block boundaries."""
    rng = random.Random(7)
    text = b"kafkatwist record batch payload " * 5000
    return [
        b"",
        b"x",
        b"Hello World!",
        text,
        rng.randbytes(100_000),
        text[: compression.XERIAL_BLOCK_SIZE],
        text[: compression.XERIAL_BLOCK_SIZE + 1],
    ]


def xerial_blocks(data: bytes) -> list[bytes]:
    """Split xerial-framed snappy into its raw blocks, checking the header."""
    assert data[:16] == bytes.fromhex("82534e41505059000000000100000001")
    blocks = []
    pos = 16
    while pos < len(data):
        (length,) = struct.unpack_from(">i", data, pos)
        blocks.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    assert pos == len(data)
    return blocks


class RoundTripTests(SynchronousTestCase):
    """compress then decompress gives the input back."""

    def test_round_trip(self) -> None:
        """Every codec round-trips every sample."""
        for codec in (compression.NONE, *CODECS):
            for data in samples():
                compressed = compression.compress(codec, data)
                self.assertIsInstance(compressed, bytes)
                self.assertEqual(compression.decompress(codec, compressed), data, codec)

    def test_memoryview_input(self) -> None:
        """Slices of a larger buffer can be compressed and decompressed."""
        data = b"abc" * 1000
        for codec in CODECS:
            compressed = compression.compress(codec, memoryview(b"!!" + data)[2:])
            framed = memoryview(b"??" + compressed)[2:]
            self.assertEqual(compression.decompress(codec, framed), data)

    def test_unknown_codec(self) -> None:
        """Codec ids other than 0-4 are UNSUPPORTED_COMPRESSION_TYPE."""
        for codec in (5, 6, 7, -1):
            for function in (compression.compress, compression.decompress):
                error = self.assertRaises(RecordsError, function, codec, b"data")
                self.assertEqual(error.code, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)

    def test_garbage_is_corrupt(self) -> None:
        """Data that does not decompress is CORRUPT_MESSAGE for every codec."""
        garbage = bytes(range(256)) * 4
        for codec in CODECS:
            for data in (garbage, compression.compress(codec, b"x" * 5000)[:-7]):
                error = self.assertRaises(RecordsError, compression.decompress, codec, data)
                self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE, codec)


class GzipTests(SynchronousTestCase):
    """gzip against the standard library."""

    def test_decodes_stdlib_gzip(self) -> None:
        """A gzip member written by the gzip module (as GZIPOutputStream) decodes."""
        for data in samples():
            self.assertEqual(compression.decompress(compression.GZIP, gzip.compress(data)), data)

    def test_stdlib_decodes_ours(self) -> None:
        """Our gzip output is a valid gzip member."""
        for data in samples():
            self.assertEqual(gzip.decompress(compression.compress(compression.GZIP, data)), data)


class SnappyTests(SynchronousTestCase):
    """Snappy in xerial framing, raw, and the snappy framing format."""

    def test_encodes_xerial_like_java(self) -> None:
        """Our snappy output is xerial-framed, one raw block per 32 KiB of input."""
        for data in samples():
            blocks = xerial_blocks(compression.compress(compression.SNAPPY, data))
            self.assertEqual(len(blocks), -(-len(data) // compression.XERIAL_BLOCK_SIZE))
            self.assertEqual(b"".join(snappy.decompress(b) for b in blocks), data)

    def test_decodes_xerial(self) -> None:
        """Xerial framing assembled from the reference raw snappy encoder decodes."""
        data = samples()[3]
        chunks = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]
        framed = compression.XERIAL_HEADER + b"".join(
            struct.pack(">i", len(c)) + c for c in map(snappy.compress, chunks)
        )
        self.assertEqual(compression.decompress(compression.SNAPPY, framed), data)

    def test_decodes_raw_snappy(self) -> None:
        """Raw snappy without framing (as librdkafka writes it) decodes."""
        for data in samples():
            self.assertEqual(
                compression.decompress(compression.SNAPPY, snappy.compress(data)), data
            )

    def test_decodes_snappy_framing_format(self) -> None:
        """The snappy framing format (stream identifier chunk) decodes too."""
        data = samples()[3]
        framed = snappy.StreamCompressor().compress(data)
        self.assertEqual(framed[:10], b"\xff\x06\x00\x00sNaPpY")
        self.assertEqual(compression.decompress(compression.SNAPPY, framed), data)

    def test_truncated_xerial(self) -> None:
        """A xerial block length that runs past the data is CORRUPT_MESSAGE."""
        framed = compression.compress(compression.SNAPPY, b"y" * 100)
        for cut in range(17, len(framed)):
            error = self.assertRaises(
                RecordsError, compression.decompress, compression.SNAPPY, framed[:cut]
            )
            self.assertEqual(error.code, ErrorCode.CORRUPT_MESSAGE)


class Lz4Tests(SynchronousTestCase):
    """LZ4 frames, checked against the lz4 reference library."""

    def test_decodes_reference_frames(self) -> None:
        """Frames from the lz4 library decode, whatever their flags."""
        options = [
            {},
            {"block_linked": False, "content_checksum": False, "store_size": False},
            {"block_linked": False, "content_checksum": True},
            {"block_size": lz4.frame.BLOCKSIZE_MAX4MB},
        ]
        for data in samples():
            for kwargs in options:
                frame = lz4.frame.compress(data, **kwargs)
                self.assertEqual(compression.decompress(compression.LZ4, frame), data)

    def test_decodes_kafka_style_raw_block(self) -> None:
        """A frame like Kafka's, with an incompressible block stored raw, decodes."""
        reference = lz4.frame.compress(
            b"", block_linked=False, content_checksum=False, store_size=False
        )
        # Kafka's KafkaLZ4BlockOutputStream header: FLG 0x60, BD 0x40, checksum.
        self.assertEqual(reference[:6], bytes.fromhex("04224d186040"))
        header = reference[:7]
        payload = random.Random(3).randbytes(1000)
        frame = header + struct.pack("<I", len(payload) | 0x80000000) + payload + bytes(4)
        self.assertEqual(compression.decompress(compression.LZ4, frame), payload)

    def test_encodes_independent_blocks(self) -> None:
        """Our frames set block independence, which Kafka's Java reader requires."""
        for data in samples():
            frame = compression.compress(compression.LZ4, data)
            self.assertEqual(frame[:4], bytes.fromhex("04224d18"))
            flg = frame[4]
            self.assertEqual(flg >> 6, 1)  # frame version 01
            self.assertTrue(flg & 0x20)  # block independence
            self.assertFalse(flg & 0x08)  # no content size
            self.assertFalse(flg & 0x04)  # no content checksum
            self.assertEqual(frame[5], 0x40)  # 64 KiB blocks, as Kafka writes
            self.assertEqual(lz4.frame.decompress(frame), data)


class ZstdTests(SynchronousTestCase):
    """zstd frames, checked against the zstandard reference library."""

    def test_decodes_reference_frames(self) -> None:
        """One-shot frames and streamed frames without a content size both decode."""
        for data in samples():
            one_shot = zstandard.ZstdCompressor().compress(data)
            self.assertEqual(compression.decompress(compression.ZSTD, one_shot), data)
            sink = io.BytesIO()
            with zstandard.ZstdCompressor(write_content_size=False).stream_writer(
                sink, closefd=False
            ) as writer:
                writer.write(data)
            self.assertEqual(compression.decompress(compression.ZSTD, sink.getvalue()), data)

    def test_reference_decodes_ours(self) -> None:
        """Our zstd output is a standard zstd frame."""
        for data in samples():
            frame = compression.compress(compression.ZSTD, data)
            reader = zstandard.ZstdDecompressor().decompressobj()
            self.assertEqual(reader.decompress(frame), data)
