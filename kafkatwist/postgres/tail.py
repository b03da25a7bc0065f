"""The newest committed batches of a partition, kept in memory to serve tailing fetches.

A consumer reading near the end of a partition reads what was appended a
moment ago: the leader keeps those batches (the bytes it just committed) and
answers such reads on the reactor thread, without a database round trip.
Older reads go to PostgreSQL. The cache holds whole batches, contiguous up to
the high watermark, at most C{max_bytes} (the newest batch always).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from attrs import define, field


@define(eq=False)
class TailCache:
    """Committed batches C{(base offset, last offset, bytes)}, oldest first, up to C{max_bytes}."""

    max_bytes: int
    _bases: list[int] = field(factory=list, init=False)
    _lasts: list[int] = field(factory=list, init=False)
    _data: list[bytes] = field(factory=list, init=False)
    _first: int = field(default=0, init=False)
    size: int = field(default=0, init=False)

    @property
    def start(self) -> int | None:
        """The base offset of the oldest batch held, or C{None} when empty."""
        return self._bases[self._first] if self._first < len(self._bases) else None

    def covers(self, offset: int) -> bool:
        """Whether the batch holding C{offset} (or the end) is held."""
        start = self.start
        return start is not None and offset >= start

    def add(self, batches: Iterable[tuple[int, int, bytes]]) -> None:
        """Append committed batches (following what is held), then evict the oldest."""
        for base, last, data in batches:
            self._bases.append(base)
            self._lasts.append(last)
            self._data.append(data)
            self.size += len(data)
        first, data_list = self._first, self._data
        while self.size > self.max_bytes and first < len(data_list) - 1:
            self.size -= len(data_list[first])
            data_list[first] = b""
            first += 1
        self._first = first
        if first > 1024 and first * 2 > len(data_list):
            self._compact()

    def _compact(self) -> None:
        first = self._first
        del self._bases[:first], self._lasts[:first], self._data[:first]
        self._first = 0

    def clear(self) -> None:
        """Forget everything (the state was reloaded, or the log start passed it)."""
        self._bases, self._lasts, self._data = [], [], []
        self._first = self.size = 0

    def drop_below(self, offset: int) -> None:
        """Forget the batches wholly below C{offset} (DeleteRecords, retention)."""
        at = bisect.bisect_left(self._lasts, offset, self._first)
        for i in range(self._first, at):
            self.size -= len(self._data[i])
            self._data[i] = b""
        self._first = max(self._first, at)

    def read(
        self, offset: int, max_bytes: int, limit_offset: int, min_one_message: bool
    ) -> tuple[list[bytes], int]:
        """Whole batches from the one holding C{offset}, below C{limit_offset}, in C{max_bytes}."""
        i = bisect.bisect_left(self._lasts, offset, self._first)
        buffers: list[bytes] = []
        size = 0
        bases, data = self._bases, self._data
        while i < len(bases) and bases[i] < limit_offset:
            batch = data[i]
            if size + len(batch) > max_bytes and not (min_one_message and not buffers):
                break
            buffers.append(batch)
            size += len(batch)
            i += 1
        return buffers, size
