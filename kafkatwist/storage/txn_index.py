"""The aborted-transaction indexes beside the segments (Kafka's ``TransactionIndex``).

Each segment whose log holds the abort marker of a transaction with data
in the partition has a ``<base offset, 20 digits>.txnindex`` file in
Kafka's format (``TransactionIndex`` / ``AbortedTxn``): 34-byte big-endian
entries of version int16 (0), producer id int64, first offset int64, last
offset int64 (the marker's) and last stable offset int64 (the LSO once the
transaction completed), in marker order. read_committed Fetch answers
with the aborted transactions overlapping the range it returns
(L{TxnIndexes.collect}, Kafka's ``LocalLog.collectAbortedTransactions``).

Descriptors: none is held. Aborts are rare next to appends, so each entry
is written with an open, a 34-byte write and a close on the reactor thread
(page-cache writes, like the segment's), and the entries stay in memory
(a few per segment) so that reads touch no file. The log's flusher fsyncs
the files of the segments it flushes; recovery after an unclean stop
rebuilds the files of the segments it recovers from the log itself
(L{kafkatwist.storage.loader}).
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Iterable
from typing import Final

from attrs import define, field, frozen

from kafkatwist.storage.checkpoints import file_name
from kafkatwist.storage.files import unlink_all

TXN_INDEX_SUFFIX: Final = ".txnindex"
_ENTRY: Final = struct.Struct(">hqqqq")
#: Kafka's AbortedTxn.TOTAL_SIZE.
ENTRY_SIZE: Final = _ENTRY.size
CURRENT_VERSION: Final = 0
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)

assert ENTRY_SIZE == 34


class CorruptTxnIndexError(ValueError):
    """A ``.txnindex`` entry of a version this broker does not know."""


@frozen
class AbortedTxn:
    """One entry of a transaction index (Kafka's C{AbortedTxn})."""

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int

    def encode(self) -> bytes:
        """The 34 bytes of the entry."""
        return _ENTRY.pack(
            CURRENT_VERSION,
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        )


def decode_txn_index(data: bytes) -> list[AbortedTxn]:
    """
    The entries of a ``.txnindex`` file; a partial entry at the end (a torn write) is ignored.

    @raise CorruptTxnIndexError: For an entry of an unknown version.
    """
    entries = []
    for at in range(0, len(data) - ENTRY_SIZE + 1, ENTRY_SIZE):
        version, pid, first, last, lso = _ENTRY.unpack_from(data, at)
        if version != CURRENT_VERSION:
            raise CorruptTxnIndexError(f"unexpected aborted transaction version {version}")
        entries.append(AbortedTxn(pid, first, last, lso))
    return entries


def read_txn_index(path: str) -> list[AbortedTxn]:
    """The entries of the file at C{path} (none if it does not exist)."""
    try:
        with open(path, "rb") as f:
            return decode_txn_index(f.read())
    except FileNotFoundError:
        return []


@define(eq=False)
class TxnIndexes:
    """
    A partition's aborted transactions, by the base offset of the segment holding their marker.

    Only segments with entries are known here; C{_bases} is their sorted
    base offsets.
    """

    directory: str
    _entries: dict[int, list[AbortedTxn]] = field(factory=dict)
    _bases: list[int] = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._bases = sorted(self._entries)

    def path(self, base_offset: int) -> str:
        """The ``.txnindex`` file of the segment at C{base_offset}."""
        return os.path.join(self.directory, file_name(base_offset, TXN_INDEX_SUFFIX))

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    def entries(self, base_offset: int) -> list[AbortedTxn]:
        """The entries of one segment, in marker order."""
        return list(self._entries.get(base_offset, ()))

    def append(self, base_offset: int, txn: AbortedTxn) -> None:
        """
        Add an entry to the segment at C{base_offset}: the file first, then memory.

        @raise OSError: The write failed (the entry is not kept).
        """
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _CLOEXEC
        fd = os.open(self.path(base_offset), flags, 0o644)
        try:
            data = txn.encode()
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {self.path(base_offset)}")
        finally:
            os.close(fd)
        if base_offset not in self._entries:
            self._entries[base_offset] = []
            bisect.insort(self._bases, base_offset)
        self._entries[base_offset].append(txn)

    def replace(self, base_offset: int, entries: list[AbortedTxn]) -> None:
        """
        Rewrite a segment's index with C{entries} (recovery); no entries removes the file.

        Blocking, unsynced: for the loader.
        """
        path = self.path(base_offset)
        if not entries:
            unlink_all([path])
            self.drop([base_offset])
            return
        with open(path, "wb") as f:
            f.write(b"".join(txn.encode() for txn in entries))
        if base_offset not in self._entries:
            bisect.insort(self._bases, base_offset)
        self._entries[base_offset] = list(entries)

    def remember(self, base_offset: int, entries: list[AbortedTxn]) -> None:
        """Hold a segment's entries in memory (its file was written already); none: nothing."""
        if entries:
            if base_offset not in self._entries:
                bisect.insort(self._bases, base_offset)
            self._entries[base_offset] = list(entries)

    def drop(self, base_offsets: Iterable[int]) -> None:
        """Forget the entries of segments the log no longer holds (their files go with them)."""
        for base in base_offsets:
            if self._entries.pop(base, None) is not None:
                self._bases.remove(base)

    def paths_from(self, offset: int) -> list[str]:
        """The files of the segments at or after the one holding C{offset}, to fsync."""
        first = max(bisect.bisect_right(self._bases, offset) - 1, 0)
        return [self.path(base) for base in self._bases[first:]]

    def collect(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """
        The aborted transactions overlapping C{[fetch_offset, upper_bound)}, oldest marker first.

        Kafka's C{collectAbortedTransactions} and C{TransactionIndex.collectAbortedTxns}:
        from the segment holding C{fetch_offset} on, every entry whose marker
        is at or after C{fetch_offset} and whose first offset is below
        C{upper_bound}; the search stops at the first entry whose last
        stable offset reaches C{upper_bound} (no later entry can overlap).
        """
        found: list[AbortedTxn] = []
        first = max(bisect.bisect_right(self._bases, fetch_offset) - 1, 0)
        for base in self._bases[first:]:
            for txn in self._entries[base]:
                if txn.last_offset >= fetch_offset and txn.first_offset < upper_bound:
                    found.append(txn)
                if txn.last_stable_offset >= upper_bound:
                    return found
        return found


def load_txn_indexes(directory: str, base_offsets: Iterable[int]) -> tuple[TxnIndexes, list[str]]:
    """
    Read the ``.txnindex`` files of the segments at C{base_offsets} (blocking).

    An unreadable file is removed (noted); recovery or the next abort rebuilds what matters.

    @return: The indexes and notes for the recovery report.
    """
    indexes = TxnIndexes(directory)
    notes: list[str] = []
    entries: dict[int, list[AbortedTxn]] = {}
    for base in base_offsets:
        path = indexes.path(base)
        try:
            found = read_txn_index(path)
        except (CorruptTxnIndexError, OSError) as e:
            notes.append(f"deleted unreadable transaction index {path}: {e}")
            unlink_all([path])
            continue
        if found:
            entries[base] = found
    return TxnIndexes(directory, entries), notes


__all__ = [
    "ENTRY_SIZE",
    "TXN_INDEX_SUFFIX",
    "AbortedTxn",
    "CorruptTxnIndexError",
    "TxnIndexes",
    "decode_txn_index",
    "load_txn_indexes",
    "read_txn_index",
]
