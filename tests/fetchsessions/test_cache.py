"""The fetch session cache on a Clock: ids, epochs, slots and Kafka's eviction rules."""

from __future__ import annotations

import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.fetchsessions.cache import MIN_EVICTION_MS, FetchSessionCache
from kafkatwist.fetchsessions.session import (
    ZERO_UUID,
    CachedPartition,
    PartitionKey,
    next_epoch,
)
from kafkatwist.messages.fetch import FetchPartition


def partitions(n: int) -> dict[PartitionKey, CachedPartition]:
    """C{n} partitions of topic C{t}, by name."""
    return {
        ("t", i): CachedPartition(
            "t", ZERO_UUID, i, FetchPartition(partition=i, fetch_offset=0, partition_max_bytes=1)
        )
        for i in range(n)
    }


class _Ids(random.Random):
    """A random source that gives out the ids it was given, in order."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(0)
        self.ids = ids

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        return self.ids.pop(0)


class EpochTests(SynchronousTestCase):
    """Kafka's FetchMetadata.nextEpoch."""

    def test_next_epoch(self) -> None:
        """Epochs count up from 0, wrap from the int32 maximum to 1, and -1 stays -1."""
        self.assertEqual([next_epoch(e) for e in (0, 1, 41, 0x7FFFFFFF, -1)], [1, 2, 42, 1, -1])


class CacheTests(SynchronousTestCase):
    """Creating, touching, removing and evicting sessions."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def cache(self, slots: int, ids: list[int] | None = None) -> FetchSessionCache:
        if ids is None:
            return FetchSessionCache(self.clock, slots)
        return FetchSessionCache(self.clock, slots, random=_Ids(ids))

    def create(self, cache: FetchSessionCache, size: int, privileged: bool = False) -> int:
        return cache.maybe_create(privileged, size, False, lambda: partitions(size))

    def advance_ms(self, ms: int) -> None:
        self.clock.advance(ms / 1000)

    def test_new_session(self) -> None:
        """A new session gets a positive id, epoch 1, its partitions and the creation time."""
        cache = self.cache(10)
        session_id = self.create(cache, 3)
        session = cache.get(session_id)
        assert session is not None
        self.assertGreater(session_id, 0)
        self.assertEqual(
            (session.epoch, len(session.partitions), session.cached_size, session.creation_ms),
            (1, 3, 3, 1_700_000_000_000),
        )
        self.assertEqual((len(cache), cache.total_partitions), (1, 3))

    def test_ids_unique(self) -> None:
        """An id the cache already holds is drawn again."""
        cache = self.cache(10, ids=[5, 5, 5, 7])
        self.assertEqual([self.create(cache, 1), self.create(cache, 1)], [5, 7])

    def test_no_slots(self) -> None:
        """With max.incremental.fetch.session.cache.slots 0 no session is ever created."""
        cache = self.cache(0)
        self.assertEqual(self.create(cache, 5), 0)
        self.assertEqual(len(cache), 0)

    def test_full_cache_keeps_fresh_sessions(self) -> None:
        """A full cache of recently created, recently used sessions creates none: id 0."""
        cache = self.cache(2)
        first, second = self.create(cache, 1), self.create(cache, 1)
        self.advance_ms(MIN_EVICTION_MS)
        self.assertEqual(self.create(cache, 100), 0)
        self.assertIsNotNone(cache.get(first))
        self.assertIsNotNone(cache.get(second))
        self.assertEqual(cache.evictions, 0)

    def test_stale_session_evicted(self) -> None:
        """The least recently used session, unused for over 120 s, makes room."""
        cache = self.cache(2)
        first, second = self.create(cache, 5), self.create(cache, 5)
        self.advance_ms(1000)
        session = cache.get(first)
        assert session is not None
        cache.touch(session, cache.now_ms())  # the second is now the least recently used
        self.advance_ms(MIN_EVICTION_MS - 1000)
        self.assertEqual(self.create(cache, 1), 0)  # unused for exactly 120 s: not yet
        self.advance_ms(1000)
        third = self.create(cache, 1)
        self.assertNotEqual(third, 0)
        self.assertIsNone(cache.get(second))
        self.assertIsNotNone(cache.get(first))
        self.assertEqual(cache.evictions, 1)

    def test_old_session_evicted_by_a_bigger_one(self) -> None:
        """A session older than 120 s at its last use gives way to one with more partitions."""
        cache = self.cache(1)
        old = self.create(cache, 10)
        session = cache.get(old)
        assert session is not None
        self.advance_ms(MIN_EVICTION_MS + 1000)
        cache.touch(session, cache.now_ms())  # still in use, but now evictable by all
        self.assertEqual(self.create(cache, 10), 0)  # the same size ranks below it (id 0)
        self.assertEqual(self.create(cache, 9), 0)
        bigger = self.create(cache, 11)
        self.assertNotEqual(bigger, 0)
        self.assertIsNone(cache.get(old))

    def test_old_session_needs_a_use_to_become_evictable(self) -> None:
        """Evictability is decided at a use: a session not used since it was young is kept."""
        cache = self.cache(1)
        old = self.create(cache, 1)
        self.advance_ms(MIN_EVICTION_MS)
        self.assertEqual(self.create(cache, 50), 0)
        self.assertIsNotNone(cache.get(old))

    def test_follower_evicts_consumer(self) -> None:
        """A privileged (follower) session evicts a fresh consumer session, not a follower one."""
        cache = self.cache(1)
        consumer = self.create(cache, 100)
        follower = self.create(cache, 1, privileged=True)
        self.assertNotEqual(follower, 0)
        self.assertIsNone(cache.get(consumer))
        self.assertEqual(self.create(cache, 100, privileged=True), 0)
        self.assertEqual(self.create(cache, 100), 0)

    def test_smallest_evictable_goes_first(self) -> None:
        """Among evictable sessions, the one with the fewest partitions is evicted."""
        cache = self.cache(3)
        ids = [self.create(cache, n) for n in (30, 10, 20)]
        self.advance_ms(MIN_EVICTION_MS + 1000)
        for session_id in ids:
            session = cache.get(session_id)
            assert session is not None
            cache.touch(session, cache.now_ms())
        self.assertNotEqual(self.create(cache, 15), 0)
        self.assertEqual([cache.get(i) is not None for i in ids], [True, False, True])

    def test_remove(self) -> None:
        """A removed session leaves the cache and its partition count."""
        cache = self.cache(3)
        session_id = self.create(cache, 4)
        removed = cache.remove(session_id)
        assert removed is not None
        self.assertEqual((len(cache), cache.total_partitions, removed.cached_size), (0, 0, -1))
        self.assertIsNone(cache.remove(session_id))
