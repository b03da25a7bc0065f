"""
The fetch session cache: at most C{max.incremental.fetch.session.cache.slots} sessions.

Kafka's C{FetchSessionCacheShard}
(server/src/main/java/org/apache/kafka/server/FetchSessionCacheShard.java),
as one shard (this broker has one reactor thread). Eviction follows Kafka's
C{tryEvict}: when the cache is full, a new session may take the place of

1. the least recently used session, if it has not been used for
   C{min.incremental.fetch.session.eviction.ms} (120 s, a constant in Kafka:
   C{KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS}), else
2. the first session by (privileged, size, id) among those it may evict:
   a consumer's session may evict a session older than that (created more
   than 120 s ago, as of its last use), a follower's session also any
   consumer's session; and only if the new session ranks above it (a
   follower over a consumer, or more partitions).

If no session can be evicted, no session is created: the full response
carries session id 0. Sessions are not tied to connections (Kafka's are
not either): they leave the cache when closed by their client, when
evicted, or when their last partition is forgotten. Ids are random, positive
and unique in the cache.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from attrs import define, field

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.fetchsessions.session import (
    INITIAL_EPOCH,
    INVALID_SESSION_ID,
    CachedPartition,
    FetchSession,
    PartitionKey,
    next_epoch,
)

#: Kafka's C{max.incremental.fetch.session.cache.slots} default.
DEFAULT_SLOTS = 1000
#: Kafka's C{KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS}.
MIN_EVICTION_MS = 120_000
_MAX_ID = 0x7FFFFFFF


@define(eq=False)
class FetchSessionCache:
    """
    The sessions of this broker, by id, on an injected clock.

    @ivar max_entries: The most sessions held (0: sessions are never created).
    @ivar eviction_ms: How long a session must be unused before any new
        session may evict it.
    @ivar evictions: How many sessions were evicted (Kafka's
        C{IncrementalFetchSessionEvictionsPerSec} meter, as a count).
    """

    _clock: ReactorTime
    max_entries: int = DEFAULT_SLOTS
    eviction_ms: int = MIN_EVICTION_MS
    _random: random.Random = field(factory=random.Random)
    _sessions: dict[int, FetchSession] = field(factory=dict)
    evictions: int = 0
    #: Incremental requests served from a session (a count the benchmarks and tests read).
    incremental_fetches: int = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: int) -> FetchSession | None:
        """The session C{session_id}, if the cache holds it."""
        return self._sessions.get(session_id)

    @property
    def total_partitions(self) -> int:
        """The cached sessions' partitions (Kafka's C{NumIncrementalFetchPartitionsCached})."""
        return sum(s.cached_size for s in self._sessions.values())

    def now_ms(self) -> int:
        """The clock's time in milliseconds."""
        return now_ms(self._clock)

    def _new_id(self) -> int:
        while True:
            session_id = self._random.randrange(1, _MAX_ID)
            if session_id not in self._sessions:
                return session_id

    def maybe_create(
        self,
        privileged: bool,
        size: int,
        uses_topic_ids: bool,
        partitions: Callable[[], dict[PartitionKey, CachedPartition]],
    ) -> int:
        """
        Create a session of C{size} partitions if there is room (evicting one if allowed).

        Kafka's C{maybeCreateSession}: the new session's epoch is 1.

        @param partitions: Builds the session's partitions, called only if it is created.
        @return: The new session's id, or 0 if none was created.
        """
        now = self.now_ms()
        if len(self._sessions) >= self.max_entries and not self._try_evict(privileged, size, now):
            return INVALID_SESSION_ID
        session = FetchSession(
            id=self._new_id(),
            privileged=privileged,
            uses_topic_ids=uses_topic_ids,
            creation_ms=now,
            last_used_ms=now,
            epoch=next_epoch(INITIAL_EPOCH),
            partitions=partitions(),
        )
        self._sessions[session.id] = session
        self.touch(session, now)
        return session.id

    def _try_evict(self, privileged: bool, size: int, now: int) -> bool:
        """Kafka's C{tryEvict}: evict a stale session, else a less valuable evictable one."""
        if not self._sessions:
            return False
        stale = min(self._sessions.values(), key=lambda s: (s.last_used_ms, s.id))
        if now - stale.last_used_ms > self.eviction_ms:
            self._evict(stale)
            return True
        candidates = [
            s
            for s in self._sessions.values()
            if (s.evictable_by_privileged if privileged else s.evictable_by_all)
        ]
        if not candidates:
            return False
        first = min(candidates, key=lambda s: (s.privileged, s.cached_size, s.id))
        # The new session's key is (privileged, size, 0): it must not rank below the first.
        if (privileged, size, 0) < (first.privileged, first.cached_size, first.id):
            return False
        self._evict(first)
        return True

    def _evict(self, session: FetchSession) -> None:
        self.remove(session.id)
        self.evictions += 1

    def remove(self, session_id: int) -> FetchSession | None:
        """Remove session C{session_id} (closed, evicted or emptied); None if it was not cached."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.cached_size = -1
            session.close()
        return session

    def touch(self, session: FetchSession, now: int) -> None:
        """
        Record a use of C{session} at C{now}: its size, and who may now evict it.

        Kafka's C{touch}: a session becomes evictable by everyone once it is
        older than the eviction time at a use; a consumer's session is
        always evictable by a follower's.
        """
        session.last_used_ms = now
        session.cached_size = len(session.partitions)
        old = now - session.creation_ms > self.eviction_ms
        session.evictable_by_privileged = old or not session.privileged
        session.evictable_by_all = old


__all__ = ["DEFAULT_SLOTS", "MIN_EVICTION_MS", "FetchSessionCache"]
