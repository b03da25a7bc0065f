"""Helpers for the offset-API tests: records with chosen timestamps, and real-client codecs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis._spec import ApiSpec
from kafkatwist.broker import Broker
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.wire import schema
from kafkatwist.wire.record import NewRecord, build_batch
from tests.brokers import call
from tests.storage.support import append_batches


def batch(timestamps: Sequence[int], compression: int = 0) -> bytes:
    """A client-style batch (base offset 0) of one record per timestamp."""
    return build_batch(
        [NewRecord(key=None, value=b"v%d" % i, timestamp=ts) for i, ts in enumerate(timestamps)],
        base_timestamp=timestamps[0],
        compression=compression,
    )


def fill(
    case: SynchronousTestCase,
    log: IPartitionLog,
    batches: Sequence[Sequence[int]],
    *,
    leader_epoch: int = 0,
    now_ms: int = 0,
    compression: int = 0,
) -> None:
    """Append one batch per entry of C{batches}, each holding those record timestamps."""
    for timestamps in batches:
        case.successResultOf(
            append_batches(
                log, batch(timestamps, compression), leader_epoch=leader_epoch, now_ms=now_ms
            )
        )


def produce(
    case: SynchronousTestCase,
    broker: Broker,
    topic: str,
    partition: int,
    batches: Sequence[Sequence[int]],
    *,
    leader_epoch: int | None = None,
) -> IPartitionLog:
    """Append batches to a topic's partition log, at the partition's leader epoch by default."""
    state = broker.metadata.image.topics[topic]
    log = broker.partitions.partition_log(state, partition)
    assert log is not None, f"{topic} has no partition {partition}"
    if leader_epoch is None:
        leader_epoch = state.partitions[partition].leader_epoch
    fill(case, log, batches, leader_epoch=leader_epoch, now_ms=broker.now_ms())
    return log


def client_roundtrip(
    case: SynchronousTestCase,
    broker: Broker,
    spec: ApiSpec,
    request: Any,
    response_cls: Any,
    version: int,
) -> Any:
    """
    Send a request built and encoded by kafka-python; decode our answer with kafka-python.

    The request bytes come from a real client's encoder (not ours), and our
    response must decode with that client's decoder at the same version.
    C{request}, C{response_cls} and the result are kafka-python's (untyped).
    """
    body = request.encode(version=version)
    ours: object = schema.decode(spec.request, version, body)
    response = case.successResultOf(call(broker, spec, ours, version))
    return response_cls.decode(schema.encode_bytes(response, version), version=version)
