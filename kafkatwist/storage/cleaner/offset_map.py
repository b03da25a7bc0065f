"""The cleaner's key -> latest offset map, bounded by a byte budget (Kafka's ``SkimpyOffsetMap``).

A fixed table of C{memory // 24} slots, each the MD5 of a key (16 bytes) and
the offset of the key's latest record (8 bytes), open-addressed as Kafka
probes it; the per-record work is in L{kafkatwist.wire.compact} (C, or its
pure-Python twin: same table, same answers). Two keys with the same MD5 are
one key to the map, as in Kafka. The map holds at most C{slots *
load_factor} entries (``log.cleaner.io.buffer.load.factor``): building it
stops there and the cleaning pass ends where the map stopped.
"""

from __future__ import annotations

from typing import Final

from attrs import define, field, frozen

from kafkatwist.wire import compact
from kafkatwist.wire.primitives import Buffer

#: Kafka's ``log.cleaner.io.buffer.load.factor`` default.
DEFAULT_LOAD_FACTOR: Final = 0.9


@frozen
class Kernels:
    """The four kernels a map runs on: the compiled ones or their pure-Python twins."""

    put: compact.MapPut
    get: compact.MapGet
    index: compact.MapIndex
    filter: compact.FilterRecords


#: The kernels in use: compiled when C{kafkatwist.wire._walk} was built.
DEFAULT_KERNELS: Final = Kernels(
    compact.map_put, compact.map_get, compact.map_index, compact.filter_records
)
#: The pure-Python kernels (tests compare them with the compiled ones).
PYTHON_KERNELS: Final = Kernels(
    compact.py_map_put, compact.py_map_get, compact.py_map_index, compact.py_filter_records
)


@define(eq=False)
class OffsetMap:
    """
    Key hash -> offset, in C{memory} bytes (Kafka's C{SkimpyOffsetMap}).

    @ivar slots: How many entries the table has room for (C{memory // 24}).
    @ivar entries: How many it holds.
    @ivar latest_offset: The offset last put (or set by L{update_latest_offset}), -1 at first.
    """

    memory: int
    load_factor: float = DEFAULT_LOAD_FACTOR
    kernels: Kernels = DEFAULT_KERNELS
    slots: int = field(init=False)
    entries: int = field(init=False, default=0)
    latest_offset: int = field(init=False, default=-1)
    _table: bytearray = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.slots = self.memory // compact.ENTRY_SIZE
        if self.slots < 1:
            raise ValueError(f"an offset map of {self.memory} bytes has no slot")
        self._table = bytearray(self.slots * compact.ENTRY_SIZE)

    @property
    def max_entries(self) -> int:
        """The most entries building the map puts in (Kafka's C{maxDesiredMapSize})."""
        return int(self.slots * self.load_factor)

    @property
    def utilization(self) -> float:
        """The share of slots in use."""
        return self.entries / self.slots

    @property
    def table(self) -> bytes:
        """A copy of the table (tests compare kernels with it)."""
        return bytes(self._table)

    def clear(self) -> None:
        """Forget every entry (Kafka's C{clear})."""
        self._table = bytearray(self.slots * compact.ENTRY_SIZE)
        self.entries = 0
        self.latest_offset = -1

    def put(self, key: Buffer, offset: int) -> None:
        """
        Map C{key} to C{offset}.

        @raise ValueError: Every slot is taken.
        """
        self.entries = self.kernels.put(self._table, self.slots, self.entries, key, offset)
        self.latest_offset = offset

    def get(self, key: Buffer) -> int:
        """The offset mapped to C{key}, or -1."""
        return self.kernels.get(self._table, self.slots, key)

    def update_latest_offset(self, offset: int) -> None:
        """Kafka's C{updateLatestOffset}: the map covers the log up to C{offset}."""
        self.latest_offset = offset

    def index_records(
        self, records: Buffer, count: int, base_offset: int, start_offset: int, end_offset: int
    ) -> tuple[int, bool]:
        """
        Map the keys of one batch's records at offsets in C{[start_offset, end_offset)}.

        @return: C{(records read, full)}: C{full} when the map reached
            L{max_entries} before a record (which was not mapped).
        @raise ValueError: For records that cannot be read.
        """
        self.entries, self.latest_offset, read, full = self.kernels.index(
            self._table,
            self.slots,
            self.entries,
            self.max_entries,
            self.latest_offset,
            records,
            count,
            base_offset,
            start_offset,
            end_offset,
        )
        return read, bool(full)

    def filter_records(
        self,
        records: Buffer,
        count: int,
        base_offset: int,
        *,
        retain_deletes: bool,
        base_timestamp: int,
        new_base_timestamp: int,
        keep_all: bool = False,
    ) -> tuple[bytes, int, int, bool, int]:
        """
        The records of one batch to keep (L{kafkatwist.wire.compact.py_filter_records}).

        With C{keep_all} every record is kept (a control batch), rebased if asked.

        @return: C{(kept records, how many, largest timestamp, any tombstone, largest offset)}.
        """
        latest = -(2**63) if keep_all else self.latest_offset
        data, kept, max_ts, tombstones, max_offset = self.kernels.filter(
            self._table,
            self.slots,
            latest,
            records,
            count,
            base_offset,
            retain_deletes,
            base_timestamp,
            new_base_timestamp,
        )
        return data, kept, max_ts, bool(tombstones), max_offset
