"""DescribeLogDirs (api key 35): v0-v5.

Behavior:
* authorization: DESCRIBE on the cluster (Kafka's
  C{KafkaApis.handleDescribeLogDirsRequest}); without it the answer has no
  results and, v3+, the top-level CLUSTER_AUTHORIZATION_FAILED;
* one result per configured ``log.dirs`` entry, by absolute path, listing the
  partitions whose logs live there: a null ``topics`` asks for every
  partition, otherwise the named ones (names or partitions this broker does
  not host, those another broker of the cluster leads included, are left
  out, not errors); topics with no listed partition are left out;
* each partition: its size in bytes (its segment files; 0 for a partition
  whose log is not opened yet, which goes to the first log dir), offset lag
  0 (the log end offset never passes the high watermark on a lone replica)
  and ``is_future_key`` false: a partition being moved (AlterReplicaLogDirs)
  is listed under its current dir until the move commits, then under the new one;
* v4+: the volume's total and usable bytes, from ``os.statvfs``
  (``f_blocks``/``f_bavail`` times ``f_frsize``, as Java's ``FileStore``); a log
  dir that cannot be read answers KAFKA_STORAGE_ERROR with no topics, as Kafka
  does for an offline dir;
* v5+: ``is_cordoned`` is false: Kafka reports a dir listed in its
  ``cordoned.log.dirs`` (KIP-1066), a config this broker does not have, so no
  dir is ever cordoned and new partitions may go to any;
* the top-level error (v3+) is 0: without an authorizer, cluster DESCRIBE is
  always granted.

Version notes:
* v1 is v0; v2+: flexible; v3+: top-level error code; v4+: total and usable
  bytes; v5+: whether the dir is cordoned (KIP-1066).
"""

from __future__ import annotations

import os

from kafkatwist.apis._authz import require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.broker import Broker
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_log_dirs import (
    DescribeLogDirsPartition,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
    DescribeLogDirsResult,
    DescribeLogDirsTopic,
)
from kafkatwist.security.acl import AclOperation
from kafkatwist.wire.versions import VersionRange


def configured_log_dirs(broker: Broker) -> list[str]:
    """The configured log dirs as absolute paths, in order, without repeats."""
    return list(dict.fromkeys(os.path.abspath(d) for d in broker.config.log_dirs))


def volume_bytes(path: str) -> tuple[int, int]:
    """(total, usable) bytes of the volume holding C{path}; raises OSError."""
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


async def handle(ctx: RequestContext, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    require_cluster(ctx, AclOperation.DESCRIBE)
    broker = ctx.broker
    image = broker.metadata.image
    dirs = configured_log_dirs(broker)
    if request.topics is None:
        wanted = [(name, sorted(topic.partitions)) for name, topic in sorted(image.topics.items())]
    else:
        merged: dict[str, set[int]] = {}
        for t in request.topics:
            merged.setdefault(t.topic, set()).update(t.partitions)
        wanted = [(name, sorted(parts)) for name, parts in merged.items()]

    # log dir -> topic -> partitions
    placed: dict[str, dict[str, list[DescribeLogDirsPartition]]] = {d: {} for d in dirs}
    for name, indexes in wanted:
        topic = image.topics.get(name)
        if topic is None:
            continue
        for index in indexes:
            state = topic.partitions.get(index)
            if state is None or state.leader != broker.node_id:
                continue  # not hosted here: another broker leads it
            log = broker.logs.get(name, index)
            size = 0
            where = dirs[0]
            if log is not None:
                size = log.size_in_bytes
                log_dir = broker.logs.log_dir_of(name, index)
                if log_dir is not None:
                    where = os.path.abspath(log_dir)
            placed.setdefault(where, {}).setdefault(name, []).append(
                DescribeLogDirsPartition(
                    partition_index=index, partition_size=size, offset_lag=0, is_future_key=False
                )
            )

    results = []
    for log_dir in dirs:
        try:
            total, usable = volume_bytes(log_dir)
        except OSError:
            results.append(
                DescribeLogDirsResult(
                    error_code=int(ErrorCode.KAFKA_STORAGE_ERROR), log_dir=log_dir
                )
            )
            continue
        results.append(
            DescribeLogDirsResult(
                error_code=0,
                log_dir=log_dir,
                topics=tuple(
                    DescribeLogDirsTopic(name=name, partitions=tuple(parts))
                    for name, parts in placed.get(log_dir, {}).items()
                ),
                total_bytes=total,
                usable_bytes=usable,
                is_cordoned=False,
            )
        )
    return DescribeLogDirsResponse(error_code=0, results=tuple(results))


def error_response(
    request: DescribeLogDirsRequest, version: int, code: ErrorCode
) -> DescribeLogDirsResponse:
    """The top-level error (v3+) and no results; before v3 only an empty answer."""
    return DescribeLogDirsResponse(error_code=int(code) if version >= 3 else 0)


SPEC = ApiSpec(
    api_key=35,
    versions=VersionRange(0, 5),
    request=DescribeLogDirsRequest,
    response=DescribeLogDirsResponse,
    handle=handle,
    error_response=error_response,
)

__all__ = ["SPEC"]
