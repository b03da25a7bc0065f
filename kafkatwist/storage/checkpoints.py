"""Kafka's small state files: offset checkpoints, leader epochs, producer snapshots, clean marker.

All formats are Kafka's own, so a log dir can move between Kafka and
kafkatwist:

- offset checkpoint files in the log dir root (``recovery-point-offset-checkpoint``,
  ``log-start-offset-checkpoint``, ``replication-offset-checkpoint``,
  ``cleaner-offset-checkpoint``), Kafka's
  ``OffsetCheckpointFile``: text lines ``0`` (version), the entry count, then
  one ``<topic> <partition> <offset>`` line per partition;
- ``leader-epoch-checkpoint`` in each partition dir, Kafka's
  ``LeaderEpochCheckpointFile``: ``0``, the count, then ``<epoch> <start offset>``
  lines;
- producer state snapshots ``<offset, 20 digits>.snapshot``, Kafka's
  ``ProducerStateManager.writeSnapshot``: ``version: int16`` (1), ``crc:
  uint32`` (CRC-32C of every byte after it), then an array (``int32`` count)
  of 46-byte entries: producer id int64, epoch int16, last sequence int32,
  last offset int64, offset delta int32, timestamp int64, coordinator epoch
  int32, current transaction first offset int64 (-1 if none);
- ``.kafka_cleanshutdown`` in the log dir root, Kafka's
  ``CleanShutdownFileHandler``: JSON ``{"version":0,"brokerEpoch":N}``.

Text files are written the way Kafka's ``CheckpointFile`` does: to
``<name>.tmp``, fsynced, renamed over the old file, and the directory
fsynced. These writers block (fsync): call them through ``run_blocking``,
never on the reactor thread. Readers raise L{CorruptCheckpointError} (or
L{CorruptSnapshotError}) for anything malformed.

Public surface: L{read_offset_checkpoint}, L{write_offset_checkpoint},
L{read_cleaner_offset_checkpoint}, L{write_cleaner_offset_checkpoint},
L{EpochEntry}, L{read_leader_epoch_checkpoint},
L{write_leader_epoch_checkpoint}, L{ProducerSnapshotEntry},
L{encode_producer_snapshot}, L{decode_producer_snapshot},
L{read_producer_snapshot}, L{write_producer_snapshot},
L{write_clean_shutdown}, L{read_clean_shutdown}, L{remove_clean_shutdown},
L{has_clean_shutdown}, the file-name helpers and constants below.
This module imports nothing from Twisted.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from attrs import frozen

from kafkatwist.wire.crc32c import crc32c

RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
#: The log cleaner's first dirty offset per compacted partition (Kafka's LogCleanerManager).
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
SNAPSHOT_SUFFIX = ".snapshot"
DELETED_SUFFIX = ".deleted"

_CHECKPOINT_VERSION = 0
_SNAPSHOT_VERSION = 1
_SNAPSHOT_HEAD = struct.Struct(">hIi")
_SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")
_OFFSET_FILE = re.compile(r"^(\d{20})\.(log|index|timeindex|snapshot|txnindex)$")


class CorruptCheckpointError(ValueError):
    """A checkpoint file does not follow Kafka's format."""


class CorruptSnapshotError(ValueError):
    """A producer snapshot has the wrong version, a bad CRC or a short body."""


def file_name(offset: int, suffix: str) -> str:
    """Kafka's file name for C{offset}: 20 zero-padded digits and C{suffix} (``.log``, ...)."""
    return f"{offset:020d}{suffix}"


def offset_from_file_name(name: str) -> int | None:
    """The offset in a segment, index or snapshot file name, or C{None} for other names."""
    match = _OFFSET_FILE.match(name)
    return int(match.group(1)) if match else None


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, data: bytes, *, sync: bool = True) -> None:
    """
    Write C{data} to C{path}.tmp, fsync it, rename it over C{path} and fsync the directory.

    With C{sync=False} nothing is fsynced: for a caller that syncs the
    whole file system afterwards (a clean shutdown) before relying on it.
    """
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync:
        _fsync_dir(os.path.dirname(path) or ".")


def read_small_file(path: str) -> bytes:
    """The bytes of the file at C{path}: one C{open}, C{read}s to the end, C{close}."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = [os.read(fd, 65536)]
        while len(chunks[-1]) == 65536:
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return b"".join(chunks)


def _parse_lines(text: str, path: str, fields: int) -> list[list[str]]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        raise CorruptCheckpointError(f"{path}: missing version or count line")
    try:
        version = int(lines[0])
        count = int(lines[1])
    except ValueError:
        raise CorruptCheckpointError(f"{path}: bad version or count line") from None
    if version != _CHECKPOINT_VERSION:
        raise CorruptCheckpointError(f"{path}: unknown version {version}")
    body = lines[2:]
    if count != len(body):
        raise CorruptCheckpointError(f"{path}: expected {count} entries but found {len(body)}")
    rows = []
    for line in body:
        parts = line.split()
        if len(parts) != fields:
            raise CorruptCheckpointError(f"{path}: malformed line {line!r}")
        rows.append(parts)
    return rows


def read_offset_checkpoint(path: str) -> dict[tuple[str, int], int]:
    """
    Read an offset checkpoint file; a missing file reads as empty.

    @return: C{{(topic, partition): offset}}.
    @raise CorruptCheckpointError: The file is malformed.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    result = {}
    for topic, partition, offset in _parse_lines(text, path, 3):
        try:
            result[(topic, int(partition))] = int(offset)
        except ValueError:
            raise CorruptCheckpointError(f"{path}: bad numbers for {topic}") from None
    return result


def encode_offset_checkpoint(entries: Mapping[tuple[str, int], int]) -> bytes:
    """The bytes of an offset checkpoint file, sorted by topic and partition."""
    lines = [str(_CHECKPOINT_VERSION), str(len(entries))]
    lines.extend(f"{t} {p} {o}" for (t, p), o in sorted(entries.items()))
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_offset_checkpoint(path: str, entries: Mapping[tuple[str, int], int]) -> None:
    """Atomically write an offset checkpoint file (blocking: fsyncs)."""
    write_atomically(path, encode_offset_checkpoint(entries))


def read_cleaner_offset_checkpoint(log_dir: str) -> dict[tuple[str, int], int]:
    """
    The ``cleaner-offset-checkpoint`` of C{log_dir}: each compacted partition's first dirty offset.

    A missing file reads as empty.

    @raise CorruptCheckpointError: The file is malformed.
    """
    return read_offset_checkpoint(os.path.join(log_dir, CLEANER_OFFSET_CHECKPOINT))


def write_cleaner_offset_checkpoint(log_dir: str, entries: Mapping[tuple[str, int], int]) -> None:
    """Atomically write C{log_dir}'s ``cleaner-offset-checkpoint`` (blocking: fsyncs)."""
    write_offset_checkpoint(os.path.join(log_dir, CLEANER_OFFSET_CHECKPOINT), entries)


@frozen
class EpochEntry:
    """One leader epoch and the first offset written in it (Kafka's C{EpochEntry})."""

    epoch: int
    start_offset: int


def read_leader_epoch_checkpoint(path: str) -> list[EpochEntry]:
    """
    Read a ``leader-epoch-checkpoint``; a missing file reads as empty.

    @raise CorruptCheckpointError: The file is malformed.
    """
    try:
        text = read_small_file(path).decode("utf-8")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise CorruptCheckpointError(f"{path}: not UTF-8") from None
    try:
        return [EpochEntry(int(e), int(o)) for e, o in _parse_lines(text, path, 2)]
    except ValueError as e:
        if isinstance(e, CorruptCheckpointError):
            raise
        raise CorruptCheckpointError(f"{path}: bad numbers") from None


def encode_leader_epoch_checkpoint(entries: Iterable[EpochEntry]) -> bytes:
    """The bytes of a ``leader-epoch-checkpoint`` file."""
    items = list(entries)
    lines = [str(_CHECKPOINT_VERSION), str(len(items))]
    lines.extend(f"{e.epoch} {e.start_offset}" for e in items)
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_leader_epoch_checkpoint(
    path: str, entries: Iterable[EpochEntry], *, sync: bool = True
) -> None:
    """Atomically write a ``leader-epoch-checkpoint`` (blocking: fsyncs unless C{sync=False})."""
    write_atomically(path, encode_leader_epoch_checkpoint(entries), sync=sync)


@frozen
class ProducerSnapshotEntry:
    """One producer's entry in a ``.snapshot`` file (Kafka's snapshot entry schema)."""

    producer_id: int
    producer_epoch: int
    last_sequence: int
    last_offset: int
    offset_delta: int
    timestamp: int
    coordinator_epoch: int = -1
    current_txn_first_offset: int = -1


def encode_producer_snapshot(entries: Sequence[ProducerSnapshotEntry]) -> bytes:
    """The bytes of a version-1 producer snapshot holding C{entries}."""
    body = bytearray(_SNAPSHOT_HEAD.size + _SNAPSHOT_ENTRY.size * len(entries))
    pos = _SNAPSHOT_HEAD.size
    for e in entries:
        _SNAPSHOT_ENTRY.pack_into(
            body,
            pos,
            e.producer_id,
            e.producer_epoch,
            e.last_sequence,
            e.last_offset,
            e.offset_delta,
            e.timestamp,
            e.coordinator_epoch,
            e.current_txn_first_offset,
        )
        pos += _SNAPSHOT_ENTRY.size
    struct.pack_into(">i", body, 6, len(entries))
    crc = crc32c(memoryview(body)[6:])
    struct.pack_into(">hI", body, 0, _SNAPSHOT_VERSION, crc)
    return bytes(body)


def decode_producer_snapshot(data: bytes) -> list[ProducerSnapshotEntry]:
    """
    Decode a producer snapshot.

    @raise CorruptSnapshotError: Wrong version, CRC mismatch, or a length
        that does not match the entry count.
    """
    if len(data) < _SNAPSHOT_HEAD.size:
        raise CorruptSnapshotError(f"snapshot of {len(data)} bytes is too short")
    version, crc, count = _SNAPSHOT_HEAD.unpack_from(data, 0)
    if version != _SNAPSHOT_VERSION:
        raise CorruptSnapshotError(f"unknown snapshot version {version}")
    computed = crc32c(memoryview(data)[6:])
    if computed != crc:
        raise CorruptSnapshotError(
            f"snapshot CRC {crc:#010x} does not match computed {computed:#010x}"
        )
    if count < 0 or len(data) != _SNAPSHOT_HEAD.size + count * _SNAPSHOT_ENTRY.size:
        raise CorruptSnapshotError(f"snapshot length {len(data)} does not hold {count} entries")
    return [
        ProducerSnapshotEntry(
            *_SNAPSHOT_ENTRY.unpack_from(data, _SNAPSHOT_HEAD.size + i * _SNAPSHOT_ENTRY.size)
        )
        for i in range(count)
    ]


#: A clean shutdown writes no producer snapshot for a log whose active segment is at
#: most this size (unless its table C{needs_snapshot}): the next start replays that
#: segment's batch headers from its base snapshot (or the log start) instead, one
#: small read, where a new file per partition would cost a file creation, which
#: dominates stopping many small logs.
REPLAY_AT_LOAD_BYTES: Final = 4096


def read_producer_snapshot(path: str) -> list[ProducerSnapshotEntry]:
    """Read and decode the snapshot at C{path} (see L{decode_producer_snapshot})."""
    return decode_producer_snapshot(read_small_file(path))


def write_producer_snapshot(
    path: str, entries: Sequence[ProducerSnapshotEntry], *, sync: bool = True
) -> None:
    """
    Atomically write a producer snapshot (blocking: fsyncs unless C{sync=False}).

    Unsynced (a clean shutdown), an existing snapshot at that offset is kept,
    as Kafka's C{takeSnapshot} skips one that is not at a new offset.
    """
    if not sync and os.path.exists(path):
        return
    write_atomically(path, encode_producer_snapshot(entries), sync=sync)


def write_clean_shutdown(log_dir: str, broker_epoch: int = -1) -> None:
    """Write ``.kafka_cleanshutdown`` in C{log_dir} (blocking: fsyncs)."""
    payload = json.dumps({"version": 0, "brokerEpoch": broker_epoch}, separators=(",", ":"))
    write_atomically(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE), payload.encode("utf-8"))


def has_clean_shutdown(log_dir: str) -> bool:
    """Whether C{log_dir} holds a clean-shutdown marker."""
    return os.path.exists(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE))


def read_clean_shutdown(log_dir: str) -> int | None:
    """The broker epoch in the marker, or C{None} if absent or unreadable (Kafka's C{read})."""
    try:
        with open(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE), encoding="utf-8") as f:
            content = json.loads(f.read())
        return int(content["brokerEpoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_clean_shutdown(log_dir: str) -> None:
    """Delete the marker if present."""
    try:
        os.unlink(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE))
    except FileNotFoundError:
        pass
