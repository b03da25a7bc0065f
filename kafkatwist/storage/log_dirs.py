"""The blocking work of the log manager on whole log dirs: scanning, opening many logs, closing.

Each function here runs in a worker thread through C{run_blocking} and
handles a whole dir or a chunk of partitions at once, so that thousands of
partitions cost a few thread-pool jobs, not one (or three) per partition:
a thread hop costs milliseconds under the GIL.

- L{scan_log_dir}: the clean-shutdown marker, both offset checkpoints and
  the partition dirs of a log dir (Kafka's layout, see
  L{kafkatwist.storage.manager});
- L{open_partitions}: open a chunk of partition logs one after another,
  each outcome (a log or a failure) kept apart;
- L{finish_clean_shutdown}: after every log of a dir closed without
  fsyncing, one C{syncfs} of the dir's file system, then the checkpoints
  and the marker (Kafka syncs once per dir at shutdown likewise).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from attrs import frozen
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.storage.checkpoints import (
    LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
    CorruptCheckpointError,
    has_clean_shutdown,
    read_offset_checkpoint,
    write_clean_shutdown,
    write_offset_checkpoint,
)
from kafkatwist.storage.files import sync_filesystem
from kafkatwist.storage.log_move import interrupted_move
from kafkatwist.storage.partition_log import PartitionLog

#: The KRaft metadata log, read by the metadata engine, never by the log manager.
METADATA_PARTITION_DIR = "__cluster_metadata-0"
DELETE_DIR_SUFFIX = "-delete"
FUTURE_DIR_SUFFIX = "-future"
STRAY_DIR_SUFFIX = "-stray"

#: An offset per partition, as the offset checkpoints hold them.
Offsets = dict[tuple[str, int], int]

#: How many partitions one thread-pool job opens at most.
OPEN_CHUNK = 1000


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """C{(topic, partition)} for a ``<topic>-<partition>`` dir name, else C{None}."""
    if "." in name.rsplit("-", 1)[-1]:
        return None
    topic, sep, number = name.rpartition("-")
    if not sep or not topic or not number.isdigit():
        return None
    return topic, int(number)


@frozen
class DirScan:
    """
    What L{scan_log_dir} found.

    @ivar fresh: No partition dir, checkpoint or marker: a new log dir (so
        not an unclean shutdown either).
    """

    clean: bool
    recovery_points: Offsets
    log_starts: Offsets
    partitions: list[tuple[str, int, str]]
    doomed: list[str]
    notes: list[str]
    fresh: bool = False


def scan_log_dir(log_dir: str) -> DirScan:
    """Blocking: read the dir's marker and checkpoints and list its partition dirs."""
    os.makedirs(log_dir, exist_ok=True)
    notes = []
    checkpoints = []
    present = 0
    for name in (RECOVERY_POINT_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT):
        path = os.path.join(log_dir, name)
        present += os.path.exists(path)
        try:
            checkpoints.append(read_offset_checkpoint(path))
        except (CorruptCheckpointError, OSError) as e:
            notes.append(f"ignored unreadable {name}: {e}")
            checkpoints.append({})
    partitions = []
    doomed = []
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        if not os.path.isdir(path) or name == METADATA_PARTITION_DIR:
            continue
        # A -future dir is a copy whose move (AlterReplicaLogDirs) was never committed.
        if name.endswith((DELETE_DIR_SUFFIX, FUTURE_DIR_SUFFIX)):
            doomed.append(path)
            continue
        if name.endswith(STRAY_DIR_SUFFIX):
            continue
        parsed = parse_partition_dir(name)
        if parsed is not None and interrupted_move(path):
            notes.append(f"{name} was moved to another log dir before a crash: removing it")
            doomed.append(path)
        elif parsed is not None:
            partitions.append((parsed[0], parsed[1], path))
    clean = has_clean_shutdown(log_dir)
    fresh = not clean and not partitions and not doomed and not present
    return DirScan(clean, checkpoints[0], checkpoints[1], partitions, doomed, notes, fresh)


#: The outcome of opening one partition: C{(key, log)} or C{(key, failure)}.
Opened = tuple[tuple[str, int], PartitionLog | Failure]


def open_partitions(
    openers: Sequence[tuple[tuple[str, int], Callable[[], PartitionLog]]],
) -> list[Opened]:
    """Blocking: run each opener in turn; a failure is kept with its partition, not raised."""
    outcomes: list[Opened] = []
    for key, opener in openers:
        try:
            outcomes.append((key, opener()))
        except Exception:
            outcomes.append((key, Failure()))  # type: ignore[no-untyped-call]
    return outcomes


def log_recovery(logger: Logger, log: PartitionLog) -> None:
    """Log what opening C{log} found: truncations, deleted segments, rebuilt indexes, notes."""
    report = log.recovery
    name = f"{log.topic}-{log.partition}"
    for cut in report.truncations:
        logger.warn(
            "Recovery of {name} truncated {file} at byte {position} (offset {offset}): "
            "{reason}; {removed} bytes removed",
            name=name,
            file=cut.file,
            position=cut.position,
            offset=cut.offset,
            reason=cut.reason,
            removed=cut.bytes_removed,
        )
    for path in report.deleted_segments:
        logger.warn(
            "Recovery of {name} deleted {file}, which followed a truncation",
            name=name,
            file=path,
        )
    for path in report.rebuilt_indexes:
        logger.info("Rebuilt the indexes of {file}", file=path)
    for note in report.notes:
        logger.warn("{name}: {note}", name=name, note=note)


def write_checkpoints(log_dir: str, recovery_points: Offsets, log_starts: Offsets) -> None:
    """Blocking: write both offset checkpoints of C{log_dir}."""
    write_offset_checkpoint(os.path.join(log_dir, RECOVERY_POINT_CHECKPOINT), recovery_points)
    write_offset_checkpoint(os.path.join(log_dir, LOG_START_OFFSET_CHECKPOINT), log_starts)


def sync_log_dir(log_dir: str) -> None:
    """Blocking: make every file written under C{log_dir} durable (one C{syncfs})."""
    sync_filesystem(log_dir)


def finish_clean_shutdown(
    log_dir: str, recovery_points: Offsets, log_starts: Offsets, clean: bool, broker_epoch: int
) -> None:
    """Blocking: write the checkpoints and, if C{clean}, the clean-shutdown marker."""
    write_checkpoints(log_dir, recovery_points, log_starts)
    if clean:
        write_clean_shutdown(log_dir, broker_epoch)
