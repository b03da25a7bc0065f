"""Opening a partition log and recovering it after a crash (Kafka's ``LogLoader``).

L{open_partition_log} finishes or rolls back an interrupted cleaner swap
(L{kafkatwist.storage.swap.recover_interrupted_swaps}), lists the partition
dir, removes leftovers, opens the
segments, validates the unflushed ones after an unclean shutdown (cutting a
torn or corrupt tail), rebuilds missing or corrupt indexes, and restores
the leader epochs and the producer state. It returns a ready
L{PartitionLog} with a L{RecoveryReport} of what it found.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence

from kafkatwist.clock import ReactorTime, RunBlocking, now_ms
from kafkatwist.config.log_config import LogConfig
from kafkatwist.producers.state import ProducerStateTable
from kafkatwist.storage.checkpoints import (
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LEADER_EPOCH_CHECKPOINT,
    LOG_SUFFIX,
    SNAPSHOT_SUFFIX,
    TIME_INDEX_SUFFIX,
    CorruptCheckpointError,
    CorruptSnapshotError,
    file_name,
    offset_from_file_name,
    read_leader_epoch_checkpoint,
    read_producer_snapshot,
)
from kafkatwist.storage.epochs import LeaderEpochCache
from kafkatwist.storage.files import Fsync, Writev, unlink_all
from kafkatwist.storage.local_log import LocalLog
from kafkatwist.storage.partition_log import PartitionLog
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.storage.results import RecoveryReport, Truncation
from kafkatwist.storage.segment import Segment
from kafkatwist.storage.swap import recover_interrupted_swaps
from kafkatwist.storage.txn_index import (
    TXN_INDEX_SUFFIX,
    AbortedTxn,
    TxnIndexes,
    load_txn_indexes,
)
from kafkatwist.wire.batch import BatchHeader, read_end_txn_marker


def open_partition_log(
    directory: str,
    topic: str,
    partition: int,
    config: LogConfig,
    *,
    clock: ReactorTime,
    run_blocking: RunBlocking,
    recover: bool,
    recovery_point: int = 0,
    log_start_offset: int = 0,
    producer_state: ProducerStateTable | None = None,
    writev: Writev = os.writev,
    fsync: Fsync = os.fsync,
    reads: ReadPool | None = None,
) -> PartitionLog:
    """
    Open (creating if needed) the partition dir C{directory}.

    C{directory} is ``<log.dir>/<topic>-<partition>``.

    Blocking: reads files and may truncate them, but never fsyncs or writes
    checkpoints, and neither fires nor schedules anything, so it may run in
    a worker thread. L{kafkatwist.storage.manager.LogManager.load} runs it
    through C{run_blocking} (a worker thread in production);
    L{kafkatwist.storage.manager.LogManager.create} calls it directly on the
    reactor thread, where it only makes a directory and empty files. See
    L{RecoveryReport} for what it reports.

    @param reads: The read pool shared by the logs (default: one of its own
        over C{run_blocking}).
    @param recover: C{False} after a clean shutdown: trust the files and
        rebuild only missing or corrupt indexes. C{True}: validate every
        batch from the segment holding C{recovery_point} to the end, cut a
        torn or corrupt tail (and delete any later segments), rebuild those
        segments' indexes, and restore leader epochs and producer state.
    @param recovery_point: The offset below which data is known flushed
        (from ``recovery-point-offset-checkpoint``).
    @param log_start_offset: From ``log-start-offset-checkpoint``.
    @param producer_state: The table to restore into (a new one if
        C{None}): from the latest ``.snapshot`` at or below the log end
        offset plus a replay of the batch headers after it.
    @param writev: Injected for tests (disk errors); C{os.writev} otherwise.
    @param fsync: Injected for tests; C{os.fsync} otherwise.
    """
    state = ProducerStateTable() if producer_state is None else producer_state
    now = now_ms(clock)
    try:
        names = set(os.listdir(directory))
    except FileNotFoundError:
        os.makedirs(directory)
        names = set()
    notes = recover_interrupted_swaps(directory, names)
    bases = _clean_directory(directory, names)
    segments: list[Segment] = []
    recovered: list[str] = []
    rebuilt: list[str] = []
    truncations: list[Truncation] = []
    deleted: list[str] = []
    #: The base of the first segment recovered: its transaction indexes are rebuilt.
    rebuild_from: int | None = None
    try:
        epochs = LeaderEpochCache()
        epoch_path = os.path.join(directory, LEADER_EPOCH_CHECKPOINT)
        try:
            epochs = LeaderEpochCache(read_leader_epoch_checkpoint(epoch_path))
        except (CorruptCheckpointError, OSError) as e:
            notes.append(f"ignored unreadable {LEADER_EPOCH_CHECKPOINT}: {e}")
        epochs_before = epochs.entries

        #: Whether a segment recovery saw a control batch (a transaction marker).
        markers_seen: list[bool] = []

        def assign_epoch(header: BatchHeader) -> None:
            if header.is_control and not markers_seen:
                markers_seen.append(True)
            epoch = header.partition_leader_epoch
            latest = epochs.latest_epoch
            if epoch >= 0 and (latest is None or epoch > latest):
                epochs.assign(epoch, header.base_offset)

        log_end = max(log_start_offset, 0)
        if not bases:
            segments.append(Segment.create(directory, log_end, config, now))
        for i, base in enumerate(bases):
            last = i == len(bases) - 1
            segment, problem = Segment.load(directory, base, config, now, active=last, names=names)
            segments.append(segment)
            holds_unflushed = last or bases[i + 1] > recovery_point
            if recover and holds_unflushed and not recovered:
                # Epochs at or after the first unflushed segment come back from its batches.
                epochs.truncate_from_end(base)
            if recover and holds_unflushed and rebuild_from is None:
                rebuild_from = base
            if (recover and holds_unflushed) or problem is not None:
                result = segment.recover(assign_epoch)
                (recovered if recover and holds_unflushed else rebuilt).append(segment.log_path)
                log_end = result.next_offset
                if result.truncated_bytes:
                    truncations.append(
                        Truncation(
                            file=segment.log_path,
                            position=result.valid_bytes,
                            offset=result.next_offset,
                            bytes_removed=result.truncated_bytes,
                            reason=result.reason or "invalid bytes",
                        )
                    )
                    if recover and not last:
                        deleted.extend(_delete_segments_after(directory, bases[i + 1 :]))
                        segment.offset_index.make_writable(config.segment_index_bytes)
                        segment.time_index.make_writable(config.segment_index_bytes)
                        segment.active = True
                        break
            elif last:
                log_end = segment.load_tail()
            else:
                log_end = bases[i + 1]

        log_end = max(log_end, segments[-1].base_offset)
        start = min(max(log_start_offset, segments[0].base_offset), log_end)
        epochs.truncate_from_end(log_end)
        epochs.truncate_from_start(start)
        point = min(recovery_point, log_end) if recover else log_end
        with_txn = [
            s.base_offset for s in segments if file_name(s.base_offset, TXN_INDEX_SUFFIX) in names
        ]
        txn_indexes, txn_notes = load_txn_indexes(directory, with_txn)
        notes.extend(txn_notes)
        notes.extend(
            _restore_producer_state(
                directory,
                names,
                segments,
                state,
                start,
                log_end,
                txn_indexes,
                rebuild_from,
                bool(markers_seen),
            )
        )
        # At rest only the active segment holds a descriptor (recovery opened others).
        for segment in segments[:-1]:
            segment.close_files()
    except BaseException:
        for segment in segments:
            segment.close_maps()
            segment.close_files()
        raise

    return PartitionLog(
        topic=topic,
        partition=partition,
        config=config,
        clock=clock,
        run_blocking=run_blocking,
        reads=ReadPool(run_blocking) if reads is None else reads,
        local=LocalLog(directory, segments, log_end, txn_indexes),
        log_start_offset=start,
        recovery_point=point,
        epochs=epochs,
        producer_state=state,
        recovery=RecoveryReport(
            clean=not recover,
            recovered_segments=tuple(recovered),
            rebuilt_indexes=tuple(rebuilt),
            truncations=tuple(truncations),
            deleted_segments=tuple(deleted),
            notes=tuple(notes),
        ),
        writev=writev,
        fsync=fsync,
        epochs_dirty=epochs.entries != epochs_before,
    )


def _clean_directory(directory: str, names: set[str]) -> list[int]:
    """
    Remove leftovers (``.deleted``, ``.cleaned``, ``.tmp``, orphan indexes); return the bases.

    C{names} (the dir's listing) loses the names removed.
    """
    bases: list[int] = []
    for name in list(names):
        if name.endswith((DELETED_SUFFIX, ".cleaned", ".tmp")):
            unlink_all([os.path.join(directory, name)])
            names.discard(name)
            continue
        if name.endswith(LOG_SUFFIX):
            offset = offset_from_file_name(name)
            if offset is not None:
                bases.append(offset)
    base_set = set(bases)
    for name in list(names):
        if name.endswith((INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)):
            offset = offset_from_file_name(name)
            if offset is not None and offset not in base_set:
                unlink_all([os.path.join(directory, name)])
                names.discard(name)
    bases.sort()
    return bases


def _delete_segments_after(directory: str, later: Sequence[int]) -> list[str]:
    """Remove the files of the segments following a truncation; return the removed logs."""
    deleted: list[str] = []
    for base in later:
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX):
            path = os.path.join(directory, file_name(base, suffix))
            if suffix == LOG_SUFFIX and os.path.exists(path):
                deleted.append(path)
            unlink_all([path])
    return deleted


def _restore_producer_state(
    directory: str,
    names: set[str],
    segments: Sequence[Segment],
    state: ProducerStateTable,
    log_start: int,
    log_end: int,
    txn_indexes: TxnIndexes,
    rebuild_from: int | None,
    markers: bool,
) -> list[str]:
    """
    Load the latest usable snapshot at or below C{log_end}, then replay the headers after it.

    After an unclean stop (C{rebuild_from}: the base of the first recovered
    segment) the ``.txnindex`` files of the recovered segments are rewritten
    from the aborted transactions the replay completes there, as Kafka's
    C{LogLoader.recoverSegment} rebuilds them; if those segments hold
    markers (C{markers}), the replay starts from the latest snapshot at or
    below C{rebuild_from}, so that it sees their transactions begin.
    """
    notes: list[str] = []
    snapshots = []
    for name in names:
        if name.endswith(SNAPSHOT_SUFFIX):
            offset = offset_from_file_name(name)
            if offset is not None:
                snapshots.append(offset)
    snapshots.sort()
    for offset in snapshots:
        if offset > log_end:
            unlink_all([os.path.join(directory, file_name(offset, SNAPSHOT_SUFFIX))])
    state.clear()
    replay_from = log_start
    # Rebuilding indexes needs the state at the first recovered segment.
    newest = log_end if rebuild_from is None or not markers else rebuild_from
    for offset in reversed([o for o in snapshots if o <= newest]):
        path = os.path.join(directory, file_name(offset, SNAPSHOT_SUFFIX))
        try:
            entries = read_producer_snapshot(path)
        except (CorruptSnapshotError, OSError) as e:
            notes.append(f"deleted unreadable producer snapshot {path}: {e}")
            unlink_all([path])
            continue
        state.load_snapshot(entries)
        replay_from = max(offset, log_start)
        break
    bases = [s.base_offset for s in segments]
    first = max(bisect.bisect_right(bases, replay_from) - 1, 0)
    aborted: dict[int, list[AbortedTxn]] = {}
    for segment in segments[first:]:
        # Read through the segment's own descriptor: the shared read handles
        # belong to the reactor thread, and this may run in a worker thread.
        segment.open_own_fd()
        found = segment.translate_offset(replay_from)
        if found is None:
            continue
        for position, header in segment.iter_headers(found[0]):
            if header.last_offset >= replay_from:
                marker = None
                if header.is_control:
                    # One small read per marker; data batches need their header only.
                    batch = segment.read_batch(position, header.size)
                    marker = read_end_txn_marker(batch, 0, header)
                done = state.replay_batch(header, header.base_offset, marker)
                if done is not None and done[0].is_aborted:
                    txn, lso = done
                    entry = AbortedTxn(txn.producer_id, txn.first_offset, txn.last_offset, lso)
                    aborted.setdefault(segment.base_offset, []).append(entry)
    # Every replayed marker is below the high watermark (the log end offset) now.
    state.on_high_watermark(log_end)
    if rebuild_from is not None:
        for base in bases:
            if base >= rebuild_from:
                txn_indexes.replace(base, aborted.get(base, []))
    return notes
