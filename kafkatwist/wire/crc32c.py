"""CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2.

Kafka computes it with ``java.util.zip.CRC32C`` (see ``Crc32C`` and
``DefaultRecordBatch.computeChecksum`` in Kafka's clients module).  The C
``crc32c`` package (hardware accelerated where the CPU allows) does the work;
a table-driven pure-Python implementation is used only if that import fails.
It is far too slow for the Produce path and exists so that the broker still
starts, and so tests can check the C implementation against it.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from typing import Final

_POLYNOMIAL: Final = 0x82F63B78  # reflected Castagnoli polynomial


def _make_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLYNOMIAL if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE: Final = _make_table()


def crc32c_py(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """
    Compute CRC-32C of C{data} in pure Python, continuing from C{value}.

    @param data: Any bytes-like object.
    @param value: The CRC of the data that precedes C{data} (0 to start).
    @return: The CRC as an unsigned 32-bit integer.
    """
    table = _TABLE
    crc = value ^ 0xFFFFFFFF
    for byte in memoryview(data).cast("B"):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:
    from crc32c import crc32c as _crc32c_c
except ImportError:  # pragma: no cover - exercised only without the wheel
    crc32c = crc32c_py
    IMPLEMENTATION: str = "python"
else:
    crc32c = _crc32c_c
    IMPLEMENTATION = "c"

__all__ = ["IMPLEMENTATION", "crc32c", "crc32c_py"]
