"""The partitions of one Fetch request, resolved, authorized and read (L{kafkatwist.apis.fetch}).

A L{Plan} resolves each requested partition to its log or to the error it
answers, in Kafka's order (C{KafkaApis.handleFetchRequest}): an unknown
topic id, then authorization (L{authorized_topics}), then an unknown topic or
partition; it then reads them within the request's byte budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from kafkatwist.apis._authz import authorize_cluster, denied_names
from kafkatwist.apis._cluster import current_leader
from kafkatwist.apis._downconvert import converted, refusal
from kafkatwist.apis._partitions import LeaderPartition, find_fetch_partition, find_partition
from kafkatwist.apis._read_replica import CLIENT_METADATA_VERSION, preferred_read_replica
from kafkatwist.apis._spec import RequestContext
from kafkatwist.cluster.interfaces import IFollowerLog, IFollowerLogs
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.fetchsessions.contexts import is_from_follower
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
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire.batch import iter_batches
from kafkatwist.wire.downconvert import fetch_magic

READ_COMMITTED = 1
TOPIC_IDS_VERSION = 13
#: The first version that tells a fenced client the current leader (KIP-951).
CURRENT_LEADER_VERSION = 16


def partition_error(index: int, code: ErrorCode) -> PartitionData:
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


def _name_of(ft: FetchTopic, topic: TopicState | ErrorCode) -> str | None:
    """The name a requested topic is authorized by; None for an unknown topic id."""
    if isinstance(topic, TopicState):
        return topic.name
    return ft.topic or None


def authorized_topics(
    ctx: RequestContext,
    request: FetchRequest,
    resolved: list[tuple[FetchTopic, TopicState | ErrorCode]],
) -> list[tuple[FetchTopic, TopicState | ErrorCode]]:
    """
    C{resolved} with the topics the fetch may not read as TOPIC_AUTHORIZATION_FAILED.

    Kafka's C{KafkaApis.handleFetchRequest}: a follower (replica id 0+)
    needs CLUSTER_ACTION on the cluster, else every partition is refused; a
    consumer needs READ on each topic, asked once per topic, after an
    unknown topic id (which stays UNKNOWN_TOPIC_ID: there is no name to
    check). Called only with an authorizer.
    """
    refused = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if is_from_follower(request):
        if authorize_cluster(ctx, AclOperation.CLUSTER_ACTION):
            return resolved
        return [(ft, refused) for ft, _ in resolved]
    denied = denied_names(
        ctx,
        AclOperation.READ,
        ResourceType.TOPIC,
        (name for ft, topic in resolved if (name := _name_of(ft, topic)) is not None),
    )
    return [(ft, refused if _name_of(ft, topic) in denied else topic) for ft, topic in resolved]


def revoked_topics(
    ctx: RequestContext, request: FetchRequest
) -> Callable[[TopicState], bool] | None:
    """
    Whether the fetch may not read a topic, asked once per topic; None without an authorizer.

    For a session's quiet partitions, which are not in the request read
    (L{kafkatwist.fetchsessions.contexts.FetchContext.fetch_request}).
    """
    if ctx.broker.authorizer is None:
        return None
    if is_from_follower(request):
        follower_denied = not authorize_cluster(ctx, AclOperation.CLUSTER_ACTION)
        return lambda topic: follower_denied
    known: dict[str, bool] = {}

    def revoked(topic: TopicState) -> bool:
        denied = known.get(topic.name)
        if denied is None:
            denied = not ctx.authorize(AclOperation.READ, ResourceType.TOPIC, topic.name)
            known[topic.name] = denied
        return denied

    return revoked


def _target(
    ctx: RequestContext,
    topic: TopicState | ErrorCode,
    fp: FetchPartition,
    followers: IFollowerLogs | None,
) -> tuple[_Target, IFollowerLog | None]:
    """The partition's log or error; with C{followers}, a follower's view where it is one."""
    if isinstance(topic, ErrorCode):
        return topic, None
    if followers is None:
        partition = find_partition(ctx, topic, fp.partition, fp.current_leader_epoch)
        return (partition if isinstance(partition, ErrorCode) else partition.log()), None
    found = find_fetch_partition(ctx, topic, fp.partition, fp.current_leader_epoch, followers)
    if isinstance(found, ErrorCode):
        return found, None
    if isinstance(found, LeaderPartition):
        return found.log(), None
    return found, found


#: The partition errors a v16+ answer names the current leader with (KIP-951).
_LEADER_HINTED = (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH)


def _current_leader(
    ctx: RequestContext,
    topic: TopicState | ErrorCode,
    index: int,
    target: _Target,
    nodes: dict[int, NodeEndpoint],
) -> LeaderIdAndEpoch | None:
    """
    The leader a fenced or misdirected partition's answer names (v16+), else None.

    Kafka's C{KafkaApis.handleFetchRequest} adds it for NOT_LEADER_OR_FOLLOWER
    and FENCED_LEADER_EPOCH: the image's leader id and epoch; the leader's
    endpoint goes into C{nodes} when it is live.
    """
    if (
        ctx.api_version < CURRENT_LEADER_VERSION
        or not isinstance(target, ErrorCode)
        or target not in _LEADER_HINTED
        or isinstance(topic, ErrorCode)
    ):
        return None
    leader, epoch, node = current_leader(ctx, topic, index)
    if node is not None:
        nodes[node.node_id] = NodeEndpoint(
            node_id=node.node_id, host=node.host, port=node.port, rack=node.rack
        )
    return LeaderIdAndEpoch(leader_id=leader, leader_epoch=epoch)


class _Slot:
    """One requested partition: its log (or the error to answer) and what was last read."""

    __slots__ = ("fp", "topic", "target", "leader", "part", "size")

    def __init__(
        self,
        fp: FetchPartition,
        topic: TopicState | ErrorCode,
        target: _Target,
        leader: LeaderIdAndEpoch | None,
    ) -> None:
        self.fp = fp
        self.topic = topic
        self.target = target
        #: For a fenced or misdirected partition at v16+, the current leader to answer (KIP-951).
        self.leader = leader
        self.part: PartitionData | None = None
        self.size = 0


class Plan:
    """
    The partitions of one request, resolved to their logs, and what has been read so far.

    L{read_all} reads every partition once; a parked fetch then calls
    L{reread} with only the logs that were appended to
    (L{kafkatwist.apis._fetch_wait.FetchWatch}), so
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
        self._ctx = ctx
        #: The live leaders named in current leaders (KIP-951), by node id.
        self.nodes: dict[int, NodeEndpoint] = {}
        # KIP-392: a consumer with client metadata (v11+) may fetch from a follower, and
        # is sent to one by the leader's replica selector (an engine whose followers serve).
        consumer = ctx.api_version >= CLIENT_METADATA_VERSION and not is_from_follower(request)
        followers = ctx.broker.followers if consumer else None
        selector = ctx.broker.config.replica_selector_class
        self._selector = selector if followers is not None else ""
        self._client_rack = request.rack_id
        #: The follower views among the logs, by id(log).
        self.follower_logs: dict[int, IFollowerLog] = {}
        #: Whether a partition was answered with a preferred read replica (answer at once).
        self.redirected = False
        resolved = [(ft, _find_topic(image, ft, by_id)) for ft in request.topics]
        if ctx.broker.authorizer is not None:
            resolved = authorized_topics(ctx, request, resolved)
        for ft, topic in resolved:
            slots = []
            for fp in ft.partitions:
                target, follower = _target(ctx, topic, fp, followers)
                if follower is not None:
                    self.follower_logs[id(follower)] = follower
                leader = _current_leader(ctx, topic, fp.partition, target, self.nodes)
                slots.append(_Slot(fp, topic, target, leader))
            for slot in slots:
                log = slot.target
                if isinstance(log, ErrorCode):
                    continue
                same = self.slots_by_log.setdefault(id(log), [])
                if not same:
                    self.logs.append(log)
                same.append(slot)
            self.topics.append((ft, slots))
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
            slot.part = partition_error(fp.partition, log)
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
            slot.part = partition_error(fp.partition, refused)
            self.errors = True
            return
        if await self._elsewhere(slot, log):
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
            try:
                result = await log.read(
                    offset,
                    max(limit, 0),
                    max_offset=lso if self.read_committed else hw,
                    min_one_message=min_one,
                )
            except KafkaError as e:  # the log went offline (or was resigned): as Kafka's
                slot.part = partition_error(fp.partition, e.code)
                leader = _current_leader(self._ctx, slot.topic, fp.partition, e.code, self.nodes)
                if leader is not None:
                    slot.part = attrs.evolve(slot.part, current_leader=leader)
                self.errors = True
                return
            chunks, size = result.buffers, result.size
        records: list[bytes] | bytes = chunks if chunks else b""
        if self.magic is not None:
            messages = await converted(
                self.partitions, chunks, size, max(limit, 0), self.magic, offset
            )
            if isinstance(messages, ErrorCode):
                slot.part = partition_error(fp.partition, messages)
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

    async def _elsewhere(self, slot: _Slot, log: IPartitionLog) -> bool:
        """
        KIP-392: whether the partition is answered without a read here.

        A follower's view first catches up with PostgreSQL if the fetch is past
        what it knows (answering its error if it cannot); a leader answers a
        consumer its replica selector sends to a follower with that
        C{preferred_read_replica}, the offsets and no records (Kafka's
        C{ReplicaManager.readFromLog}).
        """
        fp = slot.fp
        follower = self.follower_logs.get(id(log))
        if follower is not None:
            try:
                await follower.catch_up(fp.fetch_offset)
            except KafkaError as e:
                slot.part = partition_error(fp.partition, e.code)
                self.errors = True
                return True
            return False
        if not self._selector or isinstance(slot.topic, ErrorCode):
            return False
        preferred = preferred_read_replica(
            self._ctx, self._selector, self._client_rack, slot.topic, fp.partition,
            fp.fetch_offset, log,
        )  # fmt: skip
        if preferred is None:
            return False
        slot.part = PartitionData(
            partition_index=fp.partition,
            error_code=0,
            high_watermark=log.high_watermark,
            last_stable_offset=log.last_stable_offset,
            log_start_offset=log.log_start_offset,
            aborted_transactions=None,
            preferred_read_replica=preferred,
            records=b"",
        )
        self.redirected = True
        return True

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
            session_id=0,
            responses=tuple(responses),
            node_endpoints=tuple(self.nodes[n] for n in sorted(self.nodes)),
        )
