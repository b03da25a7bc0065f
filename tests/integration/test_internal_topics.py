"""Internal topics stay decodable: garbage in __consumer_offsets costs no group its offsets.

Raw sockets on loopback, as an unfriendly client would do it: OffsetCommit,
then a Produce as client id ``__admin_client`` (Kafka lets it write internal
topics) of a valid batch whose records are garbage for the offsets schemas,
then another OffsetCommit; after a restart every committed offset is served.
The same for ``__cluster_metadata``: a batch with undecodable records written
into the metadata log costs only those records; Metadata (a raw request)
still lists the topics of the same batch and of the batches around it.
"""

from __future__ import annotations

import os
import socket
import struct
import time
import uuid
from pathlib import Path

import pytest
import pytest_twisted

from kafkatwist.messages import metadata_records as mr
from kafkatwist.messages.metadata import MetadataRequest, MetadataResponse
from kafkatwist.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
    OffsetCommitResponse,
)
from kafkatwist.messages.offset_fetch import (
    OffsetFetchRequest,
    OffsetFetchRequestTopic,
    OffsetFetchResponse,
)
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.storage.kraft import METADATA_DIR, encode_metadata_record
from kafkatwist.wire.record import build_batch
from tests.groups.test_loader_decodable import SCHEMA_GARBAGE
from tests.integration.harness import in_thread, start_broker, stop_broker
from tests.support import decode_reply, request_frame

OFFSET_COMMIT, OFFSET_FETCH, PRODUCE, METADATA = 8, 9, 0, 3
LOAD_IN_PROGRESS = 14


def _exchange(port: int, frame: bytes) -> bytes:
    """Send one framed request on a new connection; return the response without its size."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(frame)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack_from(">i", data)[0]:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the response"
            data += chunk
    return data[4:]


def _commit(port: int, group: str, offset: int) -> int:
    request = OffsetCommitRequest(
        group_id=group,
        generation_id_or_member_epoch=-1,
        member_id="",
        topics=(
            OffsetCommitRequestTopic(
                name="t",
                partitions=(
                    OffsetCommitRequestPartition(
                        partition_index=0, committed_offset=offset, committed_metadata=""
                    ),
                ),
            ),
        ),
    )
    reply = _exchange(port, request_frame(OFFSET_COMMIT, 8, 1, request))
    _, response = decode_reply(reply, OffsetCommitResponse, 8)
    return response.topics[0].partitions[0].error_code


def _produce_garbage(port: int) -> int:
    request = ProduceRequest(
        acks=-1,
        timeout_ms=5000,
        topic_data=(
            TopicProduceData(
                name="__consumer_offsets",
                partition_data=(PartitionProduceData(index=0, records=SCHEMA_GARBAGE),),
            ),
        ),
    )
    frame = request_frame(PRODUCE, 9, 2, request, client_id="__admin_client")
    _, response = decode_reply(_exchange(port, frame), ProduceResponse, 9)
    return response.responses[0].partition_responses[0].error_code


def _fetch(port: int, group: str) -> tuple[int, int]:
    """(error code, committed offset of t-0), waiting out COORDINATOR_LOAD_IN_PROGRESS."""
    request = OffsetFetchRequest(
        group_id=group, topics=(OffsetFetchRequestTopic(name="t", partition_indexes=(0,)),)
    )
    for _ in range(100):
        _, response = decode_reply(
            _exchange(port, request_frame(OFFSET_FETCH, 7, 3, request)), OffsetFetchResponse, 7
        )
        if response.error_code != LOAD_IN_PROGRESS:
            part = response.topics[0].partitions[0]
            return response.error_code or part.error_code, part.committed_offset
        time.sleep(0.05)
    raise AssertionError("the coordinator never finished loading")


@pytest_twisted.ensureDeferred
async def test_garbage_in_consumer_offsets_keeps_other_groups(tmp_path: Path) -> None:
    """After garbage produced as __admin_client, a restarted broker still serves every offset."""
    log_dir = str(tmp_path / "logs")
    props = {"offsets.topic.num.partitions": "1"}
    running = await start_broker(log_dir, props)
    try:
        await running.broker.controller.create_topic("t", 1)
        port = running.port
        assert await in_thread(_commit, port, "before", 7) == 0
        assert await in_thread(_produce_garbage, port) == 0
        assert await in_thread(_commit, port, "after", 9) == 0
    finally:
        await stop_broker(running)
    running = await start_broker(log_dir, props)
    try:
        assert await in_thread(_fetch, running.port, "before") == (0, 7)
        assert await in_thread(_fetch, running.port, "after") == (0, 9)
    finally:
        await stop_broker(running)


def _topic_names(port: int) -> list[str]:
    """The topics a raw Metadata v12 request for all topics lists."""
    request = MetadataRequest(topics=None, allow_auto_topic_creation=False)
    _, response = decode_reply(
        _exchange(port, request_frame(METADATA, 12, 4, request)), MetadataResponse, 12
    )
    return sorted(t.name for t in response.topics if t.name is not None)


@pytest.mark.file_engine("the __cluster_metadata log's segment files, written to by the test")
@pytest_twisted.ensureDeferred
async def test_garbage_in_cluster_metadata_keeps_other_records(tmp_path: Path) -> None:
    """Undecodable records in __cluster_metadata are skipped; every other topic is served."""
    log_dir = str(tmp_path / "logs")
    running = await start_broker(log_dir)
    try:
        await running.broker.controller.create_topic("before", 1)
        next_offset = running.broker.metadata.next_offset
    finally:
        await stop_broker(running)
    tid = uuid.uuid4()
    good = [
        mr.TopicRecord(name="same-batch", topic_id=tid),
        mr.PartitionRecord(partition_id=0, topic_id=tid, replicas=(1,), isr=(1,), leader=1),
    ]
    values = [b"\x01\x02\xff\xff", b"\x09", *(encode_metadata_record(r) for r in good)]
    batch = build_batch(
        [(None, v) for v in values],
        base_offset=next_offset,
        base_timestamp=int(time.time() * 1000),
        partition_leader_epoch=1,
    )
    segment = sorted(os.listdir(os.path.join(log_dir, METADATA_DIR)))
    segment = [n for n in segment if n.endswith(".log")]
    with open(os.path.join(log_dir, METADATA_DIR, segment[-1]), "ab") as f:
        f.write(batch)
    running = await start_broker(log_dir)
    try:
        await running.broker.controller.create_topic("after", 1)
        names = await in_thread(_topic_names, running.port)
        assert names == ["after", "before", "same-batch"]
    finally:
        await stop_broker(running)
