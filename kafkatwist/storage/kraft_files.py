"""The files of the KRaft metadata log: segments that roll, ``.checkpoint`` snapshots, retention.

Kafka's ``KafkaMetadataLog`` keeps ``__cluster_metadata-0`` as segments named
by their base offset (20 digits, ``.log``) and rolls to a new one by
``metadata.log.segment.bytes`` / ``metadata.log.segment.ms``. The state as of
an offset is written as a snapshot, ``<end offset, 20 digits>-<epoch, 10
digits>.checkpoint``: record batches in the log's own format, starting with a
control batch holding a SnapshotHeaderRecord and ending with one holding a
SnapshotFooterRecord (control record key: int16 version 0, int16 type 3 or
4; value: int16 version, then the record). The end offset is the offset of
the first record the snapshot does not contain, so a load replays the newest
valid snapshot and the log from its end offset on.

A snapshot is written to ``<name>.checkpoint.part`` (Kafka's partial suffix),
fsynced, renamed into place and the directory fsynced, so a crash leaves
either no snapshot or a whole one; a ``.part`` left by a crash is deleted.

Retention (Kafka's ``KafkaMetadataLog.cleanSnapshots`` and
``deleteBeforeSnapshot``): while there is more than one snapshot and the
log plus snapshots exceed ``metadata.max.retention.bytes`` or the oldest
snapshot's last contained record is older than ``metadata.max.retention.ms``,
the oldest snapshot is deleted; then segments that end at or below the
oldest kept snapshot are deleted under the same two limits. The active
segment is never deleted.

Everything here is blocking file work, for the store's C{run_blocking}.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence

from attrs import frozen

from kafkatwist.messages.snapshot_footer_record import SnapshotFooterRecord
from kafkatwist.messages.snapshot_header_record import SnapshotHeaderRecord
from kafkatwist.wire import schema
from kafkatwist.wire.batch import BATCH_HEADER_SIZE, BatchHeader, parse_batch_header, scan_batches
from kafkatwist.wire.primitives import Writer
from kafkatwist.wire.record import build_batch, decode_batch_records

LOG_SUFFIX = ".log"
SNAPSHOT_SUFFIX = ".checkpoint"
PARTIAL_SUFFIX = ".checkpoint.part"
#: Kafka's ControlRecordType ids.
SNAPSHOT_HEADER = 3
SNAPSHOT_FOOTER = 4
#: Metadata records per snapshot batch.
RECORDS_PER_BATCH = 512

_CONTROL_KEY = struct.Struct(">hh")
_SNAPSHOT_NAME = re.compile(r"^(\d{20})-(\d{10})\.checkpoint$")
_SEGMENT_NAME = re.compile(r"^(\d{20})\.log$")


@frozen
class MetadataLogConfig:
    """The ``metadata.log.*`` / ``metadata.max.*`` settings (Kafka's defaults)."""

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    retention_bytes: int = 104857600
    retention_ms: int = 604800000
    max_bytes_between_snapshots: int = 20971520
    max_snapshot_interval_ms: int = 3600000


@frozen
class SnapshotId:
    """A snapshot's end offset (exclusive) and the epoch of its last record."""

    end_offset: int
    epoch: int

    @property
    def file_name(self) -> str:
        return f"{self.end_offset:020d}-{self.epoch:010d}{SNAPSHOT_SUFFIX}"


def parse_snapshot_name(name: str) -> SnapshotId | None:
    match = _SNAPSHOT_NAME.match(name)
    return SnapshotId(int(match.group(1)), int(match.group(2))) if match else None


def segment_names(directory: str) -> list[str]:
    """The segment files of C{directory}, by base offset."""
    return sorted(n for n in os.listdir(directory) if _SEGMENT_NAME.match(n))


def snapshot_ids(directory: str) -> list[SnapshotId]:
    """The snapshots of C{directory}, oldest first."""
    ids = [parse_snapshot_name(n) for n in os.listdir(directory)]
    return sorted((i for i in ids if i is not None), key=lambda i: (i.end_offset, i.epoch))


def _control_record(kind: int, record: object) -> tuple[bytes, bytes]:
    w = Writer()
    w.int16(0)
    schema.encode(record, 0, w)
    return _CONTROL_KEY.pack(0, kind), w.getvalue()


def encode_snapshot(values: Sequence[bytes], *, epoch: int, timestamp_ms: int) -> bytes:
    """The bytes of a snapshot file holding the metadata record C{values}."""
    header = _control_record(SNAPSHOT_HEADER, SnapshotHeaderRecord(0, timestamp_ms))
    footer = _control_record(SNAPSHOT_FOOTER, SnapshotFooterRecord(0))

    def batch(records: Sequence[tuple[bytes | None, bytes]], offset: int, control: bool) -> bytes:
        return build_batch(
            records,
            base_offset=offset,
            base_timestamp=timestamp_ms,
            partition_leader_epoch=epoch,
            is_control=control,
        )

    parts = [batch([header], 0, True)]
    offset = 1
    for start in range(0, len(values), RECORDS_PER_BATCH):
        chunk = values[start : start + RECORDS_PER_BATCH]
        parts.append(batch([(None, v) for v in chunk], offset, False))
        offset += len(chunk)
    parts.append(batch([footer], offset, True))
    return b"".join(parts)


def snapshot_timestamp(data: bytes) -> int | None:
    """
    The last contained log timestamp of a whole, valid snapshot, else None.

    Valid: every batch passes its CRC, the first is a control batch with a
    SnapshotHeaderRecord and the last a control batch with a SnapshotFooterRecord.
    """
    batches, end = scan_batches(data, check_crc=True)
    if not batches or end != len(data):
        return None
    first, last = batches[0], batches[-1]
    if not (first[1].is_control and last[1].is_control):
        return None
    try:
        [head] = decode_batch_records(memoryview(data)[first[0] : first[0] + first[1].size])
        [foot] = decode_batch_records(memoryview(data)[last[0] : last[0] + last[1].size])
        if head.key is None or foot.key is None or head.value is None:
            return None
        if _CONTROL_KEY.unpack(head.key)[1] != SNAPSHOT_HEADER:
            return None
        if _CONTROL_KEY.unpack(foot.key)[1] != SNAPSHOT_FOOTER:
            return None
        (timestamp,) = struct.unpack_from(">q", head.value, 4)
    except (ValueError, struct.error):
        return None
    return int(timestamp)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_snapshot(directory: str, snapshot: SnapshotId, data: bytes) -> str:
    """Write a snapshot atomically (``.part``, fsync, rename, fsync the dir); return its path."""
    path = os.path.join(directory, snapshot.file_name)
    partial = path + ".part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    _fsync_dir(directory)
    return path


def remove_partial_snapshots(directory: str) -> list[str]:
    """Delete the ``.checkpoint.part`` files a crash left; return their names."""
    names = [n for n in os.listdir(directory) if n.endswith(PARTIAL_SUFFIX)]
    for name in names:
        os.unlink(os.path.join(directory, name))
    return names


def append_to_segment(
    directory: str, batch: bytes, base_offset: int, now_ms: int, config: MetadataLogConfig
) -> str:
    """
    Append C{batch} (fsynced) to the active segment, first rolling to a new
    segment named C{base_offset} when the active one is full or old.

    @return: The name of the segment written.
    """
    os.makedirs(directory, exist_ok=True)
    segments = segment_names(directory)
    name = segments[-1] if segments else f"{base_offset:020d}{LOG_SUFFIX}"
    if segments and _should_roll(os.path.join(directory, name), len(batch), now_ms, config):
        name = f"{base_offset:020d}{LOG_SUFFIX}"
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, batch)
        os.fsync(fd)
    finally:
        os.close(fd)
    return name


def _should_roll(path: str, incoming: int, now_ms: int, config: MetadataLogConfig) -> bool:
    """Kafka's roll rule: the batch would not fit, or the first batch is C{segment.ms} old."""
    size = os.path.getsize(path)
    if size == 0:
        return False
    if size > config.segment_bytes - incoming:
        return True
    with open(path, "rb") as f:
        head = f.read(BATCH_HEADER_SIZE)
    if len(head) < BATCH_HEADER_SIZE:
        return False
    return now_ms - parse_batch_header(head).max_timestamp >= config.segment_ms


def _segment_headers(path: str) -> list[BatchHeader]:
    with open(path, "rb") as f:
        data = f.read()
    return [h for _, h in scan_batches(data, check_crc=False)[0]]


def apply_retention(directory: str, now_ms: int, config: MetadataLogConfig) -> list[str]:
    """Delete snapshots and covered segments beyond the retention limits; return their names."""
    deleted: list[str] = []
    snapshots = snapshot_ids(directory)
    segments = segment_names(directory)
    sizes = {n: os.path.getsize(os.path.join(directory, n)) for n in segments}
    sizes.update(
        {s.file_name: os.path.getsize(os.path.join(directory, s.file_name)) for s in snapshots}
    )
    total = sum(sizes.values())

    def expired(timestamp: int | None) -> bool:
        """Past either limit (a negative limit is no limit)."""
        too_big = 0 <= config.retention_bytes < total
        too_old = (
            config.retention_ms >= 0
            and timestamp is not None
            and now_ms - timestamp > config.retention_ms
        )
        return too_big or too_old

    while len(snapshots) > 1:
        oldest = snapshots[0]
        with open(os.path.join(directory, oldest.file_name), "rb") as f:
            timestamp = snapshot_timestamp(f.read())
        if not expired(timestamp):
            break
        os.unlink(os.path.join(directory, oldest.file_name))
        total -= sizes[oldest.file_name]
        deleted.append(oldest.file_name)
        snapshots.pop(0)
    if not snapshots:
        return deleted
    covered_end = snapshots[0].end_offset
    for name, successor in zip(segments, segments[1:], strict=False):
        if int(successor[:20]) > covered_end:
            break
        headers = _segment_headers(os.path.join(directory, name))
        largest = max((h.max_timestamp for h in headers), default=None)
        if not expired(largest):
            break
        os.unlink(os.path.join(directory, name))
        total -= sizes[name]
        deleted.append(name)
    return deleted
