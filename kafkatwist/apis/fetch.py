"""Fetch (api key 1): v0-v18 (v0-v3 with down-converted messages).

Behavior:
* authorization (Kafka's C{KafkaApis.handleFetchRequest}, in
  L{kafkatwist.apis._fetch_plan}): a follower (replica id 0+) needs
  CLUSTER_ACTION on the cluster, else every partition answers
  TOPIC_AUTHORIZATION_FAILED; a consumer needs READ on each topic, else
  its partitions answer TOPIC_AUTHORIZATION_FAILED, checked after an
  unknown topic id (UNKNOWN_TOPIC_ID: no name to check) and before the
  topic's existence. Asked once per topic per read of the request (each
  fetch of a session asks again for the partitions it reads); nothing runs
  without an authorizer;
* topics are addressed by id from v13 (unknown id: UNKNOWN_TOPIC_ID), by name
  before (unknown name: UNKNOWN_TOPIC_OR_PARTITION);
* record batches are served byte-identical from the segment files, starting at
  the batch that holds ``fetch_offset``; ``max_bytes`` and
  ``partition_max_bytes`` bound the response, except that the first batch of
  the first partition with data is always returned whole (KIP-74);
* each partition reports its high watermark, last stable offset and log start
  offset; a ``fetch_offset`` outside the log gets OFFSET_OUT_OF_RANGE;
* a ``current_leader_epoch`` (v9+, -1 = none) older than the partition's
  is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (Kafka's
  C{Partition.fetchRecords} through C{localLogWithEpochOrThrow}); a
  partition another broker of the cluster leads is NOT_LEADER_OR_FOLLOWER
  (L{kafkatwist.apis._partitions.find_partition}, Kafka's order); from v16
  a fenced or misdirected partition carries the current leader (the image's
  leader and epoch) and the response the leader's endpoint when it is live
  (KIP-951, C{KafkaApis.handleFetchRequest});
* ``isolation_level`` 1 (read_committed) serves batches below the last stable
  offset only, with the aborted transactions (producer id, first offset) that
  overlap the batches returned, from the ``.txnindex`` entries (Kafka's
  ``LocalLog.collectAbortedTransactions``); read_uncommitted gets null;
* ``max_wait_ms`` is a real wait: while fewer than ``min_bytes`` are ready, the
  request waits until an append to one of its partitions (a Deferred fired by
  the log, no polling) or the deadline, on the injected clock;
* fetch sessions (KIP-227, L{kafkatwist.fetchsessions}): epoch 0 creates a
  session (id 0 when the cache, C{max.incremental.fetch.session.cache.slots},
  has no room), epoch -1 closes one; an incremental fetch reads every
  partition of its session (listed or not, the quiet ones left out until
  their high watermark, log start offset or topic changes), waits on all of
  them, and answers only those that changed (Kafka's C{FetchContext}s);
  session errors (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
  FETCH_SESSION_TOPIC_ID_ERROR) answer session id 0 and no partitions;
* the fetch byte rate quota (C{consumer_byte_rate}, L{kafkatwist.quotas}):
  C{max_bytes} is capped at what the quota allows over its windows; a fetch
  whose records take the client over its quota, or whose handling time takes
  it over C{request_percentage}, is answered empty (no partitions, the
  session untouched, the bytes not counted) with the longer
  C{throttle_time_ms}, and the connection muted that long (KIP-219). The
  size charged is that of the records (Kafka counts the whole response,
  which adds a few dozen bytes per partition).

Version notes:
* v0-v3: the client reads magic 0 (v0-v1) or magic 1 (v2-v3) messages: the
  batches read are down-converted as Kafka 3.9 does (control batches and
  headers dropped, at least the first batch's messages whole, the rest
  within what was read, the last message possibly cut), and a topic with
  ``message.downconversion.enable=false`` answers UNSUPPORTED_VERSION, a
  zstd one UNSUPPORTED_COMPRESSION_TYPE (L{kafkatwist.apis._downconvert});
* v4+: isolation level, last stable offset, aborted transactions; v5+: log
  start offset; v7+: sessions; v11+: preferred read replica; v12+: flexible;
  v13+: topic ids; v15+: replica state (followers only); v16+: current
  leader and node endpoints (KIP-951); v17: replica directory id (followers
  only, KIP-853); v18: the follower's high watermark (KIP-1166, tagged).
* Never read or set (C{SPEC.unused_fields}): the follower fields (replica
  state's epoch, last fetched epoch and the diverging epoch it detects,
  replica directory id, high watermark): a single broker has no followers,
  and Kafka's consumer sends none of them; ``cluster_id`` and the snapshot id
  (the KRaft metadata log's own Fetch).
* fetch from follower (KIP-392, L{kafkatwist.apis._fetch_plan}): on an engine
  whose followers serve (PostgreSQL: C{broker.followers}), a consumer's
  fetch (v11+, replica id < 0) of a partition this broker is a follower of
  is answered from the follower's view, after the same epoch checks; with
  C{replica.selector.class} the leader answers a consumer whose ``rack_id``
  selects a follower with ``preferred_read_replica``, the offsets and no
  records, at once (L{kafkatwist.apis._read_replica}). The file engine
  answers -1 (the only replica is the leader).
"""

from __future__ import annotations

import attrs

from kafkatwist.apis._fetch_plan import TOPIC_IDS_VERSION, Plan, partition_error, revoked_topics
from kafkatwist.apis._fetch_wait import FetchWatch
from kafkatwist.apis._quotas import request_throttle, with_throttle
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.clock import ReactorTime
from kafkatwist.errors import ErrorCode
from kafkatwist.fetchsessions.contexts import FetchContext
from kafkatwist.messages.fetch import FetchableTopicResponse, FetchRequest, FetchResponse
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: FetchRequest) -> FetchResponse:
    quota = ctx.broker.quotas.fetch
    cap = quota.max_value_in_window(ctx.user, ctx.client_id, ctx.broker.now_ms())
    if cap < (request.max_bytes if request.max_bytes > 0 else 0x7FFFFFFF):
        # Kafka's fetchMaxBytes: no more than the quota allows in its windows
        # (at least 1: 0 would read as no limit here; the first batch still goes whole).
        limit = max(int(cap), 1)
        request = attrs.evolve(request, max_bytes=limit, min_bytes=min(request.min_bytes, limit))
    context = ctx.broker.fetch_sessions.new_context(ctx.api_version, request)
    if context.error is not None:
        return FetchResponse(error_code=int(context.error), session_id=0)
    clock = ctx.broker.clock
    deadline = clock.seconds() + max(request.max_wait_ms, 0) / 1000.0
    revoked = revoked_topics(ctx, request)
    while True:
        # An incremental fetch reads the session's partitions, the quiet ones left out.
        plan = Plan(ctx, context.fetch_request(revoked))
        if await _poll(plan, request, clock, deadline, context):
            break
    now = ctx.broker.now_ms()
    throttle = max(request_throttle(ctx), quota.record(ctx.user, ctx.client_id, plan.total, now))
    if throttle > 0:
        # Over a quota: an empty answer, and what it would have held is not counted.
        quota.unrecord(ctx.user, ctx.client_id, plan.total, now)
        ctx.throttle_ms = throttle
        return with_throttle(context.throttled(), ctx.api_version, throttle)
    return context.respond(plan.response())


async def _poll(
    plan: Plan, request: FetchRequest, clock: ReactorTime, deadline: float, context: FetchContext
) -> bool:
    """
    Read the plan's partitions, then wait for C{min_bytes}, re-reading what moved.

    @return: False if a quiet partition of the session (not in the plan)
        moved meanwhile: the session is to be read again.
    """
    await plan.read_all()
    done = plan.errors or plan.redirected
    if plan.total >= request.min_bytes or done or not (plan.logs or context.watching):
        return True
    watch = FetchWatch(clock)
    context.park(watch.wake)
    # Logs appended to since they were read, not re-read yet (too little to reach min_bytes).
    unread: dict[int, IPartitionLog] = {}
    try:
        watch.arm(plan.watched(plan.logs))
        while True:
            wait = deadline - clock.seconds()
            if wait <= 0 or context.woken or watch.expired:
                break
            await watch.wait_until(deadline)
            moved = watch.moved()
            if not moved:
                continue
            unread.update((id(log), log) for log in moved)
            if not plan.enough(unread.values(), request.min_bytes):
                watch.arm((log, log.high_watermark) for log in moved)
                continue
            reread = list(unread.values())
            unread.clear()
            await plan.reread(reread)
            if plan.total >= request.min_bytes or plan.errors or plan.redirected:
                break
            watch.arm(plan.watched(reread))
        if unread and not context.woken:
            # The deadline came: answer with what the appends brought.
            await plan.reread(list(unread.values()))
    finally:
        watch.close()
        context.unpark()
    return not context.woken


def error_response(request: FetchRequest, version: int, code: ErrorCode) -> FetchResponse:
    by_id = version >= TOPIC_IDS_VERSION
    responses = tuple(
        FetchableTopicResponse(
            topic=ft.topic if not by_id else "",
            topic_id=ft.topic_id,
            partitions=tuple(partition_error(fp.partition, code) for fp in ft.partitions),
        )
        for ft in request.topics
    )
    # The top-level error code exists from v7 only.
    return FetchResponse(
        error_code=int(code) if version >= 7 else 0, session_id=0, responses=responses
    )


SPEC = ApiSpec(
    api_key=1,
    versions=VersionRange(0, 18),
    request=FetchRequest,
    response=FetchResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "FetchRequest.cluster_id": "the KRaft metadata log's Fetch only (KIP-595); Kafka's "
        "broker handler never reads it",
        "ReplicaState.replica_epoch": "follower-only (KIP-903): a single broker has no followers",
        "FetchPartition.last_fetched_epoch": "sent by followers for truncation detection "
        "(KIP-320); Kafka's consumer sends none and a single broker has no followers",
        "PartitionData.diverging_epoch": "answers a follower's last_fetched_epoch (see there)",
        "EpochEndOffset.epoch": "answers a follower's last_fetched_epoch (see there)",
        "EpochEndOffset.end_offset": "answers a follower's last_fetched_epoch (see there)",
        "FetchPartition.replica_directory_id": "follower-only (KIP-853): no followers",
        "FetchPartition.high_watermark": "follower-only (KIP-1166): a follower's high "
        "watermark, for the leader to complete waiting fetches; no followers",
        "PartitionData.snapshot_id": "the KRaft metadata log's Fetch only (KIP-630 snapshots)",
        "SnapshotId.epoch": "the KRaft metadata log's Fetch only (KIP-630 snapshots)",
        "SnapshotId.end_offset": "the KRaft metadata log's Fetch only (KIP-630 snapshots)",
    },
)
