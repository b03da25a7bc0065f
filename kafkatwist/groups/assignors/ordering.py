"""
The orders Kafka's assignors visit topics in, so that ours assign as theirs do.

Kafka's assignors break ties by the order they meet topics: the heterogeneous
uniform builder and the range assignor sort by C{Uuid.compareTo} (signed
64-bit halves), while the homogeneous uniform builder walks a
C{java.util.HashSet<Uuid>}, whose order is the bucket order of C{Uuid.hashCode}.
Reproducing both keeps our target assignments identical to a Kafka broker's
for the same input, which is what Kafka's own tests expect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1


def _signed64(value: int) -> int:
    """An unsigned 64-bit value as Java's signed C{long}."""
    return value - (1 << 64) if value >= 1 << 63 else value


def java_uuid_key(topic_id: uuid.UUID) -> tuple[int, int]:
    """The sort key of Kafka's C{Uuid.compareTo}: the signed high, then low, halves."""
    return _signed64(topic_id.int >> 64), _signed64(topic_id.int & _MASK64)


def _java_uuid_hash(topic_id: uuid.UUID) -> int:
    """Kafka's C{Uuid.hashCode}: the halves xor-ed, then the 64 bits folded into 32."""
    folded = (topic_id.int >> 64) ^ (topic_id.int & _MASK64)
    return ((folded >> 32) ^ folded) & _MASK32


def _table_size(expected: int) -> int:
    """The bucket count of C{new HashSet<>(collection)} holding C{expected} elements."""
    wanted = max(int(expected / 0.75) + 1, 16)
    size = 1
    while size < wanted:
        size <<= 1
    return size


def java_hash_set_order(topic_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """
    C{topic_ids} in the iteration order of a C{java.util.HashSet<Uuid>} copied from them.

    Buckets come in index order (C{HashMap.hash}: the hash xor its upper 16
    bits, masked by the table size); a bucket keeps insertion order.
    """
    ids = list(topic_ids)
    mask = _table_size(len(ids)) - 1

    def bucket(topic_id: uuid.UUID) -> int:
        code = _java_uuid_hash(topic_id)
        return (code ^ (code >> 16)) & mask

    return sorted(ids, key=bucket)
