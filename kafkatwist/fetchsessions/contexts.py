"""
What a Fetch request means for sessions: Kafka's C{FetchManager.newContext} and C{FetchContext}s.

A request's C{(session_id, session_epoch)} (Kafka's C{FetchMetadata}):

* C{(0, -1)}: a sessionless full fetch (every pre-v7 request);
* C{(0, 0)}: a full fetch that creates a session if the cache has room; the
  response carries the new id (0 if none was created);
* C{(X, -1)}: close session X, then a sessionless full fetch;
* C{(X, 0)}: close session X, then a full fetch that creates a new session;
* C{(X, n)}, C{n > 0}: an incremental fetch in session X: an unknown X
  (C{X = 0} included) is FETCH_SESSION_ID_NOT_FOUND, an epoch other than
  the session's INVALID_FETCH_SESSION_EPOCH, a v13+ request in a session
  created before v13 (or the reverse) FETCH_SESSION_TOPIC_ID_ERROR; these
  errors answer session id 0 and no partitions. Otherwise the request's
  partitions are added or updated, its C{forgotten_topics_data} removed,
  and every partition of the session is fetched; if none is left the
  session is closed and the fetch is sessionless.

L{FetchContext.fetch_request} is what to read: the request itself, or for
an incremental fetch the session's partitions (the quiet ones left out:
L{kafkatwist.fetchsessions.session}). L{FetchContext.respond} turns what was
read into the response: it creates the session of a full fetch, and keeps
only the changed partitions of an incremental one (moving those that
returned records to the end of the session, as Kafka does, so the next
fetch starts with the others).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from attrs import define, field

from kafkatwist.errors import ErrorCode
from kafkatwist.fetchsessions.cache import FetchSessionCache
from kafkatwist.fetchsessions.session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    INVALID_SESSION_ID,
    CachedPartition,
    FetchSession,
    PartitionKey,
    is_diverging,
    next_epoch,
)
from kafkatwist.messages.fetch import (
    FetchRequest,
    FetchResponse,
    FetchTopic,
    ForgottenTopic,
    PartitionData,
)
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore, IPartitionLog
from kafkatwist.storage.metadata_image import MetadataImage, TopicState

#: The first Fetch version that addresses topics by id.
TOPIC_IDS_VERSION = 13
READ_COMMITTED = 1


def is_from_follower(request: FetchRequest) -> bool:
    """Kafka's C{FetchRequest.isFromFollower}: a replica id (v15+: in the replica state) of 0+."""
    return request.replica_id >= 0 or request.replica_state.replica_id >= 0


@define(eq=False)
class FetchContext:
    """A sessionless fetch: read the request, answer session id 0 (C{SessionlessFetchContext})."""

    request: FetchRequest
    #: The session error to answer instead (Kafka's C{SessionErrorContext}), or None.
    error: ErrorCode | None = None

    def fetch_request(self, revoked: Callable[[TopicState], bool] | None = None) -> FetchRequest:
        """
        The partitions to read, as a request.

        @param revoked: For a session: whether the client may no longer read
            a topic (its quiet partitions are read again, to be refused).
        """
        return self.request

    @property
    def watching(self) -> bool:
        """Whether partitions left out of L{fetch_request} must still be waited on."""
        return False

    def park(self, poke: Callable[[], None]) -> None:
        """A fetch parks: call C{poke} if a partition left out of L{fetch_request} moves."""

    @property
    def woken(self) -> bool:
        """Whether a left-out partition moved since L{park}: read L{fetch_request} again."""
        return False

    def unpark(self) -> None:
        """The parked fetch is answered or abandoned."""

    def respond(self, response: FetchResponse) -> FetchResponse:
        """The response to send for what was read."""
        return attrs.evolve(response, session_id=INVALID_SESSION_ID)

    def throttled(self) -> FetchResponse:
        """
        The empty response of a fetch over its quota (Kafka's C{getThrottledResponse}).

        No session is created or updated: the client fetches the same again.
        The caller sets the throttle time.
        """
        return FetchResponse(session_id=INVALID_SESSION_ID)


@define(eq=False)
class FullFetchContext(FetchContext):
    """A full fetch that creates a session from its response (Kafka's C{FullFetchContext})."""

    cache: FetchSessionCache | None = None
    image: MetadataImage | None = None
    uses_topic_ids: bool = False
    privileged: bool = False

    def respond(self, response: FetchResponse) -> FetchResponse:
        """Create the session (if the cache has room) and answer every partition with its id."""
        assert self.cache is not None and self.image is not None
        size = sum(len(t.partitions) for t in response.responses)
        session_id = self.cache.maybe_create(
            self.privileged, size, self.uses_topic_ids, lambda: self._partitions(response)
        )
        return attrs.evolve(response, session_id=session_id)

    def _partitions(self, response: FetchResponse) -> dict[PartitionKey, CachedPartition]:
        assert self.image is not None
        by_id = self.uses_topic_ids
        names = self.image.topics_by_id
        out: dict[PartitionKey, CachedPartition] = {}
        # The response lists the request's topics and partitions in the request's order.
        for ft, tr in zip(self.request.topics, response.responses, strict=True):
            topic: str | None = ft.topic
            if by_id:
                known = names.get(ft.topic_id)
                topic = known.name if known is not None else None
            for fp, part in zip(ft.partitions, tr.partitions, strict=True):
                cp = CachedPartition(topic, ft.topic_id, fp.partition, fp)
                cp.must_respond(part, True)
                out[(ft.topic_id if by_id else ft.topic, fp.partition)] = cp
        return out


@define(eq=False)
class IncrementalFetchContext(FetchContext):
    """A fetch in an existing session (Kafka's C{IncrementalFetchContext})."""

    session: FetchSession | None = None
    store: FetchSessions | None = None
    #: The partitions read, grouped as in L{fetch_request}'s topics.
    _groups: list[list[CachedPartition]] = field(factory=list)
    _poke: Callable[[], None] | None = None
    _woken: bool = False

    def _session(self) -> FetchSession:
        assert self.session is not None
        return self.session

    def fetch_request(self, revoked: Callable[[TopicState], bool] | None = None) -> FetchRequest:
        """The session's partitions to read (those not quiet), grouped by consecutive topic."""
        session = self._session()
        assert self.store is not None
        groups: list[list[CachedPartition]] = []
        topics: list[FetchTopic] = []
        last: PartitionKey | None = None
        by_id = session.uses_topic_ids
        for cp in session.active(self.store.image, revoked):
            topic_key = (cp.topic_id if by_id else cp.topic or "", 0)
            if topic_key != last:
                groups.append([])
                last = topic_key
            groups[-1].append(cp)
        for group in groups:
            first = group[0]
            topics.append(
                FetchTopic(
                    topic=first.topic or "",
                    topic_id=first.topic_id,
                    partitions=tuple(cp.request for cp in group),
                )
            )
        self._groups = groups
        return attrs.evolve(self.request, topics=tuple(topics), forgotten_topics_data=())

    @property
    def watching(self) -> bool:
        return any(cp.quiet_in is not None for cp in self._session().partitions.values())

    def park(self, poke: Callable[[], None]) -> None:
        self._poke = poke
        self._woken = False
        self._session().set_waker(self._moved)

    def _moved(self) -> None:
        self._woken = True
        if self._poke is not None:
            self._poke()

    @property
    def woken(self) -> bool:
        return self._woken

    def unpark(self) -> None:
        self._poke = None
        self._session().clear_waker(self._moved)

    def throttled(self) -> FetchResponse:
        """The session's id and no partitions (or the epoch error, as L{respond})."""
        session = self._session()
        if session.epoch != next_epoch(self.request.session_epoch):
            return FetchResponse(
                error_code=int(ErrorCode.INVALID_FETCH_SESSION_EPOCH), session_id=session.id
            )
        return FetchResponse(session_id=session.id)

    def respond(self, response: FetchResponse) -> FetchResponse:
        """Keep the partitions that changed, mark idle ones quiet (Kafka's C{PartitionIterator})."""
        session = self._session()
        assert self.store is not None
        if session.epoch != next_epoch(self.request.session_epoch):
            # A duplicate request took this epoch meanwhile.
            return FetchResponse(
                error_code=int(ErrorCode.INVALID_FETCH_SESSION_EPOCH), session_id=session.id
            )
        read_committed = self.request.isolation_level == READ_COMMITTED
        image = self.store.image
        responses = []
        rotate: list[CachedPartition] = []
        for group, tr in zip(self._groups, response.responses, strict=True):
            kept: list[PartitionData] = []
            for cp, part in zip(group, tr.partitions, strict=True):
                if cp.must_respond(part, True):
                    kept.append(part)
                    if part.records:
                        rotate.append(cp)
                        continue
                if part.error_code or is_diverging(part) or part.preferred_read_replica != -1:
                    continue
                bound = part.last_stable_offset if read_committed else part.high_watermark
                if cp.request.fetch_offset < bound:
                    continue
                topic = session.topic_of(image, cp)
                log = self.store.log_of(topic, cp.partition)
                if topic is not None and log is not None:
                    session.quiet(cp, topic, log)
            if kept:
                responses.append(attrs.evolve(tr, partitions=tuple(kept)))
        for cp in rotate:
            key = session.key_of(cp.topic_id, cp.topic, cp.partition)
            del session.partitions[key]
            session.partitions[key] = cp
        return FetchResponse(
            throttle_time_ms=response.throttle_time_ms,
            session_id=session.id,
            responses=tuple(responses),
        )


@define(eq=False)
class FetchSessions:
    """
    The broker's fetch sessions: the cache, and the context of each Fetch request.

    Kafka's C{FetchManager}, given the metadata (topic ids to names) and the
    logs (for the quiet partitions' waiters).
    """

    cache: FetchSessionCache
    _metadata: IMetadataStore
    _logs: ILogManager

    @property
    def image(self) -> MetadataImage:
        """The current metadata image."""
        return self._metadata.image

    def log_of(self, topic: TopicState | None, partition: int) -> IPartitionLog | None:
        """The open log of a partition of C{topic}, if any."""
        return None if topic is None else self._logs.get(topic.name, partition)

    def new_context(self, version: int, request: FetchRequest) -> FetchContext:
        """The context of a Fetch request at C{version} (Kafka's C{FetchManager.newContext})."""
        session_id = request.session_id
        epoch = request.session_epoch
        uses_topic_ids = version >= TOPIC_IDS_VERSION
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != INVALID_SESSION_ID:
                # Any session a full fetch names is closed.
                self.cache.remove(session_id)
            if epoch == FINAL_EPOCH:
                return FetchContext(request)
            return FullFetchContext(
                request,
                cache=self.cache,
                image=self.image,
                uses_topic_ids=uses_topic_ids,
                privileged=is_from_follower(request),
            )
        session = self.cache.get(session_id)
        if session is None:
            return FetchContext(request, ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != epoch:
            return FetchContext(request, ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        if session.uses_topic_ids != uses_topic_ids:
            return FetchContext(request, ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR)
        session.update(self._fetch_data(request, uses_topic_ids), self._forgotten(session, request))
        if not session.partitions:
            # The last partition was forgotten: close the session, answer sessionless.
            self.cache.remove(session.id)
            return FetchContext(request)
        self.cache.touch(session, self.cache.now_ms())
        session.epoch = next_epoch(session.epoch)
        self.cache.incremental_fetches += 1
        return IncrementalFetchContext(request, session=session, store=self)

    def _fetch_data(self, request: FetchRequest, by_id: bool) -> list[CachedPartition]:
        names = self.image.topics_by_id
        out: list[CachedPartition] = []
        for ft in request.topics:
            topic: str | None = ft.topic
            if by_id:
                known = names.get(ft.topic_id)
                topic = known.name if known is not None else None
            out.extend(
                CachedPartition(topic, ft.topic_id, fp.partition, fp) for fp in ft.partitions
            )
        return out

    @staticmethod
    def _forgotten(session: FetchSession, request: FetchRequest) -> list[PartitionKey]:
        forgotten: tuple[ForgottenTopic, ...] = request.forgotten_topics_data
        return [session.key_of(t.topic_id, t.topic, p) for t in forgotten for p in t.partitions]


__all__ = [
    "READ_COMMITTED",
    "TOPIC_IDS_VERSION",
    "FetchContext",
    "FetchSessions",
    "FullFetchContext",
    "IncrementalFetchContext",
]
