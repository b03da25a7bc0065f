"""Record batch compression codecs (gzip, snappy, lz4, zstd), all through cramjam.

The codec id is the low three bits of a v2 batch's attributes (Kafka's
``CompressionType``): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.  The framing
of each codec is what Kafka's Java client writes and reads:

- gzip: one gzip member (``GZIPOutputStream``).
- snappy: xerial ``snappy-java`` framing (``SnappyOutputStream``): a 16-byte
  header (magic ``\\x82SNAPPY\\x00``, version 1, compatible version 1), then
  blocks of a 4-byte big-endian length and raw snappy data, one block per
  32 KiB of input.  librdkafka writes plain raw snappy, which snappy-java
  also reads, so both are decoded; the snappy framing format
  (``\\xff\\x06\\x00\\x00sNaPpY``) is decoded too.  Encoding is xerial, as
  Java does.
- lz4: the standard LZ4 frame format (magic ``04 22 4d 18``), as written by
  ``Lz4BlockOutputStream`` for magic >= 1.  Kafka's Java reader refuses
  linked blocks ("Dependent block stream is unsupported"), so frames are
  written with independent blocks.
- zstd: a standard zstd frame (``ZstdOutputStream``).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import struct
from typing import Final

import cramjam

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.primitives import Buffer

NONE: Final = 0
GZIP: Final = 1
SNAPPY: Final = 2
LZ4: Final = 3
ZSTD: Final = 4
#: The highest codec id Kafka knows.
MAX_CODEC: Final = ZSTD

CODEC_NAMES: Final = {
    NONE: "none",
    GZIP: "gzip",
    SNAPPY: "snappy",
    LZ4: "lz4",
    ZSTD: "zstd",
}

XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
#: snappy-java's header: magic, then version and minimum compatible version.
XERIAL_HEADER: Final = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
#: snappy-java's default block size.
XERIAL_BLOCK_SIZE: Final = 32 * 1024
_SNAPPY_FRAMED_MAGIC: Final = b"\xff\x06\x00\x00sNaPpY"
_LENGTH: Final = struct.Struct(">i")


def _unsupported(codec: int) -> RecordsError:
    return RecordsError(
        ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"unknown compression type id {codec}"
    )


def compress(codec: int, data: Buffer) -> bytes:
    """
    Compress C{data} the way Kafka's Java producer frames codec C{codec}.

    @raise RecordsError: C{UNSUPPORTED_COMPRESSION_TYPE} for an unknown codec.
    """
    if codec == NONE:
        return bytes(data)
    if codec == GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec == SNAPPY:
        return _xerial_compress(data)
    if codec == LZ4:
        compressor = cramjam.lz4.Compressor(content_checksum=False, block_linked=False)
        # The streaming Compressor takes bytes only.
        compressor.compress(data if isinstance(data, bytes) else bytes(data))
        return bytes(compressor.finish())
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(data))
    raise _unsupported(codec)


def decompress(codec: int, data: Buffer) -> bytes:
    """
    Decompress a batch's records section compressed with codec C{codec}.

    @raise RecordsError: C{UNSUPPORTED_COMPRESSION_TYPE} for an unknown
        codec; C{CORRUPT_MESSAGE} if the data does not decompress.
    """
    try:
        if codec == NONE:
            return bytes(data)
        if codec == GZIP:
            return bytes(cramjam.gzip.decompress(data))
        if codec == SNAPPY:
            return _snappy_decompress(data)
        if codec == LZ4:
            return bytes(cramjam.lz4.decompress(data))
        if codec == ZSTD:
            return bytes(cramjam.zstd.decompress(data))
    except cramjam.DecompressionError as e:
        raise RecordsError(
            ErrorCode.CORRUPT_MESSAGE,
            f"{CODEC_NAMES[codec]} data does not decompress: {e}",
        ) from None
    raise _unsupported(codec)


def _xerial_compress(data: Buffer) -> bytes:
    view = memoryview(data).cast("B")
    parts: list[bytes] = [XERIAL_HEADER]
    for start in range(0, len(view), XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + XERIAL_BLOCK_SIZE]))
        parts.append(_LENGTH.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _snappy_decompress(data: Buffer) -> bytes:
    view = memoryview(data).cast("B")
    if len(view) >= len(XERIAL_HEADER) and bytes(view[: len(XERIAL_MAGIC)]) == XERIAL_MAGIC:
        return _xerial_decompress(view)
    if bytes(view[: len(_SNAPPY_FRAMED_MAGIC)]) == _SNAPPY_FRAMED_MAGIC:
        return bytes(cramjam.snappy.decompress(view))
    return bytes(cramjam.snappy.decompress_raw(view))


def _xerial_decompress(view: memoryview) -> bytes:
    parts: list[bytes] = []
    pos = len(XERIAL_HEADER)
    end = len(view)
    while pos < end:
        if end - pos < _LENGTH.size:
            raise RecordsError(ErrorCode.CORRUPT_MESSAGE, "truncated xerial snappy block length")
        (length,) = _LENGTH.unpack_from(view, pos)
        pos += _LENGTH.size
        if length < 0 or length > end - pos:
            raise RecordsError(
                ErrorCode.CORRUPT_MESSAGE,
                f"xerial snappy block length {length} is out of range",
            )
        parts.append(bytes(cramjam.snappy.decompress_raw(view[pos : pos + length])))
        pos += length
    return b"".join(parts)
