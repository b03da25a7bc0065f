"""Raw-socket test: ListOffsets by timestamp over a batch of a million tiny records.

A hostile client stores one zstd batch of 1,000,000 seven-byte records (7 MB
decompressed, a few hundred bytes on the wire: within what produce accepts),
then asks ListOffsets for a timestamp and for MAX_TIMESTAMP. The broker must
answer correctly without building an object per record (traced memory stays
under 50 MiB) and without stalling another client (its ApiVersions answers
keep coming within a second).
"""

from __future__ import annotations

import time
import tracemalloc

import pytest_twisted

from kafkatwist.errors import ErrorCode
from kafkatwist.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsPartitionResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    ListOffsetsTopic,
)
from kafkatwist.wire.compression import ZSTD
from tests.integration import harness
from tests.integration.harness import RunningBroker
from tests.integration.test_produce_validation import (
    api_versions_latency,
    create,
    exchange,
    produce,
)
from tests.support import decode_reply, request_frame
from tests.tiny_batches import T0, tiny_batch

COUNT = 1_000_000
VERSION = 7


def list_offsets(port: int, topic: str, timestamp: int) -> ListOffsetsPartitionResponse:
    """ListOffsets v7 for partition 0 of C{topic} over a raw socket; the partition's answer."""
    request = ListOffsetsRequest(
        replica_id=-1,
        isolation_level=0,
        topics=(
            ListOffsetsTopic(
                name=topic,
                partitions=(ListOffsetsPartition(partition_index=0, timestamp=timestamp),),
            ),
        ),
    )
    frame = request_frame(2, VERSION, 3, request)
    _, response = decode_reply(exchange(port, frame, timeout=120), ListOffsetsResponse, VERSION)
    part: ListOffsetsPartitionResponse = response.topics[0].partitions[0]
    return part


@pytest_twisted.ensureDeferred
async def test_million_tiny_records(broker: RunningBroker) -> None:
    """Both look-ups answer the last record, in bounded memory, without stalling another client."""
    await create(broker, "tiny")
    batch = tiny_batch(COUNT, codec=ZSTD, late=3)
    stored = await harness.in_thread(produce, broker.port, "tiny", batch)
    assert (stored.error_code, stored.base_offset) == (0, 0)
    for timestamp in (T0 + 1, -3):
        done: list[bool] = []
        other = harness.in_thread(api_versions_latency, broker.port, done)
        tracemalloc.start()
        try:
            started = time.monotonic()
            answer = await harness.in_thread(list_offsets, broker.port, "tiny", timestamp)
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            done.append(True)
        slowest = await other
        print(f"ListOffsets({timestamp}): {elapsed:.3f} s, traced peak {peak / 2**20:.1f} MiB")
        assert answer.error_code == ErrorCode.NONE
        assert (answer.offset, answer.timestamp) == (COUNT - 1, T0 + 3)
        assert peak < 50 << 20, peak
        assert elapsed < 5, elapsed
        assert slowest < 1.0, slowest
