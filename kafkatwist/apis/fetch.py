"""Fetch (api key 1): v0-v18 (v0-v3 with down-converted messages).

Behavior:
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
  C{Partition.fetchRecords} through C{localLogWithEpochOrThrow}); from v16
  a fenced partition carries the current leader (this broker, the
  partition's epoch) and the response this broker's endpoint (KIP-951,
  C{KafkaApis.handleFetchRequest});
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
  and Kafka's consumer sends none of them; ``rack_id`` and the preferred read
  replica (KIP-392: the only replica is the leader, so always -1);
  ``cluster_id`` and the snapshot id (the KRaft metadata log's own Fetch).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from kafkatwist.apis._downconvert import converted, refusal
from kafkatwist.apis._fetch_wait import FetchWatch
from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._quotas import request_throttle, with_throttle
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.clock import ReactorTime
from kafkatwist.errors import ErrorCode
from kafkatwist.fetchsessions.contexts import FetchContext
from kafkatwist.messages.fetch import (
    AbortedTransaction,
    FetchableTopicResponse,
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    LeaderIdAndEpoch,
    NodeEndpoint,
    PartitionData,
)
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire.batch import iter_batches
from kafkatwist.wire.downconvert import fetch_magic
from kafkatwist.wire.versions import VersionRange

READ_COMMITTED = 1
TOPIC_IDS_VERSION = 13
#: The first version that tells a fenced client the current leader (KIP-951).
CURRENT_LEADER_VERSION = 16


def _partition_error(index: int, code: ErrorCode) -> PartitionData:
    return PartitionData(
        partition_index=index,
        error_code=int(code),
        high_watermark=-1,
        last_stable_offset=-1,
        log_start_offset=-1,
        aborted_transactions=None,
        records=b"",
    )


def _aborted(
    log: IPartitionLog, offset: int, lso: int, chunks: list[bytes]
) -> tuple[AbortedTransaction, ...]:
    """
    The aborted transactions overlapping the batches read from C{offset} (read_committed).

    Looked up up to the LSO first (in memory, usually none); only when some
    are found is the end of the data read (the last buffer's batch headers)
    to keep those starting before it, as Kafka bounds the search by the
    fetched bytes.
    """
    if not chunks:
        return ()
    found = log.aborted_transactions(offset, lso)
    if not found:
        return ()
    end = offset
    for _, header in iter_batches(chunks[-1]):
        end = header.next_offset
    return tuple(
        AbortedTransaction(producer_id=t.producer_id, first_offset=t.first_offset)
        for t in found
        if t.first_offset < end
    )


#: What a requested partition resolved to: its log, or the error to answer.
_Target = IPartitionLog | ErrorCode


def _find_topic(image: MetadataImage, ft: FetchTopic, by_id: bool) -> TopicState | ErrorCode:
    """
    The topic C{ft} names, or the error its partitions get.

    By id (v13+), an unknown id is UNKNOWN_TOPIC_ID, unless the topic also
    carries a name: a session's partition whose name was known when the
    session cached it (Kafka's C{CachedPartition} keeps it). Its topic was
    then deleted (UNKNOWN_TOPIC_OR_PARTITION) or re-created under another id
    (INCONSISTENT_TOPIC_ID, as Kafka's C{ReplicaManager} answers a session
    whose topic id is not the log's).
    """
    if not by_id:
        return image.topics.get(ft.topic) or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    topic = image.topics_by_id.get(ft.topic_id)
    if topic is not None:
        return topic
    if not ft.topic:
        return ErrorCode.UNKNOWN_TOPIC_ID
    if ft.topic in image.topics:
        return ErrorCode.INCONSISTENT_TOPIC_ID
    return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def _target(ctx: RequestContext, topic: TopicState | ErrorCode, fp: FetchPartition) -> _Target:
    if isinstance(topic, ErrorCode):
        return topic
    partition = find_partition(ctx, topic, fp.partition, fp.current_leader_epoch)
    return partition if isinstance(partition, ErrorCode) else partition.log()


def _current_leader(
    ctx: RequestContext, topic: TopicState | ErrorCode, fp: FetchPartition, target: _Target
) -> LeaderIdAndEpoch | None:
    """
    The leader a fenced partition's answer names (v16+), else None.

    Kafka's C{KafkaApis.handleFetchRequest} adds it for NOT_LEADER_OR_FOLLOWER
    and FENCED_LEADER_EPOCH; only the latter is answered here (this broker
    leads every partition).
    """
    if ctx.api_version < CURRENT_LEADER_VERSION or target != ErrorCode.FENCED_LEADER_EPOCH:
        return None
    assert isinstance(topic, TopicState)
    epoch = topic.partitions[fp.partition].leader_epoch
    return LeaderIdAndEpoch(leader_id=ctx.broker.node_id, leader_epoch=epoch)


class _Slot:
    """One requested partition: its log (or the error to answer) and what was last read."""

    __slots__ = ("fp", "target", "leader", "part", "size")

    def __init__(
        self, fp: FetchPartition, target: _Target, leader: LeaderIdAndEpoch | None
    ) -> None:
        self.fp = fp
        self.target = target
        #: For a fenced partition at v16+, the current leader to answer (KIP-951).
        self.leader = leader
        self.part: PartitionData | None = None
        self.size = 0


class _Plan:
    """
    The partitions of one request, resolved to their logs, and what has been read so far.

    L{read_all} reads every partition once; a parked fetch then calls
    L{reread} with only the logs that were appended to (L{FetchWatch}), so
    that a long poll costs in proportion to what changed. The byte budget
    (C{max_bytes}, KIP-74's first batch whole) is kept across re-reads.
    """

    def __init__(self, ctx: RequestContext, request: FetchRequest) -> None:
        image = ctx.broker.metadata.image
        by_id = ctx.api_version >= TOPIC_IDS_VERSION
        self.by_id = by_id
        # The magic old versions read (v0-v3: down-converted), else None.
        self.magic = fetch_magic(ctx.api_version)
        self.partitions = ctx.broker.partitions
        self.read_committed = request.isolation_level == READ_COMMITTED
        self.topics: list[tuple[FetchTopic, list[_Slot]]] = []
        self.slots_by_log: dict[int, list[_Slot]] = {}
        self.logs: list[IPartitionLog] = []
        # The high watermark each log had when it was last read, by id(log).
        self.seen: dict[int, int] = {}
        # The log's appended_bytes when it was last read with everything appended readable
        # (None when some was not: below the high watermark or the last stable offset).
        self.seen_bytes: dict[int, int | None] = {}
        for ft in request.topics:
            topic = _find_topic(image, ft, by_id)
            slots = []
            for fp in ft.partitions:
                target = _target(ctx, topic, fp)
                slots.append(_Slot(fp, target, _current_leader(ctx, topic, fp, target)))
            for slot in slots:
                log = slot.target
                if isinstance(log, ErrorCode):
                    continue
                same = self.slots_by_log.setdefault(id(log), [])
                if not same:
                    self.logs.append(log)
                same.append(slot)
            self.topics.append((ft, slots))
        fenced = any(slot.leader for _, slots in self.topics for slot in slots)
        #: This broker's endpoint, answered with a current leader (KIP-951).
        host, port = ctx.broker.address_for(ctx.session.listener, ctx.local_host)
        self.node_endpoints = (
            (
                NodeEndpoint(
                    node_id=ctx.broker.node_id,
                    host=host,
                    port=port,
                    rack=None,
                ),
            )
            if fenced
            else ()
        )
        self.remaining = request.max_bytes if request.max_bytes > 0 else 0x7FFFFFFF
        self.total = 0
        self.errors = False

    async def read_all(self) -> None:
        """Read every partition once, in request order."""
        for _, slots in self.topics:
            for slot in slots:
                await self._read(slot)

    async def reread(self, logs: list[IPartitionLog]) -> None:
        """Read again the partitions of C{logs} (appended to since they were read)."""
        for log in logs:
            for slot in self.slots_by_log.get(id(log), ()):
                await self._read(slot)

    async def _read(self, slot: _Slot) -> None:
        fp, log = slot.fp, slot.target
        if isinstance(log, ErrorCode):
            slot.part = _partition_error(fp.partition, log)
            if slot.leader is not None:
                slot.part = attrs.evolve(slot.part, current_leader=slot.leader)
            self.errors = True
            return
        # A re-read replaces what this partition had: give its bytes back to the budget.
        self.remaining += slot.size
        self.total -= slot.size
        slot.size = 0
        refused = refusal(log) if self.magic is not None else None
        if refused is not None:
            slot.part = _partition_error(fp.partition, refused)
            self.errors = True
            return
        hw = log.high_watermark
        lso = log.last_stable_offset
        start = log.log_start_offset
        self.seen[id(log)] = hw
        readable = hw == log.log_end_offset and (lso == hw or not self.read_committed)
        self.seen_bytes[id(log)] = log.appended_bytes if readable else None
        offset = fp.fetch_offset
        if offset < start or offset > log.log_end_offset:
            slot.part = PartitionData(
                partition_index=fp.partition,
                error_code=int(ErrorCode.OFFSET_OUT_OF_RANGE),
                high_watermark=hw,
                last_stable_offset=lso,
                log_start_offset=start,
                aborted_transactions=None,
                records=b"",
            )
            self.errors = True
            return
        limit = min(fp.partition_max_bytes, self.remaining)
        min_one = self.total == 0
        chunks: list[bytes] = []
        size = 0
        if limit > 0 or min_one:
            result = await log.read(
                offset,
                max(limit, 0),
                max_offset=lso if self.read_committed else hw,
                min_one_message=min_one,
            )
            chunks, size = result.buffers, result.size
        records: list[bytes] | bytes = chunks if chunks else b""
        if self.magic is not None:
            messages = await converted(
                self.partitions, chunks, size, max(limit, 0), self.magic, offset
            )
            if isinstance(messages, ErrorCode):
                slot.part = _partition_error(fp.partition, messages)
                self.errors = True
                return
            records, size = messages, len(messages)
        slot.size = size
        self.remaining -= size
        self.total += size
        slot.part = PartitionData(
            partition_index=fp.partition,
            error_code=0,
            high_watermark=hw,
            last_stable_offset=lso,
            log_start_offset=start,
            aborted_transactions=(
                _aborted(log, offset, lso, chunks) if self.read_committed else None
            ),
            records=records,
        )

    def enough(self, logs: Iterable[IPartitionLog], min_bytes: int) -> bool:
        """
        Whether re-reading C{logs} may bring the response to C{min_bytes}, estimated unread.

        The bytes appended to each since it was read count (Kafka's
        C{DelayedFetch.tryComplete} estimates from log positions the same way);
        a log read while some of its data was not yet readable counts as
        enough, since what became readable is unknown.
        """
        total = self.total
        for log in logs:
            before = self.seen_bytes.get(id(log))
            if before is None:
                return True
            total += log.appended_bytes - before
        return total >= min_bytes

    def watched(self, logs: list[IPartitionLog]) -> list[tuple[IPartitionLog, int]]:
        """C{logs} with the high watermark each had when last read (for L{FetchWatch.arm})."""
        return [(log, self.seen.get(id(log), log.high_watermark)) for log in logs]

    def response(self) -> FetchResponse:
        """The response from what was last read of each partition."""
        responses = []
        for ft, slots in self.topics:
            parts = tuple(slot.part for slot in slots if slot.part is not None)
            if self.by_id:
                responses.append(FetchableTopicResponse(topic_id=ft.topic_id, partitions=parts))
            else:
                responses.append(FetchableTopicResponse(topic=ft.topic, partitions=parts))
        return FetchResponse(
            session_id=0, responses=tuple(responses), node_endpoints=self.node_endpoints
        )


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
    while True:
        # An incremental fetch reads the session's partitions, the quiet ones left out.
        plan = _Plan(ctx, context.fetch_request())
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
    plan: _Plan, request: FetchRequest, clock: ReactorTime, deadline: float, context: FetchContext
) -> bool:
    """
    Read the plan's partitions, then wait for C{min_bytes}, re-reading what moved.

    @return: False if a quiet partition of the session (not in the plan)
        moved meanwhile: the session is to be read again.
    """
    await plan.read_all()
    if plan.total >= request.min_bytes or plan.errors or not (plan.logs or context.watching):
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
            if plan.total >= request.min_bytes or plan.errors:
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
            partitions=tuple(_partition_error(fp.partition, code) for fp in ft.partitions),
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
        "FetchRequest.rack_id": "KIP-392 picks a preferred read replica among followers; "
        "the only replica is this leader",
        "PartitionData.preferred_read_replica": "KIP-392: no follower to prefer, -1 (the default)",
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
