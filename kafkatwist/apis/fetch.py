"""Fetch (api key 1): v0-v17.

Behavior:
* topics are addressed by id from v13 (unknown id: UNKNOWN_TOPIC_ID), by name
  before (unknown name: UNKNOWN_TOPIC_OR_PARTITION);
* record batches are served byte-identical from the segment files, starting at
  the batch that holds ``fetch_offset``; ``max_bytes`` and
  ``partition_max_bytes`` bound the response, except that the first batch of
  the first partition with data is always returned whole (KIP-74);
* each partition reports its high watermark, last stable offset and log start
  offset; a ``fetch_offset`` outside the log gets OFFSET_OUT_OF_RANGE;
* ``isolation_level`` 1 (read_committed) serves batches below the last stable
  offset only, with the aborted transactions (producer id, first offset) that
  overlap the batches returned, from the ``.txnindex`` entries (Kafka's
  ``LocalLog.collectAbortedTransactions``); read_uncommitted gets null;
* ``max_wait_ms`` is a real wait: while fewer than ``min_bytes`` are ready, the
  request waits until an append to one of its partitions (a Deferred fired by
  the log, no polling) or the deadline, on the injected clock;
* fetch sessions (KIP-227): the broker declines to create sessions by
  answering with session id 0; an incremental request for a session that does
  not exist gets FETCH_SESSION_ID_NOT_FOUND.

Version notes:
* v4+: isolation level, last stable offset, aborted transactions; v5+: log
  start offset; v7+: sessions; v11+: preferred read replica; v12+: flexible;
  v13+: topic ids; v15+: replica state (followers only).
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.clock import ReactorTime
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.fetch import (
    AbortedTransaction,
    FetchableTopicResponse,
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    PartitionData,
)
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.wire.batch import iter_batches
from kafkatwist.wire.versions import VersionRange

READ_COMMITTED = 1
TOPIC_IDS_VERSION = 13


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


def _target(ctx: RequestContext, topic: TopicState | None, index: int, by_id: bool) -> _Target:
    if topic is None:
        return ErrorCode.UNKNOWN_TOPIC_ID if by_id else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    partition = find_partition(ctx, topic, index)
    return partition if isinstance(partition, ErrorCode) else partition.log()


class _Plan:
    """The partitions of one request, resolved to their logs."""

    def __init__(self, ctx: RequestContext, request: FetchRequest) -> None:
        image = ctx.broker.metadata.image
        by_id = ctx.api_version >= TOPIC_IDS_VERSION
        self.by_id = by_id
        self.topics: list[tuple[FetchTopic, list[tuple[FetchPartition, _Target]]]] = []
        self.logs: list[tuple[IPartitionLog, int]] = []
        for ft in request.topics:
            topic = image.topics_by_id.get(ft.topic_id) if by_id else image.topics.get(ft.topic)
            entries = [(fp, _target(ctx, topic, fp.partition, by_id)) for fp in ft.partitions]
            self.logs.extend(
                (target, fp.fetch_offset)
                for fp, target in entries
                if not isinstance(target, ErrorCode)
            )
            self.topics.append((ft, entries))

    async def read(self, request: FetchRequest) -> tuple[FetchResponse, int, bool]:
        """Read every partition once: the response, its byte count, any errors."""
        remaining = request.max_bytes if request.max_bytes > 0 else 0x7FFFFFFF
        total = 0
        errors = False
        min_one = True
        read_committed = request.isolation_level == READ_COMMITTED
        responses = []
        for ft, entries in self.topics:
            parts = []
            for fp, target in entries:
                if isinstance(target, ErrorCode):
                    parts.append(_partition_error(fp.partition, target))
                    errors = True
                    continue
                log = target
                hw = log.high_watermark
                lso = log.last_stable_offset
                start = log.log_start_offset
                offset = fp.fetch_offset
                if offset < start or offset > log.log_end_offset:
                    parts.append(
                        PartitionData(
                            partition_index=fp.partition,
                            error_code=int(ErrorCode.OFFSET_OUT_OF_RANGE),
                            high_watermark=hw,
                            last_stable_offset=lso,
                            log_start_offset=start,
                            aborted_transactions=None,
                            records=b"",
                        )
                    )
                    errors = True
                    continue
                limit = min(fp.partition_max_bytes, remaining)
                chunks: list[bytes] = []
                size = 0
                if limit > 0 or min_one:
                    result = await log.read(
                        offset,
                        max(limit, 0),
                        max_offset=lso if read_committed else hw,
                        min_one_message=min_one,
                    )
                    chunks, size = result.buffers, result.size
                if size:
                    min_one = False
                    remaining -= size
                    total += size
                parts.append(
                    PartitionData(
                        partition_index=fp.partition,
                        error_code=0,
                        high_watermark=hw,
                        last_stable_offset=lso,
                        log_start_offset=start,
                        aborted_transactions=(
                            _aborted(log, offset, lso, chunks) if read_committed else None
                        ),
                        records=chunks if chunks else b"",
                    )
                )
            if self.by_id:
                responses.append(
                    FetchableTopicResponse(topic_id=ft.topic_id, partitions=tuple(parts))
                )
            else:
                responses.append(FetchableTopicResponse(topic=ft.topic, partitions=tuple(parts)))
        return FetchResponse(session_id=0, responses=tuple(responses)), total, errors


async def handle(ctx: RequestContext, request: FetchRequest) -> FetchResponse:
    if ctx.api_version >= 7 and request.session_id != 0 and request.session_epoch not in (0, -1):
        # An incremental fetch: this broker never created a session.
        return FetchResponse(error_code=int(ErrorCode.FETCH_SESSION_ID_NOT_FOUND), session_id=0)
    plan = _Plan(ctx, request)
    clock = ctx.broker.clock
    deadline = clock.seconds() + max(request.max_wait_ms, 0) / 1000.0
    while True:
        response, total, errors = await plan.read(request)
        wait = deadline - clock.seconds()
        if total >= request.min_bytes or errors or wait <= 0 or not plan.logs:
            return response
        await _wait_for_append(clock, plan.logs, wait)


def _wait_for_append(
    clock: ReactorTime, logs: list[tuple[IPartitionLog, int]], timeout: float
) -> Deferred[None]:
    """A Deferred that fires on the first append to any of C{logs}, or at the timeout."""
    done: Deferred[None] = Deferred(lambda d: cleanup())
    waiters: list[Deferred[int]] = []

    def fire(_: object = None) -> None:
        if not done.called:
            cleanup()
            done.callback(None)

    def cleanup() -> None:
        if call.active():
            call.cancel()
        for w in waiters:
            if not w.called:
                w.cancel()

    call = clock.callLater(timeout, fire)
    for log, _offset in logs:
        # Wake when the high watermark moves: appended data becomes visible.
        w = log.add_waiter(log.high_watermark)
        w.addCallbacks(fire, lambda _f: None)
        waiters.append(w)
    return done


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
    versions=VersionRange(0, 17),
    request=FetchRequest,
    response=FetchResponse,
    handle=handle,
    error_response=error_response,
)
