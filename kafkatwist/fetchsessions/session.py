"""
One incremental fetch session (KIP-227): its partitions and what was last sent for each.

Kafka's C{FetchSession} and C{FetchSession.CachedPartition}
(server/src/main/java/org/apache/kafka/server/FetchSession.java). A session
remembers, per partition, the request parameters the client last sent
(fetch offset, partition max bytes...) and the high watermark and log start
offset last answered, so that an incremental request lists only the
partitions whose parameters changed and an incremental response only the
partitions that changed (L{CachedPartition.must_respond}).

The idle path: a partition read with nothing to send (no error, no records
to read below its high watermark or last stable offset) is I{quiet}. It
keeps the log it was read from and a waiter on that log's high watermark,
armed once and kept across requests. An idle incremental fetch then does no
per-partition read: it checks the quiet partitions' topic, high watermark
and log start offset (L{FetchSession.active}), reads the others, and parks
until a waiter fires (L{FetchSession.wait}).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from attrs import define, field
from twisted.internet.defer import Deferred

from kafkatwist.messages.fetch import FetchPartition, PartitionData
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.metadata_image import MetadataImage, TopicState

#: The session id of a request or response outside any session (Kafka's C{FetchMetadata}).
INVALID_SESSION_ID = 0
#: A request's epoch asking to create (or re-create) a session.
INITIAL_EPOCH = 0
#: A request's epoch asking to close any session and not create one.
FINAL_EPOCH = -1
_MAX_EPOCH = 0x7FFFFFFF

#: A partition as a session knows it: by topic id (v13+ sessions) or by topic name.
PartitionKey = tuple[uuid.UUID | str, int]

ZERO_UUID = uuid.UUID(int=0)


def next_epoch(epoch: int) -> int:
    """The epoch after C{epoch} (C{FetchMetadata.nextEpoch}): -1 stays, the max wraps to 1."""
    if epoch < 0:
        return FINAL_EPOCH
    if epoch == _MAX_EPOCH:
        return 1
    return epoch + 1


def _leader_epoch(topic: TopicState, partition: int) -> int:
    """The partition's leader epoch in the metadata image (-1 if it has no such partition)."""
    state = topic.partitions.get(partition)
    return -1 if state is None else state.leader_epoch


def is_diverging(part: PartitionData) -> bool:
    """Whether a response partition has a diverging epoch (C{FetchResponse.isDivergingEpoch})."""
    return part.diverging_epoch.epoch != -1 or part.diverging_epoch.end_offset != -1


@define(slots=True, eq=False)
class CachedPartition:
    """
    One partition of a session: the request parameters last sent, the offsets last answered.

    @ivar topic: The topic's name; None while a v13+ session's topic id is
        unknown to the metadata (resolved later, as Kafka's
        C{maybeResolveUnknownName}).
    @ivar request: The partition's request parameters as last sent
        (C{fetch_offset}, C{partition_max_bytes}, C{log_start_offset}, epochs).
    @ivar high_watermark: The high watermark last answered; -1 before any
        answer and after an error, so the partition is sent again.
    @ivar log_start_offset: The log start offset last answered.
    @ivar quiet_in: While quiet, the topic the partition was read from;
        None when the partition must be read at the next request.
    """

    topic: str | None
    topic_id: uuid.UUID
    partition: int
    request: FetchPartition
    high_watermark: int = -1
    log_start_offset: int = -1
    quiet_in: TopicState | None = None
    log: IPartitionLog | None = None
    waiter: Deferred[int] | None = None

    def must_respond(self, part: PartitionData, update: bool) -> bool:
        """
        Whether C{part} must be in an incremental response; with C{update}, remember what it sends.

        Kafka's C{CachedPartition.maybeUpdateResponseData}: records, a changed
        high watermark or log start offset, a preferred read replica, an
        error or a diverging epoch are sent; an error resets the remembered
        high watermark to -1 so the partition is sent again once it clears.
        """
        must = bool(part.records)
        if self.high_watermark != part.high_watermark:
            must = True
            if update:
                self.high_watermark = part.high_watermark
        if self.log_start_offset != part.log_start_offset:
            must = True
            if update:
                self.log_start_offset = part.log_start_offset
        if part.preferred_read_replica != -1:
            must = True
        if part.error_code:
            must = True
            if update:
                self.high_watermark = -1
        if is_diverging(part):
            must = True
        return must

    def wake(self) -> None:
        """The partition must be read at the next request: forget its quiet state and waiter."""
        self.quiet_in = None
        self.log = None
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.called:
            waiter.cancel()


@define(eq=False)
class FetchSession:
    """
    A fetch session: its id, epoch, partitions (in fetch order) and cache bookkeeping.

    @ivar privileged: Created by a follower (a replica id given): privileged
        sessions may evict others (L{kafkatwist.fetchsessions.cache}).
    @ivar uses_topic_ids: Created by a v13+ request: its partitions are
        keyed by topic id, and only v13+ requests may continue it.
    @ivar epoch: The epoch the next incremental request must carry.
    @ivar cached_size: The partition count when the cache last touched the
        session; -1 while not in the cache.
    """

    id: int
    privileged: bool
    uses_topic_ids: bool
    creation_ms: int
    last_used_ms: int
    epoch: int
    partitions: dict[PartitionKey, CachedPartition] = field(factory=dict)
    cached_size: int = -1
    evictable_by_all: bool = False
    evictable_by_privileged: bool = False
    #: Called when a quiet partition's high watermark moves while a fetch is parked.
    _waker: Callable[[], None] | None = None

    def update(
        self, fetch_data: list[CachedPartition], to_forget: list[PartitionKey]
    ) -> tuple[int, int, int]:
        """
        Apply an incremental request: add or update its partitions, drop the forgotten ones.

        Kafka's C{FetchSession.update}. An updated partition keeps its place
        and what was last answered, and is read at this request.

        @return: How many partitions were added, updated and removed.
        """
        added = updated = removed = 0
        partitions = self.partitions
        for new in fetch_data:
            key = self.key_of(new.topic_id, new.topic, new.partition)
            cached = partitions.get(key)
            if cached is None:
                partitions[key] = new
                added += 1
            else:
                cached.request = new.request
                cached.wake()
                updated += 1
        for key in to_forget:
            gone = partitions.pop(key, None)
            if gone is not None:
                gone.wake()
                removed += 1
        return added, updated, removed

    def key_of(self, topic_id: uuid.UUID, topic: str | None, partition: int) -> PartitionKey:
        """The key of a partition in this session: its topic id, or its name (before v13)."""
        return (topic_id, partition) if self.uses_topic_ids else (topic or "", partition)

    def active(
        self, image: MetadataImage, revoked: Callable[[TopicState], bool] | None = None
    ) -> list[CachedPartition]:
        """
        The partitions to read at this request, in session order.

        Every partition but the quiet ones whose topic is the one they were
        read from, whose high watermark and log start offset are still those
        last answered, and whose leader epoch is still the one the client
        named, if it named one (a quiet partition that moved, or that the
        client must now be told is fenced, is woken here).

        @param revoked: Whether the client may no longer read a topic: its
            quiet partitions are woken too, to be answered the refusal (Kafka
            authorizes every partition of the session at each fetch).
        """
        out = []
        for cp in self.partitions.values():
            quiet_in = cp.quiet_in
            if quiet_in is not None:
                log = cp.log
                assert log is not None
                epoch = cp.request.current_leader_epoch
                if (
                    (revoked is None or not revoked(quiet_in))
                    and self.topic_of(image, cp) is quiet_in
                    and log.high_watermark == cp.high_watermark
                    and log.log_start_offset == cp.log_start_offset
                    and (epoch < 0 or _leader_epoch(quiet_in, cp.partition) == epoch)
                ):
                    continue
                cp.wake()
            out.append(cp)
        return out

    def topic_of(self, image: MetadataImage, cp: CachedPartition) -> TopicState | None:
        """The topic of C{cp} in C{image}: by its id in a v13+ session, else by its name."""
        if self.uses_topic_ids:
            return image.topics_by_id.get(cp.topic_id)
        return image.topics.get(cp.topic or "")

    def quiet(self, cp: CachedPartition, topic: TopicState, log: IPartitionLog) -> None:
        """Mark C{cp} quiet, read from C{log} of C{topic}: wait on its high watermark from now."""
        cp.quiet_in = topic
        cp.log = log
        waiter = log.add_waiter(cp.high_watermark)
        if waiter.called:
            waiter.addErrback(lambda _f: None)
            cp.wake()
            return
        cp.waiter = waiter
        waiter.addBoth(self._moved, cp)

    def _moved(self, result: object, cp: CachedPartition) -> None:
        # The high watermark moved (or the log closed or went offline): read it next time.
        if cp.waiter is None:
            return
        cp.waiter = None
        cp.quiet_in = None
        cp.log = None
        if self._waker is not None:
            self._waker()

    def set_waker(self, waker: Callable[[], None]) -> None:
        """Call C{waker} when a quiet partition moves (a fetch of the session is parked)."""
        self._waker = waker

    def clear_waker(self, waker: Callable[[], None]) -> None:
        """Stop calling C{waker} (its fetch is answered), unless another took its place."""
        if self._waker == waker:
            self._waker = None

    def close(self) -> None:
        """The session left the cache: cancel every waiter."""
        self._waker = None
        for cp in self.partitions.values():
            cp.wake()


__all__ = [
    "FINAL_EPOCH",
    "INITIAL_EPOCH",
    "INVALID_SESSION_ID",
    "ZERO_UUID",
    "CachedPartition",
    "FetchSession",
    "PartitionKey",
    "is_diverging",
    "next_epoch",
]
