"""Helpers of the transaction APIs: version-dependent error codes, partitions by topic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from twisted.internet.defer import Deferred

from kafkatwist.clock import ReactorTime
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.errors import ErrorCode

TopicPartition = tuple[str, int]

#: The broker config that turns transaction version 1 verification off (Kafka's default: on).
VERIFICATION_KEY = "transaction.partition.verification.enable"
#: Kafka's C{add.partitions.to.txn.retry.backoff.ms} and C{...backoff.max.ms} defaults: how
#: often and how long a TV2 write's implicit add is tried again on CONCURRENT_TRANSACTIONS.
ADD_PARTITIONS_RETRY_BACKOFF_MS = 20
ADD_PARTITIONS_RETRY_MAX_MS = 100


def partition_verification_enabled(configs: ConfigResolver) -> bool:
    """
    C{transaction.partition.verification.enable}, as it is now (a dynamic cluster-wide config).

    When false, Kafka's C{ReplicaManager} writes a transaction version 1
    producer's batches without asking the coordinator; version 2 writes are
    added all the same.
    """
    return configs.layers().broker_typed(VERIFICATION_KEY, bool)


async def retry_concurrent(
    clock: ReactorTime,
    codes: dict[TopicPartition, ErrorCode],
    again: Callable[[], Awaitable[dict[TopicPartition, ErrorCode]]],
) -> dict[TopicPartition, ErrorCode]:
    """
    Try an implicit add again while the coordinator answers CONCURRENT_TRANSACTIONS.

    Kafka's C{ReplicaManager.handleProduceAppend} (TV2 only): every
    L{ADD_PARTITIONS_RETRY_BACKOFF_MS} for at most
    L{ADD_PARTITIONS_RETRY_MAX_MS}; the last answer stands.
    """
    start = clock.seconds()
    while ErrorCode.CONCURRENT_TRANSACTIONS in codes.values():
        if (clock.seconds() - start) * 1000 >= ADD_PARTITIONS_RETRY_MAX_MS:
            break
        wait: Deferred[None] = Deferred()
        clock.callLater(ADD_PARTITIONS_RETRY_BACKOFF_MS / 1000, wait.callback, None)
        await wait
        codes = await again()
    return codes


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
