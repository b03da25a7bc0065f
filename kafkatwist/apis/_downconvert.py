"""Fetch v0-v3: what old consumers get instead of v2 batches (Kafka 3.9's down-conversion).

Kafka 3.9's C{KafkaApis.handleFetchRequest} (C{maybeConvertFetchedData})
decides per partition, for a Fetch below v4 from a client:

- a topic whose ``compression.type`` is ``zstd`` answers
  UNSUPPORTED_COMPRESSION_TYPE (zstd needs Fetch v10);
- a topic with ``message.downconversion.enable=false`` answers
  UNSUPPORTED_VERSION;
- otherwise the batches read are converted to magic 0 (v0-v1) or magic 1
  (v2-v3) by L{kafkatwist.wire.downconvert}, a zstd batch among them
  answering UNSUPPORTED_COMPRESSION_TYPE.

Conversion runs Python per record: more than L{INLINE_DOWNCONVERT_BYTES}
of batches, or any compressed batch (which may inflate to many times its
size), are converted in a worker thread
(L{kafkatwist.topics.partitions.Partitions.run_in_worker}), so that the
reactor thread never converts more than that at a time.
"""

from __future__ import annotations

from typing import Final

from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.topics.partitions import Partitions
from kafkatwist.wire.batch import iter_batches
from kafkatwist.wire.downconvert import down_convert, fit

#: Bytes of batches converted on the reactor thread at most.
INLINE_DOWNCONVERT_BYTES: Final = 64 * 1024


def refusal(log: IPartitionLog) -> ErrorCode | None:
    """The error a Fetch below v4 gets for C{log}'s partition whatever it holds, if any."""
    config = log.config
    if config.compression_type == "zstd":
        return ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    if not config.message_downconversion_enable:
        return ErrorCode.UNSUPPORTED_VERSION
    return None


async def converted(
    partitions: Partitions,
    chunks: list[bytes],
    size: int,
    limit: int,
    magic: int,
    fetch_offset: int,
) -> bytes | ErrorCode:
    """
    The batches read (C{chunks}, C{size} bytes) as magic C{magic} messages, or the error to answer.

    @param limit: The bytes the partition may take in the response (its
        max bytes, or what is left of the response's): the first batch's
        messages are sent whole, the rest cut there (L{fit}).
    @param fetch_offset: Records before it are left out.
    """
    if not chunks:
        return b""

    def convert() -> bytes:
        return fit(down_convert(chunks, magic, fetch_offset), limit)

    try:
        if size <= INLINE_DOWNCONVERT_BYTES and not _any_compressed(chunks):
            return convert()
        return await partitions.run_in_worker(convert)
    except RecordsError as e:
        return e.code


def _any_compressed(chunks: list[bytes]) -> bool:
    """Whether a batch of C{chunks} is compressed (read from the batch headers only)."""
    return any(header.compression for chunk in chunks for _, header in iter_batches(chunk))


__all__ = ["INLINE_DOWNCONVERT_BYTES", "converted", "refusal"]
