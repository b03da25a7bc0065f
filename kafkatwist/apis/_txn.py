"""Helpers of the transaction APIs: version-dependent error codes, partitions by topic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kafkatwist.errors import ErrorCode

TopicPartition = tuple[str, int]


def for_version(code: ErrorCode, version: int, fenced_since: int) -> ErrorCode:
    """
    PRODUCER_FENCED as INVALID_PRODUCER_EPOCH for versions before C{fenced_since}.

    Kafka's handlers answer the older code to clients that do not know
    PRODUCER_FENCED (KIP-588).
    """
    if code == ErrorCode.PRODUCER_FENCED and version < fenced_since:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return code


def by_topic(codes: Mapping[TopicPartition, ErrorCode]) -> list[tuple[str, list[tuple[int, int]]]]:
    """Partition codes grouped by topic, in request order: (topic, [(partition, code)])."""
    out: dict[str, list[tuple[int, int]]] = {}
    for (topic, partition), code in codes.items():
        out.setdefault(topic, []).append((partition, int(code)))
    return list(out.items())


def flatten(topics: Iterable[tuple[str, Iterable[int]]]) -> list[TopicPartition]:
    """(topic, partitions) pairs as one list of (topic, partition)."""
    return [(t, p) for t, parts in topics for p in parts]
