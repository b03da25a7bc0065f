"""Kafka's per-segment offset index (``.index``) and time index (``.timeindex``).

The file formats are Kafka's (``OffsetIndex`` and ``TimeIndex`` in
``storage/src/main/java/org/apache/kafka/storage/internals/log/``), all
integers big-endian:

- offset index: 8-byte entries, ``relative offset: int32`` (offset minus the
  segment's base offset) and ``position: int32`` (byte position of a batch in
  the ``.log`` file). An entry ``(o, p)`` says that the batch starting at
  ``p`` has last offset ``o``.
- time index: 12-byte entries, ``timestamp: int64`` and ``relative offset:
  int32``. An entry ``(t, o)`` says that the largest timestamp seen up to and
  including offset ``o`` is ``t``. Entries are only appended when the
  timestamp grows.

Entries are appended by the segment every ``index.interval.bytes``; both
indexes are sparse and sorted, and lookups are binary searches returning the
greatest lower bound, as in Kafka's ``AbstractIndex.largestLowerBoundSlotFor``.

Like Kafka, the index of the active segment is a memory map over a file
preallocated (sparsely, with ``ftruncate``) to ``segment.index.bytes``
rounded down to a whole number of entries; L{IndexFile.trim} cuts the file
to its valid entries when the segment is rolled or closed, so a cleanly
closed index file holds exactly its entries. An index opened read-only maps
the file as it is. A preallocated file left behind by a crash has a
zero-filled tail; L{IndexFile.sanity_check} catches that (and other damage)
and the log then rebuilds the index from the ``.log`` file.

Public surface: L{OffsetIndex} and L{TimeIndex} (C{open(path, base_offset,
max_index_bytes, *, writable)}, C{entries}, C{max_entries}, C{is_full},
C{entry(n)}, C{lookup(target)}, C{last_entry()}, C{resident()}, C{reset()},
C{trim()}, C{make_writable(max_index_bytes)}, C{release()}, C{close()},
C{dirty}, C{sanity_check(log_size)}), L{OffsetIndex.append},
L{TimeIndex.maybe_append} and L{CorruptIndexError}.

No descriptor is held: an index maps its file on first use and closes the
descriptor at once (Kafka's C{LazyIndex}). Nothing here runs on another
thread; the log fsyncs the file by path from its blocking executor (on
Linux, fsync of the file writes back its shared mapping too).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
from typing import ClassVar, Self

from kafkatwist.storage.files import FileMapping

INT32_MAX = 2**31 - 1

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")

#: Kafka's RecordBatch.NO_TIMESTAMP.
NO_TIMESTAMP = -1

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class CorruptIndexError(Exception):
    """An index file fails its sanity check and must be rebuilt."""


class IndexFile:
    """
    A lazily memory-mapped array of fixed-size entries (Kafka's C{AbstractIndex} and C{LazyIndex}).

    No file descriptor is held: the file is opened only to map it (or to change its
    length) and closed at once, since a mapping outlives its descriptor. The mapping is
    made on first access to an entry (Kafka's C{LazyIndex}), so an index nobody reads or
    appends to costs neither a descriptor nor a mapping. L{release} drops it again.

    @ivar path: The file's path.
    @ivar base_offset: The base offset of the segment the index belongs to.
    @ivar entries: The number of valid entries.
    @ivar max_entries: How many entries fit before the index is full.
    @ivar dirty: Whether entries or the length changed since the flusher cleared it.
    """

    ENTRY_SIZE: ClassVar[int] = 0

    def __init__(self, path: str, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.entries = 0
        self.max_entries = 0
        self._mm: FileMapping | None = None
        self.writable = False
        self.dirty = False
        #: The file's length as last set or seen.
        self._length = 0
        self._mm_writable = False
        #: Entries appended during a rebuild, written by L{finish_rebuild}.
        self._rebuilt: bytearray | None = None
        #: (entries, last entry) as of that entry count, to avoid unpacking it per append.
        self._last: tuple[int, tuple[int, int]] | None = None

    @classmethod
    def open(
        cls,
        path: str,
        base_offset: int,
        max_index_bytes: int,
        *,
        writable: bool,
        preallocate: bool = True,
    ) -> Self:
        """
        Open (creating it if absent) the index at C{path}, without mapping it.

        The number of valid entries is taken from the file's length, rounded
        down to whole entries, as Kafka does for an existing index. A
        writable index is then preallocated to C{max_index_bytes} (a sparse
        file: no block is written), now or, with C{preallocate=False}, when
        it is first mapped (Kafka's C{LazyIndex}: an index never written
        costs no file change at all).
        """
        index = cls(path, base_offset)
        try:
            index._length = os.stat(path).st_size
        except FileNotFoundError:
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            os.close(os.open(path, flags, 0o644))
        index.entries = index._length // cls.ENTRY_SIZE
        if writable:
            index.make_writable(max_index_bytes, preallocate=preallocate)
        else:
            index.max_entries = index.entries
        return index

    @property
    def is_mapped(self) -> bool:
        """Whether the file is mapped now."""
        return self._mm is not None

    def _mapped(self, write: bool = False) -> ctypes.Array[ctypes.c_char] | mmap.mmap:
        """
        The mapped bytes, mapped now if needed (the descriptor is closed once mapped).

        Reads map the file as it is, read-only; a write maps it writable,
        preallocated to the index's full size.
        """
        mm = self._mm
        if mm is None or (write and not self._mm_writable):
            self.release()
            length = self.max_entries * self.ENTRY_SIZE if write else self._length
            length -= length % self.ENTRY_SIZE
            if length <= 0:
                raise ValueError(f"index {self.path} has no entries to map")
            fd = os.open(self.path, (os.O_RDWR if write else os.O_RDONLY) | _CLOEXEC)
            try:
                if write and os.fstat(fd).st_size != length:
                    os.ftruncate(fd, length)
                    self._length = length
                mm = self._mm = FileMapping(fd, length, write)
                self._mm_writable = write
            finally:
                os.close(fd)
        return mm.buffer

    def release(self) -> None:
        """Unmap the file (it is mapped again on the next access); idempotent."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def resident(self) -> bool | None:
        """Whether the entries' pages are cached (L{FileMapping.resident}); None if unknown."""
        if not self.entries:
            return True
        mm = self._mm if self._mapped() is not None else None
        return None if mm is None else mm.resident(self.entries * self.ENTRY_SIZE)

    def _set_length(self, length: int) -> None:
        self.release()
        if self._length != length:
            os.truncate(self.path, length)
            self._length = length
            self.dirty = True

    def make_writable(self, max_index_bytes: int, *, preallocate: bool = True) -> None:
        """Preallocate the file to C{max_index_bytes} (whole entries), now or when first mapped."""
        size = max(
            max_index_bytes - max_index_bytes % self.ENTRY_SIZE, self.entries * self.ENTRY_SIZE
        )
        if preallocate:
            self._set_length(size)
        else:
            self.release()
        self.max_entries = size // self.ENTRY_SIZE
        self.writable = True

    @property
    def is_full(self) -> bool:
        """Whether no further entry fits."""
        return self.entries >= self.max_entries

    @property
    def free_entries(self) -> int:
        """How many more entries fit."""
        return max(self.max_entries - self.entries, 0)

    def reset(self) -> None:
        """Drop every entry (a mapped file stays allocated; an unmapped one is emptied)."""
        self.entries = 0
        self._last = None
        if self._mm is None and self._length:
            self._set_length(0)

    def trim(self) -> None:
        """Cut the file to its valid entries, read-only from now on (Kafka's C{trimToValidSize})."""
        self._set_length(self.entries * self.ENTRY_SIZE)
        self.max_entries = self.entries
        self.writable = False

    def close(self) -> None:
        """Unmap the file; idempotent (no descriptor is held)."""
        self.release()

    def _check_whole_entries(self) -> None:
        """Raise L{CorruptIndexError} if a read-only index file ends inside an entry."""
        length = self._length
        if not self.writable and length % self.ENTRY_SIZE:
            raise CorruptIndexError(
                f"{self.path}: length {length} is not a multiple of {self.ENTRY_SIZE}"
            )

    def _key(self, n: int) -> int:
        raise NotImplementedError

    def _decode(self, raw: bytes) -> tuple[int, int]:
        raise NotImplementedError

    def _read_entries(self, *slots: int) -> list[tuple[int, int]]:
        """
        Entries C{slots}, without mapping the file (sanity checks at load).

        One C{pread} each: a map costs far more for the two or three entries
        a check reads, at every partition of a start-up.
        """
        size = self.ENTRY_SIZE
        fd = os.open(self.path, os.O_RDONLY | _CLOEXEC)
        try:
            raws = [os.pread(fd, size, n * size) for n in slots]
        finally:
            os.close(fd)
        if any(len(raw) != size for raw in raws):
            raise CorruptIndexError(f"{self.path}: shorter than its {self.entries} entries")
        return [self._decode(raw) for raw in raws]

    def _slot_for(self, target: int) -> int:
        """Binary search: the last slot whose key is <= C{target}, or -1."""
        lo, hi = 0, self.entries - 1
        if hi < 0 or self._key(0) > target:
            return -1
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if self._key(mid) <= target:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _append_raw(self, packer: struct.Struct, *values: int) -> None:
        assert self.writable
        if self._rebuilt is not None:
            self._rebuilt += packer.pack(*values)
        else:
            packer.pack_into(self._mapped(write=True), self.entries * self.ENTRY_SIZE, *values)
        self.entries += 1
        self.dirty = True

    def begin_rebuild(self) -> None:
        """
        Drop every entry and gather the next appends in memory (a recovery's rebuild).

        L{finish_rebuild} writes them with one C{write}: no map, no page
        fault and no preallocation, which cost milliseconds each on a busy
        file system when thousands of segments are recovered.
        """
        self.release()
        self.entries = 0
        self._last = None
        self._rebuilt = bytearray()

    def _holds(self, data: bytearray) -> bool:
        """Whether the file holds exactly C{data} already (checked for small files only)."""
        if len(data) > 65536:
            return False
        if not data:
            return True
        fd = os.open(self.path, os.O_RDONLY | _CLOEXEC)
        try:
            return os.pread(fd, len(data) + 1, 0) == data
        finally:
            os.close(fd)

    def finish_rebuild(self) -> None:
        """Write the gathered entries as the whole file."""
        data, self._rebuilt = self._rebuilt, None
        if data is None or (len(data) == self._length and self._holds(data)):
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _CLOEXEC
        fd = os.open(self.path, flags, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self._length = len(data)
        self.dirty = True


class OffsetIndex(IndexFile):
    """Kafka's offset index: relative offset -> position, one entry per ~index.interval.bytes."""

    ENTRY_SIZE = 8

    def entry(self, n: int) -> tuple[int, int]:
        """The absolute offset and position of entry C{n}."""
        relative, position = _OFFSET_ENTRY.unpack_from(self._mapped(), n * 8)
        return self.base_offset + relative, position

    def _key(self, n: int) -> int:
        relative: int = _I32.unpack_from(self._mapped(), n * 8)[0]
        return self.base_offset + relative

    def _decode(self, raw: bytes) -> tuple[int, int]:
        relative, position = _OFFSET_ENTRY.unpack(raw)
        return self.base_offset + relative, position

    @property
    def last_offset(self) -> int:
        """The offset of the last entry, or the base offset when empty."""
        return self.last_entry()[0]

    def last_entry(self) -> tuple[int, int]:
        """The last entry, or C{(base_offset, 0)} when empty."""
        cached = self._last
        if cached is None or cached[0] != self.entries:
            value = self.entry(self.entries - 1) if self.entries else (self.base_offset, 0)
            self._last = cached = (self.entries, value)
        return cached[1]

    def can_append_offset(self, offset: int) -> bool:
        """Whether C{offset} fits as a non-negative int32 relative to the base offset."""
        return 0 <= offset - self.base_offset <= INT32_MAX

    def append(self, offset: int, position: int) -> None:
        """
        Append C{(offset, position)}.

        @raise ValueError: The index is full or C{offset} does not grow.
        """
        if self.is_full:
            raise ValueError(f"offset index {self.path} is full ({self.entries} entries)")
        if self.entries and offset <= self.last_offset:
            raise ValueError(f"offset {offset} does not follow {self.last_offset} in {self.path}")
        self._append_raw(_OFFSET_ENTRY, offset - self.base_offset, position)
        self._last = (self.entries, (offset, position))

    def lookup(self, target: int) -> tuple[int, int]:
        """The greatest entry with offset <= C{target}, or C{(base_offset, 0)}."""
        slot = self._slot_for(target)
        return (self.base_offset, 0) if slot < 0 else self.entry(slot)

    def sanity_check(self, log_size: int) -> None:
        """
        Raise L{CorruptIndexError} unless the file can index a log of C{log_size} bytes.

        Checks Kafka's rules (whole entries, last offset not below the base
        offset) plus: the last two entries grow in offset and position and
        the last position lies inside the log. A zero-filled tail fails the
        growth check.
        """
        self._check_whole_entries()
        if not self.entries:
            return
        tail = self._read_entries(*range(max(self.entries - 2, 0), self.entries))
        last_offset, last_position = tail[-1]
        if last_offset < self.base_offset or last_position >= max(log_size, 1):
            raise CorruptIndexError(
                f"{self.path}: last entry ({last_offset}, {last_position}) is outside the segment"
            )
        if len(tail) == 2:
            prev_offset, prev_position = tail[0]
            if prev_offset >= last_offset or prev_position >= last_position:
                raise CorruptIndexError(f"{self.path}: entries do not grow at the end")
        self._last = (self.entries, tail[-1])


class TimeIndex(IndexFile):
    """Kafka's time index: max timestamp so far -> relative offset, added when it grows."""

    ENTRY_SIZE = 12

    def entry(self, n: int) -> tuple[int, int]:
        """The timestamp and absolute offset of entry C{n}."""
        timestamp, relative = _TIME_ENTRY.unpack_from(self._mapped(), n * 12)
        return timestamp, self.base_offset + relative

    def _key(self, n: int) -> int:
        timestamp: int = _I64.unpack_from(self._mapped(), n * 12)[0]
        return timestamp

    def _decode(self, raw: bytes) -> tuple[int, int]:
        timestamp, relative = _TIME_ENTRY.unpack(raw)
        return timestamp, self.base_offset + relative

    def last_entry(self) -> tuple[int, int]:
        """The last entry, or C{(NO_TIMESTAMP, base_offset)} when empty (Kafka's C{lastEntry})."""
        cached = self._last
        if cached is None or cached[0] != self.entries:
            value = (
                self.entry(self.entries - 1) if self.entries else (NO_TIMESTAMP, self.base_offset)
            )
            self._last = cached = (self.entries, value)
        return cached[1]

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        """
        Append C{(timestamp, offset)} if C{timestamp} is larger than the last entry's.

        C{skip_full_check} lets the final entry of a rolled or closed segment
        go in even when the index is full, as Kafka's C{maybeAppend} does;
        the file grows by one entry then.

        @raise ValueError: The index is full, or the offset goes backwards.
        """
        last_timestamp, last_offset = self.last_entry()
        if timestamp <= last_timestamp:
            return
        if self.entries and offset < last_offset:
            raise ValueError(f"offset {offset} goes back from {last_offset} in {self.path}")
        if skip_full_check and self._rebuilt is None and not (self._mm and self._mm_writable):
            # The final entry of a segment that was never mapped for writing: one
            # pwrite, rather than preallocating and mapping the file for one entry.
            self._write_final(_TIME_ENTRY.pack(timestamp, offset - self.base_offset))
        else:
            if self.is_full:
                if not skip_full_check:
                    raise ValueError(f"time index {self.path} is full ({self.entries} entries)")
                self._grow_one()
            self._append_raw(_TIME_ENTRY, timestamp, offset - self.base_offset)
        self._last = (self.entries, (timestamp, offset))

    def _write_final(self, entry: bytes) -> None:
        self.release()
        fd = os.open(self.path, os.O_WRONLY | _CLOEXEC)
        try:
            os.pwrite(fd, entry, self.entries * self.ENTRY_SIZE)
        finally:
            os.close(fd)
        self.entries += 1
        self._length = max(self._length, self.entries * self.ENTRY_SIZE)
        self.max_entries = max(self.max_entries, self.entries)
        self.dirty = True

    def _grow_one(self) -> None:
        if self._rebuilt is None:
            self._set_length((self.entries + 1) * self.ENTRY_SIZE)
        self.max_entries = self.entries + 1

    def lookup(self, target: int) -> tuple[int, int]:
        """The greatest entry with timestamp <= C{target}, or C{(NO_TIMESTAMP, base_offset)}."""
        slot = self._slot_for(target)
        return (NO_TIMESTAMP, self.base_offset) if slot < 0 else self.entry(slot)

    def sanity_check(self, log_size: int) -> None:
        """
        Raise L{CorruptIndexError} if the file cannot be a valid time index.

        Kafka's rules (whole entries, last timestamp not below the first,
        last offset not below the base offset) plus growth of the last two
        entries, which a zero-filled tail fails.
        """
        self._check_whole_entries()
        if not self.entries:
            return
        slots = sorted({0, max(self.entries - 2, 0), self.entries - 1})
        read = dict(zip(slots, self._read_entries(*slots), strict=True))
        last_timestamp, last_offset = read[self.entries - 1]
        first_timestamp, _ = read[0]
        if last_offset < self.base_offset or last_timestamp < first_timestamp:
            raise CorruptIndexError(
                f"{self.path}: last entry ({last_timestamp}, {last_offset}) is invalid"
            )
        self._last = (self.entries, read[self.entries - 1])
        if self.entries >= 2:
            prev_timestamp, prev_offset = read[self.entries - 2]
            if prev_timestamp >= last_timestamp or prev_offset > last_offset:
                raise CorruptIndexError(f"{self.path}: entries do not grow at the end")
        if log_size == 0:
            raise CorruptIndexError(f"{self.path}: entries for an empty log")
