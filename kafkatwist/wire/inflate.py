"""Bounded, streaming decompression of a batch's records (for validating produced batches).

L{inflate} decompresses the records section of one batch but stops as soon
as the output passes a limit, so a decompression bomb (a 32 KB zstd batch
holding 1 GiB of zeros) costs at most C{limit} bytes of memory and the CPU
time to produce them, never what the batch claims to expand to:

- gzip: C{zlib.decompressobj} with C{max_length} per call; concatenated
  members are read like Java's C{GZIPInputStream}.
- zstd: the C{zstandard} package's C{decompressobj}, fed slices of input so
  small that they cannot expand past what is left of the limit (a zstd block
  holds at most 128 KiB and takes at least 3 bytes), and a window of at most
  8 MiB (C{max_window_size}, what zstd levels up to 19 use), so a frame
  cannot make the decoder allocate more.
- lz4: C{lz4.frame.LZ4FrameDecompressor} with C{max_length} per call (its
  blocks are at most 4 MiB).
- snappy: xerial blocks, a raw snappy block (librdkafka) and the snappy
  framing format all state each block's uncompressed length before it is
  decompressed, and each is checked first.

Truncated or undecodable data, and bytes after the last frame that are not
another frame, raise C{CORRUPT_MESSAGE}; more output than C{limit} raises
L{TooLarge}.  (The producing clients are what C{compress} in
L{kafkatwist.wire.compression} mimics; this module only reads.)

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

import cramjam
import lz4.frame  # type: ignore[import-untyped]
import zstandard

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.wire.compression import (
    CODEC_NAMES,
    GZIP,
    LZ4,
    NONE,
    SNAPPY,
    XERIAL_HEADER,
    XERIAL_MAGIC,
    ZSTD,
)
from kafkatwist.wire.crc32c import crc32c
from kafkatwist.wire.primitives import Buffer

#: Output asked of a streaming decompressor per call.
CHUNK: Final = 256 * 1024
#: A zstd block holds at most 128 KiB and takes at least 3 bytes.
_ZSTD_MAX_RATIO: Final = 128 * 1024 // 3 + 1
#: The largest zstd window a frame may ask for.
ZSTD_MAX_WINDOW: Final = 8 * 1024 * 1024
_GZIP_WBITS: Final = 31
_SNAPPY_FRAMED_MAGIC: Final = b"\xff\x06\x00\x00sNaPpY"
_SNAPPY_FRAMED_MAX_CHUNK: Final = 65536
_LENGTH: Final = struct.Struct(">i")


class TooLarge(RecordsError):
    """The records decompress to more than the limit (C{INVALID_RECORD})."""

    def __init__(self, codec: int, limit: int) -> None:
        super().__init__(
            ErrorCode.INVALID_RECORD,
            f"the {CODEC_NAMES[codec]} records of the batch decompress to more than "
            f"{limit} bytes, the limit for one batch",
        )
        self.limit = limit


def _corrupt(codec: int, why: object) -> RecordsError:
    return RecordsError(
        ErrorCode.CORRUPT_MESSAGE, f"{CODEC_NAMES[codec]} data does not decompress: {why}"
    )


class _Output:
    """Decompressed bytes, refused once they pass the limit."""

    def __init__(self, codec: int, limit: int) -> None:
        self.codec = codec
        self.limit = limit
        self.data = bytearray()

    def room(self) -> int:
        """Bytes to ask for next: at most one byte past the limit."""
        return max(1, min(CHUNK, self.limit + 1 - len(self.data)))

    def add(self, chunk: Buffer) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            raise TooLarge(self.codec, self.limit)


def inflate(codec: int, data: Buffer, limit: int) -> bytearray:
    """
    Decompress the records section C{data} of a batch compressed with C{codec}.

    @param limit: The most bytes the records may decompress to.
    @raise TooLarge: When they would decompress to more.
    @raise RecordsError: C{CORRUPT_MESSAGE} for data that does not decompress;
        C{UNSUPPORTED_COMPRESSION_TYPE} for an unknown codec.
    """
    view = memoryview(data).cast("B")
    out = _Output(codec, limit)
    if codec == NONE:
        out.add(view)
    elif codec == GZIP:
        _gzip(view, out)
    elif codec == ZSTD:
        _zstd(view, out)
    elif codec == LZ4:
        _lz4(view, out)
    elif codec == SNAPPY:
        _snappy(view, out)
    else:
        raise RecordsError(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"unknown compression type id {codec}"
        )
    return out.data


def _gzip(view: memoryview, out: _Output) -> None:
    pending: Buffer = view
    try:
        while True:
            d = zlib.decompressobj(_GZIP_WBITS)
            while not d.eof:
                chunk = d.decompress(pending, out.room())
                out.add(chunk)
                pending = d.unconsumed_tail
                if not chunk and not pending and not d.eof:
                    raise _corrupt(GZIP, "truncated gzip stream")
            pending = d.unused_data
            if not pending:
                return
    except zlib.error as e:
        raise _corrupt(GZIP, e) from None


def _zstd(view: memoryview, out: _Output) -> None:
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    pos, end = 0, len(view)
    try:
        while pos < end:
            d = dctx.decompressobj()
            while not d.eof:
                if pos >= end:
                    raise _corrupt(ZSTD, "truncated zstd frame")
                step = max(1, (out.limit - len(out.data)) // _ZSTD_MAX_RATIO)
                out.add(d.decompress(bytes(view[pos : pos + step])))
                pos = min(pos + step, end)
            pos -= len(d.unused_data)
    except zstandard.ZstdError as e:
        raise _corrupt(ZSTD, e) from None


def _lz4(view: memoryview, out: _Output) -> None:
    pending = bytes(view)
    try:
        while pending:
            d = lz4.frame.LZ4FrameDecompressor()
            out.add(d.decompress(pending, max_length=out.room()))
            while not d.eof:
                if d.needs_input:
                    raise _corrupt(LZ4, "truncated lz4 frame")
                out.add(d.decompress(b"", max_length=out.room()))
            pending = d.unused_data
    except RuntimeError as e:  # lz4.frame's error type
        raise _corrupt(LZ4, e) from None


def _snappy_block(view: memoryview, out: _Output, at_most: int | None = None) -> None:
    try:
        size = cramjam.snappy.decompress_raw_len(view)
        if at_most is not None and size > at_most:
            raise _corrupt(SNAPPY, f"a framed snappy chunk of {size} bytes")
        if size > out.limit - len(out.data):
            raise TooLarge(SNAPPY, out.limit)
        out.add(bytes(cramjam.snappy.decompress_raw(view)))
    except cramjam.DecompressionError as e:
        raise _corrupt(SNAPPY, e) from None


def _snappy(view: memoryview, out: _Output) -> None:
    if len(view) >= len(XERIAL_HEADER) and bytes(view[: len(XERIAL_MAGIC)]) == XERIAL_MAGIC:
        pos, end = len(XERIAL_HEADER), len(view)
        while pos < end:
            if end - pos < _LENGTH.size:
                raise _corrupt(SNAPPY, "truncated xerial block length")
            (length,) = _LENGTH.unpack_from(view, pos)
            pos += _LENGTH.size
            if length < 0 or length > end - pos:
                raise _corrupt(SNAPPY, f"xerial block length {length} is out of range")
            _snappy_block(view[pos : pos + length], out)
            pos += length
    elif bytes(view[: len(_SNAPPY_FRAMED_MAGIC)]) == _SNAPPY_FRAMED_MAGIC:
        _snappy_framed(view, out)
    else:
        _snappy_block(view, out)


def _masked_crc(data: Buffer) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _snappy_framed(view: memoryview, out: _Output) -> None:
    pos, end = 0, len(view)
    while pos < end:
        if end - pos < 4:
            raise _corrupt(SNAPPY, "truncated snappy frame chunk header")
        kind = view[pos]
        length = view[pos + 1] | view[pos + 2] << 8 | view[pos + 3] << 16
        body = view[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if len(body) != length:
            raise _corrupt(SNAPPY, "truncated snappy frame chunk")
        if kind in (0x00, 0x01):
            if length < 4:
                raise _corrupt(SNAPPY, "snappy frame chunk without a checksum")
            start = len(out.data)
            if kind == 0x00:
                _snappy_block(body[4:], out, _SNAPPY_FRAMED_MAX_CHUNK)
            elif length - 4 > _SNAPPY_FRAMED_MAX_CHUNK:
                raise _corrupt(SNAPPY, "an uncompressed snappy frame chunk is too long")
            else:
                out.add(body[4:])
            (crc,) = struct.unpack_from("<I", body)
            if _masked_crc(bytes(out.data[start:])) != crc:
                raise _corrupt(SNAPPY, "snappy frame chunk checksum mismatch")
        elif kind == 0xFF:
            if bytes(body) != _SNAPPY_FRAMED_MAGIC[4:]:
                raise _corrupt(SNAPPY, "bad snappy stream identifier")
        elif kind < 0x80:
            raise _corrupt(SNAPPY, f"reserved unskippable snappy frame chunk type {kind}")


__all__ = ["CHUNK", "ZSTD_MAX_WINDOW", "TooLarge", "inflate"]
