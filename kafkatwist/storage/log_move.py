"""Moving a partition's log to another log dir (AlterReplicaLogDirs), crash-safely.

Kafka copies into a "future" replica that follows the current one until it
has caught up, then swaps them. kafkatwist keeps Kafka's names and order
with one replica to fetch from, itself:

1. off the reactor thread, the partition dir is copied to
   ``<target>/<topic>-<partition>.<id>-future`` while the log goes on
   taking appends (the bulk of the data, without stopping anything);
2. on the reactor thread the log is closed: it flushes, writes its epochs
   and producer snapshot, and from then on refuses appends and reads with
   KAFKA_STORAGE_ERROR (retriable: producers retry; nothing acknowledged
   is lost, since an acknowledged batch is in the closed files);
3. off the reactor thread the future dir catches up (files added or
   changed since the copy are copied again, files gone are removed), every
   file and the dir are fsynced, and the move is committed: a marker
   (L{MOVING_MARKER}, naming the target log dir) is written into the source
   dir, the future dir is renamed to ``<target>/<topic>-<partition>``
   (the commit point), the source dir to ``<topic>-<partition>.<id>-delete``;
   the log is then opened from its new dir;
4. on the reactor thread the new log replaces the old one in the log
   manager, and the old dir is removed.

After a crash, L{interrupted_move} (called by the log dir scan at start)
resolves what was left: a ``-future`` dir is an uncommitted copy and is
removed; a source dir with the marker is removed if the target dir holds
the partition (the commit happened), else the marker is removed and the
source stays the partition's log. Should a step before the commit fail,
the log is opened again from its source dir.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from functools import partial

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kafkatwist.clock import RunBlocking
from kafkatwist.storage.executor import chain
from kafkatwist.storage.files import fsync_directory, fsync_path
from kafkatwist.storage.partition_log import PartitionLog

#: Written into the source dir just before the commit; holds the target log dir.
MOVING_MARKER = ".kafkatwist-moving"
FUTURE_DIR_SUFFIX = "-future"
DELETE_DIR_SUFFIX = "-delete"


def sync_tree(source: str, dest: str) -> None:
    """
    Blocking: make C{dest} hold the files of C{source} (one level, as a partition dir).

    A file is copied when C{dest} lacks it or its size or modification time
    differs; files C{source} no longer has are removed from C{dest}. A file
    that disappears while being looked at (retention, the cleaner) is skipped.
    """
    os.makedirs(dest, exist_ok=True)
    names = set()
    for name in os.listdir(source):
        if name == MOVING_MARKER:
            continue
        src, dst = os.path.join(source, name), os.path.join(dest, name)
        try:
            st = os.stat(src)
            if not os.path.isfile(src):
                continue
            names.add(name)
            if os.path.exists(dst):
                dt = os.stat(dst)
                if dt.st_size == st.st_size and dt.st_mtime_ns == st.st_mtime_ns:
                    continue
            shutil.copy2(src, dst)
        except FileNotFoundError:
            names.discard(name)
    for name in os.listdir(dest):
        if name not in names:
            os.remove(os.path.join(dest, name))


def commit(source: str, future: str, final: str, doomed: str) -> None:
    """
    Blocking, with the log closed: catch C{future} up, make it durable, then swap the dirs.

    @raise FileExistsError: C{final} exists already (nothing was changed).
    """
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists already")
    sync_tree(source, future)
    for name in os.listdir(future):
        fsync_path(os.path.join(future, name), os.fsync)
    fsync_directory(future, os.fsync)
    marker = os.path.join(source, MOVING_MARKER)
    with open(marker, "w", encoding="utf-8") as f:
        f.write(os.path.dirname(final))
        f.flush()
        os.fsync(f.fileno())
    fsync_directory(source, os.fsync)
    os.rename(future, final)  # the commit point
    fsync_directory(os.path.dirname(final), os.fsync)
    os.rename(source, doomed)
    fsync_directory(os.path.dirname(doomed), os.fsync)


def interrupted_move(path: str) -> bool:
    """
    Blocking, at load: whether partition dir C{path} was left behind by a committed move.

    True (remove it) when its marker names a log dir that holds the
    partition now; otherwise the marker, if any, is removed and the dir
    stays the partition's log.
    """
    marker = os.path.join(path, MOVING_MARKER)
    try:
        with open(marker, encoding="utf-8") as f:
            target = f.read().strip()
    except FileNotFoundError:
        return False
    if target and os.path.isdir(os.path.join(target, os.path.basename(path))):
        return True
    os.remove(marker)
    return False


@define
class LogMove:
    """
    One move of a partition's log to C{target_dir} (see the module docstring).

    @ivar reopen: Blocking: open the partition's log from a dir (the moved
        or, after a failure, the source one), given the closed log's recovery
        point and log start offset.
    @ivar adopt: Serve a log, in its log dir, for the partition from now on.
    @ivar current: Whether the log is still the partition's (not deleted meanwhile).
    """

    log: PartitionLog
    target_dir: str
    run_blocking: RunBlocking
    reopen: Callable[..., PartitionLog]
    adopt: Callable[[PartitionLog, str], None]
    current: Callable[[], bool]
    _log = Logger()

    def run(self) -> Deferred[None]:
        """Move the log; fires once the new dir serves the partition (or the move failed)."""
        return Deferred.fromCoroutine(self._run())

    async def _run(self) -> None:
        source = self.log.directory
        name = os.path.basename(source)
        token = uuid.uuid4().hex
        source_dir = os.path.dirname(source)
        future = os.path.join(self.target_dir, f"{name}.{token}{FUTURE_DIR_SUFFIX}")
        final = os.path.join(self.target_dir, name)
        doomed = os.path.join(source_dir, f"{name}.{token}{DELETE_DIR_SUFFIX}")
        try:
            await self.run_blocking(partial(sync_tree, source, future))
        except Exception:
            await self._discard(future)
            raise
        if not self.current():
            await self._discard(future)
            return
        await self.log.close()
        try:
            moved = await self.run_blocking(partial(self._commit, source, future, final, doomed))
        except Exception:
            self._log.failure("Moving {name} to {target} failed", name=name, target=final)
            # Renaming the future dir is the commit point: serve whichever dir won.
            back = final if os.path.isdir(final) else source
            if back == source:
                await self._discard(future)
            if self.current():
                opened = await self.run_blocking(partial(self._reopen, back))
                self.adopt(opened, os.path.dirname(back))
            raise
        if not self.current():  # deleted meanwhile: drop the copy
            await moved.close()
            await self._discard(final)
        else:
            self.adopt(moved, self.target_dir)
            self._log.info(
                "Moved {name} from {source} to {target}",
                name=name,
                source=source_dir,
                target=self.target_dir,
            )
        await self.run_blocking(partial(shutil.rmtree, doomed, True))

    def _commit(self, source: str, future: str, final: str, doomed: str) -> PartitionLog:
        commit(source, future, final, doomed)
        return self._reopen(final)

    def _discard(self, future: str) -> Deferred[None]:
        return self.run_blocking(partial(shutil.rmtree, future, True))

    def _reopen(self, directory: str) -> PartitionLog:
        """Blocking: the log of C{directory}, its files trusted (the closed log flushed them)."""
        log = self.log
        return self.reopen(
            directory, recovery_point=log.log_end_offset, log_start_offset=log.log_start_offset
        )


@define
class MoveQueue:
    """The moves of each partition, one after another."""

    _tails: dict[tuple[str, int], Deferred[None]] = field(factory=dict)

    def then(self, key: tuple[str, int], start: Callable[[], Deferred[None]]) -> Deferred[None]:
        """Run C{start} once the partition's earlier moves are over (failed or not)."""
        tail = self._tails.get(key)
        d = start() if tail is None else chain(tail).addBoth(lambda _: start())
        self._tails[key] = d

        def done(result: object) -> object:
            if self._tails.get(key) is d:
                del self._tails[key]
            return result

        d.addBoth(done)
        return chain(d)


__all__ = ["MOVING_MARKER", "LogMove", "MoveQueue", "commit", "interrupted_move", "sync_tree"]
